// Package messaging is the Go SDK for the Symbia Messaging Service, the
// real-time bus on which people and AI agents hold conversations. It is the
// Go counterpart of the npm package @symbia/messaging-client, and follows
// its names.
//
// The package has two halves that share one set of typed models:
//
//   - [Client], a REST client over net/http for conversations,
//     participants, messages and control events;
//   - [Socket], a real-time client over Socket.IO for live messages,
//     typing, presence and stream control events.
//
// Both are built with functional options; see [WithEndpoint], [WithToken]
// and [WithAPIKey], which default to the environment variables
// MESSAGING_ENDPOINT, MESSAGING_SERVICE_TOKEN and MESSAGING_API_KEY (an
// explicit option always wins). Every call that does I/O takes a
// context.Context first and returns a value and an error.
//
// Package messagingtest is an in-memory service that answers as the real one
// does, for tests of code that uses this package; the programs in examples/
// run against it when MESSAGING_ENDPOINT is not set.
//
// # REST
//
//	client, err := messaging.NewClient(messaging.WithToken(token))
//	if err != nil { … }
//	conv, err := client.CreateConversation(ctx, messaging.CreateConversationParams{
//		Type: messaging.ConversationGroup, Name: "Support Chat",
//	})
//	if err != nil { … }
//	_, err = client.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv.ID, Content: "Hello!"})
//
// [Client.GetMessages] returns one page of history; [Client.Messages]
// walks the whole history as an iterator, without the gaps that paging by
// millisecond timestamps can leave. Per-call options mirror the JS client's
// request options: [AsUser] and [WithOrgID].
//
// # Real time
//
//	s, err := messaging.NewSocket(messaging.WithToken(token))
//	if err != nil { … }
//	defer s.Close()
//	s.OnMessage(func(m *messaging.Message) { fmt.Println(m.Content) })
//	if err := s.Connect(ctx); err != nil { … }
//	if err := s.JoinConversation(ctx, conversationID); err != nil { … }
//	_, err = s.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conversationID, Content: "hi"})
//
// Every On method returns a function that unsubscribes the handler.
// [Client.NewSocket] makes a socket that shares a client's endpoint and
// credentials. Credentials travel in the Socket.IO CONNECT packet only, never
// in a URL. [WithTokenSource] refreshes an expiring token before every
// reconnection.
//
// # Control events
//
// Stream control events (stream.pause, stream.resume, stream.preempt,
// stream.route, stream.handoff, stream.cancel, stream.priority) steer the
// replies streamed in a conversation. [Client.SendControl] and
// [Socket.SendControl] send them, accepting the JS client's short names
// ("pause") and sending them in full, the names listeners use;
// [Socket.OnControl] receives them. An agent's [Run] obeys them, and its
// [Stream] writes a reply piece by piece.
//
// # Agent servers
//
// Package agent (github.com/symbia-labs/messaging-go/agent) serves an
// agent's turns as net/http serves requests: one handler call per
// question, on a goroutine of its own (never on the socket's handler
// goroutine, so the turn's run hears control events while it works), with
// the policies, limits, discovery of new conversations and claims among
// replicas that agents need. Its documentation explains the threading of
// turns.
//
// # Errors
//
// Errors match the sentinels of this package with errors.Is, e.g.
// [ErrNotFound], [ErrForbidden], [ErrNotParticipant], [ErrUnauthorized] and
// [ErrInvalidArgument], and carry their details in [*APIError] (a REST
// answer other than 2xx), [*AckError] (a socket call the service refused),
// [*ConnectError] (a refused socket connection) or [*ValidationError]
// (input refused before any I/O). Where the JS client returns null or
// {success: false}, this package returns an error. When a context ends, the
// error wraps the context's error.
//
// # Retries and idempotent sends
//
// Every message carries an id made by the SDK before the first attempt
// (or [SendMessageParams].ID): the service stores an id once, so the REST
// client retries a send safely (see [RetryPolicy]) and the socket resends a
// message whose acknowledgement was lost. Calls that a repeat would
// duplicate, CreateConversation and SendControl, are never retried.
//
// # Concurrency
//
// Every method of [Client] and [Socket] is safe for concurrent use.
//
// A Socket runs handlers on a goroutine of its own, the dispatcher, one
// handler at a time, in the order the events arrived (an idle Socket lets
// its dispatcher go and starts another for the next event, so handlers
// never overlap but do not always run on the same goroutine); handlers registered
// for the same event run in registration order. Connection changes
// (OnStateChange, OnConnect, OnDisconnect, OnReconnecting, OnReconnect)
// and OnError go through the same queue, so all handlers see one order. A
// slow handler delays the handlers after it, never the connection: the
// connection is read on another goroutine, which answers the server's
// heartbeat and only queues events. So:
//
//   - A handler may call any Socket method, and wait for it: the server's
//     acknowledgements reach the waiting call directly, not through the
//     handler queue. A handler may call SendMessage and wait for the stored
//     message; it may call Close, which then returns without waiting for
//     the handler's own goroutine.
//   - A handler that blocks for long stops the later handlers. The queue
//     holds up to [WithHandlerQueueSize] events; beyond that the socket
//     drops new events and reports [ErrSlowConsumer] through OnError, once
//     per episode. Dropped messages are fetched again from the history (see
//     Delivery); other dropped events (typing, presence, updates, control)
//     are lost.
//   - A panic in a handler is recovered and reported through OnError; the
//     other handlers still run.
//   - Every On method returns a function that unsubscribes the handler. It
//     may be called at any time, from any goroutine, more than once; after
//     it returns, the handler is not called again (a call already running
//     finishes). Handlers may be registered before Connect.
//   - Close ends every goroutine the socket started. Handlers of the last
//     state change (to StateClosed) still run; queued events are dropped.
//   - Events and acknowledgements keep the order the service sent them in:
//     an event the service sent before acknowledging a call is in the
//     handler queue before that call returns (it may not have been handled
//     yet). Layers such as package timeline rely on this.
//
// # Delivery
//
// Messages are identified by their id, never by their sequence number,
// which the service may repeat. OnMessage receives each message once: a
// message the service broadcasts again (a send repeated with the same id)
// is dropped, and so is one already delivered that comes back from the
// history.
//
// With backfill on ([WithBackfill], the default), the socket recovers what
// it missed: after a reconnection, for every conversation it has a cursor
// for, it fetches over REST the messages created since the last one it
// delivered (from a second earlier, to catch messages the service made
// visible late) and delivers them, oldest first, before any newer live
// message of that conversation. The same happens when a live message's
// sequence skips ahead (a hint that something is missing) and when the
// handler queue dropped messages. A conversation gets its cursor when
// JoinConversation joins it (the newest message at that moment) or when
// the socket delivers its first message; the service's own joins at
// connect time give no cursor, so join explicitly the conversations whose
// first messages must not be missed. Backfill needs at least one OnMessage
// handler, and the right to read the history: conversations only watched
// (WatchConversation) without being a participant are not backfilled.
// Control records stored in the history (content type "event") are not
// delivered as messages, since they are broadcast live as control events,
// and control, typing, presence, edit and delete events missed while
// disconnected are not replayed. A failed backfill is reported through
// OnError and tried again at the next live message of the conversation or
// the next reconnection. Reading the history updates the caller's
// last_read_at, as any read does.
//
// Sends survive disconnections: SendMessage, EditMessage and SendControl
// called while the socket is reconnecting wait for it (bounded by their
// context) and go out after the socket has rejoined its conversations. A
// message whose acknowledgement was lost is sent again with the same id,
// which the service stores once. Each call ends with success, or with an
// error; an error that may hide a stored message matches
// [ErrDeliveryUnknown].
//
// # Observability
//
// [Socket.Stats] and [Client.Stats] return plain counters. [WithObserver]
// installs hooks ([Observer]) that see REST attempts, sends, deliveries,
// runs and connections; the module github.com/symbia-labs/messaging-go/otel
// implements them for OpenTelemetry (spans, metrics, W3C trace ids and
// traceparent headers). This package depends on no tracing library.
package messaging

// Version is the SDK's version, sent in the default User-Agent.
const Version = "0.1.0"
