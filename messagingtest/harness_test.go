package messagingtest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/internal/socketio"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// The principals of the recorded exchanges (docs/PROTOCOL.md), and a few more.
const (
	alice   = "11111111-1111-4111-8111-111111111111"
	bob     = "22222222-2222-4222-8222-222222222222"
	carol   = "33333333-3333-4333-8333-333333333333"
	agent   = "44444444-4444-4444-8444-444444444444" // caps interrupt, route, observe
	intr    = "55555555-5555-4555-8555-555555555555" // agent with cap interrupt only
	root    = "66666666-6666-4666-8666-666666666666" // super admin
	admin   = "77777777-7777-4777-8777-777777777777" // messaging:admin
	orgA    = "99999999-9999-4999-8999-999999999999"
	orgB    = "88888888-8888-4888-8888-888888888888"
	unknown = "00000000-0000-4000-8000-000000000000"
)

// env is a server with the principals registered under tokens named after
// them.
type env struct {
	t   *testing.T
	srv *messagingtest.Server
}

func newEnv(t *testing.T, opts ...messagingtest.Option) *env {
	t.Helper()
	srv := messagingtest.NewServer(opts...)
	t.Cleanup(srv.Close)
	srv.AddUser("alice", messagingtest.Principal{ID: alice, Name: "Alice", Email: "alice@example.com", Orgs: []string{orgA}})
	srv.AddUser("bob", messagingtest.Principal{ID: bob})
	srv.AddUser("carol", messagingtest.Principal{ID: carol, Orgs: []string{orgB}})
	srv.AddUser("agent", messagingtest.Principal{ID: agent, Type: messaging.UserTypeAgent, AgentID: "agent:helper",
		Entitlements: []string{"cap:messaging.interrupt", "cap:messaging.route", "cap:messaging.observe"}})
	srv.AddUser("intr", messagingtest.Principal{ID: intr, Type: messaging.UserTypeAgent, Entitlements: []string{"cap:messaging.interrupt"}})
	srv.AddUser("root", messagingtest.Principal{ID: root, SuperAdmin: true})
	srv.AddUser("admin", messagingtest.Principal{ID: admin, Entitlements: []string{"messaging:admin"}, AdminOrgs: []string{orgA}})
	return &env{t: t, srv: srv}
}

// reply is a REST answer.
type reply struct {
	status int
	body   string
	header http.Header
}

func (r reply) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(r.body), v), r.body)
}

// field returns a top-level string field of a JSON object reply.
func (r reply) field(t *testing.T, key string) string {
	t.Helper()
	var m map[string]any
	r.json(t, &m)
	s, _ := m[key].(string)
	return s
}

// do sends a request with token as Bearer (none when empty) and body as
// JSON (none when empty).
func (e *env) do(method, path, token, body string, hdr ...string) reply {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL()+path, rd)
	require.NoError(e.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return reply{status: resp.StatusCode, body: string(b), header: resp.Header}
}

func (e *env) expect(r reply, status int, body string) {
	e.t.Helper()
	require.Equal(e.t, status, r.status, r.body)
	if body != "" {
		require.JSONEq(e.t, body, r.body)
	}
}

// group creates a group conversation owned by token's principal with the
// other user ids as members, and returns its id.
func (e *env) group(token string, members ...string) string {
	e.t.Helper()
	ps := make([]string, len(members))
	for i, m := range members {
		ps[i] = `{"userId":"` + m + `"}`
	}
	r := e.do("POST", "/api/conversations", token, `{"type":"group","name":"g","participants":[`+strings.Join(ps, ",")+`]}`)
	require.Equal(e.t, 201, r.status, r.body)
	return r.field(e.t, "id")
}

// send posts a message and returns its id.
func (e *env) send(token, conv, content string) string {
	e.t.Helper()
	r := e.do("POST", "/api/conversations/"+conv+"/messages", token, `{"content":`+quote(content)+`}`)
	require.Equal(e.t, 201, r.status, r.body)
	return r.field(e.t, "id")
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

var (
	tsRE   = regexp.MustCompile(`"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"`)
	uuidRE = regexp.MustCompile(`"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"`)
)

// shape replaces the volatile parts of a JSON text: timestamps by "TS",
// the ids named in names by their names, other UUIDs by "UUID". Key order
// and nulls stay, so it compares the wire form byte for byte.
func shape(body string, names map[string]string) string {
	body = tsRE.ReplaceAllString(body, `"TS"`)
	return uuidRE.ReplaceAllStringFunc(body, func(s string) string {
		if n, ok := names[strings.Trim(s, `"`)]; ok {
			return `"` + n + `"`
		}
		return `"UUID"`
	})
}

var ids = map[string]string{alice: "ALICE", bob: "BOB", carol: "CAROL", agent: "AGENT", intr: "INTR", root: "ROOT", admin: "ADMIN", orgA: "ORGA", orgB: "ORGB", unknown: "UNKNOWN"}

func names(extra ...string) map[string]string {
	m := make(map[string]string, len(ids)+len(extra)/2)
	for k, v := range ids {
		m[k] = v
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

// ---- sockets ----

type event struct {
	name string
	args []json.RawMessage
}

// sock is a test client socket that records every event it receives.
type sock struct {
	t *testing.T
	c *socketio.Client

	mu     sync.Mutex
	events []event
	notify chan struct{}
}

// dial connects with auth as the CONNECT payload (e.g. {"token":"alice"}).
func (e *env) dial(auth any, opts ...func(*socketio.ClientOptions)) *sock {
	e.t.Helper()
	s, err := e.tryDial(auth, opts...)
	require.NoError(e.t, err)
	return s
}

func (e *env) tryDial(auth any, opts ...func(*socketio.ClientOptions)) (*sock, error) {
	s := &sock{t: e.t, notify: make(chan struct{}, 1)}
	o := socketio.ClientOptions{
		Auth: func(context.Context) (any, error) { return auth, nil },
		OnEvent: func(name string, args []json.RawMessage) {
			s.mu.Lock()
			s.events = append(s.events, event{name, args})
			s.mu.Unlock()
			select {
			case s.notify <- struct{}{}:
			default:
			}
		},
	}
	for _, f := range opts {
		f(&o)
	}
	s.c = socketio.NewClient(e.srv.URL(), o)
	e.t.Cleanup(func() { _ = s.c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.c.Connect(ctx); err != nil {
		return s, err
	}
	// The server announces a new socket (participant:online) just after its
	// CONNECT reply; a round trip makes sure it did before the test goes on,
	// so that a socket dialled next does not see this one's announcement.
	_, err := s.c.EmitWithAck(ctx, "watch:conversation", "sync")
	return s, err
}

func (e *env) dialAs(token string) *sock {
	e.t.Helper()
	return e.dial(map[string]string{"token": token})
}

// ack emits event and returns the ack's first argument.
func (s *sock) ack(event string, args ...any) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := s.c.EmitWithAck(ctx, event, args...)
	require.NoError(s.t, err)
	require.Len(s.t, res, 1)
	return string(res[0])
}

func (s *sock) emit(event string, args ...any) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(s.t, s.c.Emit(ctx, event, args...))
}

// sync makes a round trip: every event the server queued for this socket
// before the call has arrived when it returns, and every event this socket
// sent before has been handled.
func (s *sock) sync() {
	s.t.Helper()
	s.ack("watch:conversation", "sync")
}

// take waits for the next event called name and removes it (and every
// event before it) from the record.
func (s *sock) take(name string) string {
	s.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		s.mu.Lock()
		for i, ev := range s.events {
			if ev.name == name {
				s.events = s.events[i+1:]
				s.mu.Unlock()
				require.NotEmpty(s.t, ev.args, "event %s without payload", name)
				return string(ev.args[0])
			}
		}
		s.mu.Unlock()
		select {
		case <-s.notify:
		case <-deadline:
			s.t.Fatalf("no %s event; have %v", name, s.names())
		}
	}
}

// count returns how many events called name are recorded.
func (s *sock) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ev := range s.events {
		if ev.name == name {
			n++
		}
	}
	return n
}

func (s *sock) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, ev := range s.events {
		out = append(out, ev.name)
	}
	return out
}

// none asserts that no event called name is recorded (call sync first).
func (s *sock) none(name string) {
	s.t.Helper()
	require.Zero(s.t, s.count(name), "unexpected %s; have %v", name, s.names())
}
