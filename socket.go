package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/symbia-labs/messaging-go/internal/backoff"
	"github.com/symbia-labs/messaging-go/internal/goid"
	"github.com/symbia-labs/messaging-go/internal/lazy"
	"github.com/symbia-labs/messaging-go/internal/socketio"
)

// State is the connection state of a [Socket].
type State int

// Connection states. A socket starts disconnected; Connect moves it to
// connecting, then connected. A lost connection moves it to reconnecting
// (or back to disconnected when reconnection is off), and it ends in
// disconnected when it gives up. Close moves it to closed for good.
const (
	// StateDisconnected: not connected and not trying to: before Connect,
	// or after the socket gave up (refused credentials, an exhausted
	// reconnection budget, reconnection off, the server disconnected it).
	// Connect starts again.
	StateDisconnected State = iota
	// StateConnecting: Connect is establishing the first connection.
	StateConnecting
	// StateConnected: connected, and every joined or watched conversation
	// has been joined again on this connection.
	StateConnected
	// StateReconnecting: the connection was lost and the socket is trying
	// to restore it.
	StateReconnecting
	// StateClosed: Close was called.
	StateClosed
)

// String returns the state's name, e.g. "connected".
func (s State) String() string {
	switch s {
	case StateDisconnected:
		return "disconnected"
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateReconnecting:
		return "reconnecting"
	case StateClosed:
		return "closed"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// StateChange describes one change of a socket's [State], as passed to
// OnStateChange handlers.
type StateChange struct {
	Previous State
	Current  State
	// Reason says why the socket left StateConnected or stopped trying to
	// connect (one of the Reason constants); empty otherwise.
	Reason string
	// Err is the error behind the change, if any: a lost connection, a
	// *ConnectError, ErrReconnectFailed.
	Err error
	// RetryIn is, on a change to StateReconnecting, the delay before the
	// first attempt, jitter included (the reconnection delay ±50 %).
	RetryIn time.Duration
}

// Reasons a socket disconnects, passed to OnDisconnect handlers and in
// StateChange.Reason. The first six are Socket.IO's own.
const (
	// ReasonClientDisconnect: Close was called.
	ReasonClientDisconnect = "io client disconnect"
	// ReasonServerDisconnect: the server ended the session. No automatic
	// reconnection follows.
	ReasonServerDisconnect = "io server disconnect"
	// ReasonTransportClose: the connection closed (network loss, server
	// restart).
	ReasonTransportClose = "transport close"
	// ReasonTransportError: the connection failed.
	ReasonTransportError = "transport error"
	// ReasonPingTimeout: the server's heartbeat stopped.
	ReasonPingTimeout = "ping timeout"
	// ReasonParseError: the server sent a packet that could not be decoded.
	ReasonParseError = "parse error"
	// ReasonConnectRefused: a reconnection was refused (credentials); the
	// socket stopped trying.
	ReasonConnectRefused = "connect refused"
	// ReasonReconnectFailed: the reconnection budget was exhausted; the
	// socket stopped trying.
	ReasonReconnectFailed = "reconnect failed"
)

// Tunables that are not options.
const (
	// maxIncoming caps one incoming Socket.IO message. The service accepts
	// request bodies of 12 MB, so one message event can be about as large.
	maxIncoming = 16 << 20
)

// Socket is a real-time client of the Messaging Service over Socket.IO,
// the Go counterpart of the JS client's MessagingSocket. Make one with
// [NewSocket] or [Client.NewSocket], register handlers, then Connect.
//
// Every method is safe for concurrent use, also from inside a handler. See
// the package documentation ("Concurrency" and "Delivery") for how
// handlers run and what the socket guarantees across reconnections.
type Socket struct {
	cfg      socketConfig
	endpoint string // for String and logs; holds no credentials
	rest     *Client
	// sharedTransport: the socket holds a use of the transport sockets
	// made by NewSocket share (guarded by mu; released once, by Close).
	sharedTransport bool
	sio             *socketio.Client
	log             *slog.Logger
	queue           *eventQueue // the handler queue (queue.go), run by the dispatcher (dispatcher.go)
	h               socketHandlers
	backfiller      *backfiller  // fetches history for the delivery (backfill.go)
	delivery        *delivery    // per-conversation delivery state (delivery.go)
	streams         streamTyping // the typing indicator its streams share (stream.go)
	runs            liveRuns     // its runs, which follow control events as they arrive (run_state.go)

	base       context.Context // ends at Close
	cancelBase context.CancelFunc
	connector  *lazy.Worker  // makes each new connection ready (socket_connection.go)
	dispGID    atomic.Uint64 // the running dispatcher's goroutine id

	mu            sync.Mutex
	state         State
	stateErr      error
	changed       chan struct{} // closed and replaced on every state change
	token, apiKey string
	conns         uint64             // Socket.IO connections made so far; the newest is number conns
	connCtx       context.Context    // ends when connection number conns ends
	connCancel    context.CancelFunc // ends connCtx
	nsUp          bool               // the namespace is connected (connection number conns)
	readyConn     uint64             // the last connection the connector took up
	connAt        time.Time          // when connection number conns was made
	shortConns    int                // consecutive connections that ended within shortConnection
	rooms         map[string]roomMode
	presence      PresenceStatus // last UpdatePresence, announced again after reconnecting
	retryIn       time.Duration  // delay socketio scheduled before its next first attempt

	obs socketObs // Stats and the Observer's state (observe.go)
}

// NewSocket returns a socket configured by opts. Unset shared options
// default to the environment as for [NewClient]; socket-only options
// default to reconnection on, 5 attempts, 1 s first delay, 5 s maximum
// delay, 20 s ack and connect timeouts, a 10,000-event handler queue and
// history backfill on. An invalid option is an error matching
// ErrInvalidArgument that names it. NewSocket does no I/O and starts no
// goroutine: call Connect.
func NewSocket(opts ...SocketOption) (*Socket, error) {
	common, envErr := defaultCommon()
	cfg, err := newSocketConfig(common, opts)
	if err != nil {
		return nil, err
	}
	if cfg.common.endpoint == nil {
		// MESSAGING_ENDPOINT was unusable and no WithEndpoint replaced it.
		return nil, fmt.Errorf("messaging: %s: %w", EnvEndpoint, envErr)
	}
	shared := cfg.common.ownTransport != nil // no WithHTTPClient
	if shared {
		// Sockets made alone share one SDK transport: one per socket
		// costs several KiB per connection (its pools and HTTP/2 set-up)
		// for a handshake and an occasional history read.
		cfg.common.httpClient, _ = acquireSocketTransport()
		cfg.common.ownTransport = nil // released by Close, not by the history client
	}
	s := newSocket(cfg)
	s.sharedTransport = shared
	return s, nil
}

// NewSocket returns a socket that inherits the client's endpoint, current
// credentials, logger, HTTP client, user agent and error handler; opts
// may override any of them and add socket-only options. Later SetToken
// calls on either one do not affect the other.
func (c *Client) NewSocket(opts ...SocketOption) (*Socket, error) {
	if c == nil || c.base == "" {
		return nil, errNoClient
	}
	cfg, err := newSocketConfig(c.commonConfig(), opts)
	if err != nil {
		return nil, err
	}
	return newSocket(cfg), nil
}

func newSocketConfig(common commonConfig, opts []SocketOption) (socketConfig, error) {
	cfg := defaultSocketConfig(common)
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applySocket(&cfg); err != nil {
			return cfg, err
		}
	}
	return cfg, cfg.check()
}

func newSocket(cfg socketConfig) *Socket {
	base, cancel := context.WithCancel(context.Background())
	s := &Socket{
		cfg:        cfg,
		endpoint:   cfg.common.endpoint.String(),
		log:        cfg.common.logger.With(slog.String("component", "messaging.socket")),
		base:       base,
		cancelBase: cancel,
		changed:    make(chan struct{}),
		token:      cfg.common.token,
		apiKey:     cfg.common.apiKey,
		rooms:      make(map[string]roomMode),
	}
	// The history client reports its failures through OnError, not
	// through the error handler meant for the caller's own calls.
	rc := cfg.common
	rc.errorHandler = nil
	s.rest = newClientFromConfig(clientConfig{common: rc, retry: DefaultRetryPolicy()})
	s.queue = newEventQueue(cfg.queueSize)
	s.initDelivery()
	s.connector = lazy.New(&s.mu, s.takeConnection)
	s.runs.init(s)

	header := http.Header{}
	if ua := cfg.common.userAgent; ua != "" {
		header.Set("User-Agent", ua)
	}
	for k, v := range cfg.header {
		header[k] = append([]string(nil), v...)
	}
	s.sio = socketio.NewClient(s.endpoint, socketio.ClientOptions{
		Path:                 cfg.common.endpoint.Path + "/socket.io/",
		Header:               header,
		HeaderFunc:           s.handshakeHeader(),
		Auth:                 s.auth,
		HTTPClient:           cfg.common.httpClient,
		MaxPayload:           maxIncoming,
		Reconnection:         cfg.reconnection,
		ReconnectionAttempts: cfg.attempts,
		Backoff:              s.backoff(),
		ConnectTimeout:       cfg.connectTimeout,
		Logger:               cfg.common.logger,
		OnEvent:              s.onEvent,
		OnConnect:            s.onConnect,
		OnDisconnect:         s.onDisconnect,
		OnReconnectAttempt:   s.onReconnectAttempt,
		OnReconnectScheduled: s.onReconnectScheduled,
		OnReconnectFailed:    s.onReconnectFailed,
		OnConnectError:       s.onConnectError,
	})
	s.observeSocket()
	return s
}

func (s *Socket) backoff() backoff.Backoff {
	return backoff.Backoff{Min: s.cfg.delay, Max: s.cfg.delayMax, Factor: 2, Jitter: 0.5}
}

// String describes the socket for logs: endpoint and state, never
// credentials.
func (s *Socket) String() string {
	return fmt.Sprintf("messaging.Socket(%s, %s)", s.endpoint, s.State())
}

// State returns the current connection state.
func (s *Socket) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Connected reports whether the socket is connected and has rejoined its
// conversations (StateConnected).
func (s *Socket) Connected() bool { return s.State() == StateConnected }

// SetToken replaces the bearer token sent at the next (re)connection and
// used to fetch history. The current connection is not affected. With
// WithTokenSource, the source's token replaces it at every connection.
func (s *Socket) SetToken(token string) {
	s.mu.Lock()
	s.token = token
	s.mu.Unlock()
	s.rest.SetToken(token)
}

// SetAPIKey replaces the API key sent at the next (re)connection and used
// to fetch history.
func (s *Socket) SetAPIKey(key string) {
	s.mu.Lock()
	s.apiKey = key
	s.mu.Unlock()
	s.rest.SetAPIKey(key)
}

// tokenSourceError marks a failure of the WithTokenSource function.
type tokenSourceError struct{ err error }

func (e *tokenSourceError) Error() string { return "messaging: token source: " + e.err.Error() }
func (e *tokenSourceError) Unwrap() error { return e.err }

// auth makes the CONNECT auth object, the only place credentials travel
// on the socket. It runs before every connection attempt.
func (s *Socket) auth(ctx context.Context) (any, error) {
	if src := s.cfg.tokenSource; src != nil {
		tok, err := src(ctx)
		if err != nil {
			return nil, &tokenSourceError{err}
		}
		s.SetToken(tok)
	}
	s.mu.Lock()
	token, key := s.token, s.apiKey
	s.mu.Unlock()
	a := make(map[string]string, 2)
	if token != "" {
		a["token"] = token
	}
	if key != "" {
		a["apiKey"] = key
	}
	if len(a) == 0 {
		return nil, nil // the server refuses: "Authentication required"
	}
	return a, nil
}

// setStateLocked changes the state, wakes the waiters and queues the
// change for the handlers. Caller holds s.mu.
func (s *Socket) setStateLocked(next State, err error, reason string, retryIn time.Duration) {
	prev := s.state
	s.stateErr = err
	if prev == next {
		return
	}
	s.state = next
	close(s.changed)
	s.changed = make(chan struct{})
	s.queue.pushControl(item{kind: itemState, change: StateChange{
		Previous: prev, Current: next, Reason: reason, Err: err, RetryIn: retryIn,
	}})
	s.log.LogAttrs(context.Background(), slog.LevelDebug, "messaging: socket state",
		slog.String("from", prev.String()), slog.String("to", next.String()), slog.String("reason", reason))
}

// queueError queues err for the OnError handlers, which run on the
// dispatcher.
func (s *Socket) queueError(err error) {
	s.queue.pushControl(item{kind: itemError, err: err})
}

// start lets the dispatcher run: from now on, whatever is queued for the
// handlers starts it (before, events queue up but no handler runs). The
// socket's goroutines all start on demand and end when they run out of
// work: the dispatcher once its queue has stayed empty for dispatchLinger,
// the connector once a new connection has rejoined its rooms, the
// backfiller when no fetch is left.
func (s *Socket) start() {
	s.queue.start(s.dispatch)
}

// Connect connects to the service and returns once the socket is
// connected (and, when connecting again after Close-free stop, has
// rejoined its conversations). It returns a *ConnectError carrying the
// server's text if the server refused the connection ("Authentication
// required" matches ErrUnauthorized), an error wrapping ctx's error if
// ctx ended first, or ErrClosed after Close. With reconnection on, a
// failing first connection is retried within ctx. Calling Connect while
// connected returns nil; while reconnecting, it waits for the outcome.
func (s *Socket) Connect(ctx context.Context) error {
	if ctx == nil {
		return s.reported(invalid("ctx", "is nil"))
	}
	s.mu.Lock()
	if s.state == StateClosed {
		s.mu.Unlock()
		return s.reported(ErrClosed)
	}
	s.start()
	s.observeConnect(ctx)
	started := s.state == StateDisconnected
	if started {
		s.setStateLocked(StateConnecting, nil, "", 0)
	}
	s.mu.Unlock()

	if err := s.sio.Connect(ctx); err != nil {
		err = s.connectError(ctx, err)
		s.mu.Lock()
		if started && s.state == StateConnecting && !s.nsUp {
			s.setStateLocked(StateDisconnected, err, "", 0)
		}
		s.mu.Unlock()
		return s.reported(err)
	}
	if _, err := s.waitReady(ctx); err != nil {
		return s.reported(fmt.Errorf("messaging: connect: %w", err))
	}
	return nil
}

// connectError translates an error of socketio.Connect.
func (s *Socket) connectError(ctx context.Context, err error) error {
	var ce *socketio.ConnectError
	switch {
	case errors.As(err, &ce):
		return &ConnectError{Message: ce.Message}
	case errors.Is(err, socketio.ErrClosed):
		return ErrClosed
	case ctx.Err() != nil:
		return fmt.Errorf("messaging: connect: %w", ctx.Err())
	case errors.Is(err, socketio.ErrReconnectFailed):
		return reconnectFailed(err)
	}
	return fmt.Errorf("messaging: connect: %w", err)
}

// reconnectFailed is ErrReconnectFailed with the number of attempts and the
// last attempt's cause, which errors.Is and errors.As find.
func reconnectFailed(err error) error {
	var rf *socketio.ReconnectFailedError
	if errors.As(err, &rf) {
		return fmt.Errorf("%w after %d attempts: %w", ErrReconnectFailed, rf.Attempts, rf.Err)
	}
	return fmt.Errorf("%w: %w", ErrReconnectFailed, err)
}

// Close disconnects, fails every call in progress (a send that may have
// reached the server with an error matching both ErrDeliveryUnknown and
// ErrClosed, any other with ErrClosed), runs the handlers of the last state
// change, and returns once every goroutine the socket started has exited.
//
// What it waits for, exactly: the connection's goroutine (closing a
// black-holed connection is bounded to about a second), the history
// fetcher (its request is cancelled), the connector and the run notifier,
// and the dispatcher, which finishes the handler running when Close is
// called and then runs the handlers of the final state change. A handler
// that never returns therefore keeps Close waiting; the events queued
// behind it are dropped, and an overflow of the queue is logged by the
// connection's reader, not by the blocked dispatcher. Called from a
// handler, Close returns without waiting for that handler's own
// goroutine, which exits as soon as the handler returns. Close is
// idempotent and always returns nil.
func (s *Socket) Close() error {
	s.mu.Lock()
	releaseTransport := s.sharedTransport
	s.sharedTransport = false
	if s.state != StateClosed {
		reason := ""
		if s.state == StateConnected {
			reason = ReasonClientDisconnect
		}
		s.setStateLocked(StateClosed, ErrClosed, reason, 0)
		if s.connCancel != nil {
			s.connCancel()
		}
	}
	s.mu.Unlock()
	s.cancelBase()
	_ = s.sio.Close()
	_ = s.rest.Close() // closes nothing that is not the socket's own
	if releaseTransport {
		releaseSocketTransport()
	}
	s.queue.close()
	s.connector.Close()
	s.runs.close()
	s.backfiller.close()
	if !s.inDispatcher() {
		s.queue.waitStopped()
	}
	s.observeClose()
	return nil
}

// waitReady waits until the socket is connected and rejoined, and returns
// the context of that connection.
func (s *Socket) waitReady(ctx context.Context) (context.Context, error) {
	for {
		s.mu.Lock()
		st, serr, gctx, ch := s.state, s.stateErr, s.connCtx, s.changed
		s.mu.Unlock()
		switch st {
		case StateConnected:
			return gctx, nil
		case StateClosed:
			return nil, ErrClosed
		case StateDisconnected:
			if serr != nil && !errors.Is(serr, ErrNotConnected) {
				return nil, fmt.Errorf("%w: %w", ErrNotConnected, serr)
			}
			return nil, ErrNotConnected
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// ---- goroutine identity, to let Close be called from a handler ----

// inDispatcher reports whether the caller runs on the socket's dispatcher,
// i.e. inside a handler.
func (s *Socket) inDispatcher() bool {
	g := s.dispGID.Load()
	return g != 0 && g == goid.Get()
}
