package messaging

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// The backfiller fetches missed messages over REST, one request at a time
// on its own goroutine, and hands each page to the dispatcher, waiting for
// it to be delivered before fetching the next: a long outage costs
// requests, not memory. The goroutine runs only while requests are queued:
// push starts it, and it returns when it finds the queue empty.

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

type fetchReq struct {
	c    *convState
	from time.Time
}

type backfiller struct {
	s       *Socket
	mu      sync.Mutex
	reqs    []fetchReq
	running bool // a goroutine runs run
}

func newBackfiller(s *Socket) *backfiller {
	return &backfiller{s: s}
}

// push queues a fetch, and starts the goroutine unless it runs. The
// goroutine decides to return under mu too (in next), so a request pushed
// while it is returning is not lost: either next finds it, or next ran
// first, cleared running, and push starts a new goroutine.
func (b *backfiller) push(r fetchReq) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reqs = append(b.reqs, r)
	if !b.running {
		b.running = b.s.workers.start(b.run)
	}
}

// next takes the oldest request; when there is none it reports false and
// marks the goroutine, which must then return, as stopped.
func (b *backfiller) next() (fetchReq, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.reqs) == 0 {
		b.running = false
		b.reqs = nil
		return fetchReq{}, false
	}
	r := b.reqs[0]
	b.reqs = slices.Delete(b.reqs, 0, 1)
	return r, true
}

// run is the backfill goroutine: it fetches until the queue is empty or
// the socket closes.
func (b *backfiller) run() {
	for {
		r, ok := b.next()
		if !ok {
			return
		}
		if b.fetch(r) != nil {
			// Closing: Close waits for this goroutine, and nothing starts
			// another (workers refuses). Leave the rest queued.
			b.mu.Lock()
			b.running = false
			b.mu.Unlock()
			return
		}
	}
}

var errBackfillStuck = errors.New("messaging: history backfill: the service keeps answering messages already seen")

// fetch pages through the messages created after r.from, oldest first.
// Pages overlap by a millisecond (the service compares created_at
// strictly, at millisecond precision), and ids already passed on are
// dropped. It returns an error only when the socket is closing.
func (b *backfiller) fetch(r fetchReq) error {
	ctx := b.s.base
	after := r.from
	if after.Before(epoch) {
		after = epoch
	}
	limit := backfillPage
	var lastAt time.Time
	atLast := make(map[string]bool) // ids passed on, created at lastAt
	for {
		page, err := b.s.rest.GetMessages(ctx, r.c.id, GetMessagesParams{Limit: limit, After: after})
		b.s.d.stats.add(0, 0, 1)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			err = fmt.Errorf("messaging: history backfill of conversation %s: %w", r.c.id, err)
			return b.hand(item{kind: itemPage, v: r.c, err: err, final: true, from: r.from})
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
				err := fmt.Errorf("%w (conversation %s)", errBackfillStuck, r.c.id)
				return b.hand(item{kind: itemPage, v: r.c, err: err, final: true, from: r.from})
			}
			limit = min(2*limit, maxBackfillPage)
			continue
		}
		if err := b.hand(item{kind: itemPage, v: r.c, page: fresh, final: final, from: r.from}); err != nil || final {
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

// hand passes a page to the dispatcher and waits until it was handled.
func (b *backfiller) hand(it item) error {
	it.done = make(chan struct{})
	b.s.q.pushControl(it)
	select {
	case <-it.done:
		return nil
	case <-b.s.base.Done():
		return b.s.base.Err()
	}
}
