package messaging

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/symbia-labs/messaging-go/internal/backoff"
)

// The socket's side of the delivery: what deliveryHost asks of it, and
// the history reads made on the caller's goroutine.

// backfillRetry spaces the attempts of a failed backfill.
var backfillRetry = backoff.Backoff{Min: 500 * time.Millisecond, Max: 30 * time.Second, Factor: 2, Jitter: 0.5}

// initDelivery makes the socket's delivery and backfiller. The queue must
// exist.
func (s *Socket) initDelivery() {
	s.delivery = newDelivery(socketHost{s}, deliveryConfig{
		backfill: s.cfg.backfill,
		maxHeld:  s.cfg.queueSize,
		retry:    backfillRetry,
	})
	s.backfiller = newBackfiller(&backfiller{
		ctx: s.base,
		read: func(ctx context.Context, id string, p GetMessagesParams) ([]Message, error) {
			page, err := s.rest.GetMessages(ctx, id, p)
			s.delivery.stats.add(0, 0, 1)
			return page, err
		},
		timeout:    s.cfg.delivery.timeout(),
		toDelivery: s.queue.pushCall,
		delivery:   s.delivery,
	})
}

// socketHost is the socket as the delivery's deliveryHost.
type socketHost struct{ s *Socket }

func (h socketHost) deliver(m *Message) {
	observed := h.s.observeDeliver(m)
	notify(h.s, &h.s.h.message, EventMessageNew, m)
	observed.done()
}

func (h socketHost) replay(ev event)                 { h.s.handleEvent(ev) }
func (h socketHost) fetch(r fetchReq)                { h.s.backfiller.push(r) }
func (h socketHost) report(err error)                { h.s.reportError(err) }
func (h socketHost) listening() bool                 { return !h.s.h.message.Empty() }
func (h socketHost) left(conversationID string) bool { return h.s.left(conversationID) }

func (h socketHost) after(d time.Duration, fn func()) (stop func()) {
	t := time.AfterFunc(d, func() { h.s.queue.pushCall(fn) })
	return func() { t.Stop() }
}

// anchorFor reads the newest message of a conversation about to be
// joined, on the caller's goroutine, bounded by ctx and the backfill
// timeout. It returns the queue item that records it, or nil when
// backfill is off or the read fails (the first message delivered then
// sets the cursor).
func (s *Socket) anchorFor(ctx context.Context, id string) *item {
	if !s.cfg.backfill {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.delivery.timeout())
	defer cancel()
	page, err := s.rest.GetMessages(ctx, id, GetMessagesParams{Limit: 1, Before: time.Now().Add(firstPageSkew)})
	s.delivery.stats.add(0, 0, 1)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelInfo, "messaging: cannot read where the history starts",
			slog.String("conversation", id), slog.String("error", err.Error()))
		return nil
	}
	var m *Message
	if len(page) > 0 {
		m = &page[0]
	}
	return &item{kind: itemAnchor, conv: id, anchor: m}
}

// WaitCaughtUp waits until the socket has delivered to OnMessage every
// message of the conversation it knows it missed: after a reconnection,
// until the backfill has fetched and delivered what the outage missed;
// after a sequence gap or an overflow of the handler queue, until that is
// filled. It returns nil at once for a conversation with nothing missing
// (or unknown to the socket: no message delivered, never joined).
//
// It waits within ctx: while the history cannot be read (a failed or
// timed-out backfill, retried with backoff) it keeps waiting, and returns
// ctx's error when ctx ends first; an error matching ErrClosed after
// Close. When the history may not be read at all (ErrForbidden) the
// missed messages will never come: it returns that *BackfillError.
// Leaving the conversation ends the wait with nil. Before Connect it waits
// for the socket to start. It must not be called from a handler, which
// would wait for itself: there it returns an error matching
// ErrInvalidArgument.
func (s *Socket) WaitCaughtUp(ctx context.Context, conversationID string) error {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return s.reported(err)
	}
	if ctx == nil {
		return s.reported(invalid("ctx", "is nil"))
	}
	if s.inDispatcher() {
		return s.reported(invalid("WaitCaughtUp", "called from a handler, it would wait for itself"))
	}
	if s.State() == StateClosed {
		return s.reported(fmt.Errorf("messaging: WaitCaughtUp: %w", ErrClosed))
	}
	done := make(chan error, 1)
	s.queue.pushCall(func() {
		s.delivery.whenCaughtUp(conversationID, func(err error) { done <- err })
	})
	select {
	case err := <-done:
		return s.reported(err)
	case <-ctx.Done():
		return s.reported(fmt.Errorf("messaging: WaitCaughtUp: conversation %s: %w", conversationID, ctx.Err()))
	case <-s.base.Done():
		return s.reported(fmt.Errorf("messaging: WaitCaughtUp: %w", ErrClosed))
	}
}
