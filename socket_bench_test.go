package messaging_test

import (
	"context"
	"testing"

	messaging "github.com/symbia-labs/messaging-go"
)

// BenchmarkSocketSendMessage measures one acknowledged send on an
// in-memory service, with one other socket receiving it.
func BenchmarkSocketSendMessage(b *testing.B) {
	e := newEnv(b)
	alice, bob := e.socket(aliceTok), e.socket(bobTok)
	got := make(chan struct{}, b.N+1)
	bob.OnMessage(func(*messaging.Message) { got <- struct{}{} })
	ctx := context.Background()
	if err := alice.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	if err := bob.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	p := messaging.SendMessageParams{ConversationID: e.conv, Content: "benchmark"}
	b.ResetTimer()
	for range b.N {
		if _, err := alice.SendMessage(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	for range b.N {
		<-got
	}
}
