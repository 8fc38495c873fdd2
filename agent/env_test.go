package agent_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/agent"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	aliceTok = "alice-token"
	bobTok   = "bob-token"
	agentTok = "agent-token"
	otherTok = "other-agent-token"
	otherID  = "07e40000-0000-4000-8000-000000000004"
	aliceID  = "a11ce000-0000-4000-8000-000000000001"
	bobID    = "b0b00000-0000-4000-8000-000000000002"
	agentID  = "a6e70000-0000-4000-8000-000000000003"
	// wait bounds every wait on a condition: generous, for a loaded machine.
	wait = 20 * time.Second
)

type env struct {
	t   *testing.T
	srv *messagingtest.Server
	ctx context.Context
}

func newEnv(t *testing.T, opts ...messagingtest.Option) *env {
	t.Helper()
	srv := messagingtest.NewServer(opts...)
	t.Cleanup(srv.Close)
	caps := []string{"cap:messaging.interrupt", "cap:messaging.route"}
	srv.AddUser(aliceTok, messagingtest.Principal{ID: aliceID, Name: "alice", Entitlements: caps})
	srv.AddUser(bobTok, messagingtest.Principal{ID: bobID, Name: "bob", Entitlements: caps})
	srv.AddUser(agentTok, messagingtest.Principal{ID: agentID, Type: messaging.UserTypeAgent, AgentID: "agent:test", Entitlements: caps})
	srv.AddUser(otherTok, messagingtest.Principal{ID: otherID, Type: messaging.UserTypeAgent, AgentID: "agent:other"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	t.Cleanup(cancel)
	return &env{t: t, srv: srv, ctx: ctx}
}

func (e *env) client(token string) *messaging.Client {
	e.t.Helper()
	c, err := messaging.NewClient(messaging.WithEndpoint(e.srv.URL()), messaging.WithToken(token),
		messaging.WithHTTPClient(e.srv.Client()))
	require.NoError(e.t, err)
	return c
}

// conv creates a conversation of alice, bob and the agent.
func (e *env) conv(typ messaging.ConversationType) string {
	e.t.Helper()
	params := messaging.CreateConversationParams{
		Type: typ,
		Participants: []messaging.NewParticipant{
			{UserID: agentID, UserType: messaging.UserTypeAgent},
			{UserID: bobID, UserType: messaging.UserTypeUser},
		},
	}
	if typ == messaging.ConversationGroup {
		params.Name = "g"
	}
	c, err := e.client(aliceTok).CreateConversation(e.ctx, params)
	require.NoError(e.t, err)
	return c.ID
}

func (e *env) ask(token, conv, text string) *messaging.Message {
	e.t.Helper()
	m, err := e.client(token).SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: conv, Content: text})
	require.NoError(e.t, err)
	return m
}

// replies returns the agent's stored replies to q.
func (e *env) replies(q *messaging.Message) []messaging.Message {
	var out []messaging.Message
	for _, m := range e.srv.Messages(q.ConversationID) {
		if m.SenderID == agentID && m.ReplyTo == q.ID && m.DeletedAt == nil {
			out = append(out, m)
		}
	}
	return out
}

func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// serving runs an agent server until the test ends.
type serving struct {
	stop     func() // cancels Serve's context and waits for it
	srv      *agent.Server
	finished chan struct{} // closed when Serve returned
	result   error
	ends     chan ended
}

// wait returns what Serve returned.
func (sv *serving) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-sv.finished:
		return sv.result
	case <-time.After(wait):
		t.Fatal("Serve did not return")
		return nil
	}
}

type ended struct {
	t   *agent.Turn
	err error
}

// serve starts a server with h; every ended turn is reported on ends.
func (e *env) serve(h agent.HandlerFunc, opts ...agent.Option) *serving {
	e.t.Helper()
	return e.serveAs(e.client(agentTok), h, opts...)
}

// serveAs starts a server with h on client.
func (e *env) serveAs(client *messaging.Client, h agent.HandlerFunc, opts ...agent.Option) *serving {
	e.t.Helper()
	sv := &serving{finished: make(chan struct{}), ends: make(chan ended, 1000)}
	opts = append([]agent.Option{
		agent.WithDiscoveryInterval(50 * time.Millisecond),
		agent.WithOnTurnEnd(func(t *agent.Turn, err error) { sv.ends <- ended{t, err} }),
		agent.WithSocketOptions(messaging.WithHTTPClient(e.srv.Client()),
			messaging.WithReconnectionDelay(20*time.Millisecond), messaging.WithReconnectionDelayMax(100*time.Millisecond),
			messaging.WithReconnectionAttempts(0)),
	}, opts...)
	srv, err := agent.New(client, h, opts...)
	require.NoError(e.t, err)
	sv.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		sv.result = srv.Serve(ctx)
		close(sv.finished)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-sv.finished:
			case <-time.After(wait):
				e.t.Errorf("Serve did not return")
			}
		})
	}
	e.t.Cleanup(stop)
	sv.stop = stop
	return sv
}

// next returns the next ended turn.
func (sv *serving) next(t *testing.T) ended {
	t.Helper()
	select {
	case x := <-sv.ends:
		return x
	case <-time.After(wait):
		t.Fatal("no turn ended")
		return ended{}
	}
}

// echo answers "re: " + the question.
func echo(ctx context.Context, t *agent.Turn) error {
	_, err := t.Reply().WriteString("re: " + t.Question.Content)
	return err
}
