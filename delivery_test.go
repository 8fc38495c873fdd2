package messaging

// Unit tests of the delivery alone: a fake host records what it delivers,
// fetches and reports, and a fake clock runs its timers. Everything runs
// synchronously on the test's goroutine.

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/symbia-labs/messaging-go/internal/backoff"
)

type fakeTimer struct {
	at      time.Duration
	fn      func()
	stopped bool
}

// fakeHost is a deliveryHost that records, with a clock of its own.
type fakeHost struct {
	delivered []string // contents, in delivery order
	replayed  []string // names of replayed events
	fetches   []fetchReq
	errs      []error
	trail     []string // "deliver" and "report", in call order
	deaf      bool     // no OnMessage handler
	leftConvs map[string]bool
	now       time.Duration
	timers    []*fakeTimer
}

func (h *fakeHost) deliver(m *Message) {
	h.delivered = append(h.delivered, m.Content)
	h.trail = append(h.trail, "deliver")
}
func (h *fakeHost) replay(ev event)  { h.replayed = append(h.replayed, ev.name) }
func (h *fakeHost) fetch(r fetchReq) { h.fetches = append(h.fetches, r) }
func (h *fakeHost) report(err error) {
	h.errs = append(h.errs, err)
	h.trail = append(h.trail, "report")
}
func (h *fakeHost) listening() bool     { return !h.deaf }
func (h *fakeHost) left(id string) bool { return h.leftConvs[id] }
func (h *fakeHost) pending() (n int) {
	for _, t := range h.timers {
		if !t.stopped {
			n++
		}
	}
	return n
}

func (h *fakeHost) after(d time.Duration, fn func()) func() {
	t := &fakeTimer{at: h.now + d, fn: fn}
	h.timers = append(h.timers, t)
	return func() { t.stopped = true }
}

// advance moves the clock on by d, running the timers that come due.
func (h *fakeHost) advance(d time.Duration) {
	h.now += d
	for ran := true; ran; {
		ran = false
		for _, t := range h.timers {
			if !t.stopped && t.at <= h.now {
				t.stopped, ran = true, true
				t.fn()
			}
		}
	}
}

// take returns and forgets what was delivered so far.
func (h *fakeHost) take() []string {
	out := h.delivered
	h.delivered = nil
	return out
}

// lastFetch returns the fetch most recently started.
func (h *fakeHost) lastFetch(t *testing.T) fetchReq {
	t.Helper()
	require.NotEmpty(t, h.fetches, "no fetch started")
	return h.fetches[len(h.fetches)-1]
}

var testRetry = backoff.Backoff{Min: time.Second, Max: 8 * time.Second, Factor: 2}

func newTestDelivery() (*delivery, *fakeHost) {
	h := &fakeHost{}
	return newDelivery(h, deliveryConfig{backfill: true, retry: testRetry}), h
}

func ptr(m Message) *Message { return &m }

// msgs returns unitMsg of each sequence number.
func msgs(seqs ...int64) []Message {
	out := make([]Message, len(seqs))
	for i, s := range seqs {
		out[i] = unitMsg(s)
	}
	return out
}

func strs(seqs ...int64) []string {
	out := make([]string, len(seqs))
	for i, s := range seqs {
		out[i] = fmt.Sprint(s)
	}
	return out
}

// reconnect makes d go through a lost connection and its reconnection,
// and returns the fetch that started.
func reconnect(t *testing.T, d *delivery, h *fakeHost) fetchReq {
	t.Helper()
	n := len(h.fetches)
	d.lost()
	d.ready()
	require.Len(t, h.fetches, n+1, "one fetch after the reconnection")
	return h.lastFetch(t)
}

func TestDelivery_DropsRepeatsByID(t *testing.T) {
	d, h := newTestDelivery()
	d.live(ptr(unitMsg(1)))
	d.live(ptr(unitMsg(1)))
	again := unitMsg(1)
	again.Sequence = 2 // the service may repeat or renumber; the id decides
	d.live(&again)
	r := reconnect(t, d, h)
	d.page(r, msgs(1, 2), true)
	assert.Equal(t, strs(1, 2), h.take())
}

func TestDelivery_BackfillStartsBeforeTheLastMessage(t *testing.T) {
	d, h := newTestDelivery()
	d.live(ptr(unitMsg(5)))
	r := reconnect(t, d, h)
	assert.Equal(t, unitMsg(5).CreatedAt.Add(-backfillOverlap), r.from)
	assert.Same(t, d.convs[unitConv], r.c)
}

func TestDelivery_HoldsLiveMessagesDuringAFetch(t *testing.T) {
	d, h := newTestDelivery()
	d.live(ptr(unitMsg(1)))
	h.take()
	d.lost()
	d.live(ptr(unitMsg(6))) // queued from the new connection before it was ready
	d.ready()
	r := h.lastFetch(t)
	d.live(ptr(unitMsg(5)))
	assert.Empty(t, h.take(), "held while the fetch runs")
	d.page(r, msgs(3, 2), false)
	assert.Equal(t, strs(2, 3), h.take(), "a page, oldest first")
	d.page(r, msgs(4, 5), true)
	assert.Equal(t, strs(4, 5, 6), h.take(), "the rest, then the held ones, each once, in order")
	assert.Empty(t, h.errs)
}

func TestDelivery_HoldsEditsBehindHeldMessages(t *testing.T) {
	d, h := newTestDelivery()
	d.live(ptr(unitMsg(1)))
	r := reconnect(t, d, h)
	d.live(ptr(unitMsg(3)))
	assert.True(t, d.holdOther(unitConv, event{name: EventMessageUpdated, message: ptr(unitMsg(3))}))
	assert.Empty(t, h.replayed)
	d.page(r, msgs(2), true)
	assert.Equal(t, strs(1, 2, 3), h.take())
	assert.Equal(t, []string{EventMessageUpdated}, h.replayed, "after the message it changes")
	assert.False(t, d.holdOther(unitConv, event{name: EventMessageDeleted}), "nothing held: passes")
}

func TestDelivery_GapFilledLiveWithinTheGrace(t *testing.T) {
	d, h := newTestDelivery()
	d.live(ptr(unitMsg(1)))
	d.live(ptr(unitMsg(3)))
	assert.Equal(t, strs(1), h.take(), "3 waits for 2")
	d.live(ptr(unitMsg(2)))
	assert.Equal(t, strs(2, 3), h.take())
	assert.Zero(t, h.pending(), "the grace timer stopped")
	h.advance(time.Second)
	assert.Empty(t, h.fetches)
}

func TestDelivery_GapFetchedAfterTheGrace(t *testing.T) {
	d, h := newTestDelivery()
	d.live(ptr(unitMsg(1)))
	d.live(ptr(unitMsg(4)))
	h.advance(gapGrace - time.Millisecond)
	assert.Empty(t, h.fetches)
	h.advance(time.Millisecond)
	r := h.lastFetch(t)
	assert.Equal(t, unitMsg(1).CreatedAt.Add(-backfillOverlap), r.from)
	d.live(ptr(unitMsg(5)))
	d.page(r, msgs(1, 2, 3, 4), true)
	assert.Equal(t, strs(1, 2, 3, 4, 5), h.take())
}

func TestDelivery_OverflowIsBackfilled(t *testing.T) {
	d, h := newTestDelivery()
	d.live(ptr(unitMsg(1)))
	d.recover(map[string]time.Time{unitConv: unitMsg(2).CreatedAt})
	r := h.lastFetch(t)
	assert.Equal(t, unitMsg(2).CreatedAt.Add(-backfillOverlap), r.from)
	d.live(ptr(unitMsg(4)))
	d.page(r, msgs(2, 3), true)
	assert.Equal(t, strs(1, 2, 3, 4), h.take())
}

func TestDelivery_OverflowOfALeftConversationIsNotFetched(t *testing.T) {
	d, h := newTestDelivery()
	h.leftConvs = map[string]bool{unitConv: true}
	d.recover(map[string]time.Time{unitConv: unitT0})
	assert.Empty(t, h.fetches)
}

func TestDelivery_LeaveDropsTheFetchInFlight(t *testing.T) {
	d, h := newTestDelivery()
	d.live(ptr(unitMsg(1)))
	d.live(ptr(unitMsg(3)))
	r := reconnect(t, d, h)
	h.take()
	d.forget(unitConv)
	d.page(r, msgs(2), true)
	d.fetchFailed(r, errors.New("late"))
	assert.Empty(t, h.take())
	assert.Empty(t, h.errs)
	assert.Zero(t, h.pending())
}

func TestDelivery_NoHandlerNoFetch(t *testing.T) {
	d, h := newTestDelivery()
	h.deaf = true
	d.live(ptr(unitMsg(1)))
	d.live(ptr(unitMsg(5)))
	d.lost()
	d.ready()
	assert.Empty(t, h.fetches)
	assert.Equal(t, strs(1, 5), h.take())
}

// A fetch that fails (here: times out) holds nothing any more: the held
// messages are delivered, the error is reported naming the conversation,
// and the gap is fetched again after a backoff delay, without holding the
// newer live messages, each message delivered once.
func TestDelivery_FailedFetchReleasesThenFillsTheGap(t *testing.T) {
	d, h := newTestDelivery()
	d.live(ptr(unitMsg(1)))
	h.take()
	r := reconnect(t, d, h)
	d.live(ptr(unitMsg(5)))
	assert.Empty(t, h.take())

	timeout := fmt.Errorf("no answer within 10s: %w", context.DeadlineExceeded)
	h.trail = nil
	d.fetchFailed(r, timeout)
	assert.Equal(t, []string{"report", "deliver"}, h.trail, "handlers learn of the failure before newer messages overtake the missing ones")
	assert.Equal(t, strs(5), h.take(), "the held message, at the failure")
	require.Len(t, h.errs, 1)
	var be *BackfillError
	require.ErrorAs(t, h.errs[0], &be)
	assert.Equal(t, unitConv, be.ConversationID)
	assert.ErrorIs(t, h.errs[0], context.DeadlineExceeded)
	assert.Contains(t, h.errs[0].Error(), unitConv)

	d.live(ptr(unitMsg(6)))
	assert.Equal(t, strs(6), h.take(), "no longer held")

	// A second failure doubles the delay.
	h.advance(time.Second)
	r2 := h.lastFetch(t)
	assert.Equal(t, r.from, r2.from, "the same gap")
	d.live(ptr(unitMsg(7)))
	assert.Equal(t, strs(7), h.take(), "a retry holds nothing")
	d.fetchFailed(r2, timeout)
	n := len(h.fetches)
	h.advance(2*time.Second - time.Millisecond)
	assert.Len(t, h.fetches, n, "the backoff doubled")
	h.advance(time.Millisecond)
	r3 := h.lastFetch(t)
	require.Len(t, h.fetches, n+1)

	d.page(r3, msgs(1, 2, 3, 4, 5, 6, 7), true)
	assert.Equal(t, strs(2, 3, 4), h.take(), "the gap, once")
	assert.Zero(t, h.pending(), "no retry left")
	assert.Len(t, h.errs, 2)

	// The cursor is whole again: a reconnection fetches from the newest.
	r4 := reconnect(t, d, h)
	assert.Equal(t, unitMsg(7).CreatedAt.Add(-backfillOverlap), r4.from)
}

func TestDelivery_FailedFetchIsRetriedByTheNextReconnection(t *testing.T) {
	d, h := newTestDelivery()
	d.live(ptr(unitMsg(1)))
	r := reconnect(t, d, h)
	d.fetchFailed(r, errors.New("boom"))
	d.live(ptr(unitMsg(9)))
	r2 := reconnect(t, d, h)
	assert.Equal(t, r.from, r2.from, "from the older gap")
	assert.Zero(t, h.pending(), "the retry timer made way")
}

func TestDelivery_ForbiddenHistoryEndsTheBackfill(t *testing.T) {
	d, h := newTestDelivery()
	d.live(ptr(unitMsg(1)))
	r := reconnect(t, d, h)
	d.live(ptr(unitMsg(3)))
	d.fetchFailed(r, &APIError{StatusCode: 403, Message: "no"})
	require.Len(t, h.errs, 1)
	require.ErrorIs(t, h.errs[0], ErrForbidden)
	assert.Equal(t, strs(1, 3), h.take())
	assert.Zero(t, h.pending(), "no retry")
	d.live(ptr(unitMsg(7)))
	d.lost()
	d.ready()
	assert.Len(t, h.fetches, 1, "never again")
	assert.Equal(t, strs(7), h.take())
}

// caughtUp registers a WaitCaughtUp waiter and returns what it was told
// so far (nil slice: nothing yet).
func caughtUp(d *delivery, id string) *[]error {
	var got []error
	d.whenCaughtUp(id, func(err error) { got = append(got, err) })
	return &got
}

func TestDelivery_WhenCaughtUp(t *testing.T) {
	d, h := newTestDelivery()
	assert.Equal(t, []error{nil}, *caughtUp(d, unitConv), "unknown: nothing missing")
	d.live(ptr(unitMsg(1)))
	assert.Equal(t, []error{nil}, *caughtUp(d, unitConv), "nothing missing")

	d.lost()
	w := caughtUp(d, unitConv)
	d.ready()
	r := h.lastFetch(t)
	d.live(ptr(unitMsg(4)))
	d.page(r, msgs(2), false)
	assert.Empty(t, *w, "a page is not the end")
	d.fetchFailed(r, errors.New("boom"))
	assert.Empty(t, *w, "the gap is still open")
	h.advance(time.Second)
	d.page(h.lastFetch(t), msgs(2, 3, 4), true)
	assert.Equal(t, []error{nil}, *w, "told once, when the gap is filled")
	assert.Equal(t, strs(1, 2, 4, 3), h.take())

	d.live(ptr(unitMsg(6)))
	w = caughtUp(d, unitConv)
	assert.Empty(t, *w, "a gap's grace period")
	d.live(ptr(unitMsg(5)))
	assert.Equal(t, []error{nil}, *w, "filled live")

	r = reconnect(t, d, h)
	w = caughtUp(d, unitConv)
	d.forget(unitConv)
	assert.Equal(t, []error{nil}, *w, "left")
	d.page(r, nil, true)
	assert.Len(t, *w, 1)
}

func TestDelivery_WhenCaughtUpWithForbiddenHistory(t *testing.T) {
	d, h := newTestDelivery()
	d.live(ptr(unitMsg(1)))
	r := reconnect(t, d, h)
	w := caughtUp(d, unitConv)
	d.fetchFailed(r, &APIError{StatusCode: 403, Message: "no"})
	require.Len(t, *w, 1)
	var be *BackfillError
	require.ErrorAs(t, (*w)[0], &be)
	assert.ErrorIs(t, (*w)[0], ErrForbidden)
	assert.Equal(t, unitConv, be.ConversationID)
}

// Past its bound, a held message is dropped and fetched again with the
// rest: nothing is lost, and held memory stays bounded.
func TestDelivery_TooMuchHeldIsFetchedAgain(t *testing.T) {
	d, h := newTestDelivery()
	d.live(ptr(unitMsg(1)))
	h.take()
	r := reconnect(t, d, h)
	for i := int64(2); i < 2+minHeld+1; i++ {
		d.live(ptr(unitMsg(i)))
	}
	assert.Len(t, d.convs[unitConv].held, minHeld)
	d.page(r, nil, true)
	again := h.lastFetch(t)
	assert.Len(t, h.fetches, 2, "fetched again after the fetch in flight")
	assert.Equal(t, unitMsg(2+minHeld).CreatedAt.Add(-backfillOverlap), again.from)
	assert.Empty(t, h.take(), "still held behind the second fetch")
	d.page(again, msgs(2+minHeld), true)
	assert.Len(t, h.take(), minHeld+1, "each once")
}
