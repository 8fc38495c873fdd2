package messaging

import (
	"context"
	"errors"
	"iter"
	"time"
)

// MessagesOption configures [Client.Messages]. Every [RequestOption] is a
// MessagesOption too, and applies to each page request.
type MessagesOption interface {
	applyMessages(*messagesConfig) error
}

// messagesConfig is what Messages reads.
type messagesConfig struct {
	pageSize int
	before   time.Time
	after    time.Time
	req      requestConfig
	maxPage  int // maxPageSize; tests lower it
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

// WithBefore starts [Client.Messages] at the newest message created strictly
// before t, instead of the newest message.
func WithBefore(t time.Time) MessagesOption {
	return messagesOption(func(c *messagesConfig) error {
		if err := wireTimeInRange("WithBefore", t); err != nil {
			return err
		}
		c.before = t
		return nil
	})
}

// WithAfter ends [Client.Messages] at the oldest message created strictly
// after t, instead of the first message of the conversation. It may be
// combined with [WithBefore].
func WithAfter(t time.Time) MessagesOption {
	return messagesOption(func(c *messagesConfig) error {
		if err := wireTimeInRange("WithAfter", t); err != nil {
			return err
		}
		c.after = t
		return nil
	})
}

var errNoProgress = errors.New("messaging: message history: the service keeps answering messages already seen")

// Messages walks a conversation's history from the newest message to the
// oldest, one page per request, yielding each message once:
//
//	for m, err := range client.Messages(ctx, conversationID) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(m.Content)
//	}
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
		w := historyWalk{c: c, ctx: ctx, conversationID: conversationID, cfg: cfg}
		if err := w.run(yield); err != nil {
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

	// oldest is the creation time of the oldest message yielded so far, and
	// atOldest the ids yielded with exactly that time: the only messages a
	// later page can repeat, since it asks for those created before oldest
	// plus one millisecond.
	oldest   time.Time
	atOldest map[string]struct{}
}

// run yields messages until the history ends, yield says stop (both nil) or
// a request fails (its error).
func (w *historyWalk) run(yield func(Message, error) bool) error {
	limit := w.cfg.pageSize
	before := w.cfg.before
	if before.IsZero() {
		before = w.c.now().Add(firstPageSkew)
	}
	w.atOldest = make(map[string]struct{})
	for {
		var page []Message
		r := GetMessagesParams{Limit: limit, Before: before}.request(w.conversationID)
		r.out = &page
		if err := w.c.send(w.ctx, r, &w.cfg.req); err != nil {
			return err
		}
		fresh := 0
		for _, m := range page {
			if !w.cfg.after.IsZero() && !m.CreatedAt.After(w.cfg.after) {
				return nil // newest first: everything further is older still
			}
			if !w.isNew(m) {
				continue
			}
			fresh++
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
			limit = min(w.cfg.pageSize+2*len(w.atOldest), max(w.cfg.maxPage, w.cfg.pageSize))
			before = w.oldest.Add(time.Millisecond)
		case len(page) < limit:
			return nil // nothing older is left
		case limit >= w.cfg.maxPage:
			return errNoProgress
		default:
			// A full page of messages already seen: one millisecond holds
			// more than a page. Ask again for more, from the same point.
			limit = min(2*limit, w.cfg.maxPage)
		}
	}
}

// isNew reports whether m has not been yielded yet, and records it if so.
func (w *historyWalk) isNew(m Message) bool {
	switch {
	case w.oldest.IsZero() || m.CreatedAt.Before(w.oldest):
		w.oldest = m.CreatedAt
		clear(w.atOldest)
	case m.CreatedAt.After(w.oldest):
		return false // newer than what was yielded already: yielded before
	default:
		if _, seen := w.atOldest[m.ID]; seen {
			return false
		}
	}
	w.atOldest[m.ID] = struct{}{}
	return true
}
