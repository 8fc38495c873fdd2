package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// The examples run against messagingtest, an in-memory Messaging Service,
// with two users.
const (
	exAliceID    = "a11ce000-0000-4000-8000-000000000001"
	exBobID      = "b0b00000-0000-4000-8000-000000000002"
	exAliceToken = "alice-token" // may send control events
	exBobToken   = "bob-token"
)

// exampleService starts an in-memory service that knows alice and bob.
func exampleService() *messagingtest.Server {
	srv := messagingtest.NewServer()
	srv.AddUser(exAliceToken, messagingtest.Principal{ID: exAliceID, Name: "alice",
		Entitlements: []string{"cap:messaging.interrupt"}})
	srv.AddUser(exBobToken, messagingtest.Principal{ID: exBobID, Name: "bob"})
	return srv
}

// exampleConversation makes alice's group conversation "team" with bob in it.
func exampleConversation(srv *messagingtest.Server) string {
	c, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken(exAliceToken))
	if err != nil {
		panic(err)
	}
	conv, err := c.CreateConversation(context.Background(), messaging.CreateConversationParams{
		Type: messaging.ConversationGroup, Name: "team", ParticipantIDs: []string{exBobID},
	})
	if err != nil {
		panic(err)
	}
	return conv.ID
}

// connected returns a connected socket of the user with the token.
func connected(srv *messagingtest.Server, token string) *messaging.Socket {
	s, err := messaging.NewSocket(messaging.WithEndpoint(srv.URL()), messaging.WithToken(token))
	if err != nil {
		panic(err)
	}
	if err := s.Connect(context.Background()); err != nil {
		panic(err)
	}
	return s
}

// await returns the first value sent on ch, or panics after 10 seconds, so
// that a broken example fails instead of hanging.
func await[T any](ch <-chan T) T {
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		panic("example: nothing received within 10s")
	}
}

var exNames = map[string]string{exAliceID: "alice", exBobID: "bob"}

// The JS client's "Combined Pattern": a service sends over REST, a user's
// socket receives in real time.
func Example() {
	srv := exampleService() // an in-memory Messaging Service, see messagingtest
	defer srv.Close()
	endpoint := srv.URL()
	serviceToken, userToken, userID := exAliceToken, exBobToken, exBobID

	err := func() error {
		// readme:begin combined
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()

		// Server side: REST for sending. Without options, the endpoint and
		// credentials come from MESSAGING_ENDPOINT, MESSAGING_SERVICE_TOKEN
		// and MESSAGING_API_KEY.
		client, err := messaging.NewClient(messaging.WithEndpoint(endpoint), messaging.WithToken(serviceToken))
		if err != nil {
			return err
		}
		conv, err := client.CreateConversation(ctx, messaging.CreateConversationParams{
			Type:           messaging.ConversationGroup,
			Name:           "Support Chat",
			ParticipantIDs: []string{userID},
		})
		if err != nil {
			return err
		}

		// Client side: the socket for receiving. Register handlers, then
		// connect and join.
		socket, err := messaging.NewSocket(messaging.WithEndpoint(endpoint), messaging.WithToken(userToken))
		if err != nil {
			return err
		}
		defer socket.Close()
		received := make(chan *messaging.Message, 1)
		socket.OnMessage(func(m *messaging.Message) { received <- m })
		if err := socket.Connect(ctx); err != nil {
			return err
		}
		if err := socket.JoinConversation(ctx, conv.ID); err != nil {
			return err
		}

		// The server sends via REST...
		_, err = client.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv.ID, Content: "Server message"})
		if err != nil {
			return err
		}
		// ...and the socket receives it, on its own goroutine: wait for it,
		// since returning now would close the socket before it arrives.
		select {
		case m := <-received:
			fmt.Println("New message:", m.Content)
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
		// readme:end
	}()
	if err != nil {
		panic(err)
	}
	// Output:
	// New message: Server message
}

// The REST client's conversation, participant and message calls.
func ExampleNewClient() {
	srv := exampleService()
	defer srv.Close()
	ctx := context.Background()

	// Without options, the endpoint and the token come from
	// MESSAGING_ENDPOINT and MESSAGING_SERVICE_TOKEN.
	client, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken("alice-token"))
	if err != nil {
		panic(err)
	}

	conv, err := client.CreateConversation(ctx, messaging.CreateConversationParams{
		Type: messaging.ConversationGroup,
		Name: "Support Chat",
	})
	if err != nil {
		panic(err)
	}
	p, err := client.AddParticipant(ctx, conv.ID, exBobID, messaging.UserTypeUser)
	if err != nil {
		panic(err)
	}
	fmt.Println(conv.Type, conv.Name, "- bob is a", p.Role)

	for _, text := range []string{"Hello!", "Anyone there?"} {
		if _, err := client.SendMessage(ctx, messaging.SendMessageParams{
			ConversationID: conv.ID,
			Content:        text,
			Priority:       messaging.PriorityHigh,
		}); err != nil {
			panic(err)
		}
	}

	// One page of history; without Before or After, the oldest messages.
	messages, err := client.GetMessages(ctx, conv.ID, messaging.GetMessagesParams{Limit: 50})
	if err != nil {
		panic(err)
	}
	for _, m := range messages {
		fmt.Println(m.Sequence, m.Priority, m.Content)
	}
	// Output:
	// group Support Chat - bob is a member
	// 1 high Hello!
	// 2 high Anyone there?
}

// Sends carry a message id, made by the SDK unless given: the service stores
// an id once, so sending again after a lost answer does not duplicate it.
func ExampleClient_SendMessage() {
	srv := exampleService()
	defer srv.Close()
	conv := exampleConversation(srv)
	ctx := context.Background()
	client, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken("alice-token"))
	if err != nil {
		panic(err)
	}

	params := messaging.SendMessageParams{
		ConversationID: conv,
		ID:             "5e9d1c4e-8f0a-4c1b-9a6d-2b7f3e4a5c6d", // a fresh random UUID
		Content:        "Sent once, whatever the retries",
	}
	first, err := client.SendMessage(ctx, params)
	if err != nil {
		panic(err)
	}
	again, err := client.SendMessage(ctx, params)
	if err != nil {
		panic(err)
	}
	fmt.Println(first.ID == again.ID, len(srv.Messages(conv)))
	// Output:
	// true 1
}

// Messages walks the whole history, newest first, one page per request.
func ExampleClient_Messages() {
	srv := exampleService()
	defer srv.Close()
	conv := exampleConversation(srv)
	ctx := context.Background()
	client, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken("bob-token"))
	if err != nil {
		panic(err)
	}
	for _, text := range []string{"one", "two", "three", "four", "five"} {
		if _, err := client.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv, Content: text}); err != nil {
			panic(err)
		}
	}

	err = func() error {
		// readme:begin paging
		for m, err := range client.Messages(ctx, conv, messaging.WithPageSize(2)) {
			if err != nil {
				return err
			}
			fmt.Print(m.Content, " ")
		}
		// readme:end
		return nil
	}()
	if err != nil {
		panic(err)
	}
	fmt.Println()
	// Output:
	// five four three two one
}

// Errors match the package's sentinels with errors.Is, and carry the
// details in *APIError, *ValidationError or *AckError.
func Example_errors() {
	srv := exampleService()
	defer srv.Close()
	ctx := context.Background()
	client, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken("bob-token"))
	if err != nil {
		panic(err)
	}

	// Where the JS client returns null, the Go client returns an error. The
	// service answers 403 for a conversation id it does not know, since it
	// checks membership first.
	id := "00000000-0000-4000-8000-000000000000"
	{
		// readme:begin errors
		_, err := client.GetConversation(ctx, id)
		switch {
		case errors.Is(err, messaging.ErrNotParticipant): // 403; also matches ErrForbidden
			fmt.Println("not a participant")
		case errors.Is(err, messaging.ErrNotFound): // 404
			fmt.Println("no such conversation")
		case errors.Is(err, messaging.ErrUnauthorized): // 401, or a refused socket connection
			fmt.Println("refused credentials")
		}
		var apiErr *messaging.APIError // status, method, path, the service's text, Retry-After
		if errors.As(err, &apiErr) {
			fmt.Println(apiErr.StatusCode, apiErr.Message)
		}
		// readme:end
		fmt.Println(errors.Is(err, messaging.ErrForbidden))
	}

	// Bad input is refused before any request: the service stores run ids
	// in a UUID column and would answer a 500 for the JS client's "run-123".
	_, err = client.SendMessage(ctx, messaging.SendMessageParams{
		ConversationID: "00000000-0000-4000-8000-000000000000",
		Content:        "hi",
		RunID:          "run-123",
	})
	var invalid *messaging.ValidationError
	if errors.As(err, &invalid) {
		fmt.Println(invalid.Field, errors.Is(err, messaging.ErrInvalidArgument))
	}

	// A refused token.
	client.SetToken("expired")
	_, err = client.ListConversations(ctx)
	fmt.Println(errors.Is(err, messaging.ErrUnauthorized))
	// Output:
	// not a participant
	// 403 Not a participant in this conversation
	// true
	// params.RunID true
	// true
}

// A socket sends and receives messages in real time; its own messages come
// back to it too.
func ExampleNewSocket() {
	srv := exampleService()
	defer srv.Close()
	conv := exampleConversation(srv)
	ctx := context.Background()

	socket, err := messaging.NewSocket(
		messaging.WithEndpoint(srv.URL()),
		messaging.WithToken("bob-token"),
		messaging.WithReconnectionAttempts(10),
	)
	if err != nil {
		panic(err)
	}
	defer socket.Close()

	connected := make(chan struct{}, 1)
	socket.OnConnect(func() { connected <- struct{}{} })
	received := make(chan *messaging.Message, 1)
	off := socket.OnMessage(func(m *messaging.Message) { received <- m })
	defer off() // every On method returns its unsubscribe function

	if err := socket.Connect(ctx); err != nil {
		panic(err)
	}
	await(connected)
	fmt.Println(socket.State())
	if err := socket.JoinConversation(ctx, conv); err != nil {
		panic(err)
	}
	sent, err := socket.SendMessage(ctx, messaging.SendMessageParams{
		ConversationID: conv,
		Content:        "Hello from the socket!",
	})
	if err != nil {
		panic(err)
	}
	m := await(received)
	fmt.Println(m.ID == sent.ID, m.Content)
	// Output:
	// connected
	// true Hello from the socket!
}

// A socket can share a client's endpoint, credentials and logger.
func ExampleClient_NewSocket() {
	srv := exampleService()
	defer srv.Close()
	conv := exampleConversation(srv)
	ctx := context.Background()

	client, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken("bob-token"))
	if err != nil {
		panic(err)
	}
	socket, err := client.NewSocket(messaging.WithAckTimeout(5 * time.Second))
	if err != nil {
		panic(err)
	}
	defer socket.Close()
	if err := socket.Connect(ctx); err != nil {
		panic(err)
	}
	m, err := socket.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv, Content: "same token"})
	if err != nil {
		panic(err)
	}
	fmt.Println(exNames[m.SenderID], m.Content)
	// Output:
	// bob same token
}

// Typing indicators reach everyone in the conversation but the typist.
func ExampleSocket_StartTyping() {
	srv := exampleService()
	defer srv.Close()
	conv := exampleConversation(srv)
	ctx := context.Background()
	alice, bob := connected(srv, "alice-token"), connected(srv, "bob-token")
	defer alice.Close()
	defer bob.Close()

	typing := make(chan string, 2)
	bob.OnTypingStart(func(e messaging.TypingEvent) { typing <- exNames[e.UserID] + " is typing" })
	bob.OnTypingStop(func(e messaging.TypingEvent) { typing <- exNames[e.UserID] + " stopped typing" })

	if err := alice.StartTyping(ctx, conv); err != nil {
		panic(err)
	}
	fmt.Println(await(typing))
	if err := alice.StopTyping(ctx, conv); err != nil {
		panic(err)
	}
	fmt.Println(await(typing))
	// Output:
	// alice is typing
	// alice stopped typing
}

// Presence changes reach every other connected socket.
func ExampleSocket_UpdatePresence() {
	srv := exampleService()
	defer srv.Close()
	ctx := context.Background()
	alice, bob := connected(srv, "alice-token"), connected(srv, "bob-token")
	defer alice.Close()
	defer bob.Close()

	presence := make(chan messaging.PresenceEvent, 1)
	alice.OnPresence(func(e messaging.PresenceEvent) { presence <- e })

	if err := bob.UpdatePresence(ctx, messaging.PresenceBusy); err != nil {
		panic(err)
	}
	e := await(presence)
	fmt.Println(exNames[e.UserID], e.Status)
	// Output:
	// bob busy
}

// Control events steer a conversation's streams. The JS client's short
// names ("pause") are sent as the names listeners subscribe to
// ("stream.pause").
func ExampleSocket_OnControl() {
	srv := exampleService()
	defer srv.Close()
	conv := exampleConversation(srv)
	ctx := context.Background()
	bob := connected(srv, "bob-token")
	defer bob.Close()

	events := make(chan messaging.ControlEvent, 1)
	bob.OnControl("stream.pause", func(e messaging.ControlEvent) { events <- e })

	// Sending control events needs the cap:messaging.interrupt capability,
	// which alice has.
	client, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken("alice-token"))
	if err != nil {
		panic(err)
	}
	record, err := client.SendControl(ctx, conv, messaging.ControlParams{
		Event:  "pause",
		Target: &messaging.ControlTarget{PrincipalID: exBobID},
		Reason: "User requested pause",
	})
	if err != nil {
		panic(err)
	}
	e := await(events)
	fmt.Println(e.Event, exNames[e.Target.PrincipalID], e.Reason)
	fmt.Println(record.IsControl(), record.Content)
	// Output:
	// stream.pause bob User requested pause
	// true stream.pause
}
