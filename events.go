package messaging

import (
	"strings"
	"time"
)

// Events a client emits to the service.
const (
	EventJoinConversation    = "join:conversation"
	EventLeaveConversation   = "leave:conversation"
	EventMessageSend         = "message:send"
	EventMessageEdit         = "message:edit"
	EventMessageDelete       = "message:delete"
	EventControlSend         = "control:send"
	EventTypingStart         = "typing:start"
	EventTypingStop          = "typing:stop"
	EventPresenceUpdate      = "presence:update"
	EventWatchConversation   = "watch:conversation"
	EventUnwatchConversation = "unwatch:conversation"
	EventAnnouncePresence    = "announce:presence"
)

// Events the service emits to clients. Control events are emitted under
// their own names (see [ControlEventName]).
const (
	EventMessageNew         = "message:new"
	EventMessageUpdated     = "message:updated"
	EventMessageDeleted     = "message:deleted"
	EventTypingStarted      = "typing:started"
	EventTypingStopped      = "typing:stopped"
	EventPresenceChanged    = "presence:changed"
	EventParticipantOnline  = "participant:online"
	EventParticipantOffline = "participant:offline"
)

// ControlEventName is the name of a stream control event, as broadcast.
type ControlEventName string

// The control events everyone listens for.
const (
	StreamPause    ControlEventName = "stream.pause"
	StreamResume   ControlEventName = "stream.resume"
	StreamPreempt  ControlEventName = "stream.preempt"
	StreamRoute    ControlEventName = "stream.route"
	StreamHandoff  ControlEventName = "stream.handoff"
	StreamCancel   ControlEventName = "stream.cancel"
	StreamPriority ControlEventName = "stream.priority"
)

// ControlEvents lists the seven stream control events.
var controlEvents = [...]ControlEventName{StreamPause, StreamResume, StreamPreempt, StreamRoute, StreamHandoff, StreamCancel, StreamPriority}

// Valid reports whether n is one of the seven stream control events.
func (n ControlEventName) Valid() bool {
	for _, e := range controlEvents {
		if n == e {
			return true
		}
	}
	return false
}

// Short returns the name without its "stream." prefix, e.g. "pause".
func (n ControlEventName) Short() string { return strings.TrimPrefix(string(n), "stream.") }

// ParseControlEvent turns a short ("pause") or full ("stream.pause") name
// into the full name the service broadcasts. It reports false for anything
// that is not one of the seven stream control events.
func ParseControlEvent(name string) (ControlEventName, bool) {
	n := ControlEventName(name)
	if !strings.HasPrefix(name, "stream.") {
		n = ControlEventName("stream." + name)
	}
	return n, n.Valid()
}

// ControlEvent is a control event as broadcast to a conversation's room.
type ControlEvent struct {
	Event          ControlEventName `json:"event"`
	ConversationID string           `json:"conversationId"`
	Target         *ControlTarget   `json:"target,omitempty"`
	Reason         string           `json:"reason,omitempty"`
	PreemptedBy    string           `json:"preemptedBy,omitempty"`
	RunID          string           `json:"runId,omitempty"`
	TraceID        string           `json:"traceId,omitempty"`
	Metadata       map[string]any   `json:"metadata,omitempty"`
	EffectiveAt    time.Time        `json:"effectiveAt"`
}

// TypingEvent says someone started or stopped typing. The service sends it
// to everyone in the room except the typist.
type TypingEvent struct {
	ConversationID string   `json:"conversationId"`
	UserID         string   `json:"userId"`
	UserType       UserType `json:"userType,omitempty"`
}

// PresenceEvent is a change of someone's presence status. The service sends
// it to every other connected socket; "offline" also on disconnect.
type PresenceEvent struct {
	UserID   string         `json:"userId"`
	UserType UserType       `json:"userType,omitempty"`
	AgentID  string         `json:"agentId,omitempty"`
	Status   PresenceStatus `json:"status"`
}

// ParticipantEvent says a participant of a conversation came online or went
// offline.
type ParticipantEvent struct {
	ConversationID string   `json:"conversationId"`
	UserID         string   `json:"userId"`
	UserType       UserType `json:"userType,omitempty"`
	AgentID        string   `json:"agentId,omitempty"`
}

// MessageDeletedEvent says a message was deleted.
type MessageDeletedEvent struct {
	ID             string `json:"id"`
	ConversationID string `json:"conversationId"`
}
