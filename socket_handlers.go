package messaging

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/symbia-labs/messaging-go/internal/emitter"
)

// handlers is the subscriber list of one Socket event: the module's one
// subscriber list (internal/emitter), called in order on the dispatcher.
type handlers[T any] struct{ emitter.List[T] }

// socketHandlers are every handler of a socket.
type socketHandlers struct {
	message       handlers[*Message]
	messageUpdate handlers[*Message]
	messageDelete handlers[MessageDeletedEvent]
	typingStart   handlers[TypingEvent]
	typingStop    handlers[TypingEvent]
	presence      handlers[PresenceEvent]
	online        handlers[ParticipantEvent]
	offline       handlers[ParticipantEvent]

	controlMu sync.Mutex
	control   map[string]*handlers[ControlEvent] // by full name, "*" for all

	connect      handlers[struct{}]
	disconnect   handlers[string]
	reconnecting handlers[int]
	reconnect    handlers[struct{}]
	errs         handlers[error]
	state        handlers[StateChange]
}

func (h *socketHandlers) controlList(name string, create bool) *handlers[ControlEvent] {
	h.controlMu.Lock()
	defer h.controlMu.Unlock()
	l := h.control[name]
	if l == nil && create {
		if h.control == nil {
			h.control = make(map[string]*handlers[ControlEvent])
		}
		l = new(handlers[ControlEvent])
		h.control[name] = l
	}
	return l
}

// notify calls every handler of l with v, one after the other, on the
// dispatcher goroutine. A panic is recovered and reported to OnError.
func notify[T any](s *Socket, l *handlers[T], event string, v T) {
	l.Emit(v, func(r any) { s.handlerPanicked(event, r) })
}

// handlerPanicked reports the panic of a handler of event.
func (s *Socket) handlerPanicked(event string, r any) {
	if event == "error" {
		s.unhandledLog().LogAttrs(context.Background(), slog.LevelError, "messaging: OnError handler panicked",
			slog.String("panic", fmt.Sprint(r)))
		return
	}
	s.reportError(fmt.Errorf("messaging: %s handler panicked: %v", event, r))
}

// reportError runs the OnError handlers (on the dispatcher goroutine), or
// logs err at warning level when there are none (see unhandledLog).
func (s *Socket) reportError(err error) {
	if s.h.errs.Empty() {
		s.unhandledLog().LogAttrs(context.Background(), slog.LevelWarn, "messaging: socket error",
			slog.String("error", err.Error()))
		return
	}
	notify(s, &s.h.errs, "error", err)
}

// unhandledLog is the logger of errors no OnError handler takes: the
// WithLogger logger, or slog.Default() when none was set (the default
// logger discards everything, and such errors must not vanish). Only
// error paths call it.
func (s *Socket) unhandledLog() *slog.Logger {
	if s.cfg.common.logger == discardLogger {
		return slog.Default().With(slog.String("component", "messaging.socket"))
	}
	return s.log
}

// OnMessage registers h for new messages (message:new), in every
// conversation whose room the socket is in, the caller's own messages
// included. Each message reaches h once, even when the service broadcasts
// it again (a send repeated with the same id) or when it is also fetched
// from the history after a reconnection. It returns a function that
// unsubscribes h. h must treat the message as read-only: the handlers of
// one event share it.
func (s *Socket) OnMessage(h func(*Message)) (off func()) { return s.h.message.On(h) }

// OnMessageUpdate registers h for edited messages (message:updated).
func (s *Socket) OnMessageUpdate(h func(*Message)) (off func()) { return s.h.messageUpdate.On(h) }

// OnMessageDelete registers h for deleted messages (message:deleted).
func (s *Socket) OnMessageDelete(h func(MessageDeletedEvent)) (off func()) {
	return s.h.messageDelete.On(h)
}

// OnTypingStart registers h for typing:started. The service sends typing
// events to everyone in the room except the typist.
func (s *Socket) OnTypingStart(h func(TypingEvent)) (off func()) { return s.h.typingStart.On(h) }

// OnTypingStop registers h for typing:stopped.
func (s *Socket) OnTypingStop(h func(TypingEvent)) (off func()) { return s.h.typingStop.On(h) }

// OnPresence registers h for presence changes of other principals
// (presence:changed). The service sends them to every connected socket,
// and "offline" when a socket disconnects.
func (s *Socket) OnPresence(h func(PresenceEvent)) (off func()) { return s.h.presence.On(h) }

// OnParticipantOnline registers h for participant:online: a participant of
// a conversation connected, or announced itself with AnnouncePresence.
func (s *Socket) OnParticipantOnline(h func(ParticipantEvent)) (off func()) {
	return s.h.online.On(h)
}

// OnParticipantOffline registers h for participant:offline.
func (s *Socket) OnParticipantOffline(h func(ParticipantEvent)) (off func()) {
	return s.h.offline.On(h)
}

// OnControl registers h for the control events named name, or for every
// control event with name "*". Names of the seven stream events may be
// short or full ("pause" or "stream.pause"). Events broadcast under a short
// name (older clients send "pause" as is) reach the handlers of the full
// name, with Event set to the full name.
//
// The service broadcasts control events under whatever name the sender
// chose, so any other name is matched exactly, and "*" receives every
// event the socket recognises as a control event: a server event outside
// the documented ones whose payload is an object naming the same event in
// its "event" field. An empty name registers nothing.
func (s *Socket) OnControl(name string, h func(ControlEvent)) (off func()) {
	key := controlKey(name)
	if key == "" || h == nil {
		return func() {}
	}
	return s.h.controlList(key, true).On(h)
}

// controlKey is the name control handlers are registered under.
func controlKey(name string) string {
	if name == "*" || name == "" {
		return name
	}
	if n, ok := ParseControlEvent(name); ok {
		return string(n)
	}
	return name
}

// OnConnect registers h, called each time the socket becomes connected
// (StateConnected): after Connect, and after every reconnection once the
// socket has rejoined its conversations.
func (s *Socket) OnConnect(h func()) (off func()) {
	if h == nil {
		return func() {}
	}
	return s.h.connect.On(func(struct{}) { h() })
}

// OnDisconnect registers h, called with the reason (one of the Reason
// constants) each time the socket leaves StateConnected, and when it stops
// trying to reconnect (ReasonConnectRefused, ReasonReconnectFailed).
func (s *Socket) OnDisconnect(h func(reason string)) (off func()) { return s.h.disconnect.On(h) }

// OnReconnecting registers h, called before each reconnection attempt with
// its number, from 1.
func (s *Socket) OnReconnecting(h func(attempt int)) (off func()) {
	return s.h.reconnecting.On(h)
}

// OnReconnect registers h, called when the socket is connected again after
// a lost connection (after OnConnect).
func (s *Socket) OnReconnect(h func()) (off func()) {
	if h == nil {
		return func() {}
	}
	return s.h.reconnect.On(func(struct{}) { h() })
}

// OnError registers h for errors that belong to no call: refused
// credentials at a reconnection (*ConnectError), an exhausted reconnection
// budget (ErrReconnectFailed), a failing token source, ErrSlowConsumer,
// malformed events from the server (ErrMalformed), panics in handlers,
// failed history backfills and rejoins. Without any OnError handler, they
// are logged at warning level (a panic of an OnError handler at error
// level) to the WithLogger logger, or to slog.Default() when none is set. Errors of calls are returned by the calls (and passed to
// WithErrorHandler), not passed here.
func (s *Socket) OnError(h func(error)) (off func()) { return s.h.errs.On(h) }

// OnStateChange registers h for every change of the socket's State.
// OnConnect, OnDisconnect and OnReconnect are views of these changes.
func (s *Socket) OnStateChange(h func(StateChange)) (off func()) { return s.h.state.On(h) }
