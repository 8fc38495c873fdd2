package report

import (
	"strings"
	"testing"

	"github.com/symbia-labs/messaging-go/bench/internal/load"
)

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
pkg: github.com/symbia-labs/messaging-go/internal/socketio
BenchmarkDecodeMessageNew-2   	   48724	      8424 ns/op	  63.51 MB/s	     240 B/op	       3 allocs/op
BenchmarkDecodeMessageNew-2   	   34636	      9769 ns/op	  54.77 MB/s	     240 B/op	       3 allocs/op
BenchmarkDecodeMessageNew-2   	   34636	      9000 ns/op	  54.77 MB/s	     240 B/op	       3 allocs/op
pkg: github.com/symbia-labs/messaging-go
BenchmarkREST/nethttp-preencoded-2 	    2104	    277786 ns/op	    9642 B/op	     107 allocs/op
BenchmarkStream-2 	    2104	    1000 ns/op
`
	bs := ParseGoBench(strings.NewReader(out))
	if len(bs) != 3 {
		t.Fatalf("%d benchmarks: %+v", len(bs), bs)
	}
	if b := bs[0]; b.Name != "BenchmarkDecodeMessageNew" || b.NsOp.Median != 9000 || b.AllocsOp.Median != 3 || b.BytesOp.Median != 240 || !strings.HasSuffix(b.Pkg, "/socketio") {
		t.Errorf("%+v", b)
	}
	if b := bs[1]; b.Name != "BenchmarkREST/nethttp-preencoded" || b.AllocsOp.Median != 107 {
		t.Errorf("%+v", b)
	}
	if b := bs[2]; b.hasMem || b.NsOp.Median != 1000 {
		t.Errorf("%+v", b)
	}
}

func TestSummarizeAndChecks(t *testing.T) {
	c := Summarize([]float64{3, 1, 2, 10})
	if c.Median != 2.5 || c.Min != 1 || c.Max != 10 || c.N != 4 {
		t.Errorf("%+v", c)
	}
	row := Row{Metric: Metric{Better: Higher}, Cells: map[string]Cell{
		Go: Summarize([]float64{60, 100, 140}),
		JS: Summarize([]float64{98, 101, 104}),
	}}
	if got := notWorse(row).Status; got != "tie" {
		t.Errorf("1%% slower: %s", got)
	}
	row.Cells[Go] = Summarize([]float64{50, 50, 50})
	if got := notWorse(row).Status; got != "missed" {
		t.Errorf("half as fast: %s", got)
	}
	row.Better = Lower
	if got := notWorse(row).Status; got != "met" {
		t.Errorf("half the latency: %s", got)
	}
}

func TestCPUTargetIsAgainstTheFloor(t *testing.T) {
	row := Row{Metric: Metric{Better: Lower}, Cells: map[string]Cell{
		Go:    Summarize([]float64{45}),
		JS:    Summarize([]float64{50}),
		Floor: Summarize([]float64{33}),
	}}
	if c := cpuTarget(row); c.Status != "met" {
		t.Errorf("1.36× floor: %+v", c)
	}
	row.Cells[Floor] = Summarize([]float64{20})
	if c := cpuTarget(row); c.Status != "missed" || !strings.Contains(c.Detail, "2.25× floor") {
		t.Errorf("2.25× floor: %+v", c)
	}
	delete(row.Cells, Floor)
	if c := cpuTarget(row); c.Status != "n/a" {
		t.Errorf("no floor: %+v", c)
	}
}

func TestAgentTableGivesTheCostOfOpenTelemetryAsARatio(t *testing.T) {
	samples := []load.Result{
		{Client: Agent, Workload: load.Turns, Rate: 1000, CPU: 400, P50: 10000, P99: 20000},
		{Client: Agent, Workload: load.Turns, Rate: 1200, CPU: 500, P50: 12000, P99: 22000},
		{Client: Agent, Workload: load.Turns, Rate: 1100, CPU: 450, P50: 11000, P99: 21000},
		{Client: AgentOTel, Workload: load.Turns, Rate: 880, CPU: 540, P50: 13000, P99: 30000},
		// Other workloads and clients stay out of the agent table.
		{Client: Go, Workload: load.Seq, Rate: 5000, CPU: 50},
		{Client: AgentOTel, Workload: load.Seq, Rate: 1, CPU: 1},
	}
	rows := BuildAgent(samples)
	if !HasSamples(rows) {
		t.Fatal("no samples")
	}
	byKey := map[string]Row{}
	for _, r := range rows {
		byKey[r.Key] = r
	}
	if got := byKey["turns.rate"].Ratio(AgentOTel, Agent); got != 0.8 {
		t.Errorf("turns/s otel ÷ plain = %v, want 0.8 (880 ÷ median 1100)", got)
	}
	if got := byKey["turns.cpu"].Ratio(AgentOTel, Agent); got != 1.2 {
		t.Errorf("CPU/turn otel ÷ plain = %v, want 1.2 (540 ÷ median 450)", got)
	}
	var b strings.Builder
	AgentTable(&b, rows)
	out := b.String()
	for _, want := range []string{
		"| Agent turns, 20-token streamed reply (higher is better) | turns/s | 1100 ±9% | 880 | 0.80× |",
		"| Agent CPU per turn (lower is better) | µs | 450 ±11% | 540 | 1.20× |",
		"OpenTelemetry ÷ without",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// The five clients' table is unchanged by agent samples.
	for _, r := range Build(samples) {
		for _, cl := range Clients {
			if c := r.Cells[cl.Name]; c.OK() && cl.Name != Go {
				t.Errorf("%s has %s samples: %+v", r.Key, cl.Name, c)
			}
		}
	}
	if HasSamples(BuildAgent(samples[4:5])) {
		t.Error("agent rows from a seq sample")
	}
}
