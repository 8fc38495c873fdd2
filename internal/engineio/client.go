package engineio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// DefaultMaxIncoming is the default cap on one incoming message for a client
// connection (DialOptions.MaxPayload).
const DefaultMaxIncoming = 16 << 20

// DialOptions configures Dial. The zero value is usable.
type DialOptions struct {
	// Path is the Engine.IO endpoint path. Empty means DefaultPath
	// ("/socket.io/"). A trailing slash is added if missing, as the reference
	// client does.
	Path string
	// Header is sent with the WebSocket handshake request.
	Header http.Header
	// HTTPClient performs the handshake (custom dialer, proxy, TLS). Nil
	// means a private clone of http.DefaultTransport.
	HTTPClient *http.Client
	// MaxPayload caps one incoming message in bytes: a larger message ends
	// the connection with reason "transport error". Zero means
	// DefaultMaxIncoming; negative means no limit.
	MaxPayload int64
}

// BuildURL returns the WebSocket URL Dial connects to: the scheme and host of
// rawURL (http becomes ws, https becomes wss), the endpoint path, and the
// query string of rawURL with EIO=4 and transport=websocket. The path of rawURL is
// ignored (in Socket.IO it names the namespace).
func BuildURL(rawURL string, opts DialOptions) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("engineio: bad URL: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("engineio: unsupported URL scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return "", errors.New("engineio: URL has no host")
	}
	p := opts.Path
	if p == "" {
		p = DefaultPath
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	u.Path, u.RawPath = p, ""
	q := u.Query()
	q.Set("EIO", "4")
	q.Set("transport", "websocket")
	u.RawQuery = q.Encode()
	u.Fragment = ""
	return u.String(), nil
}

func httpClientFor(opts DialOptions) (client *http.Client, cleanup func()) {
	if opts.HTTPClient != nil {
		return opts.HTTPClient, func() {}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &http.Client{Transport: tr}, tr.CloseIdleConnections
}

// countingTransport gives the WebSocket a byte stream that counts what it
// hands to the network, so that a failed write can tell whether any byte of
// a message left (see frameConn.writeOut). It wraps the 101 response's body, the
// stream coder/websocket reads and writes, whatever the RoundTripper.
type countingTransport struct {
	base   http.RoundTripper
	stream *countingStream // the last 101 response's; one dial per transport
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		return resp, err
	}
	if rwc, ok := resp.Body.(io.ReadWriteCloser); ok {
		t.stream = &countingStream{ReadWriteCloser: rwc}
		resp.Body = t.stream
	}
	return resp, nil
}

// countingStream counts the bytes its writes handed on.
type countingStream struct {
	io.ReadWriteCloser
	written atomic.Int64
}

func (s *countingStream) Write(p []byte) (int, error) {
	n, err := s.ReadWriteCloser.Write(p)
	s.written.Add(int64(n))
	return n, err
}

// HandshakeError reports a WebSocket handshake refused with an HTTP status
// (for example 403 from a proxy or 400 from the Engine.IO server).
type HandshakeError struct {
	// StatusCode is the HTTP status of the refusal.
	StatusCode int
	// Err is the underlying error.
	Err error
}

// Error implements error.
func (e *HandshakeError) Error() string {
	return fmt.Sprintf("engineio: handshake refused with HTTP %d: %v", e.StatusCode, e.Err)
}

// Unwrap returns the underlying error.
func (e *HandshakeError) Unwrap() error { return e.Err }

// Dial opens a WebSocket-only Engine.IO session and reads the open packet.
// ctx bounds the dial and the open packet only, not the connection's life.
func Dial(ctx context.Context, rawURL string, opts DialOptions) (*Conn, error) {
	wsURL, err := BuildURL(rawURL, opts)
	if err != nil {
		return nil, err
	}
	hc, cleanup := httpClientFor(opts)
	defer cleanup()
	ct := &countingTransport{base: hc.Transport}
	if ct.base == nil {
		ct.base = http.DefaultTransport
	}
	hcc := *hc
	hcc.Transport = ct
	ws, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{
		HTTPClient: &hcc,
		HTTPHeader: opts.Header,
	})
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("engineio: dial %s: %w", wsURL, ctxErr)
		}
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, &HandshakeError{StatusCode: resp.StatusCode, Err: err}
		}
		return nil, fmt.Errorf("engineio: dial: %w", err)
	}
	limit := opts.MaxPayload
	if limit == 0 {
		limit = DefaultMaxIncoming
	}
	if limit < 0 {
		limit = -1
	}
	// The open packet is read under a fixed limit of its own.
	ws.SetReadLimit(64 << 10)
	typ, frame, err := ws.Read(ctx)
	if err != nil {
		_ = ws.CloseNow()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("engineio: waiting for the open packet: %w", ctxErr)
		}
		return nil, fmt.Errorf("engineio: waiting for the open packet: %w", err)
	}
	if typ != websocket.MessageText {
		_ = ws.CloseNow()
		return nil, errors.New("engineio: expected an open packet, got a binary frame")
	}
	hs, err := ParseOpen(frame)
	if err != nil {
		_ = ws.CloseNow()
		return nil, err
	}
	hs.PingInterval = min(hs.PingInterval, MaxPingInterval)
	hs.PingTimeout = min(hs.PingTimeout, MaxPingTimeout)
	ws.SetReadLimit(limit)

	return newConn(ws, ct.stream, hs), nil
}

// Handshake returns the content of the server's open packet, its heartbeat
// figures clamped to MaxPingInterval and MaxPingTimeout.
func (c *Conn) Handshake() Handshake { return c.hs }

// Read returns the next incoming message, in arrival order, reading from
// the network itself (see Conn). After the connection ended it returns the
// *CloseError (matching ErrClosed): Close, or the end of the connection for
// any other reason (ping timeout included), makes a pending Read return it.
// A ctx that can end is watched for the call (at the cost of a
// registration per call; pass context.Background() for none), and if it
// ends while Read waits for the network the connection is dropped with
// reason ReasonForcedClose, since a read cannot be abandoned halfway
// through a frame; Read then returns ctx.Err(). A ctx that has already
// ended leaves the connection as it is. Read must not be called
// concurrently with itself.
func (c *Conn) Read(ctx context.Context) (Message, error) { return c.read(ctx) }

// Send writes msgs back to back (no other message of this connection in
// between) and returns once they were handed to the network. If ctx ends
// while they are still queued they are not written, the error matches both
// ctx's error and ErrNotSent, and the connection is unaffected. If the
// connection ends first, or their write fails, the error matches ErrClosed,
// and also ErrNotSent when no byte of them left (see ErrNotSent); a failed
// write ends the connection. A message larger than the server's maxPayload
// is refused with ErrPayloadTooLarge.
func (c *Conn) Send(ctx context.Context, msgs ...Message) error { return c.send(ctx, nil, msgs) }

// SendUntil is Send bounded by expire as well as by ctx: a value received
// from expire (typically a timer's channel) acts as ctx reaching a deadline
// would, and the error then matches context.DeadlineExceeded in place of
// ctx's error. It spares the caller a context per call when a timeout is
// all it adds. A nil expire never fires.
func (c *Conn) SendUntil(ctx context.Context, expire <-chan time.Time, msgs ...Message) error {
	return c.send(ctx, expire, msgs)
}

// Queue is Send without waiting: it appends msgs to the write queue and
// returns at once. It fails only if the connection has ended (ErrNotSent) or
// a message is too large.
func (c *Conn) Queue(msgs ...Message) error { return c.queue(msgs) }

// Close ends the connection with reason ReasonForcedClose: queued messages
// are flushed, the WebSocket close handshake is performed, each step bounded
// to about a second, and Close returns after the connection's goroutines
// have exited. It is idempotent and always returns nil.
func (c *Conn) Close() error {
	c.closeGracefully()
	return nil
}

// Done is closed once the connection has ended, its WebSocket is closed and
// its short-lived writers have exited; a pending Read returns at once then,
// if it has not yet.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns nil while the connection is open, then its *CloseError.
func (c *Conn) Err() error { return c.err() }

// Reason returns the close reason (one of the Reason* constants), or "" while
// the connection is open.
func (c *Conn) Reason() string { return c.reason() }
