package messagingtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/symbia-labs/messaging-go/internal/socketio"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

func TestSocketAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.srv.AddAPIKey("key-1", messagingtest.Principal{ID: bob})
	refused := func(auth any, hdr http.Header) {
		t.Helper()
		_, err := e.tryDial(auth, func(o *socketio.ClientOptions) { o.Header = hdr })
		var ce *socketio.ConnectError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, "Authentication required", ce.Message)
		assert.Nil(t, ce.Data)
	}
	refused(nil, nil)
	refused(map[string]string{"token": "nobody"}, nil)
	refused(map[string]string{"apiKey": "nokey"}, nil)
	refused(map[string]any{"token": 5}, nil)
	refused(nil, http.Header{"Cookie": {"other=alice"}})

	accepted := func(auth any, hdr http.Header) {
		t.Helper()
		_, err := e.tryDial(auth, func(o *socketio.ClientOptions) { o.Header = hdr })
		require.NoError(t, err)
	}
	accepted(map[string]string{"token": "alice"}, nil)
	accepted(map[string]string{"apiKey": "key-1"}, nil)
	accepted(map[string]string{"token": "stale", "apiKey": "key-1"}, nil)
	accepted(nil, http.Header{"Authorization": {"Bearer alice"}})
	accepted(nil, http.Header{"X-Api-Key": {"key-1"}})
	accepted(nil, http.Header{"Cookie": {"token=alice"}})
	accepted(nil, http.Header{"Cookie": {"a=b; symbia_session=alice"}})
	assert.Equal(t, 7, e.srv.Stats().LiveConnections)
}

func TestSocketAutoJoinAndParticipantOnlineOffline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c1 := e.group("alice", bob, agent)
	c2 := e.group("alice", agent)
	other := e.group("carol")
	a := e.dialAs("alice")
	b := e.dialAs("bob")
	c := e.dialAs("carol")

	// Bob's connection told the room of c1 (alice), not bob himself.
	assert.JSONEq(t, `{"conversationId":"`+c1+`","userId":"`+bob+`","userType":"user"}`, a.take("participant:online"))
	ag := e.dialAs("agent")
	on := []string{a.take("participant:online"), a.take("participant:online")}
	assert.ElementsMatch(t, []string{
		`{"conversationId":"` + c1 + `","userId":"` + agent + `","userType":"agent","agentId":"agent:helper"}`,
		`{"conversationId":"` + c2 + `","userId":"` + agent + `","userType":"agent","agentId":"agent:helper"}`,
	}, on)
	assert.Equal(t, `{"conversationId":"`+c1+`","userId":"`+agent+`","userType":"agent","agentId":"agent:helper"}`, b.take("participant:online"))
	ag.sync()
	b.sync()
	c.sync()
	ag.none("participant:online")
	c.none("participant:online")

	// Rooms: each socket is in the rooms of all its conversations.
	e.send("alice", c2, "to c2")
	a.take("message:new")
	ag.take("message:new")
	b.sync()
	b.none("message:new")
	e.send("carol", other, "alone")
	c.take("message:new")

	// Disconnect: participant:offline to each room, presence offline to all.
	require.NoError(t, ag.c.Close())
	offline := []string{a.take("participant:offline"), a.take("participant:offline")}
	assert.ElementsMatch(t, []string{
		`{"conversationId":"` + c1 + `","userId":"` + agent + `","userType":"agent","agentId":"agent:helper"}`,
		`{"conversationId":"` + c2 + `","userId":"` + agent + `","userType":"agent","agentId":"agent:helper"}`,
	}, offline)
	assert.Equal(t, `{"userId":"`+agent+`","userType":"agent","agentId":"agent:helper","status":"offline"}`, a.take("presence:changed"))
	assert.Equal(t, `{"userId":"`+agent+`","userType":"agent","agentId":"agent:helper","status":"offline"}`, c.take("presence:changed"), "presence goes to every socket, not only the rooms")
	b.take("participant:offline")
}

func TestSocketJoinAndLeave(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice")
	b := e.dialAs("bob")
	assert.JSONEq(t, `{"success":false,"error":"Not a participant"}`, b.ack("join:conversation", conv))
	assert.JSONEq(t, `{"success":false,"error":"Not a participant"}`, b.ack("join:conversation", unknown))
	assert.JSONEq(t, `{"success":false,"error":"Failed to join"}`, b.ack("join:conversation", "not-a-uuid"))
	assert.JSONEq(t, `{"success":false,"error":"Not a participant"}`, b.ack("join:conversation"))

	// Added over REST after connecting: nothing arrives until join.
	e.do("POST", "/api/conversations/"+conv+"/participants", "alice", `{"userId":"`+bob+`"}`)
	e.send("alice", conv, "before join")
	b.sync()
	b.none("message:new")
	assert.JSONEq(t, `{"success":true}`, b.ack("join:conversation", conv))
	e.send("alice", conv, "after join")
	assert.Contains(t, b.take("message:new"), "after join")

	// leave: no ack, leaves the room only.
	b.emit("leave:conversation", conv)
	b.sync()
	e.send("alice", conv, "after leave")
	b.sync()
	b.none("message:new")
	assert.Equal(t, 200, e.do("GET", "/api/conversations/"+conv, "bob", "").status, "still a participant")
}

func TestSocketSendMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob)
	a := e.dialAs("alice")
	b := e.dialAs("bob")
	c := e.dialAs("carol")

	ack := a.ack("message:send", map[string]any{"conversationId": conv, "content": "hello via socket"})
	// message:new reached the sender before the ack (it is emitted first).
	require.Equal(t, 1, a.count("message:new"))
	var res struct {
		Success bool            `json:"success"`
		Message json.RawMessage `json:"message"`
	}
	require.NoError(t, json.Unmarshal([]byte(ack), &res))
	assert.True(t, res.Success)
	assert.Equal(t, `{"success":true,"message":{"id":"UUID","conversation_id":"C","sender_id":"ALICE","sender_type":"user","content":"hello via socket","content_type":"text","reply_to":null,"org_id":null,"run_id":null,"trace_id":null,"sequence":1,"priority":"normal","interruptible":true,"preempted_by":null,"metadata":{},"created_at":"TS","updated_at":null,"deleted_at":null}}`,
		shape(ack, names(conv, "C")))
	assert.Equal(t, string(res.Message), a.take("message:new"))
	assert.Equal(t, string(res.Message), b.take("message:new"))
	c.sync()
	c.none("message:new")

	// REST sends are broadcast too, sender's sockets included.
	e.send("alice", conv, "via rest")
	assert.Contains(t, a.take("message:new"), "via rest")
	assert.Contains(t, b.take("message:new"), "via rest")

	// The socket validates less than REST.
	ack = a.ack("message:send", map[string]any{"conversationId": conv, "content": ""})
	assert.Contains(t, ack, `"success":true`)
	assert.Contains(t, ack, `"content":""`)
	ack = a.ack("message:send", map[string]any{"conversationId": conv, "content": "e", "contentType": "event", "priority": "urgent"})
	assert.Contains(t, ack, `"content_type":"event"`)
	assert.Contains(t, ack, `"priority":"normal"`)

	const failed = `{"success":false,"error":"Failed to send message"}`
	for _, d := range []map[string]any{
		{"conversationId": conv},
		{"conversationId": conv, "content": "x", "runId": "run-123"},
		{"conversationId": conv, "content": "x", "id": "my-id"},
		{"conversationId": "not-a-uuid", "content": "x"},
	} {
		assert.JSONEq(t, failed, a.ack("message:send", d), "%v", d)
	}
	assert.JSONEq(t, failed, a.ack("message:send", nil))
	assert.JSONEq(t, `{"success":false,"error":"Not a participant"}`, c.ack("message:send", map[string]any{"conversationId": conv, "content": "x"}))
	assert.JSONEq(t, `{"success":false,"error":"Not a participant"}`, a.ack("message:send", map[string]any{"conversationId": unknown, "content": "x"}))
	assert.JSONEq(t, `{"success":false,"error":"Not a participant"}`, a.ack("message:send", map[string]any{"content": "x"}))
	assert.Len(t, e.srv.Messages(conv), 4)
}

func TestSocketIdempotentSend(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob)
	other := e.group("alice", carol)
	a := e.dialAs("alice")
	b := e.dialAs("bob")
	c := e.dialAs("carol")
	const id = "dddddddd-dddd-4ddd-8ddd-dddddddddddd"
	first := a.ack("message:send", map[string]any{"conversationId": conv, "id": id, "content": "first"})
	second := a.ack("message:send", map[string]any{"conversationId": conv, "id": id, "content": "second"})
	assert.Contains(t, second, `"content":"first"`)
	assert.Contains(t, second, `"sequence":1`)
	assert.Contains(t, first, `"updated_at":null`)
	assert.NotContains(t, second, `"updated_at":null`)
	b.take("message:new")
	assert.Contains(t, b.take("message:new"), `"id":"`+id+`"`, "the repeat is broadcast again")
	assert.Len(t, e.srv.Messages(conv), 1)

	// The same id in another conversation: the first conversation's message,
	// broadcast into the other room.
	third := a.ack("message:send", map[string]any{"conversationId": other, "id": id, "content": "elsewhere"})
	assert.Contains(t, third, `"conversation_id":"`+conv+`"`)
	assert.Contains(t, c.take("message:new"), `"content":"first"`)
}

func TestSocketEditAndDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob)
	a := e.dialAs("alice")
	b := e.dialAs("bob")
	id := e.send("alice", conv, "original")

	ack := a.ack("message:edit", map[string]any{"messageId": id, "content": "edited"})
	assert.Contains(t, ack, `"success":true`)
	assert.Contains(t, ack, `"content":"edited"`)
	assert.NotContains(t, ack, `"updated_at":null`)
	upd := b.take("message:updated")
	assert.Contains(t, upd, `"content":"edited"`)
	assert.Contains(t, a.take("message:updated"), `"content":"edited"`, "the sender is in the room")

	assert.JSONEq(t, `{"success":false,"error":"Not authorized to edit this message"}`, b.ack("message:edit", map[string]any{"messageId": id, "content": "x"}))
	assert.JSONEq(t, `{"success":false,"error":"Message not found"}`, a.ack("message:edit", map[string]any{"messageId": unknown, "content": "x"}))
	assert.JSONEq(t, `{"success":false,"error":"Message not found"}`, a.ack("message:edit", map[string]any{"content": "x"}))
	assert.JSONEq(t, `{"success":false,"error":"Failed to edit message"}`, a.ack("message:edit", map[string]any{"messageId": "x", "content": "x"}))
	assert.JSONEq(t, `{"success":false,"error":"Failed to edit message"}`, a.ack("message:edit", map[string]any{"messageId": id}))

	assert.JSONEq(t, `{"success":false,"error":"Not authorized to delete this message"}`, b.ack("message:delete", id))
	assert.JSONEq(t, `{"success":false,"error":"Failed to delete message"}`, a.ack("message:delete", "x"))
	assert.JSONEq(t, `{"success":true}`, a.ack("message:delete", id))
	assert.JSONEq(t, `{"id":"`+id+`","conversationId":"`+conv+`"}`, b.take("message:deleted"))
	a.take("message:deleted")
	assert.JSONEq(t, `{"success":false,"error":"Message not found"}`, a.ack("message:delete", id), "already deleted")
	assert.JSONEq(t, `{"success":false,"error":"Message not found"}`, a.ack("message:edit", map[string]any{"messageId": id, "content": "x"}))
	ms := e.srv.Messages(conv)
	require.Len(t, ms, 1)
	assert.NotNil(t, ms[0].DeletedAt)
}

func TestSocketControl(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob, agent, intr)
	ag := e.dialAs("agent")
	b := e.dialAs("bob")
	i := e.dialAs("intr")
	c := e.dialAs("carol")

	ack := ag.ack("control:send", map[string]any{"conversationId": conv, "event": "stream.pause", "reason": "test",
		"target": map[string]string{"principalId": bob, "principalType": "user"}})
	assert.Equal(t, `{"success":true,"control":{"id":"UUID","conversation_id":"C","sender_id":"AGENT","sender_type":"agent","content":"stream.pause","content_type":"event","reply_to":null,"org_id":null,"run_id":null,"trace_id":null,"sequence":1,"priority":"high","interruptible":false,"preempted_by":null,"metadata":{"control":{"conversationId":"C","effectiveAt":"TS","event":"stream.pause","reason":"test","target":{"principalId":"BOB","principalType":"user"}}},"created_at":"TS","updated_at":null,"deleted_at":null}}`,
		shape(ack, names(conv, "C")))
	// Broadcast under its own name, in the payload's own key order, sender included.
	want := `{"event":"stream.pause","conversationId":"C","target":{"principalId":"BOB","principalType":"user"},"reason":"test","effectiveAt":"TS"}`
	assert.Equal(t, want, shape(b.take("stream.pause"), names(conv, "C")))
	assert.Equal(t, want, shape(ag.take("stream.pause"), names(conv, "C")))
	b.none("message:new")

	// Optional fields in the payload, in order.
	const run = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
	ag.ack("control:send", map[string]any{"conversationId": conv, "event": "stream.preempt", "preemptedBy": run, "runId": run, "traceId": "tr"})
	assert.Equal(t, `{"event":"stream.preempt","conversationId":"C","preemptedBy":"RUN","runId":"RUN","traceId":"tr","effectiveAt":"TS"}`,
		shape(b.take("stream.preempt"), names(conv, "C", run, "RUN")))
	// Names are not validated: "pause" is broadcast as "pause".
	ag.ack("control:send", map[string]any{"conversationId": conv, "event": "pause"})
	b.take("pause")

	const noCap = `{"success":false,"error":"Not authorized to send control events"}`
	assert.JSONEq(t, noCap, b.ack("control:send", map[string]any{"conversationId": conv, "event": "stream.pause"}))
	assert.JSONEq(t, noCap, i.ack("control:send", map[string]any{"conversationId": conv, "event": "stream.handoff"}))
	assert.Contains(t, i.ack("control:send", map[string]any{"conversationId": conv, "event": "handoff"}), `"success":true`)
	assert.JSONEq(t, `{"success":false,"error":"Not a participant"}`, c.ack("control:send", map[string]any{"conversationId": conv, "event": "stream.pause"}))
	assert.JSONEq(t, `{"success":false,"error":"Failed to send control event"}`, ag.ack("control:send", map[string]any{"conversationId": conv}))
	assert.JSONEq(t, `{"success":false,"error":"Failed to send control event"}`, ag.ack("control:send", map[string]any{"conversationId": conv, "event": "stream.pause", "runId": "r"}))
	n := len(e.srv.Messages(conv))
	assert.JSONEq(t, `{"success":false,"error":"Failed to send control event"}`, ag.ack("control:send", map[string]any{"conversationId": conv, "event": "disconnect"}))
	assert.Len(t, e.srv.Messages(conv), n+1, "stored before the emit failed")

	// REST control is broadcast the same way.
	e.do("POST", "/api/conversations/"+conv+"/control", "agent", `{"event":"stream.resume"}`)
	assert.Contains(t, b.take("stream.resume"), `"event":"stream.resume"`)
}

func TestSocketTyping(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob)
	a := e.dialAs("alice")
	a2 := e.dialAs("alice") // another tab of alice's
	b := e.dialAs("bob")
	c := e.dialAs("carol")
	a.emit("typing:start", conv)
	assert.JSONEq(t, `{"conversationId":"`+conv+`","userId":"`+alice+`","userType":"user"}`, b.take("typing:started"))
	assert.JSONEq(t, `{"conversationId":"`+conv+`","userId":"`+alice+`","userType":"user"}`, a2.take("typing:started"))
	a.emit("typing:stop", conv)
	assert.JSONEq(t, `{"conversationId":"`+conv+`","userId":"`+alice+`","userType":"user"}`, b.take("typing:stopped"))
	a.sync()
	a.none("typing:started")
	a.none("typing:stopped")

	// Non-participants are dropped silently; so are bad ids.
	c.emit("typing:start", conv)
	c.emit("typing:start", "x")
	c.sync()
	b.sync()
	b.none("typing:started")
}

func TestSocketPresence(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.dialAs("alice")
	b := e.dialAs("bob") // shares no conversation with alice
	ag := e.dialAs("agent")
	a.emit("presence:update", "away")
	assert.Equal(t, `{"userId":"`+alice+`","userType":"user","status":"away"}`, b.take("presence:changed"))
	assert.Equal(t, `{"userId":"`+alice+`","userType":"user","status":"away"}`, ag.take("presence:changed"))
	a.sync()
	a.none("presence:changed")
	// Not validated.
	ag.emit("presence:update", "dancing")
	assert.Equal(t, `{"userId":"`+agent+`","userType":"agent","agentId":"agent:helper","status":"dancing"}`, a.take("presence:changed"))
	ag.emit("presence:update")
	assert.Equal(t, `{"userId":"`+agent+`","userType":"agent","agentId":"agent:helper"}`, a.take("presence:changed"))
}

func TestSocketWatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob)
	ag := e.dialAs("agent")
	b := e.dialAs("intr")
	assert.JSONEq(t, `{"success":true}`, ag.ack("watch:conversation", conv))
	assert.JSONEq(t, `{"success":false,"error":"Observe capability required"}`, b.ack("watch:conversation", conv))
	u := e.dialAs("alice")
	assert.JSONEq(t, `{"success":false,"error":"Observe capability required"}`, u.ack("watch:conversation", conv))
	e.send("alice", conv, "watched")
	assert.Contains(t, ag.take("message:new"), "watched")
	// A watcher cannot send.
	assert.JSONEq(t, `{"success":false,"error":"Not a participant"}`, ag.ack("message:send", map[string]any{"conversationId": conv, "content": "x"}))
	ag.emit("unwatch:conversation", conv)
	ag.sync()
	e.send("alice", conv, "unwatched")
	ag.sync()
	ag.none("message:new")
}

func TestSocketAnnouncePresence(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob)
	a := e.dialAs("alice")
	b := e.dialAs("bob")
	a.take("participant:online") // bob's connect
	b.emit("announce:presence", conv)
	want := `{"conversationId":"` + conv + `","userId":"` + bob + `","userType":"user"}`
	assert.Equal(t, want, a.take("participant:online"))
	assert.Equal(t, want, b.take("participant:online"), "the sender included")
	c := e.dialAs("carol")
	c.emit("announce:presence", conv)
	c.sync()
	a.sync()
	a.none("participant:online")
}

func TestSocketParticipantCache(t *testing.T) {
	t.Parallel()
	clock := newClock()
	e := newEnv(t, messagingtest.WithClock(clock.now))
	conv := e.group("alice", bob)
	b := e.dialAs("bob")
	// Removed over REST: REST refuses at once, the socket keeps the room
	// and can still send while the cache trusts it.
	require.Equal(t, 204, e.do("DELETE", "/api/conversations/"+conv+"/participants/"+bob, "alice", "").status)
	e.expect(e.do("POST", "/api/conversations/"+conv+"/messages", "bob", `{"content":"x"}`), 403, `{"error":"Not a participant in this conversation"}`)
	e.send("alice", conv, "still delivered")
	assert.Contains(t, b.take("message:new"), "still delivered")
	assert.Contains(t, b.ack("message:send", map[string]any{"conversationId": conv, "content": "ghost"}), `"success":true`)
	// After the TTL the cache entry is stale.
	for i := 0; i < 61; i++ {
		clock.tick()
	}
	assert.JSONEq(t, `{"success":false,"error":"Not a participant"}`, b.ack("message:send", map[string]any{"conversationId": conv, "content": "x"}))

	// Without the cache the socket checks the store every time.
	e2 := newEnv(t, messagingtest.WithParticipantCacheTTL(0))
	conv2 := e2.group("alice", bob)
	b2 := e2.dialAs("bob")
	e2.do("DELETE", "/api/conversations/"+conv2+"/participants/"+bob, "alice", "")
	assert.JSONEq(t, `{"success":false,"error":"Not a participant"}`, b2.ack("message:send", map[string]any{"conversationId": conv2, "content": "x"}))
}

func TestSocketUnknownEventGetsNoAck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.dialAs("alice")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := a.c.EmitWithAck(ctx, "no:such:event", "x")
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
}
