package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/symbia-labs/messaging-go/internal/backoff"
	"github.com/symbia-labs/messaging-go/internal/engineio"
)

// DefaultConnectTimeout bounds the transport handshake and the namespace
// CONNECT reply of each attempt (the reference client's timeout is 20 s).
const DefaultConnectTimeout = 20 * time.Second

// clientNamespace is the namespace a Client joins: the service serves the
// main namespace only.
const clientNamespace = "/"

// ClientOptions configures a Client. The zero value is usable: no auth, no
// reconnection.
//
// # Hooks
//
// Every On* hook is called from the client's read goroutine, one at a time,
// in the order the underlying events happened. A hook MUST NOT block and
// must not call the Client's methods: the read goroutine also reads the
// network, delivers acks, answers the server's pings and notices
// disconnections (a hook blocked for longer than the server's pingTimeout
// gets the connection dropped), and Close, Connect or an emit waiting for
// the connection would wait for the very goroutine running the hook. The
// upper layer hands the work to a queue of its own. A panicking hook is
// recovered and logged.
type ClientOptions struct {
	// Path is the Engine.IO endpoint path, "/socket.io/" when empty.
	Path string
	// Header is sent with every handshake request.
	Header http.Header
	// HeaderFunc, if set, is called before every handshake (reconnections
	// included) with the attempt's context; the headers it returns are
	// added to (and override) Header. It must not block.
	HeaderFunc func(ctx context.Context) http.Header
	// Auth, if set, is called before every namespace CONNECT (first connect
	// and each reconnection), so a refreshed token is always used. The value
	// must encode to a JSON object; nil means no auth payload.
	Auth func(ctx context.Context) (any, error)
	// HTTPClient performs the transport's handshake (see
	// engineio.DialOptions).
	HTTPClient *http.Client
	// MaxPayload caps one incoming message (see engineio.DialOptions).
	MaxPayload int64
	// Reconnection turns on automatic reconnection after a lost connection
	// (and retries of a failing first connection within Connect's ctx).
	Reconnection bool
	// ReconnectionAttempts limits consecutive failed attempts; 0 means
	// unlimited.
	ReconnectionAttempts int
	// Backoff is the delay policy between attempts. The zero value means
	// backoff.Default() (1 s doubling to 5 s, 50 % jitter).
	Backoff backoff.Backoff
	// ConnectTimeout bounds each attempt: transport handshake plus the
	// namespace CONNECT reply. Zero means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger

	// OnEvent receives every server event, with its arguments (binary
	// arguments as base64 JSON strings). Events that arrive before the
	// CONNECT reply are delivered just before OnConnect.
	OnEvent func(event string, args []json.RawMessage)
	// OnConnect is called on every (re)connection, once the namespace
	// CONNECT reply arrived.
	OnConnect func()
	// OnDisconnect is called when an established connection ends, with one
	// of the Reason* constants and the transport error if any.
	OnDisconnect func(reason string, err error)
	// OnReconnectAttempt is called before each reconnection attempt; n
	// starts at 1.
	OnReconnectAttempt func(n int)
	// OnReconnectScheduled is called when reconnection attempt n is
	// scheduled, with the delay before it (jitter included). After a lost
	// connection it is called for attempt 1 just before OnDisconnect, so
	// that the disconnection can be reported with the actual delay; for
	// later attempts, before waiting.
	OnReconnectScheduled func(n int, delay time.Duration)
	// OnReconnectFailed is called once when ReconnectionAttempts attempts
	// failed; the client then stops.
	OnReconnectFailed func(err error)
	// OnConnectError is called when an attempt fails: transport error,
	// timeout, auth callback error, or a *ConnectError from the server (after
	// which the client stops).
	OnConnectError func(err error)
}

type clientState int

const (
	stateIdle clientState = iota
	stateConnecting
	stateConnected
	stateStopped
	stateClosed
)

// run is one life of the connection manager, from Connect until it stops.
type run struct {
	ctx     context.Context
	cancel  context.CancelFunc
	initial bool // no connection established yet in this run
	prev    chan struct{}
	done    chan struct{}
	// The delay of attempt 1, scheduled when the connection was lost.
	delay     time.Duration
	scheduled bool
}

// Client is a Socket.IO client of the main namespace, with acks and a
// reconnect manager. All methods are safe for concurrent use.
//
// Goroutines: while connecting or connected, one manager goroutine dials,
// reads frames from the network itself (the transport runs no reader of
// its own), answers pings, decodes packets, delivers acks to their waiting
// callers and runs the hooks. Packets are written by their senders; a pong,
// an ack answering the server or a DISCONNECT is written on a short-lived
// goroutine when no send is in progress. Close ends all of them.
type Client struct {
	url  string
	opts ClientOptions
	bo   backoff.Backoff
	log  *slog.Logger

	mu       sync.Mutex
	state    clientState
	stateErr error         // why the client is stopped
	changed  chan struct{} // closed and replaced on every state change
	cur      *run
	conn     *engineio.Conn // transport while connected
	sid      string
	acks     ackTable
	runs     sync.WaitGroup
}

// NewClient returns a client for the server at rawURL (http, https, ws or
// wss; its path is ignored, use Path). It does not connect: call Connect.
// No goroutine is started before Connect.
func NewClient(rawURL string, opts ClientOptions) *Client {
	bo := opts.Backoff
	if bo.Min == 0 && bo.Max == 0 && bo.Factor == 0 && bo.Jitter == 0 && bo.Rand == nil {
		bo = backoff.Default()
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{
		url:     rawURL,
		opts:    opts,
		bo:      bo,
		log:     log.With("component", "socketio"),
		changed: make(chan struct{}),
	}
}

// setState changes the state and wakes every waiter. Caller holds c.mu.
func (c *Client) setState(s clientState, err error) {
	c.state, c.stateErr = s, err
	close(c.changed)
	c.changed = make(chan struct{})
}

// hook runs fn as a hook on the manager goroutine, recovering a panic.
func (c *Client) hook(name string, fn func()) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("socketio: hook panicked", "hook", name, "panic", r)
		}
	}()
	fn()
}

// Connect connects (or reconnects) the namespace and returns once the
// server's CONNECT reply arrived. It returns a *ConnectError if the server
// refused (no automatic retry follows), ErrClosed after Close, or, when ctx
// ends before the first connection of this attempt, ctx's error: the
// attempt is then abandoned. With Reconnection on, failures before that are
// retried with backoff within ctx. If already connected it returns nil; if
// reconnecting, it waits for the result.
func (c *Client) Connect(ctx context.Context) error {
	c.mu.Lock()
	switch c.state {
	case stateClosed:
		c.mu.Unlock()
		return ErrClosed
	case stateConnected:
		c.mu.Unlock()
		return nil
	case stateIdle, stateStopped:
		if err := ctx.Err(); err != nil {
			// Abandoned before it starts: a run started now could connect
			// before this call noticed ctx, leaving the client connected
			// although Connect failed.
			c.setState(stateStopped, err)
			c.mu.Unlock()
			return fmt.Errorf("socketio: connect: %w", err)
		}
		c.startRun()
	}
	r := c.cur
	ch := c.changed
	c.mu.Unlock()
	for {
		select {
		case <-ch:
		case <-ctx.Done():
			c.mu.Lock()
			if c.cur == r && r.initial && c.state == stateConnecting {
				c.setState(stateStopped, ctx.Err())
				r.cancel()
			}
			c.mu.Unlock()
			return fmt.Errorf("socketio: connect: %w", ctx.Err())
		}
		c.mu.Lock()
		st, err := c.state, c.stateErr
		ch = c.changed
		c.mu.Unlock()
		switch st {
		case stateConnected:
			return nil
		case stateClosed:
			return ErrClosed
		case stateStopped, stateIdle:
			if err == nil {
				err = ErrStopped
			}
			return err
		}
	}
}

// startRun starts a manager goroutine. Caller holds c.mu.
func (c *Client) startRun() {
	var prev chan struct{}
	if c.cur != nil {
		prev = c.cur.done
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{ctx: ctx, cancel: cancel, initial: true, prev: prev, done: make(chan struct{})}
	c.cur = r
	c.setState(stateConnecting, nil)
	c.runs.Add(1)
	go c.manage(r)
}

// Close disconnects (reason "io client disconnect": the server is told with
// a DISCONNECT packet when connected), fails pending acks and waiting emits
// with ErrClosed, and returns after every goroutine of the client has
// exited. It is idempotent and returns nil.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.state != stateClosed {
		c.setState(stateClosed, ErrClosed)
		c.failAcks(&DisconnectError{Reason: ReasonClientDisconnect, Err: ErrClosed})
		if c.cur != nil {
			c.cur.cancel()
		}
	}
	c.mu.Unlock()
	c.runs.Wait()
	return nil
}

// Connected reports whether the namespace is connected.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateConnected
}

// ID returns the socket id given by the server, or "" when not connected.
func (c *Client) ID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateConnected {
		return ""
	}
	return c.sid
}

// waitConnected returns the transport once the namespace is connected on
// one other than dead (a transport that has ended, which the manager may not
// have noticed yet; nil for none). A value from expire (nil: never) ends the
// wait with an *ackTimeoutError.
func (c *Client) waitConnected(ctx context.Context, dead *engineio.Conn, expire <-chan time.Time) (*engineio.Conn, error) {
	for {
		c.mu.Lock()
		st, err, conn, ch := c.state, c.stateErr, c.conn, c.changed
		c.mu.Unlock()
		switch st {
		case stateConnected:
			if conn != dead {
				return conn, nil
			}
		case stateClosed:
			return nil, ErrClosed
		case stateStopped:
			if err == nil {
				return nil, ErrStopped
			}
			return nil, fmt.Errorf("%w: %w", ErrStopped, err)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-expire:
			return nil, &ackTimeoutError{}
		}
	}
}

func checkEvent(event string) error {
	if isReserved(event) {
		return fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	return nil
}

// Emit sends an event without asking for an ack. It returns once the packet
// was handed to the network. Before the namespace is connected, and while
// reconnecting, it waits (bounded by ctx) and sends after the CONNECT reply;
// a packet the transport ended before writing is sent on the next
// connection. After Close, or when the client stopped, it fails at once. An
// error matching ErrNotSent means the packet never left (see ErrNotSent).
func (c *Client) Emit(ctx context.Context, event string, args ...any) error {
	if err := checkEvent(event); err != nil {
		return err
	}
	p, err := EventPacket(clientNamespace, nil, event, args...)
	if err != nil {
		return err
	}
	msgs, err := p.Encode()
	if err != nil {
		return err
	}
	var dead *engineio.Conn
	for {
		conn, err := c.waitConnected(ctx, dead, nil)
		if err != nil {
			return notSent(ctx, err)
		}
		err = conn.Send(ctx, msgs...)
		if err == nil || !errors.Is(err, ErrNotSent) {
			return err // sent, or may have been
		}
		if ctx.Err() != nil {
			return notSent(ctx, err)
		}
		dead = conn // ended before the packet was written: wait for the next
	}
}

// EmitWithAck sends an event asking for an ack and returns the ack's
// arguments. It waits like Emit before sending, then for the ack, bounded by
// ctx. An error matching ErrNotSent means the packet never left (see
// ErrNotSent); any other means the server may have processed it: if the
// connection drops after the packet was sent, the error is a
// *DisconnectError (matching ErrDisconnected); if ctx ends, ctx's error.
func (c *Client) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	return c.emitWithAck(ctx, 0, event, args)
}

// EmitWithAckTimeout is EmitWithAck bounded by timeout as well as by ctx,
// as if it were given a ctx with that timeout but without making one (a
// pooled timer does it). The timeout covers the whole call: waiting for the
// connection, the send and the ack. When it passes first, the error is
// what EmitWithAck would return for a ctx reaching its deadline at that
// point, but matching ErrAckTimeout (and context.DeadlineExceeded) instead
// of ctx's error: it still matches ErrNotSent when the packet never left,
// and wraps the error that was seen when the timeout was noticed, if any.
// When ctx ends first, the error is ctx's, as for EmitWithAck. A timeout of
// zero or less means none.
func (c *Client) EmitWithAckTimeout(ctx context.Context, timeout time.Duration, event string, args ...any) ([]json.RawMessage, error) {
	return c.emitWithAck(ctx, timeout, event, args)
}

// ackTimers are stopped timers for EmitWithAckTimeout, so that a call does
// not allocate one (a timer and its channel).
var ackTimers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

func (c *Client) emitWithAck(ctx context.Context, timeout time.Duration, event string, args []any) ([]json.RawMessage, error) {
	if err := checkEvent(event); err != nil {
		return nil, err
	}
	proto, err := EventPacket(clientNamespace, nil, event, args...)
	if err != nil {
		return nil, err
	}
	// The timeout: expire fires once it passed; timedOut marks an error
	// seen after it passed (the timer may not have been the one to end the
	// call) as a context with that deadline would have been reported.
	var expire <-chan time.Time
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
		t := ackTimers.Get().(*time.Timer)
		t.Reset(timeout)
		defer func() {
			if !t.Stop() {
				// Fired: with pre-Go 1.23 timer semantics (GODEBUG
				// asynctimerchan=1) its value may still be buffered.
				select {
				case <-t.C:
				default:
				}
			}
			ackTimers.Put(t)
		}()
		expire = t.C
	}
	timedOut := func(err error) error {
		if timeout <= 0 || ctx.Err() != nil || time.Now().Before(deadline) {
			return err
		}
		if errors.Is(err, ErrAckTimeout) {
			return err
		}
		return &ackTimeoutError{err: err}
	}
	data, att := proto.Data, proto.Attachments
	var dead *engineio.Conn
	for {
		conn, err := c.waitConnected(ctx, dead, expire)
		if err != nil {
			return nil, notSent(ctx, timedOut(err))
		}
		c.mu.Lock()
		if c.conn != conn || c.state != stateConnected {
			c.mu.Unlock()
			continue
		}
		id, ch := c.acks.add()
		c.mu.Unlock()

		p := &Packet{Type: PacketEvent, Namespace: clientNamespace, ID: &id, Data: data, Attachments: att}
		msgs, err := p.Encode()
		if err == nil {
			err = conn.SendUntil(ctx, expire, msgs...)
		}
		if err != nil {
			c.dropAck(id)
			if !errors.Is(err, ErrNotSent) {
				return nil, timedOut(err) // may have been sent
			}
			if ctx.Err() != nil {
				return nil, notSent(ctx, err)
			}
			if err := timedOut(err); errors.Is(err, ErrAckTimeout) {
				return nil, notSent(ctx, err)
			}
			dead = conn // ended before the packet was written: wait for the next
			continue
		}
		// Sent: from here on the server may process it.
		select {
		case res := <-ch:
			if res.err != nil {
				return res.args, timedOut(res.err)
			}
			return res.args, nil
		case <-ctx.Done():
			c.dropAck(id)
			return nil, ctx.Err()
		case <-expire:
			c.dropAck(id)
			return nil, &ackTimeoutError{}
		}
	}
}

func (c *Client) dropAck(id uint64) {
	c.mu.Lock()
	c.acks.drop(id)
	c.mu.Unlock()
}

// failAcks completes every pending ack with err. Caller holds c.mu.
func (c *Client) failAcks(err error) {
	c.acks.failAll(err)
}

// outcome of one transport session.
type outcome int

const (
	outStop   outcome = iota // the run must end
	outFailed                // the attempt failed before connecting
	outLost                  // an established connection was lost
)

// manage is the manager goroutine of one run.
func (c *Client) manage(r *run) {
	defer c.runs.Done()
	defer close(r.done)
	defer r.cancel()
	if r.prev != nil {
		<-r.prev // hooks of the previous run are over
	}
	attempt := 0
	failures := 0 // attempts failed in a row since the last connection (or Connect)
	var lastErr error
	for r.ctx.Err() == nil {
		if attempt > 0 {
			if max := c.opts.ReconnectionAttempts; max > 0 && attempt > max {
				err := &ReconnectFailedError{Attempts: failures, Err: lastErr}
				if c.stop(r, err) {
					c.hook("OnReconnectFailed", func() { callErr(c.opts.OnReconnectFailed, err) })
				}
				return
			}
			d := r.delay
			if !r.scheduled {
				d = c.schedule(r, attempt)
			}
			r.scheduled = false
			c.log.Debug("socketio: reconnecting", "attempt", attempt, "delay", d)
			if backoff.Sleep(r.ctx, d) != nil {
				return
			}
			c.hook("OnReconnectAttempt", func() { callInt(c.opts.OnReconnectAttempt, attempt) })
		}
		out, err := c.session(r)
		switch out {
		case outStop:
			return
		case outFailed:
			lastErr = err
			attempt++
			failures++
		case outLost:
			lastErr = err
			attempt = 1
			failures = 0
		}
		if !c.opts.Reconnection {
			c.stop(r, lastErr)
			return
		}
	}
}

// schedule picks the delay before reconnection attempt n and reports it.
func (c *Client) schedule(r *run, n int) time.Duration {
	d := c.bo.Duration(n - 1)
	if f := c.opts.OnReconnectScheduled; f != nil {
		c.hook("OnReconnectScheduled", func() { f(n, d) })
	}
	return d
}

func callInt(f func(int), n int) {
	if f != nil {
		f(n)
	}
}

func callErr(f func(error), err error) {
	if f != nil {
		f(err)
	}
}

// stop ends the run with the client stopped (unless it was closed or the
// run is stale). It reports whether the state changed.
func (c *Client) stop(r *run, err error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != r || c.state == stateClosed {
		return false
	}
	c.conn = nil
	ackErr := err
	if !errors.Is(err, ErrDisconnected) {
		ackErr = &DisconnectError{Reason: ReasonTransportClose, Err: err}
	}
	c.failAcks(ackErr)
	c.setState(stateStopped, err)
	return true
}

func (c *Client) connectError(r *run, err error) {
	c.log.Debug("socketio: connect error", "err", err)
	c.hook("OnConnectError", func() { callErr(c.opts.OnConnectError, err) })
}

// dialOptions are the transport's options. The manager reads the transport
// itself (engineio's Read reads the network on the caller's goroutine): one
// goroutine per connection, and an ack goes from the network to its
// waiting caller without a hand-off.
func (c *Client) dialOptions(ctx context.Context) engineio.DialOptions {
	h := c.opts.Header
	if c.opts.HeaderFunc != nil {
		h = h.Clone()
		if h == nil {
			h = http.Header{}
		}
		maps.Copy(h, c.opts.HeaderFunc(ctx))
	}
	return engineio.DialOptions{
		Path:       c.opts.Path,
		Header:     h,
		HTTPClient: c.opts.HTTPClient,
		MaxPayload: c.opts.MaxPayload,
	}
}

func (c *Client) connectPacket(ctx context.Context) ([]engineio.Message, error) {
	p := &Packet{Type: PacketConnect, Namespace: clientNamespace}
	if c.opts.Auth != nil {
		auth, err := c.opts.Auth(ctx)
		if err != nil {
			return nil, fmt.Errorf("socketio: auth callback: %w", err)
		}
		if auth != nil {
			data, err := marshal(auth)
			if err != nil {
				return nil, fmt.Errorf("socketio: auth: %w", err)
			}
			if firstByte(data) != '{' {
				return nil, errors.New("socketio: auth must encode to a JSON object")
			}
			p.Data = data
		}
	}
	return p.Encode()
}

// session runs one transport from dial to its end.
func (c *Client) session(r *run) (outcome, error) {
	dctx, cancel := context.WithTimeout(r.ctx, c.opts.ConnectTimeout)
	defer cancel()
	failed := func(err error) (outcome, error) {
		if r.ctx.Err() != nil {
			return outStop, err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", ErrConnectTimeout, err)
		}
		c.connectError(r, err)
		return outFailed, err
	}
	conn, err := engineio.Dial(dctx, c.url, c.dialOptions(dctx))
	if err != nil {
		return failed(err)
	}
	defer conn.Close()
	// The manager reads the transport directly, so nothing but the end of
	// the transport interrupts its read: when the run ends (Close, or
	// Connect's ctx), close the transport, gracefully, telling the server
	// first if the namespace is connected on it. The manager then sees the
	// read fail with r.ctx ended, and waits here for the closer before the
	// session returns.
	closerDone := make(chan struct{})
	stopCloser := context.AfterFunc(r.ctx, func() {
		defer close(closerDone)
		c.mu.Lock()
		joined := c.conn == conn
		c.mu.Unlock()
		if joined {
			c.queueDisconnect(conn)
		}
		_ = conn.Close()
	})
	defer func() {
		if !stopCloser() {
			<-closerDone
		}
	}()
	msgs, err := c.connectPacket(dctx)
	if err != nil {
		return failed(err)
	}
	if err := conn.Send(dctx, msgs...); err != nil {
		return failed(err)
	}

	var dec Decoder
	connected := false
	var early []*Packet
	// Until the CONNECT reply, reads are bounded by the attempt's timeout
	// (a direct read whose ctx ends drops the transport, which fails the
	// attempt anyway). Then by nothing: a ctx that can end costs a
	// registration per read, and the closer above ends them when needed.
	readCtx := context.Context(dctx)
	for {
		m, err := conn.Read(readCtx)
		if err != nil {
			if r.ctx.Err() != nil { // Close, or Connect's ctx ended
				if connected {
					c.closeConnected(r, conn)
				}
				return outStop, err
			}
			if !connected {
				if ce := conn.Err(); ce != nil {
					err = ce
				}
				return failed(err)
			}
			reason := conn.Reason()
			if reason == engineio.ReasonForcedClose {
				reason = ReasonTransportError
			}
			return c.lost(r, reason, conn.Err())
		}
		p, err := dec.Decode(m)
		if err != nil {
			c.log.Debug("socketio: parse error", "err", err)
			_ = conn.Close()
			if !connected {
				return failed(err)
			}
			return c.lost(r, ReasonParseError, err)
		}
		if p == nil || p.nsp() != clientNamespace {
			continue
		}
		switch p.Type {
		case PacketConnect:
			if connected {
				continue
			}
			var reply struct {
				SID string `json:"sid"`
			}
			_ = json.Unmarshal(p.Data, &reply)
			if reply.SID == "" {
				err := errors.New("socketio: CONNECT reply without sid (not a Socket.IO v3+ server?)")
				if c.stop(r, err) {
					c.connectError(r, err)
				}
				return outStop, err
			}
			c.mu.Lock()
			if c.cur != r || c.state == stateClosed {
				c.mu.Unlock()
				return outStop, ErrClosed
			}
			r.initial = false
			c.conn, c.sid = conn, reply.SID
			c.setState(stateConnected, nil)
			c.mu.Unlock()
			connected = true
			readCtx = context.Background()
			cancel() // the attempt's timeout is over: let its timer and context go
			c.log.Debug("socketio: connected", "sid", reply.SID)
			for _, e := range early {
				c.dispatch(e)
			}
			early = nil
			c.hook("OnConnect", func() {
				if c.opts.OnConnect != nil {
					c.opts.OnConnect()
				}
			})
		case PacketConnectError:
			cerr := parseConnectError(p.Data)
			wasConnected := connected
			if c.stop(r, cerr) {
				c.connectError(r, cerr)
				if wasConnected {
					c.disconnected(r, ReasonServerDisconnect, cerr)
				}
			}
			return outStop, cerr
		case PacketDisconnect:
			derr := &DisconnectError{Reason: ReasonServerDisconnect}
			if c.stop(r, derr) {
				if connected {
					c.disconnected(r, ReasonServerDisconnect, nil)
				} else {
					c.connectError(r, derr)
				}
			}
			return outStop, derr
		case PacketEvent, PacketBinaryEvent:
			if !connected {
				early = append(early, p)
				continue
			}
			c.dispatch(p)
		case PacketAck, PacketBinaryAck:
			deliverAck(&c.mu, &c.acks, p)
		}
	}
}

// lost handles the end of an established connection.
func (c *Client) lost(r *run, reason string, err error) (outcome, error) {
	derr := &DisconnectError{Reason: reason, Err: err}
	reconnect := false
	c.mu.Lock()
	if c.cur == r && c.state == stateConnected {
		c.conn = nil
		c.failAcks(derr)
		if c.opts.Reconnection {
			c.setState(stateConnecting, nil)
			reconnect = true
		} else {
			c.setState(stateStopped, derr)
		}
	}
	c.mu.Unlock()
	c.log.Debug("socketio: disconnected", "reason", reason, "err", err)
	if reconnect {
		r.delay, r.scheduled = c.schedule(r, 1), true
	}
	c.disconnected(r, reason, err)
	return outLost, derr
}

func (c *Client) disconnected(r *run, reason string, err error) {
	c.hook("OnDisconnect", func() {
		if c.opts.OnDisconnect != nil {
			c.opts.OnDisconnect(reason, err)
		}
	})
}

// closeConnected ends an established connection after Close: tells the
// server, fails pending acks and reports "io client disconnect".
func (c *Client) closeConnected(r *run, conn *engineio.Conn) {
	c.queueDisconnect(conn) // unless the closer has already closed conn
	_ = conn.Close()
	c.mu.Lock()
	c.conn = nil
	c.failAcks(&DisconnectError{Reason: ReasonClientDisconnect, Err: ErrClosed})
	c.mu.Unlock()
	c.disconnected(r, ReasonClientDisconnect, nil)
}

// queueDisconnect queues a DISCONNECT packet for the namespace on conn.
func (c *Client) queueDisconnect(conn *engineio.Conn) {
	if p, err := (&Packet{Type: PacketDisconnect, Namespace: clientNamespace}).Encode(); err == nil {
		_ = conn.Queue(p...)
	}
}

// dispatch hands an event to OnEvent. The service never asks the client for
// an ack, and an ack asked for goes unanswered.
func (c *Client) dispatch(p *Packet) {
	name, args, err := p.Event()
	if err != nil {
		return // validated by the decoder
	}
	if c.opts.OnEvent != nil {
		c.hook("OnEvent", func() { c.opts.OnEvent(name, args) })
	}
}
