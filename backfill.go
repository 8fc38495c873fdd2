package messaging

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/symbia-labs/messaging-go/internal/lazy"
)

// History backfill: the delivery's rules for fetching what the connection
// missed (after a reconnection, a sequence gap, an overflow of the handler
// queue), and the backfiller, which does the fetching.
//
// While a fetch runs, the conversation's newer live messages are held, so
// that the missed ones come first. A fetch never holds them longer than
// one page request may take (WithBackfillTimeout): a failed or timed-out
// request is reported through OnError as a *BackfillError, the held
// messages are delivered, and the gap stays marked and is fetched again
// after a backoff delay (or at the next reconnection, or the next need
// for a fetch, whichever comes first), without holding live messages any
// more. What it then brings is delivered late, each message still once.

// fetchReq asks for the history of c's conversation created after from.
type fetchReq struct {
	c    *convState
	from time.Time
}

// request starts a fetch of the history from from, or schedules one after
// the fetch in flight. With hold, live messages wait for it.
func (d *delivery) request(c *convState, from time.Time, hold bool) {
	if c.failed && c.retryFrom.Before(from) {
		from = c.retryFrom // the gap a failed fetch left
	}
	if hold {
		c.holdLive = true
	}
	if c.inflight {
		if !c.refetch || from.Before(c.refetchFrom) {
			c.refetchFrom = from
		}
		c.refetch = true
		return
	}
	c.stopRetryTimer()
	c.inflight, c.failed = true, false
	d.host.fetch(fetchReq{c: c, from: from})
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
	if !c.holding() {
		d.release(c)
	}
}

// gapExpired fetches what a gap's grace period did not bring.
func (d *delivery) gapExpired(c *convState) {
	if d.convs[c.id] != c || !c.gapWait {
		return // filled, left, or overtaken by a reconnection
	}
	c.stopGap = nil
	c.gapWait = false
	d.request(c, c.lastAt.Add(-backfillOverlap), true)
}

// lost marks every conversation with a cursor for a backfill after the
// next reconnection.
func (d *delivery) lost() {
	if !d.history() {
		return
	}
	for _, c := range d.convs {
		if !c.anchored || c.noHistory {
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
			if d.history() && !c.noHistory {
				d.request(c, c.lostFrom, true)
			} else {
				d.release(c)
			}
		case c.failed && !c.inflight && d.history() && !c.noHistory:
			d.request(c, c.retryFrom, false)
		}
	}
}

// recover fetches the messages the full queue dropped.
func (d *delivery) recover(lost map[string]time.Time) {
	if !d.history() {
		return
	}
	for id, at := range lost {
		if d.host.left(id) {
			continue
		}
		c := d.conv(id)
		if c.noHistory {
			continue
		}
		if !c.anchored {
			c.anchored, c.floor, c.lastAt = true, at, at
		}
		d.request(c, at.Add(-backfillOverlap), true)
	}
}

// page delivers a page of fetched history, oldest first, skipping what was
// delivered already, control records and what predates the cursor's
// floor. The final page ends the fetch and releases the messages held
// meanwhile.
func (d *delivery) page(r fetchReq, page []Message, final bool) {
	c := r.c
	if d.convs[c.id] != c {
		return // the conversation was left meanwhile
	}
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
	if !final {
		return
	}
	c.inflight, c.failures = false, 0
	switch {
	case c.refetch:
		// Another fetch is due (the connection dropped again, or more was
		// dropped): the held messages wait for it.
		c.refetch = false
		d.request(c, c.refetchFrom, false)
	case c.pendingLost:
		// They also wait for the fetch after the coming reconnection.
		d.notify(c, false)
	default:
		c.holdLive = false
		d.release(c)
	}
}

// fetchFailed ends a fetch that failed: it reports err, delivers the live
// messages held meanwhile, and marks the gap for a later fetch, which a
// timer starts after a backoff delay. A refusal to read the history
// (ErrForbidden) ends the conversation's backfill for good.
func (d *delivery) fetchFailed(r fetchReq, err error) {
	c := r.c
	if d.convs[c.id] != c {
		return
	}
	c.inflight, c.holdLive = false, false
	c.retryFrom = r.from
	if c.refetch && c.refetchFrom.Before(c.retryFrom) {
		c.retryFrom = c.refetchFrom
	}
	c.refetch = false
	err = &BackfillError{ConversationID: c.id, Err: err}
	if errors.Is(err, ErrForbidden) {
		c.noHistory, c.pendingLost, c.historyErr = true, false, err
	} else {
		c.failed = true
		c.stopRetryTimer()
		c.stopRetry = d.host.after(d.cfg.retry.Duration(c.failures), func() { d.retry(c) })
		c.failures++
	}
	// Report first: handlers learn why before newer messages overtake
	// the missing ones (the order doc.go states).
	d.host.report(err)
	d.release(c)
}

// retry fetches again the gap a failed fetch left, without holding live
// messages, unless something else has fetched it meanwhile.
func (d *delivery) retry(c *convState) {
	c.stopRetry = nil
	if d.convs[c.id] != c || !c.failed || c.inflight || c.pendingLost || !d.history() {
		return
	}
	d.request(c, c.retryFrom, false)
}

// BackfillError reports, through OnError, a history backfill of one
// conversation that failed or timed out (WithBackfillTimeout). The socket
// has then delivered the newer live messages it held, and fetches the
// missed ones again later; they are delivered when that succeeds, after
// newer ones, each once. Err is the cause: the REST error (an *APIError,
// ErrForbidden: the conversation is no longer backfilled), or an error
// matching context.DeadlineExceeded when the request timed out.
type BackfillError struct {
	ConversationID string
	Err            error
}

func (e *BackfillError) Error() string {
	return "messaging: history backfill of conversation " + e.ConversationID + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *BackfillError) Unwrap() error { return e.Err }

// ---- the backfiller ----

// The backfiller fetches missed messages over REST, one request at a time
// on its own goroutine, and hands each page to the delivery, waiting for
// it to be delivered before fetching the next: a long outage costs
// requests, not memory. The goroutine (an internal/lazy Worker) runs only
// while requests are queued.

const (
	// backfillPage is how many new messages each history request asks for.
	// A backfill starts a second before the last message delivered, so in
	// a busy conversation the first page holds a second's worth of
	// messages already seen: pages of 500 keep that to one request.
	backfillPage = 500
	// maxBackfillPage stops the page from growing forever on a server that
	// keeps answering full pages of messages already seen.
	maxBackfillPage = 1 << 14
)

// epoch is the earliest "after" a backfill asks for: a conversation
// anchored while empty is fetched from its beginning.
var epoch = time.UnixMilli(0).UTC()

// historyReader reads one page of a conversation's history.
type historyReader func(ctx context.Context, conversationID string, p GetMessagesParams) ([]Message, error)

type backfiller struct {
	ctx     context.Context // ends at Close
	read    historyReader
	timeout time.Duration // bounds each request
	// toDelivery runs fn on the delivery's goroutine.
	toDelivery func(fn func())
	delivery   *delivery

	mu     sync.Mutex
	reqs   []fetchReq
	worker *lazy.Worker // runs the fetches, on mu
}

func newBackfiller(b *backfiller) *backfiller {
	b.worker = lazy.New(&b.mu, b.next)
	return b
}

// push queues a fetch and starts the goroutine unless it runs (nothing
// after close).
func (b *backfiller) push(r fetchReq) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reqs = append(b.reqs, r)
	b.worker.KickLocked()
}

// next takes the oldest request, under mu; with none left, or once the
// socket closes, the goroutine returns.
func (b *backfiller) next() (job func(), ok bool) {
	if len(b.reqs) == 0 || b.ctx.Err() != nil {
		b.reqs = nil
		return nil, false
	}
	r := b.reqs[0]
	b.reqs = slices.Delete(b.reqs, 0, 1)
	return func() { _ = b.fetch(r) }, true
}

// close stops the backfiller and waits for its goroutine; the socket's
// context has ended, which ends the request in flight.
func (b *backfiller) close() { b.worker.Close() }

var errBackfillStuck = errors.New("messaging: history backfill: the service keeps answering messages already seen")

// readPage reads one page, bounded by the backfill timeout.
func (b *backfiller) readPage(id string, p GetMessagesParams) ([]Message, error) {
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	defer cancel()
	page, err := b.read(ctx, id, p)
	if err != nil && b.ctx.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		if !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		err = fmt.Errorf("no answer within %v: %w", b.timeout, err)
	}
	return page, err
}

// fetch pages through the messages created after r.from, oldest first.
// Pages overlap by a millisecond (the service compares created_at
// strictly, at millisecond precision: docs/PROTOCOL.md, "Message history
// ordering"), and ids already passed on are dropped. It returns an error only when the socket is closing.
func (b *backfiller) fetch(r fetchReq) error {
	after := r.from
	if after.Before(epoch) {
		after = epoch
	}
	limit := backfillPage
	var lastAt time.Time
	atLast := make(map[string]bool) // ids passed on, created at lastAt
	failed := func(err error) error {
		return b.hand(func() { b.delivery.fetchFailed(r, err) })
	}
	for {
		page, err := b.readPage(r.c.id, GetMessagesParams{Limit: limit, After: after})
		if b.ctx.Err() != nil {
			return b.ctx.Err()
		}
		if err != nil {
			return failed(err)
		}
		final := len(page) < limit
		slices.SortStableFunc(page, byTime)
		fresh := make([]Message, 0, len(page))
		for _, m := range page {
			if !(m.CreatedAt.Equal(lastAt) && atLast[m.ID]) {
				fresh = append(fresh, m)
			}
		}
		if len(fresh) == 0 && !final {
			// One millisecond holds more than a page: ask for more.
			if limit >= maxBackfillPage {
				return failed(errBackfillStuck)
			}
			limit = min(2*limit, maxBackfillPage)
			continue
		}
		if err := b.hand(func() { b.delivery.page(r, fresh, final) }); err != nil || final {
			return err
		}
		if newest := page[len(page)-1].CreatedAt; !newest.Equal(lastAt) {
			lastAt = newest
			clear(atLast)
		}
		for _, m := range page {
			if m.CreatedAt.Equal(lastAt) {
				atLast[m.ID] = true
			}
		}
		after = lastAt.Add(-time.Millisecond)
		limit = min(backfillPage+len(atLast), maxBackfillPage)
	}
}

// hand runs fn on the delivery's goroutine and waits until it ran.
func (b *backfiller) hand(fn func()) error {
	done := make(chan struct{})
	b.toDelivery(func() {
		defer close(done)
		fn()
	})
	select {
	case <-done:
		return nil
	case <-b.ctx.Done():
		return b.ctx.Err()
	}
}
