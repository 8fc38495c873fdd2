package otel

// The Observer's hooks, one section each: REST requests, the socket's
// handshake, sends, deliveries, runs, agent turns and sockets.

import (
	"context"
	"errors"
	"hash/fnv"
	"net/http"
	"strconv"
	"sync"
	"time"

	messaging "github.com/symbia-labs/messaging-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ---- REST ----

func (i *Instrumentation) request(ctx context.Context, req *http.Request, info messaging.RequestInfo) func(int, error) {
	u := *req.URL
	u.User = nil // the SDK refuses endpoints with credentials; never report any
	attrs := []attribute.KeyValue{
		keyHTTPMethod.String(info.Method),
		keyURLFull.String(u.String()),
		keyServerAddress.String(u.Hostname()),
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err == nil {
			attrs = append(attrs, keyServerPort.Int(n))
		}
	}
	if info.Attempt > 0 {
		attrs = append(attrs, keyHTTPResend.Int(info.Attempt))
	}
	ctx, span := i.tracer.Start(ctx, info.Method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	if req.Header.Get("Traceparent") == "" { // one the caller set with WithHeader wins
		i.prop.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	start := time.Now()
	return func(status int, err error) {
		mattrs := []attribute.KeyValue{keyHTTPMethod.String(info.Method), keyServerAddress.String(u.Hostname())}
		if status != 0 {
			span.SetAttributes(keyHTTPStatus.Int(status))
			mattrs = append(mattrs, keyHTTPStatus.Int(status))
		}
		switch {
		case err != nil:
			et := errorType(err)
			span.SetAttributes(keyErrorType.String(et))
			span.SetStatus(codes.Error, err.Error())
			mattrs = append(mattrs, keyErrorType.String(et))
		case status >= 400:
			span.SetAttributes(keyErrorType.String(strconv.Itoa(status)))
			span.SetStatus(codes.Error, "")
			mattrs = append(mattrs, keyErrorType.String(strconv.Itoa(status)))
		}
		span.End()
		i.httpDuration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(mattrs...))
	}
}

// errorType is a low-cardinality name for err, for error.type.
func errorType(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, messaging.ErrDeliveryUnknown):
		return "delivery_unknown"
	case errors.Is(err, messaging.ErrClosed):
		return "closed"
	case errors.Is(err, messaging.ErrNotConnected):
		return "not_connected"
	}
	var ae *messaging.APIError
	if errors.As(err, &ae) {
		return strconv.Itoa(ae.StatusCode)
	}
	var ack *messaging.AckError
	if errors.As(err, &ack) {
		return "refused"
	}
	var ve *messaging.ValidationError
	if errors.As(err, &ve) {
		return "invalid_argument"
	}
	return "_OTHER"
}

// ---- the socket's handshake ----

func (i *Instrumentation) handshake(ctx context.Context, h http.Header) {
	i.prop.Inject(ctx, propagation.HeaderCarrier(h))
}

// ---- sends ----

type sendKey struct {
	event     string
	transport messaging.Transport
}

func sendMetricAttrs(event string, tr messaging.Transport) []attribute.KeyValue {
	return []attribute.KeyValue{
		keySystem.String(System),
		keyOpType.String("send"),
		keyOpName.String(event),
		KeyTransport.String(string(tr)),
	}
}

func (i *Instrumentation) send(ctx context.Context, info messaging.SendInfo) (context.Context, func(error)) {
	set, ok := i.sendSets[sendKey{info.Event, info.Transport}]
	if !ok {
		set = attribute.NewSet(sendMetricAttrs(info.Event, info.Transport)...)
	}
	attrs := sendMetricAttrs(info.Event, info.Transport)
	if info.ConversationID != "" {
		attrs = append(attrs, keyDestination.String(info.ConversationID))
	}
	if info.MessageID != "" {
		attrs = append(attrs, keyMessageID.String(info.MessageID))
	}
	if info.Control != "" {
		attrs = append(attrs, KeyControlEvent.String(info.Control))
	}
	ctx, span := i.tracer.Start(ctx, "send "+info.Event, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
	start := time.Now()
	return ctx, func(err error) {
		d := time.Since(start).Seconds()
		if err != nil {
			et := errorType(err)
			span.SetAttributes(keyErrorType.String(et))
			span.SetStatus(codes.Error, err.Error())
			span.End()
			kvs := append(set.ToSlice(), keyErrorType.String(et))
			i.opDuration.Record(ctx, d, metric.WithAttributes(kvs...))
			return
		}
		span.End()
		opts := metric.WithAttributeSet(set)
		i.opDuration.Record(ctx, d, opts)
		i.sent.Add(ctx, 1, opts)
	}
}

// ---- deliveries ----

// processing maps a message being handled to its process span, for
// MessageContext.
var processing sync.Map // *messaging.Message → trace.Span

func (i *Instrumentation) deliver(_ *messaging.Socket, m *messaging.Message) func() {
	parent := context.Background()
	var links []trace.Link
	if sc, ok := messageSpanContext(m); ok {
		parent = trace.ContextWithRemoteSpanContext(parent, sc)
		links = []trace.Link{{SpanContext: sc}}
	}
	ctx, span := i.tracer.Start(parent, "process "+messaging.EventMessageNew, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			keySystem.String(System),
			keyOpType.String("process"),
			keyOpName.String(messaging.EventMessageNew),
			keyDestination.String(m.ConversationID),
			keyMessageID.String(m.ID),
		), trace.WithLinks(links...))
	processing.Store(m, span)
	start := time.Now()
	return func() {
		processing.Delete(m)
		span.End()
		i.processDuration.Record(ctx, time.Since(start).Seconds(), i.processOpts)
		i.consumed.Add(ctx, 1, i.processOpts)
	}
}

// messageSpanContext is the remote span context a message stands for when
// its trace id is a W3C trace id. The service keeps only the trace id, not
// the sender's span id: the span id is derived from the message id, so
// that every span that handles the message joins its trace under one
// parent.
func messageSpanContext(m *messaging.Message) (trace.SpanContext, bool) {
	if m == nil || len(m.TraceID) != 32 {
		return trace.SpanContext{}, false
	}
	tid, err := trace.TraceIDFromHex(m.TraceID)
	if err != nil || !tid.IsValid() {
		return trace.SpanContext{}, false
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(m.ID))
	var sid trace.SpanID
	sum := h.Sum64()
	if sum == 0 {
		sum = 1
	}
	for k := range sid {
		sid[k] = byte(sum >> (8 * (7 - k)))
	}
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true,
	}), true
}

// MessageContext returns ctx carrying the trace of m, for work done on
// m's behalf (a reply, a call to another service): while an OnMessage
// handler of an instrumented socket handles m, the span of that handling;
// otherwise, when m's trace id is a W3C trace id, a remote span of that
// trace (see the package documentation); otherwise ctx itself. A reply
// sent with the returned context carries m's trace id.
func MessageContext(ctx context.Context, m *messaging.Message) context.Context {
	if v, ok := processing.Load(m); ok {
		return trace.ContextWithSpan(ctx, v.(trace.Span))
	}
	if sc, ok := messageSpanContext(m); ok {
		return trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return ctx
}

// ---- runs ----

func (i *Instrumentation) run(ctx context.Context, info messaging.RunInfo) (context.Context, func(messaging.RunState, error)) {
	ctx, span := i.tracer.Start(ctx, "run", trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(
		keySystem.String(System), keyDestination.String(info.ConversationID), KeyRunID.String(info.RunID)))
	start := time.Now()
	return ctx, func(st messaging.RunState, cause error) {
		span.SetAttributes(KeyRunState.String(st.String()))
		if st != messaging.RunDone {
			msg := st.String()
			if cause != nil {
				msg = cause.Error()
			}
			span.SetStatus(codes.Error, msg)
		}
		span.End()
		attrs := metric.WithAttributes(keySystem.String(System), KeyRunState.String(st.String()))
		// The run's context has ended: record with a fresh one.
		i.runs.Add(context.Background(), 1, attrs)
		i.runDuration.Record(context.Background(), time.Since(start).Seconds(), attrs)
	}
}

// ---- agent turns ----

// StartTurn starts an agent's turn in answer to m: a span, child of
// MessageContext(ctx, m) (so of the handling of m, in m's trace), and the
// turn metrics. Call the returned function once with the turn's outcome.
// An agent server calls it around each turn, through the Observer's Turn
// hook (or a middleware of its handlers calls it); sends made with the
// returned context carry the turn's trace id.
func (i *Instrumentation) StartTurn(ctx context.Context, m *messaging.Message, agentID string) (context.Context, func(err error)) {
	ctx = MessageContext(ctx, m)
	attrs := []attribute.KeyValue{keySystem.String(System), keyOpType.String("process"), keyOpName.String("turn")}
	if agentID != "" {
		attrs = append(attrs, KeyAgentID.String(agentID))
	}
	mattrs := attrs
	if m != nil {
		attrs = append(attrs, keyDestination.String(m.ConversationID), keyMessageID.String(m.ID))
	}
	ctx, span := i.tracer.Start(ctx, "turn", trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	start := time.Now()
	var once sync.Once
	return ctx, func(err error) {
		once.Do(func() {
			outcome := "ok"
			if err != nil {
				outcome = "error"
				span.SetStatus(codes.Error, err.Error())
				span.SetAttributes(keyErrorType.String(errorType(err)))
			}
			span.End()
			a := metric.WithAttributes(append(mattrs, KeyOutcome.String(outcome))...)
			i.turns.Add(context.Background(), 1, a)
			i.turnDuration.Record(context.Background(), time.Since(start).Seconds(), a)
		})
	}
}

// ---- sockets ----

func (i *Instrumentation) socket(s *messaging.Socket) func() {
	i.mu.Lock()
	i.sockets[s] = struct{}{}
	i.mu.Unlock()
	return func() {
		st := s.Stats()
		i.mu.Lock()
		if _, ok := i.sockets[s]; ok {
			delete(i.sockets, s)
			st.QueueDepth = 0
			addStats(&i.gone, st)
		}
		i.mu.Unlock()
	}
}
