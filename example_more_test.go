package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// An agent of the example service, beside alice and bob.
const (
	exAgentID    = "a9e00000-0000-4000-8000-000000000003"
	exAgentToken = "agent-token"
)

// agentService starts an in-memory service with alice, bob and an agent,
// and a conversation of alice's with both of them in it.
func agentService() (srv *messagingtest.Server, conv string) {
	srv = exampleService()
	srv.AddUser(exAgentToken, messagingtest.Principal{ID: exAgentID, Type: messaging.UserTypeAgent, Name: "helper"})
	c, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken(exAliceToken))
	if err != nil {
		panic(err)
	}
	created, err := c.CreateConversation(context.Background(), messaging.CreateConversationParams{
		Type: messaging.ConversationGroup, Name: "help",
		Participants: []messaging.NewParticipant{{UserID: exBobID}, {UserID: exAgentID, UserType: messaging.UserTypeAgent}},
	})
	if err != nil {
		panic(err)
	}
	return srv, created.ID
}

// An agent's reply is a Run with a Stream: the first write creates the
// message, later writes edit it. A receiver sees it grow with a
// ChunkAssembler.
func ExampleSocket_Run() {
	srv, convID := agentService()
	defer srv.Close()
	bob := connected(srv, exBobToken)
	defer bob.Close()
	done := make(chan string, 1)
	detach := messaging.NewChunkAssembler(func(c messaging.Chunk) {
		if c.Complete {
			done <- c.Content
		}
	}).Attach(bob)
	defer detach()
	socket := connected(srv, exAgentToken)
	defer socket.Close()
	ctx := context.Background()
	tokens := []string{"Hello", ", ", "world", "!"} // e.g. an LLM's output

	err := func() error {
		// readme:begin run-stream
		run, err := socket.Run(ctx, convID, "") // a new run id, and a trace id
		if err != nil {
			return err
		}
		defer run.End()

		stream, err := run.Stream(run.Context(), messaging.StreamParams{})
		if err != nil {
			return err
		}
		for _, tok := range tokens {
			if _, err := stream.WriteString(tok); err != nil {
				var stop *messaging.RunStoppedError
				if errors.As(err, &stop) { // preempted, cancelled or handed off
					fmt.Println("stopped by", stop.Event, stop.Reason)
				}
				return err
			}
		}
		return stream.Close() // final content; typing stops
		// readme:end
	}()
	if err != nil {
		panic(err)
	}
	fmt.Println("bob read:", await(done))
	// Output:
	// bob read: Hello, world!
}

// A person cancels an agent's run while it streams: the run's context
// ends, the next write fails with the cause, and the message keeps what
// was sent before.
func ExampleRun_Stream() {
	srv, convID := agentService()
	defer srv.Close()
	ctx := context.Background()
	agent := connected(srv, exAgentToken)
	defer agent.Close()
	alice, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken(exAliceToken))
	if err != nil {
		panic(err)
	}

	run, err := agent.Run(ctx, convID, "")
	if err != nil {
		panic(err)
	}
	defer run.End()
	stream, err := run.Stream(run.Context(), messaging.StreamParams{})
	if err != nil {
		panic(err)
	}
	if _, err := stream.WriteString("Let me think"); err != nil {
		panic(err)
	}
	if err := stream.Flush(ctx); err != nil { // sent: the message exists
		panic(err)
	}

	// Alice (with cap:messaging.interrupt) cancels the run.
	if _, err := alice.SendControl(ctx, convID, messaging.ControlParams{
		Event: "cancel", RunID: run.ID(), Reason: "not needed any more",
	}); err != nil {
		panic(err)
	}
	<-run.Context().Done()

	_, err = stream.WriteString(" about it...")
	var stop *messaging.RunStoppedError
	if errors.As(err, &stop) {
		fmt.Println("stopped by", stop.Event+":", stop.Reason)
	}
	_ = stream.Close()
	fmt.Printf("stored: %q, run %v\n", stream.Content(), run.State())
	// Output:
	// stopped by stream.cancel: not needed any more
	// stored: "Let me think", run cancelled
}

// A ChunkAssembler fed by hand: a streamed message's events become
// numbered chunks, the last one complete.
func ExampleChunkAssembler() {
	a := messaging.NewChunkAssembler(func(c messaging.Chunk) {
		fmt.Printf("#%d %q complete=%v\n", c.Seq, c.Text, c.Complete)
	})
	streamed := map[string]any{messaging.StreamMetadataKey: true}
	msg := func(content string) *messaging.Message {
		return &messaging.Message{ID: "5e9d1c4e-8f0a-4c1b-9a6d-2b7f3e4a5c6d", ConversationID: "c", SenderID: exAgentID,
			Content: content, Metadata: streamed}
	}
	a.Message(msg("Hel"))           // message:new
	a.Message(msg("Hello, wor"))    // message:updated
	a.Message(msg("Hello, world!")) // message:updated
	a.Message(msg("Hello, world!")) // a repeated broadcast: nothing new
	a.TypingStopped(messaging.TypingEvent{ConversationID: "c", UserID: exAgentID})
	// Output:
	// #1 "Hel" complete=false
	// #2 "lo, wor" complete=false
	// #3 "ld!" complete=false
	// #4 "" complete=true
}

// A TypingTracker keeps who is typing in each conversation.
func ExampleTypingTracker() {
	srv := exampleService()
	defer srv.Close()
	conv := exampleConversation(srv)
	ctx := context.Background()
	alice, bob := connected(srv, exAliceToken), connected(srv, exBobToken)
	defer alice.Close()
	defer bob.Close()

	tracker := messaging.NewTypingTracker(bob)
	defer tracker.Close()
	changed := make(chan []messaging.TypingEvent, 2)
	tracker.OnChange(func(_ string, typing []messaging.TypingEvent) { changed <- typing })

	if err := alice.StartTyping(ctx, conv); err != nil {
		panic(err)
	}
	for _, e := range await(changed) {
		fmt.Println(exNames[e.UserID], "is typing")
	}
	fmt.Println(tracker.IsTyping(conv, exAliceID))
	if err := alice.StopTyping(ctx, conv); err != nil {
		panic(err)
	}
	fmt.Println(len(await(changed)), "typing")
	// Output:
	// alice is typing
	// true
	// 0 typing
}

// A PresenceTracker knows who came online in each conversation and each
// user's status, from what it sees after it is made: the service
// announces a participant when its socket connects (or announces
// presence) and a status when it changes, and never answers "who is
// online".
func ExamplePresenceTracker() {
	srv := exampleService()
	defer srv.Close()
	conv := exampleConversation(srv)
	ctx := context.Background()
	bob := connected(srv, exBobToken)
	defer bob.Close()
	tracker := messaging.NewPresenceTracker(bob)
	defer tracker.Close()
	changes := make(chan messaging.PresenceChange, 4)
	tracker.OnChange(func(c messaging.PresenceChange) { changes <- c })

	alice := connected(srv, exAliceToken) // participant:online in her rooms
	defer alice.Close()
	c := await(changes)
	fmt.Println(exNames[c.UserID], "online in the conversation:", c.Online && c.ConversationID == conv)
	if err := alice.UpdatePresence(ctx, messaging.PresenceAway); err != nil {
		panic(err)
	}
	c = await(changes)
	fmt.Println(exNames[c.UserID], c.Status)
	for _, id := range tracker.Online(conv) {
		fmt.Println("online:", exNames[id])
	}

	// A tracker made later knows nobody until they announce themselves.
	late := messaging.NewPresenceTracker(bob)
	defer late.Close()
	fmt.Println("a late tracker knows", len(late.Online(conv)))
	// Output:
	// alice online in the conversation: true
	// alice away
	// online: alice
	// a late tracker knows 0
}

// WithTokenSource fetches a fresh token before every connection attempt,
// reconnections included.
func ExampleWithTokenSource() {
	srv := exampleService()
	defer srv.Close()
	var fetched atomic.Int32
	socket, err := messaging.NewSocket(
		messaging.WithEndpoint(srv.URL()),
		messaging.WithTokenSource(func(ctx context.Context) (string, error) {
			fetched.Add(1)
			return exBobToken, nil // e.g. from your identity provider
		}),
		messaging.WithReconnectionDelay(10*time.Millisecond),
	)
	if err != nil {
		panic(err)
	}
	defer socket.Close()
	connects := make(chan struct{}, 2)
	socket.OnConnect(func() { connects <- struct{}{} })
	if err := socket.Connect(context.Background()); err != nil {
		panic(err)
	}
	await(connects)
	srv.DropConnections() // the connection is lost; the socket reconnects
	await(connects)
	fmt.Println("tokens fetched:", fetched.Load())
	// Output:
	// tokens fetched: 2
}

// A RetryPolicy says how a client repeats calls that failed on the network
// or with 408, 429, 502, 503 or 504; WithMaxRetries overrides it per call.
func ExampleRetryPolicy() {
	srv := exampleService()
	defer srv.Close()
	ctx := context.Background()
	client, err := messaging.NewClient(
		messaging.WithEndpoint(srv.URL()),
		messaging.WithToken(exBobToken),
		messaging.WithRetry(messaging.RetryPolicy{
			MaxRetries: 3,
			MinDelay:   10 * time.Millisecond, // then 20 ms, 40 ms (±25 %)
			MaxDelay:   100 * time.Millisecond,
		}),
	)
	if err != nil {
		panic(err)
	}

	srv.FailNext(2, 503, 0) // the next two requests fail
	convs, err := client.ListConversations(ctx)
	fmt.Println(len(convs), err)

	srv.FailNext(1, 503, 0)
	_, err = client.ListConversations(ctx, messaging.WithMaxRetries(0))
	var apiErr *messaging.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode)
	}
	// Output:
	// 0 <nil>
	// 503
}

// Authentication options: a bearer token is tried first, then an API key.
func Example_authentication() {
	srv := exampleService()
	defer srv.Close()
	endpoint, token, key := srv.URL(), exBobToken, "an-api-key"

	// readme:begin auth
	client, err := messaging.NewClient(
		messaging.WithEndpoint(endpoint), // default MESSAGING_ENDPOINT, else http://localhost:5005
		messaging.WithToken(token),       // default MESSAGING_SERVICE_TOKEN; header Authorization: Bearer
		messaging.WithAPIKey(key),        // default MESSAGING_API_KEY; header X-API-Key
	)
	// readme:end
	if err != nil {
		panic(err)
	}
	me, err := client.Me(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println(exNames[me.User.ID])
	// Output:
	// bob
}

// A Cursor keeps a walk's position, so that walking again with it yields
// only what is new: polling a conversation, each message once, even when
// several share a millisecond.
func ExampleWithCursor() {
	srv := exampleService()
	defer srv.Close()
	convID := exampleConversation(srv)
	ctx := context.Background()
	client, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken(exBobToken))
	if err != nil {
		panic(err)
	}
	send := func(texts ...string) {
		for _, text := range texts {
			if _, err := client.SendMessage(ctx, messaging.SendMessageParams{ConversationID: convID, Content: text}); err != nil {
				panic(err)
			}
		}
	}

	// readme:begin cursor
	cur := new(messaging.Cursor) // at the start: the oldest message
	poll := func() error {
		for m, err := range client.Messages(ctx, convID,
			messaging.WithOldestFirst(), messaging.WithCursor(cur), messaging.WithoutControl()) {
			if err != nil {
				return err // cur stays after the last message yielded
			}
			fmt.Println(m.Content)
		}
		return nil
	}
	// readme:end
	send("one", "two")
	if err := poll(); err != nil {
		panic(err)
	}
	send("three")
	if err := poll(); err != nil {
		panic(err)
	}
	// Output:
	// one
	// two
	// three
}

// Choosing a message's id before sending it: to show it at once, to
// recognise its echo, or to retry without storing it twice.
func ExampleNewMessageID() {
	srv := exampleService()
	defer srv.Close()
	convID := exampleConversation(srv)
	ctx := context.Background()
	client, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken(exBobToken))
	if err != nil {
		panic(err)
	}
	params := messaging.SendMessageParams{ConversationID: convID, ID: messaging.NewMessageID(), Content: "hi"}
	fmt.Println("pending:", params.Content) // a UI shows it now, keyed by params.ID
	m, err := client.SendMessage(ctx, params)
	if err != nil {
		panic(err) // resending params would not store it twice
	}
	fmt.Println("stored with the chosen id:", m.ID == params.ID)
	// Output:
	// pending: hi
	// stored with the chosen id: true
}
