package timeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	messaging "github.com/symbia-labs/messaging-go"
)

// Timeline is a live, ordered view of one conversation with optimistic
// local changes. Make one with New; all its methods are safe for
// concurrent use. See the package documentation.
type Timeline struct {
	s    *messaging.Socket
	c    *messaging.Client
	conv string
	cfg  config

	selfID   string
	selfType messaging.SenderType

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the resync loop and resolution edits
	offs   []func()
	feed   *feed
	wake   chan struct{} // wakes the resync loop

	mu      sync.Mutex
	closed  bool
	started bool // the goroutines run
	entries map[string]*entry
	local   uint64    // order of entries the server has not stored
	window  time.Time // created_at of the oldest message of the window; zero: the whole history
	loaded  bool      // the first load is done
	ops     int       // local changes not settled
	wants   int       // conflict resolutions waiting for local changes to settle
	sorted  []*entry  // shown entries in order, when !dirty
	dirty   bool

	// Reconciliation with the history.
	fetching bool
	touched  map[string]bool // ids the socket or an ack changed since the fetch started
	reqGen   uint64          // resyncs requested
	doneGen  uint64          // requests answered by the last resync
	syncErr  error           // its error
	syncDone chan struct{}   // closed and replaced when a resync ends
	retry    bool            // the last resync failed: try again

	// Gaps in sequence numbers.
	maxSeq     int64     // highest sequence number seen (a hint only)
	maxSeqAt   time.Time // created_at of that message
	tailWanted bool      // fetch the messages since tailFrom
	tailFrom   time.Time
}

// entry is one message: what the server said, and the local changes.
type entry struct {
	id          string
	server      *messaging.Message // the server's version as last known; nil before a send's echo or ack
	deleted     bool               // the server deleted it (kept as a tombstone)
	ops         []*op              // local changes not settled, oldest first
	tail        *op                // the latest change made: the next waits for it
	landing     []landed           // acknowledged edits whose echo is still on its way
	want        *string            // content a conflict resolution wants once ops settle
	conflict    *Conflict          // a deferred conflict
	conflictGen uint64             // bumped at every conflict and resolution
	failed      *failure           // a failed send kept in the view
	local       uint64             // order among entries the server has not stored
	shown       *Entry             // what the view shows; nil: not shown
	last        Entry              // what it showed last
}

// op is one local change.
type op struct {
	kind    Op
	content string                      // OpEdit
	params  messaging.SendMessageParams // OpSend
	msg     messaging.Message           // OpSend: the local version
	at      time.Time
	prev    chan struct{} // the previous change of the entry: wait for its call
	done    chan struct{} // closed when this change's call has ended
	echoed  bool          // the server's echo arrived
	resolve bool          // an edit applying a conflict resolution
	unknown bool          // the call ended with ErrDeliveryUnknown
	due     time.Time     // ... and a fetch started after this decides
	err     error         // its error
}

type landed struct {
	content string
	at      time.Time
}

type failure struct {
	params messaging.SendMessageParams
	msg    messaging.Message
	err    error
}

// New makes a timeline of a conversation: it checks conversationID,
// subscribes to the socket's message events, joins the conversation's
// room if the socket is connected or connecting (so that a conversation
// joined after the socket connected is heard too), and loads the most
// recent messages (see WithHistoryLimit) with the client, within ctx.
//
// The socket and the client should act for the same principal; the
// timeline asks the client who that is (Client.Me) to fill in the sender
// of pending sends and to tell conflicts. The timeline does not connect or
// close the socket. It registers handlers for the socket's message events,
// state changes and errors (to reconcile after an overflow of the socket's
// handler queue); note that a socket with an OnError handler no longer
// logs its errors by itself. Register OnChange handlers, then read
// Messages: changes made before the first handler was registered are not
// replayed. Call Close when done.
func New(ctx context.Context, s *messaging.Socket, c *messaging.Client, conversationID string, opts ...Option) (*Timeline, error) {
	switch {
	case ctx == nil:
		return nil, fmt.Errorf("timeline: nil context: %w", messaging.ErrInvalidArgument)
	case s == nil || c == nil:
		return nil, fmt.Errorf("timeline: nil socket or client: %w", messaging.ErrInvalidArgument)
	}
	if err := checkUUID("conversationID", conversationID); err != nil {
		return nil, err
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("%w: %w", messaging.ErrInvalidArgument, err)
		}
	}
	base, cancel := context.WithCancel(context.Background())
	t := &Timeline{
		s: s, c: c, conv: conversationID, cfg: cfg,
		ctx: base, cancel: cancel,
		feed:     newFeed(),
		wake:     make(chan struct{}, 1),
		entries:  make(map[string]*entry),
		syncDone: make(chan struct{}),
	}
	if me, err := c.Me(ctx); err == nil {
		t.selfID, t.selfType = me.User.ID, messaging.SenderType(me.User.Type)
	} else if ctx.Err() != nil {
		cancel()
		return nil, fmt.Errorf("timeline: %w", ctx.Err())
	}
	t.offs = []func(){
		s.OnMessage(t.onNew),
		s.OnMessageUpdate(t.onUpdate),
		s.OnMessageDelete(t.onDelete),
		s.OnStateChange(func(sc messaging.StateChange) {
			if sc.Current == messaging.StateConnected {
				t.requestResync()
			}
		}),
		s.OnError(func(err error) {
			if errors.Is(err, messaging.ErrSlowConsumer) {
				t.requestResync()
			}
		}),
	}
	fail := func(err error) (*Timeline, error) {
		t.Close()
		return nil, err
	}
	switch s.State() {
	case messaging.StateConnected, messaging.StateConnecting, messaging.StateReconnecting:
		if err := s.JoinConversation(ctx, conversationID); err != nil {
			return fail(fmt.Errorf("timeline: joining the conversation: %w", err))
		}
	}
	if err := t.resync(ctx, true); err != nil {
		return fail(fmt.Errorf("timeline: loading the history: %w", err))
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, ErrClosed
	}
	t.started = true
	t.wg.Add(1)
	t.mu.Unlock()
	go t.feed.run()
	go t.loop()
	return t, nil
}

func checkUUID(field, id string) error {
	if len(id) != 36 {
		return fmt.Errorf("timeline: %s %q is not a UUID: %w", field, id, messaging.ErrInvalidArgument)
	}
	if _, err := uuid.Parse(id); err != nil {
		return fmt.Errorf("timeline: %s %q is not a UUID: %w", field, id, messaging.ErrInvalidArgument)
	}
	return nil
}

// ConversationID returns the conversation's id.
func (t *Timeline) ConversationID() string { return t.conv }

// Close unsubscribes from the socket, stops the reconciliation and the
// change feed, abandons the changes in progress (their calls return
// errors matching ErrClosed) and returns once every goroutine the timeline
// started has ended. Called from a change handler, it does not wait for
// that handler's goroutine, which ends when the handler returns. Close is
// idempotent and always returns nil; the socket and client stay open.
func (t *Timeline) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	started := t.started
	close(t.syncDone)
	t.syncDone = make(chan struct{})
	t.mu.Unlock()
	for _, off := range t.offs {
		off()
	}
	t.cancel()
	t.wg.Wait()
	t.feed.close(started)
	return nil
}

// ---- readers ----

// Messages returns a snapshot of the view: every message of the window
// in order, each with its state. The snapshot is a copy and stays as it
// is; treat the messages' Metadata maps as read-only.
func (t *Timeline) Messages() []Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	list := t.ordered()
	out := make([]Entry, len(list))
	for i, e := range list {
		out[i] = export(*e.shown)
	}
	return out
}

// Get returns the entry of a message, and whether the view shows it.
func (t *Timeline) Get(messageID string) (Entry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[messageID]
	if e == nil || e.shown == nil {
		return Entry{}, false
	}
	return export(*e.shown), true
}

// Pending returns how many local changes await the server: changes
// applied and not yet confirmed or rolled back (those whose delivery is
// unknown included), and conflict resolutions not yet applied.
func (t *Timeline) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ops + t.wants
}

// Conflicts returns the unresolved conflicts (see Manual), oldest message
// first.
func (t *Timeline) Conflicts() []Conflict {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Conflict
	for _, e := range t.entries {
		if e.conflict != nil {
			out = append(out, *e.conflict)
		}
	}
	slices.SortFunc(out, func(a, b Conflict) int {
		return cmp.Or(a.Server.CreatedAt.Compare(b.Server.CreatedAt), cmp.Compare(a.MessageID, b.MessageID))
	})
	return out
}

// OnChange registers h for every change of the view, and returns a
// function that unsubscribes it. Handlers run one at a time, in the order
// of the changes, on the timeline's own goroutine and without its lock
// held, so they may call the timeline; a slow handler delays the later
// changes only. After off returns, h is not called again (a call in
// progress finishes). A panic in h is recovered and ignored.
//
// To receive changes on a channel, forward them from h; make the channel
// large enough, or h blocks the feed.
func (t *Timeline) OnChange(h func(Change)) (off func()) { return t.feed.subscribe(h) }

// export copies an entry for the caller.
func export(e Entry) Entry {
	if e.Conflict != nil {
		c := *e.Conflict
		e.Conflict = &c
	}
	return e
}

// ---- the view ----

// ordered returns the shown entries in order: messages the server stored
// by (created_at, sequence, id), then the others by local order.
func (t *Timeline) ordered() []*entry {
	if !t.dirty {
		return t.sorted
	}
	t.sorted = t.sorted[:0]
	for _, e := range t.entries {
		if e.shown != nil {
			t.sorted = append(t.sorted, e)
		}
	}
	slices.SortFunc(t.sorted, func(a, b *entry) int {
		as, bs := a.stored(), b.stored()
		switch {
		case as && bs:
			return cmp.Or(a.server.CreatedAt.Compare(b.server.CreatedAt),
				cmp.Compare(a.server.Sequence, b.server.Sequence), cmp.Compare(a.id, b.id))
		case as:
			return -1
		case bs:
			return 1
		}
		return cmp.Compare(a.local, b.local)
	})
	t.dirty = false
	return t.sorted
}

func (e *entry) stored() bool { return e.server != nil && e.failed == nil }

// view computes what the view shows of e: the server's version with the
// local changes applied on top.
func (e *entry) view() (Entry, bool) {
	if e.failed != nil {
		return Entry{Message: e.failed.msg, State: Failed, Op: OpSend, Err: e.failed.err}, true
	}
	if e.deleted {
		return Entry{}, false
	}
	var m messaging.Message
	ok := e.server != nil
	if ok {
		m = *e.server
	}
	last := OpNone
	for _, o := range e.ops {
		last = o.kind
		if o.echoed {
			continue // already in the server's version
		}
		switch o.kind {
		case OpSend:
			if !ok {
				m, ok = o.msg, true
			}
		case OpEdit:
			if ok {
				at := o.at
				m.Content, m.UpdatedAt = o.content, &at
			}
		case OpDelete:
			if ok {
				at := o.at
				m.DeletedAt = &at
			}
		}
	}
	if !ok {
		return Entry{}, false
	}
	state := Confirmed
	if e.want != nil {
		m.Content = *e.want
		if last == OpNone {
			last = OpEdit
		}
	}
	if len(e.ops) > 0 || e.want != nil {
		state = Pending
	}
	return Entry{Message: m, State: state, Op: last, Conflict: e.conflict}, true
}

// note says why refresh is called.
type note struct {
	cause    Cause
	op       Op
	err      error
	conflict *Conflict
	resolve  bool // the change is a resolution's edit
	report   bool // emit a change even if the view did not change
}

// refresh recomputes what the view shows of e and queues the change, if
// any. Caller holds t.mu.
func (t *Timeline) refresh(e *entry, n note) {
	next, ok := e.view()
	prev := e.shown
	var kind ChangeKind
	switch {
	case prev == nil && ok:
		kind = Added
	case prev != nil && !ok:
		kind = Removed
	case prev != nil && ok:
		if !n.report && entryEqual(*prev, next) {
			return
		}
		kind = Updated
	default:
		if !n.report {
			return
		}
		kind = Removed // it had left the view already
	}
	out := next
	if ok {
		e.shown = &next
		e.last = next
	} else {
		e.shown = nil
		out = e.last
	}
	t.dirty = true
	c := Change{Kind: kind, Cause: n.cause, Entry: export(out), Op: n.op, Err: n.err, Resolution: n.resolve}
	if n.conflict != nil {
		cc := *n.conflict
		c.Conflict = &cc
	}
	t.feed.push(c)
}

func entryEqual(a, b Entry) bool {
	return a.State == b.State && a.Op == b.Op && a.Err == b.Err && a.Conflict == b.Conflict &&
		messageEqual(a.Message, b.Message)
}

func messageEqual(a, b messaging.Message) bool {
	return a.ID == b.ID && a.ConversationID == b.ConversationID && a.SenderID == b.SenderID &&
		a.SenderType == b.SenderType && a.Content == b.Content && a.ContentType == b.ContentType &&
		a.ReplyTo == b.ReplyTo && a.OrgID == b.OrgID && a.RunID == b.RunID && a.TraceID == b.TraceID &&
		a.Sequence == b.Sequence && a.Priority == b.Priority && a.Interruptible == b.Interruptible &&
		a.PreemptedBy == b.PreemptedBy && a.CreatedAt.Equal(b.CreatedAt) &&
		timeEqual(a.UpdatedAt, b.UpdatedAt) && timeEqual(a.DeletedAt, b.DeletedAt) &&
		reflect.DeepEqual(a.Metadata, b.Metadata)
}

func timeEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// touch records that the socket or an acknowledgement told something
// about id while a fetch runs: the fetched version may be older.
func (t *Timeline) touch(id string) {
	if t.fetching {
		t.touched[id] = true
	}
}

// outside reports whether m predates the window.
func (t *Timeline) outside(m *messaging.Message) bool {
	return t.loaded && !t.window.IsZero() && m.CreatedAt.Before(t.window)
}

func (t *Timeline) newEntry(id string) *entry {
	e := &entry{id: id}
	t.entries[id] = e
	return e
}

// gc forgets an entry that holds nothing any more.
func (t *Timeline) gc(e *entry) {
	if len(e.ops) == 0 && e.server == nil && e.failed == nil && !e.deleted && e.want == nil &&
		e.conflict == nil && e.shown == nil && t.entries[e.id] == e {
		delete(t.entries, e.id)
	}
}

func (t *Timeline) setWant(e *entry, w *string) {
	if (e.want == nil) != (w == nil) {
		if w == nil {
			t.wants--
		} else {
			t.wants++
		}
	}
	e.want = w
}

// forget drops what a deleted message no longer needs.
func (t *Timeline) forget(e *entry) {
	e.deleted = true
	e.landing = nil
	t.setWant(e, nil)
	if e.conflict != nil {
		e.conflict = nil
		e.conflictGen++
	}
}
