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

	// Bob watches, and asks.
	bob := connected(srv, exBobToken)
	defer bob.Close()
	tracker := messaging.NewActivityTracker(bob)
	defer tracker.Close()
	events := make(chan messaging.ActivityEvent, 10)
	tracker.OnChange(func(e messaging.ActivityEvent) { events <- e })
	question, err := bob.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv, Content: "NYC to Paris?"})
	if err != nil {
		panic(err)
	}

	// Alice's program works (an agent would do the same).
	alice := connected(srv, exAliceToken)
	defer alice.Close()
	run, err := alice.Run(ctx, conv, "", messaging.WithRunPrincipal(exAliceID))
	if err != nil {
		panic(err)
	}
	defer run.End()

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
	// searchFlights stands in for the tool. While it runs, Bob sees the
	// call start and make progress.
	searchFlights := func(ctx context.Context, params map[string]string) (any, error) {
		show(await(events))
		show(await(events))
		fmt.Println("running:", len(tracker.Activities(conv)))
		return map[string]int{"flights_found": 25}, nil
	}
	params := map[string]string{"origin": "NYC", "destination": "PAR"}

	err = func() error {
		// readme:begin activity-tool-call
		call, err := run.StartToolCall(ctx, messaging.ToolCallParams{
			Name: "flight_search", Parameters: params, ReplyTo: question.ID,
		})
		if err != nil {
			return err
		}
		_ = call.Progress(ctx, 0.75, "Searching for return flights...") // at most one edit per 100 ms
		result, err := searchFlights(run.Context(), params)
		if err != nil {
			return call.Fail(ctx, messaging.ActivityError{Code: "EXTERNAL_API_ERROR", Message: err.Error(), Retryable: true})
		}
		return call.Complete(ctx, result)
		// readme:end
	}()
	if err != nil {
		panic(err)
	}
	show(await(events))
	fmt.Println("running:", len(tracker.Activities(conv)))
	// Output:
	// alice: flight_search started {"destination":"PAR","origin":"NYC"}
	// alice: Searching for return flights... 75 %
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
