package messaging_test

import (
	"context"
	"fmt"
	"time"

	messaging "github.com/symbia-labs/messaging-go"
)

// An agent's run reports a tool call as it works; a person's tracker shows
// it: started, how far, done.
func ExampleRun_StartToolCall() {
	srv := exampleService()
	defer srv.Close()
	conv := exampleConversation(srv)
	ctx := context.Background()

	// Bob watches.
	bob := connected(srv, exBobToken)
	defer bob.Close()
	tracker := messaging.NewActivityTracker(bob)
	defer tracker.Close()
	events := make(chan messaging.ActivityEvent, 10)
	tracker.OnChange(func(e messaging.ActivityEvent) { events <- e })

	// Alice's program works (an agent would do the same).
	alice := connected(srv, exAliceToken)
	defer alice.Close()
	run, err := alice.Run(ctx, conv, "", messaging.WithRunPrincipal(exAliceID))
	if err != nil {
		panic(err)
	}
	defer run.End()

	call, err := run.StartToolCall(ctx, messaging.ToolCallParams{
		Name:       "flight_search",
		Parameters: map[string]string{"origin": "NYC", "destination": "PAR"},
	})
	if err != nil {
		panic(err)
	}
	show := func(e messaging.ActivityEvent) {
		r := e.Record
		switch e.Type {
		case messaging.ToolCallStart:
			fmt.Printf("%s: %s started %s\n", exNames[r.SenderID], r.Name, r.Parameters)
		case messaging.ToolCallProgress:
			fmt.Printf("%s: %s %.0f %%\n", exNames[r.SenderID], r.Message, 100*r.Progress)
		case messaging.ToolCallComplete:
			fmt.Printf("%s: %s completed: %s\n", exNames[r.SenderID], r.Name, r.Result)
		}
	}
	show(await(events))

	if err := call.Progress(ctx, 0.75, "searching flights…"); err != nil {
		panic(err)
	}
	show(await(events))
	fmt.Println("running:", len(tracker.Activities(conv)))

	if err := call.Complete(ctx, map[string]int{"flights_found": 25}); err != nil {
		panic(err)
	}
	show(await(events))
	fmt.Println("running:", len(tracker.Activities(conv)))
	// Output:
	// alice: flight_search started {"destination":"PAR","origin":"NYC"}
	// alice: searching flights… 75 %
	// running: 1
	// alice: flight_search completed: {"flights_found":25}
	// running: 0
}

// A person who arrives while an agent works sees where it is: the tracker
// rebuilds the state from the history.
func ExampleActivityTracker_Load() {
	srv := exampleService()
	defer srv.Close()
	conv := exampleConversation(srv)
	ctx := context.Background()

	alice := connected(srv, exAliceToken)
	defer alice.Close()
	run, err := alice.Run(ctx, conv, "", messaging.WithRunPrincipal(exAliceID))
	if err != nil {
		panic(err)
	}
	defer run.End()
	if _, err := run.StartTask(ctx, messaging.TaskParams{Name: "plan the trip", Message: "comparing hotels"}); err != nil {
		panic(err)
	}

	// Bob arrives later.
	bob := connected(srv, exBobToken)
	defer bob.Close()
	tracker := messaging.NewActivityTracker(bob)
	defer tracker.Close()
	client, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken(exBobToken))
	if err != nil {
		panic(err)
	}
	if err := tracker.Load(ctx, client, conv, time.Time{}); err != nil {
		panic(err)
	}
	for _, r := range tracker.Activities(conv) {
		fmt.Printf("%s: %s (%s), %s\n", exNames[r.SenderID], r.Name, r.Kind, r.Message)
	}
	// Output:
	// alice: plan the trip (task), comparing hotels
}
