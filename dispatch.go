package messaging

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/symbia-labs/messaging-go/internal/goid"
)

// The dispatcher: socketio's read goroutine decodes each server event and
// queues it (never waiting); one dispatcher goroutine per socket takes the
// queue in order and runs the handlers, one at a time. Lifecycle changes,
// errors and backfilled history travel through the same queue, so that
// handlers see everything in one order. Only server events count against
// the queue's bound; the rest is small and must not be lost.
//
// The dispatcher runs only while there is work: an item queued while none
// runs starts one, and it returns once the queue has stayed empty for
// dispatchLinger. Both decisions are made under the queue's lock, and the
// running flag makes sure at most one dispatcher exists at a time (the
// next one starts only after the last one gave up the queue), so handlers
// still run one at a time, in queue order, and the delivery state still
// has one owner at a time, handed over under the lock.

type itemKind int

const (
	itemEvent        itemKind = iota // a server event (v decoded, or err)
	itemState                        // a state change
	itemReconnecting                 // a reconnection attempt (n)
	itemError                        // an error for OnError
	itemSlow                         // the queue overflowed: ErrSlowConsumer
	itemLost                         // the connection was lost
	itemReady                        // connected and rejoined again
	itemRecover                      // messages were dropped on overflow
	itemAnchor                       // where a joined conversation's history starts (v: *Message or nil)
	itemPage                         // a page of backfilled history
	itemForget                       // a conversation was left
	itemGap                          // a gap's grace period ended (v: *convState)
)

type item struct {
	kind   itemKind
	event  string
	v      any
	err    error
	change StateChange
	n      int
	conv   string
	page   []Message
	final  bool
	from   time.Time     // itemPage: where the fetch started
	done   chan struct{} // itemPage: closed once handled
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

// pushEvent queues a server event, or drops it when the queue is full:
// the first drop of an episode queues ErrSlowConsumer, and a dropped
// message marks its conversation for a history backfill.
func (q *eventQueue) pushEvent(it item) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if q.events < q.max {
		q.events++
		q.appendLocked(it)
		return
	}
	q.dropped++
	if !q.overflow {
		q.overflow = true
		q.appendLocked(item{kind: itemSlow})
	}
	if m, ok := it.v.(*Message); ok && it.event == EventMessageNew {
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
			q.items = nil // an idle socket keeps no buffer (cap × 200 bytes)
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
// final change still run) and refuses new items.
func (q *eventQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	var keep []item
	for _, it := range q.items[q.head:] {
		switch it.kind {
		case itemState:
			keep = append(keep, it)
		case itemPage:
			close(it.done)
		}
	}
	q.items, q.head, q.events = keep, 0, 0
	q.kickLocked() // the final state change, and the clean-up
}

// dispatch is the body of a dispatcher goroutine: it runs the handlers of
// what is queued, and returns once the queue has stayed empty for
// dispatchLinger, or is closed and drained.
func (s *Socket) dispatch() {
	me := goid.Get()
	s.dispGID.Store(me)
	idle := new(idleWait)
	stopped := false
	defer func() {
		if !stopped {
			// A handler called runtime.Goexit (t.FailNow does): hand the
			// queue on, so that the rest is handled and Close does not
			// wait for this goroutine forever.
			s.dispGID.CompareAndSwap(me, 0)
			idle.stop()
			s.q.handOff()
		}
	}()
	for {
		it, ok, closed := s.q.next(idle)
		if ok {
			s.handle(it)
			continue
		}
		stopped = true
		// A dispatcher started since next may have stored its id already;
		// until this one clears its own, its id matches this goroutine only.
		s.dispGID.CompareAndSwap(me, 0)
		if closed {
			idle.stop()
			for _, c := range s.d.convs {
				c.stopGapTimer()
			}
			s.q.done()
		}
		return
	}
}

func (s *Socket) handle(it item) {
	switch it.kind {
	case itemEvent:
		s.handleEvent(it)
	case itemState:
		s.handleState(it.change)
	case itemReconnecting:
		run(s, &s.h.reconnecting, "reconnecting", it.n)
	case itemError:
		s.reportError(it.err)
	case itemSlow:
		s.reportError(ErrSlowConsumer)
	case itemLost:
		s.d.lost()
	case itemReady:
		s.d.ready()
	case itemRecover:
		s.d.recover(s.q.takeLost())
	case itemAnchor:
		m, _ := it.v.(*Message)
		s.d.anchor(it.conv, m)
	case itemPage:
		s.d.page(it)
		close(it.done)
	case itemForget:
		if c := s.d.convs[it.conv]; c != nil {
			c.stopGapTimer()
			delete(s.d.convs, it.conv)
		}
	case itemGap:
		s.d.gapExpired(it.v.(*convState))
	}
}

func (s *Socket) handleState(c StateChange) {
	run(s, &s.h.state, "state change", c)
	switch {
	case c.Current == StateConnected:
		run(s, &s.h.connect, "connect", struct{}{})
		if c.Previous == StateReconnecting && s.d.connectedOnce {
			run(s, &s.h.reconnect, "reconnect", struct{}{})
		}
		s.d.connectedOnce = true
	case c.Previous == StateConnected,
		c.Previous == StateReconnecting && c.Current == StateDisconnected:
		run(s, &s.h.disconnect, "disconnect", c.Reason)
	}
}

// left reports whether the caller left the conversation's room.
func (s *Socket) left(conversationID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[conversationID] == roomLeft
}

func (s *Socket) handleEvent(it item) {
	if it.err != nil {
		s.reportError(it.err)
		return
	}
	switch v := it.v.(type) {
	case *Message:
		if s.left(v.ConversationID) {
			return
		}
		if it.event == EventMessageNew {
			s.d.live(v)
		} else if !s.d.holdOther(v.ConversationID, it) {
			run(s, &s.h.messageUpdate, it.event, v)
		}
	case MessageDeletedEvent:
		if !s.left(v.ConversationID) && !s.d.holdOther(v.ConversationID, it) {
			run(s, &s.h.messageDelete, it.event, v)
		}
	case TypingEvent:
		if s.left(v.ConversationID) {
			return
		}
		if it.event == EventTypingStarted {
			run(s, &s.h.typingStart, it.event, v)
		} else {
			run(s, &s.h.typingStop, it.event, v)
		}
	case PresenceEvent:
		run(s, &s.h.presence, it.event, v)
	case ParticipantEvent:
		if s.left(v.ConversationID) {
			return
		}
		if it.event == EventParticipantOnline {
			run(s, &s.h.online, it.event, v)
		} else {
			run(s, &s.h.offline, it.event, v)
		}
	case ControlEvent:
		if s.left(v.ConversationID) {
			return
		}
		if l := s.h.controlList(string(v.Event), false); l != nil {
			run(s, l, it.event, v)
		}
		if l := s.h.controlList("*", false); l != nil {
			run(s, l, it.event, v)
		}
	}
}

// onEvent is socketio's event hook: it decodes and queues, nothing more.
func (s *Socket) onEvent(event string, args []json.RawMessage) {
	it, ok := decodeEvent(event, args)
	if !ok {
		s.log.LogAttrs(context.Background(), slog.LevelDebug, "messaging: ignoring unknown event", slog.String("event", event))
		return
	}
	s.q.pushEvent(it)
}

// decodeEvent reads a server event. It reports false for an event the SDK
// does not know (ignored, for forward compatibility); a known event with a
// payload it cannot read is returned with an error matching ErrMalformed.
func decodeEvent(event string, args []json.RawMessage) (item, bool) {
	var raw json.RawMessage
	if len(args) > 0 {
		raw = bytes.TrimSpace(args[0])
	}
	ok := func(v any) (item, bool) { return item{kind: itemEvent, event: event, v: v}, true }
	var err error
	switch event {
	case EventMessageNew, EventMessageUpdated:
		var m Message
		if err = decodeMessage(raw, &m); err == nil {
			if m.ID != "" && m.ConversationID != "" {
				return ok(&m)
			}
			err = errors.New("message without id or conversation_id")
		}
	case EventMessageDeleted:
		var e MessageDeletedEvent
		if err = decodeObject(raw, &e); err == nil {
			if e.ID != "" {
				return ok(e)
			}
			err = errors.New("no id")
		}
	case EventTypingStarted, EventTypingStopped:
		var e TypingEvent
		if err = decodeObject(raw, &e); err == nil {
			if e.ConversationID != "" && e.UserID != "" {
				return ok(e)
			}
			err = errors.New("no conversationId or userId")
		}
	case EventPresenceChanged:
		var e PresenceEvent
		if err = decodeObject(raw, &e); err == nil {
			if e.UserID != "" {
				return ok(e)
			}
			err = errors.New("no userId")
		}
	case EventParticipantOnline, EventParticipantOffline:
		var e ParticipantEvent
		if err = decodeObject(raw, &e); err == nil {
			if e.ConversationID != "" && e.UserID != "" {
				return ok(e)
			}
			err = errors.New("no conversationId or userId")
		}
	}
	// The service broadcasts control events under any name the sender
	// chose, even a name it uses itself: an object whose "event" field
	// repeats the event's name is one.
	if ce, isControl, cerr := decodeControl(event, raw); isControl {
		if cerr != nil {
			return item{kind: itemEvent, event: event, err: malformed(event+" event", cerr)}, true
		}
		return item{kind: itemEvent, event: event, v: ce}, true
	}
	if err != nil {
		return item{kind: itemEvent, event: event, err: malformed(event+" event", err)}, true
	}
	return item{}, false
}

func decodeControl(event string, raw json.RawMessage) (ControlEvent, bool, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return ControlEvent{}, false, nil
	}
	var probe struct {
		Event json.RawMessage `json:"event"`
	}
	var name string
	if json.Unmarshal(raw, &probe) != nil || json.Unmarshal(probe.Event, &name) != nil || name != event {
		return ControlEvent{}, false, nil
	}
	var ce ControlEvent
	if err := json.Unmarshal(raw, &ce); err != nil {
		return ce, true, err
	}
	if ce.ConversationID == "" {
		return ce, true, errors.New("no conversationId")
	}
	ce.Event = ControlEventName(controlKey(name))
	return ce, true, nil
}

func decodeObject(raw json.RawMessage, v any) error {
	if err := wantObject(raw); err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

// decodeMessage is decodeObject for a message row, calling Message's
// UnmarshalJSON directly: json.Unmarshal would validate the whole row
// first, and Message reads it strictly itself.
func decodeMessage(raw json.RawMessage, m *Message) error {
	if err := wantObject(raw); err != nil {
		return err
	}
	return m.UnmarshalJSON(raw)
}

func wantObject(raw json.RawMessage) error {
	if len(raw) == 0 || raw[0] != '{' {
		return errors.New("payload is " + orUndefined(raw) + ", want an object")
	}
	return nil
}

// ---- delivery of messages: identity, order, backfill ----

// Delivery tunables.
const (
	// backfillOverlap is how far before the last delivered message a
	// backfill starts. The service stamps created_at when a send starts,
	// not when it commits, so a message can become visible after a newer
	// one; the overlap catches it, and ids already delivered are dropped.
	backfillOverlap = time.Second
	// seenRetain is how long ids of delivered messages are remembered
	// (measured on the messages' own created_at), and seenSoft how many a
	// conversation keeps regardless of age: a repeat of an older message
	// would be delivered again.
	seenRetain = 2 * time.Minute
	seenSoft   = 256
	seenHard   = 1 << 17
	// failedRetrySpacing is how soon a live message may retry a backfill
	// that failed.
	failedRetrySpacing = time.Second
	// gapGrace is how long a message whose sequence skipped ahead waits for
	// the missing ones to arrive live before they are fetched: concurrent
	// senders' broadcasts routinely overtake each other by a little.
	gapGrace = 50 * time.Millisecond
)

// delivery is the per-conversation delivery state. It is owned by the
// dispatcher goroutine (anchorFor excepted, which only does I/O).
type delivery struct {
	s             *Socket
	convs         map[string]*convState
	connectedOnce bool
	stats         deliveryStats
}

// deliveryStats count what the delivery did (read by tests, under mu).
type deliveryStats struct {
	mu         sync.Mutex
	backfilled int64 // messages delivered from the history
	duplicates int64 // live messages dropped as already delivered
	fetches    int64 // history requests
}

func (st *deliveryStats) add(backfilled, duplicates, fetches int64) {
	st.mu.Lock()
	st.backfilled += backfilled
	st.duplicates += duplicates
	st.fetches += fetches
	st.mu.Unlock()
}

type convState struct {
	id string
	// has says the cursor below is set: from the first message delivered,
	// or from the newest message when the conversation was joined.
	has      bool
	lastAt   time.Time // newest created_at delivered
	maxSeq   int64     // highest sequence seen (a hint only)
	floor    time.Time // backfill never delivers messages created before it
	floorSeq int64     // nor, in floor's millisecond, one of a lower sequence
	floorID  string    // nor this one (the anchor)

	seen  map[string]time.Time
	order []string // seen ids, oldest first
	ohead int

	pendingLost bool      // the connection was lost: fetch after the next ready, hold live messages till then
	lostFrom    time.Time // where that fetch starts
	inflight    bool      // a fetch runs: hold live messages
	again       bool      // fetch again when it ends, from nextFrom
	nextFrom    time.Time
	failed      bool // the last fetch failed; retry from retryFrom
	failedAt    time.Time
	retryFrom   time.Time
	held        []*Message
	heldOther   []item      // edits and deletions that arrived while holding, in order
	noHistory   bool        // the history cannot be read (403): never backfill
	gapWait     bool        // a gap's grace period runs: hold live messages
	gapTimer    *time.Timer // ends it
}

func (c *convState) stopGapTimer() {
	if c.gapTimer != nil {
		c.gapTimer.Stop()
		c.gapTimer = nil
	}
	c.gapWait = false
}

func newDelivery(s *Socket) *delivery {
	return &delivery{s: s, convs: make(map[string]*convState)}
}

func (d *delivery) conv(id string) *convState {
	c := d.convs[id]
	if c == nil {
		c = &convState{id: id, seen: make(map[string]time.Time)}
		d.convs[id] = c
	}
	return c
}

// history reports whether missed messages are fetched: backfill is on and
// someone listens.
func (d *delivery) history() bool { return d.s.cfg.backfill && !d.s.h.message.empty() }

func (c *convState) isSeen(id string) bool { _, ok := c.seen[id]; return ok }

func (c *convState) markSeen(m *Message) {
	c.seen[m.ID] = m.CreatedAt
	c.order = append(c.order, m.ID)
	horizon := c.lastAt.Add(-seenRetain)
	for n := len(c.order) - c.ohead; n > seenSoft; n-- {
		id := c.order[c.ohead]
		if n <= seenHard && !c.seen[id].Before(horizon) {
			break
		}
		delete(c.seen, id)
		c.order[c.ohead] = ""
		c.ohead++
	}
	if c.ohead >= 1024 && 2*c.ohead >= len(c.order) {
		c.order = append(c.order[:0], c.order[c.ohead:]...)
		c.ohead = 0
	}
}

// belowFloor reports whether m is older than where the conversation's
// history starts for this socket: created before the floor, the anchor
// itself, or created in the floor's millisecond with a lower sequence.
// Timestamps have millisecond precision, so messages sent back to back
// share one; the sequence breaks that tie only when it differs (the
// service may repeat sequence numbers, and an equal one is delivered).
func (c *convState) belowFloor(m *Message) bool {
	switch {
	case m.ID == c.floorID:
		return true
	case m.CreatedAt.Before(c.floor):
		return true
	case m.CreatedAt.Equal(c.floor):
		return c.floorSeq > 0 && m.Sequence < c.floorSeq
	}
	return false
}

func (c *convState) holding() bool { return c.pendingLost || c.inflight || c.gapWait }

func (d *delivery) deliver(c *convState, m *Message) {
	c.markSeen(m)
	if !c.has {
		c.has, c.floor, c.floorSeq = true, m.CreatedAt, m.Sequence
	}
	if m.CreatedAt.After(c.lastAt) {
		c.lastAt = m.CreatedAt
	}
	c.maxSeq = max(c.maxSeq, m.Sequence)
	observed := d.s.observeDeliver(m)
	run(d.s, &d.s.h.message, EventMessageNew, m)
	observed.done()
}

func (d *delivery) hold(c *convState, m *Message) {
	if len(c.held) >= max(d.s.cfg.queueSize, 1000) {
		// Too much held: drop it and fetch it again later.
		d.request(c, m.CreatedAt.Add(-backfillOverlap))
		return
	}
	c.held = append(c.held, m)
}

// live handles a message:new from the connection.
func (d *delivery) live(m *Message) {
	c := d.conv(m.ConversationID)
	if c.isSeen(m.ID) {
		d.stats.add(0, 1, 0)
		return
	}
	if !d.history() || c.noHistory {
		d.deliver(c, m)
		return
	}
	switch {
	case c.gapWait:
		d.hold(c, m)
		d.fillGap(c)
	case c.holding():
		d.hold(c, m)
	case c.failed && time.Since(c.failedAt) >= failedRetrySpacing:
		d.hold(c, m)
		d.request(c, c.retryFrom)
	case c.has && !c.failed && m.Sequence > c.maxSeq+1:
		// The sequence skipped ahead: something may be missing. Give the
		// missing messages a moment to arrive live, then fetch them.
		d.hold(c, m)
		c.gapWait = true
		c.gapTimer = time.AfterFunc(gapGrace, func() {
			d.s.q.pushControl(item{kind: itemGap, v: c})
		})
	default:
		d.deliver(c, m)
	}
}

// fillGap ends a gap's grace period when the held messages have filled
// it: their sequence numbers run on from the last one seen.
func (d *delivery) fillGap(c *convState) {
	seqs := make([]int64, len(c.held))
	for i, m := range c.held {
		seqs[i] = m.Sequence
	}
	slices.Sort(seqs)
	next := c.maxSeq + 1
	for _, q := range seqs {
		switch {
		case q < next: // a repeat, or from before: sequence is a hint
		case q == next:
			next++
		default:
			return // still a gap
		}
	}
	c.stopGapTimer()
	if !c.inflight && !c.pendingLost {
		d.release(c)
	}
}

// gapExpired fetches what a gap's grace period did not bring.
func (d *delivery) gapExpired(c *convState) {
	if d.convs[c.id] != c || !c.gapWait {
		return // filled, left, or overtaken by a reconnection
	}
	c.stopGapTimer()
	d.request(c, c.lastAt.Add(-backfillOverlap))
}

// request starts a fetch of the history from from, or schedules one after
// the fetch in flight.
func (d *delivery) request(c *convState, from time.Time) {
	if c.inflight {
		if !c.again || from.Before(c.nextFrom) {
			c.nextFrom = from
		}
		c.again = true
		return
	}
	c.inflight, c.failed = true, false
	d.s.bf.push(fetchReq{c: c, from: from})
}

// lost marks every conversation with a cursor for a backfill after the
// next reconnection.
func (d *delivery) lost() {
	if !d.history() {
		return
	}
	for _, c := range d.convs {
		if !c.has || c.noHistory {
			continue
		}
		c.stopGapTimer() // the fetch after the reconnection covers the gap
		from := c.lastAt.Add(-backfillOverlap)
		if !c.pendingLost || from.Before(c.lostFrom) {
			c.lostFrom = from
		}
		c.pendingLost = true
	}
}

// ready starts the backfills the lost connection made necessary, and
// retries failed ones.
func (d *delivery) ready() {
	for _, c := range d.convs {
		switch {
		case c.pendingLost:
			c.pendingLost = false
			from := c.lostFrom
			if c.failed && c.retryFrom.Before(from) {
				from = c.retryFrom
			}
			if d.history() && !c.noHistory {
				d.request(c, from)
			} else {
				d.release(c)
			}
		case c.failed && d.history() && !c.noHistory:
			d.request(c, c.retryFrom)
		}
	}
}

// recover fetches the messages the full queue dropped.
func (d *delivery) recover(lost map[string]time.Time) {
	if !d.history() {
		return
	}
	for id, at := range lost {
		if d.s.left(id) {
			continue
		}
		c := d.conv(id)
		if c.noHistory {
			continue
		}
		if !c.has {
			c.has, c.floor, c.lastAt = true, at, at
		}
		d.request(c, at.Add(-backfillOverlap))
	}
}

// anchor sets where a newly joined conversation's history starts: after
// its newest message (m), or at its beginning when it has none.
func (d *delivery) anchor(id string, m *Message) {
	c := d.conv(id)
	if c.has {
		return
	}
	c.has = true
	if m != nil {
		c.lastAt, c.maxSeq, c.floor, c.floorSeq, c.floorID = m.CreatedAt, m.Sequence, m.CreatedAt, m.Sequence, m.ID
	}
}

// anchorFor reads the newest message of a conversation about to be
// joined (on the caller's goroutine; nil when backfill is off or the read
// fails — the first message delivered then sets the cursor).
func (d *delivery) anchorFor(ctx context.Context, id string) *item {
	if !d.s.cfg.backfill {
		return nil
	}
	page, err := d.s.rest.GetMessages(ctx, id, GetMessagesParams{Limit: 1, Before: time.Now().Add(firstPageSkew)})
	d.stats.add(0, 0, 1)
	if err != nil {
		d.s.log.LogAttrs(ctx, slog.LevelInfo, "messaging: cannot read where the history starts",
			slog.String("conversation", id), slog.String("error", err.Error()))
		return nil
	}
	var m *Message
	if len(page) > 0 {
		m = &page[0]
	}
	return &item{kind: itemAnchor, conv: id, v: m}
}

func byTime(a, b Message) int {
	return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.Sequence, b.Sequence))
}

// page delivers a page of fetched history, oldest first, skipping what was
// delivered already, control records and what predates the cursor's
// floor. The last page releases the messages held meanwhile.
func (d *delivery) page(it item) {
	c, _ := it.v.(*convState)
	if c == nil || d.convs[c.id] != c {
		return // the conversation was left meanwhile
	}
	if it.err != nil {
		c.inflight, c.failed, c.failedAt = false, true, time.Now()
		c.retryFrom = it.from
		if c.again && c.nextFrom.Before(c.retryFrom) {
			c.retryFrom = c.nextFrom
		}
		c.again = false
		if errors.Is(it.err, ErrForbidden) {
			c.noHistory, c.failed = true, false
		}
		if !c.pendingLost || c.noHistory {
			c.pendingLost = false
			d.release(c)
		}
		d.s.reportError(it.err)
		return
	}
	page := it.page
	slices.SortStableFunc(page, byTime)
	var n int64
	for i := range page {
		m := &page[i]
		c.maxSeq = max(c.maxSeq, m.Sequence)
		if m.IsControl() || m.DeletedAt != nil || c.belowFloor(m) || c.isSeen(m.ID) {
			continue
		}
		d.deliver(c, m)
		n++
	}
	d.stats.add(n, 0, 0)
	if !it.final {
		return
	}
	c.inflight = false
	switch {
	case c.again:
		// Another fetch is due (the connection dropped again, or more was
		// dropped): the held messages wait for it.
		c.again = false
		d.request(c, c.nextFrom)
	case c.pendingLost:
		// They also wait for the fetch after the coming reconnection.
	default:
		d.release(c)
	}
}

// release delivers the live messages held during a fetch, oldest first,
// then the edits and deletions that came meanwhile, in their order.
func (d *delivery) release(c *convState) {
	held, other := c.held, c.heldOther
	c.held, c.heldOther = nil, nil
	slices.SortStableFunc(held, func(a, b *Message) int { return byTime(*a, *b) })
	for _, m := range held {
		if !c.isSeen(m.ID) {
			d.deliver(c, m)
		}
	}
	for _, it := range other {
		d.s.handleEvent(it)
	}
}

// holdOther keeps an edit or a deletion back while its conversation holds
// messages, so that no handler hears of a change to a message before the
// message itself. It reports whether it did.
func (d *delivery) holdOther(conversationID string, it item) bool {
	c := d.convs[conversationID]
	if c == nil || !c.holding() || len(c.heldOther) >= max(d.s.cfg.queueSize, 1000) {
		return false
	}
	c.heldOther = append(c.heldOther, it)
	return true
}
