package agent_test

import (
	"context"
	"fmt"
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
