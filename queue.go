package messaging

import (
	"slices"
	"sync"
	"time"
)

// The handler queue: socketio's read goroutine decodes each server event
// and queues it (never waiting); one dispatcher goroutine per socket
// (dispatcher.go) takes the queue in order and runs the handlers, one at a
// time. Lifecycle changes, errors and the delivery's own work (history
// pages, timers) travel through the same queue, so that handlers see
// everything in one order. Only server events count against the queue's
// bound; the rest is small and must not be lost.
//
// The dispatcher runs only while there is work: an item queued while none
// runs starts one, and it returns once the queue has stayed empty for
// dispatchLinger. Both decisions are made under the queue's lock, and the
// running flag makes sure at most one dispatcher exists at a time (the
// next one starts only after the last one gave up the queue), so handlers
// still run one at a time, in queue order, and the delivery state still
// has one owner at a time, handed over under the lock.

// itemKind says which of an item's fields are set.
type itemKind uint8

const (
	itemEvent        itemKind = iota // a server event: ev
	itemState                        // a state change: change
	itemReconnecting                 // a reconnection attempt: n
	itemError                        // an error for OnError: err
	itemSlow                         // the queue overflowed: ErrSlowConsumer
	itemLost                         // the connection was lost
	itemReady                        // connected and rejoined again
	itemRecover                      // messages were dropped on overflow
	itemAnchor                       // where a joined conversation's history starts: conv, anchor (nil: empty)
	itemForget                       // a conversation was left: conv
	itemCall                         // the delivery's own work (a history page, a timer): fn
)

// item is one entry of the handler queue; kind says which fields are set.
type item struct {
	kind   itemKind
	ev     event
	change StateChange
	n      int
	err    error
	conv   string
	anchor *Message
	fn     func()
}

// eventQueue is an unbounded FIFO of items in which server events are
// bounded.
type eventQueue struct {
	mu            sync.Mutex
	items         []item
	head          int
	events        int // server events queued
	dropped       int64
	max           int
	overflow      bool                 // in an overflow episode
	lost          map[string]time.Time // conversation → oldest message dropped
	recoverQueued bool
	closed        bool

	dispatch func()        // the dispatcher's body; nil until start
	running  bool          // a dispatcher goroutine owns the queue
	taken    uint64        // items the dispatchers took
	linger   time.Duration // dispatchLinger (tests shorten it)
	wake     chan struct{} // wakes a running dispatcher waiting for items
	stopped  sync.Cond     // broadcast when running turns false

	// connectedOnce is the dispatcher's own: OnReconnect runs only after
	// a first connection.
	connectedOnce bool
}

// dispatchLinger is how long a dispatcher waits for more work before it
// returns. Starting one costs several times what waking one does (most
// of it reading its goroutine id, which Close needs), so a socket that
// receives events more often than this keeps its dispatcher, and one that
// falls idle loses it soon after.
const dispatchLinger = 100 * time.Millisecond

func newEventQueue(max int) *eventQueue {
	q := &eventQueue{max: max, linger: dispatchLinger, wake: make(chan struct{}, 1)}
	q.stopped.L = &q.mu
	return q
}

// start lets the dispatcher run, from now on whenever there is work for
// it (and once at close, to clean up).
func (q *eventQueue) start(dispatch func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dispatch == nil {
		q.dispatch = dispatch
		q.kickLocked()
	}
}

// kickLocked wakes the dispatcher, or starts one if one may run, none runs
// and there is something to do: items, or the final clean-up after close.
func (q *eventQueue) kickLocked() {
	switch {
	case q.running:
		select {
		case q.wake <- struct{}{}:
		default:
		}
	case q.dispatch != nil && (q.head < len(q.items) || q.closed):
		q.running = true
		go q.dispatch()
	}
}

func (q *eventQueue) appendLocked(it item) {
	q.items = append(q.items, it)
	q.kickLocked()
}

// pushEvent queues a server event, or drops it when the queue is full: a
// dropped message marks its conversation for a history backfill. The
// first drop of an episode queues ErrSlowConsumer ahead of every event
// waiting, so that OnError hears of it as soon as the running handler
// returns, and pushEvent reports true: the producer then reports the
// overflow itself too, in case no handler ever returns.
func (q *eventQueue) pushEvent(ev event) (overflowed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	if q.events < q.max {
		q.events++
		q.appendLocked(item{kind: itemEvent, ev: ev})
		return false
	}
	q.dropped++
	if !q.overflow {
		q.overflow = true
		overflowed = true
		q.items = slices.Insert(q.items, q.head, item{kind: itemSlow})
		q.kickLocked()
	}
	if m := ev.newMessage(); m != nil {
		if q.lost == nil {
			q.lost = make(map[string]time.Time)
		}
		if at, ok := q.lost[m.ConversationID]; !ok || m.CreatedAt.Before(at) {
			q.lost[m.ConversationID] = m.CreatedAt
		}
		if !q.recoverQueued {
			q.recoverQueued = true
			q.appendLocked(item{kind: itemRecover})
		}
	}
	return overflowed
}

// pushControl queues anything but a server event. It never drops, except
// after close.
func (q *eventQueue) pushControl(it item) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.appendLocked(it)
	}
}

// pushCall queues fn, to run on the dispatcher like a handler.
func (q *eventQueue) pushCall(fn func()) { q.pushControl(item{kind: itemCall, fn: fn}) }

// idleWait is a dispatcher's clock for dispatchLinger. Its timer is armed
// once per period, not each time the queue runs empty, and the dispatcher
// waits on wake alone, as it would without it: when the timer rings it
// sends a wake-up, and the dispatcher returns if it took nothing during
// the period. Its fields are guarded by q.mu.
type idleWait struct {
	t     *time.Timer
	armed bool   // t runs
	rang  bool   // t rang since it was armed
	mark  uint64 // q.taken when it was armed
}

func (w *idleWait) arm(q *eventQueue) {
	w.armed, w.rang, w.mark = true, false, q.taken
	if w.t != nil {
		w.t.Reset(q.linger)
		return
	}
	w.t = time.AfterFunc(q.linger, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		w.rang = true
		select {
		case q.wake <- struct{}{}:
		default:
		}
	})
}

func (w *idleWait) stop() {
	if w.t != nil {
		w.t.Stop()
	}
}

// next returns the next item for the dispatcher, waiting for one for
// between one and two dispatchLingers (nil idle: not at all). When none
// comes it reports false, and the dispatcher must return: if the queue is
// open, next has marked the dispatcher stopped, under the lock every push
// takes, so the next push starts a new one; if it is closed, closed is
// true and the dispatcher, still marked running, cleans up and calls done.
func (q *eventQueue) next(idle *idleWait) (it item, ok, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.head == len(q.items) {
		if q.closed {
			return item{}, false, true
		}
		if idle != nil && idle.rang {
			idle.armed = false
			if q.taken == idle.mark {
				idle = nil // a whole period without work
			}
		}
		if idle == nil {
			q.running = false
			q.stopped.Broadcast()
			q.items = nil // an idle socket keeps no buffer
			return item{}, false, false
		}
		if !idle.armed {
			idle.arm(q)
		}
		// Whatever is queued from now on sends a wake-up (kickLocked sees
		// running), which the buffer of wake keeps until it is read.
		q.mu.Unlock()
		<-q.wake
		q.mu.Lock()
	}
	q.taken++
	it = q.items[q.head]
	q.items[q.head] = item{}
	q.head++
	switch {
	case q.head == len(q.items):
		q.items, q.head = q.items[:0], 0
	case q.head >= 1024 && 2*q.head >= len(q.items):
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	if it.kind == itemEvent {
		q.events--
		if q.overflow && q.events <= q.max/2 {
			q.overflow = false // the episode is over
		}
	}
	return it, true, false
}

// done marks the dispatcher's end after close.
func (q *eventQueue) done() {
	q.mu.Lock()
	q.running = false
	q.stopped.Broadcast()
	q.mu.Unlock()
}

// handOff marks stopped a dispatcher that ended in a handler, and starts
// another if there is work (or the clean-up after close) left.
func (q *eventQueue) handOff() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.running = false
	q.stopped.Broadcast()
	q.kickLocked()
}

// waitStopped waits until no dispatcher runs. After close, that is for
// good: no new one can start.
func (q *eventQueue) waitStopped() {
	q.mu.Lock()
	for q.running {
		q.stopped.Wait()
	}
	q.mu.Unlock()
}

// takeLost returns and forgets the conversations with dropped messages.
func (q *eventQueue) takeLost() map[string]time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	m := q.lost
	q.lost, q.recoverQueued = nil, false
	return m
}

// close drops everything queued but state changes (the handlers of the
// final change still run) and refuses new items. Whoever waits for a
// queued call (the history fetcher) waits on the socket's context too,
// which ends before close.
func (q *eventQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	var keep []item
	for _, it := range q.items[q.head:] {
		if it.kind == itemState {
			keep = append(keep, it)
		}
	}
	q.items, q.head, q.events = keep, 0, 0
	q.kickLocked() // the final state change, and the clean-up
}
