package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	messaging "github.com/symbia-labs/messaging-go"
)

// A send whose answer is lost (here a gateway answers 504 Gateway Timeout,
// so the message may or may not be stored) fails with a
// *DeliveryUnknownError carrying the id the message was sent with;
// resending with that id stores the message once.
func ExampleDeliveryUnknownError() {
	srv := exampleService()
	defer srv.Close()
	conv := exampleConversation(srv)
	ctx := context.Background()

	client, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken(exAliceToken),
		messaging.WithRetry(messaging.RetryPolicy{MaxRetries: 0}),
		messaging.WithErrorHandler(func(err error) {
			fmt.Println("delivery unknown:", errors.Is(err, messaging.ErrDeliveryUnknown))
		}))
	if err != nil {
		panic(err)
	}
	defer client.Close()

	srv.FailNext(1, http.StatusGatewayTimeout, 0) // the first answer is lost
	params := messaging.SendMessageParams{ConversationID: conv, Content: "hello"}
	m, err := func() (*messaging.Message, error) {
		// readme:begin delivery-unknown
		m, err := client.SendMessage(ctx, params)
		var du *messaging.DeliveryUnknownError
		if errors.As(err, &du) {
			params.ID = du.MessageID // stored at most once, however often it is resent
			m, err = client.SendMessage(ctx, params)
		}
		// readme:end
		return m, err
	}()
	if err != nil {
		panic(err)
	}
	fmt.Println("resent with the id the SDK made:", params.ID != "" && m.ID == params.ID)
	fmt.Println("stored:", len(srv.Messages(conv)))
	// Output:
	// delivery unknown: true
	// resent with the id the SDK made: true
	// stored: 1
}
