package messaging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/symbia-labs/messaging-go/internal/backoff"
)

// Ids and answers below are the real service's, as recorded against it (docs/PROTOCOL.md).
const (
	alice    = "11111111-1111-4111-8111-111111111111"
	bob      = "22222222-2222-4222-8222-222222222222"
	agentID  = "44444444-4444-4444-8444-444444444444"
	convID   = "67ad9574-01de-49ff-b691-7755449bef84"
	msgID    = "32e0059d-5e98-43d1-a51c-60d0447e46c5"
	runID    = "5b0e3c2a-9d43-4f5e-8a51-2f0c1e7d9a10"
	replyID  = "0c7f3d1e-2b4a-4c6d-9e8f-1a2b3c4d5e6f"
	preemptM = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"

	testToken  = "tok-SECRET-7f3a"
	testAPIKey = "key-SECRET-91bc"
	testPrefix = "/svc/messaging"

	observedConversation = `{"type":"group","name":"t","description":null,"org_id":null,"created_by":"11111111-1111-4111-8111-111111111111","metadata":{},"id":"67ad9574-01de-49ff-b691-7755449bef84","created_at":"2026-11-21T22:45:56.987Z","updated_at":"2026-11-21T22:45:56.987Z","participants":[{"conversation_id":"67ad9574-01de-49ff-b691-7755449bef84","user_id":"11111111-1111-4111-8111-111111111111","user_type":"user","role":"owner","entity_id":null,"id":"43fe050e-672c-4391-bb01-ec408f4f67ab","joined_at":"2026-11-21T22:45:56.995Z","last_read_at":null}]}`
	observedParticipant  = `{"conversation_id":"67ad9574-01de-49ff-b691-7755449bef84","user_id":"22222222-2222-4222-8222-222222222222","user_type":"user","role":"member","entity_id":null,"id":"1311e0e6-6f31-4325-abb9-99b308f3724d","joined_at":"2026-11-21T22:45:57.228Z","last_read_at":null}`
	observedList         = `[{"id":"01dcc1c3-5ead-48b3-832b-3ac53550a7e0","type":"group","name":"s","description":null,"org_id":null,"created_by":"11111111-1111-4111-8111-111111111111","created_at":"2026-11-21T22:45:57.156Z","updated_at":"2026-11-21T22:45:57.156Z","metadata":{}}]`
	observedMessage      = `{"id":"32e0059d-5e98-43d1-a51c-60d0447e46c5","conversation_id":"67ad9574-01de-49ff-b691-7755449bef84","sender_id":"11111111-1111-4111-8111-111111111111","sender_type":"user","content":"hello","content_type":"text","reply_to":null,"org_id":null,"run_id":null,"trace_id":null,"sequence":1,"priority":"normal","interruptible":true,"preempted_by":null,"metadata":{},"created_at":"2026-11-21T22:45:57.434Z","updated_at":null,"deleted_at":null}`
	observedUpdated      = `{"type":"group","name":"renamed","description":"d","org_id":null,"created_by":"11111111-1111-4111-8111-111111111111","metadata":{"a":1},"id":"46e7f1d4-cbd7-4bbf-852c-06d2de4c7e58","created_at":"2026-11-21T22:28:15.794Z","updated_at":"2026-11-21T22:28:20.149Z"}`
	observedControl      = `{"id":"b4705320-21b4-43b9-b4eb-8cece048fad4","conversation_id":"46e7f1d4-cbd7-4bbf-852c-06d2de4c7e58","sender_id":"44444444-4444-4444-8444-444444444444","sender_type":"agent","content":"stream.pause","content_type":"event","reply_to":null,"org_id":null,"run_id":null,"trace_id":null,"sequence":6,"priority":"high","interruptible":false,"preempted_by":null,"metadata":{"control":{"conversationId":"46e7f1d4-cbd7-4bbf-852c-06d2de4c7e58","effectiveAt":"2026-11-21T22:28:20.211Z","event":"stream.pause","reason":"user asked","target":{"principalId":"22222222-2222-4222-8222-222222222222","principalType":"user"}}},"created_at":"2026-11-21T22:28:20.219Z","updated_at":null,"deleted_at":null}`
	observedMe           = `{"user":{"id":"44444444-4444-4444-8444-444444444444","email":"bot@example.com","name":"Bot","type":"agent","agentId":"assistant:helper","orgId":"99999999-9999-4999-8999-999999999999","organizations":[{"id":"99999999-9999-4999-8999-999999999999","name":"Acme","role":"member"}],"entitlements":["cap:messaging.interrupt"],"roles":[],"isSuperAdmin":false},"organizations":["99999999-9999-4999-8999-999999999999"]}`
	observedHealth       = `{"status":"ok","timestamp":"2026-11-21T22:45:50.000Z"}`
	expressNotFound      = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot GET /api/conversationz</pre>\n</body>\n</html>\n"
)

func ms(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// recorded is one request as the fake server saw it.
type recorded struct {
	Method string
	Path   string // below the endpoint's path prefix, escaped
	Query  url.Values
	Header http.Header
	Body   []byte
}

// fakeServer records requests and answers them with a handler. It is mounted
// under testPrefix; anything outside fails the test (catches absolute paths).
type fakeServer struct {
	srv     *httptest.Server
	handler http.HandlerFunc
	mu      sync.Mutex
	reqs    []recorded
}

func newFakeServer(t *testing.T, h http.HandlerFunc) *fakeServer {
	t.Helper()
	f := &fakeServer{handler: h}
	mux := http.NewServeMux()
	mux.Handle(testPrefix+"/", http.StripPrefix(testPrefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{r.Method, r.URL.EscapedPath(), r.URL.Query(), r.Header.Clone(), body})
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.handler(w, r)
	})))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request outside the endpoint's path: %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusTeapot)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func (f *fakeServer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// sleepRecorder replaces the retry wait: it records the delay and returns at
// once (with the context's error, like backoff.Sleep).
type sleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.delays = append(s.delays, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) get() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.delays...)
}

type harness struct {
	c      *Client
	srv    *fakeServer
	sleeps *sleepRecorder
	errs   *errorLog
}

// errorLog collects what the error handler is given.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) handle(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *errorLog) get() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

// newHarness returns a client of a fake server answering with h, with
// credentials, an error log and recorded (instant) retry waits.
func newHarness(t *testing.T, h http.HandlerFunc, opts ...ClientOption) *harness {
	t.Helper()
	f := newFakeServer(t, h)
	el := &errorLog{}
	base := []ClientOption{
		WithEndpoint(f.srv.URL + testPrefix), WithToken(testToken), WithAPIKey(testAPIKey),
		WithHTTPClient(f.srv.Client()), WithErrorHandler(el.handle),
	}
	c, err := NewClient(append(base, opts...)...)
	require.NoError(t, err)
	sr := &sleepRecorder{}
	c.sleep = sr.sleep
	return &harness{c: c, srv: f, sleeps: sr, errs: el}
}

// answer replies with status and a JSON body.
func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if body != "" {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// sequence answers with each handler in turn, repeating the last one.
func sequence(hs ...http.HandlerFunc) http.HandlerFunc {
	var n atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		hs[min(i, len(hs)-1)](w, r)
	}
}

// TestWire checks method, path, query, headers and exact body of every
// call, and that the real service's answers decode.
func TestWire(t *testing.T) {
	t.Parallel()
	f := false
	cases := []struct {
		name      string
		call      func(context.Context, *Client, ...RequestOption) (any, error)
		status    int
		answer    string
		method    string
		path      string
		query     url.Values
		body      string // exact JSON; "" means no body at all
		checkBody func(*testing.T, []byte)
		check     func(*testing.T, any)
	}{
		{
			name: "CreateConversation",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return c.CreateConversation(ctx, CreateConversationParams{
					Type: ConversationGroup, Name: "t", Description: "d", OrgID: "org-9",
					Metadata:       map[string]any{"a": 1},
					Participants:   []NewParticipant{{UserID: bob}, {UserID: "assistant:helper", UserType: UserTypeAgent}},
					ParticipantIDs: []string{"33333333-3333-4333-8333-333333333333"},
				}, o...)
			},
			status: 201, answer: observedConversation,
			method: "POST", path: "/api/conversations",
			body: `{"type":"group","name":"t","description":"d","orgId":"org-9","metadata":{"a":1},"participants":[{"userId":"` + bob + `"},{"userId":"assistant:helper","userType":"agent"},{"userId":"33333333-3333-4333-8333-333333333333","userType":"user"}]}`,
			check: func(t *testing.T, v any) {
				c := v.(*Conversation)
				assert.Equal(t, convID, c.ID)
				assert.Equal(t, ConversationGroup, c.Type)
				assert.Empty(t, c.Description)
				assert.Empty(t, c.OrgID)
				assert.Equal(t, alice, c.CreatedBy)
				assert.Equal(t, ms("2026-11-21T22:45:56.987Z"), c.CreatedAt)
				require.Len(t, c.Participants, 1)
				p := c.Participants[0]
				assert.Equal(t, RoleOwner, p.Role)
				assert.Equal(t, UserTypeUser, p.UserType)
				assert.Equal(t, alice, p.UserID)
				assert.Nil(t, p.LastReadAt)
				assert.Empty(t, p.EntityID)
			},
		},
		{
			name: "CreateConversation/minimal",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return c.CreateConversation(ctx, CreateConversationParams{Type: ConversationPrivate}, o...)
			},
			status: 201, answer: observedConversation,
			method: "POST", path: "/api/conversations", body: `{"type":"private"}`,
		},
		{
			name: "GetConversation",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return c.GetConversation(ctx, convID, o...)
			},
			status: 200, answer: observedConversation,
			method: "GET", path: "/api/conversations/" + convID,
			check: func(t *testing.T, v any) {
				assert.Equal(t, "t", v.(*Conversation).Name)
				assert.Len(t, v.(*Conversation).Participants, 1)
			},
		},
		{
			name: "ListConversations",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return c.ListConversations(ctx, o...)
			},
			status: 200, answer: observedList,
			method: "GET", path: "/api/conversations",
			check: func(t *testing.T, v any) {
				l := v.([]Conversation)
				require.Len(t, l, 1)
				assert.Equal(t, "01dcc1c3-5ead-48b3-832b-3ac53550a7e0", l[0].ID)
				assert.Equal(t, "s", l[0].Name)
				assert.Nil(t, l[0].Participants)
				assert.Equal(t, map[string]any{}, l[0].Metadata)
			},
		},
		{
			name: "UpdateConversation",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return c.UpdateConversation(ctx, convID, UpdateConversationParams{Name: "renamed", Description: "d", Metadata: map[string]any{"a": 1}}, o...)
			},
			status: 200, answer: observedUpdated,
			method: "PATCH", path: "/api/conversations/" + convID,
			body: `{"name":"renamed","description":"d","metadata":{"a":1}}`,
			check: func(t *testing.T, v any) {
				c := v.(*Conversation)
				assert.Equal(t, "renamed", c.Name)
				assert.Equal(t, "d", c.Description)
				assert.Equal(t, map[string]any{"a": float64(1)}, c.Metadata)
				assert.Equal(t, ms("2026-11-21T22:28:20.149Z"), c.UpdatedAt)
			},
		},
		{
			name: "DeleteConversation",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return nil, c.DeleteConversation(ctx, convID, o...)
			},
			status: 204, method: "DELETE", path: "/api/conversations/" + convID,
		},
		{
			name: "AddParticipant/default user type, non-UUID id",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return c.AddParticipant(ctx, convID, "assistant:helper", "", o...)
			},
			status: 201, answer: observedParticipant,
			method: "POST", path: "/api/conversations/" + convID + "/participants",
			body: `{"userId":"assistant:helper","userType":"user"}`,
			check: func(t *testing.T, v any) {
				p := v.(*Participant)
				assert.Equal(t, bob, p.UserID)
				assert.Equal(t, RoleMember, p.Role)
				assert.Equal(t, convID, p.ConversationID)
				assert.Equal(t, "1311e0e6-6f31-4325-abb9-99b308f3724d", p.ID)
				assert.Equal(t, ms("2026-11-21T22:45:57.228Z"), p.JoinedAt)
			},
		},
		{
			name: "AddParticipant/agent",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return c.AddParticipant(ctx, convID, agentID, UserTypeAgent, o...)
			},
			status: 201, answer: observedParticipant,
			method: "POST", path: "/api/conversations/" + convID + "/participants",
			body: `{"userId":"` + agentID + `","userType":"agent"}`,
		},
		{
			name: "RemoveParticipant",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return nil, c.RemoveParticipant(ctx, convID, bob, o...)
			},
			status: 204, method: "DELETE", path: "/api/conversations/" + convID + "/participants/" + bob,
		},
		{
			name: "JoinConversation",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return c.JoinConversation(ctx, convID, o...)
			},
			status: 201, answer: observedParticipant,
			method: "POST", path: "/api/conversations/" + convID + "/join",
			check: func(t *testing.T, v any) { assert.Equal(t, RoleMember, v.(*Participant).Role) },
		},
		{
			name: "LeaveConversation",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return nil, c.LeaveConversation(ctx, convID, o...)
			},
			status: 204, method: "POST", path: "/api/conversations/" + convID + "/leave",
		},
		{
			name: "SendMessage/every field",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return c.SendMessage(ctx, SendMessageParams{
					ConversationID: convID, ID: msgID, Content: "hello", ContentType: "markdown",
					ReplyTo: replyID, Metadata: map[string]any{"k": "v"}, RunID: runID, TraceID: "trace-456",
					Priority: PriorityHigh, Interruptible: Bool(false), PreemptedBy: preemptM,
				}, o...)
			},
			status: 201, answer: observedMessage,
			method: "POST", path: "/api/conversations/" + convID + "/messages",
			body: `{"id":"` + msgID + `","content":"hello","contentType":"markdown","replyTo":"` + replyID + `","metadata":{"k":"v"},"runId":"` + runID +
				`","traceId":"trace-456","priority":"high","interruptible":false,"preemptedBy":"` + preemptM + `"}`,
			check: func(t *testing.T, v any) {
				m := v.(*Message)
				assert.Equal(t, msgID, m.ID)
				assert.Equal(t, SenderUser, m.SenderType)
				assert.Equal(t, int64(1), m.Sequence)
				assert.Equal(t, PriorityNormal, m.Priority)
				assert.True(t, m.Interruptible)
				assert.Empty(t, m.ReplyTo)
				assert.Empty(t, m.RunID)
				assert.Nil(t, m.UpdatedAt)
				assert.Nil(t, m.DeletedAt)
				assert.False(t, m.IsControl())
				assert.Equal(t, ms("2026-11-21T22:45:57.434Z"), m.CreatedAt)
			},
		},
		{
			name: "SendMessage/makes an id",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return c.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: "hello", Interruptible: &f}, o...)
			},
			status: 201, answer: observedMessage,
			method: "POST", path: "/api/conversations/" + convID + "/messages",
			checkBody: func(t *testing.T, b []byte) {
				var m map[string]any
				require.NoError(t, json.Unmarshal(b, &m))
				id, _ := m["id"].(string)
				assert.True(t, isUUID(id), "id %q", id)
				_, err := uuid.Parse(id)
				assert.NoError(t, err)
				delete(m, "id")
				assert.Equal(t, map[string]any{"content": "hello", "interruptible": false}, m)
			},
		},
		{
			name: "GetMessages/before",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return c.GetMessages(ctx, convID, GetMessagesParams{Limit: 10, Before: ms("2026-11-21T23:45:57.434+01:00")}, o...)
			},
			status: 200, answer: "[" + observedMessage + "," + observedControl + "]",
			method: "GET", path: "/api/conversations/" + convID + "/messages",
			query: url.Values{"limit": {"10"}, "before": {"2026-11-21T22:45:57.434Z"}},
			check: func(t *testing.T, v any) {
				l := v.([]Message)
				require.Len(t, l, 2)
				assert.Equal(t, "hello", l[0].Content)
				assert.True(t, l[1].IsControl())
			},
		},
		{
			name: "GetMessages/after, sub-millisecond times",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return c.GetMessages(ctx, convID, GetMessagesParams{After: ms("2026-11-21T22:45:57.4349Z")}, o...)
			},
			status: 200, answer: "[]",
			method: "GET", path: "/api/conversations/" + convID + "/messages",
			query: url.Values{"after": {"2026-11-21T22:45:57.434Z"}},
			check: func(t *testing.T, v any) { assert.Empty(t, v.([]Message)) },
		},
		{
			name: "GetMessages/before rounds up",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return c.GetMessages(ctx, convID, GetMessagesParams{Before: ms("2026-11-21T22:45:57.4341Z")}, o...)
			},
			status: 200, answer: "[]",
			method: "GET", path: "/api/conversations/" + convID + "/messages",
			query: url.Values{"before": {"2026-11-21T22:45:57.435Z"}},
		},
		{
			name: "GetMessages/no params",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return c.GetMessages(ctx, convID, GetMessagesParams{}, o...)
			},
			status: 200, answer: "[]",
			method: "GET", path: "/api/conversations/" + convID + "/messages",
		},
		{
			name: "SendControl/short name, object target",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return c.SendControl(ctx, convID, ControlParams{
					Event: "pause", Reason: "user asked",
					Target: &ControlTarget{PrincipalID: bob, PrincipalType: UserTypeUser},
				}, o...)
			},
			status: 201, answer: observedControl,
			method: "POST", path: "/api/conversations/" + convID + "/control",
			body: `{"event":"stream.pause","target":{"principalId":"` + bob + `","principalType":"user"},"reason":"user asked"}`,
			check: func(t *testing.T, v any) {
				m := v.(*Message)
				assert.True(t, m.IsControl())
				assert.Equal(t, "stream.pause", m.Content)
				assert.Equal(t, PriorityHigh, m.Priority)
				assert.False(t, m.Interruptible)
				assert.Equal(t, SenderAgent, m.SenderType)
				ctl, _ := m.Metadata["control"].(map[string]any)
				assert.Equal(t, "user asked", ctl["reason"])
			},
		},
		{
			name: "SendControl/full name, string target, every field",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return c.SendControl(ctx, convID, ControlParams{
					Event: "stream.handoff", Target: &ControlTarget{PrincipalID: "agent-id"}, Reason: "r",
					RunID: runID, TraceID: "t-1", PreemptedBy: preemptM, Metadata: map[string]any{"x": true},
				}, o...)
			},
			status: 201, answer: observedControl,
			method: "POST", path: "/api/conversations/" + convID + "/control",
			body: `{"event":"stream.handoff","target":"agent-id","reason":"r","runId":"` + runID + `","traceId":"t-1","preemptedBy":"` + preemptM + `","metadata":{"x":true}}`,
		},
		{
			name: "Me",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return c.Me(ctx, o...)
			},
			status: 200, answer: observedMe,
			method: "GET", path: "/api/auth/me",
			check: func(t *testing.T, v any) {
				me := v.(*Me)
				assert.Equal(t, agentID, me.User.ID)
				assert.Equal(t, UserTypeAgent, me.User.Type)
				assert.Equal(t, "assistant:helper", me.User.AgentID)
				assert.Equal(t, []string{"cap:messaging.interrupt"}, me.User.Entitlements)
				require.Len(t, me.User.Organizations, 1)
				assert.Equal(t, "Acme", me.User.Organizations[0].Name)
				require.Len(t, me.Organizations, 1)
				assert.Equal(t, "99999999-9999-4999-8999-999999999999", me.Organizations[0].ID)
			},
		},
		{
			name: "Health",
			call: func(ctx context.Context, c *Client, o ...RequestOption) (any, error) {
				return c.Health(ctx, o...)
			},
			status: 200, answer: observedHealth,
			method: "GET", path: "/api/health",
			check: func(t *testing.T, v any) {
				h := v.(*Health)
				assert.Equal(t, "ok", h.Status)
				assert.Equal(t, ms("2026-11-21T22:45:50Z"), h.Timestamp)
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Once with the per-request options, once without: each header
			// must be there exactly when asked for.
			for _, withOpts := range []bool{true, false} {
				h := newHarness(t, answer(tc.status, tc.answer))
				var opts []RequestOption
				if withOpts {
					opts = []RequestOption{AsUser("assistant:helper"), WithOrgID("org-9"), WithHeader("X-Request-Id", "r-1")}
				}
				v, err := tc.call(context.Background(), h.c, opts...)
				require.NoError(t, err)
				reqs := h.srv.requests()
				require.Len(t, reqs, 1)
				r := reqs[0]
				assert.Equal(t, tc.method, r.Method)
				assert.Equal(t, tc.path, r.Path)
				if tc.query == nil {
					assert.Empty(t, r.Query)
				} else {
					assert.Equal(t, tc.query, r.Query)
				}
				assert.Equal(t, "Bearer "+testToken, r.Header.Get("Authorization"))
				assert.Equal(t, testAPIKey, r.Header.Get("X-API-Key"))
				assert.Equal(t, "application/json", r.Header.Get("Accept"))
				assert.Equal(t, "messaging-go/"+Version, r.Header.Get("User-Agent"))
				if withOpts {
					assert.Equal(t, "assistant:helper", r.Header.Get("X-As-User-Id"))
					assert.Equal(t, "org-9", r.Header.Get("X-Org-Id"))
					assert.Equal(t, "r-1", r.Header.Get("X-Request-Id"))
				} else {
					for _, k := range []string{"X-As-User-Id", "X-Org-Id", "X-Request-Id"} {
						assert.NotContains(t, r.Header, k)
					}
				}
				switch {
				case tc.checkBody != nil:
					assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
					tc.checkBody(t, r.Body)
				case tc.body != "":
					assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
					assert.JSONEq(t, tc.body, string(r.Body))
				default:
					assert.Empty(t, r.Body)
					assert.NotContains(t, r.Header, "Content-Type")
				}
				if tc.check != nil {
					tc.check(t, v)
				}
				assert.Empty(t, h.errs.get(), "error handler called on success")
			}
		})
	}
}

func TestSendControlNormalisesEveryEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, answer(201, observedControl))
	for _, e := range controlEvents {
		for _, name := range []string{e.Short(), string(e)} {
			_, err := h.c.SendControl(context.Background(), convID, ControlParams{Event: name})
			require.NoError(t, err, name)
		}
	}
	reqs := h.srv.requests()
	require.Len(t, reqs, 2*len(controlEvents))
	for i, r := range reqs {
		assert.JSONEq(t, `{"event":"`+string(controlEvents[i/2])+`"}`, string(r.Body))
	}
}

func TestRequestOptionsLastWins(t *testing.T) {
	t.Parallel()
	h := newHarness(t, answer(200, observedHealth))
	_, err := h.c.Health(context.Background(), AsUser("a"), AsUser("b"), WithOrgID("o1"), WithOrgID("o2"),
		WithHeader("user-agent", "mine/1"), nil)
	require.NoError(t, err)
	r := h.srv.requests()[0]
	assert.Equal(t, []string{"b"}, r.Header.Values("X-As-User-Id"))
	assert.Equal(t, []string{"o2"}, r.Header.Values("X-Org-Id"))
	assert.Equal(t, []string{"mine/1"}, r.Header.Values("User-Agent"))
}

func TestConversationPathEscapes(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "/api/conversations/a%2Fb%20c%3F/participants/x%2F..%2Fy", conversationPath("a/b c?", "participants", "x/../y"))
}

func TestDecodeMissingOptionals(t *testing.T) {
	t.Parallel()
	// The seed's shape: no sequence, org_id, priority or metadata keys at all.
	h := newHarness(t, answer(200, `[{"id":"`+msgID+`","conversation_id":"`+convID+`","sender_id":"u","content":"x","created_at":"2026-11-21T22:45:57.434Z","updated_at":"2026-11-21T22:46:00.000Z"}]`))
	l, err := h.c.GetMessages(context.Background(), convID, GetMessagesParams{})
	require.NoError(t, err)
	require.Len(t, l, 1)
	m := l[0]
	assert.Zero(t, m.Sequence)
	assert.Empty(t, m.Priority)
	assert.Nil(t, m.Metadata)
	require.NotNil(t, m.UpdatedAt)
	assert.Equal(t, ms("2026-11-21T22:46:00Z"), *m.UpdatedAt)
}

func TestDecodeFailureIsAnError(t *testing.T) {
	t.Parallel()
	h := newHarness(t, answer(200, `<html>proxy login</html>`))
	_, err := h.c.GetConversation(context.Background(), convID)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "GET /api/conversations/"+convID)
	assert.Contains(t, err.Error(), "decoding the answer")
	assert.Equal(t, 1, h.srv.count(), "a bad body is not retried")
	assert.Len(t, h.errs.get(), 1)
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	all := []error{ErrInvalidArgument, ErrUnauthorized, ErrForbidden, ErrNotParticipant, ErrNotFound, ErrRateLimited}
	cases := []struct {
		status      int
		contentType string
		body        string
		want        []error
		message     string
		text        string // the whole Error()
	}{
		{400, "application/json", `{"error":"Group conversations require a name"}`, []error{ErrInvalidArgument}, "Group conversations require a name",
			"messaging: GET /api/conversations/" + convID + ": 400 Bad Request: Group conversations require a name"},
		{400, "application/json", `{"message":"Unexpected end of JSON input"}`, []error{ErrInvalidArgument}, "Unexpected end of JSON input", ""},
		{401, "application/json", `{"error":"Authentication required"}`, []error{ErrUnauthorized}, "Authentication required", ""},
		{403, "application/json", `{"error":"Not a participant in this conversation"}`, []error{ErrForbidden, ErrNotParticipant}, "Not a participant in this conversation", ""},
		{403, "application/json", `{"error":"Not authorized to send control events"}`, []error{ErrForbidden}, "Not authorized to send control events", ""},
		{404, "application/json", `{"error":"Conversation not found"}`, []error{ErrNotFound}, "Conversation not found", ""},
		{404, "text/html; charset=utf-8", expressNotFound, []error{ErrNotFound}, "Cannot GET /api/conversationz",
			"messaging: GET /api/conversations/" + convID + ": 404 Not Found: Cannot GET /api/conversationz"},
		{429, "application/json", `{"error":"Too many requests"}`, []error{ErrRateLimited}, "Too many requests", ""},
		{500, "application/json", `{"error":"Failed to create message"}`, nil, "Failed to create message", ""},
		{500, "application/json", `{"error":{"message":"nested"}}`, nil, "nested", ""},
		{500, "application/json", `{"status":"broken"}`, nil, `{"status":"broken"}`, ""},
		{500, "text/plain", "  boom\n\tagain  ", nil, "boom again", ""},
		{500, "text/html", "<html><head><title>t</title><style>p{}</style></head><body><h1>Oops &amp; sorry</h1></body></html>", nil, "Oops & sorry", ""},
		{502, "", "", nil, "", "messaging: GET /api/conversations/" + convID + ": 502 Bad Gateway"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d %.30s", tc.status, tc.body), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}, WithRetry(RetryPolicy{}))
			_, err := h.c.GetConversation(context.Background(), convID)
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.status, ae.StatusCode)
			assert.Equal(t, "GET", ae.Method)
			assert.Equal(t, "/api/conversations/"+convID, ae.Path)
			assert.Equal(t, tc.message, ae.Message)
			assert.Equal(t, tc.body, string(ae.Body))
			if tc.text != "" {
				assert.Equal(t, tc.text, err.Error())
			}
			for _, s := range all {
				want := false
				for _, w := range tc.want {
					want = want || w == s
				}
				assert.Equal(t, want, errors.Is(err, s), "errors.Is(%v)", s)
			}
			assert.Equal(t, []error{err}, h.errs.get(), "error handler called once with the error")
		})
	}
}

func TestLongErrorTextIsCut(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("é", 300)
	h := newHarness(t, answer(500, body))
	_, err := h.c.Me(context.Background())
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.True(t, strings.HasSuffix(ae.Message, "…"))
	assert.LessOrEqual(t, len(ae.Message), maxErrorText+len("…"))
	assert.True(t, strings.HasPrefix(body, strings.TrimSuffix(ae.Message, "…")), "cut on a rune boundary")
	assert.Equal(t, body, string(ae.Body))
}

// endless is an error body that never ends; it counts what was read.
type endless struct {
	read   atomic.Int64
	closed atomic.Bool
}

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	e.read.Add(int64(len(p)))
	return len(p), nil
}

func (e *endless) Close() error { e.closed.Store(true); return nil }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestHugeErrorBodyIsNotReadWhole(t *testing.T) {
	t.Parallel()
	body := &endless{}
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 500, Header: http.Header{}, Body: body, Request: r}, nil
	})}
	c, err := NewClient(WithEndpoint("http://messaging.test"), WithHTTPClient(hc))
	require.NoError(t, err)
	_, err = c.Health(context.Background())
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Len(t, ae.Body, maxErrorBody)
	assert.LessOrEqual(t, body.read.Load(), int64(maxErrorBody))
	assert.True(t, body.closed.Load())
	assert.LessOrEqual(t, len(ae.Message), maxErrorText+len("…"))
}

func TestRetryableStatuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status   int
		attempts int
	}{
		{408, 3}, {429, 3}, {502, 3}, {503, 3}, {504, 3},
		{400, 1}, {401, 1}, {403, 1}, {404, 1}, {409, 1}, {500, 1}, {501, 1},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, answer(tc.status, `{"error":"x"}`), WithRetry(RetryPolicy{MaxRetries: 2, MinDelay: 100 * time.Millisecond, MaxDelay: time.Second}))
			_, err := h.c.GetConversation(context.Background(), convID)
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.status, ae.StatusCode)
			assert.Equal(t, tc.attempts, h.srv.count())
			delays := h.sleeps.get()
			require.Len(t, delays, tc.attempts-1)
			// Exponential with ±25 % jitter: 100 ms, then 200 ms.
			for i, d := range delays {
				base := 100 * time.Millisecond << i
				assert.GreaterOrEqual(t, d, base*3/4, "delay %d", i)
				assert.LessOrEqual(t, d, base*5/4, "delay %d", i)
			}
			assert.Len(t, h.errs.get(), 1, "error handler called once per call, not per attempt")
		})
	}
}

func TestRetryRecovers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sequence(answer(503, `{"status":"degraded"}`), answer(200, observedHealth)))
	got, err := h.c.Health(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "ok", got.Status)
	assert.Equal(t, 2, h.srv.count())
	assert.Empty(t, h.errs.get())
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 22, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		header string
		want   time.Duration
	}{
		{"seconds", "2", 2 * time.Second},
		{"zero", "0", 0},
		{"date", now.Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second},
		{"past date", now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, sequence(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", tc.header)
				w.WriteHeader(429)
			}, answer(200, observedHealth)))
			h.c.now = func() time.Time { return now }
			_, err := h.c.Health(context.Background())
			require.NoError(t, err)
			assert.Equal(t, []time.Duration{tc.want}, h.sleeps.get())
		})
	}
	t.Run("unreadable header falls back to backoff", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, sequence(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "soon")
			w.WriteHeader(503)
		}, answer(200, observedHealth)), WithRetry(RetryPolicy{MaxRetries: 1, MinDelay: time.Second}))
		_, err := h.c.Health(context.Background())
		require.NoError(t, err)
		d := h.sleeps.get()
		require.Len(t, d, 1)
		assert.InDelta(t, float64(time.Second), float64(d[0]), float64(time.Second/4))
	})
	t.Run("over the cap ends the call at once", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(429)
			io.WriteString(w, `{"error":"slow down"}`)
		}, WithRetry(RetryPolicy{MaxRetries: 5, MaxRetryAfter: time.Minute}))
		_, err := h.c.Health(context.Background())
		var ae *APIError
		require.ErrorAs(t, err, &ae)
		assert.ErrorIs(t, err, ErrRateLimited)
		assert.Equal(t, 120*time.Second, ae.RetryAfter)
		assert.Equal(t, 1, h.srv.count())
		assert.Empty(t, h.sleeps.get())
	})
	t.Run("kept on the last error", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(503)
		}, WithRetry(RetryPolicy{MaxRetries: 1}))
		_, err := h.c.Health(context.Background())
		var ae *APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, time.Second, ae.RetryAfter)
		assert.Equal(t, 2, h.srv.count())
	})
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, v := range []string{"", "-1", "1.5", "tomorrow"} {
		_, ok := parseRetryAfter(v, now)
		assert.False(t, ok, v)
	}
	d, ok := parseRetryAfter("99999999999999999", now)
	assert.True(t, ok)
	assert.Positive(t, d, "huge values saturate instead of overflowing")
}

func TestWhichCallsRetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name  string
		call  func(*Client) error
		retry bool
	}{
		{"CreateConversation", func(c *Client) error {
			_, err := c.CreateConversation(ctx, CreateConversationParams{Type: ConversationPrivate})
			return err
		}, false},
		{"SendControl", func(c *Client) error {
			_, err := c.SendControl(ctx, convID, ControlParams{Event: "cancel"})
			return err
		}, false},
		{"GetConversation", func(c *Client) error { _, err := c.GetConversation(ctx, convID); return err }, true},
		{"ListConversations", func(c *Client) error { _, err := c.ListConversations(ctx); return err }, true},
		{"UpdateConversation", func(c *Client) error {
			_, err := c.UpdateConversation(ctx, convID, UpdateConversationParams{Name: "n"})
			return err
		}, true},
		{"DeleteConversation", func(c *Client) error { return c.DeleteConversation(ctx, convID) }, true},
		{"AddParticipant", func(c *Client) error { _, err := c.AddParticipant(ctx, convID, bob, UserTypeUser); return err }, true},
		{"RemoveParticipant", func(c *Client) error { return c.RemoveParticipant(ctx, convID, bob) }, true},
		{"JoinConversation", func(c *Client) error { _, err := c.JoinConversation(ctx, convID); return err }, true},
		{"LeaveConversation", func(c *Client) error { return c.LeaveConversation(ctx, convID) }, true},
		{"SendMessage", func(c *Client) error {
			_, err := c.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: "x"})
			return err
		}, true},
		{"GetMessages", func(c *Client) error { _, err := c.GetMessages(ctx, convID, GetMessagesParams{}); return err }, true},
		{"Me", func(c *Client) error { _, err := c.Me(ctx); return err }, true},
		{"Health", func(c *Client) error { _, err := c.Health(ctx); return err }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, answer(503, ""))
			err := tc.call(h.c)
			assert.ErrorAs(t, err, new(*APIError))
			want := 1
			if tc.retry {
				want = 1 + defaultMaxRetries
			}
			assert.Equal(t, want, h.srv.count())
		})
	}
}

func TestSendMessageRetriesWithOneID(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sequence(answer(502, ""), answer(504, ""), answer(201, observedMessage)))
	_, err := h.c.SendMessage(context.Background(), SendMessageParams{ConversationID: convID, Content: "hello"})
	require.NoError(t, err)
	reqs := h.srv.requests()
	require.Len(t, reqs, 3)
	var first string
	for i, r := range reqs {
		var b struct{ ID string }
		require.NoError(t, json.Unmarshal(r.Body, &b))
		require.True(t, isUUID(b.ID))
		if i == 0 {
			first = b.ID
		}
		assert.Equal(t, first, b.ID, "attempt %d", i)
	}
	// A second call makes a new id.
	_, err = h.c.SendMessage(context.Background(), SendMessageParams{ConversationID: convID, Content: "hello"})
	require.NoError(t, err)
	var b struct{ ID string }
	require.NoError(t, json.Unmarshal(h.srv.requests()[3].Body, &b))
	assert.NotEqual(t, first, b.ID)
}

func TestMaxRetries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		client   []ClientOption
		req      []RequestOption
		attempts int
	}{
		{"default", nil, nil, 3},
		{"client policy", []ClientOption{WithRetry(RetryPolicy{MaxRetries: 4})}, nil, 5},
		{"client disables", []ClientOption{WithRetry(RetryPolicy{})}, nil, 1},
		{"request overrides", []ClientOption{WithRetry(RetryPolicy{})}, []RequestOption{WithMaxRetries(3)}, 4},
		{"request disables", nil, []RequestOption{WithMaxRetries(0)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, answer(503, ""), tc.client...)
			_, err := h.c.Health(context.Background(), tc.req...)
			require.Error(t, err)
			assert.Equal(t, tc.attempts, h.srv.count())
		})
	}
}

// mockHarness is a client whose transport is httpmock's, for faults that a
// real server cannot produce on demand.
func mockHarness(t *testing.T, opts ...ClientOption) (*Client, *httpmock.MockTransport, *sleepRecorder) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	base := []ClientOption{WithEndpoint("http://messaging.test" + testPrefix), WithToken(testToken), WithHTTPClient(&http.Client{Transport: mt})}
	c, err := NewClient(append(base, opts...)...)
	require.NoError(t, err)
	sr := &sleepRecorder{}
	c.sleep = sr.sleep
	return c, mt, sr
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

var _ net.Error = timeoutError{}

func TestTransportFaults(t *testing.T) {
	t.Parallel()
	healthURL := "http://messaging.test" + testPrefix + "/api/health"
	t.Run("connection reset is retried, then reported without the URL", func(t *testing.T) {
		t.Parallel()
		c, mt, sleeps := mockHarness(t)
		mt.RegisterResponder("GET", healthURL, httpmock.NewErrorResponder(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}))
		_, err := c.Health(context.Background())
		require.Error(t, err)
		assert.ErrorIs(t, err, syscall.ECONNRESET)
		assert.Equal(t, 3, mt.GetTotalCallCount())
		assert.Len(t, sleeps.get(), 2)
		assert.True(t, strings.HasPrefix(err.Error(), "messaging: GET /api/health: "), err.Error())
		assert.NotContains(t, err.Error(), "messaging.test")
		assert.NotContains(t, err.Error(), "http://")
		assert.False(t, errors.As(err, new(*url.Error)))
	})
	t.Run("timeout is retried and stays a net.Error", func(t *testing.T) {
		t.Parallel()
		c, mt, _ := mockHarness(t)
		mt.RegisterResponder("GET", healthURL, httpmock.NewErrorResponder(timeoutError{}))
		_, err := c.Health(context.Background())
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout())
		assert.Equal(t, 3, mt.GetTotalCallCount())
	})
	t.Run("recovers after a reset", func(t *testing.T) {
		t.Parallel()
		c, mt, _ := mockHarness(t)
		mt.RegisterResponder("GET", healthURL,
			httpmock.NewErrorResponder(syscall.ECONNRESET).Then(httpmock.NewStringResponder(200, observedHealth)))
		h, err := c.Health(context.Background())
		require.NoError(t, err)
		assert.Equal(t, "ok", h.Status)
		assert.Equal(t, 2, mt.GetTotalCallCount())
	})
	t.Run("CreateConversation is not retried after a reset", func(t *testing.T) {
		t.Parallel()
		c, mt, _ := mockHarness(t)
		mt.RegisterResponder("POST", "http://messaging.test"+testPrefix+"/api/conversations", httpmock.NewErrorResponder(syscall.ECONNRESET))
		_, err := c.CreateConversation(context.Background(), CreateConversationParams{Type: ConversationPrivate})
		assert.ErrorIs(t, err, syscall.ECONNRESET)
		assert.Equal(t, 1, mt.GetTotalCallCount())
	})
	t.Run("an answer cut short is retried", func(t *testing.T) {
		t.Parallel()
		c, mt, _ := mockHarness(t)
		cut := func(*http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(io.MultiReader(
				strings.NewReader(`{"status":`), iotestErrReader{syscall.ECONNRESET}))}, nil
		}
		mt.RegisterResponder("GET", healthURL, httpmock.Responder(cut).Then(httpmock.NewStringResponder(200, observedHealth)))
		h, err := c.Health(context.Background())
		require.NoError(t, err)
		assert.Equal(t, "ok", h.Status)
		assert.Equal(t, 2, mt.GetTotalCallCount())
	})
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

func TestCancellation(t *testing.T) {
	t.Parallel()
	t.Run("already cancelled", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, answer(200, observedHealth))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := h.c.Health(ctx)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, "messaging: GET /api/health: context canceled", err.Error())
		assert.Zero(t, h.srv.count())
		assert.Empty(t, h.sleeps.get())
	})
	t.Run("during the backoff wait", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, answer(503, ""), WithRetry(RetryPolicy{MaxRetries: 5, MinDelay: time.Hour, MaxDelay: time.Hour}))
		h.c.sleep = backoff.Sleep // the real wait
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err := h.c.Health(ctx)
		assert.ErrorIs(t, err, context.Canceled)
		assert.False(t, errors.As(err, new(*APIError)), "the context's error, not the last answer")
		assert.Less(t, time.Since(start), 10*time.Second)
		assert.Equal(t, 1, h.srv.count())
	})
	t.Run("during a Retry-After wait", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(429)
		})
		h.c.sleep = backoff.Sleep
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := h.c.Health(ctx)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 10*time.Second)
		assert.Equal(t, 1, h.srv.count())
	})
	t.Run("during the request", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := h.c.GetMessages(ctx, convID, GetMessagesParams{})
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, "messaging: GET /api/conversations/"+convID+"/messages: context deadline exceeded", err.Error())
		assert.Equal(t, 1, h.srv.count(), "no retry once the context ended")
		assert.Equal(t, []error{err}, h.errs.get())
	})
}

// TestValidationDoesNoIO: bad input is refused before any request, with an
// error matching ErrInvalidArgument that names the field, reported once to
// the error handler.
func TestValidationDoesNoIO(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var nilCtx context.Context
	cases := []struct {
		name  string
		call  func(*Client) error
		field string
		text  string // part of the reason
	}{
		{"Get empty id", func(c *Client) error { _, err := c.GetConversation(ctx, ""); return err }, "conversationID", "required"},
		{"Get non-UUID id", func(c *Client) error { _, err := c.GetConversation(ctx, "conv-1"); return err }, "conversationID", "UUID"},
		{"Get braced UUID", func(c *Client) error { _, err := c.GetConversation(ctx, "{"+convID+"}"); return err }, "conversationID", "UUID"},
		{"Update bad id", func(c *Client) error {
			_, err := c.UpdateConversation(ctx, "x", UpdateConversationParams{Name: "n"})
			return err
		}, "conversationID", "UUID"},
		{"Delete bad id", func(c *Client) error { return c.DeleteConversation(ctx, "x") }, "conversationID", "UUID"},
		{"Join bad id", func(c *Client) error { _, err := c.JoinConversation(ctx, "x"); return err }, "conversationID", "UUID"},
		{"Leave bad id", func(c *Client) error { return c.LeaveConversation(ctx, "") }, "conversationID", "required"},
		{"Create no type", func(c *Client) error {
			_, err := c.CreateConversation(ctx, CreateConversationParams{Name: "n"})
			return err
		}, "params.Type", "required"},
		{"Create unknown type", func(c *Client) error {
			_, err := c.CreateConversation(ctx, CreateConversationParams{Type: "channel"})
			return err
		}, "params.Type", "channel"},
		{"Create group without name", func(c *Client) error {
			_, err := c.CreateConversation(ctx, CreateConversationParams{Type: ConversationGroup})
			return err
		}, "params.Name", "group"},
		{"Create participant without id", func(c *Client) error {
			_, err := c.CreateConversation(ctx, CreateConversationParams{Type: ConversationPrivate, Participants: []NewParticipant{{}}})
			return err
		}, "params.Participants", "UserID"},
		{"Create participant bad type", func(c *Client) error {
			_, err := c.CreateConversation(ctx, CreateConversationParams{Type: ConversationPrivate, Participants: []NewParticipant{{UserID: "u", UserType: "robot"}}})
			return err
		}, "params.Participants", "robot"},
		{"Create empty participant id", func(c *Client) error {
			_, err := c.CreateConversation(ctx, CreateConversationParams{Type: ConversationPrivate, ParticipantIDs: []string{""}})
			return err
		}, "params.ParticipantIDs", "empty"},
		{"Add bad conversation", func(c *Client) error { _, err := c.AddParticipant(ctx, "x", bob, ""); return err }, "conversationID", "UUID"},
		{"Add empty user", func(c *Client) error { _, err := c.AddParticipant(ctx, convID, "", ""); return err }, "userID", "required"},
		{"Add unknown user type", func(c *Client) error { _, err := c.AddParticipant(ctx, convID, bob, "robot"); return err }, "userType", "robot"},
		{"Remove bad conversation", func(c *Client) error { return c.RemoveParticipant(ctx, "x", bob) }, "conversationID", "UUID"},
		{"Remove non-UUID user", func(c *Client) error { return c.RemoveParticipant(ctx, convID, "agent:test-bot") }, "userID", "UUID"},
		{"Send no conversation", func(c *Client) error {
			_, err := c.SendMessage(ctx, SendMessageParams{Content: "x"})
			return err
		}, "params.ConversationID", "required"},
		{"Send bad conversation", func(c *Client) error {
			_, err := c.SendMessage(ctx, SendMessageParams{ConversationID: "c", Content: "x"})
			return err
		}, "params.ConversationID", "UUID"},
		{"Send empty content", func(c *Client) error {
			_, err := c.SendMessage(ctx, SendMessageParams{ConversationID: convID})
			return err
		}, "params.Content", "empty"},
		{"Send event content type", func(c *Client) error {
			_, err := c.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: "stream.pause", ContentType: "event"})
			return err
		}, "params.ContentType", "SendControl"},
		{"Send unknown priority", func(c *Client) error {
			_, err := c.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: "x", Priority: "urgent"})
			return err
		}, "params.Priority", "urgent"},
		{"Send non-UUID id", func(c *Client) error {
			_, err := c.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: "x", ID: "my-id"})
			return err
		}, "params.ID", "UUID"},
		{"Send non-UUID runId", func(c *Client) error {
			_, err := c.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: "x", RunID: "run-123"})
			return err
		}, "params.RunID", "UUID"},
		{"Send non-UUID replyTo", func(c *Client) error {
			_, err := c.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: "x", ReplyTo: "parent-message-id"})
			return err
		}, "params.ReplyTo", "UUID"},
		{"Send non-UUID preemptedBy", func(c *Client) error {
			_, err := c.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: "x", PreemptedBy: "m"})
			return err
		}, "params.PreemptedBy", "UUID"},
		{"GetMessages bad conversation", func(c *Client) error {
			_, err := c.GetMessages(ctx, "conversation-id", GetMessagesParams{})
			return err
		}, "conversationID", "UUID"},
		{"GetMessages negative limit", func(c *Client) error {
			_, err := c.GetMessages(ctx, convID, GetMessagesParams{Limit: -1})
			return err
		}, "params.Limit", "negative"},
		{"GetMessages before and after", func(c *Client) error {
			_, err := c.GetMessages(ctx, convID, GetMessagesParams{Before: time.Now(), After: time.Now()})
			return err
		}, "params", "not both"},
		{"GetMessages year 10000", func(c *Client) error {
			_, err := c.GetMessages(ctx, convID, GetMessagesParams{Before: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
			return err
		}, "params.Before", "10000"},
		{"GetMessages year 0", func(c *Client) error {
			_, err := c.GetMessages(ctx, convID, GetMessagesParams{After: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)})
			return err
		}, "params.After", "range"},
		{"Control bad conversation", func(c *Client) error {
			_, err := c.SendControl(ctx, "conversation-id", ControlParams{Event: "pause"})
			return err
		}, "conversationID", "UUID"},
		{"Control no event", func(c *Client) error {
			_, err := c.SendControl(ctx, convID, ControlParams{})
			return err
		}, "params.Event", "required"},
		{"Control unknown event", func(c *Client) error {
			_, err := c.SendControl(ctx, convID, ControlParams{Event: "explode"})
			return err
		}, "params.Event", "explode"},
		{"Control unknown stream event", func(c *Client) error {
			_, err := c.SendControl(ctx, convID, ControlParams{Event: "stream.explode"})
			return err
		}, "params.Event", "stream.explode"},
		{"Control socket.io name", func(c *Client) error {
			_, err := c.SendControl(ctx, convID, ControlParams{Event: "disconnect"})
			return err
		}, "params.Event", "disconnect"},
		{"Control non-UUID runId", func(c *Client) error {
			_, err := c.SendControl(ctx, convID, ControlParams{Event: "pause", RunID: "run-123"})
			return err
		}, "params.RunID", "UUID"},
		{"Control non-UUID preemptedBy", func(c *Client) error {
			_, err := c.SendControl(ctx, convID, ControlParams{Event: "preempt", PreemptedBy: "p"})
			return err
		}, "params.PreemptedBy", "UUID"},
		{"Control bad target type", func(c *Client) error {
			_, err := c.SendControl(ctx, convID, ControlParams{Event: "pause", Target: &ControlTarget{PrincipalID: "x", PrincipalType: "robot"}})
			return err
		}, "params.Target.PrincipalType", "robot"},
		{"AsUser empty", func(c *Client) error { _, err := c.Health(ctx, AsUser("")); return err }, "AsUser", "empty"},
		{"WithOrgID empty", func(c *Client) error { _, err := c.ListConversations(ctx, WithOrgID("")); return err }, "WithOrgID", "empty"},
		{"WithHeader Authorization", func(c *Client) error { _, err := c.Health(ctx, WithHeader("authorization", "Bearer x")); return err }, "WithHeader", "WithToken"},
		{"WithHeader X-API-Key", func(c *Client) error { _, err := c.Health(ctx, WithHeader("X-API-Key", "k")); return err }, "WithHeader", "WithAPIKey"},
		{"WithHeader bad name", func(c *Client) error { _, err := c.Health(ctx, WithHeader("a b", "v")); return err }, "WithHeader", "name"},
		{"WithHeader empty name", func(c *Client) error { _, err := c.Health(ctx, WithHeader(" ", "v")); return err }, "WithHeader", "name"},
		{"WithHeader line break", func(c *Client) error { _, err := c.Health(ctx, WithHeader("X-A", "a\r\nX-B: b")); return err }, "WithHeader", "line break"},
		{"WithMaxRetries negative", func(c *Client) error { _, err := c.Health(ctx, WithMaxRetries(-1)); return err }, "WithMaxRetries", "negative"},
		{"nil context", func(c *Client) error { _, err := c.Health(nilCtx); return err }, "ctx", "nil"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			el := &errorLog{}
			hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				t.Errorf("request sent: %s %s", r.Method, r.URL)
				return nil, errors.New("no I/O expected")
			})}
			c, err := NewClient(WithEndpoint("http://messaging.test"), WithHTTPClient(hc), WithErrorHandler(el.handle))
			require.NoError(t, err)
			err = tc.call(c)
			require.ErrorIs(t, err, ErrInvalidArgument)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tc.field, ve.Field)
			assert.Contains(t, err.Error(), tc.text)
			assert.Equal(t, []error{err}, el.get())
		})
	}
}

func TestUserIDsAreNotUUIDChecked(t *testing.T) {
	t.Parallel()
	h := newHarness(t, answer(201, observedConversation))
	_, err := h.c.CreateConversation(context.Background(), CreateConversationParams{
		Type: ConversationPrivate, ParticipantIDs: []string{"assistant:x", "user-2"},
	}, AsUser("agent:bot"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"type":"private","participants":[{"userId":"assistant:x","userType":"user"},{"userId":"user-2","userType":"user"}]}`,
		string(h.srv.requests()[0].Body))
}

func TestNewClient(t *testing.T) {
	t.Run("environment defaults", func(t *testing.T) {
		f := newFakeServer(t, answer(200, observedHealth))
		t.Setenv(EnvEndpoint, f.srv.URL+testPrefix+"/")
		t.Setenv(EnvToken, "env-token")
		t.Setenv(EnvAPIKey, "env-key")
		c, err := NewClient()
		require.NoError(t, err)
		_, err = c.Health(context.Background())
		require.NoError(t, err)
		r := f.requests()[0]
		assert.Equal(t, "/api/health", r.Path)
		assert.Equal(t, "Bearer env-token", r.Header.Get("Authorization"))
		assert.Equal(t, "env-key", r.Header.Get("X-API-Key"))
	})
	t.Run("options win over the environment", func(t *testing.T) {
		f := newFakeServer(t, answer(200, observedHealth))
		t.Setenv(EnvEndpoint, "http://elsewhere.invalid")
		t.Setenv(EnvToken, "env-token")
		t.Setenv(EnvAPIKey, "env-key")
		c, err := NewClient(WithEndpoint(f.srv.URL+testPrefix), WithToken("opt-token"), WithAPIKey(""), WithUserAgent("app/2"))
		require.NoError(t, err)
		_, err = c.Health(context.Background())
		require.NoError(t, err)
		r := f.requests()[0]
		assert.Equal(t, "Bearer opt-token", r.Header.Get("Authorization"))
		assert.NotContains(t, r.Header, "X-Api-Key")
		assert.Equal(t, "app/2", r.Header.Get("User-Agent"))
	})
	t.Run("default endpoint", func(t *testing.T) {
		t.Setenv(EnvEndpoint, "")
		t.Setenv(EnvToken, "")
		t.Setenv(EnvAPIKey, "")
		c, err := NewClient()
		require.NoError(t, err)
		assert.Equal(t, DefaultEndpoint, c.base)
		assert.Equal(t, DefaultRetryPolicy(), c.cfg.retry)
		tok, key := c.credentials()
		assert.Empty(t, tok)
		assert.Empty(t, key)
	})
	t.Run("bad environment endpoint", func(t *testing.T) {
		t.Setenv(EnvEndpoint, "ftp://x")
		_, err := NewClient()
		assert.ErrorIs(t, err, ErrInvalidArgument)
		assert.Contains(t, err.Error(), EnvEndpoint)
		c, err := NewClient(WithEndpoint("https://messaging.example/base"))
		require.NoError(t, err, "an explicit endpoint replaces a bad environment one")
		assert.Equal(t, "https://messaging.example/base", c.base)
	})
	t.Run("bad options", func(t *testing.T) {
		for _, o := range []ClientOption{
			WithEndpoint("localhost:5005"), WithLogger(nil), WithHTTPClient(nil),
			WithRetry(RetryPolicy{MaxRetries: -1}), WithRetry(RetryPolicy{MinDelay: -1}),
			WithRetry(RetryPolicy{MaxDelay: -1}), WithRetry(RetryPolicy{MaxRetryAfter: -1}),
		} {
			_, err := NewClient(o)
			assert.ErrorIs(t, err, ErrInvalidArgument)
		}
	})
	t.Run("retry policy defaults", func(t *testing.T) {
		c, err := NewClient(nil, WithRetry(RetryPolicy{MaxRetries: 7, MinDelay: 10 * time.Second, MaxDelay: time.Second}))
		require.NoError(t, err)
		assert.Equal(t, RetryPolicy{MaxRetries: 7, MinDelay: 10 * time.Second, MaxDelay: 10 * time.Second, MaxRetryAfter: defaultMaxRetryAfter}, c.cfg.retry)
		assert.Equal(t, 10*time.Second, c.backoff.Duration(5), "MaxDelay below MinDelay is raised to it")
	})
	t.Run("uninitialised client", func(t *testing.T) {
		var zero Client
		_, err := zero.Health(context.Background())
		assert.ErrorIs(t, err, errNoClient)
		var nilClient *Client
		_, err = nilClient.Me(context.Background())
		assert.ErrorIs(t, err, errNoClient)
	})
}

func TestCommonConfigCarriesCurrentCredentials(t *testing.T) {
	t.Parallel()
	c, err := NewClient(WithEndpoint("http://messaging.test"), WithToken("a"), WithAPIKey("k"))
	require.NoError(t, err)
	c.SetToken("b")
	cc := c.commonConfig()
	assert.Equal(t, "b", cc.token)
	assert.Equal(t, "k", cc.apiKey)
	assert.Equal(t, "http://messaging.test", cc.endpoint.String())
	c2 := newClientFromConfig(clientConfig{common: cc, retry: DefaultRetryPolicy()})
	tok, _ := c2.credentials()
	assert.Equal(t, "b", tok)
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLoggingKeepsSecretsOut(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newHarness(t, sequence(
		answer(503, `{"error":"warming up"}`),
		answer(401, `{"error":"Authentication required"}`),
	), WithLogger(logger))
	_, err := h.c.SendMessage(context.Background(), SendMessageParams{ConversationID: convID, Content: "top secret content"})
	require.Error(t, err)
	logs := buf.String()
	for _, want := range []string{
		"level=DEBUG msg=\"messaging: request\" method=POST path=/api/conversations/" + convID + "/messages attempt=1",
		"status=503", "status=401", "attempt=2", "duration=",
		"level=INFO msg=\"messaging: retrying\"", "delay=",
	} {
		assert.Contains(t, logs, want)
	}
	for _, secret := range []string{testToken, testAPIKey, "top secret content"} {
		assert.NotContains(t, logs, secret)
		assert.NotContains(t, err.Error(), secret)
	}
}

func TestSetCredentialsWhileRequestsRun(t *testing.T) {
	t.Parallel()
	var seen sync.Map
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Get("Authorization")+"|"+r.Header.Get("X-API-Key"), true)
		answer(200, observedHealth)(w, r)
	})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				_, err := h.c.Health(context.Background())
				assert.NoError(t, err)
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				h.c.SetToken(fmt.Sprintf("t%d", i*100+j))
				h.c.SetAPIKey(fmt.Sprintf("k%d", i*100+j))
			}
		}()
	}
	wg.Wait()
	seen.Range(func(k, _ any) bool {
		s := k.(string)
		assert.True(t, strings.HasPrefix(s, "Bearer "), s)
		return true
	})

	h.c.SetToken("fresh")
	h.c.SetAPIKey("")
	_, err := h.c.Health(context.Background())
	require.NoError(t, err)
	reqs := h.srv.requests()
	last := reqs[len(reqs)-1]
	assert.Equal(t, "Bearer fresh", last.Header.Get("Authorization"))
	assert.NotContains(t, last.Header, "X-Api-Key")
	h.c.SetToken("")
	_, err = h.c.Health(context.Background())
	require.NoError(t, err)
	reqs = h.srv.requests()
	assert.NotContains(t, reqs[len(reqs)-1].Header, "Authorization")
}

func TestTokenChangeReachesRetries(t *testing.T) {
	t.Parallel()
	var h *harness
	h = newHarness(t, sequence(func(w http.ResponseWriter, r *http.Request) {
		h.c.SetToken("rotated")
		w.WriteHeader(503)
	}, answer(200, observedHealth)))
	_, err := h.c.Health(context.Background())
	require.NoError(t, err)
	reqs := h.srv.requests()
	assert.Equal(t, "Bearer "+testToken, reqs[0].Header.Get("Authorization"))
	assert.Equal(t, "Bearer rotated", reqs[1].Header.Get("Authorization"))
}

func TestEncodeFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, answer(200, observedUpdated))
	_, err := h.c.UpdateConversation(context.Background(), convID, UpdateConversationParams{Metadata: map[string]any{"f": func() {}}})
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "params.Metadata", ve.Field)
	assert.Zero(t, h.srv.count())
}

// FuzzErrorText: any error body gives a short, valid UTF-8 text, without
// panicking.
func FuzzErrorText(f *testing.F) {
	for _, s := range []string{
		`{"error":"Conversation not found"}`, `{"message":"Unexpected end of JSON input"}`, `{"error":{"message":"x"}}`,
		expressNotFound, "<pre>unterminated", "\xff\xfe<", strings.Repeat("日本", 200), "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		s := errorText(body)
		if !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8: %q", s)
		}
		var v struct{ Error, Message json.RawMessage }
		isJSONText := json.Unmarshal(body, &v) == nil && (jsonText(v.Error) != "" || jsonText(v.Message) != "")
		if !isJSONText && len(s) > maxErrorText+len("…") {
			t.Fatalf("text of %d bytes", len(s))
		}
	})
}

// FuzzParseRetryAfter: never a negative wait.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "120", "-1", "Sun, 06 Nov 1994 08:49:37 GMT", "99999999999999999999", " 5 "} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d, ok := parseRetryAfter(v, now); d < 0 || (!ok && d != 0) {
			t.Fatalf("parseRetryAfter(%q) = %v, %v", v, d, ok)
		}
	})
}
