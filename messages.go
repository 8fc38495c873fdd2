package messaging

import (
	"context"
	"errors"
	"iter"
	"maps"
	"time"
)

// MessagesOption configures [Client.Messages]. Every [RequestOption] is a
// MessagesOption too, and applies to each page request.
type MessagesOption interface {
	applyMessages(*messagesConfig) error
}

// messagesConfig is what Messages reads.
type messagesConfig struct {
	pageSize    int
	before      time.Time
	after       time.Time
	oldestFirst bool
	noControl   bool
	cursor      *Cursor
	req         requestConfig
	maxPage     int // maxPageSize; tests lower it
}

type messagesOption func(*messagesConfig) error

func (o messagesOption) applyMessages(c *messagesConfig) error { return o(c) }

// Defaults and limits of the history walk.
const (
	defaultPageSize = 50
	// firstPageSkew is how far ahead of the local clock the first page
	// starts. The service can only list newest first below a "before" time,
	// so the walk needs one that no stored message reaches: a day covers
	// any clock skew, and also a database whose TIMESTAMP WITHOUT TIME ZONE
	// columns hold local time (offsets reach +14 h). Unlike a sentinel such
	// as year 9999 it is a date every date parser in the path handles.
	firstPageSkew = 24 * time.Hour
	// maxPageSize stops a page from growing forever on a server that keeps
	// answering full pages of messages already seen. No real conversation
	// holds this many messages in one millisecond.
	maxPageSize = 1 << 16
)

// WithPageSize sets how many new messages each request of [Client.Messages]
// asks for (default 50). Requests ask for somewhat more to cover the overlap
// between pages, and for many more when one millisecond holds more messages
// than a page.
func WithPageSize(n int) MessagesOption {
	return messagesOption(func(c *messagesConfig) error {
		if n < 1 {
			return invalid("WithPageSize", "must be at least 1, got %d", n)
		}
		c.pageSize = n
		return nil
	})
}

// WithBefore bounds [Client.Messages] to the messages created strictly
// before t: a newest-first walk starts at the newest of them instead of the
// newest message, an oldest-first walk ([WithOldestFirst]) ends there.
func WithBefore(t time.Time) MessagesOption {
	return messagesOption(func(c *messagesConfig) error {
		if err := wireTimeInRange("WithBefore", t); err != nil {
			return err
		}
		c.before = t
		return nil
	})
}

// WithAfter bounds [Client.Messages] to the messages created strictly after
// t: a newest-first walk ends at the oldest of them instead of the first
// message of the conversation, an oldest-first walk ([WithOldestFirst])
// starts there. It may be combined with [WithBefore].
func WithAfter(t time.Time) MessagesOption {
	return messagesOption(func(c *messagesConfig) error {
		if err := wireTimeInRange("WithAfter", t); err != nil {
			return err
		}
		c.after = t
		return nil
	})
}

// WithOldestFirst makes [Client.Messages] walk from the oldest message to
// the newest instead of newest first. The walk ends at the newest message
// it finds (or at [WithBefore]); with a [Cursor] ([WithCursor]) a later walk
// picks up the messages created since.
func WithOldestFirst() MessagesOption {
	return messagesOption(func(c *messagesConfig) error {
		c.oldestFirst = true
		return nil
	})
}

// WithoutControl makes [Client.Messages] skip the stored records of control
// events (messages whose [Message.IsControl] is true: stream.pause,
// stream.cancel and the others), which the service lists among the
// messages. They still move a [Cursor] on.
func WithoutControl() MessagesOption {
	return messagesOption(func(c *messagesConfig) error {
		c.noControl = true
		return nil
	})
}

// WithCursor makes [Client.Messages] start at cur and move cur along as it
// yields, so that a later walk with the same cursor starts where this one
// stopped: after the last message yielded, also when the loop ended early
// or on an error. A zero Cursor starts at the beginning of the walk (the
// newest message, or the oldest with [WithOldestFirst]). A cursor must not
// be used by two walks at the same time.
//
// Polling for new messages is an oldest-first walk with one cursor, ranged
// again each time:
//
//	cur := new(messaging.Cursor)
//	for range ticker.C {
//		for m, err := range client.Messages(ctx, id, messaging.WithOldestFirst(), messaging.WithCursor(cur)) {
//			...
//		}
//	}
//
// A poll sees the messages the service lists at that moment. A message
// that becomes visible only after a newer one was listed (two sends
// committing out of order, within the same instant) falls behind the
// cursor and is not yielded by a later poll; a Socket's live events and
// backfill hear every message.
func WithCursor(cur *Cursor) MessagesOption {
	return messagesOption(func(c *messagesConfig) error {
		if cur == nil {
			return invalid("WithCursor", "cursor is nil")
		}
		c.cursor = cur
		return nil
	})
}

// A Cursor is a position in a conversation's history, for
// [Client.Messages] ([WithCursor]). The service orders messages by their
// creation time, which has millisecond precision, and does not order the
// messages that share a millisecond. So a position is a millisecond and the
// ids of the messages of that millisecond already passed: a walk from a
// cursor yields the messages past that millisecond in its direction, and the
// messages of that millisecond it has not passed yet. The zero Cursor is the
// start of a walk. A walk moves its cursor on; to keep a position, Clone
// it.
type Cursor struct {
	at     time.Time
	passed map[string]struct{}
}

// CursorAt returns a cursor positioned at m, for a walk that starts right
// after m in its direction: newer messages with [WithOldestFirst], older
// ones without. The other messages created in the same millisecond as m are
// included, since the service does not say whether they came before or
// after m; drop those already held by id.
func CursorAt(m Message) *Cursor {
	return &Cursor{at: m.CreatedAt, passed: map[string]struct{}{m.ID: {}}}
}

// Clone returns a copy of c that later walks with c do not move.
func (c *Cursor) Clone() *Cursor {
	return &Cursor{at: c.at, passed: maps.Clone(c.passed)}
}

// Time is the creation time of the messages at the cursor, the last
// millisecond passed; zero for a cursor at the start.
func (c *Cursor) Time() time.Time { return c.at }

// IsZero reports whether c is at the start of a walk.
func (c *Cursor) IsZero() bool { return c.at.IsZero() }

// pass moves the cursor over m in a walk that goes newest first (older
// messages are ahead) or oldest first, and reports whether m was ahead of
// it: not passed yet.
func (c *Cursor) pass(m Message, oldestFirst bool) bool {
	ahead := m.CreatedAt.Before(c.at)
	if oldestFirst {
		ahead = m.CreatedAt.After(c.at)
	}
	switch {
	case c.at.IsZero() || ahead:
		c.at = m.CreatedAt
		if c.passed == nil {
			c.passed = make(map[string]struct{})
		}
		clear(c.passed)
	case !m.CreatedAt.Equal(c.at):
		return false // behind the cursor: passed before
	default:
		if _, seen := c.passed[m.ID]; seen {
			return false
		}
	}
	c.passed[m.ID] = struct{}{}
	return true
}

var errNoProgress = errors.New("messaging: message history: the service keeps answering messages already seen")

// Messages walks a conversation's history one page per request, yielding
// each message once: from the newest message to the oldest, or from the
// oldest to the newest with [WithOldestFirst]:
//
//	for m, err := range client.Messages(ctx, conversationID) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(m.Content)
//	}
//
// The walk yields every message the service lists, and the service lists
// the stored records of control events (stream.pause, stream.cancel, ...)
// among them: [Message.IsControl] tells them apart, and [WithoutControl]
// skips them. [WithBefore] and [WithAfter] bound the walk, and [WithCursor]
// starts it from a position (such as [CursorAt] a message) and keeps the
// position it reached.
//
// Nothing is requested until the loop starts, and the walk stops when the
// loop does. An error (bad input, a failed request, the context ending) is
// yielded once, with a zero Message, and ends the walk.
//
// The service pages by creation time, which has millisecond precision, and
// many messages may share one millisecond. So each page after the first
// overlaps the last millisecond of the previous one, repeats are dropped by
// id, and when a whole page falls into one millisecond the next request asks
// for twice as many. Messages created while the walk runs may or may not be
// included, as with any paged listing.
func (c *Client) Messages(ctx context.Context, conversationID string, opts ...MessagesOption) iter.Seq2[Message, error] {
	cfg := messagesConfig{pageSize: defaultPageSize, req: requestConfig{maxRetries: -1}, maxPage: maxPageSize}
	err := requireUUID("conversationID", conversationID)
	if c == nil || c.base == "" {
		err = errNoClient
	}
	for _, o := range opts {
		if err != nil {
			break
		}
		if o != nil {
			err = o.applyMessages(&cfg)
		}
	}
	return func(yield func(Message, error) bool) {
		if err != nil {
			yield(Message{}, c.fail(err))
			return
		}
		w := historyWalk{c: c, ctx: ctx, conversationID: conversationID, cfg: cfg, cur: cfg.cursor}
		if w.cur == nil {
			w.cur = new(Cursor)
		}
		if err := w.walk(yield); err != nil {
			yield(Message{}, c.fail(err))
		}
	}
}

// historyWalk is the state of one run of a Messages iterator.
type historyWalk struct {
	c              *Client
	ctx            context.Context
	conversationID string
	cfg            messagesConfig

	// cur is where the walk is: the creation time of the last message
	// yielded and the ids yielded with exactly that time, the only
	// messages a later page can repeat, since each page overlaps the
	// previous one by that millisecond.
	cur *Cursor
}

// oldestBound is the "after" of an oldest-first walk's first page. Without
// a bound the service answers its oldest messages in sequence order, which
// need not be creation order; with one, pages are in creation order like
// every later page.
var oldestBound = time.Unix(0, 0).UTC()

// firstParams is the request of the first page.
func (w *historyWalk) firstParams(limit int) GetMessagesParams {
	if w.cfg.oldestFirst {
		after := w.cfg.after
		if !w.cur.IsZero() {
			// Overlap the cursor's millisecond unless the bound is past it.
			if at := w.cur.at.Add(-time.Millisecond); at.After(after) {
				after = at
			}
		}
		if after.IsZero() {
			after = oldestBound
		}
		return GetMessagesParams{Limit: limit, After: after}
	}
	before := w.cfg.before
	if !w.cur.IsZero() {
		if at := w.cur.at.Add(time.Millisecond); before.IsZero() || at.Before(before) {
			before = at
		}
	}
	if before.IsZero() {
		before = w.c.now().Add(firstPageSkew)
	}
	return GetMessagesParams{Limit: limit, Before: before}
}

// nextParams is the request of the page after one that yielded messages:
// from the cursor's millisecond on, so the messages already seen there
// come back (and are dropped by id).
func (w *historyWalk) nextParams(limit int) GetMessagesParams {
	if w.cfg.oldestFirst {
		return GetMessagesParams{Limit: limit, After: w.cur.at.Add(-time.Millisecond)}
	}
	return GetMessagesParams{Limit: limit, Before: w.cur.at.Add(time.Millisecond)}
}

// beyond reports whether m is past the walk's end bound, and so is every
// message after it in the page.
func (w *historyWalk) beyond(m Message) bool {
	if w.cfg.oldestFirst {
		return !w.cfg.before.IsZero() && !m.CreatedAt.Before(w.cfg.before)
	}
	return !w.cfg.after.IsZero() && !m.CreatedAt.After(w.cfg.after)
}

// walk yields messages until the history ends, yield says stop (both nil)
// or a request fails (its error).
func (w *historyWalk) walk(yield func(Message, error) bool) error {
	limit := w.cfg.pageSize
	params := w.firstParams(limit)
	for {
		var page []Message
		r := params.request(w.conversationID)
		r.out = &page
		if err := w.c.send(w.ctx, r, &w.cfg.req); err != nil {
			return err
		}
		fresh := 0
		for _, m := range page {
			if w.beyond(m) {
				return nil // the page is in walk order: the rest is beyond too
			}
			if !w.cur.pass(m, w.cfg.oldestFirst) {
				continue
			}
			fresh++
			if w.cfg.noControl && m.IsControl() {
				continue
			}
			if !yield(m, nil) {
				return nil
			}
		}
		switch {
		case fresh > 0:
			// The next page starts again at the millisecond this one ended
			// in, so the messages already seen there come back: ask for
			// that many more. Twice as many, in fact: a millisecond that
			// held many messages may hold more, and doubling crosses it in
			// a few requests instead of one per page.
			limit = min(w.cfg.pageSize+2*len(w.cur.passed), max(w.cfg.maxPage, w.cfg.pageSize))
			params = w.nextParams(limit)
		case len(page) < limit:
			return nil // nothing further is left
		case limit >= w.cfg.maxPage:
			return errNoProgress
		default:
			// A full page of messages already seen: one millisecond holds
			// more than a page. Ask again for more, from the same point.
			limit = min(2*limit, w.cfg.maxPage)
			params.Limit = limit
		}
	}
}
