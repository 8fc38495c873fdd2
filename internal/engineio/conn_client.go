package engineio

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Conn is a client Engine.IO connection over WebSocket. Its methods are safe
// for concurrent use, except Read, which must be called from one goroutine
// at a time.
//
// A Conn runs no goroutine of its own while idle. Read reads the next frame
// from the network on the caller's goroutine and handles pings, close
// packets and errors on the way: the consumer must keep calling Read, since
// pings are only answered from within Read (one that stops reading for
// longer than the server's pingTimeout is dropped by the server). Every
// ping is answered with a pong written by the inline writer: whoever finds
// the write queue idle drains it (a sender on its own goroutine, a pong or
// a Queue call on a short-lived one), never the reader, as the peer may be
// waiting for us to read before it reads. The client never sends a ping of
// its own. If no ping arrives within pingInterval+pingTimeout of the
// previous one (or of the handshake), a timer ends the connection with
// reason ReasonPingTimeout, whether or not anyone is reading; the deadline
// is also checked, on the wall clock, before every send, since timers can
// fire late after a suspend.
type Conn struct {
	frameConn
	hs Handshake

	readEnded atomic.Bool // the WebSocket's read side failed; Read returns closeErr

	// Guarded by mu.
	writing  bool      // a goroutine is draining wq; wq is empty when false
	pongDue  bool      // a pong must be written
	lastPing time.Time // wall clock of the last ping (or of the open packet)

	writeIdle chan struct{} // signalled when a drain ends

	pingInterval, pingTimeout time.Duration
	pingTimer                 *time.Timer // dead-link timer; set under mu
}

// newConn returns the client connection over ws, after the open packet hs;
// out is the stream under ws (nil if unknown). live counts the
// connection's teardown (released once its WebSocket was closed) and every
// goroutine draining the write queue (spawnDrain).
func newConn(ws *websocket.Conn, out *countingStream, hs Handshake) *Conn {
	c := &Conn{hs: hs, writeIdle: make(chan struct{}, 1)}
	c.ws, c.out = ws, out
	if out != nil {
		c.raw = out
	}
	c.done = make(chan struct{})
	c.ending = c.endingClient
	c.heartbeat = c.onHeartbeat
	c.pingInterval, c.pingTimeout = hs.PingInterval, hs.PingTimeout
	c.peerMaxPayload = hs.MaxPayload
	c.lastPing = time.Now().Round(0)
	c.live.Store(1) // the teardown
	c.mu.Lock()     // endingClient reads pingTimer under mu, on the timer's goroutine
	c.pingTimer = time.AfterFunc(hs.PingInterval+hs.PingTimeout, func() {
		c.terminate(ReasonPingTimeout, nil, false)
	})
	c.mu.Unlock()
	return c
}

// endingClient is the client's part of terminate: the dead-link timer
// stops, and an abrupt end tears the connection down at once (a graceful
// one does so after its close handshake).
func (c *Conn) endingClient(graceful bool) {
	c.mu.Lock()
	pt := c.pingTimer
	c.mu.Unlock()
	if pt != nil {
		pt.Stop()
	}
	if !graceful {
		_ = c.ws.CloseNow()
		c.exited()
	}
}

// onHeartbeat handles a ping (a pong from the server is ignored).
func (c *Conn) onHeartbeat(packet byte) error {
	if packet == packetPing {
		c.onPing()
	}
	return nil
}

// closeGracefully ends the connection with reason forced close: it flushes
// the write queue, performs the WebSocket close handshake (each step bounded
// by closeGrace) and waits for the connection's goroutines.
func (c *Conn) closeGracefully() {
	if !c.terminate(ReasonForcedClose, nil, true) {
		<-c.done
		return
	}
	t := time.NewTimer(closeGrace)
	for c.isWriting() {
		select {
		case <-c.writeIdle:
		case <-t.C:
			_ = c.ws.CloseNow() // abort a write stuck on a dead peer
		}
	}
	t.Stop()
	c.closeHandshake()
	c.exited() // torn down: a pending Read has returned or soon will
	<-c.done
}

// read is Read: it reads frames on the caller's goroutine until a message
// arrives. The ping timer and Close abort a blocked read by closing the
// WebSocket. A ctx that can end is watched for this call only, and its end
// drops the connection: a read cannot be abandoned halfway through a frame.
func (c *Conn) read(ctx context.Context) (Message, error) {
	if err := ctx.Err(); err != nil {
		return Message{}, err
	}
	if !c.readEnded.Load() {
		if ctx.Done() != nil {
			fired := make(chan struct{})
			stop := context.AfterFunc(ctx, func() {
				defer close(fired)
				c.terminate(ReasonForcedClose, context.Cause(ctx), false)
			})
			defer func() {
				if !stop() {
					<-fired // no goroutine of ours outlives the call
				}
			}()
		}
		m, err := c.next()
		if err == nil {
			return m, nil
		}
		c.readEnded.Store(true)
	}
	if err := ctx.Err(); err != nil {
		return Message{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return Message{}, c.closeErr
}

func (c *Conn) isWriting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writing
}

// enqueue appends an item to the write queue and reports whether the
// caller became the queue's writer and must drain it; with spawn, it will
// do so on a new goroutine (spawnDrain), which is counted in live here,
// before the connection can end.
func (c *Conn) enqueue(it *writeItem, spawn bool) (writer bool, err error) {
	if len(it.msgs) == 0 {
		return false, nil
	}
	if err := c.checkSize(it.msgs); err != nil {
		return false, err
	}
	if c.pingExpired() {
		c.terminate(ReasonPingTimeout, nil, false)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return false, c.notSent()
	}
	c.wq.push(it)
	writer = !c.writing
	c.writing = true
	if writer && spawn {
		c.live.Add(1)
	}
	return writer, nil
}

// spawnDrain drains the write queue on a goroutine of its own. The caller
// made itself the writer (c.writing) and counted the goroutine in live,
// both under c.mu while the connection had not ended: until then the
// teardown holds live above zero, so done cannot be closed before this
// goroutine exits.
func (c *Conn) spawnDrain() {
	go func() {
		defer c.exited()
		c.drainQueue()
	}()
}

// drainQueue is the inline writer: it writes the pending pong and the queued
// items in order until the queue is empty, then gives up the writer role.
// After an abrupt end, or a failed write, it completes what is left with
// ErrNotSent.
func (c *Conn) drainQueue() {
	for {
		c.mu.Lock()
		if c.ended && !c.drain {
			items := c.takeQueued()
			err := c.notSent()
			c.writing = false
			c.mu.Unlock()
			failItems(items, err)
			notify(c.writeIdle)
			return
		}
		if c.pongDue && !c.ended {
			c.pongDue = false
			c.mu.Unlock()
			if err := c.writeControl(packetPong); err != nil {
				c.writeFailed(err)
			}
			continue
		}
		it, ok := c.wq.pop()
		if !ok {
			c.writing = false
			c.mu.Unlock()
			notify(c.writeIdle)
			return
		}
		c.mu.Unlock()
		if !it.state.CompareAndSwap(itemQueued, itemTaken) {
			continue // cancelled by its sender
		}
		it.finish(c.writeOut(it))
	}
}

// send enqueues msgs and waits until they were written, the connection ended
// or ctx ended. If ctx ends before the writer took the messages they are not
// written at all, and the error matches ErrNotSent besides ctx's error. A
// value from expire (nil: never) counts as ctx reaching a deadline.
func (c *Conn) send(ctx context.Context, expire <-chan time.Time, msgs []Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	if len(msgs) == 0 {
		return nil
	}
	it := &writeItem{msgs: msgs, done: make(chan error, 1)}
	writer, err := c.enqueue(it, false)
	if err != nil {
		return err
	}
	if writer {
		// The queue was idle: this item is first, and this goroutine
		// writes it (and whatever others queue meanwhile) itself.
		c.drainQueue()
		return <-it.done
	}
	var cause error
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		cause = ctx.Err()
	case <-expire:
		cause = context.DeadlineExceeded
	}
	if it.state.CompareAndSwap(itemQueued, itemCancelled) {
		return fmt.Errorf("%w: %w", ErrNotSent, cause)
	}
	// Being written: the outcome comes soon (writes are bounded).
	select {
	case err := <-it.done:
		if err == nil {
			return nil
		}
		return fmt.Errorf("%w: %w", cause, err)
	case <-c.done:
		return cause // may have been written
	}
}

// queue enqueues msgs without waiting; a writer found idle is replaced by a
// short-lived goroutine.
func (c *Conn) queue(msgs []Message) error {
	writer, err := c.enqueue(&writeItem{msgs: msgs}, true)
	if writer {
		c.spawnDrain()
	}
	return err
}

// pingExpired reports, from the wall clock, whether the heartbeat deadline
// has passed; a timer can fire late after a suspend.
func (c *Conn) pingExpired() bool {
	c.mu.Lock()
	last := c.lastPing
	c.mu.Unlock()
	return time.Now().Round(0).After(last.Add(c.pingInterval + c.pingTimeout))
}

// onPing re-arms the dead-link timer and asks the writer for a pong.
func (c *Conn) onPing() {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.lastPing = time.Now().Round(0)
	c.pongDue = true
	writer := !c.writing
	if writer {
		c.writing = true
		c.live.Add(1) // for spawnDrain, before the connection can end
	}
	// Re-armed under mu, so that a terminate (which stops the timer after
	// setting ended under mu) cannot be undone.
	c.pingTimer.Reset(c.pingInterval + c.pingTimeout)
	c.mu.Unlock()
	if writer {
		// Never write from the reader: the peer may be waiting for us to
		// read before it reads.
		c.spawnDrain()
	}
}
