package messaging

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/symbia-labs/messaging-go/internal/backoff"
)

// Delivery of new messages: identity (each message once, by id), order
// (oldest first within a conversation) and the backfill of what the
// connection missed (backfill.go). The delivery state is owned by the
// dispatcher goroutine; everything it needs from outside goes through
// deliveryHost, so that its tests drive it synchronously, without a
// socket, a server or a clock. See docs/PROTOCOL.md for what the service
// does that these rules rely on (timestamps, sequence numbers, paging).

// deliveryHost is what the delivery needs from the socket. Its methods
// are called on the delivery's own goroutine (the dispatcher).
type deliveryHost interface {
	// deliver runs the OnMessage handlers.
	deliver(m *Message)
	// replay runs the handlers of an edit or deletion held back.
	replay(ev event)
	// fetch starts reading the history of r's conversation from r.from,
	// without waiting. Its outcome comes back, on the delivery's
	// goroutine, as calls of page (each page, the last one final) or of
	// fetchFailed.
	fetch(r fetchReq)
	// report passes an error to OnError.
	report(err error)
	// listening reports whether anyone listens for new messages.
	listening() bool
	// left reports whether the caller left the conversation's room.
	left(conversationID string) bool
	// after runs fn on the delivery's goroutine once d has passed, unless
	// stop was called first.
	after(d time.Duration, fn func()) (stop func())
}

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
	// gapGrace is how long a message whose sequence skipped ahead waits for
	// the missing ones to arrive live before they are fetched: concurrent
	// senders' broadcasts routinely overtake each other by a little.
	gapGrace = 50 * time.Millisecond
	// minHeld is the least number of live messages (and of edits and
	// deletions) a conversation may hold during a fetch.
	minHeld = 1000
)

// deliveryConfig is what the delivery reads from the socket's options.
type deliveryConfig struct {
	backfill bool            // WithBackfill
	maxHeld  int             // live messages held per conversation before they are dropped and fetched again
	retry    backoff.Backoff // delays between attempts of a failed fetch
}

// delivery is the per-conversation delivery state.
type delivery struct {
	host  deliveryHost
	cfg   deliveryConfig
	convs map[string]*convState
	stats deliveryStats
}

// deliveryStats count what the delivery did; SocketStats reads them for
// the tests of the external package, under mu.
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

// convState is the delivery state of one conversation.
type convState struct {
	id string
	// anchored says the cursor below is set: from the first message
	// delivered, or from the newest message when the conversation was
	// joined.
	anchored bool
	lastAt   time.Time // newest created_at delivered
	maxSeq   int64     // highest sequence seen (a hint only)
	floor    time.Time // backfill never delivers messages created before it
	floorSeq int64     // nor, in floor's millisecond, one of a lower sequence
	floorID  string    // nor this one (the anchor)

	seen     map[string]time.Time
	seenIDs  []string // seen ids, oldest first
	seenHead int

	held      []*Message
	heldOther []event // edits and deletions that arrived while holding, in order

	// Backfill state (backfill.go).
	pendingLost bool      // the connection was lost: fetch after the next ready, hold live messages till then
	lostFrom    time.Time // where that fetch starts
	inflight    bool      // a fetch runs
	holdLive    bool      // live messages wait for the fetch in flight
	refetch     bool      // fetch again when the fetch in flight ends, from refetchFrom
	refetchFrom time.Time
	failed      bool // the last fetch failed: the gap from retryFrom is still to fill
	retryFrom   time.Time
	failures    int    // fetches failed in a row
	stopRetry   func() // cancels the retry timer
	noHistory   bool   // the history cannot be read (403): never backfill
	gapWait     bool   // a gap's grace period runs: hold live messages
	stopGap     func() // ends it
	historyErr  error  // why noHistory

	waiters []func(error) // WaitCaughtUp calls, told once the conversation is caught up
}

// behind reports whether the conversation has missed messages the
// delivery knows of and may still deliver, or holds live ones.
func (c *convState) behind() bool {
	return c.pendingLost || c.inflight || c.refetch || c.failed || c.gapWait || len(c.held) > 0
}

// whenCaughtUp calls fn once the conversation is not behind: at once if
// it is not, with nil, or with the error that ended its backfill for good.
func (d *delivery) whenCaughtUp(id string, fn func(error)) {
	c := d.convs[id]
	switch {
	case c == nil:
		fn(nil)
	case !c.behind():
		fn(c.historyErr)
	default:
		c.waiters = append(c.waiters, fn)
	}
}

// notify tells the waiters of a conversation that has caught up (all of
// them, with force: the conversation was left).
func (d *delivery) notify(c *convState, force bool) {
	if len(c.waiters) == 0 || (c.behind() && !force) {
		return
	}
	ws := c.waiters
	c.waiters = nil
	for _, fn := range ws {
		fn(c.historyErr)
	}
}

func (c *convState) stopGapTimer() {
	if c.stopGap != nil {
		c.stopGap()
		c.stopGap = nil
	}
	c.gapWait = false
}

func (c *convState) stopRetryTimer() {
	if c.stopRetry != nil {
		c.stopRetry()
		c.stopRetry = nil
	}
}

func newDelivery(host deliveryHost, cfg deliveryConfig) *delivery {
	cfg.maxHeld = max(cfg.maxHeld, minHeld)
	return &delivery{host: host, cfg: cfg, convs: make(map[string]*convState)}
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
func (d *delivery) history() bool { return d.cfg.backfill && d.host.listening() }

func (c *convState) isSeen(id string) bool { _, ok := c.seen[id]; return ok }

func (c *convState) markSeen(m *Message) {
	c.seen[m.ID] = m.CreatedAt
	c.seenIDs = append(c.seenIDs, m.ID)
	horizon := c.lastAt.Add(-seenRetain)
	for n := len(c.seenIDs) - c.seenHead; n > seenSoft; n-- {
		id := c.seenIDs[c.seenHead]
		if n <= seenHard && !c.seen[id].Before(horizon) {
			break
		}
		delete(c.seen, id)
		c.seenIDs[c.seenHead] = ""
		c.seenHead++
	}
	if c.seenHead >= 1024 && 2*c.seenHead >= len(c.seenIDs) {
		c.seenIDs = append(c.seenIDs[:0], c.seenIDs[c.seenHead:]...)
		c.seenHead = 0
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

// holding reports whether live messages wait: for the fetch after a
// reconnection, for the fetch in flight, or for a gap's grace period.
func (c *convState) holding() bool { return c.pendingLost || (c.inflight && c.holdLive) || c.gapWait }

func (d *delivery) deliver(c *convState, m *Message) {
	c.markSeen(m)
	if !c.anchored {
		c.anchored, c.floor, c.floorSeq = true, m.CreatedAt, m.Sequence
	}
	if m.CreatedAt.After(c.lastAt) {
		c.lastAt = m.CreatedAt
	}
	c.maxSeq = max(c.maxSeq, m.Sequence)
	d.host.deliver(m)
}

func (d *delivery) hold(c *convState, m *Message) {
	if len(c.held) >= d.cfg.maxHeld {
		// Too much held: drop it and fetch it again later.
		d.request(c, m.CreatedAt.Add(-backfillOverlap), true)
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
	case c.anchored && !c.failed && m.Sequence > c.maxSeq+1:
		// The sequence skipped ahead: something may be missing. Give the
		// missing messages a moment to arrive live, then fetch them.
		d.hold(c, m)
		c.gapWait = true
		c.stopGap = d.host.after(gapGrace, func() { d.gapExpired(c) })
	default:
		d.deliver(c, m)
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
	for _, ev := range other {
		d.host.replay(ev)
	}
	d.notify(c, false)
}

// holdOther keeps an edit or a deletion back while its conversation holds
// messages, so that no handler hears of a change to a message before the
// message itself. It reports whether it did.
func (d *delivery) holdOther(conversationID string, ev event) bool {
	c := d.convs[conversationID]
	if c == nil || !c.holding() || len(c.heldOther) >= d.cfg.maxHeld {
		return false
	}
	c.heldOther = append(c.heldOther, ev)
	return true
}

// anchor sets where a newly joined conversation's history starts: after
// its newest message (m), or at its beginning when it has none.
func (d *delivery) anchor(id string, m *Message) {
	c := d.conv(id)
	if c.anchored {
		return
	}
	c.anchored = true
	if m != nil {
		c.lastAt, c.maxSeq, c.floor, c.floorSeq, c.floorID = m.CreatedAt, m.Sequence, m.CreatedAt, m.Sequence, m.ID
	}
}

// forget drops a conversation the caller left. A fetch in flight for it
// finds it gone and is ignored.
func (d *delivery) forget(id string) {
	if c := d.convs[id]; c != nil {
		c.stopGapTimer()
		c.stopRetryTimer()
		delete(d.convs, id)
		d.notify(c, true)
	}
}

// stopTimers stops every timer, at close.
func (d *delivery) stopTimers() {
	for _, c := range d.convs {
		c.stopGapTimer()
		c.stopRetryTimer()
	}
}

func byTime(a, b Message) int {
	return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.Sequence, b.Sequence))
}
