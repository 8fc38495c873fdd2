package agent_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/agent"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// An agent that answers every question with its words in upper case,
// served against an in-process test service.
func Example() {
	svc := messagingtest.NewServer()
	defer svc.Close()
	svc.AddUser("alice", messagingtest.Principal{ID: "a11ce000-0000-4000-8000-000000000001"})
	svc.AddUser("bot", messagingtest.Principal{ID: "b0700000-0000-4000-8000-000000000002", Type: messaging.UserTypeAgent})
	ctx := context.Background()
	alice, _ := messaging.NewClient(messaging.WithEndpoint(svc.URL()), messaging.WithToken("alice"))
	bot, _ := messaging.NewClient(messaging.WithEndpoint(svc.URL()), messaging.WithToken("bot"))

	answered := make(chan string, 1)
	srv, err := agent.New(bot, agent.HandlerFunc(func(ctx context.Context, t *agent.Turn) error {
		// ctx ends if someone cancels or preempts the reply.
		for _, word := range strings.Fields(strings.ToUpper(t.Question.Content)) {
			if _, err := t.Reply().WriteString(word + " "); err != nil {
				return err
			}
		}
		return nil
	}), agent.WithDiscoveryInterval(100*time.Millisecond),
		agent.WithOnTurnEnd(func(t *agent.Turn, err error) { answered <- t.ClaimID() }))
	if err != nil {
		fmt.Println(err)
		return
	}
	go srv.Serve(ctx)
	defer srv.Shutdown(ctx)

	// Alice starts a conversation with the agent after it started: the
	// server finds it at its next listing.
	conv, _ := alice.CreateConversation(ctx, messaging.CreateConversationParams{
		Type:         messaging.ConversationPrivate,
		Participants: []messaging.NewParticipant{{UserID: "b0700000-0000-4000-8000-000000000002", UserType: messaging.UserTypeAgent}},
	})
	q, _ := alice.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv.ID, Content: "is anyone there?"})

	id := <-answered
	for _, m := range svc.Messages(conv.ID) {
		if m.ID == id {
			fmt.Printf("%q replies to %q\n", strings.TrimSpace(m.Content), q.Content)
		}
	}
	// Output: "IS ANYONE THERE?" replies to "is anyone there?"
}

// echoModel stands in for a language model: it streams back the prompt it
// was given, and tells streamed when it is done.
type echoModel struct{ streamed chan struct{} }

func (m echoModel) Stream(ctx context.Context, prompt string, w io.Writer) error {
	defer func() { m.streamed <- struct{}{} }()
	for _, line := range strings.SplitAfter(prompt, "\n") {
		if _, err := io.WriteString(w, line); err != nil {
			return err
		}
	}
	return nil
}

// A handler gives its model the conversation so far, and streams the
// model's answer as the reply.
func ExampleTurn_History() {
	svc := messagingtest.NewServer()
	defer svc.Close()
	svc.AddUser("alice", messagingtest.Principal{ID: "a11ce000-0000-4000-8000-000000000001"})
	svc.AddUser("bot", messagingtest.Principal{ID: "b0700000-0000-4000-8000-000000000002", Type: messaging.UserTypeAgent})
	ctx := context.Background()
	alice, _ := messaging.NewClient(messaging.WithEndpoint(svc.URL()), messaging.WithToken("alice"))
	client, _ := messaging.NewClient(messaging.WithEndpoint(svc.URL()), messaging.WithToken("bot"))
	names := map[string]string{"a11ce000-0000-4000-8000-000000000001": "alice", "b0700000-0000-4000-8000-000000000002": "bot"}

	// The agent asked, and Alice answered before the server started: it
	// finds her question in the history when it starts.
	conv, _ := alice.CreateConversation(ctx, messaging.CreateConversationParams{
		Type:         messaging.ConversationPrivate,
		Participants: []messaging.NewParticipant{{UserID: "b0700000-0000-4000-8000-000000000002", UserType: messaging.UserTypeAgent}},
	})
	_, _ = client.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv.ID, Content: "Where to?"})
	q, _ := alice.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv.ID, Content: "Paris, in May"})

	model := echoModel{streamed: make(chan struct{}, 1)}
	prompt := func(history []messaging.Message) string {
		var b strings.Builder
		for _, m := range history {
			fmt.Fprintf(&b, "%s: %s\n", names[m.SenderID], m.Content)
		}
		return b.String()
	}
	shutdownCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()

	err := func() error {
		// readme:begin agent-server
		srv, err := agent.New(client, agent.HandlerFunc(func(ctx context.Context, t *agent.Turn) error {
			history, err := t.History(ctx, 20) // oldest first, ending with the question
			if err != nil {
				return err
			}
			// ctx ends on stream.cancel, stream.preempt, stream.handoff, shutdown;
			// writes block while the run is paused.
			return model.Stream(ctx, prompt(history), t.Reply())
		}))
		if err != nil {
			return err
		}
		go srv.Serve(ctx)
		defer srv.Shutdown(shutdownCtx) // stop taking turns, finish, then cancel
		// readme:end
		select {
		case <-model.streamed:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("no turn")
		}
	}()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range svc.Messages(conv.ID) {
		if m.ReplyTo == q.ID {
			fmt.Print(m.Content)
		}
	}
	// Output:
	// bot: Where to?
	// alice: Paris, in May
}
