// Package report turns the samples of a benchmark run into the comparison
// table (markdown), the target checks, the Go micro-benchmark table and the
// chart (SVG).
package report

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/symbia-labs/messaging-go/bench/internal/load"
)

// Client names, in table order.
const (
	Go       = "go"
	JS       = "js"
	Peer     = "peer"
	Floor    = "floor"
	RawFloor = "rawfloor"
)

// Clients lists the clients in table order, with their column titles.
var Clients = []struct{ Name, Title string }{
	{Go, "Go SDK `Socket`"},
	{JS, "JS `socket.io-client` 4.8"},
	{Peer, "Go peer `zishang520/socket.io` v3"},
	{Floor, "floor (bare `coder/websocket`)"},
	{RawFloor, "raw floor (hand-framed `net.Conn`)"},
}

// Cell is the median of the repeats of one metric for one client, with the
// range the repeats spanned.
type Cell struct {
	Median, Min, Max float64
	N                int
}

// OK reports whether the cell has samples.
func (c Cell) OK() bool { return c.N > 0 }

// Spread is the largest distance of a repeat from the median, relative to
// the median.
func (c Cell) Spread() float64 {
	if c.N == 0 || c.Median == 0 {
		return 0
	}
	return math.Max(c.Max-c.Median, c.Median-c.Min) / math.Abs(c.Median)
}

// Summarize makes a cell from the repeats.
func Summarize(vs []float64) Cell {
	if len(vs) == 0 {
		return Cell{}
	}
	s := slices.Clone(vs)
	sort.Float64s(s)
	var med float64
	if n := len(s); n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Cell{Median: med, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// Better says which direction of a metric is better.
type Better int

// Directions.
const (
	Higher Better = iota
	Lower
)

// Metric is one row of the table.
type Metric struct {
	Key      string
	Label    string
	Unit     string
	Workload string
	Better   Better
	Get      func(load.Result) float64
	// Target checks the medians; nil for a row without a target.
	Target func(m Row) Check
}

// Check is the verdict of a target.
type Check struct {
	Text   string // the target, e.g. "≤ ⅓ JS and ≤ 1.5× floor"
	Status string // "met", "tie", "missed" or "n/a"
	Detail string
}

// Row is a metric with its cells.
type Row struct {
	Metric
	Cells map[string]Cell
}

// Ratio returns a/b of the medians, NaN if either is missing.
func (r Row) Ratio(a, b string) float64 {
	ca, cb := r.Cells[a], r.Cells[b]
	if !ca.OK() || !cb.OK() || cb.Median == 0 {
		return math.NaN()
	}
	return ca.Median / cb.Median
}

// tieBand is how far apart two medians may be and still count as a tie:
// the clients share one server, so equal throughput is bounded by it.
const tieBand = 0.05

// notWorse compares Go with the JS client: met if Go's median is at least as
// good, a tie if it is worse by at most 5 %, else missed.
func notWorse(r Row) Check {
	g, j := r.Cells[Go], r.Cells[JS]
	c := Check{Text: "not worse than JS"}
	if !g.OK() || !j.OK() {
		c.Status = "n/a"
		return c
	}
	ratio := g.Median / j.Median
	worse := (r.Better == Higher && ratio < 1) || (r.Better == Lower && ratio > 1)
	dev := math.Abs(ratio - 1)
	switch {
	case !worse:
		c.Status = "met"
	case dev <= tieBand:
		c.Status = "tie"
		c.Detail = fmt.Sprintf("%.1f %% apart", dev*100)
	default:
		c.Status = "missed"
		c.Detail = fmt.Sprintf("%.1f %% worse", dev*100)
	}
	return c
}

// Metrics are the rows of the table, in order.
var Metrics = []Metric{
	{Key: "seq.rate", Label: "Sequential emit-with-ack", Unit: "msgs/s", Workload: load.Seq, Better: Higher,
		Get: func(r load.Result) float64 { return r.Rate }},
	{Key: "seq.p50", Label: "Sequential ack latency p50", Unit: "µs", Workload: load.Seq, Better: Lower,
		Get: func(r load.Result) float64 { return r.P50 }},
	{Key: "seq.p99", Label: "Sequential ack latency p99", Unit: "µs", Workload: load.Seq, Better: Lower,
		Get: func(r load.Result) float64 { return r.P99 }, Target: notWorse},
	{Key: "inflight.rate", Label: "50 acks in flight", Unit: "msgs/s", Workload: load.InFlight, Better: Higher,
		Get: func(r load.Result) float64 { return r.Rate }, Target: notWorse},
	{Key: "fanout.rate", Label: "Fan-out, 1 sender → 20 receivers", Unit: "msgs/s", Workload: load.Fanout, Better: Higher,
		Get: func(r load.Result) float64 { return r.Rate }, Target: notWorse},
	{Key: "inflight.cpu", Label: "Client CPU per acked message (50 in flight)", Unit: "µs", Workload: load.InFlight, Better: Lower,
		Get: func(r load.Result) float64 { return r.CPU }, Target: cpuTarget},
	{Key: "seq.cpu", Label: "Client CPU per acked message (sequential)", Unit: "µs", Workload: load.Seq, Better: Lower,
		Get: func(r load.Result) float64 { return r.CPU }},
	{Key: "fanout.cpu", Label: "Client CPU per fanned-out message (21 sockets)", Unit: "µs", Workload: load.Fanout, Better: Lower,
		Get: func(r load.Result) float64 { return r.CPU }},
	{Key: "idle.rss", Label: "Resident memory per idle connection", Unit: "KiB", Workload: load.Idle, Better: Lower,
		Get: func(r load.Result) float64 { return r.RSSPerConn }, Target: rssTarget},
}

func cpuTarget(r Row) Check {
	c := Check{Text: "≤ 1.5× floor"}
	fl := r.Ratio(Go, Floor)
	var miss []string
	if !math.IsNaN(fl) && fl > 1.5 {
		miss = append(miss, fmt.Sprintf("%.2f× floor (> 1.5)", fl))
	}
	switch {
	case math.IsNaN(fl):
		c.Status = "n/a"
	case len(miss) > 0:
		c.Status = "missed"
		c.Detail = strings.Join(miss, ", ")
	default:
		c.Status = "met"
	}
	return c
}

func rssTarget(r Row) Check {
	c := Check{Text: "< 32 KiB"}
	g := r.Cells[Go]
	switch {
	case !g.OK():
		c.Status = "n/a"
	case g.Median < 32:
		c.Status = "met"
	default:
		c.Status = "missed"
	}
	return c
}

// Build makes the rows from every sample of a run.
func Build(samples []load.Result) []Row { return build(samples, Metrics, clientNames(Clients)) }

// build makes one row per metric, one cell per client: the summary of the
// samples of that client and the metric's workload (others are ignored).
func build(samples []load.Result, metrics []Metric, clients []string) []Row {
	rows := make([]Row, 0, len(metrics))
	for _, m := range metrics {
		row := Row{Metric: m, Cells: map[string]Cell{}}
		for _, name := range clients {
			var vs []float64
			for _, s := range samples {
				if s.Client == name && s.Workload == m.Workload {
					vs = append(vs, m.Get(s))
				}
			}
			row.Cells[name] = Summarize(vs)
		}
		rows = append(rows, row)
	}
	return rows
}

// num formats a value with a precision that suits its size.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 10000:
		return group(strconv.FormatFloat(v, 'f', 0, 64))
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// group puts thin spaces between thousands.
func group(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u202f")
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func cellText(c Cell) string {
	if !c.OK() {
		return "–"
	}
	if c.N == 1 {
		return num(c.Median)
	}
	return fmt.Sprintf("%s ±%.0f%%", num(c.Median), c.Spread()*100)
}

func ratioText(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v)
}

var statusMark = map[string]string{"met": "✅ met", "tie": "✅ tie", "missed": "❌ missed", "n/a": "–"}

// Table writes the comparison table in markdown.
func Table(w io.Writer, rows []Row) {
	tableHead(w, Clients, " Go ÷ JS | Go ÷ peer | Go ÷ floor | floor ÷ raw floor | target | |", "---:|---:|---:|---:|---|---|")
	for _, r := range rows {
		rowHead(w, r, Clients)
		fmt.Fprintf(w, " %s | %s | %s | %s |", ratioText(r.Ratio(Go, JS)), ratioText(r.Ratio(Go, Peer)),
			ratioText(r.Ratio(Go, Floor)), ratioText(r.Ratio(Floor, RawFloor)))
		if r.Target != nil {
			c := r.Target(r)
			st := statusMark[c.Status]
			if c.Detail != "" {
				st += " (" + c.Detail + ")"
			}
			fmt.Fprintf(w, " %s | %s |\n", c.Text, st)
		} else {
			fmt.Fprintf(w, " | |\n")
		}
	}
}

// Checks returns the verdicts of every row that has a target.
func Checks(rows []Row) []struct {
	Row
	Check
} {
	var out []struct {
		Row
		Check
	}
	for _, r := range rows {
		if r.Target != nil {
			out = append(out, struct {
				Row
				Check
			}{r, r.Target(r)})
		}
	}
	return out
}

// GoBench is the median of the repeats of one `go test -bench` benchmark.
type GoBench struct {
	Pkg, Name               string
	NsOp, BytesOp, AllocsOp Cell
	hasMem                  bool
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+[\d.]+ MB/s)?(?:\s+([\d.]+) B/op\s+([\d.]+) allocs/op)?`)

// ParseGoBench reads `go test -bench -benchmem` output (several packages,
// several counts) and returns the medians, in order of first appearance.
func ParseGoBench(r io.Reader) []GoBench {
	type acc struct {
		pkg, name         string
		ns, bytes, allocs []float64
		mem               bool
	}
	var order []string
	m := map[string]*acc{}
	pkg := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		g := benchLine.FindStringSubmatch(line)
		if g == nil {
			continue
		}
		key := pkg + " " + g[1]
		a := m[key]
		if a == nil {
			a = &acc{pkg: pkg, name: g[1]}
			m[key] = a
			order = append(order, key)
		}
		ns, _ := strconv.ParseFloat(g[2], 64)
		a.ns = append(a.ns, ns)
		if g[3] != "" {
			b, _ := strconv.ParseFloat(g[3], 64)
			al, _ := strconv.ParseFloat(g[4], 64)
			a.bytes = append(a.bytes, b)
			a.allocs = append(a.allocs, al)
			a.mem = true
		}
	}
	out := make([]GoBench, 0, len(order))
	for _, k := range order {
		a := m[k]
		out = append(out, GoBench{Pkg: a.pkg, Name: a.name, NsOp: Summarize(a.ns), BytesOp: Summarize(a.bytes), AllocsOp: Summarize(a.allocs), hasMem: a.mem})
	}
	return out
}

// GoBenchTable writes the micro-benchmarks in markdown.
func GoBenchTable(w io.Writer, bs []GoBench, module string) {
	fmt.Fprintf(w, "| package | benchmark | ns/op | B/op | allocs/op |\n|---|---|---:|---:|---:|\n")
	for _, b := range bs {
		pkg := strings.TrimPrefix(strings.TrimPrefix(b.Pkg, module), "/")
		if pkg == "" {
			pkg = "messaging"
		}
		mem := func(c Cell) string {
			if !b.hasMem {
				return "–"
			}
			return num(c.Median)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", pkg, strings.TrimPrefix(b.Name, "Benchmark"), cellText(b.NsOp), mem(b.BytesOp), mem(b.AllocsOp))
	}
}

// FindGoBench returns the benchmark whose name ends with suffix.
func FindGoBench(bs []GoBench, name string) (GoBench, bool) {
	for _, b := range bs {
		if b.Name == name {
			return b, true
		}
	}
	return GoBench{}, false
}

// The agent server's workload (load.Turns, bench/agentload): the same
// server and handler without and with the OpenTelemetry instrumentation.
const (
	Agent     = "agent"
	AgentOTel = "agent+otel"
)

// AgentClients lists the variants of the agent workload, in table order.
var AgentClients = []struct{ Name, Title string }{
	{Agent, "`agent.Server`"},
	{AgentOTel, "`agent.Server` + OpenTelemetry"},
}

// AgentMetrics are the rows of the agent table, in order.
var AgentMetrics = []Metric{
	{Key: "turns.rate", Label: "Agent turns, 20-token streamed reply", Unit: "turns/s", Workload: load.Turns, Better: Higher,
		Get: func(r load.Result) float64 { return r.Rate }},
	{Key: "turns.cpu", Label: "Agent CPU per turn", Unit: "µs", Workload: load.Turns, Better: Lower,
		Get: func(r load.Result) float64 { return r.CPU }},
	{Key: "turns.p50", Label: "Turn as people see it (question sent → reply complete) p50", Unit: "µs", Workload: load.Turns, Better: Lower,
		Get: func(r load.Result) float64 { return r.P50 }},
	{Key: "turns.p99", Label: "Turn as people see it p99", Unit: "µs", Workload: load.Turns, Better: Lower,
		Get: func(r load.Result) float64 { return r.P99 }},
}

// BuildAgent makes the rows of the agent table from every sample of a run
// (samples of other workloads are ignored).
func BuildAgent(samples []load.Result) []Row {
	return build(samples, AgentMetrics, clientNames(AgentClients))
}

// HasSamples reports whether any row has a sample.
func HasSamples(rows []Row) bool {
	for _, r := range rows {
		for _, c := range r.Cells {
			if c.OK() {
				return true
			}
		}
	}
	return false
}

// AgentTable writes the agent table in markdown: both variants and the
// cost of the instrumentation as the ratio of their medians.
func AgentTable(w io.Writer, rows []Row) {
	tableHead(w, AgentClients, " OpenTelemetry ÷ without |", "---:|")
	for _, r := range rows {
		rowHead(w, r, AgentClients)
		fmt.Fprintf(w, " %s |\n", ratioText(r.Ratio(AgentOTel, Agent)))
	}
}

// clientNames returns the names of a client list, in order.
func clientNames(cs []struct{ Name, Title string }) []string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return names
}

// tableHead writes a table's header: metric, unit, one column per client,
// then the extra columns (titles and their alignment row).
func tableHead(w io.Writer, clients []struct{ Name, Title string }, extra, extraAlign string) {
	fmt.Fprintf(w, "| metric | unit |")
	for _, cl := range clients {
		fmt.Fprintf(w, " %s |", cl.Title)
	}
	fmt.Fprintf(w, "%s\n", extra)
	fmt.Fprintf(w, "|---|---|%s%s\n", strings.Repeat("---:|", len(clients)), extraAlign)
}

// rowHead writes a row's label, unit and one cell per client.
func rowHead(w io.Writer, r Row, clients []struct{ Name, Title string }) {
	better := "higher is better"
	if r.Better == Lower {
		better = "lower is better"
	}
	fmt.Fprintf(w, "| %s (%s) | %s |", r.Label, better, r.Unit)
	for _, cl := range clients {
		fmt.Fprintf(w, " %s |", cellText(r.Cells[cl.Name]))
	}
}
