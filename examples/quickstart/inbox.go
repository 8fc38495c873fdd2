package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	messaging "github.com/symbia-labs/messaging-go"
)

// event is something a socket received, ready to print.
type event struct {
	kind string // "message:new", "typing:started", …, "control"
	from string // the principal it is about, if any
	text string
}

// inbox collects what one user's socket receives. The socket's handlers run
// on its dispatcher goroutine and must not block, so they only queue.
type inbox struct {
	name  string
	names map[string]string // principal id → demo name
	ch    chan event

	mu  sync.Mutex
	err error // the first error the socket reported, or an overflow
}

func newInbox(name string, names map[string]string) *inbox {
	return &inbox{name: name, names: names, ch: make(chan event, 1024)}
}

// who names a principal: its demo name, else its id.
func (in *inbox) who(id string) string {
	if n, ok := in.names[id]; ok {
		return n
	}
	return id
}

func (in *inbox) put(e event) {
	select {
	case in.ch <- e:
	default:
		in.fail(fmt.Errorf("%s's inbox overflowed", in.name))
	}
}

func (in *inbox) fail(err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.err == nil {
		in.err = err
	}
}

// failure returns the first error the socket reported, if any.
func (in *inbox) failure() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}

// listen registers a handler for every kind of event the quickstart shows.
func (in *inbox) listen(s *messaging.Socket) {
	s.OnMessage(func(m *messaging.Message) {
		in.put(event{"message:new", m.SenderID,
			fmt.Sprintf("message:new        #%d from %s: %q", m.Sequence, in.who(m.SenderID), m.Content)})
	})
	s.OnTypingStart(func(e messaging.TypingEvent) {
		in.put(event{"typing:started", e.UserID, "typing:started     " + in.who(e.UserID) + " is typing…"})
	})
	s.OnTypingStop(func(e messaging.TypingEvent) {
		in.put(event{"typing:stopped", e.UserID, "typing:stopped     " + in.who(e.UserID) + " stopped typing"})
	})
	s.OnPresence(func(e messaging.PresenceEvent) {
		in.put(event{"presence:changed", e.UserID, fmt.Sprintf("presence:changed   %s is %s", in.who(e.UserID), e.Status)})
	})
	s.OnParticipantOnline(func(e messaging.ParticipantEvent) {
		in.put(event{"participant:online", e.UserID, "participant:online " + in.who(e.UserID) + " is online in the conversation"})
	})
	s.OnControl("*", func(e messaging.ControlEvent) {
		var b strings.Builder
		fmt.Fprintf(&b, "%-18s", e.Event)
		if e.Target != nil {
			fmt.Fprintf(&b, " for %s", in.who(e.Target.PrincipalID))
		}
		if e.Reason != "" {
			fmt.Fprintf(&b, ", reason %q", e.Reason)
		}
		in.put(event{"control", "", b.String()})
	})
	s.OnError(func(err error) {
		in.fail(fmt.Errorf("%s's socket: %w", in.name, err))
	})
}

// wait returns the next event of the kind about from (any if from is
// empty), skipping others: the service also tells each socket things the
// script does not wait for, such as a user's own messages.
func (in *inbox) wait(ctx context.Context, d time.Duration, kind, from string) (event, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case e := <-in.ch:
			if e.kind == kind && (from == "" || e.from == from) {
				return e, nil
			}
		case <-timer.C:
			what := kind
			if from != "" {
				what += " from " + in.who(from)
			}
			if err := in.failure(); err != nil {
				return event{}, fmt.Errorf("%s saw no %s within %v: %w", in.name, what, d, err)
			}
			return event{}, fmt.Errorf("%s saw no %s within %v", in.name, what, d)
		case <-ctx.Done():
			return event{}, context.Cause(ctx)
		}
	}
}
