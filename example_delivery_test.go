package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	messaging "github.com/symbia-labs/messaging-go"
)

// A send whose answer is lost (here the service answers after the request
// timeout) reports the id it was sent with; resending with that id stores
// the message once.
func ExampleDeliveryUnknownError() {
	srv := exampleService()
	defer srv.Close()
	conv := exampleConversation(srv)
	ctx := context.Background()

	client, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken(exAliceToken),
		messaging.WithRequestTimeout(2*time.Second), messaging.WithRetry(messaging.RetryPolicy{MaxRetries: 0}))
	if err != nil {
		panic(err)
	}
	defer client.Close()

	srv.SetLatency(time.Minute) // slower than the request timeout
	params := messaging.SendMessageParams{ConversationID: conv, Content: "hello"}
	_, err = client.SendMessage(ctx, params)
	var du *messaging.DeliveryUnknownError
	if errors.As(err, &du) {
		fmt.Println("delivery unknown:", errors.Is(err, context.DeadlineExceeded))
		srv.SetLatency(0)
		params.ID = du.MessageID // resend with the id the SDK made
		m, err := client.SendMessage(ctx, params)
		if err != nil {
			panic(err)
		}
		fmt.Println("same id:", m.ID == du.MessageID)
	}
	fmt.Println("stored:", len(srv.Messages(conv)))
	// Output:
	// delivery unknown: true
	// same id: true
	// stored: 1
}
