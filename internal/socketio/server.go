package socketio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/symbia-labs/messaging-go/internal/engineio"
)

// Server-side disconnect reasons (the reference server's names), passed to
// ServerSocket.OnDisconnect handlers. Transport-level endings use the
// engineio reasons ("transport close", "transport error", "ping timeout").
const (
	ReasonServerNamespaceDisconnect = "server namespace disconnect"
	ReasonClientNamespaceDisconnect = "client namespace disconnect"
	ReasonServerShuttingDown        = "server shutting down"
	ReasonForcedClose               = "forced close"
)

// DefaultServerConnectTimeout is how long a new connection may stay without
// joining any namespace (the reference server's connectTimeout).
const DefaultServerConnectTimeout = 45 * time.Second

// AuthError lets Authenticate refuse a connection with extra data: the
// client receives CONNECT_ERROR {"message": Message, "data": Data}. Any other
// error is sent as {"message": err.Error()}.
type AuthError struct {
	Message string
	Data    any
}

// Error implements error.
func (e *AuthError) Error() string { return e.Message }

// ServerOptions configures a Server. The zero value is usable: namespace "/"
// only, every connection accepted.
type ServerOptions struct {
	// PingInterval and PingTimeout are passed to the engineio server (see
	// engineio.ServerOptions); its other settings keep their defaults.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// ConnectTimeout closes a connection that joined no namespace in time.
	// Zero means DefaultServerConnectTimeout.
	ConnectTimeout time.Duration
	// Namespaces lists the namespaces besides "/" that clients may join;
	// others get CONNECT_ERROR "Invalid namespace".
	Namespaces []string
	// Authenticate, if set, is called for every namespace CONNECT with the
	// handshake request and the client's auth payload (nil if none). A nil
	// error accepts the connection, and principal is kept on the socket; an
	// error refuses it with CONNECT_ERROR (see AuthError).
	Authenticate func(r *http.Request, auth json.RawMessage) (principal any, err error)
	// OnConnection is called for every accepted namespace connection, after
	// the CONNECT reply was sent and before the socket's first event is
	// handled: register the socket's handlers here. It runs on the
	// connection's goroutine.
	OnConnection func(*ServerSocket)
}

// Server is a Socket.IO server (an http.Handler) for tests and fakes.
//
// Each connection has one goroutine that decodes packets and runs the
// handlers of its sockets in arrival order, so a slow handler delays only
// its own connection (heartbeats are handled by engineio meanwhile).
type Server struct {
	opts ServerOptions
	eio  *engineio.Server

	mu      sync.Mutex
	sockets map[*ServerSocket]struct{}
	closing bool
	wg      sync.WaitGroup
}

// NewServer returns a Server.
func NewServer(opts ServerOptions) *Server {
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultServerConnectTimeout
	}
	s := &Server{opts: opts, sockets: make(map[*ServerSocket]struct{})}
	s.eio = engineio.NewServer(engineio.ServerOptions{
		PingInterval: opts.PingInterval,
		PingTimeout:  opts.PingTimeout,
		OnConnection: s.onEngineConn,
	})
	return s
}

// ServeHTTP serves the Socket.IO endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.eio.ServeHTTP(w, r) }

// Engine returns the underlying engineio server.
func (s *Server) Engine() *engineio.Server { return s.eio }

// Sockets returns the live namespace sockets.
func (s *Server) Sockets() []*ServerSocket {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*ServerSocket, 0, len(s.sockets))
	for so := range s.sockets {
		out = append(out, so)
	}
	return out
}

// DropAll closes every connection abruptly, as a network failure would:
// clients see "transport close" and reconnect.
func (s *Server) DropAll() { s.eio.DropAll() }

// PauseHeartbeats stops pings on every connection (clients then detect a
// ping timeout); see engineio.Server.PauseHeartbeats.
func (s *Server) PauseHeartbeats() { s.eio.PauseHeartbeats() }

// ResumeHeartbeats restarts pings.
func (s *Server) ResumeHeartbeats() { s.eio.ResumeHeartbeats() }

// Close closes every connection and returns once every goroutine of the
// server has exited. Handlers see reason "server shutting down".
func (s *Server) Close() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.eio.Close()
	s.wg.Wait()
}

func (s *Server) allowed(nsp string) bool {
	if nsp == "/" {
		return true
	}
	for _, n := range s.opts.Namespaces {
		if n == nsp {
			return true
		}
	}
	return false
}

func (s *Server) onEngineConn(ec *engineio.ServerConn) {
	s.wg.Add(1)
	go s.serveConn(ec)
}

// sconn is the per-connection state of the server.
type sconn struct {
	srv *Server
	ec  *engineio.ServerConn

	mu     sync.Mutex
	joined map[string]*ServerSocket
}

func (sc *sconn) socket(nsp string) *ServerSocket {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.joined[nsp]
}

func (sc *sconn) send(p *Packet) error {
	msgs, err := p.Encode()
	if err != nil {
		return err
	}
	return sc.ec.Send(msgs...)
}

func (s *Server) serveConn(ec *engineio.ServerConn) {
	defer s.wg.Done()
	sc := &sconn{srv: s, ec: ec, joined: make(map[string]*ServerSocket)}
	timer := time.AfterFunc(s.opts.ConnectTimeout, func() {
		if len(sc.snapshot()) == 0 {
			ec.Drop()
		}
	})
	defer timer.Stop()
	var dec Decoder
	for {
		m, err := ec.Read(context.Background())
		if err != nil {
			reason := ec.Reason()
			if reason == engineio.ReasonForcedClose {
				s.mu.Lock()
				if s.closing {
					reason = ReasonServerShuttingDown
				}
				s.mu.Unlock()
			}
			for _, so := range sc.snapshot() {
				so.ended(reason, false)
			}
			return
		}
		p, err := dec.Decode(m)
		if err != nil {
			ec.Drop() // a parse error
			continue
		}
		if p == nil {
			continue
		}
		if !s.handle(sc, p) {
			ec.Drop()
		}
	}
}

func (sc *sconn) snapshot() []*ServerSocket {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	out := make([]*ServerSocket, 0, len(sc.joined))
	for _, so := range sc.joined {
		out = append(out, so)
	}
	return out
}

// handle processes one packet; false means a protocol violation that closes
// the connection.
func (s *Server) handle(sc *sconn, p *Packet) bool {
	nsp := p.nsp()
	so := sc.socket(nsp)
	switch p.Type {
	case PacketConnect:
		if so != nil {
			return false // second CONNECT for a joined namespace
		}
		s.connect(sc, nsp, p.Data)
		return true
	case PacketDisconnect:
		if so == nil {
			return false
		}
		so.ended(ReasonClientNamespaceDisconnect, false)
		return true
	case PacketEvent, PacketBinaryEvent:
		if so == nil {
			return false
		}
		so.handleEvent(p)
		return true
	case PacketAck, PacketBinaryAck:
		if so == nil {
			return false
		}
		deliverAck(&so.mu, &so.acks, p)
		return true
	}
	return false // CONNECT_ERROR from a client
}

func (s *Server) connect(sc *sconn, nsp string, auth json.RawMessage) {
	if !s.allowed(nsp) {
		_ = sc.send(connectErrorPacket(nsp, "Invalid namespace", nil))
		return
	}
	var principal any
	if s.opts.Authenticate != nil {
		var err error
		principal, err = s.opts.Authenticate(sc.ec.Request(), auth)
		if err != nil {
			var ae *AuthError
			if errors.As(err, &ae) {
				_ = sc.send(connectErrorPacket(nsp, ae.Message, ae.Data))
			} else {
				_ = sc.send(connectErrorPacket(nsp, err.Error(), nil))
			}
			return
		}
	}
	so := &ServerSocket{
		id:        newSocketID(),
		nsp:       nsp,
		conn:      sc,
		principal: principal,
		auth:      auth,
	}
	reply, _ := json.Marshal(map[string]string{"sid": so.id})
	sc.mu.Lock()
	sc.joined[nsp] = so
	sc.mu.Unlock()
	s.mu.Lock()
	s.sockets[so] = struct{}{}
	s.mu.Unlock()
	_ = sc.send(&Packet{Type: PacketConnect, Namespace: nsp, Data: reply})
	if s.opts.OnConnection != nil {
		s.opts.OnConnection(so)
	}
}

func connectErrorPacket(nsp, msg string, data any) *Packet {
	body := map[string]any{"message": msg}
	if data != nil {
		body["data"] = data
	}
	b, err := marshal(body)
	if err != nil {
		b, _ = marshal(map[string]any{"message": msg})
	}
	return &Packet{Type: PacketConnectError, Namespace: nsp, Data: b}
}

func newSocketID() string {
	var b [12]byte
	_, _ = randRead(b[:])
	return base64URL(b[:])
}

// EventHandler handles one event from a client. ack is nil when the client
// did not ask for an ack; otherwise it sends the ack (once; later calls are
// ignored) without blocking.
type EventHandler func(event string, args []json.RawMessage, ack func(args ...any))

// ServerSocket is one client connection to one namespace. Its methods are
// safe for concurrent use.
type ServerSocket struct {
	id        string
	nsp       string
	conn      *sconn
	principal any
	auth      json.RawMessage

	mu           sync.Mutex
	onEvent      EventHandler
	onDisconnect []func(reason string)
	closed       bool
	reason       string
	acks         ackTable
}

// ID returns the socket id (not the Engine.IO session id).
func (so *ServerSocket) ID() string { return so.id }

// Namespace returns the socket's namespace.
func (so *ServerSocket) Namespace() string { return so.nsp }

// Principal returns what Authenticate returned for this socket.
func (so *ServerSocket) Principal() any { return so.principal }

// Auth returns the client's CONNECT auth payload (nil if none).
func (so *ServerSocket) Auth() json.RawMessage { return so.auth }

// Request returns the handshake request (headers, query). Its context and
// body must not be used.
func (so *ServerSocket) Request() *http.Request { return so.conn.ec.Request() }

// Conn returns the underlying Engine.IO connection (shared by the sockets
// of one client on several namespaces).
func (so *ServerSocket) Conn() *engineio.ServerConn { return so.conn.ec }

// OnEvent sets the event handler (replacing any previous one). Events from
// one connection are handled one at a time, in arrival order, on the
// connection's goroutine.
func (so *ServerSocket) OnEvent(h EventHandler) {
	so.mu.Lock()
	so.onEvent = h
	so.mu.Unlock()
}

// OnDisconnect adds a handler called once when the socket ends, with the
// reason. If the socket already ended, h is called at once.
func (so *ServerSocket) OnDisconnect(h func(reason string)) {
	so.mu.Lock()
	if so.closed {
		r := so.reason
		so.mu.Unlock()
		h(r)
		return
	}
	so.onDisconnect = append(so.onDisconnect, h)
	so.mu.Unlock()
}

// Connected reports whether the socket is still connected.
func (so *ServerSocket) Connected() bool {
	so.mu.Lock()
	defer so.mu.Unlock()
	return !so.closed
}

// ErrSocketClosed is returned when emitting on a socket that ended.
var ErrSocketClosed = errors.New("socketio: socket disconnected")

// Emit sends an event to the client. It does not block: the packet is
// queued (a client too slow to drain its queue is dropped).
func (so *ServerSocket) Emit(event string, args ...any) error {
	if !so.Connected() {
		return ErrSocketClosed
	}
	p, err := EventPacket(so.nsp, nil, event, args...)
	if err != nil {
		return err
	}
	return so.conn.send(p)
}

// EmitWithAck sends an event asking the client for an ack and waits for it,
// bounded by ctx. It fails with an error matching ErrDisconnected if the
// socket ends first.
func (so *ServerSocket) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	so.mu.Lock()
	if so.closed {
		so.mu.Unlock()
		return nil, ErrSocketClosed
	}
	id, ch := so.acks.add()
	so.mu.Unlock()
	drop := func() {
		so.mu.Lock()
		so.acks.drop(id)
		so.mu.Unlock()
	}
	p, err := EventPacket(so.nsp, &id, event, args...)
	if err == nil {
		err = so.conn.send(p)
	}
	if err != nil {
		drop()
		return nil, err
	}
	select {
	case r := <-ch:
		return r.args, r.err
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
}

// Disconnect sends a DISCONNECT packet (the client reports "io server
// disconnect" and does not reconnect) and ends the socket with reason
// "server namespace disconnect". The connection itself stays open.
func (so *ServerSocket) Disconnect() {
	so.ended(ReasonServerNamespaceDisconnect, true)
}

// DropConnection closes the socket's whole connection abruptly (a simulated
// network failure).
func (so *ServerSocket) DropConnection() { so.conn.ec.Drop() }

// ended finishes the socket once.
func (so *ServerSocket) ended(reason string, sendDisconnect bool) {
	so.mu.Lock()
	if so.closed {
		so.mu.Unlock()
		return
	}
	so.closed = true
	so.reason = reason
	handlers := so.onDisconnect
	so.onDisconnect = nil
	so.acks.failAll(&DisconnectError{Reason: reason})
	so.mu.Unlock()

	sc := so.conn
	sc.mu.Lock()
	if sc.joined[so.nsp] == so {
		delete(sc.joined, so.nsp)
	}
	sc.mu.Unlock()
	srv := sc.srv
	srv.mu.Lock()
	delete(srv.sockets, so)
	srv.mu.Unlock()
	if sendDisconnect {
		_ = sc.send(&Packet{Type: PacketDisconnect, Namespace: so.nsp})
	}
	for _, h := range handlers {
		h(reason)
	}
}

func (so *ServerSocket) handleEvent(p *Packet) {
	name, args, err := p.Event()
	if err != nil {
		return
	}
	so.mu.Lock()
	h := so.onEvent
	so.mu.Unlock()
	var ack func(args ...any)
	if p.ID != nil {
		id := *p.ID
		var once sync.Once
		ack = func(args ...any) {
			once.Do(func() {
				ap, err := AckPacket(so.nsp, id, args...)
				if err != nil {
					// The handler's own arguments cannot be encoded: no ack
					// is sent, and the client's call times out.
					return
				}
				_ = so.conn.send(ap)
			})
		}
	}
	if h != nil {
		h(name, args, ack)
	}
}

// String describes the socket for logs.
func (so *ServerSocket) String() string { return fmt.Sprintf("socket %s on %s", so.id, so.nsp) }

func randRead(b []byte) (int, error) { return rand.Read(b) }

func base64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
