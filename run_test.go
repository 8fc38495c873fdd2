package messaging_test

// Tests of Run against messagingtest: an agent's run steered by the
// control events of another client.

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// The principals of the run, stream, chunk and tracker tests: a user who
// may send every control event, an agent who may too, and a plain user.
const (
	rtUserID    = "a1a1a1a1-0000-4000-8000-000000000001"
	rtAgentID   = "a1a1a1a1-0000-4000-8000-000000000002"
	rtPeerID    = "a1a1a1a1-0000-4000-8000-000000000003"
	rtAgentName = "agent:writer"

	rtUserTok  = "rt-user-token"
	rtAgentTok = "rt-agent-token"
	rtPeerTok  = "rt-peer-token"
)

// rtWait bounds every wait for something that must happen: it only lasts
// that long when the test fails.
const rtWait = 10 * time.Second

// rtEnv is a service with the three principals and a group conversation
// of all three (the user owns it).
type rtEnv struct {
	t    testing.TB
	srv  *messagingtest.Server
	conv string
	ctx  context.Context
}

func newRTEnv(t testing.TB) *rtEnv {
	t.Helper()
	srv := messagingtest.NewServer()
	t.Cleanup(srv.Close)
	caps := []string{"cap:messaging.interrupt", "cap:messaging.route"}
	srv.AddUser(rtUserTok, messagingtest.Principal{ID: rtUserID, Entitlements: caps})
	srv.AddUser(rtAgentTok, messagingtest.Principal{ID: rtAgentID, Type: messaging.UserTypeAgent, AgentID: rtAgentName, Entitlements: caps})
	srv.AddUser(rtPeerTok, messagingtest.Principal{ID: rtPeerID})
	ctx, cancel := context.WithTimeout(context.Background(), 3*rtWait)
	t.Cleanup(cancel)
	e := &rtEnv{t: t, srv: srv, ctx: ctx}
	e.conv = e.group()
	return e
}

// group creates another conversation of the three.
func (e *rtEnv) group() string {
	e.t.Helper()
	c, err := e.client(rtUserTok).CreateConversation(e.ctx, messaging.CreateConversationParams{
		Type: messaging.ConversationGroup, Name: "rt",
		Participants: []messaging.NewParticipant{
			{UserID: rtAgentID, UserType: messaging.UserTypeAgent},
			{UserID: rtPeerID, UserType: messaging.UserTypeUser},
		},
	})
	require.NoError(e.t, err)
	return c.ID
}

func (e *rtEnv) client(token string) *messaging.Client {
	e.t.Helper()
	c, err := messaging.NewClient(messaging.WithEndpoint(e.srv.URL()), messaging.WithToken(token),
		messaging.WithHTTPClient(e.srv.Client()))
	require.NoError(e.t, err)
	return c
}

// socket makes a socket for token, closed at cleanup.
func (e *rtEnv) socket(token string) *messaging.Socket {
	e.t.Helper()
	s, err := messaging.NewSocket(messaging.WithEndpoint(e.srv.URL()), messaging.WithToken(token),
		messaging.WithHTTPClient(e.srv.Client()),
		messaging.WithReconnectionDelay(20*time.Millisecond), messaging.WithReconnectionDelayMax(100*time.Millisecond),
		messaging.WithReconnectionAttempts(0))
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = s.Close() })
	return s
}

func (e *rtEnv) connect(token string) *messaging.Socket {
	e.t.Helper()
	s := e.socket(token)
	require.NoError(e.t, s.Connect(e.ctx))
	return s
}

// control sends a control event to the test's conversation over s.
func (e *rtEnv) control(s *messaging.Socket, p messaging.ControlParams) {
	e.t.Helper()
	_, err := s.SendControl(e.ctx, e.conv, p)
	require.NoError(e.t, err)
}

// stored returns the message as the service stores it.
func (e *rtEnv) stored(id string) messaging.Message {
	e.t.Helper()
	for _, m := range e.srv.Messages(e.conv) {
		if m.ID == id {
			return m
		}
	}
	e.t.Fatalf("message %s is not stored", id)
	return messaging.Message{}
}

// changes forwards a run's changes to a channel.
func changes(r *messaging.Run) <-chan messaging.RunStateChange {
	ch := make(chan messaging.RunStateChange, 1000)
	r.OnStateChange(func(c messaging.RunStateChange) { ch <- c })
	return ch
}

func rtRecv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(rtWait):
		var zero T
		t.Fatalf("timed out waiting for a %T", zero)
		return zero
	}
}

// eventually polls cond until it holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(rtWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRunChecksItsInput(t *testing.T) {
	e := newRTEnv(t)
	s := e.socket(rtAgentTok) // not connected: nothing here needs the connection
	none := messaging.WithRunPrincipal()
	for _, tc := range []struct {
		name, conv, run, field string
		opts                   []messaging.RunOption
	}{
		{"run id not a UUID", e.conv, "run-1", "runID", nil},
		{"conversation not a UUID", "general", "", "conversationID", nil},
		{"no conversation", "", "", "conversationID", nil},
		{"unknown priority", e.conv, "", "WithRunPriority", []messaging.RunOption{messaging.WithRunPriority("urgent")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Run(e.ctx, tc.conv, tc.run, append(tc.opts, none)...)
			require.ErrorIs(t, err, messaging.ErrInvalidArgument)
			var ve *messaging.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tc.field, ve.Field)
		})
	}
	var nilCtx context.Context
	_, err := s.Run(nilCtx, e.conv, "", none)
	require.ErrorIs(t, err, messaging.ErrInvalidArgument)

	r, err := s.Run(e.ctx, e.conv, "", none)
	require.NoError(t, err)
	defer r.End()
	assert.Len(t, r.ID(), 36, "a new UUID")
	assert.Len(t, r.TraceID(), 36, "a new trace id")
	assert.Equal(t, e.conv, r.ConversationID())
	assert.Equal(t, messaging.RunRunning, r.State())
	assert.Equal(t, messaging.PriorityNormal, r.Priority())
	assert.NoError(t, r.Err())
	assert.NoError(t, r.Wait(e.ctx), "Wait returns at once while running")

	// A run made with the socket's credentials learns its principal; a
	// socket the service refuses cannot.
	bad, err := messaging.NewSocket(messaging.WithEndpoint(e.srv.URL()), messaging.WithToken("nobody"),
		messaging.WithHTTPClient(e.srv.Client()))
	require.NoError(t, err)
	defer bad.Close()
	_, err = bad.Run(e.ctx, e.conv, "")
	require.ErrorIs(t, err, messaging.ErrUnauthorized)
}

func TestRunStateNames(t *testing.T) {
	for st, name := range map[messaging.RunState]string{
		messaging.RunRunning: "running", messaging.RunPaused: "paused", messaging.RunPreempted: "preempted",
		messaging.RunHandedOff: "handed off", messaging.RunCancelled: "cancelled", messaging.RunDone: "done",
		messaging.RunState(0): "RunState(0)",
	} {
		assert.Equal(t, name, st.String())
		assert.Equal(t, st >= messaging.RunPreempted, st.Ended(), name)
	}
}

func TestRunPauseResumeAndWait(t *testing.T) {
	e := newRTEnv(t)
	agent := e.connect(rtAgentTok)
	user := e.connect(rtUserTok)
	r, err := agent.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal())
	require.NoError(t, err)
	defer r.End()
	ch := changes(r)

	e.control(user, messaging.ControlParams{Event: "pause", RunID: r.ID()})
	c := rtRecv(t, ch)
	assert.Equal(t, messaging.RunRunning, c.Previous)
	assert.Equal(t, messaging.RunPaused, c.Current)
	require.NotNil(t, c.Event)
	assert.Equal(t, messaging.StreamPause, c.Event.Event)
	assert.Equal(t, messaging.RunPaused, r.State())
	assert.NoError(t, r.Context().Err(), "a pause does not end the run")

	short, cancel := context.WithTimeout(e.ctx, 30*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, r.Wait(short), context.DeadlineExceeded)

	waited := make(chan error, 1)
	go func() { waited <- r.Wait(e.ctx) }()
	sent := make(chan error, 1)
	go func() {
		_, err := r.SendMessage(e.ctx, messaging.SendMessageParams{Content: "after the pause"})
		sent <- err
	}()
	select {
	case err := <-waited:
		t.Fatalf("Wait returned %v while paused", err)
	case err := <-sent:
		t.Fatalf("SendMessage returned %v while paused", err)
	case <-time.After(50 * time.Millisecond):
	}
	assert.Empty(t, messagesWithContent(e, "after the pause"), "nothing is sent while paused")

	e.control(user, messaging.ControlParams{Event: "stream.resume", RunID: r.ID()})
	require.NoError(t, rtRecv(t, waited))
	require.NoError(t, rtRecv(t, sent))
	c = rtRecv(t, ch)
	assert.Equal(t, messaging.RunPaused, c.Previous)
	assert.Equal(t, messaging.RunRunning, c.Current)
	assert.Len(t, messagesWithContent(e, "after the pause"), 1)

	// A resume while running and a second pause change nothing more.
	e.control(user, messaging.ControlParams{Event: "resume", RunID: r.ID()})
	e.control(user, messaging.ControlParams{Event: "priority", Reason: "high", RunID: r.ID()}) // barrier
	c = rtRecv(t, ch)
	assert.Equal(t, messaging.RunRunning, c.Current)
	assert.Equal(t, messaging.PriorityHigh, c.Priority)
}

func messagesWithContent(e *rtEnv, content string) []messaging.Message {
	var out []messaging.Message
	for _, m := range e.srv.Messages(e.conv) {
		if m.Content == content {
			out = append(out, m)
		}
	}
	return out
}

func TestRunCancelledByRunIDOrTarget(t *testing.T) {
	e := newRTEnv(t)
	other := e.group() // before connecting: the service joins the rooms at connect time
	agent := e.connect(rtAgentTok)
	user := e.connect(rtUserTok)

	// r1 and r2 learn their principal from the service; r3 obeys only its
	// run id.
	r1, err := agent.Run(e.ctx, e.conv, "")
	require.NoError(t, err)
	defer r1.End()
	r2, err := agent.Run(e.ctx, e.conv, "")
	require.NoError(t, err)
	defer r2.End()
	r3, err := agent.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal())
	require.NoError(t, err)
	defer r3.End()
	ch3 := changes(r3)

	// Not for them: another run id, another conversation, another
	// principal, a handoff whose target is the agent (it hands over TO
	// the agent).
	e.control(user, messaging.ControlParams{Event: "cancel", RunID: "0d6f6a0e-1111-4111-8111-111111111111"})
	_, err = user.SendControl(e.ctx, other, messaging.ControlParams{Event: "cancel", RunID: r1.ID()})
	require.NoError(t, err)
	e.control(user, messaging.ControlParams{Event: "cancel", Target: &messaging.ControlTarget{PrincipalID: rtPeerID}})
	e.control(user, messaging.ControlParams{Event: "handoff",
		Target: &messaging.ControlTarget{PrincipalID: rtAgentID, PrincipalType: messaging.UserTypeAgent}})
	// Barrier: an event for r3 after those.
	e.control(user, messaging.ControlParams{Event: "priority", Reason: "low", RunID: r3.ID()})
	assert.Equal(t, messaging.PriorityLow, rtRecv(t, ch3).Priority)
	for _, r := range []*messaging.Run{r1, r2, r3} {
		assert.Equal(t, messaging.RunRunning, r.State())
	}

	// A cancel addressed to the agent by its agent id, as the web console
	// sends it, cancels every run of the agent that knows its principal.
	e.control(user, messaging.ControlParams{Event: "cancel", Reason: "user left",
		Target: &messaging.ControlTarget{PrincipalID: rtAgentName, PrincipalType: messaging.UserTypeAgent}})
	for _, r := range []*messaging.Run{r1, r2} {
		select {
		case <-r.Context().Done():
		case <-time.After(rtWait):
			t.Fatal("the run context was not cancelled")
		}
		cause := context.Cause(r.Context())
		require.ErrorIs(t, cause, messaging.ErrRunCancelled)
		assert.NotErrorIs(t, cause, messaging.ErrRunPreempted)
		var rs *messaging.RunStoppedError
		require.ErrorAs(t, cause, &rs)
		assert.Equal(t, messaging.StreamCancel, rs.Event)
		assert.Equal(t, "user left", rs.Reason)
		assert.Equal(t, r.ID(), rs.RunID)
		assert.Equal(t, messaging.RunCancelled, r.State())
		assert.Equal(t, cause, r.Err())
		assert.ErrorIs(t, r.Wait(e.ctx), messaging.ErrRunCancelled)
		_, err := r.SendMessage(e.ctx, messaging.SendMessageParams{Content: "too late"})
		assert.ErrorIs(t, err, messaging.ErrRunCancelled)
	}
	// r3 knows no principal, so the cancel is not for it; by run id, a
	// bare-string target is irrelevant.
	e.control(user, messaging.ControlParams{Event: "cancel", RunID: r3.ID(), Target: &messaging.ControlTarget{PrincipalID: rtPeerID}})
	c := rtRecv(t, ch3)
	assert.Equal(t, messaging.RunRunning, c.Previous, "r3 was running until its own cancel")
	assert.Equal(t, messaging.RunCancelled, c.Current)
	assert.ErrorIs(t, c.Err, messaging.ErrRunCancelled)
	assert.Empty(t, messagesWithContent(e, "too late"))
}

func TestRunTargetAsBareString(t *testing.T) {
	e := newRTEnv(t)
	agent := e.connect(rtAgentTok)
	user := e.connect(rtUserTok)
	r, err := agent.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal(rtAgentID))
	require.NoError(t, err)
	defer r.End()
	e.control(user, messaging.ControlParams{Event: "preempt", Target: &messaging.ControlTarget{PrincipalID: rtAgentID}})
	<-r.Context().Done()
	assert.ErrorIs(t, context.Cause(r.Context()), messaging.ErrRunPreempted)
	assert.Equal(t, messaging.RunPreempted, r.State())
}

func TestRunHandoffAndRoute(t *testing.T) {
	e := newRTEnv(t)
	agent := e.connect(rtAgentTok)
	user := e.connect(rtUserTok)
	for _, ev := range []messaging.ControlEventName{messaging.StreamHandoff, messaging.StreamRoute} {
		t.Run(ev.Short(), func(t *testing.T) {
			r, err := agent.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal())
			require.NoError(t, err)
			defer r.End()
			ch := changes(r)
			target := &messaging.ControlTarget{PrincipalID: "agent:billing", PrincipalType: messaging.UserTypeAgent}
			e.control(user, messaging.ControlParams{Event: string(ev), RunID: r.ID(), Target: target, Reason: "billing question"})
			c := rtRecv(t, ch)
			assert.Equal(t, messaging.RunHandedOff, c.Current)
			require.ErrorIs(t, c.Err, messaging.ErrRunHandedOff)
			var rs *messaging.RunStoppedError
			require.ErrorAs(t, context.Cause(r.Context()), &rs)
			assert.Equal(t, ev, rs.Event)
			assert.Equal(t, target, rs.Target)
			assert.Equal(t, "billing question", rs.Reason)
			assert.Contains(t, rs.Error(), "handed off to agent:billing")
			assert.Equal(t, messaging.RunHandedOff, r.State())
		})
	}
}

func TestRunMessagesCarryItsIDs(t *testing.T) {
	e := newRTEnv(t)
	agent := e.connect(rtAgentTok)
	user := e.connect(rtUserTok)
	r, err := agent.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal(),
		messaging.WithRunTraceID("trace-42"), messaging.WithRunPriority(messaging.PriorityLow))
	require.NoError(t, err)
	defer r.End()
	ch := changes(r)

	m, err := r.SendMessage(e.ctx, messaging.SendMessageParams{Content: "working on it"})
	require.NoError(t, err)
	got := e.stored(m.ID)
	assert.Equal(t, r.ID(), got.RunID)
	assert.Equal(t, "trace-42", got.TraceID)
	assert.Equal(t, messaging.PriorityLow, got.Priority)

	e.control(user, messaging.ControlParams{Event: "priority", Reason: "critical", RunID: r.ID()})
	c := rtRecv(t, ch)
	assert.Equal(t, c.Previous, c.Current, "a priority change alone")
	assert.Equal(t, messaging.PriorityCritical, c.Priority)
	assert.Equal(t, messaging.PriorityCritical, r.Priority())
	m, err = r.SendMessage(e.ctx, messaging.SendMessageParams{Content: "urgent now"})
	require.NoError(t, err)
	assert.Equal(t, messaging.PriorityCritical, e.stored(m.ID).Priority)
	m, err = r.SendMessage(e.ctx, messaging.SendMessageParams{Content: "my own", Priority: messaging.PriorityHigh})
	require.NoError(t, err)
	assert.Equal(t, messaging.PriorityHigh, e.stored(m.ID).Priority)

	_, err = r.SendMessage(e.ctx, messaging.SendMessageParams{Content: "x", RunID: "0d6f6a0e-1111-4111-8111-111111111111"})
	assert.ErrorIs(t, err, messaging.ErrInvalidArgument)
	_, err = r.SendMessage(e.ctx, messaging.SendMessageParams{Content: "x", ConversationID: e.group()})
	assert.ErrorIs(t, err, messaging.ErrInvalidArgument)
}

func TestRunEnds(t *testing.T) {
	e := newRTEnv(t)
	agent := e.connect(rtAgentTok)

	t.Run("End", func(t *testing.T) {
		r, err := agent.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal())
		require.NoError(t, err)
		ch := changes(r)
		r.End()
		r.End()
		c := rtRecv(t, ch)
		assert.Equal(t, messaging.RunDone, c.Current)
		assert.Nil(t, c.Event)
		assert.ErrorIs(t, r.Err(), messaging.ErrRunEnded)
		assert.ErrorIs(t, context.Cause(r.Context()), messaging.ErrRunEnded)
		_, err = r.Stream(e.ctx, messaging.StreamParams{})
		assert.ErrorIs(t, err, messaging.ErrRunEnded)
		select {
		case c := <-ch:
			t.Fatalf("a second change: %+v", c)
		default:
		}
	})
	t.Run("parent context", func(t *testing.T) {
		parent, cancel := context.WithCancelCause(e.ctx)
		r, err := agent.Run(parent, e.conv, "", messaging.WithRunPrincipal())
		require.NoError(t, err)
		defer r.End()
		ch := changes(r)
		boom := errors.New("shutting down")
		cancel(boom)
		c := rtRecv(t, ch)
		assert.Equal(t, messaging.RunCancelled, c.Current)
		assert.Equal(t, boom, c.Err)
		assert.Equal(t, boom, r.Err())
	})
	t.Run("parent context ended before", func(t *testing.T) {
		parent, cancel := context.WithCancel(e.ctx)
		cancel()
		r, err := agent.Run(parent, e.conv, "", messaging.WithRunPrincipal())
		require.NoError(t, err)
		eventually(t, "the run is cancelled", func() bool { return r.State() == messaging.RunCancelled })
		assert.ErrorIs(t, r.Err(), context.Canceled)
	})
	t.Run("socket closed", func(t *testing.T) {
		s := e.connect(rtAgentTok)
		r, err := s.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal())
		require.NoError(t, err)
		defer r.End()
		require.NoError(t, s.Close())
		eventually(t, "the run is cancelled", func() bool { return r.State() == messaging.RunCancelled })
		assert.ErrorIs(t, r.Err(), messaging.ErrClosed)
		_, err = s.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal())
		assert.ErrorIs(t, err, messaging.ErrClosed)
	})
}

// The project's style: no package-level mutable state. The files of runs, streams,
// chunks and trackers declare no package-level variable but sentinel
// errors: what they keep lives on a Socket, a Run or a tracker.
func TestRunFilesKeepNoPackageState(t *testing.T) {
	isError := func(e ast.Expr) bool {
		call, ok := e.(*ast.CallExpr)
		if !ok {
			return false
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return false
		}
		pkg, ok := sel.X.(*ast.Ident)
		return ok && (pkg.Name == "errors" && sel.Sel.Name == "New" || pkg.Name == "fmt" && sel.Sel.Name == "Errorf")
	}
	fset := token.NewFileSet()
	for _, name := range []string{"run.go", "stream.go", "chunks.go", "trackers.go"} {
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) && isError(vs.Values[i]) {
						continue
					}
					t.Errorf("%s: package-level variable %s: keep state on a value (the project's style)", fset.Position(n.Pos()), n.Name)
				}
			}
		}
	}
}
