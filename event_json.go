package messaging

// Wire decoding of what the server sends on the socket: events (decodeEvent
// and its helpers) and the acknowledgements of calls (decodeAck). Message
// rows themselves are read by message_json.go and ack_json.go.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ---- events ----

// event is a decoded server event: its name and the one payload its name
// calls for, or the error that made a known event unreadable.
type event struct {
	name        string
	err         error                // ErrMalformed: the payload could not be read
	message     *Message             // message:new, message:updated
	deleted     *MessageDeletedEvent // message:deleted
	typing      *TypingEvent         // typing:started, typing:stopped
	presence    *PresenceEvent       // presence:changed
	participant *ParticipantEvent    // participant:online, participant:offline
	control     *ControlEvent        // any control event
}

// newMessage returns the message of a message:new event, or nil.
func (e *event) newMessage() *Message {
	if e.name == EventMessageNew {
		return e.message
	}
	return nil
}

// decodeEvent reads a server event. It reports false for an event the SDK
// does not know (ignored, for forward compatibility); a known event with a
// payload it cannot read is returned with an error matching ErrMalformed.
func decodeEvent(name string, args []json.RawMessage) (event, bool) {
	var raw json.RawMessage
	if len(args) > 0 {
		raw = bytes.TrimSpace(args[0])
	}
	ev := event{name: name}
	var err error
	switch name {
	case EventMessageNew, EventMessageUpdated:
		var m Message
		if err = decodeMessage(raw, &m); err == nil {
			if m.ID != "" && m.ConversationID != "" {
				ev.message = &m
				return ev, true
			}
			err = errors.New("message without id or conversation_id")
		}
	case EventMessageDeleted:
		var e MessageDeletedEvent
		if err = decodeObject(raw, &e); err == nil {
			if e.ID != "" {
				ev.deleted = &e
				return ev, true
			}
			err = errors.New("no id")
		}
	case EventTypingStarted, EventTypingStopped:
		var e TypingEvent
		if err = decodeObject(raw, &e); err == nil {
			if e.ConversationID != "" && e.UserID != "" {
				ev.typing = &e
				return ev, true
			}
			err = errors.New("no conversationId or userId")
		}
	case EventPresenceChanged:
		var e PresenceEvent
		if err = decodeObject(raw, &e); err == nil {
			if e.UserID != "" {
				ev.presence = &e
				return ev, true
			}
			err = errors.New("no userId")
		}
	case EventParticipantOnline, EventParticipantOffline:
		var e ParticipantEvent
		if err = decodeObject(raw, &e); err == nil {
			if e.ConversationID != "" && e.UserID != "" {
				ev.participant = &e
				return ev, true
			}
			err = errors.New("no conversationId or userId")
		}
	}
	// The service broadcasts control events under any name the sender
	// chose, even a name it uses itself: an object whose "event" field
	// repeats the event's name is one.
	if ce, isControl, cerr := decodeControl(name, raw); isControl {
		if cerr != nil {
			ev.err = malformed(name+" event", cerr)
			return ev, true
		}
		ev.control = &ce
		return ev, true
	}
	if err != nil {
		ev.err = malformed(name+" event", err)
		return ev, true
	}
	return event{}, false
}

func decodeControl(event string, raw json.RawMessage) (ControlEvent, bool, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return ControlEvent{}, false, nil
	}
	var probe struct {
		Event json.RawMessage `json:"event"`
	}
	var name string
	if json.Unmarshal(raw, &probe) != nil || json.Unmarshal(probe.Event, &name) != nil || name != event {
		return ControlEvent{}, false, nil
	}
	var ce ControlEvent
	if err := json.Unmarshal(raw, &ce); err != nil {
		return ce, true, err
	}
	if ce.ConversationID == "" {
		return ce, true, errors.New("no conversationId")
	}
	ce.Event = ControlEventName(controlKey(name))
	return ce, true, nil
}

func decodeObject(raw json.RawMessage, v any) error {
	if err := wantObject(raw); err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

// decodeMessage is decodeObject for a message row, calling Message's
// UnmarshalJSON directly: json.Unmarshal would validate the whole row
// first, and Message reads it strictly itself.
func decodeMessage(raw json.RawMessage, m *Message) error {
	if err := wantObject(raw); err != nil {
		return err
	}
	return m.UnmarshalJSON(raw)
}

func wantObject(raw json.RawMessage) error {
	if len(raw) == 0 || raw[0] != '{' {
		return errors.New("payload is " + orUndefined(raw) + ", want an object")
	}
	return nil
}

// ---- acknowledgements ----

// ackBody is the service's acknowledgement {success, error?, message?,
// control?}.
type ackBody struct {
	Message json.RawMessage
	Control json.RawMessage

	// msg and ctl are message and control as decoded by the typed pass of
	// decodeAck (Message and Control are then empty); raw is the ack, for
	// the generic path when a row is unusable (to report it exactly).
	msg, ctl *Message
	raw      json.RawMessage
}

// decodeAck reads an acknowledgement strictly: a refusal is an *AckError
// with the server's text; anything malformed is an error matching
// ErrMalformed.
//
// A successful ack is decoded in one typed pass (readSuccessAck: the
// envelope read by hand, the rows straight into Messages by Message's fast
// path, without encoding/json's validation pass and reflection); anything
// else (a refusal, a row the fast path declines, a key encoding/json could
// read differently, invalid JSON) goes through decodeAckGeneric, which
// defines every error. The typed pass succeeds only on a JSON object with
// success true, where the generic path succeeds too, with the same rows
// (FuzzDecodeAck).
func decodeAck(event string, args []json.RawMessage) (ackBody, error) {
	if len(args) > 0 {
		if body, ok := readSuccessAck(args[0]); ok {
			return body, nil
		}
	}
	return decodeAckGeneric(event, args)
}

// decodeAckGeneric is decodeAck without the typed pass.
func decodeAckGeneric(event string, args []json.RawMessage) (ackBody, error) {
	if len(args) == 0 {
		return ackBody{}, malformed(event+" ack", errors.New("no arguments"))
	}
	raw := bytes.TrimSpace(args[0])
	if len(raw) == 0 || raw[0] != '{' {
		return ackBody{}, malformed(event+" ack", errors.New("not a JSON object"))
	}
	var w struct {
		Success json.RawMessage `json:"success"`
		Error   json.RawMessage `json:"error"`
		Message json.RawMessage `json:"message"`
		Control json.RawMessage `json:"control"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return ackBody{}, malformed(event+" ack", err)
	}
	var ok bool
	if err := json.Unmarshal(w.Success, &ok); err != nil || len(w.Success) == 0 {
		return ackBody{}, malformed(event+" ack", fmt.Errorf("success is %s, want a boolean", orUndefined(w.Success)))
	}
	if !ok {
		var text string
		if json.Unmarshal(w.Error, &text) != nil || text == "" {
			_ = json.Unmarshal(w.Message, &text)
		}
		if text == "" {
			text = "unknown error"
		}
		return ackBody{}, &AckError{Event: event, Message: text}
	}
	return ackBody{Message: w.Message, Control: w.Control}, nil
}

// message returns the message row of a successful acknowledgement.
func (b ackBody) message(event string) (*Message, error) {
	return b.row(event, false)
}

// control returns the control row of a successful acknowledgement.
func (b ackBody) control(event string) (*Message, error) {
	return b.row(event, true)
}

func (b ackBody) row(event string, control bool) (*Message, error) {
	m, raw := b.msg, b.Message
	if control {
		m, raw = b.ctl, b.Control
	}
	if m != nil && m.ID != "" {
		return m, nil
	}
	if b.raw != nil {
		// Decoded by the typed pass, but not usable as is: decode it the
		// generic way, which says exactly what is wrong with it.
		g, err := decodeAckGeneric(event, []json.RawMessage{b.raw})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrDeliveryUnknown, err)
		}
		return g.row(event, control)
	}
	return decodeRow(event, raw)
}

// decodeRow decodes the message row of a successful acknowledgement.
func decodeRow(event string, raw json.RawMessage) (*Message, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		err := malformed(event+" ack", fmt.Errorf("message is %s, want an object", orUndefined(raw)))
		return nil, fmt.Errorf("%w: %w", ErrDeliveryUnknown, err)
	}
	var m Message
	if err := m.UnmarshalJSON(raw); err != nil { // what json.Unmarshal calls, less its validation pass
		return nil, fmt.Errorf("%w: %w", ErrDeliveryUnknown, malformed(event+" ack", err))
	}
	if m.ID == "" {
		return nil, fmt.Errorf("%w: %w", ErrDeliveryUnknown, malformed(event+" ack", errors.New("message without id")))
	}
	return &m, nil
}

func orUndefined(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "undefined"
	}
	if len(raw) > 40 {
		return string(raw[:40]) + "…"
	}
	return string(raw)
}

func malformed(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
}
