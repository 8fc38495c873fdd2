package messaging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/symbia-labs/messaging-go/internal/backoff"
	"github.com/symbia-labs/messaging-go/internal/engineio"
	"github.com/symbia-labs/messaging-go/internal/goid"
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
	// rejoinParallel bounds the joins in flight while rejoining rooms.
	rejoinParallel = 16
)

// roomMode is what the socket asked for a conversation's room.
type roomMode int

const (
	roomJoined  roomMode = iota + 1 // JoinConversation
	roomWatched                     // WatchConversation
	roomLeft                        // LeaveConversation, UnwatchConversation
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
	sio      *socketio.Client
	log      *slog.Logger
	q        *eventQueue
	h        socketHandlers
	bf       *backfiller
	d        *delivery
	streams  streamTyping // the typing indicator its streams share (stream.go)

	base       context.Context // ends at Close
	cancelBase context.CancelFunc
	workers    workers       // the connector and the backfiller, while they have work
	dispGID    atomic.Uint64 // the running dispatcher's goroutine id

	mu            sync.Mutex
	state         State
	stateErr      error
	changed       chan struct{} // closed and replaced on every state change
	token, apiKey string
	gen           uint64             // Socket.IO connections so far
	genCtx        context.Context    // ends when connection gen ends
	genCancel     context.CancelFunc // ends genCtx
	sioUp         bool               // the namespace is connected (connection gen)
	connRunning   bool               // a connector goroutine runs
	connGen       uint64             // the last connection the connector took up
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
	return newSocket(cfg), nil
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
	s.q = newEventQueue(cfg.queueSize)
	s.bf = newBackfiller(s)
	s.d = newDelivery(s)

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
	s.q.pushControl(item{kind: itemState, change: StateChange{
		Previous: prev, Current: next, Reason: reason, Err: err, RetryIn: retryIn,
	}})
	s.log.LogAttrs(context.Background(), slog.LevelDebug, "messaging: socket state",
		slog.String("from", prev.String()), slog.String("to", next.String()), slog.String("reason", reason))
}

// start lets the dispatcher run: from now on, whatever is queued for the
// handlers starts it (before, events queue up but no handler runs). The
// socket's goroutines all start on demand and end when they run out of
// work: the dispatcher once its queue has stayed empty for dispatchLinger,
// the connector once a new connection has rejoined its rooms, the
// backfiller when no fetch is left.
func (s *Socket) start() {
	s.q.start(s.dispatch)
}

// workers starts the connector and the backfiller, and lets Close wait for
// them.
//
// A WaitGroup's Add from zero must not race with its Wait. Every Add here
// is made under mu while closed is false, and stop sets closed under mu
// before it waits: an Add is either made before stop took mu (so before
// Wait) or not at all. Done, called by goroutines ending on their own, may
// run concurrently with Wait. mu is always taken last, under the lock that
// guards the caller's own "running" flag (s.mu for the connector, the
// backfiller's mu for the backfiller), and nothing is locked under it.
type workers struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// start runs fn on a new goroutine and reports true, or reports false
// once stop was called.
func (w *workers) start(fn func()) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		fn()
	}()
	return true
}

// stop refuses new goroutines and waits for those started to return.
func (w *workers) stop() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.wg.Wait()
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
		return s.fail(invalid("ctx", "is nil"))
	}
	s.mu.Lock()
	if s.state == StateClosed {
		s.mu.Unlock()
		return s.fail(ErrClosed)
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
		if started && s.state == StateConnecting && !s.sioUp {
			s.setStateLocked(StateDisconnected, err, "", 0)
		}
		s.mu.Unlock()
		return s.fail(err)
	}
	if _, err := s.waitReady(ctx); err != nil {
		return s.fail(fmt.Errorf("messaging: connect: %w", err))
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
		return fmt.Errorf("messaging: connect: %w (%v)", ErrReconnectFailed, errors.Unwrap(err))
	}
	return fmt.Errorf("messaging: connect: %w", err)
}

// Close disconnects, fails every call in progress (a send that may have
// reached the server with an error matching both ErrDeliveryUnknown and
// ErrClosed, any other with ErrClosed), runs the handlers of the last state
// change, and returns once every goroutine the socket started has exited.
// Called from a handler, it returns without waiting for that handler's own
// goroutine, which exits as soon as the handler returns. Close is
// idempotent and always returns nil.
func (s *Socket) Close() error {
	s.mu.Lock()
	if s.state != StateClosed {
		reason := ""
		if s.state == StateConnected {
			reason = ReasonClientDisconnect
		}
		s.setStateLocked(StateClosed, ErrClosed, reason, 0)
		if s.genCancel != nil {
			s.genCancel()
		}
	}
	s.mu.Unlock()
	s.cancelBase()
	_ = s.sio.Close()
	s.q.close()
	s.workers.stop()
	if !s.inDispatcher() {
		s.q.waitStopped()
	}
	s.observeClose()
	return nil
}

// waitReady waits until the socket is connected and rejoined, and returns
// the context of that connection.
func (s *Socket) waitReady(ctx context.Context) (context.Context, error) {
	for {
		s.mu.Lock()
		st, serr, gctx, ch := s.state, s.stateErr, s.genCtx, s.changed
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

// ---- socketio hooks: they run on socketio's read goroutine and must not
// block; they only record state and queue work. ----

func (s *Socket) onConnect() {
	s.mu.Lock()
	s.gen++
	s.genCtx, s.genCancel = context.WithCancel(s.base)
	s.sioUp = true
	// Under the lock the connector decides to return with: either it is
	// still running and takes up this connection (it checks s.gen before
	// returning), or it has returned and a new one starts here.
	if !s.connRunning {
		s.connRunning = s.workers.start(s.connector)
	}
	s.mu.Unlock()
}

func (s *Socket) onDisconnect(reason string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sioUp = false
	if s.genCancel != nil {
		s.genCancel()
	}
	if s.state == StateClosed {
		return
	}
	cause := fmt.Errorf("messaging: connection lost: %s", reason)
	if err != nil {
		cause = fmt.Errorf("messaging: connection lost: %s: %w", reason, err)
	}
	if s.cfg.reconnection && reason != ReasonServerDisconnect && reason != ReasonClientDisconnect {
		retryIn := s.retryIn
		if retryIn == 0 {
			retryIn = s.cfg.delay // not scheduled (cannot happen with socketio's order)
		}
		s.retryIn = 0
		s.setStateLocked(StateReconnecting, cause, reason, retryIn)
	} else {
		s.setStateLocked(StateDisconnected, cause, reason, 0)
	}
	s.q.pushControl(item{kind: itemLost})
}

// onReconnectScheduled records the delay of the first attempt after a lost
// connection; socketio reports it just before onDisconnect.
func (s *Socket) onReconnectScheduled(n int, delay time.Duration) {
	if n == 1 {
		s.mu.Lock()
		s.retryIn = delay
		s.mu.Unlock()
	}
}

func (s *Socket) onReconnectAttempt(n int) {
	s.q.pushControl(item{kind: itemReconnecting, n: n})
}

func (s *Socket) onReconnectFailed(err error) {
	err = fmt.Errorf("%w (%v)", ErrReconnectFailed, errors.Unwrap(err))
	s.mu.Lock()
	if s.state != StateClosed {
		s.setStateLocked(StateDisconnected, err, ReasonReconnectFailed, 0)
	}
	s.mu.Unlock()
	s.q.pushControl(item{kind: itemError, err: err})
}

func (s *Socket) onConnectError(err error) {
	var ce *socketio.ConnectError
	var te *tokenSourceError
	switch {
	case errors.As(err, &ce):
		cerr := &ConnectError{Message: ce.Message}
		s.mu.Lock()
		if s.state != StateClosed {
			s.setStateLocked(StateDisconnected, cerr, ReasonConnectRefused, 0)
		}
		s.mu.Unlock()
		s.q.pushControl(item{kind: itemError, err: cerr})
	case errors.As(err, &te):
		s.q.pushControl(item{kind: itemError, err: te})
	default:
		s.log.LogAttrs(context.Background(), slog.LevelInfo, "messaging: connection attempt failed",
			slog.String("error", err.Error()))
	}
}

// ---- the connector: rejoins rooms after every (re)connection, then lets
// waiting calls through. ----

// connector runs while a connection waits to be made ready: onConnect
// starts it, and it returns once it has taken up the newest connection
// (s.gen), deciding so under s.mu, the lock onConnect counts connections
// and looks at connRunning under.
func (s *Socket) connector() {
	for {
		s.mu.Lock()
		if s.connGen == s.gen || s.state == StateClosed {
			s.connRunning = false
			s.mu.Unlock()
			return
		}
		s.connGen = s.gen
		gen, gctx, up := s.gen, s.genCtx, s.sioUp
		rooms := make(map[string]roomMode, len(s.rooms))
		for id, m := range s.rooms {
			rooms[id] = m
		}
		presence := s.presence
		s.mu.Unlock()
		if !up || s.rejoin(gctx, rooms, presence) != nil {
			continue // lost again; a newer connection is taken up, if any
		}
		s.mu.Lock()
		ready := s.gen == gen && s.sioUp && s.state != StateClosed
		var leave []string
		var status PresenceStatus
		if ready {
			s.setStateLocked(StateConnected, nil, "", 0)
			s.q.pushControl(item{kind: itemReady})
			// Rooms left and presence set while the rejoin ran would
			// otherwise wait for the next reconnection.
			for id, m := range s.rooms {
				if m == roomLeft && rooms[id] != roomLeft {
					leave = append(leave, id)
				}
			}
			if s.presence != presence {
				status = s.presence
			}
		}
		s.mu.Unlock()
		for _, id := range leave {
			_ = s.sio.Emit(gctx, EventLeaveConversation, id)
		}
		if status != "" {
			_ = s.sio.Emit(gctx, EventPresenceUpdate, status)
		}
	}
}

// rejoin restores the rooms of a new connection: joins and watches again
// (in parallel), leaves again the rooms the server joined on its own but
// the caller had left, and announces the last presence status. It fails
// only when the connection ends meanwhile.
func (s *Socket) rejoin(ctx context.Context, rooms map[string]roomMode, presence PresenceStatus) error {
	sem := make(chan struct{}, rejoinParallel)
	var wg sync.WaitGroup
	for id, mode := range rooms {
		if mode == roomLeft {
			continue
		}
		event := EventJoinConversation
		if mode == roomWatched {
			event = EventWatchConversation
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			actx, cancel := context.WithTimeout(ctx, s.cfg.ackTimeout)
			defer cancel()
			args, err := s.sio.EmitWithAck(actx, event, id)
			if err == nil {
				_, err = decodeAck(event, args)
			}
			var ae *AckError
			switch {
			case err == nil:
			case errors.As(err, &ae):
				// Refused now (removed from the conversation, capability
				// withdrawn): forget the room.
				s.mu.Lock()
				if s.rooms[id] == mode {
					delete(s.rooms, id)
				}
				s.mu.Unlock()
				s.q.pushControl(item{kind: itemError, err: fmt.Errorf("messaging: rejoining conversation %s: %w", id, err)})
			case ctx.Err() == nil:
				s.q.pushControl(item{kind: itemError, err: fmt.Errorf("messaging: rejoining conversation %s: %w", id, err)})
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for id, mode := range rooms {
		if mode == roomLeft {
			_ = s.sio.Emit(ctx, EventLeaveConversation, id)
		}
	}
	if presence != "" {
		_ = s.sio.Emit(ctx, EventPresenceUpdate, presence)
	}
	return ctx.Err()
}

// ---- calls with acks ----

// resend says whether a call may be sent again after its acknowledgement
// was lost.
type resend bool

const (
	resendSafe resend = true  // idempotent on the server: same result
	resendNone resend = false // each processing has an effect
)

// request sends event with arg and returns its acknowledgement, waiting
// for the socket to be ready first. See SendMessage for the retry rules.
func (s *Socket) request(ctx context.Context, event string, mode resend, arg any) (ackBody, error) {
	if ctx == nil {
		return ackBody{}, invalid("ctx", "is nil")
	}
	// Encoded once: every attempt sends the same bytes.
	raw, err := json.Marshal(arg)
	if err != nil {
		return ackBody{}, invalid("params", "cannot be encoded as JSON: %v", err)
	}
	payload := socketio.RawJSON(raw) // json.Marshal output: valid and compact, appended as is
	maybeSent := false
	s.obs.sends.Add(1)
	for {
		gctx, err := s.waitReady(ctx)
		if err != nil {
			if maybeSent {
				return ackBody{}, deliveryUnknown(event, err)
			}
			return ackBody{}, fmt.Errorf("messaging: %s: %w", event, err)
		}
		args, err := s.sio.EmitWithAckTimeout(ctx, s.cfg.ackTimeout, event, payload)
		ackTimedOut := errors.Is(err, socketio.ErrAckTimeout) && ctx.Err() == nil
		s.countAck(err, ackTimedOut)
		if err == nil {
			body, err := decodeAck(event, args)
			var ae *AckError
			if err != nil && !errors.As(err, &ae) {
				// The server answered, but we cannot read what it did.
				return ackBody{}, fmt.Errorf("%w: %w", ErrDeliveryUnknown, err)
			}
			return body, err
		}
		if errors.Is(err, engineio.ErrPayloadTooLarge) {
			return ackBody{}, fmt.Errorf("messaging: %s: %w: %w", event, ErrInvalidArgument, err)
		}
		// socketio says when the packet provably never left (no byte of it
		// reached the network); any other error (a lost connection, a
		// partly written packet, a timeout after the write) may hide a
		// processed one.
		notSent := errors.Is(err, socketio.ErrNotSent)
		maybeSent = maybeSent || !notSent
		switch {
		case ctx.Err() != nil:
			if maybeSent {
				return ackBody{}, deliveryUnknown(event, ctx.Err())
			}
			return ackBody{}, fmt.Errorf("messaging: %s: %w", event, ctx.Err())
		case errors.Is(err, socketio.ErrClosed) || s.State() == StateClosed:
			if maybeSent {
				return ackBody{}, deliveryUnknown(event, ErrClosed)
			}
			return ackBody{}, fmt.Errorf("messaging: %s: %w", event, ErrClosed)
		case notSent:
			continue // safe for any call; waitReady says why, or waits for the connection
		case mode == resendNone:
			if ackTimedOut {
				err = fmt.Errorf("no acknowledgement within %v", s.cfg.ackTimeout)
			}
			return ackBody{}, deliveryUnknown(event, err)
		}
		s.log.LogAttrs(ctx, slog.LevelDebug, "messaging: sending again",
			slog.String("event", event), slog.Bool("ack_timeout", ackTimedOut), slog.String("error", err.Error()))
		if !ackTimedOut && !errors.Is(err, socketio.ErrDisconnected) {
			// A failed write: the connection is about to be declared lost.
			// Give it a moment rather than spinning on it.
			t := time.NewTimer(retryPause)
			select {
			case <-gctx.Done():
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// retryPause is how long a call waits after a failed write before trying
// again on what may still look like a live connection.
const retryPause = 50 * time.Millisecond

func deliveryUnknown(event string, cause error) error {
	return fmt.Errorf("messaging: %s: %w: %w", event, ErrDeliveryUnknown, cause)
}

// fail reports err (if any) to the error handler and returns it.
func (s *Socket) fail(err error) error {
	if err != nil && s.cfg.common.errorHandler != nil {
		s.cfg.common.errorHandler(err)
	}
	return err
}

// JoinConversation joins a conversation's room, so that its events reach
// this socket, and keeps it joined across reconnections. The service
// already joins, at connect time, the rooms of every conversation the
// caller participated in then; joining is needed for conversations the
// caller joined later, and it also marks where the socket's history
// backfill starts for the conversation (see "Delivery" in the package
// documentation): with backfill on, it first reads the conversation's
// newest message over REST. A refusal is an *AckError ("Not a participant"
// matches ErrNotParticipant).
func (s *Socket) JoinConversation(ctx context.Context, conversationID string) error {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return s.fail(err)
	}
	return s.fail(s.joinRoom(ctx, conversationID, roomJoined, EventJoinConversation))
}

// WatchConversation observes a conversation without participating in it,
// like JoinConversation otherwise. Only agents with the messaging.observe
// capability may; others get an *AckError matching ErrForbidden
// ("Observe capability required").
func (s *Socket) WatchConversation(ctx context.Context, conversationID string) error {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return s.fail(err)
	}
	return s.fail(s.joinRoom(ctx, conversationID, roomWatched, EventWatchConversation))
}

func (s *Socket) joinRoom(ctx context.Context, id string, mode roomMode, event string) error {
	if ctx == nil {
		return invalid("ctx", "is nil")
	}
	if _, err := s.waitReady(ctx); err != nil {
		return fmt.Errorf("messaging: %s: %w", event, err)
	}
	anchor := s.d.anchorFor(ctx, id)
	// Recorded before the call, so that a reconnection during it joins
	// the room again.
	s.mu.Lock()
	prev, had := s.rooms[id]
	s.rooms[id] = mode
	s.mu.Unlock()
	_, err := s.request(ctx, event, resendSafe, id)
	if err != nil {
		s.mu.Lock()
		if s.rooms[id] == mode {
			if had {
				s.rooms[id] = prev
			} else {
				delete(s.rooms, id)
			}
		}
		s.mu.Unlock()
		return err
	}
	if anchor != nil {
		s.q.pushControl(*anchor)
	}
	return nil
}

// SendMessage sends a message and returns it as stored. The parameters
// are checked by the REST rules (the service's socket path checks less).
// Without params.ID the socket makes a random UUID, once: the service
// stores an id once, so the send is safe to repeat, and it is repeated
// with the same id when its acknowledgement is lost (the connection
// dropped, or no answer within the ack timeout). While the socket is
// reconnecting, the call waits for the connection, bounded by ctx.
//
// The call ends in exactly one of: the stored message; an *AckError (the
// server refused; nothing stored); or an error when ctx ends or the socket
// is closed or gives up. In that last case, if the message may have
// reached the server, the error matches ErrDeliveryUnknown (besides the
// context's error, ErrClosed or ErrNotConnected): it may or may not be
// stored, and sending it again with the same params.ID is safe. An error
// that does not match ErrDeliveryUnknown means nothing was stored.
func (s *Socket) SendMessage(ctx context.Context, params SendMessageParams) (*Message, error) {
	if err := params.validate(); err != nil {
		return nil, s.fail(err)
	}
	if params.ID == "" {
		id, err := uuid.NewRandom()
		if err != nil {
			return nil, s.fail(fmt.Errorf("messaging: making a message id: %w", err))
		}
		params.ID = id.String()
	}
	ctx, sent := s.observeSend(ctx, SendInfo{Transport: TransportSocket, Event: EventMessageSend, ConversationID: params.ConversationID, MessageID: params.ID})
	params.TraceID = s.traceIDOr(ctx, params.TraceID)
	body, err := s.request(ctx, EventMessageSend, resendSafe, params)
	sent.done(err)
	if err != nil {
		return nil, s.fail(err)
	}
	m, err := body.message(EventMessageSend)
	return m, s.fail(err)
}

// EditMessage replaces the content of a message the caller sent and
// returns it as stored. An edit is repeated like a send when its
// acknowledgement is lost (editing twice to the same content is harmless,
// but receivers then see OnMessageUpdate twice). Errors as for
// SendMessage; refusals: "Message not found" (ErrNotFound), "Not authorized
// to edit this message" (ErrForbidden).
func (s *Socket) EditMessage(ctx context.Context, messageID, content string) (*Message, error) {
	if err := requireUUID("messageID", messageID); err != nil {
		return nil, s.fail(err)
	}
	if content == "" {
		return nil, s.fail(invalid("content", "must not be empty"))
	}
	arg := struct {
		MessageID string `json:"messageId"`
		Content   string `json:"content"`
	}{messageID, content}
	body, err := s.request(ctx, EventMessageEdit, resendSafe, arg)
	if err != nil {
		return nil, s.fail(err)
	}
	m, err := body.message(EventMessageEdit)
	return m, s.fail(err)
}

// DeleteMessage deletes a message the caller sent. It is repeated like a
// send when its acknowledgement is lost; if the repeat is answered
// "Message not found", the earlier attempt is taken to have deleted it and
// DeleteMessage returns nil: only the sender may delete a message, so the
// message is gone by the caller's own hand either way (or never existed).
// Other refusals: "Message not found" on a first attempt (ErrNotFound),
// "Not authorized to delete this message" (ErrForbidden).
func (s *Socket) DeleteMessage(ctx context.Context, messageID string) error {
	if err := requireUUID("messageID", messageID); err != nil {
		return s.fail(err)
	}
	if ctx == nil {
		return s.fail(invalid("ctx", "is nil"))
	}
	maybe := false // an earlier attempt may have deleted it
	for {
		_, err := s.request(ctx, EventMessageDelete, resendNone, messageID)
		var ae *AckError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ae):
			if maybe && errors.Is(err, ErrNotFound) {
				return nil
			}
			return s.fail(err)
		case errors.Is(err, ErrDeliveryUnknown) && !errors.Is(err, ErrMalformed) &&
			ctx.Err() == nil && s.State() != StateClosed:
			maybe = true
			continue
		}
		if maybe && !errors.Is(err, ErrDeliveryUnknown) {
			err = deliveryUnknown(EventMessageDelete, err)
		}
		return s.fail(err)
	}
}

// SendControl sends a stream control event to a conversation and returns
// the message row the service stores for it. Short names ("pause") are
// sent in full ("stream.pause"). Sending needs the messaging.interrupt
// capability (messaging.route for route and handoff).
//
// Unlike a message, a control event is stored again each time it is
// processed, so SendControl never repeats a send that may have reached the
// server: when the acknowledgement is lost (the connection dropped, or no
// answer within the ack timeout) it returns an error matching
// ErrDeliveryUnknown. A send that provably never left (the connection
// ended before any byte of it was written) is sent again once the socket
// has reconnected. While the socket is reconnecting, it waits for the
// connection, bounded by ctx, before sending. An error that does not match
// ErrDeliveryUnknown means nothing was stored.
func (s *Socket) SendControl(ctx context.Context, conversationID string, params ControlParams) (*Message, error) {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return nil, s.fail(err)
	}
	name, err := params.validate()
	if err != nil {
		return nil, s.fail(err)
	}
	params.Event = string(name)
	ctx, sent := s.observeSend(ctx, SendInfo{Transport: TransportSocket, Event: EventControlSend, ConversationID: conversationID, Control: params.Event})
	params.TraceID = s.traceIDOr(ctx, params.TraceID)
	arg := struct {
		ConversationID string `json:"conversationId"`
		ControlParams
	}{conversationID, params}
	body, err := s.request(ctx, EventControlSend, resendNone, arg)
	sent.done(err)
	if err != nil {
		return nil, s.fail(err)
	}
	m, err := body.control(EventControlSend)
	return m, s.fail(err)
}

// ---- fire-and-forget calls ----

// emit sends an event without an ack on the current connection. It does
// not wait for a reconnection: it returns ErrNotConnected if the socket is
// not connected or the connection ends before the packet went out.
func (s *Socket) emit(ctx context.Context, event string, arg any) error {
	if ctx == nil {
		return invalid("ctx", "is nil")
	}
	s.mu.Lock()
	st, gctx := s.state, s.genCtx
	s.mu.Unlock()
	switch st {
	case StateClosed:
		return fmt.Errorf("messaging: %s: %w", event, ErrClosed)
	case StateConnected:
	default:
		return fmt.Errorf("messaging: %s: %w (socket %s)", event, ErrNotConnected, st)
	}
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(gctx, cancel)
	defer stop()
	err := s.sio.Emit(ectx, event, arg)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("messaging: %s: %w", event, ctx.Err())
	case errors.Is(err, socketio.ErrClosed) || s.State() == StateClosed:
		return fmt.Errorf("messaging: %s: %w", event, ErrClosed)
	case gctx.Err() != nil || errors.Is(err, socketio.ErrStopped):
		return fmt.Errorf("messaging: %s: %w (connection lost)", event, ErrNotConnected)
	}
	return fmt.Errorf("messaging: %s: %w", event, err)
}

// leaveRoom records that the caller left a room, so that it is left again
// after a reconnection (the service joins every conversation of the
// caller at connect time), and tells the server now if connected.
func (s *Socket) leaveRoom(ctx context.Context, id, event string) error {
	if ctx == nil {
		return invalid("ctx", "is nil")
	}
	s.mu.Lock()
	st := s.state
	if st != StateClosed {
		s.rooms[id] = roomLeft
	}
	s.mu.Unlock()
	if st == StateClosed {
		return fmt.Errorf("messaging: %s: %w", event, ErrClosed)
	}
	s.q.pushControl(item{kind: itemForget, conv: id})
	if st != StateConnected {
		return nil // not in any room now; left again after reconnecting
	}
	err := s.emit(ctx, event, id)
	if errors.Is(err, ErrNotConnected) {
		return nil
	}
	return err
}

// LeaveConversation leaves a conversation's room: its events stop reaching
// this socket, also after reconnections, until JoinConversation. The
// caller stays a participant (see Client.LeaveConversation to stop being
// one). It does not wait for a connection: while disconnected it only
// records the choice. It fails after Close.
func (s *Socket) LeaveConversation(ctx context.Context, conversationID string) error {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return s.fail(err)
	}
	return s.fail(s.leaveRoom(ctx, conversationID, EventLeaveConversation))
}

// UnwatchConversation stops observing a conversation, as LeaveConversation
// leaves one.
func (s *Socket) UnwatchConversation(ctx context.Context, conversationID string) error {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return s.fail(err)
	}
	return s.fail(s.leaveRoom(ctx, conversationID, EventUnwatchConversation))
}

// StartTyping tells the conversation's other members that the caller is
// typing (the caller does not receive its own typing events). Typing is
// momentary, so it is not sent later: while the socket is not connected it
// returns ErrNotConnected.
func (s *Socket) StartTyping(ctx context.Context, conversationID string) error {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return s.fail(err)
	}
	return s.fail(s.emit(ctx, EventTypingStart, conversationID))
}

// StopTyping tells the conversation's other members that the caller stopped
// typing. Like StartTyping, it returns ErrNotConnected while disconnected.
func (s *Socket) StopTyping(ctx context.Context, conversationID string) error {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return s.fail(err)
	}
	return s.fail(s.emit(ctx, EventTypingStop, conversationID))
}

// UpdatePresence sets the caller's presence status (online, away, busy or
// offline; anything else is refused, though the service would take it).
// The service tells every other connected socket. The status is announced
// again after every reconnection (the service announces "offline" when a
// connection drops); set while disconnected, it is announced at the next
// connection.
func (s *Socket) UpdatePresence(ctx context.Context, status PresenceStatus) error {
	if !status.Valid() {
		return s.fail(invalid("status", "must be online, away, busy or offline, got %q", status))
	}
	if ctx == nil {
		return s.fail(invalid("ctx", "is nil"))
	}
	s.mu.Lock()
	st := s.state
	if st != StateClosed {
		s.presence = status
	}
	s.mu.Unlock()
	switch st {
	case StateClosed:
		return s.fail(fmt.Errorf("messaging: %s: %w", EventPresenceUpdate, ErrClosed))
	case StateConnected:
		err := s.emit(ctx, EventPresenceUpdate, status)
		if errors.Is(err, ErrNotConnected) {
			return nil // announced after reconnecting
		}
		return s.fail(err)
	}
	return nil
}

// AnnouncePresence tells a conversation's members (the caller included)
// that the caller is online there (participant:online). It returns
// ErrNotConnected while disconnected.
func (s *Socket) AnnouncePresence(ctx context.Context, conversationID string) error {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return s.fail(err)
	}
	return s.fail(s.emit(ctx, EventAnnouncePresence, conversationID))
}

// ---- acknowledgements ----

// ackBody is the service's acknowledgement {success, error?, message?,
// control?}.
type ackBody struct {
	Message json.RawMessage
	Control json.RawMessage

	// msg and ctl are message and control as decoded by the typed pass of
	// decodeAck (Message and Control are then empty); raw is the ack, for
	// the generic path when a row is unusable (to report it exactly).
	msg, ctl *Message
	raw      json.RawMessage
}

// decodeAck reads an acknowledgement strictly: a refusal is an *AckError
// with the server's text; anything malformed is an error matching
// ErrMalformed.
//
// A successful ack is decoded in one typed pass (readSuccessAck: the
// envelope read by hand, the rows straight into Messages by Message's fast
// path, without encoding/json's validation pass and reflection); anything
// else (a refusal, a row the fast path declines, a key encoding/json could
// read differently, invalid JSON) goes through decodeAckGeneric, which
// defines every error. The typed pass succeeds only on a JSON object with
// success true, where the generic path succeeds too, with the same rows
// (FuzzDecodeAck).
func decodeAck(event string, args []json.RawMessage) (ackBody, error) {
	if len(args) > 0 {
		if body, ok := readSuccessAck(args[0]); ok {
			return body, nil
		}
	}
	return decodeAckGeneric(event, args)
}

// decodeAckGeneric is decodeAck without the typed pass.
func decodeAckGeneric(event string, args []json.RawMessage) (ackBody, error) {
	if len(args) == 0 {
		return ackBody{}, malformed(event+" ack", errors.New("no arguments"))
	}
	raw := bytes.TrimSpace(args[0])
	if len(raw) == 0 || raw[0] != '{' {
		return ackBody{}, malformed(event+" ack", errors.New("not a JSON object"))
	}
	var w struct {
		Success json.RawMessage `json:"success"`
		Error   json.RawMessage `json:"error"`
		Message json.RawMessage `json:"message"`
		Control json.RawMessage `json:"control"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return ackBody{}, malformed(event+" ack", err)
	}
	var ok bool
	if err := json.Unmarshal(w.Success, &ok); err != nil || len(w.Success) == 0 {
		return ackBody{}, malformed(event+" ack", fmt.Errorf("success is %s, want a boolean", orUndefined(w.Success)))
	}
	if !ok {
		var text string
		if json.Unmarshal(w.Error, &text) != nil || text == "" {
			_ = json.Unmarshal(w.Message, &text)
		}
		if text == "" {
			text = "unknown error"
		}
		return ackBody{}, &AckError{Event: event, Message: text}
	}
	return ackBody{Message: w.Message, Control: w.Control}, nil
}

// message returns the message row of a successful acknowledgement.
func (b ackBody) message(event string) (*Message, error) {
	return b.row(event, false)
}

// control returns the control row of a successful acknowledgement.
func (b ackBody) control(event string) (*Message, error) {
	return b.row(event, true)
}

func (b ackBody) row(event string, control bool) (*Message, error) {
	m, raw := b.msg, b.Message
	if control {
		m, raw = b.ctl, b.Control
	}
	if m != nil && m.ID != "" {
		return m, nil
	}
	if b.raw != nil {
		// Decoded by the typed pass, but not usable as is: decode it the
		// generic way, which says exactly what is wrong with it.
		g, err := decodeAckGeneric(event, []json.RawMessage{b.raw})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrDeliveryUnknown, err)
		}
		return g.row(event, control)
	}
	return decodeRow(event, raw)
}

// decodeRow decodes the message row of a successful acknowledgement.
func decodeRow(event string, raw json.RawMessage) (*Message, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		err := malformed(event+" ack", fmt.Errorf("message is %s, want an object", orUndefined(raw)))
		return nil, fmt.Errorf("%w: %w", ErrDeliveryUnknown, err)
	}
	var m Message
	if err := m.UnmarshalJSON(raw); err != nil { // what json.Unmarshal calls, less its validation pass
		return nil, fmt.Errorf("%w: %w", ErrDeliveryUnknown, malformed(event+" ack", err))
	}
	if m.ID == "" {
		return nil, fmt.Errorf("%w: %w", ErrDeliveryUnknown, malformed(event+" ack", errors.New("message without id")))
	}
	return &m, nil
}

func orUndefined(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "undefined"
	}
	if len(raw) > 40 {
		return string(raw[:40]) + "…"
	}
	return string(raw)
}

func malformed(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
}

// ---- goroutine identity, to let Close be called from a handler ----

// inDispatcher reports whether the caller runs on the socket's dispatcher,
// i.e. inside a handler.
func (s *Socket) inDispatcher() bool {
	g := s.dispGID.Load()
	return g != 0 && g == goid.Get()
}
