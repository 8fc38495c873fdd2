package report

import (
	"strings"
	"testing"
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
