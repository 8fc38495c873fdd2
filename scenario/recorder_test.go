package scenario_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	messaging "github.com/symbia-labs/messaging-go"
)

// Kinds of recorded events besides the server's event names.
const (
	kindControl = "control" // a control event, under any name
	kindError   = "error"   // an error reported through OnError
)

// event is one event a socket received, flattened for matching.
type event struct {
	Kind string // a messaging.Event* server name, kindControl or kindError
	Conv string
	// User is the sender of a message, the typist, or the principal of a
	// presence or participant event.
	User     string
	UserType messaging.UserType
	AgentID  string
	// ID is the message id (message events).
	ID      string
	Status  messaging.PresenceStatus
	Name    messaging.ControlEventName
	Message *messaging.Message
	Control messaging.ControlEvent
	Err     error
}

func (e event) String() string {
	var b strings.Builder
	b.WriteString(e.Kind)
	for _, f := range [...]struct{ k, v string }{
		{"conv", e.Conv}, {"user", e.User}, {"id", e.ID}, {"status", string(e.Status)}, {"name", string(e.Name)},
	} {
		if f.v != "" {
			fmt.Fprintf(&b, " %s=%s", f.k, f.v)
		}
	}
	if e.Message != nil {
		fmt.Fprintf(&b, " content=%q", e.Message.Content)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, " err=%v", e.Err)
	}
	return b.String()
}

// match selects events: every non-empty field must be equal.
type match struct {
	Kind   string
	Conv   string
	User   string
	ID     string
	Status messaging.PresenceStatus
	Name   messaging.ControlEventName
	// Reason is a control event's reason.
	Reason string
}

func (m match) matches(e event) bool {
	return (m.Kind == "" || m.Kind == e.Kind) && (m.Conv == "" || m.Conv == e.Conv) &&
		(m.User == "" || m.User == e.User) && (m.ID == "" || m.ID == e.ID) &&
		(m.Status == "" || m.Status == e.Status) && (m.Name == "" || m.Name == e.Name) &&
		(m.Reason == "" || m.Reason == e.Control.Reason)
}

func (m match) String() string {
	return event{Kind: m.Kind, Conv: m.Conv, User: m.User, ID: m.ID, Status: m.Status, Name: m.Name}.String()
}

// recorder keeps, in order, every event a socket's handlers saw. The
// handlers of a socket run one at a time in arrival order, so the log is
// the order of the connection: an event before another in the log reached
// the socket first.
type recorder struct {
	who  string
	mu   sync.Mutex
	log  []event
	wake chan struct{} // closed and replaced on every append
}

func newRecorder(who string) *recorder { return &recorder{who: who, wake: make(chan struct{})} }

func (r *recorder) add(e event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, e)
	close(r.wake)
	r.wake = make(chan struct{})
}

// attach registers the recorder's handlers on s, before Connect.
func (r *recorder) attach(s *messaging.Socket) {
	msg := func(kind string) func(*messaging.Message) {
		return func(m *messaging.Message) {
			r.add(event{Kind: kind, Conv: m.ConversationID, User: m.SenderID, ID: m.ID, Message: m})
		}
	}
	s.OnMessage(msg(messaging.EventMessageNew))
	s.OnMessageUpdate(msg(messaging.EventMessageUpdated))
	s.OnMessageDelete(func(d messaging.MessageDeletedEvent) {
		r.add(event{Kind: messaging.EventMessageDeleted, Conv: d.ConversationID, ID: d.ID})
	})
	typing := func(kind string) func(messaging.TypingEvent) {
		return func(te messaging.TypingEvent) {
			r.add(event{Kind: kind, Conv: te.ConversationID, User: te.UserID, UserType: te.UserType})
		}
	}
	s.OnTypingStart(typing(messaging.EventTypingStarted))
	s.OnTypingStop(typing(messaging.EventTypingStopped))
	s.OnPresence(func(p messaging.PresenceEvent) {
		r.add(event{Kind: messaging.EventPresenceChanged, User: p.UserID, UserType: p.UserType, AgentID: p.AgentID, Status: p.Status})
	})
	participant := func(kind string) func(messaging.ParticipantEvent) {
		return func(p messaging.ParticipantEvent) {
			r.add(event{Kind: kind, Conv: p.ConversationID, User: p.UserID, UserType: p.UserType, AgentID: p.AgentID})
		}
	}
	s.OnParticipantOnline(participant(messaging.EventParticipantOnline))
	s.OnParticipantOffline(participant(messaging.EventParticipantOffline))
	s.OnControl("*", func(c messaging.ControlEvent) {
		r.add(event{Kind: kindControl, Conv: c.ConversationID, Name: c.Event, Control: c})
	})
	s.OnError(func(err error) { r.add(event{Kind: kindError, Err: err}) })
}

// snapshot returns a copy of the log.
func (r *recorder) snapshot() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.log...)
}

func (r *recorder) dump() string {
	var b strings.Builder
	for i, e := range r.snapshot() {
		fmt.Fprintf(&b, "\n  %d: %v", i, e)
	}
	if b.Len() == 0 {
		return " (nothing)"
	}
	return b.String()
}

// wait returns the position and the first event matching m, waiting for it
// up to eventTimeout.
func (r *recorder) wait(t *testing.T, m match) (int, event) {
	t.Helper()
	deadline := time.NewTimer(eventTimeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		for i, e := range r.log {
			if m.matches(e) {
				r.mu.Unlock()
				return i, e
			}
		}
		wake := r.wake
		r.mu.Unlock()
		select {
		case <-wake:
		case <-deadline.C:
			t.Fatalf("%s did not receive %v within %v; it received:%s", r.who, m, eventTimeout, r.dump())
		}
	}
}

// waitEvent is wait without the position.
func (r *recorder) waitEvent(t *testing.T, m match) event {
	t.Helper()
	_, e := r.wait(t, m)
	return e
}

// noneBefore asserts that no event matching m arrived before position i
// (typically the position of a barrier event, which the forbidden event
// would have preceded on the same connection).
func (r *recorder) noneBefore(t *testing.T, i int, m match) {
	t.Helper()
	for j, e := range r.snapshot() {
		if j >= i {
			break
		}
		if m.matches(e) {
			t.Fatalf("%s received %v, which it must not; it received:%s", r.who, e, r.dump())
		}
	}
}

// count returns how many events matching m arrived so far.
func (r *recorder) count(m match) int {
	n := 0
	for _, e := range r.snapshot() {
		if m.matches(e) {
			n++
		}
	}
	return n
}

// absentBefore is the "must not receive" pattern: it waits for the
// barrier event, which the recipient must receive after the forbidden one
// would have arrived, and asserts the forbidden event did not come first.
func (r *recorder) absentBefore(t *testing.T, forbidden, barrier match) {
	t.Helper()
	i, _ := r.wait(t, barrier)
	r.noneBefore(t, i, forbidden)
}
