package scenario_test

// Scenarios of agent activity (the "Activity records" convention of
// docs/PROTOCOL.md): an agent's run reports tool calls, tasks and its
// status in activity records; a person's socket tracks them.

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	messaging "github.com/symbia-labs/messaging-go"

	"github.com/symbia-labs/messaging-go/internal/netfault"
)

// activityWatch is a person's tracker of a conversation's activity, with
// the events it reported in that conversation. (Against a real server,
// the person's socket is in the rooms of every conversation of theirs,
// including those of scenarios running in parallel.)
type activityWatch struct {
	*messaging.ActivityTracker
	ch chan messaging.ActivityEvent
}

func watchActivity(t *testing.T, s *messaging.Socket, conversation string) *activityWatch {
	t.Helper()
	w := &activityWatch{ActivityTracker: messaging.NewActivityTracker(s), ch: make(chan messaging.ActivityEvent, 1000)}
	t.Cleanup(w.Close)
	w.OnChange(func(e messaging.ActivityEvent) {
		if e.Record.ConversationID == conversation {
			w.ch <- e
		}
	})
	w.OnError(func(err error) { t.Errorf("activity tracker: %v", err) })
	return w
}

// next waits for the next event of one of the types (skipping others).
func (w *activityWatch) next(t *testing.T, types ...messaging.ActivityEventType) messaging.ActivityEvent {
	t.Helper()
	deadline := time.After(eventTimeout)
	for {
		select {
		case e := <-w.ch:
			if slices.Contains(types, e.Type) {
				return e
			}
		case <-deadline:
			t.Fatalf("no %v activity event within %v", types, eventTimeout)
			return messaging.ActivityEvent{}
		}
	}
}

// agentRun starts a run of the agent's socket in conversation.
func agentRun(t *testing.T, e *env, s *socket, conversation string) *messaging.Run {
	t.Helper()
	r, err := s.Run(e.ctx, conversation, "", messaging.WithRunPrincipal(e.agent.ID))
	require.NoError(t, err)
	t.Cleanup(r.End)
	return r
}

// storedActivity reads an activity record from the history, as a client
// that knows nothing but REST would.
func storedActivity(t *testing.T, p *principal, conversation, id string) messaging.ActivityRecord {
	t.Helper()
	for m, err := range p.Client.Messages(p.e.ctx, conversation) {
		require.NoError(t, err)
		if m.ID == id {
			require.Equal(t, messaging.ActivityContentType, m.ContentType)
			r, err := messaging.DecodeActivity(&m)
			require.NoError(t, err)
			return r
		}
	}
	t.Fatalf("activity record %s is not in the history", id)
	return messaging.ActivityRecord{}
}

// Rows: a tool call's start, progress and completion reach the room as
// message:new / message:updated of one record, typed by the tracker.
func TestActivityToolCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, ag := e.alice, e.bob, e.agent
	g := a.group(b, ag)
	bw := watchActivity(t, b.connect(g).Socket, g)
	as := ag.connect(g)
	q := a.send(g, "flights from NYC to Paris in June?")

	run := agentRun(t, e, as, g)
	call, err := run.StartToolCall(e.ctx, messaging.ToolCallParams{Name: "flight_search", ReplyTo: q.ID,
		Parameters: map[string]string{"origin": "NYC", "destination": "PAR", "departure_date": "2025-06-01"}})
	require.NoError(t, err)
	st := bw.next(t, messaging.ToolCallStart).Record
	assert.Equal(t, call.ID(), st.ID)
	assert.Equal(t, g, st.ConversationID)
	assert.Equal(t, ag.ID, st.SenderID)
	assert.Equal(t, messaging.SenderAgent, st.SenderType)
	assert.Equal(t, run.ID(), st.RunID)
	assert.Equal(t, q.ID, st.ReplyTo)
	assert.Equal(t, messaging.ActivityRunning, st.State)
	assert.JSONEq(t, `{"origin":"NYC","destination":"PAR","departure_date":"2025-06-01"}`, string(st.Parameters))

	require.NoError(t, call.Progress(e.ctx, 0.75, "Searching for return flights..."))
	p := bw.next(t, messaging.ToolCallProgress).Record
	assert.Equal(t, 0.75, p.Progress)
	assert.Equal(t, "Searching for return flights...", p.Message)
	running := bw.Activities(g)
	require.Len(t, running, 1)
	assert.Equal(t, 0.75, running[0].Progress)

	require.NoError(t, call.Complete(e.ctx, map[string]any{"flights_found": 25, "cheapest_price": 450, "currency": "USD"}))
	c := bw.next(t, messaging.ToolCallComplete).Record
	assert.JSONEq(t, `{"flights_found":25,"cheapest_price":450,"currency":"USD"}`, string(c.Result))
	assert.Empty(t, bw.Activities(g))

	// The history holds the final state, readable JSON under its content type.
	h := storedActivity(t, b, g, call.ID())
	assert.Equal(t, messaging.ActivityCompleted, h.State)
	assert.Greater(t, h.Seq, st.Seq)
}

// Rows: a tool call and a task that fail reach the room as their errors;
// the agent's status is one record per run, edited.
func TestActivityError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, ag := e.alice, e.bob, e.agent
	g := a.group(b, ag)
	bw := watchActivity(t, b.connect(g).Socket, g)
	run := agentRun(t, e, ag.connect(g), g)

	require.NoError(t, run.SetStatus(e.ctx, messaging.AgentStatus{Status: "active", CurrentTask: "Analyzing flight options", Progress: 0.6}))
	status := bw.next(t, messaging.AgentStatusUpdate).Record
	assert.Equal(t, "Analyzing flight options", status.CurrentTask)

	call, err := run.StartToolCall(e.ctx, messaging.ToolCallParams{Name: "flight_search"})
	require.NoError(t, err)
	require.NoError(t, call.Fail(e.ctx, messaging.ActivityError{Code: "EXTERNAL_API_ERROR",
		Message: "Flight search service temporarily unavailable", Retryable: true}))
	f := bw.next(t, messaging.ToolCallError).Record
	assert.Equal(t, messaging.ActivityFailed, f.State)
	assert.Equal(t, &messaging.ActivityError{Code: "EXTERNAL_API_ERROR",
		Message: "Flight search service temporarily unavailable", Retryable: true}, f.Error)

	task, err := run.StartTask(e.ctx, messaging.TaskParams{Name: "Flight Search",
		Description: "Searching for flights from NYC to PAR", EstimatedDuration: 30 * time.Second})
	require.NoError(t, err)
	ts := bw.next(t, messaging.AgentTaskStart).Record
	assert.Equal(t, 30*time.Second, ts.EstimatedDuration)
	require.NoError(t, task.Fail(e.ctx, messaging.ActivityError{Code: "NO_RESULTS", Message: "nothing found"}))
	assert.Equal(t, messaging.ActivityFailed, bw.next(t, messaging.AgentTaskError).Record.State)

	require.NoError(t, run.SetStatus(e.ctx, messaging.AgentStatus{Status: "waiting", Progress: 0.9}))
	for {
		s := bw.next(t, messaging.AgentStatusUpdate).Record
		if s.Status == "waiting" {
			assert.Equal(t, status.ID, s.ID)
			break
		}
	}
	assert.Empty(t, bw.Activities(g))
	require.Len(t, bw.Statuses(g), 1)
}

// Row: a cancelled run leaves nothing running: its open records get a
// final state (cancelled, RUN_CANCELLED).
func TestActivityCancelledRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, ag := e.alice, e.bob, e.agent
	g := a.group(b, ag)
	bw := watchActivity(t, b.connect(g).Socket, g)
	run := agentRun(t, e, ag.connect(g), g)

	call, err := run.StartToolCall(e.ctx, messaging.ToolCallParams{Name: "flight_search"})
	require.NoError(t, err)
	_, err = run.StartTask(e.ctx, messaging.TaskParams{Name: "Flight Search"})
	require.NoError(t, err)
	require.NoError(t, call.Progress(e.ctx, 0.5, "half way"))
	bw.next(t, messaging.ToolCallProgress)
	require.Len(t, bw.Activities(g), 2)

	_, err = ag.Client.SendControl(e.ctx, g, messaging.ControlParams{Event: string(messaging.StreamCancel), RunID: run.ID(), Reason: "user asked"})
	require.NoError(t, err)
	seen := map[messaging.ActivityEventType]bool{}
	for len(seen) < 2 {
		ev := bw.next(t, messaging.ToolCallError, messaging.AgentTaskError)
		seen[ev.Type] = true
		assert.Equal(t, messaging.ActivityCancelled, ev.Record.State)
		require.NotNil(t, ev.Record.Error)
		assert.Equal(t, "RUN_CANCELLED", ev.Record.Error.Code)
	}
	assert.Empty(t, bw.Activities(g))
	assert.Equal(t, messaging.ActivityCancelled, storedActivity(t, b, g, call.ID()).State)
	assert.ErrorIs(t, call.Complete(e.ctx, nil), messaging.ErrActivityFinished)
}

// Row: a receiver that reconnects during a tool call shows the true state
// afterwards (the service does not replay the edits it missed), and a late
// joiner reconstructs it from the history.
func TestActivityReceiverReconnects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, ag := e.alice, e.bob, e.agent
	g := a.group(b, ag)

	gate := netfault.NewGate()
	hc, tr := gate.HTTPClient()
	t.Cleanup(tr.CloseIdleConnections)
	bs, err := messaging.NewSocket(messaging.WithEndpoint(e.endpoint), messaging.WithToken(b.token),
		messaging.WithHTTPClient(hc), messaging.WithBackfill(false),
		messaging.WithReconnectionDelay(20*time.Millisecond), messaging.WithReconnectionDelayMax(200*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(func() { _ = bs.Close() })
	states := make(chan messaging.State, 100)
	bs.OnStateChange(func(c messaging.StateChange) { states <- c.Current })
	bw := watchActivity(t, bs, g)
	require.NoError(t, bs.Connect(e.callCtx()))
	require.NoError(t, bs.JoinConversation(e.callCtx(), g))

	run := agentRun(t, e, ag.connect(g), g)
	call, err := run.StartToolCall(e.ctx, messaging.ToolCallParams{Name: "flight_search"})
	require.NoError(t, err)
	hotel, err := run.StartToolCall(e.ctx, messaging.ToolCallParams{Name: "hotel_search", FlushInterval: time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, call.Progress(e.ctx, 0.25, "outbound"))
	bw.next(t, messaging.ToolCallProgress)

	gate.Shut()
	for s := range states {
		if s == messaging.StateReconnecting {
			break
		}
	}
	require.NoError(t, call.Complete(e.ctx, map[string]int{"flights_found": 25}))
	require.NoError(t, hotel.Progress(e.ctx, 0.5, "half way"))
	require.Eventually(t, func() bool { return storedActivity(t, a, g, hotel.ID()).Progress == 0.5 },
		eventTimeout, 10*time.Millisecond)
	require.Len(t, bw.Activities(g), 2, "while disconnected, the state before the loss")

	gate.Reopen()
	done := bw.next(t, messaging.ToolCallComplete).Record
	assert.Equal(t, call.ID(), done.ID)
	require.Eventually(t, func() bool {
		r := bw.Activities(g)
		return len(r) == 1 && r[0].ID == hotel.ID() && r[0].Progress == 0.5
	}, eventTimeout, 10*time.Millisecond)

	// A late joiner: alice connects now and loads the history.
	aw := watchActivity(t, a.connect(g).Socket, g)
	require.NoError(t, aw.Load(e.ctx, a.Client, g, time.Time{}))
	r := aw.Activities(g)
	require.Len(t, r, 1)
	assert.Equal(t, hotel.ID(), r[0].ID)
	assert.Equal(t, 0.5, r[0].Progress)
	fin, ok := aw.Get(call.ID())
	require.True(t, ok)
	assert.Equal(t, messaging.ActivityCompleted, fin.State)
}
