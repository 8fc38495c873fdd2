package messagingtest

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Defaults of the real service.
const (
	// DefaultPingInterval is how often the service pings a socket.
	DefaultPingInterval = 25 * time.Second
	// DefaultPingTimeout is how long the service waits for a pong.
	DefaultPingTimeout = 60 * time.Second
	// DefaultParticipantCacheTTL is how long the socket side trusts a
	// positive participant check.
	DefaultParticipantCacheTTL = time.Minute
)

// Option configures a Server.
type Option func(*config)

type config struct {
	addr         string
	now          func() time.Time
	pingInterval time.Duration
	pingTimeout  time.Duration
	cacheTTL     time.Duration
}

func defaultConfig() config {
	return config{
		addr:         "127.0.0.1:0",
		now:          time.Now,
		pingInterval: DefaultPingInterval,
		pingTimeout:  DefaultPingTimeout,
		cacheTTL:     DefaultParticipantCacheTTL,
	}
}

// WithAddr makes the server listen on addr (host:port) instead of a
// random loopback port, for tests that must know the port in advance.
func WithAddr(addr string) Option { return func(c *config) { c.addr = addr } }

// WithClock replaces time.Now for every timestamp the server writes
// (created_at, updated_at, effectiveAt, …) and for the participant cache.
// Tests use it to make timestamps equal or far apart. now is called from
// many goroutines: it must be safe for concurrent use.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithHeartbeat sets the socket heartbeat: a ping every interval, and the
// connection is dropped when no pong came within timeout. The service's
// defaults, 25 s and 60 s, are far too slow for tests of dead connections.
func WithHeartbeat(interval, timeout time.Duration) Option {
	return func(c *config) { c.pingInterval, c.pingTimeout = interval, timeout }
}

// WithParticipantCacheTTL sets how long the socket side trusts a positive
// participant check (default a minute, as the service). While it does, a
// participant removed over REST can still send over the socket. Zero
// turns the cache off: every socket check reads the store.
func WithParticipantCacheTTL(d time.Duration) Option { return func(c *config) { c.cacheTTL = d } }

// Server is an in-memory Symbia Messaging Service: the REST API and the
// Socket.IO events, with the real service's answers, on a loopback port.
// Its methods are safe for concurrent use.
type Server struct {
	cfg   config
	store *store
	hub   *hub
	cache *participantCache

	mu       sync.Mutex
	tokens   map[string]Principal
	apiKeys  map[string]Principal
	addr     string // the address of the first Start, reused by later ones
	cur      *run   // nil while not serving
	closed   bool
	failN    int
	failCode int
	failWait time.Duration
	latency  time.Duration
	paused   bool // heartbeats paused, also for later runs
	requests int64
	conns    int64 // sockets ever connected

	transport *http.Transport
}

// NewServer starts and returns a server listening on a random loopback
// port (or the WithAddr address). The caller must Close it.
func NewServer(opts ...Option) *Server {
	s := NewUnstartedServer(opts...)
	s.Start()
	return s
}

// NewUnstartedServer returns a server that is not listening yet; call
// Start. It panics on invalid options.
func NewUnstartedServer(opts ...Option) *Server {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case cfg.now == nil:
		panic("messagingtest: WithClock(nil)")
	case cfg.pingInterval <= 0 || cfg.pingTimeout <= 0:
		panic("messagingtest: WithHeartbeat needs positive durations")
	case cfg.cacheTTL < 0:
		panic("messagingtest: negative WithParticipantCacheTTL")
	}
	s := &Server{
		cfg:     cfg,
		store:   newStore(cfg.now),
		hub:     newHub(),
		tokens:  make(map[string]Principal),
		apiKeys: make(map[string]Principal),

		transport: &http.Transport{},
	}
	s.cache = newParticipantCache(cfg.now, cfg.cacheTTL, s.store)
	return s
}

// run is one period of serving, from Start to Stop or Close.
type run struct {
	ln     net.Listener
	srv    *http.Server
	sock   *socketLayer
	done   chan struct{} // closed when the run ends: cuts injected latency short
	served chan struct{} // closed when Serve has returned

	mu       sync.Mutex
	inflight int
	idle     chan struct{} // closed when inflight drops to 0 after stopping
	stopping bool
	conns    map[net.Conn]bool
}

// Start starts serving. After Stop it serves again on the same address
// with the same state, like a restarted service whose database survived.
// It panics if the server is closed or already serving, or if it cannot
// listen.
func (s *Server) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		panic("messagingtest: Start after Close")
	}
	if s.cur != nil {
		panic("messagingtest: Start of a server that is serving")
	}
	addr := s.addr
	if addr == "" {
		addr = s.cfg.addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		panic(fmt.Sprintf("messagingtest: failed to listen on %s: %v", addr, err))
	}
	s.addr = ln.Addr().String()
	r := &run{
		ln:     ln,
		done:   make(chan struct{}),
		served: make(chan struct{}),
		conns:  make(map[net.Conn]bool),
	}
	r.sock = newSocketLayer(s, r.done, s.paused)
	r.srv = &http.Server{
		Handler:           s.handler(r),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState:         r.connState,
		ErrorLog:          discardLog,
	}
	s.cur = r
	go func() {
		defer close(r.served)
		_ = r.srv.Serve(ln)
	}()
}

// URL returns the base URL, e.g. "http://127.0.0.1:40123", for both REST
// and the socket. It is empty before the first Start.
func (s *Server) URL() string {
	a := s.Addr()
	if a == "" {
		return ""
	}
	return "http://" + a
}

// Addr returns the listening address (host:port), empty before the first
// Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Client returns an *http.Client for the server, without credentials. Its
// idle connections are closed by Close.
func (s *Server) Client() *http.Client { return &http.Client{Transport: s.transport} }

// Stop stops serving as a crashing service would: it closes the listener
// and every HTTP and socket connection at once (sockets see a transport
// close, no DISCONNECT packet), and waits for every handler to return. The
// store, credentials and counters stay; Start serves again on the same
// address. Stop on a server that is not serving does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	r := s.cur
	s.cur = nil
	s.mu.Unlock()
	if r != nil {
		r.stop(false)
	}
}

// Close shuts the server down for good: it stops accepting, lets REST
// requests in flight finish (cutting injected latency short), closes every
// socket and waits until every goroutine it started has returned. Close may
// be called more than once.
func (s *Server) Close() {
	s.mu.Lock()
	r := s.cur
	s.cur = nil
	s.closed = true
	s.mu.Unlock()
	if r != nil {
		r.stop(true)
	}
	s.transport.CloseIdleConnections()
}

func (r *run) stop(graceful bool) {
	close(r.done)
	r.mu.Lock()
	r.stopping = true
	r.mu.Unlock()
	if !graceful {
		r.sock.dropAll()
	}
	r.sock.close()
	if graceful {
		_ = r.srv.Shutdown(context.Background())
	} else {
		_ = r.srv.Close()
	}
	<-r.served
	r.mu.Lock()
	var idle chan struct{}
	if r.inflight > 0 {
		r.idle = make(chan struct{})
		idle = r.idle
	}
	r.mu.Unlock()
	if idle != nil {
		<-idle
	}
}

// enter counts a REST request in; false once the run is stopping.
func (r *run) enter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping {
		return false
	}
	r.inflight++
	return true
}

func (r *run) leave() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight--
	if r.inflight == 0 && r.idle != nil {
		close(r.idle)
		r.idle = nil
	}
}

func (r *run) connState(c net.Conn, st http.ConnState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch st {
	case http.StateNew:
		r.conns[c] = true
	case http.StateHijacked, http.StateClosed:
		delete(r.conns, c)
	}
}

// CloseClientConnections closes every HTTP connection and drops every
// socket, as a network failure would; the server keeps serving.
func (s *Server) CloseClientConnections() {
	r := s.running()
	if r == nil {
		return
	}
	r.mu.Lock()
	for c := range r.conns {
		_ = c.Close()
	}
	r.mu.Unlock()
	r.sock.dropAll()
}

// DropConnections drops every live socket connection at once, without a
// DISCONNECT packet: clients see a transport close and reconnect. REST is
// not affected.
func (s *Server) DropConnections() {
	if r := s.running(); r != nil {
		r.sock.dropAll()
	}
}

// DropConnectionsOf drops every live socket connection of one principal
// (the Principal.ID of AddUser or AddAPIKey, whichever credential each
// socket used), as DropConnections does for all: without a DISCONNECT
// packet, so its clients see a transport close and reconnect. Other
// principals' sockets and REST are not affected. It does nothing when the
// principal has no live socket.
func (s *Server) DropConnectionsOf(principalID string) {
	if r := s.running(); r != nil {
		r.sock.dropPrincipal(principalID)
	}
}

// PauseHeartbeats makes the server stop pinging sockets and stop minding
// missing pongs, so clients detect a dead connection by their own
// heartbeat timeout. ResumeHeartbeats undoes it.
func (s *Server) PauseHeartbeats() { s.setHeartbeats(true) }

// ResumeHeartbeats restarts the heartbeat after PauseHeartbeats.
func (s *Server) ResumeHeartbeats() { s.setHeartbeats(false) }

func (s *Server) setHeartbeats(pause bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paused = pause
	if s.cur != nil {
		s.cur.sock.pauseHeartbeats(pause)
	}
}

// FailNext makes the next n REST requests fail with status and the body
// {"error": <status text>}, before any other processing. A positive
// retryAfter adds a Retry-After header, in whole seconds rounded up. n <= 0
// cancels a pending plan.
func (s *Server) FailNext(n, status int, retryAfter time.Duration) {
	if n > 0 && (status < 100 || status > 999) {
		panic(fmt.Sprintf("messagingtest: FailNext: invalid status %d", status))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failCode, s.failWait = max(n, 0), status, retryAfter
}

// SetLatency delays every REST request, and the handling of every event a
// socket sends, by d (0 removes the delay). Stop and Close cut a delay
// short.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = max(d, 0)
}

// Stats are the server's counters.
type Stats struct {
	// LiveConnections is the number of sockets connected now.
	LiveConnections int
	// Connections is the number of sockets ever accepted.
	Connections int64
	// Requests is the number of REST requests received (failed ones too).
	Requests int64
	// MessagesStored is the number of message rows inserted, control
	// records included; a repeated message id inserts nothing.
	MessagesStored int64
	// EventsBroadcast is the number of server-to-client broadcasts (one per
	// emit to a room or to all sockets, however many sockets receive it).
	// Acks are not counted.
	EventsBroadcast int64
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	live, b := s.hub.counts()
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		LiveConnections: live,
		Connections:     s.conns,
		Requests:        s.requests,
		MessagesStored:  s.store.messagesInserted(),
		EventsBroadcast: b,
	}
}

func (s *Server) running() *run {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

func (s *Server) currentLatency() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latency
}

// sleep waits d or until done is closed.
func sleep(d time.Duration, done <-chan struct{}) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-done:
	}
}

// arrive counts a REST request in and returns the latency to apply.
func (s *Server) arrive() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	return s.latency
}

// takeFailure consumes one injected failure, if any is pending.
func (s *Server) takeFailure() (status int, retryAfter time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failN == 0 {
		return 0, 0, false
	}
	s.failN--
	return s.failCode, s.failWait, true
}

// handler is the HTTP entry point of one run.
func (s *Server) handler(r *run) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !r.enter() {
			w.Header().Set("Connection", "close")
			http.Error(w, "server stopping", http.StatusServiceUnavailable)
			return
		}
		defer r.leave()
		if strings.HasPrefix(req.URL.Path, socketPath) || req.URL.Path == strings.TrimSuffix(socketPath, "/") {
			r.sock.ServeHTTP(w, req)
			return
		}
		sleep(s.arrive(), r.done)
		if status, wait, ok := s.takeFailure(); ok {
			if wait > 0 {
				w.Header().Set("Retry-After", fmt.Sprint(int64((wait+time.Second-1)/time.Second)))
			}
			writeJSON(w, status, errorBody{Error: http.StatusText(status)})
			return
		}
		s.serveREST(w, req)
	})
}

var discardLog = log.New(io.Discard, "", 0)
