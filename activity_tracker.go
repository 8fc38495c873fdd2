package messaging

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/symbia-labs/messaging-go/internal/emitter"
)

// Activity tracker tunables.
const (
	// activityKeepFinished is how many finished records a tracker keeps
	// per conversation (for Get, and to ignore late states of them).
	activityKeepFinished = 256
	// activityRefreshTimeout bounds the refetch of open records after a
	// reconnection.
	activityRefreshTimeout = 30 * time.Second
)

// ActivityTracker holds the current activities of each conversation (the
// tool calls, tasks and agent statuses still running, with their
// progress), from a socket's activity records, in the manner of
// [TypingTracker].
//
// It puts the records in order: each state carries a sequence number, so
// a state older than one already seen (a late progress after the
// completion, a history page older than a live edit) is ignored, and a
// finished activity never runs again. A record first seen by an edit (its
// creation was missed) is tracked from that edit.
//
// The service does not replay the edits a socket missed while it was
// disconnected, nor does the socket recover the edits its handler queue
// dropped (ErrSlowConsumer). So after every reconnection and every such
// overflow the tracker refetches, over
// REST with the socket's credentials, the history since the oldest record
// it holds running in each conversation, and applies what it finds: the
// tracker shows the true state again (failures are reported to OnError;
// a conversation whose history the caller may no longer read, because it
// left it, was removed, or the conversation was deleted, is forgotten).
// With the socket's history backfill on (the default), records created
// during the disconnection arrive as messages too. A late joiner, or a
// program that starts while activities run, reconstructs the state from
// history with Load.
//
// Reads are safe for concurrent use. OnChange handlers are called one at
// a time, in order.
type ActivityTracker struct {
	s    *Socket
	offs []func()

	changes emitter.List[ActivityEvent]
	errs    emitter.List[error]

	ctx    context.Context // ended by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // refreshes

	mu     sync.Mutex
	convs  map[string]*activityConv // lower-cased conversation id →
	lost   bool                     // the connection was lost since the last refresh
	closed bool
}

type activityConv struct {
	id       string
	recs     map[string]*ActivityRecord // id → latest state
	finished []string                   // ids of finished records, oldest first
}

// NewActivityTracker returns a tracker fed by s's events from now on. Load
// adds what happened before. Close it to unsubscribe.
func NewActivityTracker(s *Socket) *ActivityTracker {
	t := &ActivityTracker{s: s, convs: make(map[string]*activityConv)}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.offs = []func(){
		s.OnMessage(t.message),
		s.OnMessageUpdate(t.message),
		s.OnMessageDelete(func(e MessageDeletedEvent) { t.forget(e.ConversationID, e.ID) }),
		s.OnError(func(err error) {
			// The handler queue overflowed: the edits it dropped are lost.
			if errors.Is(err, ErrSlowConsumer) {
				t.refresh()
			}
		}),
		s.OnStateChange(func(c StateChange) {
			switch {
			case c.Previous == StateConnected:
				t.mu.Lock()
				t.lost = true
				t.mu.Unlock()
			case c.Current == StateConnected:
				t.reconnected()
			}
		}),
	}
	return t
}

// Activities returns the tool calls and tasks running in a conversation,
// in the order they started.
func (t *ActivityTracker) Activities(conversationID string) []ActivityRecord {
	return t.list(conversationID, func(r *ActivityRecord) bool {
		return r.State == ActivityRunning && r.Kind != ActivityAgentStatus
	})
}

// Statuses returns the agent statuses of the runs going on in a
// conversation (one per run that set one), in the order they started.
func (t *ActivityTracker) Statuses(conversationID string) []ActivityRecord {
	return t.list(conversationID, func(r *ActivityRecord) bool {
		return r.State == ActivityRunning && r.Kind == ActivityAgentStatus
	})
}

// Get returns the latest state of an activity the tracker knows, running
// or finished (it keeps the last few hundred finished ones of each
// conversation), and false when it knows none by that id.
func (t *ActivityTracker) Get(activityID string) (ActivityRecord, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.convs {
		if r := c.recs[activityID]; r != nil {
			return *r, true
		}
	}
	return ActivityRecord{}, false
}

func (t *ActivityTracker) list(conversationID string, keep func(*ActivityRecord) bool) []ActivityRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.convs[strings.ToLower(conversationID)]
	if c == nil {
		return nil
	}
	var out []ActivityRecord
	for _, r := range c.recs {
		if keep(r) {
			out = append(out, *r)
		}
	}
	slices.SortFunc(out, func(a, b ActivityRecord) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// OnChange registers h for every change the tracker applies, as an
// [ActivityEvent]: the first state seen of an activity is a start (or its
// completion or error, when it is first seen finished), later ones are
// progress, completion or error; agent status records give status
// updates. States the tracker ignores (stale, repeated) are not reported.
// It is called on the socket's dispatcher goroutine for live events, and
// on the goroutine of Load or of a refresh for history. It returns a
// function that unsubscribes h.
func (t *ActivityTracker) OnChange(h func(ActivityEvent)) (off func()) { return t.changes.On(h) }

// OnError registers h for the failures of the refreshes the tracker makes
// after a reconnection. It returns a function that unsubscribes h.
func (t *ActivityTracker) OnError(h func(error)) (off func()) { return t.errs.On(h) }

// Load reads a conversation's history over REST with c, from since (the
// whole history when zero) to now, and applies the activity records it
// finds: a late joiner sees the activities still running and how far they
// are. Records already known are updated only by newer states, so Load
// may run while live events arrive. Load returns the history's error, if
// any (what was read before it is applied).
func (t *ActivityTracker) Load(ctx context.Context, c *Client, conversationID string, since time.Time) error {
	if ctx == nil {
		return invalid("ctx", "is nil")
	}
	if c == nil {
		return invalid("c", "is nil")
	}
	if err := requireUUID("conversationID", conversationID); err != nil {
		return err
	}
	_, err := t.load(ctx, c, conversationID, since)
	return err
}

// load applies the activity records of a conversation's history since
// since, and returns the ids of the messages it read.
func (t *ActivityTracker) load(ctx context.Context, c *Client, conversationID string, since time.Time) (map[string]bool, error) {
	var opts []MessagesOption
	if !since.IsZero() {
		opts = append(opts, WithAfter(since))
	}
	seen := make(map[string]bool)
	for m, err := range c.Messages(ctx, conversationID, opts...) {
		if err != nil {
			return nil, fmt.Errorf("messaging: activity tracker: loading conversation %s: %w", conversationID, err)
		}
		seen[m.ID] = true
		t.message(&m)
	}
	return seen, nil
}

// Close unsubscribes the tracker from the socket and stops a refresh
// under way, waiting for it: do not call it from an OnChange or OnError
// handler. A handler already running may finish after Close returns.
func (t *ActivityTracker) Close() {
	t.mu.Lock()
	t.closed = true
	offs := t.offs
	t.offs = nil
	t.mu.Unlock()
	for _, off := range offs {
		off()
	}
	t.cancel()
	t.wg.Wait()
}

// message applies the record a message carries, if it carries one.
func (t *ActivityTracker) message(m *Message) {
	if !IsActivity(m) {
		return
	}
	r, err := DecodeActivity(m)
	if err != nil {
		return
	}
	t.apply(r)
}

// apply records r unless a newer state of its activity is known, and
// reports the change.
func (t *ActivityTracker) apply(r ActivityRecord) {
	key := strings.ToLower(r.ConversationID)
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	c := t.convs[key]
	if c == nil {
		c = &activityConv{id: r.ConversationID, recs: make(map[string]*ActivityRecord)}
		t.convs[key] = c
	}
	old := c.recs[r.ID]
	if old != nil && (old.State.Final() || r.Seq <= old.Seq) {
		t.mu.Unlock()
		return // stale, repeated, or after the end
	}
	rec := r
	c.recs[r.ID] = &rec
	if rec.State.Final() {
		c.finished = append(c.finished, rec.ID)
		if len(c.finished) > activityKeepFinished {
			delete(c.recs, c.finished[0])
			c.finished = slices.Delete(c.finished, 0, 1)
		}
	}
	start := t.changes.Enqueue(ActivityEvent{Type: activityEventType(&rec, old == nil), Record: rec})
	t.mu.Unlock()
	if start {
		drain(&t.changes)
	}
}

// forget drops a deleted record.
func (t *ActivityTracker) forget(conversationID, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.convs[strings.ToLower(conversationID)]
	if c == nil || c.recs[id] == nil {
		return
	}
	delete(c.recs, id)
	if i := slices.Index(c.finished, id); i >= 0 {
		c.finished = slices.Delete(c.finished, i, i+1)
	}
}

// forgetConversation drops everything known of a conversation.
func (t *ActivityTracker) forgetConversation(conversationID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.convs, strings.ToLower(conversationID))
}

// reconnected refreshes the records left running when the connection was
// lost.
func (t *ActivityTracker) reconnected() {
	t.mu.Lock()
	lost := t.lost
	t.lost = false
	t.mu.Unlock()
	if lost {
		t.refresh()
	}
}

// refresh starts the refetch of the records held running, from the
// history.
func (t *ActivityTracker) refresh() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	from := make(map[string]time.Time)   // conversation id → oldest running record
	running := make(map[string][]string) // conversation id → running records
	for _, c := range t.convs {
		for _, r := range c.recs {
			if r.State != ActivityRunning {
				continue
			}
			running[c.id] = append(running[c.id], r.ID)
			if at, ok := from[c.id]; !ok || r.CreatedAt.Before(at) {
				from[c.id] = r.CreatedAt
			}
		}
	}
	if len(from) == 0 {
		t.mu.Unlock()
		return
	}
	t.wg.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		ctx, cancel := context.WithTimeout(t.ctx, activityRefreshTimeout)
		defer cancel()
		client := t.s.rest // the socket's own REST client, with its credentials
		ids := make([]string, 0, len(from))
		for id := range from {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			// One millisecond before the oldest record: the history's
			// bounds are strict, on millisecond times.
			seen, err := t.load(ctx, client, id, from[id].Add(-time.Millisecond))
			if errors.Is(err, ErrForbidden) {
				// Left, removed, or deleted: nothing there is ours to show.
				t.forgetConversation(id)
				continue
			}
			if err != nil {
				if !errors.Is(err, context.Canceled) && t.errs.Enqueue(err) {
					drain(&t.errs)
				}
				continue
			}
			// A record running at the loss and absent from the history
			// since it was created was deleted meanwhile.
			for _, rid := range running[id] {
				if !seen[rid] {
					t.forget(id, rid)
				}
			}
		}
	}()
}
