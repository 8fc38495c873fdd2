package messagingtest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// ---- authentication ----

func TestAuthRefusesUnknownCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const unauth = `{"error":"Authentication required"}`
	e.expect(e.do("GET", "/api/conversations", "", ""), 401, unauth)
	e.expect(e.do("GET", "/api/conversations", "nobody", ""), 401, unauth)
	e.expect(e.do("GET", "/api/conversations", "", "", "X-API-Key", "nokey"), 401, unauth)
	e.expect(e.do("GET", "/api/conversations", "", "", "Authorization", "bearer alice"), 401, unauth)
	e.expect(e.do("POST", "/api/conversations/"+unknown+"/messages", "", `{"content":"x"}`), 401, unauth)
	e.expect(e.do("GET", "/api/auth/me", "", ""), 401, unauth)
}

func TestAuthCredentialForms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.srv.AddAPIKey("key-1", messagingtest.Principal{ID: carol, Orgs: []string{orgB}, SuperAdmin: true})

	me := func(hdr ...string) string {
		r := e.do("GET", "/api/auth/me", "", "", hdr...)
		require.Equal(t, 200, r.status, r.body)
		return r.body
	}
	assert.Contains(t, me("Authorization", "Bearer bob"), `"id":"`+bob+`"`)
	assert.Contains(t, me("Cookie", "token=bob"), `"id":"`+bob+`"`)
	assert.Contains(t, me("Cookie", "symbia_session=bob"), `"id":"`+bob+`"`)
	// A Bearer token the service does not know falls through to the API key.
	key := me("Authorization", "Bearer stale", "X-API-Key", "key-1")
	// API key principals are agents, never super admins, in one org as its admin.
	assert.JSONEq(t, `{"user":{"id":"`+carol+`","type":"agent","orgId":"`+orgB+`","organizations":[{"id":"`+orgB+`","name":"API Key Org","slug":"`+orgB+`","role":"admin"}],"entitlements":[],"roles":[],"isSuperAdmin":false},"organizations":[{"id":"`+orgB+`","name":"API Key Org","slug":"`+orgB+`","role":"admin"}]}`, key)

	// /api/auth/me describes the principal as the identity service does.
	e.expect(e.do("GET", "/api/auth/me", "alice", ""), 200,
		`{"user":{"id":"`+alice+`","email":"alice@example.com","name":"Alice","type":"user","orgId":"`+orgA+`","organizations":[{"id":"`+orgA+`","name":"`+orgA+`","slug":"`+orgA+`","role":"member"}],"entitlements":[],"roles":[],"isSuperAdmin":false},"organizations":[{"id":"`+orgA+`","name":"`+orgA+`","slug":"`+orgA+`","role":"member"}]}`)
	r := e.do("GET", "/api/auth/me", "agent", "")
	assert.Contains(t, r.body, `"type":"agent","agentId":"agent:helper"`)

	e.srv.RemoveCredential("bob")
	e.expect(e.do("GET", "/api/auth/me", "bob", ""), 401, `{"error":"Authentication required"}`)
}

func TestImpersonation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob)
	// An agent acts as bob: the message is bob's.
	r := e.do("POST", "/api/conversations/"+conv+"/messages", "agent", `{"content":"as bob"}`, "X-As-User-Id", bob)
	require.Equal(t, 201, r.status, r.body)
	assert.Equal(t, bob, r.field(t, "sender_id"))
	assert.Equal(t, "user", r.field(t, "sender_type"))
	// A super admin too.
	r = e.do("GET", "/api/conversations/"+conv, "root", "", "X-As-User-Id", alice)
	require.Equal(t, 200, r.status, r.body)
	// A user's X-As-User-Id is silently ignored.
	e.expect(e.do("GET", "/api/conversations/"+conv, "carol", "", "X-As-User-Id", alice), 403, `{"error":"Not a participant in this conversation"}`)
	// "assistant:" and "agent:" ids make the effective principal an agent,
	// which is auto-added when it sends.
	r = e.do("POST", "/api/conversations/"+conv+"/messages", "root", `{"content":"hi"}`, "X-As-User-Id", "assistant:helper")
	require.Equal(t, 201, r.status, r.body)
	assert.Equal(t, "agent", r.field(t, "sender_type"))
	assert.Equal(t, "assistant:helper", r.field(t, "sender_id"))
	// /api/auth/me does not impersonate.
	assert.Contains(t, e.do("GET", "/api/auth/me", "agent", "", "X-As-User-Id", bob).body, `"id":"`+agent+`"`)
}

// ---- general answers ----

func TestNonUUIDPathIDsAre404BeforeAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob)
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/api/conversations/not-a-uuid", "Conversation not found"},
		{"PATCH", "/api/conversations/not-a-uuid", "Conversation not found"},
		{"DELETE", "/api/conversations/123", "Conversation not found"},
		{"POST", "/api/conversations/x/join", "Conversation not found"},
		{"POST", "/api/conversations/x/leave", "Conversation not found"},
		{"POST", "/api/conversations/x/participants", "Conversation not found"},
		{"DELETE", "/api/conversations/x/participants/" + bob, "Conversation not found"},
		{"DELETE", "/api/conversations/" + conv + "/participants/agent:test-bot", "Participant not found"},
		{"GET", "/api/conversations/x/messages", "Conversation not found"},
		{"POST", "/api/conversations/x/messages", "Conversation not found"},
		{"POST", "/api/conversations/x/control", "Conversation not found"},
		{"GET", "/api/admin/conversations/x", "Conversation not found"},
		{"GET", "/api/admin/users/x/conversations", "User not found"},
	} {
		for _, tok := range []string{"", "alice"} {
			e.expect(e.do(c.method, c.path, tok, ""), 404, `{"error":"`+c.want+`"}`)
		}
	}
}

func TestUnknownRouteIsExpressHTML404(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/nope"},
		{"PUT", "/api/conversations/" + unknown},
		{"GET", "/api/ws"},
		{"GET", "/api/conversations//messages"},
	} {
		r := e.do(c.method, c.path, "alice", "")
		require.Equal(t, 404, r.status)
		assert.Equal(t, "text/html; charset=utf-8", r.header.Get("Content-Type"))
		assert.Equal(t, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot "+c.method+" "+c.path+"</pre>\n</body>\n</html>\n", r.body)
	}
	// Express routes are case-insensitive and accept one trailing slash.
	assert.Equal(t, 200, e.do("GET", "/API/Conversations/", "alice", "").status)
}

func TestBodyParsing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.expect(e.do("POST", "/api/conversations", "alice", `{"type":`), 400, `{"message":"Unexpected end of JSON input"}`)
	r := e.do("POST", "/api/conversations", "alice", `{"type":x}`)
	require.Equal(t, 400, r.status)
	assert.JSONEq(t, `{"message":"Unexpected token 'x', \"{\"type\":x}\" is not valid JSON"}`, r.body)
	// Strict mode: only objects and arrays.
	e.expect(e.do("POST", "/api/conversations", "alice", `"hello"`), 400, `{"message":"Unexpected token '\"', \"\"hello\"\" is not valid JSON"}`)
	// An array body is a body without fields.
	e.expect(e.do("POST", "/api/conversations", "alice", `[]`), 400, `{"error":"Invalid conversation type"}`)
	// Without a JSON Content-Type there is no body: routes reading it fail.
	conv := e.group("alice")
	for _, c := range []struct{ method, path, want string }{
		{"POST", "/api/conversations", "Failed to create conversation"},
		{"PATCH", "/api/conversations/" + conv, "Failed to update conversation"},
		{"POST", "/api/conversations/" + conv + "/participants", "Failed to add participant"},
		{"POST", "/api/conversations/" + conv + "/messages", "Failed to create message"},
		{"POST", "/api/conversations/" + conv + "/control", "Failed to send control event"},
	} {
		req, err := http.NewRequest(c.method, e.srv.URL()+c.path, strings.NewReader(`{"content":"x","type":"group","name":"n"}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer alice")
		req.Header.Set("Content-Type", "text/plain")
		resp, err := e.srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 500, resp.StatusCode, c.path)
	}
	// An empty JSON body is {}.
	req, _ := http.NewRequest("POST", e.srv.URL()+"/api/conversations", http.NoBody)
	req.Header.Set("Authorization", "Bearer alice")
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 400, resp.StatusCode)
	// The limit is 12 MB.
	big := `{"content":"` + strings.Repeat("a", 12<<20) + `"}`
	e.expect(e.do("POST", "/api/conversations/"+conv+"/messages", "alice", big), 413, `{"message":"request entity too large"}`)
}

func TestHealthAndStats(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 21, 22, 45, 57, 434_999_000, time.UTC)
	e := newEnv(t, messagingtest.WithClock(func() time.Time { return at }))
	e.expect(e.do("GET", "/health", "", ""), 200, `{"status":"ok","timestamp":"2026-11-21T22:45:57.434Z"}`)
	e.expect(e.do("GET", "/api/health", "", ""), 200, `{"status":"ok","timestamp":"2026-11-21T22:45:57.434Z"}`)
	conv := e.group("alice", bob)
	e.send("alice", conv, "x")
	e.expect(e.do("GET", "/api/stats", "", ""), 200, `{"totalConversations":1,"totalMessages":1,"uniqueParticipants":2}`)
}

// ---- conversations ----

func TestCreateConversation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do("POST", "/api/conversations", "alice", `{"type":"group","name":"t"}`)
	require.Equal(t, 201, r.status)
	conv := r.field(t, "id")
	assert.Equal(t,
		`{"type":"group","name":"t","description":null,"org_id":null,"created_by":"ALICE","metadata":{},"id":"CONV","created_at":"TS","updated_at":"TS","participants":[{"conversation_id":"CONV","user_id":"ALICE","user_type":"user","role":"owner","entity_id":null,"id":"UUID","joined_at":"TS","last_read_at":null}]}`,
		shape(r.body, names(conv, "CONV")))

	// Participants are objects; bare strings are ignored, the creator is
	// skipped (she is the owner), userType defaults to user.
	r = e.do("POST", "/api/conversations", "alice", `{"type":"private","description":"d","metadata":{"b":2,"a":1},"participants":["`+bob+`",{"userId":"`+carol+`"},{"userId":"`+agent+`","userType":"agent"},{"userId":"`+alice+`"}]}`)
	require.Equal(t, 201, r.status, r.body)
	assert.Contains(t, r.body, `"name":null,"description":"d"`)
	assert.Contains(t, r.body, `"metadata":{"a":1,"b":2}`)
	var c struct {
		Participants []struct {
			UserID   string `json:"user_id"`
			UserType string `json:"user_type"`
			Role     string `json:"role"`
		} `json:"participants"`
	}
	r.json(t, &c)
	require.Len(t, c.Participants, 3)
	assert.Equal(t, []string{alice, carol, agent}, []string{c.Participants[0].UserID, c.Participants[1].UserID, c.Participants[2].UserID})
	assert.Equal(t, []string{"owner", "member", "member"}, []string{c.Participants[0].Role, c.Participants[1].Role, c.Participants[2].Role})
	assert.Equal(t, []string{"user", "user", "agent"}, []string{c.Participants[0].UserType, c.Participants[1].UserType, c.Participants[2].UserType})

	e.expect(e.do("POST", "/api/conversations", "alice", `{"type":"group"}`), 400, `{"error":"Group conversations require a name"}`)
	e.expect(e.do("POST", "/api/conversations", "alice", `{"type":"group","name":""}`), 400, `{"error":"Group conversations require a name"}`)
	e.expect(e.do("POST", "/api/conversations", "alice", `{"type":"channel","name":"x"}`), 400, `{"error":"Invalid conversation type"}`)
	e.expect(e.do("POST", "/api/conversations", "alice", `{}`), 400, `{"error":"Invalid conversation type"}`)

	// Organisations: the body's orgId or X-Org-Id; membership checked first.
	const forbidden = `{"error":"Not authorized for this organization"}`
	e.expect(e.do("POST", "/api/conversations", "alice", `{"type":"bad","orgId":"`+orgB+`"}`), 403, forbidden)
	e.expect(e.do("POST", "/api/conversations", "alice", `{"type":"group","name":"o"}`, "X-Org-Id", orgB), 403, forbidden)
	r = e.do("POST", "/api/conversations", "alice", `{"type":"group","name":"o"}`, "X-Org-Id", orgA)
	require.Equal(t, 201, r.status)
	assert.Equal(t, orgA, r.field(t, "org_id"))
	r = e.do("POST", "/api/conversations", "root", `{"type":"group","name":"o","orgId":"`+orgB+`"}`)
	require.Equal(t, 201, r.status, "a super admin is in every org")

	// A bad participant type fails half-way: the conversation exists.
	e.expect(e.do("POST", "/api/conversations", "bob", `{"type":"group","name":"half","participants":[{"userId":"`+carol+`","userType":"robot"}]}`), 500, `{"error":"Failed to create conversation"}`)
	var list []map[string]any
	e.do("GET", "/api/conversations", "bob", "").json(t, &list)
	require.Len(t, list, 1)
	assert.Equal(t, "half", list[0]["name"])
}

func TestListConversations(t *testing.T) {
	t.Parallel()
	clock := newClock()
	e := newEnv(t, messagingtest.WithClock(clock.now))
	first := e.group("alice", bob)
	clock.tick()
	inA := e.do("POST", "/api/conversations", "alice", `{"type":"group","name":"a","orgId":"`+orgA+`"}`).field(t, "id")
	clock.tick()
	third := e.group("alice")
	clock.tick()
	e.group("bob") // not alice's
	clock.tick()
	e.send("alice", first, "bump") // activity moves first to the top

	r := e.do("GET", "/api/conversations", "alice", "")
	require.Equal(t, 200, r.status)
	var list []map[string]any
	r.json(t, &list)
	got := make([]string, len(list))
	for i, c := range list {
		got[i] = c["id"].(string)
		assert.NotContains(t, c, "participants")
	}
	assert.Equal(t, []string{first, third, inA}, got)
	var raw []json.RawMessage
	r.json(t, &raw)
	assert.Equal(t, `{"id":"C","type":"group","name":"g","description":null,"org_id":null,"created_by":"ALICE","created_at":"TS","updated_at":"TS","metadata":{}}`,
		shape(string(raw[0]), names(first, "C")))

	// The org filter keeps that org's and org-less conversations.
	for _, q := range []reply{e.do("GET", "/api/conversations?orgId="+orgA, "alice", ""), e.do("GET", "/api/conversations", "alice", "", "X-Org-Id", orgA)} {
		require.Equal(t, 200, q.status)
		q.json(t, &list)
		assert.Len(t, list, 3)
	}
	r = e.do("GET", "/api/conversations?orgId="+orgB, "root", "")
	r.json(t, &list)
	assert.Empty(t, list)
	e.expect(e.do("GET", "/api/conversations?orgId="+orgB, "alice", ""), 403, `{"error":"Not authorized for this organization"}`)
	e.expect(e.do("GET", "/api/conversations", "alice", "", "X-Org-Id", orgB), 403, `{"error":"Not authorized for this organization"}`)
	e.expect(e.do("GET", "/api/conversations", "carol", ""), 200, `[]`)
}

func TestGetConversation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob)
	r := e.do("GET", "/api/conversations/"+conv, "bob", "")
	require.Equal(t, 200, r.status)
	assert.Equal(t,
		`{"type":"group","name":"g","description":null,"org_id":null,"created_by":"ALICE","metadata":{},"id":"C","created_at":"TS","updated_at":"TS","participants":[{"conversation_id":"C","user_id":"ALICE","user_type":"user","role":"owner","entity_id":null,"id":"UUID","joined_at":"TS","last_read_at":null},{"conversation_id":"C","user_id":"BOB","user_type":"user","role":"member","entity_id":null,"id":"UUID","joined_at":"TS","last_read_at":null}]}`,
		shape(r.body, names(conv, "C")))
	const notPart = `{"error":"Not a participant in this conversation"}`
	e.expect(e.do("GET", "/api/conversations/"+conv, "carol", ""), 403, notPart)
	// Membership is checked before existence.
	e.expect(e.do("GET", "/api/conversations/"+unknown, "alice", ""), 403, notPart)
	// Upper-case UUIDs name the same conversation.
	assert.Equal(t, 200, e.do("GET", "/api/conversations/"+strings.ToUpper(conv), "alice", "").status)
}

func TestUpdateConversation(t *testing.T) {
	t.Parallel()
	clock := newClock()
	e := newEnv(t, messagingtest.WithClock(clock.now))
	conv := e.group("alice", bob)
	created := e.do("GET", "/api/conversations/"+conv, "alice", "").field(t, "updated_at")
	clock.tick()
	r := e.do("PATCH", "/api/conversations/"+conv, "alice", `{"name":"renamed","description":"d","metadata":{"a":1}}`)
	require.Equal(t, 200, r.status)
	assert.Equal(t, `{"type":"group","name":"renamed","description":"d","org_id":null,"created_by":"ALICE","metadata":{"a":1},"id":"C","created_at":"TS","updated_at":"TS"}`, shape(r.body, names(conv, "C")))
	assert.NotEqual(t, created, r.field(t, "updated_at"))
	// Metadata is replaced, not merged; absent fields stay.
	r = e.do("PATCH", "/api/conversations/"+conv, "alice", `{"metadata":{"b":2}}`)
	assert.Contains(t, r.body, `"name":"renamed","description":"d"`)
	assert.Contains(t, r.body, `"metadata":{"b":2}`)
	// An empty update changes nothing, not even updated_at.
	before := r.field(t, "updated_at")
	clock.tick()
	r = e.do("PATCH", "/api/conversations/"+conv, "alice", `{}`)
	assert.Equal(t, before, r.field(t, "updated_at"))
	// null clears.
	assert.Contains(t, e.do("PATCH", "/api/conversations/"+conv, "alice", `{"description":null}`).body, `"description":null`)

	// An admin may update.
	e.do("POST", "/api/conversations/"+conv+"/participants", "alice", `{"userId":"`+carol+`"}`)
	const forbidden = `{"error":"Not authorized to update this conversation"}`
	e.expect(e.do("PATCH", "/api/conversations/"+conv, "bob", `{"name":"x"}`), 403, forbidden)
	e.expect(e.do("PATCH", "/api/conversations/"+unknown, "alice", `{"name":"x"}`), 403, forbidden)
	e.expect(e.do("PATCH", "/api/conversations/"+conv, "root", `{"name":"x"}`), 403, forbidden)
	e.expect(e.do("PATCH", "/api/conversations/"+conv, "alice", `{"metadata":"not json"}`), 500, `{"error":"Failed to update conversation"}`)
}

func TestDeleteConversation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob)
	m := e.send("alice", conv, "x")
	const forbidden = `{"error":"Only the owner can delete this conversation"}`
	e.expect(e.do("DELETE", "/api/conversations/"+conv, "bob", ""), 403, forbidden)
	e.expect(e.do("DELETE", "/api/conversations/"+unknown, "alice", ""), 403, forbidden)
	r := e.do("DELETE", "/api/conversations/"+conv, "alice", "")
	require.Equal(t, 204, r.status)
	assert.Empty(t, r.body)
	e.expect(e.do("GET", "/api/conversations/"+conv, "alice", ""), 403, `{"error":"Not a participant in this conversation"}`)
	assert.Empty(t, e.srv.Messages(conv))
	// Its messages went with it: the id is free again.
	other := e.group("alice")
	r = e.do("POST", "/api/conversations/"+other+"/messages", "alice", `{"content":"again","id":"`+m+`"}`)
	assert.Equal(t, other, r.field(t, "conversation_id"))
}

// ---- participants ----

func TestJoin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice")
	r := e.do("POST", "/api/conversations/"+conv+"/join", "bob", "")
	require.Equal(t, 201, r.status)
	assert.Equal(t, `{"conversation_id":"C","user_id":"BOB","user_type":"user","role":"member","entity_id":null,"id":"UUID","joined_at":"TS","last_read_at":null}`, shape(r.body, names(conv, "C")))

	e.expect(e.do("POST", "/api/conversations/"+unknown+"/join", "bob", ""), 404, `{"error":"Conversation not found"}`)
	priv := e.do("POST", "/api/conversations", "alice", `{"type":"private"}`).field(t, "id")
	e.expect(e.do("POST", "/api/conversations/"+priv+"/join", "bob", ""), 400, `{"error":"Cannot join a private conversation"}`)
	inA := e.do("POST", "/api/conversations", "alice", `{"type":"group","name":"a","orgId":"`+orgA+`"}`).field(t, "id")
	e.expect(e.do("POST", "/api/conversations/"+inA+"/join", "carol", ""), 403, `{"error":"Not authorized for this organization"}`)

	// The owner who joins is demoted to member, and loses the owner's rights.
	r = e.do("POST", "/api/conversations/"+conv+"/join", "alice", "")
	require.Equal(t, 201, r.status)
	assert.Equal(t, "member", r.field(t, "role"))
	e.expect(e.do("PATCH", "/api/conversations/"+conv, "alice", `{"name":"x"}`), 403, `{"error":"Not authorized to update this conversation"}`)
	e.expect(e.do("DELETE", "/api/conversations/"+conv, "alice", ""), 403, `{"error":"Only the owner can delete this conversation"}`)
}

func TestLeave(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob)
	e.expect(e.do("POST", "/api/conversations/"+conv+"/leave", "alice", ""), 400, `{"error":"Owner cannot leave the conversation. Transfer ownership or delete it."}`)
	r := e.do("POST", "/api/conversations/"+conv+"/leave", "bob", "")
	require.Equal(t, 204, r.status)
	assert.Empty(t, r.body)
	e.expect(e.do("POST", "/api/conversations/"+conv+"/leave", "bob", ""), 404, `{"error":"Not a participant in this conversation"}`)
	e.expect(e.do("POST", "/api/conversations/"+unknown+"/leave", "bob", ""), 404, `{"error":"Not a participant in this conversation"}`)
}

func TestAddParticipant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice")
	r := e.do("POST", "/api/conversations/"+conv+"/participants", "alice", `{"userId":"`+bob+`","userType":"user"}`)
	require.Equal(t, 201, r.status)
	assert.Equal(t, `{"conversation_id":"C","user_id":"BOB","user_type":"user","role":"member","entity_id":null,"id":"UUID","joined_at":"TS","last_read_at":null}`, shape(r.body, names(conv, "C")))
	pid := r.field(t, "id")

	e.expect(e.do("POST", "/api/conversations/"+conv+"/participants", "alice", `{}`), 400, `{"error":"userId is required"}`)
	e.expect(e.do("POST", "/api/conversations/"+conv+"/participants", "bob", `{}`), 400, `{"error":"userId is required"}`)
	e.expect(e.do("POST", "/api/conversations/"+conv+"/participants", "bob", `{"userId":"`+carol+`"}`), 403, `{"error":"Not authorized to add participants"}`)
	e.expect(e.do("POST", "/api/conversations/"+unknown+"/participants", "alice", `{"userId":"`+carol+`"}`), 403, `{"error":"Not authorized to add participants"}`)
	e.expect(e.do("POST", "/api/conversations/"+conv+"/participants", "alice", `{"userId":"`+carol+`","userType":"robot"}`), 500, `{"error":"Failed to add participant"}`)

	// userId is not UUID-checked; its prefix picks the type when none is given.
	r = e.do("POST", "/api/conversations/"+conv+"/participants", "alice", `{"userId":"assistant:foo"}`)
	require.Equal(t, 201, r.status)
	assert.Equal(t, "agent", r.field(t, "user_type"))

	// Adding again upserts: same row, role reset to member.
	r = e.do("POST", "/api/conversations/"+conv+"/participants", "alice", `{"userId":"`+bob+`","userType":"agent"}`)
	require.Equal(t, 201, r.status)
	assert.Equal(t, pid, r.field(t, "id"))
	assert.Equal(t, "user", r.field(t, "user_type"), "the upsert changes only the role")
	r = e.do("POST", "/api/conversations/"+conv+"/join", "alice", "") // the owner's join also resets
	assert.Equal(t, "member", r.field(t, "role"))
}

func TestRemoveParticipant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob, carol)
	e.expect(e.do("DELETE", "/api/conversations/"+conv+"/participants/"+carol, "bob", ""), 403, `{"error":"Not authorized to remove participants"}`)
	e.expect(e.do("DELETE", "/api/conversations/"+conv+"/participants/"+alice, "alice", ""), 400, `{"error":"Cannot remove the owner"}`)
	r := e.do("DELETE", "/api/conversations/"+conv+"/participants/"+carol, "alice", "")
	require.Equal(t, 204, r.status)
	assert.Empty(t, r.body)
	e.expect(e.do("DELETE", "/api/conversations/"+conv+"/participants/"+carol, "alice", ""), 404, `{"error":"Participant not found"}`)
	e.expect(e.do("GET", "/api/conversations/"+conv, "carol", ""), 403, `{"error":"Not a participant in this conversation"}`)
}

// ---- messages ----

func TestSendMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob)
	r := e.do("POST", "/api/conversations/"+conv+"/messages", "alice", `{"content":"hello"}`)
	require.Equal(t, 201, r.status)
	assert.Equal(t, `{"id":"UUID","conversation_id":"C","sender_id":"ALICE","sender_type":"user","content":"hello","content_type":"text","reply_to":null,"org_id":null,"run_id":null,"trace_id":null,"sequence":1,"priority":"normal","interruptible":true,"preempted_by":null,"metadata":{},"created_at":"TS","updated_at":null,"deleted_at":null}`,
		shape(r.body, names(conv, "C")))
	first := r.field(t, "id")

	// Every optional field.
	const run, pre = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
	const own = "cccccccc-cccc-4ccc-8ccc-cccccccccccc"
	r = e.do("POST", "/api/conversations/"+conv+"/messages", "bob", `{"id":"`+own+`","content":"<b>&","contentType":"markdown","replyTo":"`+first+`","metadata":{"k":[1,2]},"runId":"`+run+`","traceId":"trace-1","priority":"critical","interruptible":false,"preemptedBy":"`+pre+`"}`)
	require.Equal(t, 201, r.status, r.body)
	assert.Equal(t, `{"id":"OWN","conversation_id":"C","sender_id":"BOB","sender_type":"user","content":"<b>&","content_type":"markdown","reply_to":"FIRST","org_id":null,"run_id":"RUN","trace_id":"trace-1","sequence":2,"priority":"critical","interruptible":false,"preempted_by":"PRE","metadata":{"k":[1,2]},"created_at":"TS","updated_at":null,"deleted_at":null}`,
		shape(r.body, names(conv, "C", own, "OWN", first, "FIRST", run, "RUN", pre, "PRE")))

	// Unknown priorities are stored as normal.
	assert.Equal(t, "normal", e.do("POST", "/api/conversations/"+conv+"/messages", "alice", `{"content":"x","priority":"urgent"}`).field(t, "priority"))

	const required = `{"error":"Message content is required"}`
	e.expect(e.do("POST", "/api/conversations/"+conv+"/messages", "alice", `{}`), 400, required)
	e.expect(e.do("POST", "/api/conversations/"+conv+"/messages", "alice", `{"content":""}`), 400, required)
	e.expect(e.do("POST", "/api/conversations/"+conv+"/messages", "alice", `{"content":"x","contentType":"event"}`), 400, `{"error":"Use /control for stream events"}`)
	e.expect(e.do("POST", "/api/conversations/"+conv+"/messages", "carol", `{"content":"x"}`), 403, `{"error":"Not a participant in this conversation"}`)
	e.expect(e.do("POST", "/api/conversations/"+unknown+"/messages", "alice", `{"content":"x"}`), 403, `{"error":"Not a participant in this conversation"}`)

	const failed = `{"error":"Failed to create message"}`
	for _, body := range []string{
		`{"content":"x","runId":"run-123"}`,
		`{"content":"x","id":"my-id"}`,
		`{"content":"x","replyTo":"not-a-uuid"}`,
		`{"content":"x","replyTo":"` + unknown + `"}`,
		`{"content":"x","preemptedBy":"p"}`,
		`{"content":"x","traceId":"` + strings.Repeat("t", 256) + `"}`,
		`{"content":"x","metadata":[1]}`,
	} {
		e.expect(e.do("POST", "/api/conversations/"+conv+"/messages", "alice", body), 500, failed)
	}
	// traceId is free text.
	assert.Equal(t, "any text", e.do("POST", "/api/conversations/"+conv+"/messages", "alice", `{"content":"x","traceId":"any text"}`).field(t, "trace_id"))
	// Four rows were stored: none for the failures.
	assert.Len(t, e.srv.Messages(conv), 4)
}

func TestAgentSenderIsAutoAdded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice")
	r := e.do("POST", "/api/conversations/"+conv+"/messages", "agent", `{"content":"hi"}`)
	require.Equal(t, 201, r.status, r.body)
	assert.Equal(t, "agent", r.field(t, "sender_type"))
	c, ok := e.srv.Conversation(conv)
	require.True(t, ok)
	require.Len(t, c.Participants, 2)
	assert.Equal(t, agent, c.Participants[1].UserID)
	assert.Equal(t, "member", string(c.Participants[1].Role))
	assert.Equal(t, "agent", string(c.Participants[1].UserType))
	// Not into a conversation that does not exist.
	e.expect(e.do("POST", "/api/conversations/"+unknown+"/messages", "agent", `{"content":"hi"}`), 403, `{"error":"Not a participant in this conversation"}`)
}

func TestIdempotentMessageID(t *testing.T) {
	t.Parallel()
	clock := newClock()
	e := newEnv(t, messagingtest.WithClock(clock.now))
	conv := e.group("alice", bob)
	const id = "dddddddd-dddd-4ddd-8ddd-dddddddddddd"
	first := e.do("POST", "/api/conversations/"+conv+"/messages", "alice", `{"id":"`+id+`","content":"first"}`)
	require.Equal(t, 201, first.status)
	clock.tick()
	again := e.do("POST", "/api/conversations/"+conv+"/messages", "alice", `{"id":"`+id+`","content":"second"}`)
	require.Equal(t, 201, again.status)
	// The original row, with updated_at set.
	assert.Equal(t, "first", again.field(t, "content"))
	assert.Contains(t, first.body, `"updated_at":null`)
	assert.Equal(t, clock.at().Format("2006-01-02T15:04:05.000Z"), again.field(t, "updated_at"))
	assert.Equal(t, strings.Replace(first.body, `"updated_at":null`, `"updated_at":"`+again.field(t, "updated_at")+`"`, 1), again.body)
	assert.Len(t, e.srv.Messages(conv), 1)
	assert.EqualValues(t, 1, e.srv.Stats().MessagesStored)

	// The same id in another conversation returns the first conversation's
	// message.
	other := e.group("alice")
	r := e.do("POST", "/api/conversations/"+other+"/messages", "alice", `{"id":"`+id+`","content":"elsewhere"}`)
	require.Equal(t, 201, r.status)
	assert.Equal(t, conv, r.field(t, "conversation_id"))
	assert.Equal(t, "first", r.field(t, "content"))
	assert.Empty(t, e.srv.Messages(other))
}

func TestSequencesAreUniqueUnderConcurrency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob)
	const n = 40
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			req, _ := http.NewRequest("POST", e.srv.URL()+"/api/conversations/"+conv+"/messages", strings.NewReader(`{"content":"c"}`))
			req.Header.Set("Authorization", "Bearer bob")
			req.Header.Set("Content-Type", "application/json")
			resp, err := e.srv.Client().Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 201 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		require.NoError(t, <-errs)
	}
	ms := e.srv.Messages(conv)
	require.Len(t, ms, n)
	for i, m := range ms {
		assert.EqualValues(t, i+1, m.Sequence)
	}
}

func TestMessageHistory(t *testing.T) {
	t.Parallel()
	clock := newClock()
	e := newEnv(t, messagingtest.WithClock(clock.now))
	conv := e.group("alice", bob)
	var ids []string
	var times []string
	for i := 0; i < 55; i++ {
		clock.tick()
		r := e.do("POST", "/api/conversations/"+conv+"/messages", "alice", fmt.Sprintf(`{"content":"m%d"}`, i))
		ids = append(ids, r.field(t, "id"))
		times = append(times, r.field(t, "created_at"))
	}
	page := func(q string) []string {
		t.Helper()
		r := e.do("GET", "/api/conversations/"+conv+"/messages"+q, "bob", "")
		require.Equal(t, 200, r.status, r.body)
		var ms []struct {
			ID string `json:"id"`
		}
		r.json(t, &ms)
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = m.ID
		}
		return out
	}
	// Neither: the oldest limit messages by sequence; default 50.
	assert.Equal(t, ids[:50], page(""))
	assert.Equal(t, ids[:50], page("?limit=abc"))
	assert.Equal(t, ids[:50], page("?limit=0"))
	assert.Equal(t, ids[:3], page("?limit=3"))
	assert.Equal(t, ids, page("?limit=100"))
	assert.Empty(t, page("?limit=-1"))
	// before: strictly earlier, newest first.
	assert.Equal(t, []string{ids[9], ids[8], ids[7]}, page("?limit=3&before="+times[10]))
	// after: strictly later, oldest first.
	assert.Equal(t, []string{ids[11], ids[12]}, page("?limit=2&after="+times[10]))
	// before wins over after.
	assert.Equal(t, []string{ids[9]}, page("?limit=1&after="+times[20]+"&before="+times[10]))
	// Soft-deleted messages are never listed (deleted over the socket).
	s := e.dialAs("alice")
	require.JSONEq(t, `{"success":true}`, s.ack("message:delete", ids[0]))
	assert.Equal(t, ids[1:4], page("?limit=3"))

	e.expect(e.do("GET", "/api/conversations/"+conv+"/messages?before=garbage", "bob", ""), 500, `{"error":"Failed to get messages"}`)
	e.expect(e.do("GET", "/api/conversations/"+conv+"/messages?after=2026-13-01", "bob", ""), 500, `{"error":"Failed to get messages"}`)
	e.expect(e.do("GET", "/api/conversations/"+conv+"/messages", "carol", ""), 403, `{"error":"Not a participant in this conversation"}`)
	e.expect(e.do("GET", "/api/conversations/"+unknown+"/messages", "bob", ""), 403, `{"error":"Not a participant in this conversation"}`)
}

func TestHistoryStrictBoundaryAndTies(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, messagingtest.WithClock(func() time.Time { return at }))
	conv := e.group("alice")
	a, b := e.send("alice", conv, "a"), e.send("alice", conv, "b")
	ts := at.Format(time.RFC3339Nano)
	r := e.do("GET", "/api/conversations/"+conv+"/messages?before="+ts, "alice", "")
	assert.Equal(t, "[]", r.body, "two messages at the boundary are skipped by strict paging")
	assert.Equal(t, "[]", e.do("GET", "/api/conversations/"+conv+"/messages?after="+ts, "alice", "").body)
	r = e.do("GET", "/api/conversations/"+conv+"/messages?after=2026-11-21", "alice", "")
	assert.Contains(t, r.body, a)
	assert.Contains(t, r.body, b)
}

func TestReadingUpdatesLastReadAt(t *testing.T) {
	t.Parallel()
	clock := newClock()
	e := newEnv(t, messagingtest.WithClock(clock.now))
	conv := e.group("alice", bob)
	c, _ := e.srv.Conversation(conv)
	assert.Nil(t, c.Participants[1].LastReadAt)
	clock.tick()
	e.do("GET", "/api/conversations/"+conv+"/messages", "bob", "")
	c, _ = e.srv.Conversation(conv)
	require.NotNil(t, c.Participants[1].LastReadAt)
	assert.True(t, c.Participants[1].LastReadAt.Equal(clock.at()))
	assert.Nil(t, c.Participants[0].LastReadAt)
	// A failed read does not count.
	clock.tick()
	e.do("GET", "/api/conversations/"+conv+"/messages?before=x", "alice", "")
	c, _ = e.srv.Conversation(conv)
	assert.Nil(t, c.Participants[0].LastReadAt)
	assert.Contains(t, e.do("GET", "/api/conversations/"+conv, "bob", "").body, `"last_read_at":"`+clock.at().Add(-time.Second).Format("2006-01-02T15:04:05.000Z")+`"`)
}

// ---- control ----

func TestControl(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob, agent, intr)
	r := e.do("POST", "/api/conversations/"+conv+"/control", "agent", `{"event":"stream.pause","reason":"user asked","target":{"principalId":"`+bob+`","principalType":"user"}}`)
	require.Equal(t, 201, r.status, r.body)
	assert.Equal(t, `{"id":"UUID","conversation_id":"C","sender_id":"AGENT","sender_type":"agent","content":"stream.pause","content_type":"event","reply_to":null,"org_id":null,"run_id":null,"trace_id":null,"sequence":1,"priority":"high","interruptible":false,"preempted_by":null,"metadata":{"control":{"conversationId":"C","effectiveAt":"TS","event":"stream.pause","reason":"user asked","target":{"principalId":"BOB","principalType":"user"}}},"created_at":"TS","updated_at":null,"deleted_at":null}`,
		shape(r.body, names(conv, "C")))

	// Names are not validated; the metadata is kept beside the payload;
	// a string target is echoed; runId, traceId and preemptedBy are stored.
	const run = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
	r = e.do("POST", "/api/conversations/"+conv+"/control", "agent", `{"event":"anything.goes","target":"agent-id","metadata":{"z":1,"control":"overwritten"},"runId":"`+run+`","traceId":"t"}`)
	require.Equal(t, 201, r.status, r.body)
	assert.Equal(t, `"metadata":{"control":{"conversationId":"C","effectiveAt":"TS","event":"anything.goes","runId":"RUN","target":"agent-id","traceId":"t"},"z":1}`,
		shape(r.body[strings.Index(r.body, `"metadata"`):strings.Index(r.body, `,"created_at"`)], names(conv, "C", run, "RUN")))
	assert.Equal(t, run, r.field(t, "run_id"))

	const noCap = `{"error":"Not authorized to send control events"}`
	e.expect(e.do("POST", "/api/conversations/"+conv+"/control", "bob", `{"event":"stream.pause"}`), 403, noCap)
	// Route capability for exactly stream.route and stream.handoff.
	e.expect(e.do("POST", "/api/conversations/"+conv+"/control", "intr", `{"event":"stream.route"}`), 403, noCap)
	e.expect(e.do("POST", "/api/conversations/"+conv+"/control", "intr", `{"event":"stream.handoff"}`), 403, noCap)
	assert.Equal(t, 201, e.do("POST", "/api/conversations/"+conv+"/control", "intr", `{"event":"route"}`).status)
	assert.Equal(t, 201, e.do("POST", "/api/conversations/"+conv+"/control", "agent", `{"event":"stream.handoff"}`).status)
	// A super admin bypasses the capability, not the participant check.
	e.expect(e.do("POST", "/api/conversations/"+conv+"/control", "root", `{"event":"stream.pause"}`), 403, `{"error":"Not a participant in this conversation"}`)
	e.do("POST", "/api/conversations/"+conv+"/participants", "alice", `{"userId":"`+root+`"}`)
	assert.Equal(t, 201, e.do("POST", "/api/conversations/"+conv+"/control", "root", `{"event":"stream.pause"}`).status)

	e.expect(e.do("POST", "/api/conversations/"+conv+"/control", "agent", `{}`), 400, `{"error":"Control event is required"}`)
	e.expect(e.do("POST", "/api/conversations/"+conv+"/control", "agent", `{"event":7}`), 400, `{"error":"Control event is required"}`)
	e.expect(e.do("POST", "/api/conversations/"+conv+"/control", "carol", `{"event":"stream.pause"}`), 403, `{"error":"Not a participant in this conversation"}`)
	e.expect(e.do("POST", "/api/conversations/"+conv+"/control", "agent", `{"event":"stream.pause","runId":"run-1"}`), 500, `{"error":"Failed to send control event"}`)

	// A reserved Socket.IO name: 500, but the record is stored.
	before := len(e.srv.Messages(conv))
	e.expect(e.do("POST", "/api/conversations/"+conv+"/control", "agent", `{"event":"connect"}`), 500, `{"error":"Failed to send control event"}`)
	ms := e.srv.Messages(conv)
	require.Len(t, ms, before+1)
	assert.Equal(t, "connect", ms[len(ms)-1].Content)
	assert.True(t, ms[len(ms)-1].IsControl())

	// Control records are listed with the messages.
	assert.Contains(t, e.do("GET", "/api/conversations/"+conv+"/messages", "bob", "").body, `"content_type":"event"`)
}

// ---- admin ----

func TestAdminRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob)
	inA := e.do("POST", "/api/conversations", "alice", `{"type":"group","name":"a","orgId":"`+orgA+`"}`).field(t, "id")
	inB := e.do("POST", "/api/conversations", "carol", `{"type":"group","name":"b","orgId":"`+orgB+`"}`).field(t, "id")
	e.send("alice", conv, "x")

	e.expect(e.do("GET", "/api/admin/conversations", "", ""), 401, `{"error":"Authentication required"}`)
	e.expect(e.do("GET", "/api/admin/conversations", "alice", ""), 403, `{"error":"Admin access required"}`)
	e.expect(e.do("GET", "/api/admin/stats", "agent", "", "X-As-User-Id", root), 403, `{"error":"Admin access required"}`)

	r := e.do("GET", "/api/admin/conversations?limit=2", "admin", "")
	require.Equal(t, 200, r.status, r.body)
	var page struct {
		Conversations []map[string]any `json:"conversations"`
		Total         int              `json:"total"`
		Limit, Offset int
	}
	r.json(t, &page)
	assert.Len(t, page.Conversations, 2)
	assert.Equal(t, 3, page.Total)
	assert.Equal(t, 2, page.Limit)
	e.expect(e.do("GET", "/api/admin/conversations?orgId="+orgB, "admin", ""), 403, `{"error":"Not authorized for this organization"}`)
	r = e.do("GET", "/api/admin/conversations?orgId="+orgA, "admin", "")
	r.json(t, &page)
	assert.Equal(t, 1, page.Total)
	e.expect(e.do("GET", "/api/admin/conversations?limit=x", "admin", ""), 500, `{"error":"Failed to list conversations"}`)

	r = e.do("GET", "/api/admin/conversations/"+conv, "admin", "")
	require.Equal(t, 200, r.status)
	assert.Contains(t, r.body, `"participants":[`)
	assert.Contains(t, r.body, `"recentMessages":[{`)
	e.expect(e.do("GET", "/api/admin/conversations/"+unknown, "admin", ""), 404, `{"error":"Conversation not found"}`)
	e.expect(e.do("GET", "/api/admin/conversations/"+inB, "admin", ""), 403, `{"error":"Not authorized for this organization"}`)
	assert.Equal(t, 200, e.do("GET", "/api/admin/conversations/"+inB, "root", "").status)

	r = e.do("GET", "/api/admin/users/"+alice+"/conversations", "admin", "")
	var list []map[string]any
	r.json(t, &list)
	assert.Len(t, list, 2)

	r = e.do("POST", "/api/admin/conversations/"+inA+"/participants", "admin", `{"userId":"`+carol+`","role":"admin"}`)
	require.Equal(t, 201, r.status, r.body)
	assert.Equal(t, "admin", r.field(t, "role"))
	e.expect(e.do("POST", "/api/admin/conversations/"+inA+"/participants", "admin", `{}`), 400, `{"error":"userId is required"}`)
	e.expect(e.do("POST", "/api/admin/conversations/"+inA+"/participants", "admin", `{"userId":"x","role":"king"}`), 500, `{"error":"Failed to add participant"}`)
	// The admin route may remove an owner.
	assert.Equal(t, 204, e.do("DELETE", "/api/admin/conversations/"+inA+"/participants/"+alice, "admin", "").status)
	e.expect(e.do("DELETE", "/api/admin/conversations/"+inA+"/participants/"+alice, "admin", ""), 404, `{"error":"Participant not found"}`)

	e.expect(e.do("GET", "/api/admin/stats", "admin", ""), 200, `{"totalConversations":3,"totalMessages":1,"uniqueParticipants":3,"activeConversations24h":3,"filters":{"orgId":null,"type":null}}`)
	e.expect(e.do("GET", "/api/admin/stats?type=group&orgId="+orgA, "admin", ""), 200, `{"totalConversations":1,"totalMessages":0,"uniqueParticipants":1,"activeConversations24h":1,"filters":{"orgId":"`+orgA+`","type":"group"}}`)

	assert.Equal(t, 204, e.do("DELETE", "/api/admin/conversations/"+conv, "admin", "").status)
	e.expect(e.do("DELETE", "/api/admin/conversations/"+conv, "admin", ""), 404, `{"error":"Conversation not found"}`)
}

// clock is a settable clock for WithClock: every tick moves it a second.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 21, 22, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) at() time.Time { return c.now() }

func (c *clock) tick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
}
