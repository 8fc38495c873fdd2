package messagingtest

// REST routes for a conversation's messages (history and posting) and
// control events.

import (
	"encoding/json"
	"net/http"

	messaging "github.com/symbia-labs/messaging-go"
)

func (q *request) getMessages() {
	const failed = "Failed to get messages"
	id := q.params["id"]
	ok, _ := q.s.store.isParticipant(id, q.user.ID)
	if !ok {
		q.fail(http.StatusForbidden, "Not a participant in this conversation")
		return
	}
	hq := historyQuery{limit: 50}
	if l := q.query("limit"); l != "" {
		if n, ok := jsParseInt(l); ok && n != 0 {
			hq.limit = n
		}
	}
	// before wins over after; an unparsable date fails the query.
	bound := &hq.before
	v := q.query("before")
	if v == "" {
		bound, v = &hq.after, q.query("after")
	}
	if v != "" {
		t, ok := jsDate(v)
		if !ok {
			q.fail(http.StatusInternalServerError, failed)
			return
		}
		*bound = &t
	}
	rows, err := q.s.store.history(id, hq)
	if err != nil {
		q.fail(http.StatusInternalServerError, failed)
		return
	}
	q.s.store.updateLastRead(id, q.user.ID)
	q.json(http.StatusOK, rows)
}

// normalizePriority keeps the four known priorities; anything else is
// dropped (stored as normal).
func normalizePriority(v json.RawMessage) string {
	s, _ := asString(v)
	switch s {
	case "low", "normal", "high", "critical":
		return s
	}
	return ""
}

// newMessageInput is what both the REST route and the socket event hand to
// MessageModel.create: the request's fields, as sent by user to convID.
func newMessageInput(convID string, user Principal, d fields) messageInput {
	return messageInput{
		conversationID: convID, senderID: user.ID, senderType: string(user.Type),
		id: d.get("id"), content: d.get("content"), contentType: d.get("contentType"),
		replyTo: d.get("replyTo"), runID: d.get("runId"), traceID: d.get("traceId"),
		preemptedBy: d.get("preemptedBy"), priority: normalizePriority(d.get("priority")),
		interruptible: d.get("interruptible"), metadata: d.get("metadata"),
	}
}

func (q *request) postMessage() {
	const failed = "Failed to create message"
	id := q.params["id"]
	if !q.needBody(failed) {
		return
	}
	b := q.body
	if !truthy(b.get("content")) {
		q.fail(http.StatusBadRequest, "Message content is required")
		return
	}
	if ct, _ := asString(b.get("contentType")); ct == "event" {
		q.fail(http.StatusBadRequest, "Use /control for stream events")
		return
	}
	st := q.s.store
	ok, _ := st.isParticipant(id, q.user.ID)
	if !ok && q.user.isAgent() {
		_, err := st.addParticipant(id, q.user.ID, "agent", "member")
		ok = err == nil
	}
	if !ok {
		q.fail(http.StatusForbidden, "Not a participant in this conversation")
		return
	}
	msg, _, err := st.createMessage(newMessageInput(id, q.user, b))
	if err != nil {
		q.fail(http.StatusInternalServerError, failed)
		return
	}
	q.s.hub.toRoom(roomOf(id), nil, messaging.EventMessageNew, marshal(msg))
	q.json(http.StatusCreated, msg)
}

func (q *request) postControl() {
	const failed = "Failed to send control event"
	id := q.params["id"]
	if !q.needBody(failed) {
		return
	}
	event, ok := asString(q.body.get("event"))
	if !ok || event == "" {
		q.fail(http.StatusBadRequest, "Control event is required")
		return
	}
	if ok, _ := q.s.store.isParticipant(id, q.user.ID); !ok {
		q.fail(http.StatusForbidden, "Not a participant in this conversation")
		return
	}
	if !q.user.hasEntitlement(controlEntitlement(event)) {
		q.fail(http.StatusForbidden, "Not authorized to send control events")
		return
	}
	row, err := q.s.sendControl(q.user, id, json.RawMessage(marshal(event)), q.body)
	if err != nil {
		q.fail(http.StatusInternalServerError, failed)
		return
	}
	q.json(http.StatusCreated, row)
}
