package messaging

// The presence tracker: who is online, as the service announces it.

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/symbia-labs/messaging-go/internal/emitter"
)

// PresenceChange describes one change seen by a [PresenceTracker].
type PresenceChange struct {
	UserID   string
	UserType UserType
	// Previous and Status are the user's status before and after the
	// change; "" means unknown (never heard of, or forgotten when the
	// socket lost its connection). They are equal when only the user's
	// presence in one conversation changed.
	Previous, Status PresenceStatus
	// ConversationID is set when the user came online (Online true) or
	// went offline in that conversation (participant:online or
	// participant:offline).
	ConversationID string
	Online         bool
}

// PresenceTracker knows the presence status of users and who is online in
// each conversation, from a socket's presence:changed,
// participant:online and participant:offline events.
//
// It knows only what it has seen since it was made: the service announces
// a participant when its socket connects (or calls AnnouncePresence) and
// a status when it changes, never the current state on request. A user
// seen online in a conversation counts as online until told otherwise; a
// user whose status goes offline is offline in every conversation. When
// the socket loses its connection, everything is forgotten (changes
// announced meanwhile are lost) and OnChange reports every known user's
// status as "".
//
// So a tracker made while others are already online (a console opened
// mid-day) cannot say who is online: it knows nobody until each one
// reconnects, calls AnnouncePresence or changes status, and the service
// has no request that lists who is online or asks others to announce
// themselves. The nearest the service keeps is the participants'
// LastReadAt (GetConversation): when each last read the history. What the
// service does allow is a convention among clients: with
// [WithAnnounceToNewcomers], a tracker answers a participant that comes
// online with an announcement of its own socket, so that a console opened
// later learns of every member whose tracker does the same (make its
// tracker before connecting its socket).
//
// Reads are safe for concurrent use. OnChange handlers are called one at
// a time, in order, on the socket's dispatcher goroutine.
type PresenceTracker struct {
	offs    []func()
	changes emitter.List[PresenceChange]

	sock      *Socket
	announce  bool           // WithAnnounceToNewcomers
	interval  time.Duration  // between two announcements in a conversation
	announces sync.WaitGroup // announcements in flight

	mu        sync.Mutex
	users     map[string]*presenceEntry
	convs     map[string]map[string]bool // conversation → online user ids
	announced map[string]*announcement   // by conversation
	closed    bool
}

// announcement is a tracker's last announcement in a conversation, and
// the one it will make when the interval has passed.
type announcement struct {
	last time.Time
	next *time.Timer // nil when none is due
}

// PresenceTrackerOption configures a [PresenceTracker].
type PresenceTrackerOption interface {
	applyPresence(*PresenceTracker)
}

type presenceOptionFunc func(*PresenceTracker)

func (f presenceOptionFunc) applyPresence(p *PresenceTracker) { f(p) }

// announceInterval is the least time between two announcements of a
// tracker in one conversation, and announceTimeout bounds each.
const (
	announceInterval = 2 * time.Second
	announceTimeout  = 10 * time.Second
)

// WithAnnounceToNewcomers makes the tracker announce its socket's
// presence (AnnouncePresence) in a conversation when it sees someone come
// online there whom it did not know online. Newcomers whose trackers
// listen learn that the socket is online, which the service would not
// tell them; the announcement also reaches the other members, whose
// trackers knew the socket already and do not answer. So a newcomer costs
// each member one announcement, and announcements for newcomers arriving
// together are merged: at most one per conversation every 2 s, the last
// one made when the interval ends. A failed announcement is reported to
// the socket's error handler.
func WithAnnounceToNewcomers() PresenceTrackerOption {
	return presenceOptionFunc(func(p *PresenceTracker) { p.announce = true })
}

type presenceEntry struct {
	typ    UserType
	status PresenceStatus
}

// NewPresenceTracker returns a tracker fed by s's events from now on.
// Close it to unsubscribe.
func NewPresenceTracker(s *Socket, opts ...PresenceTrackerOption) *PresenceTracker {
	p := &PresenceTracker{sock: s, users: make(map[string]*presenceEntry), convs: make(map[string]map[string]bool),
		announced: make(map[string]*announcement), interval: announceInterval}
	for _, o := range opts {
		if o != nil {
			o.applyPresence(p)
		}
	}
	p.offs = []func(){
		s.OnPresence(p.presence),
		s.OnParticipantOnline(func(e ParticipantEvent) { p.participant(e, true) }),
		s.OnParticipantOffline(func(e ParticipantEvent) { p.participant(e, false) }),
		s.OnStateChange(func(c StateChange) {
			if c.Previous == StateConnected {
				p.forget()
			}
		}),
	}
	return p
}

// Status returns a user's last known status, and false when it is not
// known.
func (p *PresenceTracker) Status(userID string) (PresenceStatus, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.users[userID]; e != nil && e.status != "" {
		return e.status, true
	}
	return "", false
}

// Online returns the ids of the users online in a conversation, sorted.
func (p *PresenceTracker) Online(conversationID string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, 0, len(p.convs[strings.ToLower(conversationID)]))
	for id := range p.convs[strings.ToLower(conversationID)] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// OnChange registers h for every change. It returns a function that
// unsubscribes h.
func (p *PresenceTracker) OnChange(h func(PresenceChange)) (off func()) { return p.changes.On(h) }

// Close unsubscribes the tracker from the socket, and returns once its
// announcements in flight (WithAnnounceToNewcomers) have ended.
func (p *PresenceTracker) Close() {
	p.mu.Lock()
	p.closed = true
	offs := p.offs
	p.offs = nil
	for _, a := range p.announced {
		if a.next != nil && a.next.Stop() {
			p.announces.Done() // the announcement it would have made
		}
	}
	p.mu.Unlock()
	for _, off := range offs {
		off()
	}
	p.announces.Wait()
}

// announceLocked announces the socket's presence in conv now, or when the
// interval since the last announcement there has passed.
func (p *PresenceTracker) announceLocked(conv string) {
	key := strings.ToLower(conv)
	a := p.announced[key]
	if a == nil {
		a = &announcement{}
		p.announced[key] = a
	}
	if a.next != nil {
		return // one is due: it covers this newcomer too
	}
	wait := p.interval - time.Since(a.last)
	if a.last.IsZero() || wait <= 0 {
		a.last = time.Now()
		p.announces.Add(1)
		go p.announceNow(conv)
		return
	}
	p.announces.Add(1)
	a.next = time.AfterFunc(wait, func() {
		p.mu.Lock()
		a.next = nil
		if p.closed {
			p.mu.Unlock()
			p.announces.Done()
			return
		}
		a.last = time.Now()
		p.mu.Unlock()
		p.announceNow(conv)
	})
}

// announceNow announces the socket's presence in conv; its error goes to
// the socket's error handler.
func (p *PresenceTracker) announceNow(conv string) {
	defer p.announces.Done()
	ctx, cancel := context.WithTimeout(context.Background(), announceTimeout)
	defer cancel()
	_ = p.sock.AnnouncePresence(ctx, conv)
}

func (p *PresenceTracker) entryLocked(id string, typ UserType) *presenceEntry {
	e := p.users[id]
	if e == nil {
		e = &presenceEntry{}
		p.users[id] = e
	}
	if typ != "" {
		e.typ = typ
	}
	return e
}

func (p *PresenceTracker) presence(ev PresenceEvent) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	e := p.entryLocked(ev.UserID, ev.UserType)
	prev := e.status
	e.status = ev.Status
	var chs []PresenceChange
	if prev != ev.Status {
		chs = append(chs, PresenceChange{UserID: ev.UserID, UserType: e.typ, Previous: prev, Status: ev.Status})
	}
	if ev.Status == PresenceOffline {
		convs := make([]string, 0)
		for c, users := range p.convs {
			if users[ev.UserID] {
				delete(users, ev.UserID)
				convs = append(convs, c)
			}
		}
		slices.Sort(convs)
		for _, c := range convs {
			chs = append(chs, PresenceChange{UserID: ev.UserID, UserType: e.typ, Previous: ev.Status, Status: ev.Status, ConversationID: c})
		}
	}
	p.publishLocked(chs)
}

func (p *PresenceTracker) participant(ev ParticipantEvent, online bool) {
	conv := strings.ToLower(ev.ConversationID)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	e := p.entryLocked(ev.UserID, ev.UserType)
	prev := e.status
	users := p.convs[conv]
	was := users[ev.UserID]
	if online {
		if users == nil {
			users = make(map[string]bool)
			p.convs[conv] = users
		}
		users[ev.UserID] = true
		if e.status == "" || e.status == PresenceOffline {
			e.status = PresenceOnline
		}
	} else if was {
		delete(users, ev.UserID)
		if len(users) == 0 {
			delete(p.convs, conv)
		}
	}
	var chs []PresenceChange
	if was != online || prev != e.status {
		chs = append(chs, PresenceChange{
			UserID: ev.UserID, UserType: e.typ, Previous: prev, Status: e.status,
			ConversationID: ev.ConversationID, Online: online,
		})
	}
	if online && !was && p.announce {
		p.announceLocked(ev.ConversationID)
	}
	p.publishLocked(chs)
}

// forget drops everything, announcing each known user's status as "".
func (p *PresenceTracker) forget() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	ids := make([]string, 0, len(p.users))
	for id := range p.users {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var chs []PresenceChange
	for _, id := range ids {
		chs = append(chs, PresenceChange{UserID: id, UserType: p.users[id].typ, Previous: p.users[id].status})
	}
	clear(p.users)
	clear(p.convs)
	p.publishLocked(chs)
}

// publishLocked queues chs, unlocks p.mu and delivers.
func (p *PresenceTracker) publishLocked(chs []PresenceChange) {
	start := false
	for _, c := range chs {
		if p.changes.Enqueue(c) {
			start = true
		}
	}
	p.mu.Unlock()
	if start {
		drain(&p.changes)
	}
}
