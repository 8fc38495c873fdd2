package engineio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// What both sides share: the WebSocket and the stream under it, the write
// queue and how a group of messages is written, how frames are read and
// classified, and how a connection ends. The client's connection (Conn,
// conn_client.go) and the server's (ServerConn, conn_server.go) each
// embed a frameConn and add their own goroutines.

// closeGrace bounds each step of a graceful close: draining the write queue,
// and waiting for the peer's WebSocket close frame.
const closeGrace = time.Second

// fifo is a slice-backed queue that reuses its storage.
type fifo[T any] struct {
	items []T
	head  int
}

func (q *fifo[T]) push(v T) { q.items = append(q.items, v) }

func (q *fifo[T]) len() int { return len(q.items) - q.head }

func (q *fifo[T]) pop() (T, bool) {
	var zero T
	if q.head >= len(q.items) {
		return zero, false
	}
	v := q.items[q.head]
	q.items[q.head] = zero
	q.head++
	if q.head == len(q.items) {
		if cap(q.items) > 1024 {
			q.items = nil // let a burst's storage go
		} else {
			q.items = q.items[:0]
		}
		q.head = 0
	}
	return v, true
}

// writeItem is a group of messages written back to back, with nothing of
// this connection in between (a Socket.IO binary packet and its
// attachments).
type writeItem struct {
	msgs  []Message
	state atomic.Int32 // itemQueued → itemTaken (by the writer) or itemCancelled
	done  chan error   // nil for fire-and-forget; else buffered(1)
}

const (
	itemQueued int32 = iota
	itemTaken
	itemCancelled
)

func (it *writeItem) finish(err error) {
	if it.done != nil {
		it.done <- err
	}
}

// failItems completes with err the items their senders have not cancelled.
func failItems(items []*writeItem, err error) {
	for _, it := range items {
		if it.state.CompareAndSwap(itemQueued, itemTaken) {
			it.finish(err)
		}
	}
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// frameConn is the part of a connection both sides share.
//
// Reads and writes run under context.Background(): coder/websocket
// registers a context.AfterFunc for every frame read or written under a
// cancellable context (three allocations per frame), and cancelling it only
// closes the connection, which ws.CloseNow does as well. So a blocked read
// or write is aborted with ws.CloseNow (a server's writes have a timeout).
type frameConn struct {
	ws *websocket.Conn
	// raw is the network stream under ws (a client's 101 response body, a
	// server's hijacked connection), nil if unknown. Closing it is the only
	// way to end ws.Close's wait for the peer's close frame: once Close has
	// begun, ws.CloseNow only waits for it.
	raw io.Closer
	// out is the client's stream under ws, counting the bytes written, so
	// that a failed write can tell whether any byte of a group left; nil on
	// a server, which cannot tell.
	out            *countingStream
	writeTimeout   time.Duration // server: per write; 0 = none
	peerMaxPayload int64         // client: the server's maxPayload; 0 = unknown

	mu       sync.Mutex
	ended    bool
	closeErr *CloseError
	drain    bool // a graceful end: the queue is written before the end
	wq       fifo[*writeItem]

	done chan struct{} // closed once live drops to zero
	// live counts what must end before done is closed; each side says what.
	live  atomic.Int32
	onEnd func() // called once before done is closed

	// ending is the side's part of terminate, called once, outside mu,
	// after the end was decided.
	ending func(graceful bool)
	// heartbeat handles a ping or pong packet read by next; an error ends
	// the connection.
	heartbeat func(packet byte) error
}

func (c *frameConn) exited() {
	if c.live.Add(-1) == 0 {
		if c.onEnd != nil {
			c.onEnd()
		}
		close(c.done)
	}
}

// terminate decides the end of the connection. The first call wins and
// returns true. A graceful termination lets the writer drain its queue; an
// abrupt one closes the network connection at once.
func (c *frameConn) terminate(reason string, cause error, graceful bool) bool {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return false
	}
	c.ended = true
	c.closeErr = &CloseError{Reason: reason, Err: cause}
	c.drain = graceful
	c.mu.Unlock()
	c.ending(graceful)
	if !graceful {
		_ = c.ws.CloseNow() // aborts a blocked read or write
	}
	return true
}

// closeHandshake performs the WebSocket close handshake, once the write
// queue was drained. If the peer does not answer the close frame in time (a
// black-holed connection never does), closing the network stream ends
// ws.Close's wait for the peer (5 s of its own) and any pending read.
func (c *frameConn) closeHandshake() {
	watchdog := time.AfterFunc(closeGrace, c.closeRaw)
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	watchdog.Stop()
	_ = c.ws.CloseNow()
}

// closeRaw closes the network stream under the WebSocket, or the WebSocket
// itself when the stream is unknown.
func (c *frameConn) closeRaw() {
	if c.raw != nil {
		_ = c.raw.Close()
		return
	}
	_ = c.ws.CloseNow()
}

// drop ends the connection abruptly (no close handshake) and waits for its
// goroutines.
func (c *frameConn) drop(reason string) {
	c.terminate(reason, nil, false)
	<-c.done
}

func (c *frameConn) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr == nil {
		return nil
	}
	return c.closeErr
}

func (c *frameConn) reason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr == nil {
		return ""
	}
	return c.closeErr.Reason
}

// notSent is the error of messages none of whose bytes were handed to the
// network: it matches ErrNotSent and ErrClosed. Caller holds c.mu, after
// termination.
func (c *frameConn) notSent() error {
	return fmt.Errorf("%w: %w", ErrNotSent, c.closeErr)
}

// maybeSent is the error of messages whose write failed after some bytes
// may have been handed to the network: it matches ErrClosed, not
// ErrNotSent. Caller holds c.mu, after termination.
func (c *frameConn) maybeSent(werr error) error {
	if errors.Is(c.closeErr.Err, werr) {
		return fmt.Errorf("engineio: write failed, the message may have been sent: %w", c.closeErr)
	}
	return fmt.Errorf("engineio: write failed, the message may have been sent: %w: %w", c.closeErr, werr)
}

func (c *frameConn) checkSize(msgs []Message) error {
	if c.peerMaxPayload <= 0 {
		return nil
	}
	for _, m := range msgs {
		if m.wireSize() > c.peerMaxPayload {
			return fmt.Errorf("%w (%d > %d bytes)", ErrPayloadTooLarge, m.wireSize(), c.peerMaxPayload)
		}
	}
	return nil
}

// takeQueued empties the write queue and returns its items. Caller holds
// c.mu.
func (c *frameConn) takeQueued() []*writeItem {
	var items []*writeItem
	for {
		it, ok := c.wq.pop()
		if !ok {
			return items
		}
		items = append(items, it)
	}
}

// failQueue completes every queued item with ErrNotSent.
func (c *frameConn) failQueue() {
	c.mu.Lock()
	items := c.takeQueued()
	err := c.notSent()
	c.mu.Unlock()
	failItems(items, err)
}

// writeOut writes the messages of a taken item. If a write fails it ends
// the connection (nothing more is written, not even during a graceful
// close) and returns an error that says whether any byte of the item may
// have been handed to the network: one matching ErrNotSent when none was.
// A server cannot tell (it counts nothing), so its failed items may have
// been sent.
func (c *frameConn) writeOut(it *writeItem) error {
	var before int64
	if c.out != nil {
		before = c.out.written.Load()
	}
	var err error
	for _, m := range it.msgs {
		if err = c.writeMsg(m); err != nil {
			break
		}
	}
	if err == nil {
		return nil
	}
	// Read before the connection is torn down; a control frame written
	// meanwhile by the WebSocket's reader only makes this more cautious.
	none := c.out != nil && c.out.written.Load() == before
	c.writeFailed(err)
	c.mu.Lock()
	defer c.mu.Unlock()
	if none {
		return c.notSent()
	}
	return c.maybeSent(err)
}

// writeFailed ends the connection after a failed write; nothing more is
// written, even during a graceful close.
func (c *frameConn) writeFailed(err error) {
	c.mu.Lock()
	c.drain = false
	c.mu.Unlock()
	c.terminate(ReasonTransportError, err, false)
}

// writeCtx is the context of one write: writeTimeout if set, else none
// (see frameConn).
func (c *frameConn) writeCtx() (context.Context, context.CancelFunc) {
	if c.writeTimeout > 0 {
		return context.WithTimeout(context.Background(), c.writeTimeout)
	}
	return context.Background(), func() {}
}

// scratch buffers for framing text messages ("4" + data) and for reading
// frames. They are pooled rather than kept per connection, so that an idle
// connection holds none.
var scratch = sync.Pool{New: func() any { return new([]byte) }}

// maxPooled is the largest scratch buffer returned to the pool.
const maxPooled = 64 << 10

func putScratch(b *[]byte) {
	if cap(*b) <= maxPooled {
		scratch.Put(b)
	}
}

func (c *frameConn) writeMsg(m Message) error {
	ctx, cancel := c.writeCtx()
	defer cancel()
	if m.Binary {
		return c.ws.Write(ctx, websocket.MessageBinary, m.Data)
	}
	// ws.Write copies the payload into its own buffer before returning, so
	// the framed copy can go back to the pool at once.
	bp := scratch.Get().(*[]byte)
	buf := append(append((*bp)[:0], packetMessage), m.Data...)
	err := c.ws.Write(ctx, websocket.MessageText, buf)
	*bp = buf
	putScratch(bp)
	return err
}

var controlFrames = [...][]byte{packetPing: {packetPing}, packetPong: {packetPong}}

func (c *frameConn) writeControl(b byte) error {
	ctx, cancel := c.writeCtx()
	defer cancel()
	// ws.Write does not modify the payload (a client masks its copy).
	return c.ws.Write(ctx, websocket.MessageText, controlFrames[b])
}

// classify maps a read error to a close reason.
func classify(err error) string {
	var ce websocket.CloseError
	switch {
	case errors.As(err, &ce):
		return ReasonTransportClose
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ReasonTransportClose
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return ReasonTransportClose
	}
	return ReasonTransportError
}

// errClosePacket is next's error after the peer's close packet.
var errClosePacket = errors.New("engineio: close packet received")

// next reads frames until a message packet arrives and returns it. Pings
// and pongs go to c.heartbeat on the way. Any other outcome ends the
// connection (if nothing else did first) and is returned as an error: the
// WebSocket's read error, a close packet or a protocol error.
func (c *frameConn) next() (Message, error) {
	for {
		typ, data, err := c.readFrame()
		if err != nil {
			c.terminate(classify(err), err, false)
			return Message{}, err
		}
		if typ == websocket.MessageBinary {
			return Message{Binary: true, Data: data}, nil
		}
		if len(data) == 0 {
			err := errors.New("engineio: empty packet")
			c.terminate(ReasonTransportError, err, false)
			return Message{}, err
		}
		switch data[0] {
		case packetMessage:
			return Message{Data: data[1:]}, nil
		case packetPing, packetPong:
			if err := c.heartbeat(data[0]); err != nil {
				c.terminate(ReasonTransportError, err, false)
				return Message{}, err
			}
		case packetClose:
			c.terminate(ReasonTransportClose, nil, false)
			return Message{}, errClosePacket
		case packetNoop, packetUpgrade, packetOpen:
			// Not used by a WebSocket-only session; harmless.
		default:
			err := fmt.Errorf("engineio: invalid packet %q", truncate(data))
			c.terminate(ReasonTransportError, err, false)
			return Message{}, err
		}
	}
}

// readFrame reads one WebSocket message. Its payload is read into a pooled
// buffer and copied out at its exact size: one allocation per message,
// which the consumer owns (ws.Read's io.ReadAll grows its result from
// 512 bytes, two or more allocations for a typical event).
func (c *frameConn) readFrame() (websocket.MessageType, []byte, error) {
	typ, r, err := c.ws.Reader(context.Background())
	if err != nil {
		return 0, nil, err
	}
	bp := scratch.Get().(*[]byte)
	defer putScratch(bp)
	buf := (*bp)[:0]
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, 1024)
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		*bp = buf
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, nil, err
		}
	}
	return typ, bytes.Clone(buf), nil
}
