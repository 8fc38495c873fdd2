package socketio

// The Client: its options, state and lifecycle (NewClient, Connect, Close).
// Emits and acks are in client_emit.go; the connection manager is in
// client_manager.go and client_session.go.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
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
