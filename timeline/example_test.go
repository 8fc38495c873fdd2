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

// exampleSetup starts an in-memory service, and returns alice's client and
// connected socket and a conversation of hers.
func exampleSetup() (srv *messagingtest.Server, client *messaging.Client, socket *messaging.Socket, convID string) {
	srv = messagingtest.NewServer()
	srv.AddUser("alice-token", messagingtest.Principal{ID: "11111111-1111-4111-8111-111111111111"})
	client, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken("alice-token"))
	if err != nil {
		panic(err)
	}
	conv, err := client.CreateConversation(context.Background(), messaging.CreateConversationParams{
		Type: messaging.ConversationGroup, Name: "notes"})
	if err != nil {
		panic(err)
	}
	socket, err = client.NewSocket()
	if err != nil {
		panic(err)
	}
	if err := socket.Connect(context.Background()); err != nil {
		panic(err)
	}
	return srv, client, socket, conv.ID
}

// The change feed runs on its own goroutine: Close stops it, and changes
// not yet delivered are dropped. Wait for the change you need before
// closing.
func ExampleTimeline_OnChange() {
	srv, client, socket, convID := exampleSetup()
	defer srv.Close()
	defer socket.Close()
	ctx := context.Background()

	err := func() error {
		// readme:begin timeline
		tl, err := timeline.New(ctx, socket, client, convID)
		if err != nil {
			return err
		}
		defer tl.Close() // stops the change feed: later changes are not delivered
		confirmed := make(chan struct{})
		tl.OnChange(func(c timeline.Change) {
			if c.Op != timeline.OpNone { // our own changes; the others come from the service
				fmt.Println(c.Op, c.Cause, c.Entry.State, c.Entry.Message.Content)
			}
			if c.Cause == timeline.CauseConfirmed {
				close(confirmed)
			}
		})
		if _, err := tl.Send(ctx, messaging.SendMessageParams{Content: "hello"}); err != nil {
			return err // rolled back, and reported on the change feed
		}
		select { // Send has returned; the feed reports it on its own goroutine
		case <-confirmed:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
		// readme:end
	}()
	if err != nil {
		panic(err)
	}
	// Output:
	// send applied pending hello
	// send confirmed confirmed hello
}

// Send waits for the server. To show the entry at once and keep going,
// choose its id, send from a goroutine, and follow the change feed (or
// look the entry up by id): the entry is pending until the server confirms
// it.
func ExampleTimeline_Send_pending() {
	srv, client, socket, convID := exampleSetup()
	defer srv.Close()
	defer socket.Close()
	ctx := context.Background()
	tl, err := timeline.New(ctx, socket, client, convID)
	if err != nil {
		panic(err)
	}
	defer tl.Close()
	confirmed := make(chan timeline.Entry, 1)
	pending := make(chan timeline.Entry, 1)
	id := messaging.NewMessageID()
	tl.OnChange(func(c timeline.Change) {
		if c.Entry.Message.ID != id {
			return
		}
		switch c.Cause {
		case timeline.CauseApplied:
			pending <- c.Entry // draw it, greyed out
		case timeline.CauseConfirmed:
			confirmed <- c.Entry
		}
	})

	sent := make(chan error, 1)
	go func() {
		_, err := tl.Send(ctx, messaging.SendMessageParams{ID: id, Content: "on its way"})
		sent <- err // a failure is also reported on the feed, rolled back
	}()
	// The caller is free: the UI draws the pending entry from the feed.
	e := <-pending
	fmt.Println(e.Message.Content, e.State)
	e = <-confirmed
	fmt.Println(e.Message.Content, e.State)
	if err := <-sent; err != nil {
		panic(err)
	}
	// Output:
	// on its way pending
	// on its way confirmed
}
