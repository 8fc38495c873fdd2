package otel_test

import (
	"context"
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"
	msgotel "github.com/symbia-labs/messaging-go/otel"
)

// A send made inside a span: the message is stored with the span's trace
// id, and the send and its HTTP request are spans of that trace.
func Example() {
	srv := messagingtest.NewServer() // an in-memory Messaging Service
	defer srv.Close()
	srv.AddUser("alice-token", messagingtest.Principal{ID: "a11ce000-0000-4000-8000-000000000001", Name: "alice"})

	spans := tracetest.NewSpanRecorder() // in a program: an exporter
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer func() { _ = tp.Shutdown(context.Background()) }()

	inst, err := msgotel.New(msgotel.WithTracerProvider(tp))
	if err != nil {
		panic(err)
	}
	defer func() { _ = inst.Shutdown() }()
	client, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken("alice-token"),
		messaging.WithHTTPClient(srv.Client()), inst.Option())
	if err != nil {
		panic(err)
	}
	conv, err := client.CreateConversation(context.Background(), messaging.CreateConversationParams{
		Type: messaging.ConversationGroup, Name: "team"})
	if err != nil {
		panic(err)
	}

	ctx, span := tp.Tracer("example").Start(context.Background(), "handle request")
	m, err := client.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv.ID, Content: "hello"})
	span.End()
	if err != nil {
		panic(err)
	}

	fmt.Println("stored with the caller's trace id:", m.TraceID == span.SpanContext().TraceID().String())
	for _, s := range spans.Ended() {
		if s.SpanContext().TraceID() == span.SpanContext().TraceID() {
			fmt.Printf("%s (%s)\n", s.Name(), s.SpanKind())
		}
	}
	// Output:
	// stored with the caller's trace id: true
	// POST (client)
	// send message:send (producer)
	// handle request (internal)
}
