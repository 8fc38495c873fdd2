package otel_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/agent"
	msgotel "github.com/symbia-labs/messaging-go/otel"
)

// One trace follows a question from a person's REST send, through an
// agent.Server's turn (the server reports it through the socket's
// Observer, without importing OpenTelemetry), to the reply the turn
// streams: the reply's message:send (the claim) and its message:edit
// sends, and the person's socket receiving it.
func TestOneTraceFromRESTSendThroughAgentServerTurnToStreamedReply(t *testing.T) {
	h := newHarness(t)

	// The agent streams its answer in two parts.
	ended := make(chan error, 1)
	srv, err := agent.New(h.client(agentToken), agent.HandlerFunc(func(ctx context.Context, turn *agent.Turn) error {
		if _, err := turn.Reply().WriteString("open Settings,"); err != nil {
			return err
		}
		if err := turn.Reply().Flush(ctx); err != nil {
			return err
		}
		_, err := turn.Reply().WriteString(" then Security.")
		return err
	}),
		agent.WithDiscoveryInterval(50*time.Millisecond),
		agent.WithOnTurnEnd(func(_ *agent.Turn, err error) { ended <- err }),
	)
	require.NoError(t, err)
	serveCtx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-served:
		case <-time.After(waitLimit):
			t.Error("Serve did not return")
		}
	})

	// alice reads the answer on her socket.
	aliceSock := h.socket(aliceToken)
	final := make(chan *messaging.Message, 10)
	var replyID string
	aliceSock.OnMessage(func(m *messaging.Message) {
		if m.SenderID == agentID {
			replyID = m.ID
		}
	})
	aliceSock.OnMessageUpdate(func(m *messaging.Message) {
		if m.SenderID == agentID && m.Content == "open Settings, then Security." {
			final <- m
		}
	})
	require.NoError(t, aliceSock.Connect(ctx(t)))

	// alice asks, over REST, inside a span of her own.
	question, ask := h.ask(t, "how do I reset my password?")
	traceID := ask.SpanContext().TraceID()

	var reply *messaging.Message
	select {
	case reply = <-final:
	case <-time.After(waitLimit):
		t.Fatal("no complete reply")
	}
	select {
	case err := <-ended:
		require.NoError(t, err, "the turn")
	case <-time.After(waitLimit):
		t.Fatal("the turn did not end")
	}
	assert.Equal(t, question.ID, reply.ReplyTo)
	assert.Equal(t, traceID.String(), reply.TraceID, "the reply carries the question's trace id")
	assert.Equal(t, replyID, reply.ID, "alice received the reply as a new message first")

	spans := h.waitSpans("the turn, its run and alice's handling of the reply", func(spans []sdktrace.ReadOnlySpan) bool {
		return count(spans, named("turn")) == 1 && count(spans, named("run")) == 1 &&
			count(spans, func(s sdktrace.ReadOnlySpan) bool {
				return s.Name() == "process message:new" && attr(s, "messaging.message.id").AsString() == reply.ID
			}) >= 1
	})

	// The chain, parent by parent.
	send := find(t, spans, "send message:send", "symbia.transport", "rest")
	post := find(t, spans, "POST", "url.full", h.srv.URL()+"/api/conversations/"+h.conv+"/messages")
	turn := find(t, spans, "turn", "", "")
	run := find(t, spans, "run", "", "")
	claim := find(t, spans, "send message:send", "messaging.message.id", reply.ID)
	var edits []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == "send message:edit" {
			edits = append(edits, s)
		}
	}
	require.GreaterOrEqual(t, len(edits), 2, "the streamed reply is edited once per flush")

	assert.Equal(t, ask.SpanContext().SpanID(), send.Parent().SpanID())
	assert.Equal(t, send.SpanContext().SpanID(), post.Parent().SpanID())
	// The turn continues the question's trace: under the agent's handling
	// of the question when the server took it from its socket handler (the
	// usual case), or directly under the question's remote span when it
	// found it in the history.
	var process sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == "process message:new" && attr(s, "messaging.message.id").AsString() == question.ID &&
			s.SpanContext().SpanID() == turn.Parent().SpanID() {
			process = s
		}
	}
	if process != nil {
		assert.True(t, process.Parent().IsRemote(), "the handling continues the question's trace")
	} else {
		assert.True(t, turn.Parent().IsRemote(), "the turn continues the question's trace")
	}
	assert.Equal(t, turn.SpanContext().SpanID(), run.Parent().SpanID(), "the turn's run")
	assert.Equal(t, run.SpanContext().SpanID(), claim.Parent().SpanID(), "the reply's creation, in the run")
	for _, e := range edits {
		assert.Equal(t, run.SpanContext().SpanID(), e.Parent().SpanID(), "an edit of the reply, in the run")
		assert.Equal(t, reply.ID, attr(e, "messaging.message.id").AsString())
		assert.Equal(t, trace.SpanKindProducer, e.SpanKind())
		assert.Equal(t, "send", attr(e, "messaging.operation.type").AsString())
		assert.Equal(t, messaging.EventMessageEdit, attr(e, "messaging.operation.name").AsString())
		assert.Equal(t, "socket", attr(e, "symbia.transport").AsString())
	}
	chain := append([]sdktrace.ReadOnlySpan{send, post, turn, run, claim}, edits...)
	for _, s := range spans {
		if s.Name() == "process message:new" && attr(s, "messaging.message.id").AsString() == reply.ID {
			chain = append(chain, s) // alice's handling of the reply (and the agent's of its own)
		}
	}
	for _, s := range chain {
		assert.Equal(t, traceID, s.SpanContext().TraceID(), "span %s in the trace", s.Name())
	}
	assert.Equal(t, trace.SpanKindInternal, turn.SpanKind())
	assert.Equal(t, "agent:helper", attr(turn, "symbia.agent.id").AsString())
	assert.Equal(t, question.ID, attr(turn, "messaging.message.id").AsString())
	assert.Equal(t, "done", attr(run, "symbia.run.state").AsString())
	assert.Equal(t, trace.SpanKindProducer, claim.SpanKind())

	// What the service stored: the question and the reply, in alice's trace.
	for _, m := range h.srv.Messages(h.conv) {
		assert.Equal(t, traceID.String(), m.TraceID, "stored message %s", m.Content)
	}

	// The metrics.
	ms := h.metrics()
	for _, name := range []string{
		msgotel.MetricOperationDuration, msgotel.MetricSentMessages, msgotel.MetricConsumedMessages,
		msgotel.MetricProcessDuration, msgotel.MetricHTTPDuration, msgotel.MetricConnections,
		msgotel.MetricRuns, msgotel.MetricRunDuration, msgotel.MetricTurns, msgotel.MetricTurnDuration,
	} {
		assert.Contains(t, ms, name)
	}
	assert.Equal(t, int64(1), sum(t, ms[msgotel.MetricTurns], msgotel.KeyOutcome.String("ok"), msgotel.KeyAgentID.String("agent:helper")))
	assert.Equal(t, int64(1), sum(t, ms[msgotel.MetricTurns]), "one turn")
	assert.Equal(t, uint64(1), histCount(t, ms[msgotel.MetricTurnDuration]))
	assert.Equal(t, int64(1), sum(t, ms[msgotel.MetricRuns], msgotel.KeyRunState.String("done")))
	assert.Equal(t, int64(1), sum(t, ms[msgotel.MetricSentMessages], msgotel.KeyTransport.String("rest")), "the question")
	assert.Equal(t, int64(1), sum(t, ms[msgotel.MetricSentMessages],
		msgotel.KeyTransport.String("socket"), attrOpName(messaging.EventMessageSend)), "the reply's creation")
	assert.Equal(t, int64(len(edits)), sum(t, ms[msgotel.MetricSentMessages], attrOpName(messaging.EventMessageEdit)), "the reply's edits")
}

func attrOpName(name string) attribute.KeyValue {
	return attribute.String("messaging.operation.name", name)
}
