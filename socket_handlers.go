package messaging

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// handler is one registered function. off is set when it is unsubscribed
// and checked right before every call, so that after off() returns the
// function is not called again (a call already running finishes).
type handler[T any] struct {
	fn  func(T)
	off atomic.Bool
}

// handlerList holds the handlers of one event. Registering and
// unsubscribing copy the list; dispatching reads a snapshot without
// locking.
type handlerList[T any] struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*handler[T]]
}

func (l *handlerList[T]) add(fn func(T)) (off func()) {
	if fn == nil {
		return func() {}
	}
	h := &handler[T]{fn: fn}
	l.mu.Lock()
	var cur []*handler[T]
	if p := l.list.Load(); p != nil {
		cur = *p
	}
	next := append(slices.Clip(cur), h)
	l.list.Store(&next)
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.off.Store(true)
			l.mu.Lock()
			defer l.mu.Unlock()
			cur := *l.list.Load()
			next := slices.DeleteFunc(slices.Clone(cur), func(x *handler[T]) bool { return x == h })
			l.list.Store(&next)
		})
	}
}

func (l *handlerList[T]) snapshot() []*handler[T] {
	if p := l.list.Load(); p != nil {
		return *p
	}
	return nil
}

func (l *handlerList[T]) empty() bool { return len(l.snapshot()) == 0 }

// socketHandlers are every handler of a socket.
type socketHandlers struct {
	message       handlerList[*Message]
	messageUpdate handlerList[*Message]
	messageDelete handlerList[MessageDeletedEvent]
	typingStart   handlerList[TypingEvent]
	typingStop    handlerList[TypingEvent]
	presence      handlerList[PresenceEvent]
	online        handlerList[ParticipantEvent]
	offline       handlerList[ParticipantEvent]

	controlMu sync.Mutex
	control   map[string]*handlerList[ControlEvent] // by full name, "*" for all

	connect      handlerList[struct{}]
	disconnect   handlerList[string]
	reconnecting handlerList[int]
	reconnect    handlerList[struct{}]
	errs         handlerList[error]
	state        handlerList[StateChange]
}

func (h *socketHandlers) controlList(name string, create bool) *handlerList[ControlEvent] {
	h.controlMu.Lock()
	defer h.controlMu.Unlock()
	l := h.control[name]
	if l == nil && create {
		if h.control == nil {
			h.control = make(map[string]*handlerList[ControlEvent])
		}
		l = new(handlerList[ControlEvent])
		h.control[name] = l
	}
	return l
}

// run calls every handler of l with v, one after the other, on the
// dispatcher goroutine. A panic is recovered and reported to OnError.
func run[T any](s *Socket, l *handlerList[T], event string, v T) {
	for _, h := range l.snapshot() {
		if h.off.Load() {
			continue
		}
		s.call(event, func() { h.fn(v) })
	}
}

// call runs one handler, recovering a panic.
func (s *Socket) call(event string, fn func()) {
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("messaging: %s handler panicked: %v", event, r)
			if event == "error" {
				s.log.Error("messaging: OnError handler panicked", "panic", fmt.Sprint(r))
				return
			}
			s.reportError(err)
		}
	}()
	fn()
}

// reportError runs the OnError handlers (on the dispatcher goroutine), or
// logs err when there are none.
func (s *Socket) reportError(err error) {
	if s.h.errs.empty() {
		s.log.Warn("messaging: socket error", "error", err.Error())
		return
	}
	run(s, &s.h.errs, "error", err)
}

// OnMessage registers h for new messages (message:new), in every
// conversation whose room the socket is in, the caller's own messages
// included. Each message reaches h once, even when the service broadcasts
// it again (a send repeated with the same id) or when it is also fetched
// from the history after a reconnection. It returns a function that
// unsubscribes h. h must treat the message as read-only: the handlers of
// one event share it.
func (s *Socket) OnMessage(h func(*Message)) (off func()) { return s.h.message.add(h) }

// OnMessageUpdate registers h for edited messages (message:updated).
func (s *Socket) OnMessageUpdate(h func(*Message)) (off func()) { return s.h.messageUpdate.add(h) }

// OnMessageDelete registers h for deleted messages (message:deleted).
func (s *Socket) OnMessageDelete(h func(MessageDeletedEvent)) (off func()) {
	return s.h.messageDelete.add(h)
}

// OnTypingStart registers h for typing:started. The service sends typing
// events to everyone in the room except the typist.
func (s *Socket) OnTypingStart(h func(TypingEvent)) (off func()) { return s.h.typingStart.add(h) }

// OnTypingStop registers h for typing:stopped.
func (s *Socket) OnTypingStop(h func(TypingEvent)) (off func()) { return s.h.typingStop.add(h) }

// OnPresence registers h for presence changes of other principals
// (presence:changed). The service sends them to every connected socket,
// and "offline" when a socket disconnects.
func (s *Socket) OnPresence(h func(PresenceEvent)) (off func()) { return s.h.presence.add(h) }

// OnParticipantOnline registers h for participant:online: a participant of
// a conversation connected, or announced itself with AnnouncePresence.
func (s *Socket) OnParticipantOnline(h func(ParticipantEvent)) (off func()) {
	return s.h.online.add(h)
}

// OnParticipantOffline registers h for participant:offline.
func (s *Socket) OnParticipantOffline(h func(ParticipantEvent)) (off func()) {
	return s.h.offline.add(h)
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
	return s.h.controlList(key, true).add(h)
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
	return s.h.connect.add(func(struct{}) { h() })
}

// OnDisconnect registers h, called with the reason (one of the Reason
// constants) each time the socket leaves StateConnected, and when it stops
// trying to reconnect (ReasonConnectRefused, ReasonReconnectFailed).
func (s *Socket) OnDisconnect(h func(reason string)) (off func()) { return s.h.disconnect.add(h) }

// OnReconnecting registers h, called before each reconnection attempt with
// its number, from 1.
func (s *Socket) OnReconnecting(h func(attempt int)) (off func()) {
	return s.h.reconnecting.add(h)
}

// OnReconnect registers h, called when the socket is connected again after
// a lost connection (after OnConnect).
func (s *Socket) OnReconnect(h func()) (off func()) {
	if h == nil {
		return func() {}
	}
	return s.h.reconnect.add(func(struct{}) { h() })
}

// OnError registers h for errors that belong to no call: refused
// credentials at a reconnection (*ConnectError), an exhausted reconnection
// budget (ErrReconnectFailed), a failing token source, ErrSlowConsumer,
// malformed events from the server (ErrMalformed), panics in handlers,
// failed history backfills and rejoins. Without any OnError handler, they
// are logged. Errors of calls are returned by the calls (and passed to
// WithErrorHandler), not passed here.
func (s *Socket) OnError(h func(error)) (off func()) { return s.h.errs.add(h) }

// OnStateChange registers h for every change of the socket's State.
// OnConnect, OnDisconnect and OnReconnect are views of these changes.
func (s *Socket) OnStateChange(h func(StateChange)) (off func()) { return s.h.state.add(h) }
