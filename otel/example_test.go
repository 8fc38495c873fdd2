package otel_test

import (
	"context"
	"fmt"
	"time"

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

// Installing the instrumentation on a client and its socket: an agent's
// handler replies in the trace of the question it answers.
func ExampleNew_socket() {
	srv := messagingtest.NewServer() // an in-memory Messaging Service
	defer srv.Close()
	const me = "a9e00000-0000-4000-8000-000000000001"
	srv.AddUser("agent-token", messagingtest.Principal{ID: me, Name: "agent"})
	srv.AddUser("bob-token", messagingtest.Principal{ID: "b0b00000-0000-4000-8000-000000000002", Name: "bob"})
	endpoint, token := srv.URL(), "agent-token"

	bob, err := messaging.NewClient(messaging.WithEndpoint(endpoint), messaging.WithToken("bob-token"))
	if err != nil {
		panic(err)
	}
	conv, err := bob.CreateConversation(context.Background(), messaging.CreateConversationParams{
		Type: messaging.ConversationGroup, Name: "help", ParticipantIDs: []string{me}})
	if err != nil {
		panic(err)
	}

	var agent *messaging.Socket
	err = func() error {
		// readme:begin otel-install
		inst, err := msgotel.New() // global providers; or msgotel.WithTracerProvider(tp), msgotel.WithMeterProvider(mp)
		if err != nil {
			return err
		}
		client, err := messaging.NewClient(messaging.WithEndpoint(endpoint), messaging.WithToken(token), inst.Option())
		if err != nil {
			return err
		}
		sock, err := client.NewSocket() // inherits the client's instrumentation
		if err != nil {
			return err
		}
		sock.OnMessage(func(m *messaging.Message) {
			if m.SenderID == me {
				return
			}
			// The handler's span continues the message's trace: a reply sent with
			// this context carries the question's trace id.
			ctx := msgotel.MessageContext(context.Background(), m)
			_, _ = sock.SendMessage(ctx, messaging.SendMessageParams{ConversationID: m.ConversationID, ReplyTo: m.ID, Content: "…"})
		})
		// readme:end
		agent = sock
		return sock.Connect(context.Background())
	}()
	if agent != nil {
		defer agent.Close()
	}
	if err != nil {
		panic(err)
	}

	const trace = "4bf92f3577b34da6a3ce929d0e0e4736" // a question asked inside a W3C trace
	q, err := bob.SendMessage(context.Background(), messaging.SendMessageParams{ConversationID: conv.ID, Content: "help?", TraceID: trace})
	if err != nil {
		panic(err)
	}
	for range 200 {
		ms, err := bob.GetMessages(context.Background(), conv.ID, messaging.GetMessagesParams{})
		if err != nil {
			panic(err)
		}
		for _, m := range ms {
			if m.ReplyTo == q.ID {
				fmt.Println("the reply is in the question's trace:", m.TraceID == trace)
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("no reply")
	// Output:
	// the reply is in the question's trace: true
}
