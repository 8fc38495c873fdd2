package engineio

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// ServerConn is one client connection on a Server. Its methods are safe for
// concurrent use, except Read, which must be called from one goroutine at a
// time.
//
// A server connection runs a reader on the HTTP handler's goroutine, which
// reads frames, records pongs and appends message packets to an unbounded
// in-memory queue that Read takes from (a slow consumer delays only
// itself, never the heartbeat; the cost is memory), and a writer goroutine,
// which writes the queued groups in order and runs the heartbeat: a ping
// every pingInterval, the connection dropped when its pong does not come
// within pingTimeout.
type ServerConn struct {
	frameConn
	id  string
	req *http.Request
	srv *Server

	wqLimit                   int // 0 = unlimited
	pingInterval, pingTimeout time.Duration

	// Guarded by mu.
	rq           fifo[Message]
	readerExited bool

	rnotify    chan struct{} // the reader queued a message or exited
	wnotify    chan struct{} // the write queue has items
	stopping   chan struct{} // closed when termination is decided
	writerDone chan struct{} // the writer goroutine exited
	pongRecv   chan struct{} // the reader saw a pong
	hbChange   chan struct{} // the pause state changed
	paused     atomic.Bool   // heartbeat paused
}

// newServerConn returns the connection over ws, with the Server's options;
// raw is the network connection under ws (nil if unknown). live counts the
// writer goroutine and the reader.
func newServerConn(ws *websocket.Conn, raw net.Conn, id string, r *http.Request, s *Server) *ServerConn {
	sc := &ServerConn{
		id:           id,
		req:          r,
		srv:          s,
		wqLimit:      s.opts.WriteQueueLimit,
		pingInterval: s.opts.PingInterval,
		pingTimeout:  s.opts.PingTimeout,
		rnotify:      make(chan struct{}, 1),
		wnotify:      make(chan struct{}, 1),
		stopping:     make(chan struct{}),
		writerDone:   make(chan struct{}),
		pongRecv:     make(chan struct{}, 1),
		hbChange:     make(chan struct{}, 1),
	}
	sc.ws, sc.writeTimeout = ws, s.opts.WriteTimeout
	if raw != nil {
		sc.raw = raw
	}
	sc.done = make(chan struct{})
	sc.ending = func(bool) { close(sc.stopping) }
	sc.heartbeat = sc.onHeartbeat
	return sc
}

// start launches the writer; the caller runs readLoop.
func (sc *ServerConn) start() {
	sc.live.Store(2) // writer and reader
	go sc.writeLoop()
}

// errInvalidHeartbeat ends a server connection whose client sent a ping.
var errInvalidHeartbeat = errors.New("engineio: invalid heartbeat direction")

// onHeartbeat records a pong; a ping from a client is a protocol error.
func (sc *ServerConn) onHeartbeat(packet byte) error {
	if packet == packetPing {
		return errInvalidHeartbeat
	}
	notify(sc.pongRecv)
	return nil
}

// ID returns the Engine.IO session id.
func (sc *ServerConn) ID() string { return sc.id }

// Request returns the handshake request (headers, query, remote address).
// Its context and body must not be used.
func (sc *ServerConn) Request() *http.Request { return sc.req }

// Read returns the next incoming message in arrival order. Messages that
// arrived before the connection ended are still returned; after them Read
// returns the *CloseError (matching ErrClosed). If ctx ends first, Read
// returns ctx.Err() and the connection is unaffected.
func (sc *ServerConn) Read(ctx context.Context) (Message, error) {
	for {
		sc.mu.Lock()
		if m, ok := sc.rq.pop(); ok {
			sc.mu.Unlock()
			return m, nil
		}
		if sc.readerExited {
			err := sc.closeErr
			sc.mu.Unlock()
			return Message{}, err
		}
		sc.mu.Unlock()
		select {
		case <-sc.rnotify:
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}

// Send queues msgs to be written back to back and returns at once. If the
// peer is so slow that WriteQueueLimit groups are already waiting, the
// connection is dropped (reason "transport error", cause ErrWriteQueueFull).
// After the connection ended it returns an error matching ErrNotSent.
func (sc *ServerConn) Send(msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	sc.mu.Lock()
	if sc.ended {
		defer sc.mu.Unlock()
		return sc.notSent()
	}
	if sc.wqLimit > 0 && sc.wq.len() >= sc.wqLimit {
		sc.mu.Unlock()
		sc.terminate(ReasonTransportError, ErrWriteQueueFull, false)
		sc.mu.Lock()
		defer sc.mu.Unlock()
		return sc.notSent()
	}
	sc.wq.push(&writeItem{msgs: msgs})
	sc.mu.Unlock()
	notify(sc.wnotify)
	return nil
}

// Close flushes queued messages and closes the connection with a WebSocket
// close handshake (reason "forced close"), each step bounded to about a
// second; it waits for the connection's goroutines. Idempotent; always
// returns nil.
func (sc *ServerConn) Close() error {
	if !sc.terminate(ReasonForcedClose, nil, true) {
		<-sc.done
		return nil
	}
	select {
	case <-sc.writerDone:
	case <-time.After(closeGrace):
		_ = sc.ws.CloseNow() // abort a write stuck on a dead peer
		<-sc.writerDone
	}
	sc.closeHandshake()
	<-sc.done
	return nil
}

// Drop closes the TCP connection at once, without a close handshake (a
// simulated network failure), and waits for the connection's goroutines.
func (sc *ServerConn) Drop() { sc.drop(ReasonForcedClose) }

// PauseHeartbeat stops pings (and the pong deadline) on this connection.
func (sc *ServerConn) PauseHeartbeat() { sc.setPaused(true) }

// ResumeHeartbeat restarts pings on this connection one PingInterval later.
func (sc *ServerConn) ResumeHeartbeat() { sc.setPaused(false) }

func (sc *ServerConn) setPaused(p bool) {
	if sc.paused.Swap(p) != p {
		notify(sc.hbChange)
	}
}

// Done is closed once the connection has ended and its goroutines exited.
func (sc *ServerConn) Done() <-chan struct{} { return sc.done }

// Err returns nil while the connection is open, then its *CloseError.
func (sc *ServerConn) Err() error { return sc.err() }

// Reason returns the close reason, or "" while open.
func (sc *ServerConn) Reason() string { return sc.reason() }

// readLoop is the reader: it queues every message for Read until the
// connection ends.
func (sc *ServerConn) readLoop() {
	defer sc.exited()
	defer func() {
		sc.mu.Lock()
		sc.readerExited = true
		sc.mu.Unlock()
		notify(sc.rnotify)
	}()
	for {
		m, err := sc.next()
		if err != nil {
			return
		}
		sc.mu.Lock()
		sc.rq.push(m)
		sc.mu.Unlock()
		notify(sc.rnotify)
	}
}

// writeLoop is the writer goroutine: it writes the queued groups in order
// and runs the heartbeat, until the connection ends (after draining the
// queue when the end is graceful).
func (sc *ServerConn) writeLoop() {
	defer sc.exited()
	defer close(sc.writerDone)
	defer sc.failQueue()

	pingT := time.NewTimer(sc.pingInterval)
	defer pingT.Stop()
	if sc.paused.Load() {
		pingT.Stop()
	}
	var pongT *time.Timer
	var pongC <-chan time.Time // nil while no pong is awaited
	stopPong := func() {
		if pongT != nil {
			pongT.Stop()
			pongT, pongC = nil, nil
		}
	}
	defer stopPong()

	for {
		sc.mu.Lock()
		if sc.ended && !sc.drain {
			sc.mu.Unlock()
			return
		}
		if it, ok := sc.wq.pop(); ok {
			sc.mu.Unlock()
			if !it.state.CompareAndSwap(itemQueued, itemTaken) {
				continue // cancelled by its sender
			}
			err := sc.writeOut(it)
			it.finish(err)
			if err != nil {
				return
			}
			continue
		}
		if sc.ended { // draining and nothing left
			sc.mu.Unlock()
			return
		}
		sc.mu.Unlock()

		select {
		case <-sc.wnotify:
		case <-sc.stopping:
		case <-pingT.C:
			if sc.paused.Load() {
				continue
			}
			if err := sc.writeControl(packetPing); err != nil {
				sc.terminate(ReasonTransportError, err, false)
				return
			}
			stopPong()
			pongT = time.NewTimer(sc.pingTimeout)
			pongC = pongT.C
		case <-pongC:
			pongT, pongC = nil, nil
			if !sc.paused.Load() {
				sc.terminate(ReasonPingTimeout, nil, false)
				return
			}
		case <-sc.pongRecv:
			if pongC != nil {
				stopPong()
				pingT.Reset(sc.pingInterval)
			}
		case <-sc.hbChange:
			stopPong()
			if sc.paused.Load() {
				pingT.Stop()
			} else {
				pingT.Reset(sc.pingInterval)
			}
		}
	}
}
