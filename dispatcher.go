package messaging

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/symbia-labs/messaging-go/internal/goid"
)

// dispatch is the body of a dispatcher goroutine: it runs the handlers of
// what is queued, and returns once the queue has stayed empty for
// dispatchLinger, or is closed and drained.
//
// The dispatcher records its goroutine id so that Close, called from a
// handler, does not wait for its own goroutine, while Close called from
// anywhere else returns only once the dispatcher has ended (the package
// documentation promises both: see Close and "Concurrency").
func (s *Socket) dispatch() {
	me := goid.Get()
	s.dispGID.Store(me)
	idle := new(idleWait)
	stopped := false
	defer func() {
		if !stopped {
			// A handler called runtime.Goexit (t.FailNow does): hand the
			// queue on, so that the rest is handled and Close does not
			// wait for this goroutine forever.
			s.dispGID.CompareAndSwap(me, 0)
			idle.stop()
			s.queue.handOff()
		}
	}()
	for {
		it, ok, closed := s.queue.next(idle)
		if ok {
			s.handle(it)
			continue
		}
		stopped = true
		// A dispatcher started since next may have stored its id already;
		// until this one clears its own, its id matches this goroutine only.
		s.dispGID.CompareAndSwap(me, 0)
		if closed {
			idle.stop()
			s.delivery.stopTimers()
			s.queue.done()
		}
		return
	}
}

func (s *Socket) handle(it item) {
	switch it.kind {
	case itemEvent:
		s.handleEvent(it.ev)
	case itemState:
		s.handleState(it.change)
	case itemReconnecting:
		notify(s, &s.h.reconnecting, "reconnecting", it.n)
	case itemError:
		s.reportError(it.err)
	case itemSlow:
		s.reportError(ErrSlowConsumer)
	case itemLost:
		s.delivery.lost()
	case itemReady:
		s.delivery.ready()
	case itemRecover:
		s.delivery.recover(s.queue.takeLost())
	case itemAnchor:
		s.delivery.anchor(it.conv, it.anchor)
	case itemForget:
		s.delivery.forget(it.conv)
	case itemCall:
		it.fn()
	}
}

func (s *Socket) handleState(c StateChange) {
	notify(s, &s.h.state, "state change", c)
	switch {
	case c.Current == StateConnected:
		notify(s, &s.h.connect, "connect", struct{}{})
		if c.Previous == StateReconnecting && s.queue.connectedOnce {
			notify(s, &s.h.reconnect, "reconnect", struct{}{})
		}
		s.queue.connectedOnce = true
	case c.Previous == StateConnected,
		c.Previous == StateReconnecting && c.Current == StateDisconnected:
		notify(s, &s.h.disconnect, "disconnect", c.Reason)
	}
}

// left reports whether the caller left the conversation's room.
func (s *Socket) left(conversationID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[conversationID] == roomLeft
}

// handleEvent runs the handlers of a server event. New messages, and the
// edits and deletions that must not overtake them, go through the
// delivery first.
func (s *Socket) handleEvent(ev event) {
	if ev.err != nil {
		s.reportError(ev.err)
		return
	}
	switch {
	case ev.message != nil:
		m := ev.message
		if s.left(m.ConversationID) {
			return
		}
		if ev.name == EventMessageNew {
			s.delivery.live(m)
		} else if !s.delivery.holdOther(m.ConversationID, ev) {
			s.runEvent(ev)
		}
	case ev.deleted != nil:
		if !s.left(ev.deleted.ConversationID) && !s.delivery.holdOther(ev.deleted.ConversationID, ev) {
			s.runEvent(ev)
		}
	case ev.typing != nil && s.left(ev.typing.ConversationID),
		ev.participant != nil && s.left(ev.participant.ConversationID),
		ev.control != nil && s.left(ev.control.ConversationID):
	default:
		s.runEvent(ev)
	}
}

// runEvent runs the handlers of a server event other than message:new.
func (s *Socket) runEvent(ev event) {
	switch {
	case ev.message != nil:
		notify(s, &s.h.messageUpdate, ev.name, ev.message)
	case ev.deleted != nil:
		notify(s, &s.h.messageDelete, ev.name, *ev.deleted)
	case ev.typing != nil && ev.name == EventTypingStarted:
		notify(s, &s.h.typingStart, ev.name, *ev.typing)
	case ev.typing != nil:
		notify(s, &s.h.typingStop, ev.name, *ev.typing)
	case ev.presence != nil:
		notify(s, &s.h.presence, ev.name, *ev.presence)
	case ev.participant != nil && ev.name == EventParticipantOnline:
		notify(s, &s.h.online, ev.name, *ev.participant)
	case ev.participant != nil:
		notify(s, &s.h.offline, ev.name, *ev.participant)
	case ev.control != nil:
		if l := s.h.controlList(string(ev.control.Event), false); l != nil {
			notify(s, l, ev.name, *ev.control)
		}
		if l := s.h.controlList("*", false); l != nil {
			notify(s, l, ev.name, *ev.control)
		}
	}
}

// onEvent is socketio's event hook: it decodes and queues, nothing more.
// When the queue overflows it also logs the overflow itself, at warning
// level, on this goroutine: OnError hears of it only once the running
// handler returns, which a handler blocked for good never does.
func (s *Socket) onEvent(name string, args []json.RawMessage) {
	ev, ok := decodeEvent(name, args)
	if !ok {
		s.log.LogAttrs(context.Background(), slog.LevelDebug, "messaging: ignoring unknown event", slog.String("event", name))
		return
	}
	if ev.control != nil {
		s.runs.control(*ev.control) // runs follow control events as they arrive (run_state.go)
	}
	if s.queue.pushEvent(ev) {
		s.log.LogAttrs(context.Background(), slog.LevelWarn, "messaging: handler queue full, dropping events",
			slog.Int("queue_size", s.cfg.queueSize), slog.String("error", ErrSlowConsumer.Error()))
	}
}
