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
// millisecond timestamps can leave, newest first or oldest first
// ([WithOldestFirst]), resuming from a [Cursor] ([WithCursor]). Per-call
// options mirror the JS client's
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
// [Stream] writes a reply piece by piece. A Run follows a control event as
// soon as the socket receives it, ahead of the handler queue, so a run
// started inside a handler is not deaf while that handler streams.
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
// A REST send whose request may have reached the service but whose answer
// was lost is a [*DeliveryUnknownError] (matching [ErrDeliveryUnknown]);
// for SendMessage it carries the message id to resend with, so that the
// message is stored at most once. Text that is not valid UTF-8, metadata
// that JSON cannot encode and content larger than the path carries
// ([MaxRESTBodySize], [MaxSocketPacketSize]) are refused with a
// [*ValidationError]. Formatting or logging a Client or a Socket never
// shows its credentials.
//
// # Retries and idempotent sends
//
// Every message carries an id made by the SDK before the first attempt
// (or [SendMessageParams].ID): the service stores an id once, so the REST
// client retries a send safely (see [RetryPolicy]) and the socket resends a
// message whose acknowledgement was lost. Calls that a repeat would
// duplicate, CreateConversation and SendControl, are never retried.
//
// Each REST attempt is bounded by a request timeout ([WithRequestTimeout],
// [DefaultRequestTimeout] 30 s) whatever the context's deadline, so that a
// connection that stops answering without closing fails the attempt rather
// than hanging the call; this covers the requests the SDK makes for itself.
// The Client uses a transport of its own unless [WithHTTPClient] gives one;
// [Client.Close] releases its connections. Sockets made by [NewSocket]
// share one, released when the last of them closes.
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
//   - What Close waits for: the connection's goroutines (bounded by the
//     close of the connection), the history fetcher (its request is
//     cancelled), and the dispatcher, which finishes the handler running
//     when Close is called and then runs the handlers of the final state
//     change. A handler that never returns therefore keeps Close waiting:
//     Close cannot stop a handler. Called from a handler, Close does not
//     wait for that handler's own goroutine. A blocked handler does not
//     hide the overflow it causes either: the first dropped event of an
//     episode is logged at warning level at once by the goroutine that
//     reads the connection, and ErrSlowConsumer reaches OnError ahead of
//     the queued events, as soon as the running handler returns.
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
// disconnected are not replayed. Reading the history updates the caller's
// last_read_at, as any read does.
//
// A backfill never stalls a conversation. Each history request the socket
// makes on its own behalf is bounded by [WithBackfillTimeout] (10 s by
// default, whatever HTTP client is used), so the conversation's newer live
// messages wait for a backfill at most that long per page. A request that
// fails or times out is reported through OnError as a [*BackfillError]
// naming the conversation; the messages held meanwhile are then delivered,
// and the missed ones are fetched again after a backoff delay (0.5 s
// doubling to 30 s), at the next reconnection, or at the next need for a
// backfill, whichever comes first, without holding live messages again.
// They are delivered when a fetch succeeds: still each once, but after
// newer ones. So the ordering guarantee is: within a conversation, missed
// messages come before newer live ones whenever the history answers in
// time; when it does not, liveness wins, and the late ones are recognisable
// by their CreatedAt and Sequence.
//
// Sends survive disconnections: SendMessage, EditMessage and SendControl
// called while the socket is reconnecting wait for it (bounded by their
// context) and go out after the socket has rejoined its conversations. A
// message whose acknowledgement was lost is sent again with the same id,
// which the service stores once. Each call ends with success, or with an
// error; an error that may hide a stored message matches
// [ErrDeliveryUnknown].
//
// # Agent activity
//
// An agent's [Run] reports what it is doing in activity records: one
// message per tool call ([Run.StartToolCall]), task ([Run.StartTask]) or
// run status ([Run.SetStatus]), whose content type is
// [ActivityContentType] and whose content is the activity's JSON state,
// edited as it progresses; a run that ends leaves none running.
// [Socket.OnActivity] types them as events, and an [ActivityTracker] keeps
// each conversation's running activities in order, across reconnections
// and for late joiners. Records stay ordinary messages in the history
// ([IsActivity], [DecodeActivity]). The convention is in docs/PROTOCOL.md
// ("Activity records").
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
