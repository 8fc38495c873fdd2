// Package otel reports what the messaging SDK does to OpenTelemetry: spans
// for REST calls, sends, deliveries to handlers, runs and agent turns,
// following OpenTelemetry's semantic conventions for messaging and HTTP
// clients, and metrics for connections, sends and their acknowledgements,
// history backfill, the handler queue, runs and turns. It also carries
// the caller's trace into the service: the trace id of the span in a
// call's context becomes the message's (or control event's, or run's)
// trace id, traceparent headers go with REST requests and the socket's
// handshake, and a handler's span joins the trace of the message it
// handles.
//
// It is a Go module of its own, so that programs that do not import it
// link none of OpenTelemetry:
//
//	inst, err := otel.New() // the global providers, or WithTracerProvider...
//	client, err := messaging.NewClient(inst.Option())
//	sock, err := messaging.NewSocket(inst.Option())
//
// Import it under another name when the program also imports
// go.opentelemetry.io/otel, e.g. msgotel.
package otel

import (
	"context"
	"errors"
	"fmt"
	"sync"

	messaging "github.com/symbia-labs/messaging-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/symbia-labs/messaging-go/otel"

// System is the value of the messaging.system attribute.
const System = "symbia"

// Attribute keys: those of OpenTelemetry's semantic conventions, and the
// SDK's own, under "symbia.".
const (
	keySystem        = attribute.Key("messaging.system")
	keyOpType        = attribute.Key("messaging.operation.type")
	keyOpName        = attribute.Key("messaging.operation.name")
	keyDestination   = attribute.Key("messaging.destination.name")
	keyMessageID     = attribute.Key("messaging.message.id")
	keyErrorType     = attribute.Key("error.type")
	keyHTTPMethod    = attribute.Key("http.request.method")
	keyHTTPStatus    = attribute.Key("http.response.status_code")
	keyHTTPResend    = attribute.Key("http.request.resend_count")
	keyURLFull       = attribute.Key("url.full")
	keyServerAddress = attribute.Key("server.address")
	keyServerPort    = attribute.Key("server.port")

	KeyTransport    = attribute.Key("symbia.transport")     // rest or socket
	KeyControlEvent = attribute.Key("symbia.control.event") // a control event's name
	KeyRunID        = attribute.Key("symbia.run.id")
	KeyRunState     = attribute.Key("symbia.run.state")
	KeyAgentID      = attribute.Key("symbia.agent.id")
	KeySocketState  = attribute.Key("symbia.socket.state")
	KeyOutcome      = attribute.Key("symbia.outcome") // ok or error
)

// Metric names. Those under "messaging." and "http." are OpenTelemetry's
// semantic conventions; the others are the SDK's own.
const (
	MetricOperationDuration = "messaging.client.operation.duration" // send until stored (socket: acknowledged), s
	MetricSentMessages      = "messaging.client.sent.messages"
	MetricConsumedMessages  = "messaging.client.consumed.messages"
	MetricProcessDuration   = "messaging.process.duration" // the OnMessage handlers, s
	MetricHTTPDuration      = "http.client.request.duration"

	MetricConnections       = "symbia.messaging.connections" // sockets by state
	MetricReconnects        = "symbia.messaging.reconnects"
	MetricAckTimeouts       = "symbia.messaging.ack_timeouts"
	MetricBackfilled        = "symbia.messaging.backfilled_messages"
	MetricDuplicatesDropped = "symbia.messaging.duplicates_dropped"
	MetricSlowConsumerDrops = "symbia.messaging.slow_consumer_drops"
	MetricQueueDepth        = "symbia.messaging.handler_queue.depth"
	MetricRuns              = "symbia.messaging.runs" // ended runs by final state
	MetricRunDuration       = "symbia.messaging.run.duration"
	MetricTurns             = "symbia.messaging.turns" // agent turns by outcome
	MetricTurnDuration      = "symbia.messaging.turn.duration"
)

// Option configures New.
type Option func(*config)

type config struct {
	tp   trace.TracerProvider
	mp   metric.MeterProvider
	prop propagation.TextMapPropagator
}

// WithTracerProvider sets where spans go (default: the global provider).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// WithMeterProvider sets where metrics go (default: the global provider).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.mp = mp }
}

// WithPropagator sets how trace context travels in headers. The default
// is W3C Trace Context (traceparent, tracestate), whatever the global
// propagator is, because the service speaks it.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.prop = p }
}

// Instrumentation reports to one tracer and one meter. Make it with New,
// install it on Clients and Sockets with Option (or Observer), and call
// Shutdown when done. It is safe for concurrent use. It reads the
// counters of every Socket it was installed on until the socket is
// closed: close sockets you no longer use.
type Instrumentation struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator

	opDuration      metric.Float64Histogram
	sent            metric.Int64Counter
	consumed        metric.Int64Counter
	processDuration metric.Float64Histogram
	httpDuration    metric.Float64Histogram
	runs            metric.Int64Counter
	runDuration     metric.Float64Histogram
	turns           metric.Int64Counter
	turnDuration    metric.Float64Histogram

	reg metric.Registration

	// Attribute sets of the common measurements, made once.
	sendSets    map[sendKey]attribute.Set
	processOpts metric.MeasurementOption

	mu      sync.Mutex
	sockets map[*messaging.Socket]struct{}
	gone    messaging.SocketStats // the counters of the sockets closed so far
}

// New returns an Instrumentation. It fails only if an instrument cannot be
// made.
func New(opts ...Option) (*Instrumentation, error) {
	c := config{prop: propagation.TraceContext{}}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	i := &Instrumentation{
		tracer:  c.tp.Tracer(ScopeName),
		prop:    c.prop,
		sockets: make(map[*messaging.Socket]struct{}),
	}
	i.sendSets = make(map[sendKey]attribute.Set)
	for _, ev := range []string{messaging.EventMessageSend, messaging.EventMessageEdit, messaging.EventControlSend} {
		for _, tr := range []messaging.Transport{messaging.TransportREST, messaging.TransportSocket} {
			i.sendSets[sendKey{ev, tr}] = attribute.NewSet(sendMetricAttrs(ev, tr)...)
		}
	}
	i.processOpts = metric.WithAttributeSet(attribute.NewSet(keySystem.String(System), keyOpType.String("process"),
		keyOpName.String(messaging.EventMessageNew)))
	if err := i.instruments(c.mp.Meter(ScopeName)); err != nil {
		return nil, fmt.Errorf("messaging/otel: %w", err)
	}
	return i, nil
}

// durationBuckets are the semantic conventions' advice for messaging and
// HTTP durations, in seconds.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

func (i *Instrumentation) instruments(m metric.Meter) error {
	var errs []error
	hist := func(name, desc string) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(durationBuckets...))
		errs = append(errs, err)
		return h
	}
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	i.opDuration = hist(MetricOperationDuration, "How long a send took until the service stored it (over the socket: acknowledged it).")
	i.sent = counter(MetricSentMessages, "{message}", "Messages and control events sent.")
	i.consumed = counter(MetricConsumedMessages, "{message}", "Messages delivered to OnMessage handlers.")
	i.processDuration = hist(MetricProcessDuration, "How long the OnMessage handlers took for a message.")
	i.httpDuration = hist(MetricHTTPDuration, "Duration of REST requests.")
	i.runs = counter(MetricRuns, "{run}", "Runs ended, by final state.")
	i.runDuration = hist(MetricRunDuration, "How long runs lasted.")
	i.turns = counter(MetricTurns, "{turn}", "Agent turns ended, by outcome.")
	i.turnDuration = hist(MetricTurnDuration, "How long agent turns took.")

	obsCounter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	reconnects := obsCounter(MetricReconnects, "{reconnect}", "Connections a socket made after its first.")
	ackTimeouts := obsCounter(MetricAckTimeouts, "{timeout}", "Send attempts that had no acknowledgement within the ack timeout.")
	backfilled := obsCounter(MetricBackfilled, "{message}", "Messages delivered from the history after a gap.")
	duplicates := obsCounter(MetricDuplicatesDropped, "{message}", "Live messages dropped as already delivered.")
	drops := obsCounter(MetricSlowConsumerDrops, "{event}", "Server events dropped because the handler queue was full.")
	conns, err := m.Int64ObservableUpDownCounter(MetricConnections, metric.WithUnit("{socket}"),
		metric.WithDescription("Open sockets by connection state."))
	errs = append(errs, err)
	depth, err := m.Int64ObservableGauge(MetricQueueDepth, metric.WithUnit("{event}"),
		metric.WithDescription("Server events waiting for the handlers."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	i.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		total, byState, queued := i.socketTotals()
		o.ObserveInt64(reconnects, total.Reconnects)
		o.ObserveInt64(ackTimeouts, total.AckTimeouts)
		o.ObserveInt64(backfilled, total.Backfilled)
		o.ObserveInt64(duplicates, total.DuplicatesDropped)
		o.ObserveInt64(drops, total.SlowConsumerDrops)
		o.ObserveInt64(depth, queued)
		for _, st := range socketStates {
			o.ObserveInt64(conns, byState[st], metric.WithAttributes(KeySocketState.String(st.String())))
		}
		return nil
	}, reconnects, ackTimeouts, backfilled, duplicates, drops, conns, depth)
	return err
}

var socketStates = []messaging.State{
	messaging.StateDisconnected, messaging.StateConnecting, messaging.StateConnected, messaging.StateReconnecting,
}

// socketTotals adds up the counters of the open sockets and of those
// closed before, so that the counters never go down.
func (i *Instrumentation) socketTotals() (total messaging.SocketStats, byState map[messaging.State]int64, queued int64) {
	i.mu.Lock()
	socks := make([]*messaging.Socket, 0, len(i.sockets))
	for s := range i.sockets {
		socks = append(socks, s)
	}
	total = i.gone
	i.mu.Unlock()
	byState = make(map[messaging.State]int64, len(socketStates))
	for _, s := range socks {
		st := s.Stats()
		addStats(&total, st)
		queued += int64(st.QueueDepth)
		byState[s.State()]++
	}
	return total, byState, queued
}

func addStats(t *messaging.SocketStats, s messaging.SocketStats) {
	t.Sends += s.Sends
	t.Acks += s.Acks
	t.AckTimeouts += s.AckTimeouts
	t.Connections += s.Connections
	t.Reconnects += s.Reconnects
	t.Backfilled += s.Backfilled
	t.HistoryFetches += s.HistoryFetches
	t.DuplicatesDropped += s.DuplicatesDropped
	t.SlowConsumerDrops += s.SlowConsumerDrops
}

// Shutdown stops reporting the sockets' metrics. Spans and the other
// metrics go on until the Clients and Sockets are gone.
func (i *Instrumentation) Shutdown() error {
	if i.reg == nil {
		return nil
	}
	return i.reg.Unregister()
}

// Option returns the option that installs i on a Client or a Socket.
func (i *Instrumentation) Option() messaging.Option {
	return messaging.WithObserver(i.Observer())
}

// Observer returns i as the SDK's hooks, to combine with others.
func (i *Instrumentation) Observer() *messaging.Observer {
	return &messaging.Observer{
		TraceID:   TraceID,
		Request:   i.request,
		Handshake: i.handshake,
		Send:      i.send,
		Deliver:   i.deliver,
		Run:       i.run,
		Socket:    i.socket,

		MessageContext: MessageContext,
		Turn: func(ctx context.Context, info messaging.TurnInfo) (context.Context, func(error)) {
			return i.StartTurn(ctx, info.Question, info.AgentID)
		},
	}
}

// TraceID returns the W3C trace id (32 hex digits) of the span in ctx, or
// "" if it has none.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.TraceID().IsValid() {
		return ""
	}
	return sc.TraceID().String()
}
