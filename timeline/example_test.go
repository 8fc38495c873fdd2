package timeline_test

import (
	"context"
	"errors"
	"fmt"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"
	"github.com/symbia-labs/messaging-go/timeline"
)

// An optimistic send, shown at once and confirmed by the server, and an
// edit the server refuses (only a message's sender may edit it), rolled
// back and reported.
func Example() {
	const aliceID, bobID = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	srv := messagingtest.NewServer()
	defer srv.Close()
	srv.AddUser("alice-token", messagingtest.Principal{ID: aliceID})
	srv.AddUser("bob-token", messagingtest.Principal{ID: bobID})
	ctx := context.Background()
	client := func(token string) *messaging.Client {
		c, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken(token),
			messaging.WithHTTPClient(srv.Client()))
		if err != nil {
			panic(err)
		}
		return c
	}
	alice, bob := client("alice-token"), client("bob-token")
	conv, err := alice.CreateConversation(ctx, messaging.CreateConversationParams{
		Type: messaging.ConversationGroup, Name: "team", ParticipantIDs: []string{bobID}})
	if err != nil {
		panic(err)
	}
	bobs, err := bob.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv.ID, Content: "hi from bob"})
	if err != nil {
		panic(err)
	}

	socket, err := alice.NewSocket()
	if err != nil {
		panic(err)
	}
	defer socket.Close()
	if err := socket.Connect(ctx); err != nil {
		panic(err)
	}
	tl, err := timeline.New(ctx, socket, alice, conv.ID)
	if err != nil {
		panic(err)
	}
	defer tl.Close()

	// The change feed, as a UI would follow it.
	changes := make(chan timeline.Change, 100)
	tl.OnChange(func(c timeline.Change) { changes <- c })
	show := func(causes ...timeline.Cause) {
		for c := range changes {
			for _, want := range causes {
				if c.Cause == want {
					en := c.Entry
					fmt.Printf("%-11s %q %v %v\n", c.Cause.String()+":", en.Message.Content, en.State, c.Op)
					return
				}
			}
		}
	}

	// The send is in the view before the server answers.
	if _, err := tl.Send(ctx, messaging.SendMessageParams{Content: "hello"}); err != nil {
		panic(err)
	}
	show(timeline.CauseApplied)
	show(timeline.CauseConfirmed)

	// Alice may not edit bob's message: the edit is applied, refused,
	// rolled back and reported.
	_, err = tl.Edit(ctx, bobs.ID, "hi from alice")
	var refusal *messaging.AckError
	if errors.As(err, &refusal) {
		fmt.Println("refused:", refusal.Message)
	}
	show(timeline.CauseApplied)
	show(timeline.CauseRolledBack)

	for _, en := range tl.Messages() {
		fmt.Printf("%q %v\n", en.Message.Content, en.State)
	}
	fmt.Println("pending:", tl.Pending())
	// Output:
	// applied:    "hello" pending send
	// confirmed:  "hello" confirmed send
	// refused: Not authorized to edit this message
	// applied:    "hi from alice" pending edit
	// rolled back: "hi from bob" confirmed edit
	// "hi from bob" confirmed
	// "hello" confirmed
	// pending: 0
}
