package timeline

import (
	"context"
	"slices"
	"time"

	messaging "github.com/symbia-labs/messaging-go"
)

// Reconciliation with the history. The service does not replay the edits
// and deletions a socket missed while it was away, so after every
// (re)connection, after the socket's handler queue overflowed, after a
// change whose delivery is unknown, and on Sync, the timeline fetches its
// window again and applies what the server says. What the socket or an
// acknowledgement told about a message while the fetch ran is newer than
// the fetch and wins.

const (
	// historyPage is the page size of the history walk.
	historyPage = 100
	// unknownGrace is how long after a change's delivery became unknown
	// the history is asked about it: a request can still be on its way
	// to the server, or in its queue, when the call gives up.
	unknownGrace = time.Second
	// tailOverlap is how far before the newest message preceding a gap
	// the fetch of the newest messages starts: the service stamps
	// created_at when a send starts, so a message can be stored after a
	// newer one.
	tailOverlap = time.Second
)

// Sync reconciles the view with the server's history: it fetches the
// window over REST, applies the edits and deletions the socket could not
// report (made while it was disconnected), and settles the changes whose
// delivery was unknown. It returns once a reconciliation that started
// after the call has ended, with that reconciliation's error, or when ctx
// ends. The timeline also does this by itself whenever the socket
// (re)connects, retrying failed reconciliations with backoff.
func (t *Timeline) Sync(ctx context.Context) error {
	if ctx == nil {
		return invalid("sync: nil context")
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	t.reqGen++
	want := t.reqGen
	t.mu.Unlock()
	t.kick()
	for {
		t.mu.Lock()
		done, err, ch, closed := t.doneGen, t.syncErr, t.syncDone, t.closed
		t.mu.Unlock()
		switch {
		case done >= want:
			return err
		case closed:
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// loop runs the requested reconciliations, one at a time, until Close:
// full ones first, then fetches of the newest messages after a gap in
// sequence numbers, and a full one when a change whose delivery is unknown
// is due. A failed reconciliation is retried with backoff; a new request
// cuts the wait short.
func (t *Timeline) loop() {
	defer t.wg.Done()
	delay := t.cfg.retryMin
	for {
		t.mu.Lock()
		full := t.reqGen > t.doneGen || t.retry
		tail := t.tailWanted
		due := t.nextDue()
		t.mu.Unlock()
		if !full && !tail {
			var timer *time.Timer
			var fire <-chan time.Time
			if !due.IsZero() {
				timer = time.NewTimer(time.Until(due))
				fire = timer.C
			}
			select {
			case <-t.ctx.Done():
			case <-t.wake:
			case <-fire:
				t.requestResync()
			}
			if timer != nil {
				timer.Stop()
			}
			if t.ctx.Err() != nil {
				return
			}
			continue
		}
		err := t.resync(t.ctx, full)
		if t.ctx.Err() != nil {
			return
		}
		if err == nil {
			delay = t.cfg.retryMin
			continue
		}
		timer := time.NewTimer(delay)
		select {
		case <-t.ctx.Done():
		case <-timer.C:
		case <-t.wake:
		}
		timer.Stop()
		if t.ctx.Err() != nil {
			return
		}
		delay = min(2*delay, t.cfg.retryMax)
	}
}

// resync fetches the window (full) or its newest messages since a gap in
// sequence numbers (!full), and merges them into the view; the first
// full one also sets the window.
func (t *Timeline) resync(ctx context.Context, full bool) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	gen := t.reqGen
	start := time.Now()
	t.fetching, t.touched = true, make(map[string]bool)
	loaded, from := t.loaded, t.window
	if !full {
		from = t.tailFrom
		t.tailWanted = false
	}
	t.mu.Unlock()

	rows, window, err := t.fetch(ctx, loaded, from)

	t.mu.Lock()
	defer t.mu.Unlock()
	touched := t.touched
	t.fetching, t.touched = false, nil
	if err == nil && t.closed {
		err = ErrClosed
	}
	if err == nil {
		if !loaded {
			t.window, t.loaded = window, true
			from = window
		}
		t.merge(rows, touched, start, from, full)
	}
	if full {
		t.doneGen, t.syncErr, t.retry = gen, err, err != nil
		close(t.syncDone)
		t.syncDone = make(chan struct{})
	} else if err != nil && (!t.tailWanted || from.Before(t.tailFrom)) {
		t.tailWanted, t.tailFrom = true, from // try again
	}
	return err
}

// gap notes the sequence number of a message the socket delivered, and
// asks for the messages since the newest one before it when numbers were
// skipped. The socket fills such gaps itself (see messaging.WithBackfill);
// the timeline checks too, in case the socket does not, or the missing
// numbers went to records the socket does not deliver. Caller holds t.mu.
func (t *Timeline) gap(m *messaging.Message) {
	if t.maxSeq > 0 && m.Sequence > t.maxSeq+1 && t.loaded {
		from := t.maxSeqAt.Add(-tailOverlap)
		if !t.tailWanted || from.Before(t.tailFrom) {
			t.tailWanted, t.tailFrom = true, from
		}
		t.kick()
	}
	t.seq(m)
}

// seq notes the highest sequence number seen.
func (t *Timeline) seq(m *messaging.Message) {
	if m.Sequence > t.maxSeq {
		t.maxSeq, t.maxSeqAt = m.Sequence, m.CreatedAt
	}
}

// fetch reads the window from the newest message back: the first time,
// the most recent messages up to the limit (and those sharing the oldest
// one's millisecond), and the time that starts the window (zero when the
// whole history fit); later, every message since from.
func (t *Timeline) fetch(ctx context.Context, loaded bool, from time.Time) ([]messaging.Message, time.Time, error) {
	opts := []messaging.MessagesOption{messaging.WithPageSize(historyPage)}
	if loaded && !from.IsZero() {
		// The service compares created_at strictly, by the millisecond.
		opts = append(opts, messaging.WithAfter(from.Add(-time.Millisecond)))
	}
	var rows []messaging.Message
	var window time.Time
	for m, err := range t.c.Messages(ctx, t.conv, opts...) {
		if err != nil {
			return nil, time.Time{}, err
		}
		if m.IsControl() || m.DeletedAt != nil {
			continue
		}
		if loaded {
			if from.IsZero() || !m.CreatedAt.Before(from) {
				rows = append(rows, m)
			}
			continue
		}
		if len(rows) >= t.cfg.limit && !m.CreatedAt.Equal(window) {
			break
		}
		rows = append(rows, m)
		if len(rows) == t.cfg.limit {
			window = m.CreatedAt
		}
	}
	return rows, window, nil
}

// merge applies the messages fetched since from (zero: all). A full
// fetch also decides the changes whose delivery was unknown. Caller holds
// t.mu.
func (t *Timeline) merge(rows []messaging.Message, touched map[string]bool, start, from time.Time, full bool) {
	if full {
		// An acknowledged edit's echo can only be missing if the socket
		// dropped it (a queue overflow, which asks for this full
		// reconciliation): stop waiting for it, or later updates would be
		// taken for older ones.
		for _, e := range t.entries {
			e.landing = nil
		}
	}
	present := make(map[string]bool, len(rows))
	for i := range rows {
		m := rows[i]
		present[m.ID] = true
		t.seq(&m)
		if touched[m.ID] {
			continue // the socket told something newer meanwhile
		}
		e := t.entries[m.ID]
		switch {
		case e == nil:
			e = t.newEntry(m.ID)
			e.server = &m
		case e.deleted:
			continue
		case e.server == nil:
			t.stored(e, &m)
		default:
			e.server = &m
		}
		t.refresh(e, note{cause: CauseServer})
	}
	for id, e := range t.entries {
		if present[id] || touched[id] || e.deleted || e.server == nil {
			continue
		}
		if !t.window.IsZero() && e.server.CreatedAt.Before(t.window) {
			if len(e.ops) == 0 && e.want == nil {
				// Before the window: heard of while the first load ran.
				delete(t.entries, id)
				t.dirty = true
			}
			continue
		}
		if e.server.CreatedAt.Before(from) {
			continue // not fetched
		}
		t.forget(e) // deleted while the socket was away
		t.refresh(e, note{cause: CauseServer})
	}
	// Changes whose delivery was unknown: the history decides.
	for _, e := range t.entries {
		t.settleUnknown(e)
		for _, o := range slices.Clone(e.ops) {
			if !full || !o.unknown || start.Before(o.due) {
				continue
			}
			var ok bool
			switch o.kind {
			case OpSend:
				ok = e.server != nil || e.deleted
			case OpEdit:
				ok = o.echoed || (!e.deleted && e.server != nil && e.server.Content == o.content)
			case OpDelete:
				ok = e.deleted
			}
			if ok {
				t.confirm(e, o, nil)
			} else {
				t.rollback(e, o, o.err)
			}
		}
	}
}

// nextDue returns when the earliest change whose delivery is unknown may
// be decided (zero: none waits). Caller holds t.mu.
func (t *Timeline) nextDue() time.Time {
	var due time.Time
	for _, e := range t.entries {
		for _, o := range e.ops {
			if o.unknown && (due.IsZero() || o.due.Before(due)) {
				due = o.due
			}
		}
	}
	return due
}

// settleUnknown confirms the changes of e whose delivery was unknown and
// whose effect the server has shown since. Caller holds t.mu.
func (t *Timeline) settleUnknown(e *entry) {
	for _, o := range slices.Clone(e.ops) {
		if !o.unknown {
			continue
		}
		switch {
		case o.kind == OpSend && (e.server != nil || e.deleted),
			o.kind == OpEdit && o.echoed,
			o.kind == OpDelete && e.deleted:
			t.confirm(e, o, nil)
		}
	}
}
