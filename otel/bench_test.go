package otel_test

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"
	msgotel "github.com/symbia-labs/messaging-go/otel"
)

// BenchmarkSocketSendMessage sends and waits for delivery to another
// socket, as the SDK's benchmark of the same name, with and without the
// instrumentation (spans exported synchronously to a discarding exporter,
// metrics aggregated), to show what it costs.
func BenchmarkSocketSendMessage(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchSend(b, nil) })
	b.Run("otel", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		b.Cleanup(func() {
			_ = tp.Shutdown(context.Background())
			_ = mp.Shutdown(context.Background())
		})
		inst, err := msgotel.New(msgotel.WithTracerProvider(tp), msgotel.WithMeterProvider(mp))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = inst.Shutdown() })
		benchSend(b, inst.Option())
	})
}

func benchSend(b *testing.B, opt messaging.Option) {
	srv := messagingtest.NewServer()
	b.Cleanup(srv.Close)
	srv.AddUser(aliceToken, messagingtest.Principal{ID: aliceID, Name: "alice"})
	srv.AddUser(agentToken, messagingtest.Principal{ID: agentID, Type: messaging.UserTypeAgent, AgentID: "agent:helper"})
	socket := func(token string) *messaging.Socket {
		opts := []messaging.SocketOption{messaging.WithEndpoint(srv.URL()), messaging.WithToken(token),
			messaging.WithHTTPClient(srv.Client())}
		if opt != nil {
			opts = append(opts, opt)
		}
		s, err := messaging.NewSocket(opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		if err := s.Connect(context.Background()); err != nil {
			b.Fatal(err)
		}
		return s
	}
	c, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken(aliceToken),
		messaging.WithHTTPClient(srv.Client()))
	if err != nil {
		b.Fatal(err)
	}
	conv, err := c.CreateConversation(context.Background(), messaging.CreateConversationParams{
		Type: messaging.ConversationGroup, Name: "bench", ParticipantIDs: []string{agentID}})
	if err != nil {
		b.Fatal(err)
	}
	got := make(chan struct{}, b.N+1)
	agent := socket(agentToken)
	agent.OnMessage(func(*messaging.Message) { got <- struct{}{} })
	alice := socket(aliceToken)
	p := messaging.SendMessageParams{ConversationID: conv.ID, Content: "benchmark"}
	ctx := context.Background()
	b.ReportAllocs()
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
