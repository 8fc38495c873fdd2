package messaging_test

// Tests of agent activity (Run.StartToolCall, StartTask, SetStatus,
// Socket.OnActivity, ActivityTracker) against messagingtest.

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"

	"github.com/symbia-labs/messaging-go/internal/netfault"
)

const (
	acAgentID  = "ac000000-0000-4000-8000-000000000001"
	acUserID   = "ac000000-0000-4000-8000-000000000002"
	acAgentTok = "ac-agent-token"
	acUserTok  = "ac-user-token"
	acWait     = 10 * time.Second
)

type acEnv struct {
	t    *testing.T
	srv  *messagingtest.Server
	ctx  context.Context
	conv string
}

func newACEnv(t *testing.T) *acEnv {
	t.Helper()
	srv := messagingtest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddUser(acAgentTok, messagingtest.Principal{ID: acAgentID, Type: messaging.UserTypeAgent, AgentID: "agent:acts",
		Entitlements: []string{"cap:messaging.interrupt", "cap:messaging.route"}})
	srv.AddUser(acUserTok, messagingtest.Principal{ID: acUserID})
	ctx, cancel := context.WithTimeout(context.Background(), 3*acWait)
	t.Cleanup(cancel)
	e := &acEnv{t: t, srv: srv, ctx: ctx}
	c, err := e.client(acUserTok).CreateConversation(ctx, messaging.CreateConversationParams{
		Type: messaging.ConversationGroup, Name: "acts",
		Participants: []messaging.NewParticipant{{UserID: acAgentID, UserType: messaging.UserTypeAgent}},
	})
	require.NoError(t, err)
	e.conv = c.ID
	return e
}

func (e *acEnv) client(token string) *messaging.Client {
	e.t.Helper()
	c, err := messaging.NewClient(messaging.WithEndpoint(e.srv.URL()), messaging.WithToken(token),
		messaging.WithHTTPClient(e.srv.Client()))
	require.NoError(e.t, err)
	return c
}

func (e *acEnv) connect(token string, hc *http.Client, opts ...messaging.SocketOption) *messaging.Socket {
	e.t.Helper()
	if hc == nil {
		hc = e.srv.Client()
	}
	opts = append([]messaging.SocketOption{messaging.WithEndpoint(e.srv.URL()), messaging.WithToken(token),
		messaging.WithHTTPClient(hc), messaging.WithReconnectionDelay(20 * time.Millisecond),
		messaging.WithReconnectionDelayMax(100 * time.Millisecond)}, opts...)
	s, err := messaging.NewSocket(opts...)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = s.Close() })
	require.NoError(e.t, s.Connect(e.ctx))
	return s
}

func (e *acEnv) run(s *messaging.Socket) *messaging.Run {
	e.t.Helper()
	r, err := s.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal(acAgentID))
	require.NoError(e.t, err)
	e.t.Cleanup(r.End)
	return r
}

// stored returns the activity record as the service stores it.
func (e *acEnv) stored(id string) messaging.ActivityRecord {
	e.t.Helper()
	for _, m := range e.srv.Messages(e.conv) {
		if m.ID == id {
			r, err := messaging.DecodeActivity(&m)
			require.NoError(e.t, err)
			return r
		}
	}
	e.t.Fatalf("activity %s is not stored", id)
	return messaging.ActivityRecord{}
}

// events collects activity events.
type acEvents struct {
	ch chan messaging.ActivityEvent
}

func newACEvents() *acEvents { return &acEvents{ch: make(chan messaging.ActivityEvent, 1000)} }

func (a *acEvents) add(e messaging.ActivityEvent) { a.ch <- e }

// next waits for the next event of type typ (skipping others), and returns it.
func (a *acEvents) next(t *testing.T, typ messaging.ActivityEventType) messaging.ActivityEvent {
	t.Helper()
	return a.nextOf(t, typ)
}

// nextOf waits for the next event of one of the types (skipping others).
func (a *acEvents) nextOf(t *testing.T, types ...messaging.ActivityEventType) messaging.ActivityEvent {
	t.Helper()
	deadline := time.After(acWait)
	for {
		select {
		case e := <-a.ch:
			if slices.Contains(types, e.Type) {
				return e
			}
		case <-deadline:
			t.Fatalf("no %v event within %v", types, acWait)
		}
	}
}

func TestActivityToolCallStartProgressComplete(t *testing.T) {
	e := newACEnv(t)
	agent := e.connect(acAgentTok, nil)
	user := e.connect(acUserTok, nil)
	raw, tracked := newACEvents(), newACEvents()
	user.OnActivity(raw.add)
	tr := messaging.NewActivityTracker(user)
	defer tr.Close()
	tr.OnChange(tracked.add)

	run := e.run(agent)
	q, err := e.client(acUserTok).SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: e.conv, Content: "flights to Paris?"})
	require.NoError(t, err)
	call, err := run.StartToolCall(e.ctx, messaging.ToolCallParams{Name: "flight_search",
		Parameters: map[string]string{"origin": "NYC", "destination": "PAR"}, ReplyTo: q.ID})
	require.NoError(t, err)

	start := raw.next(t, messaging.ToolCallStart).Record
	assert.Equal(t, call.ID(), start.ID)
	assert.Equal(t, "flight_search", start.Name)
	assert.Equal(t, run.ID(), start.RunID)
	assert.Equal(t, q.ID, start.ReplyTo)
	assert.JSONEq(t, `{"origin":"NYC","destination":"PAR"}`, string(start.Parameters))
	tracked.next(t, messaging.ToolCallStart)
	require.Len(t, tr.Activities(e.conv), 1)

	require.NoError(t, call.Progress(e.ctx, 0.75, "Searching for return flights..."))
	p := tracked.next(t, messaging.ToolCallProgress).Record
	assert.Equal(t, 0.75, p.Progress)
	assert.Equal(t, "Searching for return flights...", p.Message)
	assert.Equal(t, 0.75, tr.Activities(e.conv)[0].Progress)

	require.NoError(t, call.Complete(e.ctx, map[string]int{"flights_found": 25}))
	c := tracked.next(t, messaging.ToolCallComplete).Record
	assert.JSONEq(t, `{"flights_found":25}`, string(c.Result))
	assert.Equal(t, 1.0, c.Progress)
	raw.next(t, messaging.ToolCallComplete)
	assert.Empty(t, tr.Activities(e.conv))
	assert.Equal(t, messaging.ActivityCompleted, e.stored(call.ID()).State)

	assert.ErrorIs(t, call.Progress(e.ctx, 0.9, ""), messaging.ErrActivityFinished)
	assert.ErrorIs(t, call.Complete(e.ctx, nil), messaging.ErrActivityFinished)
	assert.ErrorIs(t, call.Progress(e.ctx, 1.5, ""), messaging.ErrInvalidArgument)
}

func TestActivityTaskFailsAndStatus(t *testing.T) {
	e := newACEnv(t)
	agent := e.connect(acAgentTok, nil)
	user := e.connect(acUserTok, nil)
	tracked := newACEvents()
	tr := messaging.NewActivityTracker(user)
	defer tr.Close()
	tr.OnChange(tracked.add)

	run := e.run(agent)
	require.NoError(t, run.SetStatus(e.ctx, messaging.AgentStatus{Status: "active", CurrentTask: "Flight Search", Progress: 0.1}))
	st := tracked.next(t, messaging.AgentStatusUpdate).Record
	assert.Equal(t, "active", st.Status)
	assert.Equal(t, "Flight Search", st.CurrentTask)

	task, err := run.StartTask(e.ctx, messaging.TaskParams{Name: "Flight Search", Description: "NYC to PAR", EstimatedDuration: 30 * time.Second})
	require.NoError(t, err)
	got := tracked.next(t, messaging.AgentTaskStart).Record
	assert.Equal(t, 30*time.Second, got.EstimatedDuration)
	require.NoError(t, task.Fail(e.ctx, messaging.ActivityError{Code: "EXTERNAL_API_ERROR", Message: "unavailable", Retryable: true}))
	f := tracked.next(t, messaging.AgentTaskError).Record
	assert.Equal(t, messaging.ActivityFailed, f.State)
	assert.Equal(t, &messaging.ActivityError{Code: "EXTERNAL_API_ERROR", Message: "unavailable", Retryable: true}, f.Error)

	require.NoError(t, run.SetStatus(e.ctx, messaging.AgentStatus{Status: "thinking", Progress: 0.6}))
	for {
		s := tracked.next(t, messaging.AgentStatusUpdate).Record
		if s.Status == "thinking" {
			assert.Equal(t, st.ID, s.ID, "one status record per run, edited")
			break
		}
	}
	require.Len(t, tr.Statuses(e.conv), 1)
	run.End()
	// End closes the status record (completed) before it returns.
	assert.Equal(t, messaging.ActivityCompleted, e.stored(st.ID).State)
	tracked.next(t, messaging.AgentStatusUpdate)
	require.Eventually(t, func() bool { return len(tr.Statuses(e.conv)) == 0 }, acWait, 5*time.Millisecond)
	assert.Error(t, run.SetStatus(e.ctx, messaging.AgentStatus{Status: "late"}))
}

func TestActivityProgressIsRateLimitedFinalAlwaysSent(t *testing.T) {
	e := newACEnv(t)
	agent := e.connect(acAgentTok, nil)
	var mu sync.Mutex
	edits := 0
	agent.OnMessageUpdate(func(*messaging.Message) { mu.Lock(); edits++; mu.Unlock() })
	run := e.run(agent)
	// With an interval of an hour, no progress edit is due before the end.
	call, err := run.StartToolCall(e.ctx, messaging.ToolCallParams{Name: "slow", FlushInterval: time.Hour})
	require.NoError(t, err)
	for i := range 100 {
		require.NoError(t, call.Progress(e.ctx, float64(i)/100, "step"))
	}
	require.NoError(t, call.Complete(e.ctx, "ok"))
	rec := e.stored(call.ID())
	assert.Equal(t, messaging.ActivityCompleted, rec.State)
	assert.EqualValues(t, 102, rec.Seq, "every change counts, one edit carries them")
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return edits == 1 }, acWait, 5*time.Millisecond)
}

func TestActivityCancelledRunClosesItsActivities(t *testing.T) {
	e := newACEnv(t)
	agent := e.connect(acAgentTok, nil)
	user := e.connect(acUserTok, nil)
	tracked := newACEvents()
	tr := messaging.NewActivityTracker(user)
	defer tr.Close()
	tr.OnChange(tracked.add)

	run := e.run(agent)
	call, err := run.StartToolCall(e.ctx, messaging.ToolCallParams{Name: "flight_search"})
	require.NoError(t, err)
	task, err := run.StartTask(e.ctx, messaging.TaskParams{Name: "plan"})
	require.NoError(t, err)
	require.NoError(t, run.SetStatus(e.ctx, messaging.AgentStatus{Status: "active"}))
	tracked.next(t, messaging.AgentStatusUpdate)

	_, err = e.client(acAgentTok).SendControl(e.ctx, e.conv, messaging.ControlParams{Event: string(messaging.StreamCancel), RunID: run.ID(), Reason: "stop"})
	require.NoError(t, err)
	// The records are closed concurrently: in any order.
	closed := map[messaging.ActivityEventType]bool{}
	for len(closed) < 2 {
		ev := tracked.nextOf(t, messaging.ToolCallError, messaging.AgentTaskError)
		closed[ev.Type] = true
		r := ev.Record
		assert.Equal(t, messaging.ActivityCancelled, r.State)
		require.NotNil(t, r.Error)
		assert.Equal(t, "RUN_CANCELLED", r.Error.Code)
		assert.Contains(t, r.Error.Message, "stop")
	}
	require.Eventually(t, func() bool {
		return len(tr.Activities(e.conv)) == 0 && len(tr.Statuses(e.conv)) == 0
	}, acWait, 5*time.Millisecond)
	assert.Equal(t, messaging.ActivityCancelled, e.stored(call.ID()).State)
	assert.ErrorIs(t, task.Complete(e.ctx, nil), messaging.ErrActivityFinished)
	assert.ErrorIs(t, task.Complete(e.ctx, nil), messaging.ErrRunCancelled, "the run's cause")
	_, err = run.StartToolCall(e.ctx, messaging.ToolCallParams{Name: "after"})
	assert.ErrorIs(t, err, messaging.ErrRunCancelled)
}

func TestActivityEndClosesOpenActivitiesBeforeReturning(t *testing.T) {
	e := newACEnv(t)
	agent := e.connect(acAgentTok, nil)
	run := e.run(agent)
	call, err := run.StartToolCall(e.ctx, messaging.ToolCallParams{Name: "forgotten"})
	require.NoError(t, err)
	require.NoError(t, call.Progress(e.ctx, 0.5, "half"))
	run.End()
	rec := e.stored(call.ID())
	assert.Equal(t, messaging.ActivityCancelled, rec.State)
	assert.Equal(t, "RUN_ENDED", rec.Error.Code)
}

func TestActivityTrackerAfterReconnectShowsTheTrueState(t *testing.T) {
	e := newACEnv(t)
	agent := e.connect(acAgentTok, nil)
	g := netfault.NewGate()
	// No backfill: what the tracker shows after the reconnection is its
	// own refresh.
	user := e.connect(acUserTok, gateClient(t, g), messaging.WithBackfill(false))
	states := make(chan messaging.State, 100)
	user.OnStateChange(func(c messaging.StateChange) { states <- c.Current })
	tracked := newACEvents()
	tr := messaging.NewActivityTracker(user)
	defer tr.Close()
	tr.OnChange(tracked.add)

	run := e.run(agent)
	call, err := run.StartToolCall(e.ctx, messaging.ToolCallParams{Name: "flight_search"})
	require.NoError(t, err)
	other, err := run.StartToolCall(e.ctx, messaging.ToolCallParams{Name: "hotel_search"})
	require.NoError(t, err)
	gone, err := run.StartToolCall(e.ctx, messaging.ToolCallParams{Name: "car_search"})
	require.NoError(t, err)
	require.NoError(t, call.Progress(e.ctx, 0.25, "quarter"))
	tracked.next(t, messaging.ToolCallProgress)
	require.Len(t, tr.Activities(e.conv), 3)
	// A second conversation, deleted while the user is disconnected.
	errs := make(chan error, 10)
	tr.OnError(func(err error) { errs <- err })
	conv2, err := e.client(acUserTok).CreateConversation(e.ctx, messaging.CreateConversationParams{
		Type: messaging.ConversationGroup, Name: "doomed",
		Participants: []messaging.NewParticipant{{UserID: acAgentID, UserType: messaging.UserTypeAgent}},
	})
	require.NoError(t, err)
	require.NoError(t, user.JoinConversation(e.ctx, conv2.ID))
	require.NoError(t, agent.JoinConversation(e.ctx, conv2.ID))
	run2, err := agent.Run(e.ctx, conv2.ID, "", messaging.WithRunPrincipal(acAgentID))
	require.NoError(t, err)
	defer run2.End()
	_, err = run2.StartToolCall(e.ctx, messaging.ToolCallParams{Name: "doomed"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(tr.Activities(conv2.ID)) == 1 }, acWait, 5*time.Millisecond)

	g.Shut()
	for s := range states {
		if s == messaging.StateReconnecting {
			break
		}
	}
	// Missed while disconnected: the service does not replay them.
	require.NoError(t, call.Complete(e.ctx, "25 flights"))
	require.NoError(t, other.Progress(e.ctx, 0.5, "half"))
	require.NoError(t, agent.DeleteMessage(e.ctx, gone.ID()))
	require.NoError(t, e.client(acUserTok).DeleteConversation(e.ctx, conv2.ID))
	require.Eventually(t, func() bool { return e.stored(other.ID()).Progress == 0.5 }, acWait, 5*time.Millisecond)
	require.Len(t, tr.Activities(e.conv), 3, "still the state before the loss")

	g.Reopen()
	done := tracked.next(t, messaging.ToolCallComplete).Record
	assert.Equal(t, call.ID(), done.ID)
	require.Eventually(t, func() bool {
		a := tr.Activities(e.conv)
		return len(a) == 1 && a[0].ID == other.ID() && a[0].Progress == 0.5
	}, acWait, 5*time.Millisecond)
	require.Eventually(t, func() bool { return len(tr.Activities(conv2.ID)) == 0 }, acWait, 5*time.Millisecond,
		"a conversation that can no longer be read is forgotten")
	assert.Empty(t, errs, "and that is no error")
}

func TestActivityTrackerLoadForALateJoiner(t *testing.T) {
	e := newACEnv(t)
	agent := e.connect(acAgentTok, nil)
	run := e.run(agent)
	done, err := run.StartToolCall(e.ctx, messaging.ToolCallParams{Name: "done"})
	require.NoError(t, err)
	require.NoError(t, done.Complete(e.ctx, nil))
	going, err := run.StartTask(e.ctx, messaging.TaskParams{Name: "going", FlushInterval: time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, going.Progress(e.ctx, 0.4, "on it"))
	require.Eventually(t, func() bool { return e.stored(going.ID()).Progress == 0.4 }, acWait, 5*time.Millisecond)

	user := e.connect(acUserTok, nil)
	tr := messaging.NewActivityTracker(user)
	defer tr.Close()
	require.NoError(t, tr.Load(e.ctx, e.client(acUserTok), e.conv, time.Time{}))
	a := tr.Activities(e.conv)
	require.Len(t, a, 1)
	assert.Equal(t, going.ID(), a[0].ID)
	assert.Equal(t, 0.4, a[0].Progress)
	rec, ok := tr.Get(done.ID())
	require.True(t, ok)
	assert.Equal(t, messaging.ActivityCompleted, rec.State)

	assert.ErrorIs(t, tr.Load(e.ctx, nil, e.conv, time.Time{}), messaging.ErrInvalidArgument)
	assert.ErrorIs(t, tr.Load(e.ctx, e.client(acUserTok), "nope", time.Time{}), messaging.ErrInvalidArgument)
}

func TestActivityBadInput(t *testing.T) {
	e := newACEnv(t)
	agent := e.connect(acAgentTok, nil)
	run := e.run(agent)
	var ve *messaging.ValidationError
	_, err := run.StartToolCall(e.ctx, messaging.ToolCallParams{})
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "params.Name", ve.Field)
	_, err = run.StartToolCall(e.ctx, messaging.ToolCallParams{Name: "x", Parameters: func() {}})
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "params.Parameters", ve.Field)
	_, err = run.StartToolCall(e.ctx, messaging.ToolCallParams{Name: "x", ReplyTo: "q1"})
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "params.ReplyTo", ve.Field)
	_, err = run.StartTask(e.ctx, messaging.TaskParams{Name: "x", EstimatedDuration: -1})
	require.ErrorAs(t, err, &ve)
	err = run.SetStatus(e.ctx, messaging.AgentStatus{Status: "x", Progress: 2})
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "status.Progress", ve.Field)
	assert.Empty(t, e.srv.Messages(e.conv), "nothing sent")

	call, err := run.StartToolCall(e.ctx, messaging.ToolCallParams{Name: "x"})
	require.NoError(t, err)
	require.ErrorAs(t, call.Fail(e.ctx, messaging.ActivityError{}), &ve)
	require.ErrorAs(t, call.Complete(e.ctx, make(chan int)), &ve)
	assert.Equal(t, messaging.ActivityRunning, call.Record().State)
}

// Edits dropped by an overflowing handler queue are not recovered by the
// socket: the tracker refetches the records it holds running.
func TestActivityTrackerRecoversEditsDroppedOnOverflow(t *testing.T) {
	e := newACEnv(t)
	agent := e.connect(acAgentTok, nil)
	user := e.connect(acUserTok, nil, messaging.WithHandlerQueueSize(1), messaging.WithBackfill(false))
	blocked, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	user.OnMessageUpdate(func(*messaging.Message) {
		once.Do(func() {
			close(blocked)
			<-release
		})
	})
	slow := make(chan struct{}, 1)
	user.OnError(func(err error) {
		if errors.Is(err, messaging.ErrSlowConsumer) {
			slow <- struct{}{}
		}
	})
	tracked := newACEvents()
	tr := messaging.NewActivityTracker(user)
	defer tr.Close()
	tr.OnChange(tracked.add)

	run := e.run(agent)
	call, err := run.StartToolCall(e.ctx, messaging.ToolCallParams{Name: "flight_search", FlushInterval: time.Millisecond})
	require.NoError(t, err)
	tracked.next(t, messaging.ToolCallStart)
	require.NoError(t, call.Progress(e.ctx, 0.1, ""))
	<-blocked // the dispatcher holds the first edit
	require.NoError(t, call.Progress(e.ctx, 0.2, ""))
	require.Eventually(t, func() bool { return e.stored(call.ID()).Progress == 0.2 }, acWait, time.Millisecond)
	require.NoError(t, call.Complete(e.ctx, "done"))
	// The service broadcast the completion before acknowledging it; the
	// acknowledgement of a send of the user's comes after it on the user's
	// connection: once it is read, the completion was queued or dropped.
	_, err = user.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: e.conv, Content: "barrier"})
	require.NoError(t, err)
	close(release)
	select {
	case <-slow:
	case <-time.After(acWait):
		t.Fatal("the queue did not overflow")
	}
	assert.Equal(t, call.ID(), tracked.next(t, messaging.ToolCallComplete).Record.ID)
	assert.Empty(t, tr.Activities(e.conv))
}

// Each way a run ends names itself in the records it closes.
func TestActivityRunEndCodes(t *testing.T) {
	for _, tc := range []struct {
		name, code string
		end        func(e *acEnv, r *messaging.Run, cancel context.CancelFunc)
	}{
		{"preempt", "RUN_PREEMPTED", func(e *acEnv, r *messaging.Run, _ context.CancelFunc) {
			_, err := e.client(acAgentTok).SendControl(e.ctx, e.conv, messaging.ControlParams{Event: "stream.preempt", RunID: r.ID()})
			require.NoError(e.t, err)
		}},
		{"handoff", "RUN_HANDED_OFF", func(e *acEnv, r *messaging.Run, _ context.CancelFunc) {
			_, err := e.client(acAgentTok).SendControl(e.ctx, e.conv, messaging.ControlParams{Event: "stream.handoff", RunID: r.ID(),
				Target: &messaging.ControlTarget{PrincipalID: acUserID}})
			require.NoError(e.t, err)
		}},
		{"context", "RUN_CANCELLED", func(_ *acEnv, _ *messaging.Run, cancel context.CancelFunc) { cancel() }},
		{"end", "RUN_ENDED", func(_ *acEnv, r *messaging.Run, _ context.CancelFunc) { r.End() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newACEnv(t)
			agent := e.connect(acAgentTok, nil)
			ctx, cancel := context.WithCancel(e.ctx)
			defer cancel()
			run, err := agent.Run(ctx, e.conv, "", messaging.WithRunPrincipal(acAgentID))
			require.NoError(t, err)
			defer run.End()
			call, err := run.StartToolCall(e.ctx, messaging.ToolCallParams{Name: "x"})
			require.NoError(t, err)
			tc.end(e, run, cancel)
			require.Eventually(t, func() bool { return e.stored(call.ID()).State == messaging.ActivityCancelled },
				acWait, 5*time.Millisecond)
			rec := e.stored(call.ID())
			require.NotNil(t, rec.Error)
			assert.Equal(t, tc.code, rec.Error.Code)
			assert.False(t, rec.EndedAt.IsZero())
		})
	}
}

// gateClient is an HTTP client dialling through g, closed with the test.
func gateClient(t *testing.T, g *netfault.Gate) *http.Client {
	hc, tr := g.HTTPClient()
	t.Cleanup(tr.CloseIdleConnections)
	return hc
}
