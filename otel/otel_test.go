package otel_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"
	msgotel "github.com/symbia-labs/messaging-go/otel"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	aliceID    = "a11ce000-0000-4000-8000-000000000001"
	aliceToken = "alice-token"
	agentID    = "a9e47000-0000-4000-8000-000000000003"
	agentToken = "agent-token"
	waitLimit  = 15 * time.Second
)

// harness is an in-memory service, an Instrumentation reporting to
// in-memory exporters, and the principals of the scenarios: alice, a
// person, and an agent.
type harness struct {
	t      *testing.T
	srv    *messagingtest.Server
	spans  *tracetest.SpanRecorder
	tracer trace.Tracer
	reader *sdkmetric.ManualReader
	inst   *msgotel.Instrumentation
	conv   string
	seen   *headerLog
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	srv := messagingtest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddUser(aliceToken, messagingtest.Principal{ID: aliceID, Name: "alice",
		Entitlements: []string{"cap:messaging.interrupt"}})
	srv.AddUser(agentToken, messagingtest.Principal{ID: agentID, Name: "helper", Type: messaging.UserTypeAgent, AgentID: "agent:helper"})

	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	inst, err := msgotel.New(msgotel.WithTracerProvider(tp), msgotel.WithMeterProvider(mp))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, inst.Shutdown()) })

	h := &harness{t: t, srv: srv, spans: sr, tracer: tp.Tracer("test"), reader: reader, inst: inst,
		seen: &headerLog{next: srv.Client().Transport}}
	c := h.client(aliceToken)
	conv, err := c.CreateConversation(ctx(t), messaging.CreateConversationParams{
		Type: messaging.ConversationGroup, Name: "support", ParticipantIDs: []string{agentID}})
	require.NoError(t, err)
	h.conv = conv.ID
	return h
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
	t.Cleanup(cancel)
	return c
}

// headerLog records the traceparent header of every request.
type headerLog struct {
	next http.RoundTripper
	mu   sync.Mutex
	got  map[string][]string // "METHOD path" → traceparent values
}

func (l *headerLog) RoundTrip(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	if l.got == nil {
		l.got = make(map[string][]string)
	}
	k := req.Method + " " + req.URL.Path
	l.got[k] = append(l.got[k], req.Header.Get("Traceparent"))
	l.mu.Unlock()
	return l.next.RoundTrip(req)
}

func (l *headerLog) traceparents(method, pathPrefix string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for k, v := range l.got {
		if strings.HasPrefix(k, method+" "+pathPrefix) {
			out = append(out, v...)
		}
	}
	return out
}

func (h *harness) options(token string) []messaging.Option {
	return []messaging.Option{messaging.WithEndpoint(h.srv.URL()), messaging.WithToken(token),
		messaging.WithHTTPClient(&http.Client{Transport: h.seen}), h.inst.Option()}
}

func (h *harness) client(token string) *messaging.Client {
	var opts []messaging.ClientOption
	for _, o := range h.options(token) {
		opts = append(opts, o)
	}
	c, err := messaging.NewClient(opts...)
	require.NoError(h.t, err)
	return c
}

func (h *harness) socket(token string) *messaging.Socket {
	var opts []messaging.SocketOption
	for _, o := range h.options(token) {
		opts = append(opts, o)
	}
	s, err := messaging.NewSocket(opts...)
	require.NoError(h.t, err)
	h.t.Cleanup(func() { _ = s.Close() })
	return s
}

// waitSpans waits until the ended spans satisfy done, and returns them.
func (h *harness) waitSpans(what string, done func([]sdktrace.ReadOnlySpan) bool) []sdktrace.ReadOnlySpan {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		spans := h.spans.Ended()
		if done(spans) {
			return spans
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no span: %s (have %d)", what, len(spans))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// count returns how many spans ok holds for.
func count(spans []sdktrace.ReadOnlySpan, ok func(sdktrace.ReadOnlySpan) bool) int {
	n := 0
	for _, s := range spans {
		if ok(s) {
			n++
		}
	}
	return n
}

func named(name string) func(sdktrace.ReadOnlySpan) bool {
	return func(s sdktrace.ReadOnlySpan) bool { return s.Name() == name }
}

func attr(s sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value
		}
	}
	return attribute.Value{}
}

// find returns the one span named name whose attribute key is value.
func find(t *testing.T, spans []sdktrace.ReadOnlySpan, name, key, value string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name && (key == "" || attr(s, key).Emit() == value) {
			found = append(found, s)
		}
	}
	require.Len(t, found, 1, "spans %q with %s=%s", name, key, value)
	return found[0]
}

// metrics collects what the meter holds, by name.
func (h *harness) metrics() map[string]metricdata.Aggregation {
	h.t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(h.t, h.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

// sum is the value of an int64 sum or gauge at the data point whose
// attributes include want (all points if want is empty).
func sum(t *testing.T, data metricdata.Aggregation, want ...attribute.KeyValue) int64 {
	t.Helper()
	var n int64
	match := func(set attribute.Set) bool {
		for _, kv := range want {
			if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
				return false
			}
		}
		return true
	}
	switch d := data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			if match(p.Attributes) {
				n += p.Value
			}
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			if match(p.Attributes) {
				n += p.Value
			}
		}
	default:
		t.Fatalf("not an int64 sum or gauge: %T", data)
	}
	return n
}

func histCount(t *testing.T, data metricdata.Aggregation) uint64 {
	t.Helper()
	d, ok := data.(metricdata.Histogram[float64])
	require.True(t, ok, "not a float64 histogram: %T", data)
	var n uint64
	for _, p := range d.DataPoints {
		n += p.Count
	}
	return n
}

// One trace follows a question from a person's REST send, through the
// agent's socket handler and its turn, to the reply the agent sends from
// the handler, and to the person's socket receiving it.
//
// The agent here answers in a plain OnMessage handler that calls the
// Observer's Turn hook as agent.Server does; the agent-server version of
// this scenario, with a streamed reply, is
// TestOneTraceFromRESTSendThroughAgentServerTurnToStreamedReply.
func TestOneTraceFromRESTSendThroughHandlerToReply(t *testing.T) {
	h := newHarness(t)

	// The agent answers every message of alice's from its handler.
	agent := h.socket(agentToken)
	agentAnswers(t, h, agent)
	connectCtx, connectSpan := h.tracer.Start(ctx(t), "start agent")
	require.NoError(t, agent.Connect(connectCtx))
	connectSpan.End()

	// alice reads the answer on her socket.
	aliceSock := h.socket(aliceToken)
	replies := make(chan *messaging.Message, 10)
	aliceSock.OnMessage(func(m *messaging.Message) {
		if m.SenderID == agentID {
			replies <- m
		}
	})
	require.NoError(t, aliceSock.Connect(ctx(t)))

	// alice asks, over REST, inside a span of her own.
	question, ask := h.ask(t, "how do I reset my password?")
	traceID := ask.SpanContext().TraceID()

	var reply *messaging.Message
	select {
	case reply = <-replies:
	case <-time.After(waitLimit):
		t.Fatal("no reply")
	}
	assert.Equal(t, question.ID, reply.ReplyTo)
	assert.Equal(t, traceID.String(), reply.TraceID, "the reply carries the question's trace id")
	handlesReply := func(s sdktrace.ReadOnlySpan) bool {
		return s.Name() == "process message:new" && attr(s, "messaging.message.id").AsString() == reply.ID
	}
	spans := h.waitSpans("the agent's turn and both handlings of the reply", func(spans []sdktrace.ReadOnlySpan) bool {
		return count(spans, named("turn")) == 1 && count(spans, handlesReply) == 2
	})

	// The chain, parent by parent.
	send := find(t, spans, "send message:send", "symbia.transport", "rest")
	post := find(t, spans, "POST", "url.full", h.srv.URL()+"/api/conversations/"+h.conv+"/messages")
	turn := find(t, spans, "turn", "", "")
	// Both sockets handle the question: the agent's handling is the
	// turn's parent.
	var process sdktrace.ReadOnlySpan
	handled := 0
	for _, s := range spans {
		if s.Name() == "process message:new" && attr(s, "messaging.message.id").AsString() == question.ID {
			handled++
			if s.SpanContext().SpanID() == turn.Parent().SpanID() {
				process = s
			}
		}
	}
	assert.Equal(t, 2, handled, "the agent's and alice's sockets handled the question")
	require.NotNil(t, process, "the turn's parent is the agent's handling of the question")
	answer := find(t, spans, "send message:send", "symbia.transport", "socket")
	chain := []sdktrace.ReadOnlySpan{send, post, process, turn, answer}
	for _, s := range spans {
		if handlesReply(s) {
			chain = append(chain, s) // alice's handling of the reply (and the agent's of its own)
		}
	}
	require.Len(t, chain, 7)
	for _, s := range chain {
		assert.Equal(t, traceID, s.SpanContext().TraceID(), "span %s in the trace", s.Name())
	}
	assert.Equal(t, ask.SpanContext().SpanID(), send.Parent().SpanID())
	assert.Equal(t, send.SpanContext().SpanID(), post.Parent().SpanID())
	assert.Equal(t, turn.SpanContext().SpanID(), answer.Parent().SpanID())
	assert.True(t, process.Parent().IsRemote(), "the handler's span continues the message's trace")
	require.Len(t, process.Links(), 1)
	assert.Equal(t, traceID, process.Links()[0].SpanContext.TraceID())

	// Kinds and semantic conventions.
	assert.Equal(t, trace.SpanKindProducer, send.SpanKind())
	assert.Equal(t, trace.SpanKindClient, post.SpanKind())
	assert.Equal(t, trace.SpanKindConsumer, process.SpanKind())
	assert.Equal(t, trace.SpanKindProducer, answer.SpanKind())
	assert.Equal(t, "symbia", attr(send, "messaging.system").AsString())
	assert.Equal(t, "send", attr(send, "messaging.operation.type").AsString())
	assert.Equal(t, h.conv, attr(send, "messaging.destination.name").AsString())
	assert.Equal(t, question.ID, attr(send, "messaging.message.id").AsString())
	assert.Equal(t, "process", attr(process, "messaging.operation.type").AsString())
	assert.Equal(t, h.conv, attr(process, "messaging.destination.name").AsString())
	assert.Equal(t, "POST", attr(post, "http.request.method").AsString())
	assert.Equal(t, int64(201), attr(post, "http.response.status_code").AsInt64())
	assert.Equal(t, h.srv.URL()+"/api/conversations/"+h.conv+"/messages", attr(post, "url.full").AsString())
	assert.Equal(t, "127.0.0.1", attr(post, "server.address").AsString())
	for _, s := range spans {
		for _, a := range s.Attributes() {
			assert.NotContains(t, a.Value.Emit(), "token", "no credential in span %s", s.Name())
		}
	}

	// What went on the wire: traceparent on the REST request (the POST
	// span's id) and on the agent's handshake (its Connect span's).
	assert.Equal(t, []string{"00-" + traceID.String() + "-" + post.SpanContext().SpanID().String() + "-01"},
		h.seen.traceparents("POST", "/api/conversations/"+h.conv+"/messages"))
	handshakes := h.seen.traceparents("GET", "/socket.io/")
	assert.Contains(t, handshakes, "00-"+connectSpan.SpanContext().TraceID().String()+"-"+connectSpan.SpanContext().SpanID().String()+"-01")
	assert.Contains(t, handshakes, "", "alice's Connect carried no span: no header")

	// What the service stored.
	for _, m := range h.srv.Messages(h.conv) {
		assert.Equal(t, traceID.String(), m.TraceID, "stored message %s", m.Content)
	}

	// The metrics.
	ms := h.metrics()
	for _, name := range []string{
		msgotel.MetricOperationDuration, msgotel.MetricSentMessages, msgotel.MetricConsumedMessages,
		msgotel.MetricProcessDuration, msgotel.MetricHTTPDuration, msgotel.MetricConnections,
		msgotel.MetricReconnects, msgotel.MetricAckTimeouts, msgotel.MetricBackfilled,
		msgotel.MetricDuplicatesDropped, msgotel.MetricSlowConsumerDrops, msgotel.MetricQueueDepth,
		msgotel.MetricTurns, msgotel.MetricTurnDuration,
	} {
		assert.Contains(t, ms, name)
	}
	assert.Equal(t, int64(2), sum(t, ms[msgotel.MetricSentMessages]), "the question and the reply")
	assert.Equal(t, int64(1), sum(t, ms[msgotel.MetricSentMessages], msgotel.KeyTransport.String("socket")))
	assert.Equal(t, uint64(2), histCount(t, ms[msgotel.MetricOperationDuration]))
	assert.GreaterOrEqual(t, sum(t, ms[msgotel.MetricConsumedMessages]), int64(3), "the agent's question, alice's own and the reply")
	assert.Equal(t, int64(2), sum(t, ms[msgotel.MetricConnections], msgotel.KeySocketState.String("connected")))
	assert.Equal(t, int64(1), sum(t, ms[msgotel.MetricTurns], msgotel.KeyOutcome.String("ok")))
	assert.Zero(t, sum(t, ms[msgotel.MetricAckTimeouts]))
	assert.Zero(t, sum(t, ms[msgotel.MetricQueueDepth]))
}

// agentAnswers makes the agent answer each of alice's messages from its
// handler, within a turn started through the socket's Observer, as an
// agent server does.
func agentAnswers(t *testing.T, _ *harness, agent *messaging.Socket) {
	agent.OnMessage(func(m *messaging.Message) {
		if m.SenderID != aliceID {
			return
		}
		tctx, end := agent.Observer().Turn(context.Background(), messaging.TurnInfo{Question: m, AgentID: "agent:helper"})
		sctx, cancel := context.WithTimeout(tctx, waitLimit)
		defer cancel()
		_, err := agent.SendMessage(sctx, messaging.SendMessageParams{
			ConversationID: m.ConversationID, ReplyTo: m.ID, Content: "open Settings, then Security."})
		end(err)
		assert.NoError(t, err)
	})
}

// A run takes its caller's trace id and reports a span and the run
// metrics when it ends.
func TestRunSpanAndMetrics(t *testing.T) {
	h := newHarness(t)
	agent := h.socket(agentToken)
	require.NoError(t, agent.Connect(ctx(t)))
	rctx, parent := h.tracer.Start(ctx(t), "work")
	run, err := agent.Run(rctx, h.conv, "", messaging.WithRunPrincipal(agentID, "agent:helper"))
	require.NoError(t, err)
	parent.End()
	assert.Equal(t, parent.SpanContext().TraceID().String(), run.TraceID())
	m, err := run.SendMessage(run.Context(), messaging.SendMessageParams{Content: "working on it"})
	require.NoError(t, err)
	assert.Equal(t, run.TraceID(), m.TraceID)
	run.End()

	spans := h.waitSpans("the run", func(spans []sdktrace.ReadOnlySpan) bool { return count(spans, named("run")) == 1 })
	r := find(t, spans, "run", "symbia.run.id", run.ID())
	assert.Equal(t, parent.SpanContext().SpanID(), r.Parent().SpanID())
	assert.Equal(t, "done", attr(r, "symbia.run.state").AsString())
	send := find(t, spans, "send message:send", "messaging.message.id", m.ID)
	assert.Equal(t, r.SpanContext().SpanID(), send.Parent().SpanID(), "sends with the run's context are the run's children")

	ms := h.metrics()
	assert.Equal(t, int64(1), sum(t, ms[msgotel.MetricRuns], msgotel.KeyRunState.String("done")))
	assert.Equal(t, uint64(1), histCount(t, ms[msgotel.MetricRunDuration]))
}

// Reconnections are counted, and the counters of a closed socket are
// kept, so that the counters never go down.
func TestSocketMetricsAcrossReconnectAndClose(t *testing.T) {
	h := newHarness(t)
	agent := h.socket(agentToken)
	reconnected := make(chan struct{}, 1)
	agent.OnReconnect(func() { reconnected <- struct{}{} })
	require.NoError(t, agent.Connect(ctx(t)))
	h.srv.DropConnectionsOf(agentID)
	select {
	case <-reconnected:
	case <-time.After(waitLimit):
		t.Fatal("no reconnection")
	}
	assert.Equal(t, int64(1), sum(t, h.metrics()[msgotel.MetricReconnects]))
	require.NoError(t, agent.Close())
	ms := h.metrics()
	assert.Equal(t, int64(1), sum(t, ms[msgotel.MetricReconnects]), "kept after Close")
	assert.Zero(t, sum(t, ms[msgotel.MetricConnections]), "no open socket")
}

func TestMessageContextWithoutInstrumentation(t *testing.T) {
	base := context.Background()
	m := &messaging.Message{ID: "m1", TraceID: "not a trace id"}
	assert.Equal(t, base, msgotel.MessageContext(base, m))
	m.TraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	c := msgotel.MessageContext(base, m)
	assert.Equal(t, m.TraceID, msgotel.TraceID(c))
	assert.True(t, trace.SpanContextFromContext(c).IsRemote())
	assert.Equal(t, "", msgotel.TraceID(base))
}

// A refused send ends its spans in error, with error.type, and counts no
// sent message.
func TestRefusedSendSpans(t *testing.T) {
	h := newHarness(t)
	h.srv.AddUser("mallory-token", messagingtest.Principal{ID: "3a110000-0000-4000-8000-000000000009", Name: "mallory"})
	_, err := h.client("mallory-token").SendMessage(ctx(t), messaging.SendMessageParams{ConversationID: h.conv, Content: "let me in"})
	require.ErrorIs(t, err, messaging.ErrForbidden)
	spans := h.spans.Ended()
	send := find(t, spans, "send message:send", "", "")
	post := find(t, spans, "POST", "url.full", h.srv.URL()+"/api/conversations/"+h.conv+"/messages")
	assert.Equal(t, codes.Error, send.Status().Code)
	assert.Equal(t, "403", attr(send, "error.type").AsString())
	assert.Equal(t, codes.Error, post.Status().Code)
	assert.Equal(t, int64(403), attr(post, "http.response.status_code").AsInt64())
	assert.Equal(t, "403", attr(post, "error.type").AsString())
	ms := h.metrics()
	assert.NotContains(t, ms, msgotel.MetricSentMessages, "nothing sent")
	assert.Equal(t, uint64(1), histCount(t, ms[msgotel.MetricOperationDuration]))
}

// ask sends alice's question over REST inside a span of her own (ended),
// checks that it is stored with her trace id, and returns it and the span.
func (h *harness) ask(t *testing.T, content string) (*messaging.Message, trace.Span) {
	t.Helper()
	askCtx, span := h.tracer.Start(ctx(t), "ask")
	question, err := h.client(aliceToken).SendMessage(askCtx, messaging.SendMessageParams{
		ConversationID: h.conv, Content: content})
	span.End()
	require.NoError(t, err)
	require.Equal(t, span.SpanContext().TraceID().String(), question.TraceID, "the question carries alice's trace id")
	return question, span
}
