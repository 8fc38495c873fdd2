package messaging

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newTestBackfiller returns a backfiller reading through read, whose
// hand-overs run on the caller's goroutine, for d.
func newTestBackfiller(d *delivery, read historyReader, timeout time.Duration) *backfiller {
	return newBackfiller(&backfiller{
		ctx:        context.Background(),
		read:       read,
		timeout:    timeout,
		toDelivery: func(fn func()) { fn() },
		delivery:   d,
	})
}

// A history request that is never answered ends after the backfill
// timeout, and the delivery hears of it as a timeout.
func TestBackfiller_EachRequestHasItsTimeout(t *testing.T) {
	d, h := newTestDelivery()
	d.live(ptr(unitMsg(1)))
	r := reconnect(t, d, h)
	d.live(ptr(unitMsg(5)))
	b := newTestBackfiller(d, func(ctx context.Context, _ string, _ GetMessagesParams) ([]Message, error) {
		<-ctx.Done() // a black hole
		return nil, ctx.Err()
	}, 20*time.Millisecond)
	require.NoError(t, b.fetch(r))
	assert.Equal(t, strs(1, 5), h.take(), "the held message is delivered")
	require.Len(t, h.errs, 1)
	assert.ErrorIs(t, h.errs[0], context.DeadlineExceeded)
	assert.Contains(t, h.errs[0].Error(), "no answer within 20ms")
}

func TestBackfiller_PagesUntilAShortPage(t *testing.T) {
	d, h := newTestDelivery()
	d.live(ptr(unitMsg(0)))
	h.take()
	r := reconnect(t, d, h)
	var history []Message
	for i := int64(1); i <= backfillPage+10; i++ {
		history = append(history, unitMsg(i))
	}
	var calls int
	b := newTestBackfiller(d, func(_ context.Context, _ string, p GetMessagesParams) ([]Message, error) {
		calls++
		var page []Message
		for _, m := range history {
			if m.CreatedAt.After(p.After) && len(page) < p.Limit {
				page = append(page, m)
			}
		}
		return page, nil
	}, time.Second)
	require.NoError(t, b.fetch(r))
	assert.Equal(t, 2, calls)
	got := h.take()
	require.Len(t, got, backfillPage+10, "each message once")
	assert.Equal(t, "1", got[0])
	assert.Empty(t, h.errs)
}

func TestBackfiller_ClosingEndsTheFetch(t *testing.T) {
	d, h := newTestDelivery()
	d.live(ptr(unitMsg(1)))
	r := reconnect(t, d, h)
	ctx, cancel := context.WithCancel(context.Background())
	b := newTestBackfiller(d, func(ctx context.Context, _ string, _ GetMessagesParams) ([]Message, error) {
		cancel()
		<-ctx.Done()
		return nil, ctx.Err()
	}, time.Hour)
	b.ctx = ctx
	assert.True(t, errors.Is(b.fetch(r), context.Canceled))
	assert.Empty(t, h.errs, "closing is no failure to report")
}
