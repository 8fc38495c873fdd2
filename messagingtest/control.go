package messagingtest

import (
	"bytes"
	"encoding/json"
	"errors"
)

// errReserved: the control record is stored, but Socket.IO refuses to emit
// an event under a reserved name, and the route answers 500.
var errReserved = errors.New("messagingtest: reserved event name")

// reservedEvents are the names Socket.IO refuses to emit.
var reservedEvents = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true,
}

// controlEntitlement is the capability a control event needs:
// cap:messaging.route for stream.route and stream.handoff (exactly those
// names), cap:messaging.interrupt for every other.
func controlEntitlement(event string) string {
	if event == "stream.handoff" || event == "stream.route" {
		return "cap:messaging.route"
	}
	return "cap:messaging.interrupt"
}

// ordered is a JSON object that keeps its keys in insertion order, as a
// JavaScript object literal does; undefined (nil) values are left out.
type ordered []kv

type kv struct {
	k string
	v json.RawMessage
}

func (o *ordered) set(k string, v json.RawMessage) {
	if v != nil {
		*o = append(*o, kv{k, v})
	}
}

// MarshalJSON implements json.Marshaler.
func (o ordered) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(marshal(e.k))
		b.WriteByte(':')
		b.Write(e.v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// sendControl stores a control event as a message and broadcasts it to the
// conversation's room under its own name, as both the REST route and the
// socket event do. data holds the request's other fields. The payload's
// conversationId is convID as the caller gave it.
func (s *Server) sendControl(user Principal, convID string, event json.RawMessage, data fields) (messageRow, error) {
	var payload ordered
	payload.set("event", event)
	payload.set("conversationId", marshal(convID))
	for _, k := range []string{"target", "reason", "preemptedBy", "runId", "traceId"} {
		payload.set(k, data.get(k))
	}
	payload.set("effectiveAt", marshal(jsTime(s.cfg.now())))
	pj := marshal(payload)

	// metadata: {...data.metadata, control: payload}
	meta := map[string]json.RawMessage{}
	if m := data.get("metadata"); len(m) > 0 && m[0] == '{' {
		_ = json.Unmarshal(m, &meta)
	}
	meta["control"] = pj

	row, _, err := s.store.createMessage(messageInput{
		conversationID: convID, senderID: user.ID, senderType: string(user.Type),
		content: event, contentType: json.RawMessage(`"event"`),
		runID: data.get("runId"), traceID: data.get("traceId"), preemptedBy: data.get("preemptedBy"),
		priority: "high", interruptible: json.RawMessage(`false`), metadata: marshal(meta),
	})
	if err != nil {
		return messageRow{}, err
	}
	name, _, _ := textParam(event)
	if reservedEvents[name] {
		return row, errReserved
	}
	s.hub.toRoom(roomOf(convID), nil, name, pj)
	return row, nil
}
