package messaging_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
)

// traceKey carries a fake trace id in a context, as a tracing library
// would carry its span.
type traceKey struct{}

// recorder is an Observer that records what it saw.
type recorder struct {
	mu         sync.Mutex
	requests   []messaging.RequestInfo
	requestEnd []int
	sends      []messaging.SendInfo
	sendErrs   []error
	delivered  []string
	handshakes []string // the trace id of the Connect context
	runs       []messaging.RunInfo
	runEnds    []messaging.RunState
	sockets    int
	detached   int
}

func (r *recorder) observer() *messaging.Observer {
	return &messaging.Observer{
		TraceID: func(ctx context.Context) string {
			id, _ := ctx.Value(traceKey{}).(string)
			return id
		},
		Request: func(ctx context.Context, req *http.Request, info messaging.RequestInfo) func(int, error) {
			if id, ok := ctx.Value(traceKey{}).(string); ok {
				req.Header.Set("Traceparent", "00-"+id+"-0000000000000001-01")
			}
			r.mu.Lock()
			r.requests = append(r.requests, info)
			r.mu.Unlock()
			return func(status int, _ error) {
				r.mu.Lock()
				r.requestEnd = append(r.requestEnd, status)
				r.mu.Unlock()
			}
		},
		Handshake: func(ctx context.Context, h http.Header) {
			id, _ := ctx.Value(traceKey{}).(string)
			r.mu.Lock()
			r.handshakes = append(r.handshakes, id)
			r.mu.Unlock()
		},
		Send: func(ctx context.Context, info messaging.SendInfo) (context.Context, func(error)) {
			r.mu.Lock()
			r.sends = append(r.sends, info)
			r.mu.Unlock()
			if ctx.Value(traceKey{}) == nil {
				ctx = context.WithValue(ctx, traceKey{}, "0af7651916cd43dd8448eb211c80319c")
			}
			return ctx, func(err error) {
				r.mu.Lock()
				r.sendErrs = append(r.sendErrs, err)
				r.mu.Unlock()
			}
		},
		Deliver: func(_ *messaging.Socket, m *messaging.Message) func() {
			return func() {
				r.mu.Lock()
				r.delivered = append(r.delivered, m.ID)
				r.mu.Unlock()
			}
		},
		Run: func(ctx context.Context, info messaging.RunInfo) (context.Context, func(messaging.RunState, error)) {
			r.mu.Lock()
			r.runs = append(r.runs, info)
			r.mu.Unlock()
			return context.WithValue(ctx, traceKey{}, "4bf92f3577b34da6a3ce929d0e0e4736"), func(st messaging.RunState, _ error) {
				r.mu.Lock()
				r.runEnds = append(r.runEnds, st)
				r.mu.Unlock()
			}
		},
		Socket: func(*messaging.Socket) func() {
			r.mu.Lock()
			r.sockets++
			r.mu.Unlock()
			return func() {
				r.mu.Lock()
				r.detached++
				r.mu.Unlock()
			}
		},
	}
}

func (r *recorder) snapshot() recorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	return recorder{
		requests: append([]messaging.RequestInfo(nil), r.requests...), requestEnd: append([]int(nil), r.requestEnd...),
		sends: append([]messaging.SendInfo(nil), r.sends...), sendErrs: append([]error(nil), r.sendErrs...),
		delivered: append([]string(nil), r.delivered...), handshakes: append([]string(nil), r.handshakes...),
		runs: append([]messaging.RunInfo(nil), r.runs...), runEnds: append([]messaging.RunState(nil), r.runEnds...),
		sockets: r.sockets, detached: r.detached,
	}
}

// The caller's trace id (from the observer) becomes the stored message's,
// the hooks see each send, request, delivery, handshake and run, and a
// trace id the caller chose is kept.
func TestObserverHooks(t *testing.T) {
	e := newEnv(t)
	rec := &recorder{}
	obs := messaging.WithObserver(rec.observer())
	ctx := context.WithValue(testCtx(t), traceKey{}, "11112222333344445555666677778888")

	bob := e.socket(bobTok, obs)
	assert.NotNil(t, bob.Observer())
	assert.Nil(t, e.socket(carolTok).Observer())
	got, _ := collect(bob.OnMessage)
	require.NoError(t, bob.Connect(ctx))

	c, err := messaging.NewClient(messaging.WithEndpoint(e.srv.URL()), messaging.WithToken(aliceTok),
		messaging.WithHTTPClient(e.srv.Client()), obs)
	require.NoError(t, err)
	m1, err := c.SendMessage(ctx, messaging.SendMessageParams{ConversationID: e.conv, Content: "from the caller's trace"})
	require.NoError(t, err)
	assert.Equal(t, "11112222333344445555666677778888", m1.TraceID)
	m2, err := c.SendMessage(testCtx(t), messaging.SendMessageParams{ConversationID: e.conv, Content: "the send's own", TraceID: ""})
	require.NoError(t, err)
	assert.Equal(t, "0af7651916cd43dd8448eb211c80319c", m2.TraceID, "the Send hook's context gives the trace id")
	m3, err := c.SendMessage(ctx, messaging.SendMessageParams{ConversationID: e.conv, Content: "chosen", TraceID: "mine"})
	require.NoError(t, err)
	assert.Equal(t, "mine", m3.TraceID, "a trace id the caller set is kept")

	for _, want := range []string{m1.ID, m2.ID, m3.ID} {
		assert.Equal(t, want, recv(t, got).ID)
	}
	// Socket sends and control events take it too.
	m4, err := bob.SendMessage(ctx, messaging.SendMessageParams{ConversationID: e.conv, Content: "over the socket"})
	require.NoError(t, err)
	assert.Equal(t, "11112222333344445555666677778888", m4.TraceID)
	recv(t, got)
	agent := e.connect(agentTok, obs)
	ctl, err := agent.SendControl(ctx, e.conv, messaging.ControlParams{Event: "pause"})
	require.NoError(t, err)
	assert.Equal(t, "11112222333344445555666677778888", ctl.TraceID)
	agentREST, err := messaging.NewClient(messaging.WithEndpoint(e.srv.URL()), messaging.WithToken(agentTok),
		messaging.WithHTTPClient(e.srv.Client()), obs)
	require.NoError(t, err)
	ctl, err = agentREST.SendControl(ctx, e.conv, messaging.ControlParams{Event: "resume"})
	require.NoError(t, err)
	assert.Equal(t, "11112222333344445555666677778888", ctl.TraceID)

	// A run's trace id is its Run hook's context's, unless chosen.
	run, err := agent.Run(ctx, e.conv, "", messaging.WithRunPrincipal(agentID))
	require.NoError(t, err)
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", run.TraceID())
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", run.Context().Value(traceKey{}), "the run's context derives from the hook's")
	run.End()
	chosen, err := agent.Run(ctx, e.conv, "", messaging.WithRunPrincipal(agentID), messaging.WithRunTraceID("chosen-trace"))
	require.NoError(t, err)
	assert.Equal(t, "chosen-trace", chosen.TraceID())
	chosen.End()

	require.NoError(t, bob.Close())
	require.NoError(t, bob.Close())
	require.NoError(t, agent.Close())

	s := rec.snapshot()
	assert.Len(t, s.sends, 6)
	assert.Equal(t, messaging.SendInfo{Transport: messaging.TransportREST, Event: messaging.EventMessageSend,
		ConversationID: e.conv, MessageID: m1.ID}, s.sends[0])
	assert.Equal(t, messaging.SendInfo{Transport: messaging.TransportSocket, Event: messaging.EventMessageSend,
		ConversationID: e.conv, MessageID: m4.ID}, s.sends[3])
	assert.Equal(t, messaging.SendInfo{Transport: messaging.TransportSocket, Event: messaging.EventControlSend,
		ConversationID: e.conv, Control: "stream.pause"}, s.sends[4])
	assert.Equal(t, messaging.SendInfo{Transport: messaging.TransportREST, Event: messaging.EventControlSend,
		ConversationID: e.conv, Control: "stream.resume"}, s.sends[5])
	assert.Equal(t, []error{nil, nil, nil, nil, nil, nil}, s.sendErrs)
	require.Len(t, s.requests, 4, "the clients' four POSTs (the sockets read no history here)")
	assert.Equal(t, messaging.RequestInfo{Method: http.MethodPost, Path: "/api/conversations/" + e.conv + "/messages"}, s.requests[0])
	assert.Equal(t, []int{201, 201, 201, 201}, s.requestEnd)
	assert.Equal(t, []string{m1.ID, m2.ID, m3.ID, m4.ID}, s.delivered)
	assert.Equal(t, []string{"11112222333344445555666677778888", ""}, s.handshakes,
		"each socket's handshake sees its own Connect's context (the agent's carried no trace)")
	assert.Len(t, s.runs, 2)
	assert.Equal(t, []messaging.RunState{messaging.RunDone, messaging.RunDone}, s.runEnds)
	assert.Equal(t, 2, s.sockets)
	assert.Equal(t, 2, s.detached, "once per socket, however often it is closed")
}

// Without an observer, no trace id is invented.
func TestNoObserverNoTraceID(t *testing.T) {
	e := newEnv(t)
	ctx := context.WithValue(testCtx(t), traceKey{}, "11112222333344445555666677778888")
	m, err := e.client(aliceTok).SendMessage(ctx, messaging.SendMessageParams{ConversationID: e.conv, Content: "x"})
	require.NoError(t, err)
	assert.Empty(t, m.TraceID)
}

func TestSocketStats(t *testing.T) {
	e := newEnv(t)
	alice := e.connect(aliceTok)
	bob := e.socket(bobTok)
	got, _ := collect(bob.OnMessage)
	require.NoError(t, bob.Connect(testCtx(t)))

	for range 3 {
		_, err := alice.SendMessage(testCtx(t), messaging.SendMessageParams{ConversationID: e.conv, Content: "hi"})
		require.NoError(t, err)
		recv(t, got)
	}
	_, err := alice.EditMessage(testCtx(t), "00000000-0000-4000-8000-000000000000", "x")
	require.ErrorIs(t, err, messaging.ErrNotFound)

	st := alice.Stats()
	assert.Equal(t, int64(4), st.Sends)
	assert.Equal(t, int64(4), st.Acks, "a refusal is acknowledged too")
	assert.Equal(t, int64(1), st.Connections)
	assert.Equal(t, int64(0), st.Reconnects)
	assert.Zero(t, st.AckTimeouts)

	// A lost connection: bob reconnects, and counts it.
	reconnected, _ := signals(bob.OnReconnect)
	e.srv.DropConnectionsOf(bobID)
	recv(t, reconnected)
	bs := bob.Stats()
	assert.Equal(t, int64(2), bs.Connections)
	assert.Equal(t, int64(1), bs.Reconnects)
	assert.Zero(t, bs.QueueDepth+int(bs.SlowConsumerDrops))
}

func TestClientStats(t *testing.T) {
	e := newEnv(t)
	c, err := messaging.NewClient(messaging.WithEndpoint(e.srv.URL()), messaging.WithToken(aliceTok),
		messaging.WithHTTPClient(e.srv.Client()), messaging.WithRetry(messaging.RetryPolicy{MaxRetries: 2, MinDelay: time.Millisecond, MaxDelay: time.Millisecond}))
	require.NoError(t, err)
	_, err = c.GetConversation(testCtx(t), e.conv)
	require.NoError(t, err)
	e.srv.FailNext(1, http.StatusServiceUnavailable, 0)
	_, err = c.GetConversation(testCtx(t), e.conv)
	require.NoError(t, err, "retried")
	_, err = c.GetConversation(testCtx(t), "not-a-uuid")
	var ve *messaging.ValidationError
	require.True(t, errors.As(err, &ve))

	assert.Equal(t, messaging.ClientStats{Requests: 3, Retries: 1, Failures: 1}, c.Stats())
}

// A zero Client (not made with NewClient) has zero counters.
func TestClientStatsZeroValue(t *testing.T) {
	var c messaging.Client
	assert.Equal(t, messaging.ClientStats{}, c.Stats())
}

// pollStats waits, with a generous bound, until ok holds for s's stats.
func pollStats(t *testing.T, s *messaging.Socket, what string, ok func(messaging.SocketStats) bool) messaging.SocketStats {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		st := s.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats never showed %s: %+v", what, st)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// An attempt without an acknowledgement within the ack timeout is
// counted; the repeat that succeeds is acknowledged.
func TestSocketStatsAckTimeouts(t *testing.T) {
	e := newEnv(t)
	alice := e.connect(aliceTok, messaging.WithAckTimeout(50*time.Millisecond))
	e.srv.SetLatency(time.Second)
	done := make(chan error, 1)
	go func() {
		_, err := alice.SendMessage(testCtx(t), messaging.SendMessageParams{ConversationID: e.conv, Content: "slow"})
		done <- err
	}()
	pollStats(t, alice, "an ack timeout", func(st messaging.SocketStats) bool { return st.AckTimeouts >= 1 })
	e.srv.SetLatency(0)
	require.NoError(t, recv(t, done))
	st := alice.Stats()
	assert.Equal(t, int64(1), st.Sends, "one call")
	assert.GreaterOrEqual(t, st.Acks, int64(1))
}

// Events dropped by a full handler queue are counted, and the queue's
// depth is visible while the handler is busy.
func TestSocketStatsSlowConsumer(t *testing.T) {
	e := newEnv(t)
	alice := e.connect(aliceTok)
	bob := e.socket(bobTok, messaging.WithHandlerQueueSize(1), messaging.WithBackfill(false))
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	bob.OnMessage(func(*messaging.Message) {
		entered <- struct{}{}
		<-release
	})
	connected := make(chan struct{}, 1)
	bob.OnConnect(func() { connected <- struct{}{} })
	require.NoError(t, bob.Connect(testCtx(t)))
	// The queue holds one item: wait until the connection's own state
	// change has been handled, or the first message could be the overflow.
	recv(t, connected)
	pollStats(t, bob, "an empty queue before the first send", func(st messaging.SocketStats) bool { return st.QueueDepth == 0 })
	send := func() {
		_, err := alice.SendMessage(testCtx(t), messaging.SendMessageParams{ConversationID: e.conv, Content: "x"})
		require.NoError(t, err)
	}
	send()
	recv(t, entered) // the handler holds the first message
	send()
	pollStats(t, bob, "one queued event", func(st messaging.SocketStats) bool { return st.QueueDepth == 1 })
	send()
	st := pollStats(t, bob, "a drop", func(st messaging.SocketStats) bool { return st.SlowConsumerDrops == 1 })
	assert.Equal(t, 1, st.QueueDepth)
	close(release)
	pollStats(t, bob, "an empty queue", func(st messaging.SocketStats) bool { return st.QueueDepth == 0 })
}

// An edit over the socket is a send of its own for the observer (a
// streamed reply's edits appear in traces), under the context the Send
// hook returns.
func TestObserverSeesEdits(t *testing.T) {
	e := newEnv(t)
	rec := &recorder{}
	bob := e.connect(bobTok, messaging.WithObserver(rec.observer()))
	m, err := bob.SendMessage(testCtx(t), messaging.SendMessageParams{ConversationID: e.conv, Content: "draft"})
	require.NoError(t, err)
	_, err = bob.EditMessage(testCtx(t), m.ID, "final")
	require.NoError(t, err)
	_, err = bob.EditMessage(testCtx(t), "00000000-0000-4000-8000-00000000dead", "nothing")
	require.ErrorIs(t, err, messaging.ErrNotFound)

	s := rec.snapshot()
	require.Len(t, s.sends, 3)
	assert.Equal(t, messaging.SendInfo{Transport: messaging.TransportSocket, Event: messaging.EventMessageEdit,
		MessageID: m.ID}, s.sends[1])
	assert.Equal(t, messaging.EventMessageEdit, s.sends[2].Event)
	require.Len(t, s.sendErrs, 3)
	assert.NoError(t, s.sendErrs[1])
	assert.ErrorIs(t, s.sendErrs[2], messaging.ErrNotFound, "the refused edit's end sees the refusal")
}
