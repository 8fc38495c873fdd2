// Command agentload is the agent-server workload of the benchmark harness
// (`make bench`, workload "turns"): how many turns per second an
// agent.Server answers, and how much CPU its process spends per turn, for a
// handler that streams a 20-token reply, with and without the
// OpenTelemetry instrumentation (github.com/symbia-labs/messaging-go/otel)
// installed.
//
// It is a module of its own, so that neither the SDK's go.mod nor its
// `go test ./...` ever require OpenTelemetry. One binary, two roles, two
// processes, so that the CPU measured is the agent's alone:
//
//   - -role service runs the in-memory Messaging Service (messagingtest) on
//     a loopback port with one conversation per person, and the people:
//     each asks its questions one after the other, waiting until the reply
//     to the previous one is complete (seen through a ChunkAssembler) and
//     holds the 20 tokens; the conversations run side by side;
//   - -role agent (the default) starts the service role as a child process
//     (unless -url names a running one), serves the questions with an
//     agent.Server, measures the turns that end after the warm-up ones
//     (wall time, and user+system CPU time of its own process from
//     getrusage), and prints one JSON line in the harness's Result shape:
//     client "agent" or "agent+otel", workload "turns", rate = turns/s,
//     cpu = µs per turn, p50/p99 = a turn as the people see it (question
//     sent to reply complete).
//
// With -otel the agent's client is built with msgotel's option, with the
// OpenTelemetry SDK's TracerProvider (a batch span processor exporting to
// an exporter that discards, so spans are built, batched and exported) and
// MeterProvider (a manual reader, collected once at the end), and every
// turn is wrapped in Instrumentation.StartTurn by a middleware, as an
// agent server's turn hook does.
//
// The reply streams at the SDK's default flush interval (100 ms): the
// agent package sets no other and offers no option for it, so this is what
// every agent gets. A stream sends its first chunk at once and later ones
// at most once per interval; a handler that writes its 20 tokens without
// waiting is done before the stream's goroutine sends, so the reply
// usually goes out as one edit of the claim (the service's broadcasts per
// turn, in the result's extra, show it: question, claim, typing start,
// the edit, typing stop). When the goroutine catches only the first
// tokens, the rest follows one interval later, which shows in p99. So the
// workload measures what a turn costs beyond its tokens' pace, the part
// the instrumentation adds to; the conversations run side by side
// (-conversations, default 50) so that turns/s is the agent's capacity
// rather than one conversation's round trips (on a small machine the
// service role, on the same cores, bounds it as much as the agent does:
// read the instrumentation's cost in the CPU per turn). -flush-each
// instead flushes after every token: 20 edits per turn, paced by the
// interval (2 s a turn), as a reply a model writes slowly would be.
//
//	cd bench/agentload && GOWORK=off go run . -n 2000 -warmup 200 [-otel]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/agent"
	"github.com/symbia-labs/messaging-go/bench/internal/load"
	msgotel "github.com/symbia-labs/messaging-go/otel"
)

// Tokens is the length of every reply.
const Tokens = 20

// Principals of the service role.
const (
	agentID     = "a6e70000-0000-4000-8000-000000000001"
	agentToken  = "bench-agent-token"
	personToken = "bench-person-" // + index
)

// Client names of the two variants (report.Agent, report.AgentOTel).
const (
	clientPlain = "agent"
	clientOTel  = "agent+otel"
)

type config struct {
	role          string
	url           string
	otel          bool
	n, warmup     int
	conversations int
	timeout       time.Duration
	flushEach     bool
}

func main() {
	var c config
	flag.StringVar(&c.role, "role", "agent", "agent or service")
	flag.StringVar(&c.url, "url", "", "agent: a running service role's URL (empty: start one as a child process)")
	flag.BoolVar(&c.otel, "otel", false, "agent: install the OpenTelemetry instrumentation")
	flag.IntVar(&c.n, "n", 2000, "measured turns (after the warm-up)")
	flag.IntVar(&c.warmup, "warmup", 200, "turns before measuring")
	flag.IntVar(&c.conversations, "conversations", 50, "conversations asking side by side")
	flag.DurationVar(&c.timeout, "timeout", 3*time.Minute, "limit for the whole run")
	flag.BoolVar(&c.flushEach, "flush-each", false, "agent: flush the reply after every token (one edit per token, at the flush interval's pace)")
	// Flags the harness passes to every client; unused here.
	flag.String("workload", load.Turns, "always turns")
	flag.Int("inflight", 0, "unused")
	flag.Int("receivers", 0, "unused")
	flag.Parse()
	if c.n <= 0 || c.warmup < 0 || c.conversations <= 0 {
		fmt.Fprintln(os.Stderr, "agentload: -n and -conversations must be positive, -warmup not negative")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var err error
	switch c.role {
	case "service":
		err = serve(ctx, c, os.Stdin, os.Stdout)
	case "agent":
		var res load.Result
		res, err = runAgent(ctx, c)
		if err == nil {
			err = load.WriteResult(os.Stdout, res)
		}
	default:
		err = fmt.Errorf("unknown role %q", c.role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "agentload %s: %v\n", c.role, err)
		os.Exit(1)
	}
}

// ---- the service role: messagingtest and the people ----

func runAgent(ctx context.Context, c config) (load.Result, error) {
	res := load.Result{Client: clientPlain, Workload: load.Turns, N: c.n, Extra: map[string]float64{}}
	if c.otel {
		res.Client = clientOTel
	}
	url := c.url
	var svc *child
	if url == "" {
		var err error
		if svc, err = startService(ctx, c); err != nil {
			return res, err
		}
		defer svc.stop()
		url = svc.url
	}

	opts := []messaging.ClientOption{messaging.WithEndpoint(url), messaging.WithToken(agentToken)}
	var (
		inst     *msgotel.Instrumentation
		tp       *sdktrace.TracerProvider
		reader   *metric.ManualReader
		exported atomic.Int64
	)
	var aopts []agent.Option
	if c.otel {
		tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(discard{&exported}))
		reader = metric.NewManualReader()
		mp := metric.NewMeterProvider(metric.WithReader(reader))
		var err error
		if inst, err = msgotel.New(msgotel.WithTracerProvider(tp), msgotel.WithMeterProvider(mp)); err != nil {
			return res, err
		}
		opts = append(opts, inst.Option())
		aopts = append(aopts, agent.WithMiddleware(func(next agent.Handler) agent.Handler {
			return agent.HandlerFunc(func(ctx context.Context, t *agent.Turn) error {
				ctx, end := inst.StartTurn(ctx, t.Question, agentID)
				err := next.ServeTurn(ctx, t)
				end(err)
				return err
			})
		}))
	}
	client, err := messaging.NewClient(opts...)
	if err != nil {
		return res, err
	}

	// The measured part is from the end of the warmup-th turn to the end
	// of the (warmup+n)-th.
	var (
		mu       sync.Mutex
		ended    int
		failed   int
		firstErr error
		cpu0     time.Duration
		start    time.Time
		wall     time.Duration
		cpu      time.Duration
		done     = make(chan struct{})
	)
	if c.warmup == 0 {
		cpu0, start = load.CPUTime(), time.Now()
	}
	onEnd := func(_ *agent.Turn, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
		}
		ended++
		switch ended {
		case c.warmup:
			cpu0, start = load.CPUTime(), time.Now()
		case c.warmup + c.n:
			wall, cpu = time.Since(start), load.CPUTime()-cpu0
			close(done)
		}
	}
	handler := agent.HandlerFunc(func(ctx context.Context, t *agent.Turn) error {
		for _, tok := range reply {
			if _, err := t.Reply().WriteString(tok); err != nil {
				return err
			}
			if c.flushEach {
				if err := t.Reply().Flush(ctx); err != nil {
					return err
				}
			}
		}
		return nil
	})
	aopts = append(aopts, agent.WithOnTurnEnd(onEnd), agent.WithMaxTurns(c.conversations))
	srv, err := agent.New(client, handler, aopts...)
	if err != nil {
		return res, err
	}
	serveCtx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx) }()

	var gone <-chan struct{} // nil (never ready) without a child
	if svc != nil {
		gone = svc.gone
	}
	select {
	case <-done:
	case <-gone:
		return res, errors.New("the service role ended before the turns did (see its error above)")
	case err := <-served:
		return res, fmt.Errorf("serve ended early: %v", err)
	case <-ctx.Done():
		mu.Lock()
		n := ended
		mu.Unlock()
		return res, fmt.Errorf("%d of %d turns after %v: %w", n, c.warmup+c.n, c.timeout, ctx.Err())
	}
	mu.Lock()
	if failed > 0 {
		mu.Unlock()
		return res, fmt.Errorf("%d turns failed, the first: %w", failed, firstErr)
	}
	mu.Unlock()

	res.Seconds = wall.Seconds()
	res.Rate = float64(c.n) / wall.Seconds()
	res.CPU = micros(cpu) / float64(c.n)
	res.Extra["conversations"] = float64(c.conversations)
	res.Extra["tokens_per_turn"] = Tokens
	if c.flushEach {
		res.Extra["flush_each_token"] = 1
	}
	if svc != nil {
		if p, err := svc.people(ctx); err == nil {
			res.P50, res.P99 = p.P50, p.P99
			res.Extra["service_broadcasts_per_turn"] = p.Broadcasts
			res.Extra["service_requests_per_turn"] = p.Requests
		} else {
			fmt.Fprintf(os.Stderr, "agentload: the people's figures: %v\n", err)
		}
	}

	shutdown, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return res, fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, agent.ErrServerClosed) {
		return res, fmt.Errorf("serve: %w", err)
	}
	if c.otel {
		// Collect the metrics once, and flush the spans, so that the
		// instrumentation's work was all real.
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(shutdown, &rm); err != nil {
			return res, fmt.Errorf("collect metrics: %w", err)
		}
		var n int
		for _, sm := range rm.ScopeMetrics {
			n += len(sm.Metrics)
		}
		res.Extra["otel_metrics"] = float64(n)
		if err := inst.Shutdown(); err != nil {
			return res, err
		}
		if err := tp.Shutdown(shutdown); err != nil {
			return res, err
		}
		res.Extra["otel_spans_per_turn"] = float64(exported.Load()) / float64(c.warmup+c.n)
	}
	return res, nil
}

// discard is a span exporter that counts and drops.
type discard struct{ n *atomic.Int64 }

func (d discard) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	d.n.Add(int64(len(spans)))
	return nil
}

func (discard) Shutdown(context.Context) error { return nil }

// child is the service role in a process of its own.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	url   string
	done  chan peopleResult // its DONE line
	gone  chan struct{}     // closed when its output ends
}

func startService(ctx context.Context, c config) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-role", "service", "-n", strconv.Itoa(c.n), "-warmup", strconv.Itoa(c.warmup),
		"-conversations", strconv.Itoa(c.conversations), "-timeout", c.timeout.String())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := &child{cmd: cmd, stdin: stdin, done: make(chan peopleResult, 1), gone: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		defer close(ch.gone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if u, ok := strings.CutPrefix(line, "READY "); ok {
				ready <- u
			} else if b, ok := strings.CutPrefix(line, "DONE "); ok {
				var p peopleResult
				if err := json.Unmarshal([]byte(b), &p); err == nil {
					ch.done <- p
				}
			}
		}
	}()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	select {
	case ch.url = <-ready:
		return ch, nil
	case <-ch.gone:
		err = errors.New("the service role ended before READY")
	case <-timeout.C:
		err = errors.New("the service role was not READY within 30 s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	ch.stop()
	return nil, err
}

// people waits for the service role's DONE line.
func (ch *child) people(ctx context.Context) (peopleResult, error) {
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	select {
	case p := <-ch.done:
		return p, nil
	case <-ch.gone:
		select {
		case p := <-ch.done:
			return p, nil
		default:
			return peopleResult{}, errors.New("the service role ended without DONE")
		}
	case <-timeout.C:
		return peopleResult{}, errors.New("no DONE within 30 s")
	case <-ctx.Done():
		return peopleResult{}, ctx.Err()
	}
}

// stop ends the service role: closing its stdin lets it return; it is
// killed if it does not within 10 s.
func (ch *child) stop() {
	_ = ch.stdin.Close()
	select {
	case <-ch.gone:
	case <-time.After(10 * time.Second):
		_ = ch.cmd.Process.Kill()
		<-ch.gone
	}
	// Its output is read to the end: Wait may close the pipe.
	_ = ch.cmd.Wait()
}

func waitUntil(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
