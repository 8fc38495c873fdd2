package messaging

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/symbia-labs/messaging-go/internal/emitter"
)

// DefaultTypingExpiry is how long a [TypingTracker] shows someone typing
// after their last typing:started, unless a typing:stopped comes first.
const DefaultTypingExpiry = 5 * time.Second

// TypingTrackerOption configures a [TypingTracker].
type TypingTrackerOption interface {
	applyTyping(*TypingTracker)
}

type typingOptionFunc func(*TypingTracker)

func (f typingOptionFunc) applyTyping(t *TypingTracker) { f(t) }

// WithTypingExpiry sets how long someone is shown typing after their last
// typing:started without a typing:stopped (default DefaultTypingExpiry).
// Zero or less means the default.
func WithTypingExpiry(d time.Duration) TypingTrackerOption {
	return typingOptionFunc(func(t *TypingTracker) {
		if d > 0 {
			t.ttl = d
		}
	})
}

// withTypingClock replaces time.Now, for tests.
func withTypingClock(now func() time.Time) TypingTrackerOption {
	return typingOptionFunc(func(t *TypingTracker) { t.now = now })
}

// TypingTracker knows who is typing in each conversation, from a socket's
// typing:started and typing:stopped events. An entry expires after the
// expiry (WithTypingExpiry) without a new typing:started, because a lost
// typing:stopped must not show someone typing forever; one also ends when
// its typist goes offline (participant:offline, presence "offline"), and
// every entry ends when the socket loses its connection (stops sent
// meanwhile are lost). The service does not send a socket its own typing
// events, so the caller never appears.
//
// Reads are safe for concurrent use. OnChange handlers are called one at
// a time, in order.
type TypingTracker struct {
	now  func() time.Time
	ttl  time.Duration
	offs []func()

	changes emitter.List[typingChange]

	mu     sync.Mutex
	convs  map[string]map[string]*typingEntry // conversation → user id → entry
	timer  *time.Timer
	closed bool
}

type typingEntry struct {
	ev      TypingEvent
	since   time.Time
	expires time.Time
}

type typingChange struct {
	conv   string
	typing []TypingEvent
}

// NewTypingTracker returns a tracker fed by s's events from now on. Close
// it to unsubscribe.
func NewTypingTracker(s *Socket, opts ...TypingTrackerOption) *TypingTracker {
	t := &TypingTracker{now: time.Now, ttl: DefaultTypingExpiry, convs: make(map[string]map[string]*typingEntry)}
	for _, o := range opts {
		if o != nil {
			o.applyTyping(t)
		}
	}
	t.offs = []func(){
		s.OnTypingStart(t.started),
		s.OnTypingStop(func(e TypingEvent) { t.remove(e.ConversationID, e.UserID) }),
		s.OnParticipantOffline(func(e ParticipantEvent) { t.remove(e.ConversationID, e.UserID) }),
		s.OnPresence(func(e PresenceEvent) {
			if e.Status == PresenceOffline {
				t.remove("", e.UserID)
			}
		}),
		s.OnStateChange(func(c StateChange) {
			if c.Previous == StateConnected {
				t.remove("", "")
			}
		}),
	}
	return t
}

// Typing returns who is typing in a conversation, in the order they
// started.
func (t *TypingTracker) Typing(conversationID string) []TypingEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.listLocked(strings.ToLower(conversationID), t.now())
}

// IsTyping reports whether userID is typing in a conversation.
func (t *TypingTracker) IsTyping(conversationID, userID string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.convs[strings.ToLower(conversationID)][userID]
	return e != nil && t.now().Before(e.expires)
}

// OnChange registers h, called with a conversation's typists (as Typing
// returns them) each time they change: someone starts, stops, or expires.
// It is called on the socket's dispatcher goroutine for changes made by
// events, and on a timer's goroutine for expiries. It returns a function
// that unsubscribes h.
func (t *TypingTracker) OnChange(h func(conversationID string, typing []TypingEvent)) (off func()) {
	if h == nil {
		return func() {}
	}
	return t.changes.On(func(c typingChange) { h(c.conv, c.typing) })
}

// Close unsubscribes the tracker from the socket and stops its timer. A
// handler already running may finish after Close returns.
func (t *TypingTracker) Close() {
	t.mu.Lock()
	t.closed = true
	if t.timer != nil {
		t.timer.Stop()
	}
	offs := t.offs
	t.offs = nil
	t.mu.Unlock()
	for _, off := range offs {
		off()
	}
}

func (t *TypingTracker) listLocked(conv string, now time.Time) []TypingEvent {
	var es []*typingEntry
	for _, e := range t.convs[conv] {
		if now.Before(e.expires) {
			es = append(es, e)
		}
	}
	slices.SortFunc(es, func(a, b *typingEntry) int {
		return cmp.Or(a.since.Compare(b.since), cmp.Compare(a.ev.UserID, b.ev.UserID))
	})
	out := make([]TypingEvent, len(es))
	for i, e := range es {
		out[i] = e.ev
	}
	return out
}

func (t *TypingTracker) started(ev TypingEvent) {
	conv := strings.ToLower(ev.ConversationID)
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	now := t.now()
	users := t.convs[conv]
	if users == nil {
		users = make(map[string]*typingEntry)
		t.convs[conv] = users
	}
	e := users[ev.UserID]
	fresh := e == nil || !now.Before(e.expires)
	if fresh {
		e = &typingEntry{ev: ev, since: now}
		users[ev.UserID] = e
	}
	e.expires = now.Add(t.ttl)
	start := false
	if fresh {
		start = t.changes.Enqueue(typingChange{ev.ConversationID, t.listLocked(conv, now)})
	}
	t.armLocked(now)
	t.mu.Unlock()
	if start {
		drain(&t.changes)
	}
}

// remove ends the entries of userID in conv; an empty conv means every
// conversation, an empty userID everyone.
func (t *TypingTracker) remove(conv, userID string) {
	conv = strings.ToLower(conv)
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	now := t.now()
	start := false
	for c, users := range t.convs {
		if conv != "" && c != conv {
			continue
		}
		changed := false
		for u, e := range users {
			if userID != "" && u != userID {
				continue
			}
			delete(users, u)
			if now.Before(e.expires) {
				changed = true // an expired entry was announced already
			}
		}
		if len(users) == 0 {
			delete(t.convs, c)
		}
		if changed && t.changes.Enqueue(typingChange{c, t.listLocked(c, now)}) {
			start = true
		}
	}
	t.mu.Unlock()
	if start {
		drain(&t.changes)
	}
}

// sweep removes expired entries and announces the conversations that
// changed.
func (t *TypingTracker) sweep() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	now := t.now()
	start := false
	for c, users := range t.convs {
		changed := false
		for u, e := range users {
			if !now.Before(e.expires) {
				delete(users, u)
				changed = true
			}
		}
		if len(users) == 0 {
			delete(t.convs, c)
		}
		if changed && t.changes.Enqueue(typingChange{c, t.listLocked(c, now)}) {
			start = true
		}
	}
	t.armLocked(now)
	t.mu.Unlock()
	if start {
		drain(&t.changes)
	}
}

// armLocked sets the timer for the next expiry.
func (t *TypingTracker) armLocked(now time.Time) {
	var next time.Time
	for _, users := range t.convs {
		for _, e := range users {
			if next.IsZero() || e.expires.Before(next) {
				next = e.expires
			}
		}
	}
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	if !next.IsZero() {
		t.timer = time.AfterFunc(max(next.Sub(now), 0), t.sweep)
	}
}
