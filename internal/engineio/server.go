package engineio

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Server defaults beyond the reference ones.
const (
	// DefaultWriteQueueLimit is the default number of queued outgoing
	// message groups after which a server connection is dropped.
	DefaultWriteQueueLimit = 4096
	// DefaultWriteTimeout is the default bound on one server write.
	DefaultWriteTimeout = 10 * time.Second
)

// ServerOptions configures a Server. The zero value is usable.
type ServerOptions struct {
	// PingInterval is how often a ping is sent. Zero means
	// DefaultPingInterval.
	PingInterval time.Duration
	// PingTimeout is how long to wait for the pong. Zero means
	// DefaultPingTimeout.
	PingTimeout time.Duration
	// MaxPayload caps one incoming message (bytes); it is also announced to
	// clients in the open packet. Zero means DefaultMaxPayload.
	MaxPayload int64
	// Path is the endpoint path; other paths get 404. Empty means
	// DefaultPath. "/socket.io" and "/socket.io/" are both accepted.
	Path string
	// WriteQueueLimit is how many outgoing message groups may wait for a slow
	// peer before the connection is dropped. Zero means
	// DefaultWriteQueueLimit.
	WriteQueueLimit int
	// WriteTimeout bounds one write; a peer that does not take the bytes in
	// time is dropped. Zero means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// OnConnection is called for every new connection, after the open packet
	// was sent and before any message is read, from the HTTP handler
	// goroutine. It must return quickly: start a goroutine that calls Read.
	OnConnection func(*ServerConn)
}

// Server is the server side of Engine.IO over WebSocket, as an http.Handler.
type Server struct {
	opts ServerOptions
	path string

	mu     sync.Mutex
	conns  map[*ServerConn]struct{}
	paused bool
	closed bool
	wg     sync.WaitGroup
}

// NewServer returns a Server. Mount it on the endpoint path (or at the root:
// it checks the path itself).
func NewServer(opts ServerOptions) *Server {
	if opts.PingInterval <= 0 {
		opts.PingInterval = DefaultPingInterval
	}
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = DefaultPingTimeout
	}
	if opts.MaxPayload <= 0 {
		opts.MaxPayload = DefaultMaxPayload
	}
	if opts.WriteQueueLimit <= 0 {
		opts.WriteQueueLimit = DefaultWriteQueueLimit
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	p := opts.Path
	if p == "" {
		p = DefaultPath
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return &Server{opts: opts, path: strings.TrimSuffix(p, "/"), conns: make(map[*ServerConn]struct{})}
}

// Engine.IO error codes of the reference server.
const (
	errCodeTransportUnknown = 0
	errCodeSessionUnknown   = 1
	errCodeBadRequest       = 3
	errCodeUnsupportedProto = 5
)

func writeError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg})
}

// newID returns a random URL-safe id of 20 characters.
func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ServeHTTP accepts the WebSocket upgrade, sends the open packet, calls
// OnConnection and then serves the connection until it ends.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.TrimSuffix(r.URL.Path, "/") != s.path {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	if q.Get("EIO") != "4" {
		writeError(w, http.StatusBadRequest, errCodeUnsupportedProto, "Unsupported protocol version")
		return
	}
	if q.Get("transport") != "websocket" {
		writeError(w, http.StatusBadRequest, errCodeTransportUnknown, "Transport unknown")
		return
	}
	if q.Get("sid") != "" {
		writeError(w, http.StatusBadRequest, errCodeSessionUnknown, "Session ID unknown")
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		writeError(w, http.StatusBadRequest, errCodeBadRequest, "Bad request")
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "server closed", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	hw := &hijackWatcher{ResponseWriter: w}
	// Cross-origin requests (from a browser page of another origin) are
	// refused; requests without an Origin header are accepted.
	ws, err := websocket.Accept(hw, r, nil)
	if err != nil {
		return // Accept wrote the response
	}
	ws.SetReadLimit(s.opts.MaxPayload)

	sc := newServerConn(ws, hw.conn, newID(), r, s)

	hs, _ := json.Marshal(Handshake{
		SID:          sc.id,
		Upgrades:     []string{},
		PingInterval: s.opts.PingInterval,
		PingTimeout:  s.opts.PingTimeout,
		MaxPayload:   s.opts.MaxPayload,
	})
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.WriteTimeout)
	err = ws.Write(ctx, websocket.MessageText, append([]byte{packetOpen}, hs...))
	cancel()
	if err != nil {
		_ = ws.CloseNow()
		return
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.CloseNow()
		return
	}
	sc.paused.Store(s.paused)
	s.conns[sc] = struct{}{}
	s.mu.Unlock()
	sc.onEnd = func() {
		s.mu.Lock()
		delete(s.conns, sc)
		s.mu.Unlock()
	}

	sc.start()
	if s.opts.OnConnection != nil {
		s.opts.OnConnection(sc)
	}
	sc.readLoop() // on the HTTP handler's goroutine
	<-sc.done
}

// hijackWatcher keeps the network connection websocket.Accept hijacks, so
// that a graceful close can cut it when the peer never answers.
type hijackWatcher struct {
	http.ResponseWriter
	conn net.Conn
}

// Hijack implements http.Hijacker.
func (h *hijackWatcher) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	h.conn = nc
	return nc, brw, err
}

// Conns returns the live connections.
func (s *Server) Conns() []*ServerConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connsLocked()
}

// connsLocked lists the live connections. Caller holds s.mu.
func (s *Server) connsLocked() []*ServerConn {
	out := make([]*ServerConn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// DropAll ends every live connection abruptly: the TCP connection is closed
// without a WebSocket close handshake, as a network failure would. Clients
// see "transport close".
func (s *Server) DropAll() {
	for _, c := range s.Conns() {
		c.Drop()
	}
}

// PauseHeartbeats stops sending pings (and stops expecting pongs) on every
// live connection and on connections accepted later, so that clients detect
// a ping timeout. Messages still flow.
func (s *Server) PauseHeartbeats() { s.setPaused(true) }

// ResumeHeartbeats undoes PauseHeartbeats: pings start again one
// PingInterval later.
func (s *Server) ResumeHeartbeats() { s.setPaused(false) }

func (s *Server) setPaused(p bool) {
	s.mu.Lock()
	s.paused = p
	conns := s.connsLocked()
	s.mu.Unlock()
	for _, c := range conns {
		c.setPaused(p)
	}
}

// Close refuses new connections, closes every live connection (gracefully,
// each bounded to about two seconds) and returns once every goroutine the
// server started has exited. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	conns := s.connsLocked()
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.Close()
		}()
	}
	wg.Wait()
	s.wg.Wait()
}
