package messagingtest_test

import (
	"context"
	"testing"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// greet is the code under test of the README's messagingtest section.
func greet(client *messaging.Client, convID string) {
	if _, err := client.SendMessage(context.Background(), messaging.SendMessageParams{ConversationID: convID, Content: "hello"}); err != nil {
		panic(err)
	}
}

// readme:begin messagingtest
func TestGreeter(t *testing.T) {
	srv := messagingtest.NewServer()
	defer srv.Close()
	srv.AddUser("alice-token", messagingtest.Principal{ID: "a11ce000-0000-4000-8000-000000000001"})

	client, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken("alice-token"))
	if err != nil {
		t.Fatal(err)
	}
	conv, err := client.CreateConversation(context.Background(), messaging.CreateConversationParams{
		Type: messaging.ConversationGroup, Name: "test",
	})
	if err != nil {
		t.Fatal(err)
	}

	greet(client, conv.ID) // the code under test

	if got := srv.Messages(conv.ID); len(got) != 1 || got[0].Content != "hello" {
		t.Fatalf("stored %+v", got)
	}
}

// readme:end
