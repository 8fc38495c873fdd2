package main

// Writing docs/benchmarks.md: the generated section between the markers.

import (
	"bytes"
	"errors"
	"fmt"

	"os"
	"slices"
	"strconv"
	"strings"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/bench/internal/load"
	"github.com/symbia-labs/messaging-go/bench/internal/report"
)

// the report

const (
	beginMark = "<!-- BEGIN GENERATED: bench/cmd/runbench replaces this section on every run -->"
	endMark   = "<!-- END GENERATED -->"
)

const skeleton = `# Benchmarks

How much the Go SDK costs the services that embed it, measured side by side
with the reference JavaScript client and with a bare WebSocket floor. Run it
with ` + "`make bench`" + `; the section between the markers below is written by the
harness (` + "`bench/cmd/runbench`" + `), the rest of this file by people.

` + beginMark + "\n" + endMark + "\n"

func writeReport(o options, env envInfo, rows, agentRows []report.Row, samples []load.Result, benches []report.GoBench, failures []string) error {
	var g bytes.Buffer
	w := &g
	fmt.Fprintf(w, "## Latest run\n\n")
	fmt.Fprintf(w, "%s, `make bench` (%d repeats, medians; ± is the largest distance of a repeat from the median), took %s.\n\n",
		env.Date.Format("2006-01-02 15:04 UTC"), o.reps, env.Duration)
	fmt.Fprintf(w, "| machine | |\n|---|---|\n")
	fmt.Fprintf(w, "| CPU | %s, %d cores, %.1f GiB RAM, %s |\n", env.CPU, env.Cores, env.MemGiB, env.Kernel)
	fmt.Fprintf(w, "| load average (1/5/15 min) | before %s · after the client runs %s", env.LoadBefore, env.LoadAfter)
	if env.LoadAfterBench != "" {
		fmt.Fprintf(w, " · after the micro-benchmarks %s", env.LoadAfterBench)
	}
	fmt.Fprintf(w, " |\n")
	fmt.Fprintf(w, "| Go SDK | messaging-go %s at %s, %s, coder/websocket %s |\n", messaging.Version, env.Commit, env.GoVersion, env.Websocket)
	fmt.Fprintf(w, "| JS client | socket.io-client %s on Node %s |\n", env.SocketIOClient, env.NodeVersion)
	fmt.Fprintf(w, "| Go peer | github.com/zishang520/socket.io/clients/socket/v3 %s (`bench/peer`, a module of its own) |\n", peerVersion())
	fmt.Fprintf(w, "| server | socket.io %s on Node %s (`bench/server.js`), shared by all clients |\n", env.SocketIOServer, env.NodeVersion)
	fmt.Fprintf(w, "| sizes | sequential %d, 50 in flight %d, fan-out %d messages × 20 receivers, idle %d connections; %d warm-up messages; agent %d turns in %d conversations after %d warm-up turns |\n\n",
		o.sizes[load.Seq], o.sizes[load.InFlight], o.sizes[load.Fanout], o.sizes[load.Idle], o.warmup, o.sizes[load.Turns], o.conversations, o.warmup)
	fmt.Fprintf(w, "![benchmark chart](benchmarks.svg)\n\n")
	report.Table(w, rows)
	fmt.Fprintln(w)
	if report.HasSamples(agentRows) {
		fmt.Fprintf(w, "### Agent server (`bench/agentload`)\n\n")
		fmt.Fprintf(w, "An `agent.Server` whose handler writes a 20-token reply to `Turn.Reply()` at once (default flush interval, so the reply goes out as one edit after the claim), %d conversations asking side by side, each question once the previous reply is complete, against `messagingtest` in a process of its own; %d turns after %d warm-up turns. CPU is the agent process's own (getrusage) per turn. With OpenTelemetry: `otel` installed with the SDK's TracerProvider (batch span processor, discarding exporter) and MeterProvider (manual reader), and each turn in `StartTurn`. The service and its people share the machine with the agent, so turns/s is the whole loop's; the instrumentation's cost is best read in the CPU per turn.\n\n",
			o.conversations, o.sizes[load.Turns], o.warmup)
		report.AgentTable(w, agentRows)
		fmt.Fprintln(w)
	}
	if len(failures) > 0 {
		fmt.Fprintf(w, "Failed runs (left out of the medians):\n\n")
		for _, f := range failures {
			fmt.Fprintf(w, "- %s\n", f)
		}
		fmt.Fprintln(w)
	}
	if len(benches) > 0 {
		fmt.Fprintf(w, "### Micro-benchmarks (`go test -bench . -benchmem`, median of %d)\n\n", o.benchCount)
		report.GoBenchTable(w, benches, module)
		fmt.Fprintln(w)
		sdk, ok1 := report.FindGoBench(benches, "BenchmarkREST/sdk")
		bare, ok2 := report.FindGoBench(benches, "BenchmarkREST/nethttp")
		if ok1 && ok2 {
			ratio := sdk.NsOp.Median / bare.NsOp.Median
			st := "✅ met"
			if ratio > 1.25 {
				st = "❌ missed"
			}
			fmt.Fprintf(w, "REST overhead: the SDK's `SendMessage` takes %.2f× the time of a bare `net/http` call with the same body (target ≤ 1.25×: %s); %s vs %s allocs/op.\n\n",
				ratio, st, strconv.FormatFloat(sdk.AllocsOp.Median, 'f', 0, 64), strconv.FormatFloat(bare.AllocsOp.Median, 'f', 0, 64))
		}
	}
	fmt.Fprintf(w, "<details><summary>Every repeat</summary>\n\n")
	fmt.Fprintf(w, "| metric | client | repeats |\n|---|---|---|\n")
	for _, r := range append(slices.Clone(rows), agentRows...) {
		for _, cl := range append(slices.Clone(report.Clients), report.AgentClients...) {
			var vs []string
			for _, s := range samples {
				if s.Client == cl.Name && s.Workload == r.Workload {
					vs = append(vs, strconv.FormatFloat(r.Get(s), 'f', 1, 64))
				}
			}
			if len(vs) > 0 {
				fmt.Fprintf(w, "| %s (%s) | %s | %s |\n", r.Label, r.Unit, cl.Name, strings.Join(vs, ", "))
			}
		}
	}
	diag := diagnostics(samples)
	if diag != "" {
		fmt.Fprintf(w, "\nDiagnostics (medians): %s\n", diag)
	}
	fmt.Fprintf(w, "\n</details>\n")

	old, err := os.ReadFile(o.out)
	if errors.Is(err, os.ErrNotExist) {
		old, err = []byte(skeleton), nil
	}
	if err != nil {
		return err
	}
	doc := string(old)
	i, j := strings.Index(doc, beginMark), strings.Index(doc, endMark)
	if i < 0 || j < i {
		doc = strings.TrimRight(doc, "\n") + "\n\n" + beginMark + "\n" + endMark + "\n"
		i, j = strings.Index(doc, beginMark), strings.Index(doc, endMark)
	}
	doc = doc[:i+len(beginMark)] + "\n" + g.String() + doc[j:]
	return os.WriteFile(o.out, []byte(doc), 0o644)
}

// diagnostics summarises the Extra fields of the idle and fan-out runs.
func diagnostics(samples []load.Result) string {
	keys := map[string][]string{
		load.Idle:     {"heap_inuse_kib_per_conn", "stack_kib_per_conn", "goroutines_per_conn", "heap_used_kib_per_conn", "rss_base_mib"},
		load.Fanout:   {"deliveries_per_s", "cpu_us_per_delivery", "allocs_per_msg", "bytes_per_msg", "gc_cycles"},
		load.InFlight: {"allocs_per_msg", "bytes_per_msg", "gc_cycles"},
		load.Seq:      {"allocs_per_msg", "bytes_per_msg", "gc_cycles"},
		load.Turns:    {"service_broadcasts_per_turn", "service_requests_per_turn", "otel_spans_per_turn", "otel_metrics"},
	}
	var parts []string
	for _, w := range []string{load.Idle, load.Seq, load.InFlight, load.Fanout, load.Turns} {
		for _, cl := range append(slices.Clone(report.Clients), report.AgentClients...) {
			var kv []string
			for _, k := range keys[w] {
				var vs []float64
				for _, s := range samples {
					if s.Client == cl.Name && s.Workload == w {
						if v, ok := s.Extra[k]; ok {
							vs = append(vs, v)
						}
					}
				}
				if len(vs) > 0 {
					kv = append(kv, fmt.Sprintf("%s %.1f", k, report.Summarize(vs).Median))
				}
			}
			if len(kv) > 0 {
				parts = append(parts, fmt.Sprintf("%s %s: %s", w, cl.Name, strings.Join(kv, ", ")))
			}
		}
	}
	return strings.Join(parts, "; ")
}
