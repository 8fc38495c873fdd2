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

type role int

const (
	roleClient role = iota
	roleServer
)

// conn is the machinery shared by both sides: reader and writer goroutines,
// the read and write queues, termination.
type conn struct {
	ws   *websocket.Conn
	role role

	// Reads and writes run under context.Background(): coder/websocket
	// registers a context.AfterFunc for every frame read or written under a
	// cancellable context (three allocations per frame), and cancelling it
	// only closes the connection, which ws.CloseNow does as well. So a
	// blocked read or write is aborted with ws.CloseNow.

	// raw is the network stream under ws (a client's 101 response body, a
	// server's hijacked connection), nil if unknown. Closing it is the only
	// way to end ws.Close's wait for the peer's close frame: once Close has
	// begun, ws.CloseNow only waits for it.
	raw io.Closer

	writeTimeout   time.Duration   // per write; 0 = none
	out            *countingStream // client: the stream under ws, counting bytes written; else nil
	peerMaxPayload int64           // 0 = unknown/unlimited
	wqLimit        int             // 0 = unlimited

	// A client has no writer goroutine: whoever finds the write queue idle
	// becomes its writer and drains it (see drainQueue), a sender on its
	// own goroutine, a fire-and-forget message or a pong on a short-lived
	// one. An idle connection then costs one goroutine (the reader), and a
	// send is written without a hand-off to another goroutine. A server
	// keeps its writer goroutine, which also runs the heartbeat.
	inline bool

	// A direct client has no reader goroutine either: its consumer's Read
	// reads frames from the WebSocket itself and handles pings, close
	// packets and errors inline (see readDirect). The heartbeat watchdog
	// stays a timer, so that a consumer that stops reading still sees the
	// connection end.
	direct    bool
	readEnded atomic.Bool // direct: the WebSocket's read side failed; Read returns closeErr

	mu           sync.Mutex
	ended        bool
	closeErr     *CloseError
	drain        bool // writer drains its queue before exiting
	rq           fifo[Message]
	readerExited bool
	wq           fifo[*writeItem]
	writing      bool      // inline: a goroutine is draining wq; wq is empty when false
	pongDue      bool      // client: a pong must be written
	lastPing     time.Time // client: wall clock of the last ping (or open)

	stopping   chan struct{} // server: closed when termination is decided
	writerDone chan struct{} // server: writer goroutine exited
	writeIdle  chan struct{} // inline: signalled when a drain ends
	done       chan struct{} // closed once live drops to zero
	// live counts what must end before done is closed: the writer goroutine
	// (server), the reader (readLoop, on a goroutine of its own or, on a
	// server, on the HTTP handler's), the teardown of a direct client
	// (released once its WebSocket was closed), and every goroutine
	// draining the write queue (spawnDrain).
	live    atomic.Int32
	onEnd   func()        // called once before done is closed
	rnotify chan struct{} // readLoop queued a message or exited (not direct)
	wnotify chan struct{} // server: the write queue has items

	// heartbeat
	pingInterval, pingTimeout time.Duration
	pingTimer                 *time.Timer   // client dead-link timer
	pongRecv                  chan struct{} // server: reader saw a pong
	hbChange                  chan struct{} // server: pause state changed
	paused                    atomic.Bool   // server: heartbeat paused
}

// newConn returns a connection of role r; direct (client only) selects the
// read mode without a reader goroutine. Only the channels the mode uses are
// made: an idle client connection should cost little.
func newConn(ws *websocket.Conn, r role, direct bool) *conn {
	c := &conn{
		ws:     ws,
		role:   r,
		inline: r == roleClient,
		direct: direct && r == roleClient,
		done:   make(chan struct{}),
	}
	if c.inline {
		c.writeIdle = make(chan struct{}, 1)
	} else {
		c.stopping = make(chan struct{})
		c.writerDone = make(chan struct{})
		c.wnotify = make(chan struct{}, 1)
		c.pongRecv = make(chan struct{}, 1)
		c.hbChange = make(chan struct{}, 1)
	}
	if !c.direct {
		c.rnotify = make(chan struct{}, 1)
	}
	return c
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// start launches the connection's goroutines: a server's writer (a client
// writes inline); and the reader, unless the caller runs readLoop itself
// (ownReader, a server's HTTP handler) or the connection is direct (its
// consumer's Read reads).
func (c *conn) start(ownReader bool) {
	if c.inline {
		c.live.Store(1) // the reader, or a direct connection's teardown
	} else {
		c.live.Store(2) // writer and reader
		go c.writeLoop()
	}
	if !ownReader && !c.direct {
		go c.readLoop()
	}
}

func (c *conn) exited() {
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
func (c *conn) terminate(reason string, cause error, graceful bool) bool {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return false
	}
	c.ended = true
	c.closeErr = &CloseError{Reason: reason, Err: cause}
	c.drain = graceful
	pt := c.pingTimer // set under mu: this may run on the timer's own goroutine
	c.mu.Unlock()
	if c.stopping != nil {
		close(c.stopping)
	}
	if pt != nil {
		pt.Stop()
	}
	if !graceful {
		_ = c.ws.CloseNow() // aborts a blocked read or write
		if c.direct {
			c.exited() // torn down; a graceful close releases it itself
		}
	}
	return true
}

// closeGracefully ends the connection with reason forced close: it flushes
// the write queue, performs the WebSocket close handshake (each step bounded
// by closeGrace) and waits for both goroutines.
func (c *conn) closeGracefully() {
	if !c.terminate(ReasonForcedClose, nil, true) {
		<-c.done
		return
	}
	t := time.NewTimer(closeGrace)
	if c.inline {
		for c.isWriting() {
			select {
			case <-c.writeIdle:
			case <-t.C:
				_ = c.ws.CloseNow() // abort a write stuck on a dead peer
			}
		}
	} else {
		select {
		case <-c.writerDone:
		case <-t.C:
			_ = c.ws.CloseNow() // abort a write stuck on a dead peer
			<-c.writerDone
		}
	}
	t.Stop()
	// If the peer does not answer the close frame in time (a black-holed
	// connection never does), closing the network stream ends ws.Close's
	// wait for the peer (up to 5 s of its own) and the pending read.
	watchdog := time.AfterFunc(closeGrace, c.closeRaw)
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	watchdog.Stop()
	_ = c.ws.CloseNow()
	if c.direct {
		c.exited() // torn down: a pending Read has returned or soon will
	}
	<-c.done
}

// closeRaw closes the network stream under the WebSocket, or the WebSocket
// itself when the stream is unknown.
func (c *conn) closeRaw() {
	if c.raw != nil {
		_ = c.raw.Close()
		return
	}
	_ = c.ws.CloseNow()
}

// drop ends the connection abruptly (no close handshake) and waits for the
// goroutines.
func (c *conn) drop(reason string) {
	c.terminate(reason, nil, false)
	<-c.done
}

func (c *conn) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr == nil {
		return nil
	}
	return c.closeErr
}

func (c *conn) reason() string {
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
func (c *conn) notSent() error {
	return fmt.Errorf("%w: %w", ErrNotSent, c.closeErr)
}

// maybeSent is the error of messages whose write failed after some bytes
// may have been handed to the network: it matches ErrClosed, not
// ErrNotSent. Caller holds c.mu, after termination.
func (c *conn) maybeSent(werr error) error {
	if errors.Is(c.closeErr.Err, werr) {
		return fmt.Errorf("engineio: write failed, the message may have been sent: %w", c.closeErr)
	}
	return fmt.Errorf("engineio: write failed, the message may have been sent: %w: %w", c.closeErr, werr)
}

// read returns the next message in arrival order. After the connection ended
// and every queued message was returned, it returns the *CloseError. It must
// not be called concurrently with itself.
func (c *conn) read(ctx context.Context) (Message, error) {
	if c.direct {
		return c.readDirect(ctx)
	}
	for {
		c.mu.Lock()
		if m, ok := c.rq.pop(); ok {
			c.mu.Unlock()
			return m, nil
		}
		if c.readerExited {
			err := c.closeErr
			c.mu.Unlock()
			return Message{}, err
		}
		c.mu.Unlock()
		select {
		case <-c.rnotify:
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}

func (c *conn) checkSize(msgs []Message) error {
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

func (c *conn) isWriting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writing
}

// enqueue appends an item to the write queue. On an inline connection it
// reports whether the caller became the queue's writer and must drain it;
// with spawn, it will do so on a new goroutine (spawnDrain), which is
// counted in live here, before the connection can end.
func (c *conn) enqueue(it *writeItem, spawn bool) (writer bool, err error) {
	if len(it.msgs) == 0 {
		return false, nil
	}
	if err := c.checkSize(it.msgs); err != nil {
		return false, err
	}
	if c.role == roleClient && c.pingExpired() {
		c.terminate(ReasonPingTimeout, nil, false)
	}
	c.mu.Lock()
	if c.ended {
		err := c.notSent()
		c.mu.Unlock()
		return false, err
	}
	if c.wqLimit > 0 && c.wq.len() >= c.wqLimit {
		c.mu.Unlock()
		c.terminate(ReasonTransportError, ErrWriteQueueFull, false)
		c.mu.Lock()
		defer c.mu.Unlock()
		return false, c.notSent()
	}
	c.wq.push(it)
	if c.inline {
		writer = !c.writing
		c.writing = true
		if writer && spawn {
			c.live.Add(1)
		}
		c.mu.Unlock()
		return writer, nil
	}
	c.mu.Unlock()
	notify(c.wnotify)
	return false, nil
}

// spawnDrain drains the write queue on a goroutine of its own. The caller
// made itself the writer (c.writing) and counted the goroutine in live,
// both under c.mu while the connection had not ended: until then a reader
// or a direct connection's teardown holds live above zero, so done cannot
// be closed before this goroutine exits.
func (c *conn) spawnDrain() {
	go func() {
		defer c.exited()
		c.drainQueue()
	}()
}

// drainQueue is the inline writer: it writes the pending pong and the queued
// items in order until the queue is empty, then gives up the writer role.
// After an abrupt end, or a failed write, it completes what is left with
// ErrNotSent.
func (c *conn) drainQueue() {
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

// writeOut writes the messages of a taken item. If a write fails it ends
// the connection (nothing more is written, not even during a graceful
// close) and returns an error that says whether any byte of the item may
// have been handed to the network: one matching ErrNotSent when none was.
// A server cannot tell (it counts nothing), so its failed items may have
// been sent.
func (c *conn) writeOut(it *writeItem) error {
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
func (c *conn) writeFailed(err error) {
	c.mu.Lock()
	c.drain = false
	c.mu.Unlock()
	c.terminate(ReasonTransportError, err, false)
}

// send enqueues msgs and waits until they were written, the connection ended
// or ctx ended. If ctx ends before the writer took the messages they are not
// written at all, and the error matches ErrNotSent besides ctx's error. A
// value from expire (nil: never) counts as ctx reaching a deadline.
func (c *conn) send(ctx context.Context, expire <-chan time.Time, msgs []Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrNotSent, err)
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

func (c *conn) queue(msgs []Message) error {
	writer, err := c.enqueue(&writeItem{msgs: msgs}, true)
	if writer {
		c.spawnDrain()
	}
	return err
}

// pingExpired reports, from the wall clock, whether the client's heartbeat
// deadline has passed; a timer can fire late after a suspend.
func (c *conn) pingExpired() bool {
	c.mu.Lock()
	last := c.lastPing
	c.mu.Unlock()
	if last.IsZero() {
		return false
	}
	return time.Now().Round(0).After(last.Add(c.pingInterval + c.pingTimeout))
}

// writeCtx is the context of one write: no deadline on a client (see the
// comment on conn.ws), writeTimeout on a server.
func (c *conn) writeCtx() (context.Context, context.CancelFunc) {
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

func (c *conn) writeMsg(m Message) error {
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

func (c *conn) writeControl(b byte) error {
	ctx, cancel := c.writeCtx()
	defer cancel()
	// ws.Write does not modify the payload (a client masks its copy).
	return c.ws.Write(ctx, websocket.MessageText, controlFrames[b])
}

// failQueue completes every queued item with ErrNotSent. Called by the
// writer on exit.
func (c *conn) failQueue() {
	c.mu.Lock()
	items := c.takeQueued()
	err := c.notSent()
	c.mu.Unlock()
	failItems(items, err)
}

// takeQueued empties the write queue and returns its items. Caller holds
// c.mu.
func (c *conn) takeQueued() []*writeItem {
	var items []*writeItem
	for {
		it, ok := c.wq.pop()
		if !ok {
			return items
		}
		items = append(items, it)
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

func (c *conn) writeLoop() {
	defer c.exited()
	defer close(c.writerDone)
	defer c.failQueue()

	// Server heartbeat timers; nil channels never fire.
	var pingC, pongC <-chan time.Time
	var pingT, pongT *time.Timer
	if c.role == roleServer {
		pingT = time.NewTimer(c.pingInterval)
		defer pingT.Stop()
		pingC = pingT.C
		if c.paused.Load() {
			pingT.Stop()
		}
	}
	stopPong := func() {
		if pongT != nil {
			pongT.Stop()
			pongT, pongC = nil, nil
		}
	}
	defer stopPong()

	for {
		c.mu.Lock()
		if c.ended && !c.drain {
			c.mu.Unlock()
			return
		}
		if c.pongDue && !c.ended {
			c.pongDue = false
			c.mu.Unlock()
			if err := c.writeControl(packetPong); err != nil {
				c.terminate(ReasonTransportError, err, false)
				return
			}
			continue
		}
		if it, ok := c.wq.pop(); ok {
			c.mu.Unlock()
			if !it.state.CompareAndSwap(itemQueued, itemTaken) {
				continue // cancelled by its sender
			}
			err := c.writeOut(it)
			it.finish(err)
			if err != nil {
				return
			}
			continue
		}
		if c.ended { // draining and nothing left
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()

		select {
		case <-c.wnotify:
		case <-c.stopping:
		case <-pingC:
			if c.paused.Load() {
				continue
			}
			if err := c.writeControl(packetPing); err != nil {
				c.terminate(ReasonTransportError, err, false)
				return
			}
			stopPong()
			pongT = time.NewTimer(c.pingTimeout)
			pongC = pongT.C
		case <-pongC:
			pongT, pongC = nil, nil
			if !c.paused.Load() {
				c.terminate(ReasonPingTimeout, nil, false)
				return
			}
		case <-c.pongRecv:
			if pongC != nil {
				stopPong()
				pingT.Reset(c.pingInterval)
			}
		case <-c.hbChange:
			if c.paused.Load() {
				stopPong()
				pingT.Stop()
			} else {
				stopPong()
				pingT.Reset(c.pingInterval)
			}
		}
	}
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

func (c *conn) pushRead(m Message) {
	c.mu.Lock()
	c.rq.push(m)
	c.mu.Unlock()
	notify(c.rnotify)
}

func (c *conn) readLoop() {
	defer c.exited()
	defer func() {
		c.mu.Lock()
		c.readerExited = true
		c.mu.Unlock()
		notify(c.rnotify)
	}()
	for {
		m, err := c.next()
		if err != nil {
			return
		}
		c.pushRead(m)
	}
}

// readDirect is read on a direct connection: it reads frames on the
// caller's goroutine until a message arrives. Heartbeats and close packets
// are handled on the way; the ping timer and Close abort a blocked read by
// closing the WebSocket. A ctx that can end is watched for this call only,
// and its end drops the connection: a read cannot be abandoned halfway
// through a frame.
func (c *conn) readDirect(ctx context.Context) (Message, error) {
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

// next reads frames until a message packet arrives and returns it. Pings
// (client) and pongs (server) are handled on the way. Any other outcome
// ends the connection (if nothing else did first) and is returned as an
// error: the WebSocket's read error, a close packet or a protocol error.
func (c *conn) next() (Message, error) {
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
		case packetPing:
			if c.role == roleServer {
				err := errors.New("engineio: invalid heartbeat direction")
				c.terminate(ReasonTransportError, err, false)
				return Message{}, err
			}
			c.onPing()
		case packetPong:
			if c.role == roleServer {
				notify(c.pongRecv)
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

// errClosePacket is next's error after the peer's close packet.
var errClosePacket = errors.New("engineio: close packet received")

// readFrame reads one WebSocket message. Its payload is read into a pooled
// buffer and copied out at its exact size: one allocation per message,
// which the consumer owns (ws.Read's io.ReadAll grows its result from
// 512 bytes, two or more allocations for a typical event).
func (c *conn) readFrame() (websocket.MessageType, []byte, error) {
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

// onPing (client) re-arms the dead-link timer and asks the writer for a pong.
func (c *conn) onPing() {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.lastPing = time.Now().Round(0)
	c.pongDue = true
	writer := c.inline && !c.writing
	if writer {
		c.writing = true
		c.live.Add(1) // for spawnDrain, before the connection can end
	}
	// Re-armed under mu, so that a terminate (which stops the timer after
	// setting ended under mu) cannot be undone.
	c.pingTimer.Reset(c.pingInterval + c.pingTimeout)
	c.mu.Unlock()
	if writer {
		// Never write from the reader, a direct consumer's Read included:
		// the peer may be waiting for us to read before it reads.
		c.spawnDrain()
	} else {
		notify(c.wnotify)
	}
}
