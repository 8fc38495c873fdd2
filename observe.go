package messaging

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
)

// Observer receives what the SDK does, for tracing and metrics, the way
// net/http/httptrace.ClientTrace does for HTTP: every field is optional,
// and a nil field costs one comparison. Install one with [WithObserver].
// The package github.com/symbia-labs/messaging-go/otel makes one that
// reports to OpenTelemetry; this package itself depends on no tracing
// library.
//
// The functions are called on the goroutine doing the work (the caller's,
// the socket's dispatcher, a connection's); they must be safe for
// concurrent use and must not block. A function returned by a hook is
// called exactly once, when the work it observes ends.
type Observer struct {
	// TraceID returns the W3C trace id (32 lowercase hexadecimal digits)
	// of the trace ctx carries, or "" when it carries none. Sends whose
	// TraceID is empty, and runs made without WithRunTraceID, take it, so
	// that the service stores the caller's trace id with the message.
	TraceID func(ctx context.Context) string

	// Request is called before each attempt of a REST request, retries
	// included (info.Attempt counts from 0). It may add headers to req,
	// such as traceparent; req.URL never carries credentials. The function
	// it returns, if not nil, is called with the answer's status code (0
	// when there was none) and the attempt's error.
	Request func(ctx context.Context, req *http.Request, info RequestInfo) func(status int, err error)

	// Handshake is called before each WebSocket handshake of a socket,
	// with the values of the context given to the Connect that started the
	// connection (reconnections included; context.Background() if none),
	// and may add headers to h, such as traceparent.
	Handshake func(ctx context.Context, h http.Header)

	// Send is called when a message or a control event is sent, over REST
	// or the socket, once its id is chosen and before its trace id is: the
	// context it returns is used for the call (for instance, with a span
	// of its own) and TraceID reads the trace id from it. The function, if
	// not nil, is called with the call's error (nil: stored) once the
	// service answered (for the socket: acknowledged) or the call gave up.
	Send func(ctx context.Context, info SendInfo) (context.Context, func(err error))

	// Deliver is called on the socket's dispatcher goroutine before a
	// message is handed to the OnMessage handlers; the function it returns,
	// if not nil, is called once they all returned.
	Deliver func(s *Socket, m *Message) func()

	// Run is called when Socket.Run starts a run, before its trace id is
	// chosen. The run's Context derives from the context it returns; the
	// function, if not nil, is called once with the run's final state and
	// cause.
	Run func(ctx context.Context, info RunInfo) (context.Context, func(state RunState, err error))

	// Socket is called when a socket is made; the function it returns, if
	// not nil, is called by the socket's first Close. Use it to read
	// [Socket.Stats] and [Socket.State] for metrics. A socket that is
	// never closed stays known to the observer.
	Socket func(s *Socket) func()

	// MessageContext returns ctx carrying the trace of m, for work done on
	// m's behalf (an agent's turn answering it): while an OnMessage handler
	// handles m, the trace of that handling. Code that serves messages,
	// such as an agent server, calls it through [Socket.Observer].
	MessageContext func(ctx context.Context, m *Message) context.Context

	// Turn is called when an agent server starts a turn answering
	// info.Question, with the turn's context; the context it returns is the
	// one the turn's handler gets, and the function, if not nil, is called
	// once with the handler's outcome.
	Turn func(ctx context.Context, info TurnInfo) (context.Context, func(err error))
}

// TurnInfo describes an agent's turn.
type TurnInfo struct {
	Question *Message // the message the turn answers
	AgentID  string   // the agent's id, when known
}

// Observer returns the observer installed with [WithObserver], or nil.
// Packages built on the Socket (an agent server) use it to report their
// own work through the same hooks; do not modify it.
func (s *Socket) Observer() *Observer { return s.cfg.common.observer }

// RequestInfo describes one attempt of a REST request.
type RequestInfo struct {
	Method  string // GET, POST, ...
	Path    string // below the endpoint, without query, e.g. /api/conversations/<id>/messages
	Attempt int    // 0 for the first attempt, 1 for the first retry, ...
}

// Transport names how a call reaches the service.
type Transport string

// The transports of [SendInfo].
const (
	TransportREST   Transport = "rest"
	TransportSocket Transport = "socket"
)

// SendInfo describes a message or a control event being sent.
type SendInfo struct {
	Transport      Transport
	Event          string // EventMessageSend or EventControlSend
	ConversationID string
	MessageID      string // the message's id; empty for a control event (the service chooses it)
	Control        string // the control event's full name ("stream.pause"); empty for a message
}

// RunInfo describes a run being started.
type RunInfo struct {
	ConversationID string
	RunID          string
}

// WithObserver installs o on a Client or a Socket (and on the history
// client a socket uses for its backfill). A Socket made with
// [Client.NewSocket] inherits the client's observer. A nil o removes it.
func WithObserver(o *Observer) Option {
	return sharedOption(func(c *commonConfig) error {
		c.observer = o
		return nil
	})
}

// ---- Stats ----

// SocketStats are a Socket's counters since it was made, for those who
// do not use an [Observer]. Reading them is cheap; counting them costs the
// send path no allocation.
type SocketStats struct {
	Sends       int64 // calls sent that wait for an acknowledgement (messages, edits, deletes, control events)
	Acks        int64 // acknowledgements received (a refusal is one too)
	AckTimeouts int64 // attempts that had no acknowledgement within the ack timeout (each may be repeated)

	Connections int64 // Socket.IO connections made
	Reconnects  int64 // connections after the first

	Backfilled        int64 // messages delivered from the history (see WithBackfill)
	HistoryFetches    int64 // history requests the backfill made
	DuplicatesDropped int64 // live messages dropped because they had been delivered already
	SlowConsumerDrops int64 // server events dropped because the handler queue was full
	QueueDepth        int   // server events waiting for the handlers now
}

// Stats returns the socket's counters. It is safe to call at any time,
// also after Close.
func (s *Socket) Stats() SocketStats {
	st := SocketStats{
		Sends:       s.obs.sends.Load(),
		Acks:        s.obs.acks.Load(),
		AckTimeouts: s.obs.ackTimeouts.Load(),
	}
	s.mu.Lock()
	st.Connections = int64(s.gen)
	s.mu.Unlock()
	st.Reconnects = max(st.Connections-1, 0)
	s.d.stats.mu.Lock()
	st.Backfilled, st.DuplicatesDropped, st.HistoryFetches = s.d.stats.backfilled, s.d.stats.duplicates, s.d.stats.fetches
	s.d.stats.mu.Unlock()
	s.q.mu.Lock()
	st.SlowConsumerDrops, st.QueueDepth = s.q.dropped, s.q.events
	s.q.mu.Unlock()
	return st
}

// ClientStats are a Client's counters since it was made.
type ClientStats struct {
	Requests int64 // HTTP requests sent, retries included
	Retries  int64 // requests that repeated a failed one
	Failures int64 // calls that returned an error (invalid input included)
}

// Stats returns the client's counters.
func (c *Client) Stats() ClientStats {
	return ClientStats{
		Requests: c.obs.requests.Load(),
		Retries:  c.obs.retries.Load(),
		Failures: c.obs.failures.Load(),
	}
}

// ---- the hook points' helpers (the only code the rest of the package
// calls; each is one line at its call site) ----

// clientObs is a Client's share of observation: counters.
type clientObs struct {
	requests, retries, failures atomic.Int64
}

// socketObs is a Socket's share: counters, the Connect context for the
// handshake hook, and what Observer.Socket returned.
type socketObs struct {
	sends, acks, ackTimeouts atomic.Int64
	connectCtx               atomic.Pointer[context.Context]
	closeOnce                sync.Once
	detach                   func()
}

// traceIDOr returns id, or when it is empty the trace id o finds in ctx.
func (o *Observer) traceIDOr(ctx context.Context, id string) string {
	if id != "" || o == nil || o.TraceID == nil || ctx == nil {
		return id
	}
	return o.TraceID(ctx)
}

func (c *Client) traceIDOr(ctx context.Context, id string) string {
	return c.cfg.common.observer.traceIDOr(ctx, id)
}

func (s *Socket) traceIDOr(ctx context.Context, id string) string {
	return s.cfg.common.observer.traceIDOr(ctx, id)
}

func (c *Client) observeSend(ctx context.Context, info SendInfo) (context.Context, sendEnd) {
	return c.cfg.common.observer.observeSend(ctx, info)
}

func (s *Socket) observeSend(ctx context.Context, info SendInfo) (context.Context, sendEnd) {
	return s.cfg.common.observer.observeSend(ctx, info)
}

// countFailure counts a failed call.
func (c *Client) countFailure(err error) {
	if err != nil && c != nil {
		c.obs.failures.Add(1)
	}
}

// countAck counts the outcome of one attempt of a call waiting for an ack.
func (s *Socket) countAck(err error, ackTimedOut bool) {
	switch {
	case err == nil:
		s.obs.acks.Add(1)
	case ackTimedOut:
		s.obs.ackTimeouts.Add(1)
	}
}

// requestEnd ends an observed REST attempt; its zero value does nothing.
type requestEnd struct{ fn func(int, error) }

func (e requestEnd) done(resp *http.Response, err error) {
	if e.fn == nil {
		return
	}
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	e.fn(status, err)
}

// observeRequest counts a REST attempt and lets the observer see it.
func (c *Client) observeRequest(ctx context.Context, req *http.Request, r request, attempt int) requestEnd {
	c.obs.requests.Add(1)
	if attempt > 0 {
		c.obs.retries.Add(1)
	}
	if o := c.cfg.common.observer; o != nil && o.Request != nil {
		return requestEnd{o.Request(ctx, req, RequestInfo{Method: r.method, Path: r.path, Attempt: attempt})}
	}
	return requestEnd{}
}

// sendEnd ends an observed send; its zero value does nothing.
type sendEnd struct{ fn func(error) }

func (e sendEnd) done(err error) {
	if e.fn != nil {
		e.fn(err)
	}
}

// observeSend lets o see a send starting.
func (o *Observer) observeSend(ctx context.Context, info SendInfo) (context.Context, sendEnd) {
	if o == nil || o.Send == nil || ctx == nil {
		return ctx, sendEnd{}
	}
	octx, fn := o.Send(ctx, info)
	if octx == nil {
		octx = ctx
	}
	return octx, sendEnd{fn}
}

// deliverEnd ends an observed delivery; its zero value does nothing.
type deliverEnd struct{ fn func() }

func (e deliverEnd) done() {
	if e.fn != nil {
		e.fn()
	}
}

// observeDeliver lets the observer see m handed to the OnMessage handlers.
func (s *Socket) observeDeliver(m *Message) deliverEnd {
	if o := s.cfg.common.observer; o != nil && o.Deliver != nil {
		return deliverEnd{o.Deliver(s, m)}
	}
	return deliverEnd{}
}

// runEnd ends an observed run; its zero value does nothing.
type runEnd struct{ fn func(RunState, error) }

// observeRun lets the observer see a run start. Unless explicit (the
// caller chose the trace id), *traceID becomes the trace id of the context
// returned, when it has one.
func (s *Socket) observeRun(ctx context.Context, conversationID, runID string, traceID *string, explicit bool) (context.Context, runEnd) {
	o := s.cfg.common.observer
	if o == nil {
		return ctx, runEnd{}
	}
	var end runEnd
	if o.Run != nil {
		octx, fn := o.Run(ctx, RunInfo{ConversationID: conversationID, RunID: runID})
		if octx != nil {
			ctx = octx
		}
		end = runEnd{fn}
	}
	if !explicit {
		if id := o.traceIDOr(ctx, ""); id != "" {
			*traceID = id
		}
	}
	return ctx, end
}

// attach ends the observation when r ends (at once if it already has).
func (e runEnd) attach(r *Run) {
	if e.fn == nil {
		return
	}
	var once sync.Once
	finish := func() {
		once.Do(func() {
			st, _, cause := r.snapshot()
			e.fn(st, cause)
		})
	}
	r.OnStateChange(func(c RunStateChange) {
		if c.Current.Ended() {
			finish()
		}
	})
	if r.State().Ended() {
		finish()
	}
}

// observeSocket runs the observer's Socket hook for a new socket.
func (s *Socket) observeSocket() {
	if o := s.cfg.common.observer; o != nil && o.Socket != nil {
		s.obs.detach = o.Socket(s)
	}
}

// observeClose runs, once, what the Socket hook returned.
func (s *Socket) observeClose() {
	s.obs.closeOnce.Do(func() {
		if s.obs.detach != nil {
			s.obs.detach()
		}
	})
}

// observeConnect keeps the values of Connect's context for the handshake
// hook.
func (s *Socket) observeConnect(ctx context.Context) {
	if o := s.cfg.common.observer; o != nil && o.Handshake != nil && ctx != nil {
		c := context.WithoutCancel(ctx)
		s.obs.connectCtx.Store(&c)
	}
}

// handshakeHeader is the socketio HeaderFunc that lets the observer add
// headers to each handshake; nil without a Handshake hook.
func (s *Socket) handshakeHeader() func(context.Context) (http.Header, error) {
	o := s.cfg.common.observer
	if o == nil || o.Handshake == nil {
		return nil
	}
	return func(context.Context) (http.Header, error) {
		ctx := context.Background()
		if p := s.obs.connectCtx.Load(); p != nil {
			ctx = *p
		}
		h := http.Header{}
		o.Handshake(ctx, h)
		return h, nil
	}
}
