// Package load runs the benchmark workloads against one client
// implementation and measures them from inside the client's own process:
// wall time and latency per acknowledged message, CPU time from the
// process's rusage, resident memory per connection after a GC.
//
// The Go SDK client and the coder/websocket floor both run through it, so
// the two differ only in their Driver. The Node client (bench/jsclient.js)
// implements the same workloads and prints the same Result.
package load

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The conversations of the workloads, and the message every client sends.
// The payload is the same for all three clients: conversationId, a fresh
// message id (a UUID) and this content.
const (
	Conversation       = "e0eed82d-ec4f-4818-9be1-9f1402a7f089"
	FanoutConversation = "67ad9574-01de-49ff-b691-7755449bef84"
	Content            = "Hello from the benchmark: a chat message of ordinary length, about one hundred bytes."
	Token              = "bench-token"
)

// Workload names.
const (
	Seq      = "seq"      // sequential emit-with-ack
	InFlight = "inflight" // a fixed number of acks in flight
	Fanout   = "fanout"   // one sender, many receiving connections
	Idle     = "idle"     // many idle connections in one process
	Turns    = "turns"    // agent turns (bench/agentload, its own module)
)

// Driver is one client implementation under test.
type Driver interface {
	// Dial connects one socket (namespace connected, auth {token} sent).
	// Its Send posts message:send to conversation. onMessage, when not nil,
	// is called for every message:new the socket receives.
	Dial(ctx context.Context, url, conversation string, onMessage func()) (Conn, error)
}

// Conn is one connected socket.
type Conn interface {
	// Send emits message:send and waits for a successful ack.
	Send(ctx context.Context) error
	// Join emits join:conversation and waits for its ack.
	Join(ctx context.Context, conversation string) error
	Close() error
}

// Config selects a workload and its size.
type Config struct {
	URL       string
	Workload  string
	N         int // acked messages (seq, inflight), messages fanned out (fanout), connections (idle)
	Warmup    int // messages before measuring
	InFlight  int // concurrent acks (inflight, and the fan-out sender)
	Receivers int // fan-out receiving connections
	Timeout   time.Duration
	// Settle is how long idle connections sit before memory is measured
	// (1 s when zero).
	Settle time.Duration
	// CPUProfile and MemProfile, when set, receive a pprof CPU profile of
	// the measured part and a heap profile taken at its end (idle: with
	// every connection open).
	CPUProfile, MemProfile string
}

// Result is one measured workload, printed as one JSON line.
type Result struct {
	Client   string `json:"client"`
	Workload string `json:"workload"`
	N        int    `json:"n"`
	// Seconds is the measured wall time.
	Seconds float64 `json:"seconds"`
	// Rate is acknowledged messages per second (seq, inflight) or messages
	// per second delivered to every receiver (fanout).
	Rate float64 `json:"rate,omitempty"`
	// P50 and P99 are ack latencies in microseconds.
	P50 float64 `json:"p50_us,omitempty"`
	P99 float64 `json:"p99_us,omitempty"`
	// CPU is the process's user+system CPU time per message in
	// microseconds (per acked message; per fanned-out message for fanout).
	CPU float64 `json:"cpu_us_per_msg,omitempty"`
	// RSSPerConn is the resident memory per idle connection in KiB.
	RSSPerConn float64 `json:"rss_kib_per_conn,omitempty"`
	// Extra holds diagnostics (heap and stack per connection, goroutines…).
	Extra map[string]float64 `json:"extra,omitempty"`
}

// Defaults fills the zero fields of cfg.
func (cfg *Config) Defaults() {
	if cfg.InFlight <= 0 {
		cfg.InFlight = 50
	}
	if cfg.Receivers <= 0 {
		cfg.Receivers = 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.Settle <= 0 {
		cfg.Settle = time.Second
	}
	if cfg.N <= 0 {
		switch cfg.Workload {
		case Seq:
			cfg.N = 5000
		case InFlight:
			cfg.N = 30000
		case Fanout:
			cfg.N = 3000
		case Idle:
			cfg.N = 1000
		}
	}
	if cfg.Warmup < 0 {
		cfg.Warmup = 0
	}
}

// Run runs the workload of cfg with d.
func Run(ctx context.Context, client string, d Driver, cfg Config) (Result, error) {
	cfg.Defaults()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var (
		res Result
		err error
	)
	switch cfg.Workload {
	case Seq:
		res, err = runSeq(ctx, d, cfg)
	case InFlight:
		res, err = runInFlight(ctx, d, cfg)
	case Fanout:
		res, err = runFanout(ctx, d, cfg)
	case Idle:
		res, err = runIdle(ctx, d, cfg)
	default:
		err = fmt.Errorf("unknown workload %q", cfg.Workload)
	}
	res.Client, res.Workload = client, cfg.Workload
	return res, err
}

// Main is the whole program of a Go client under test: it reads the
// workload from the flags, runs it and prints the Result as JSON.
func Main(client string, d Driver) {
	var cfg Config
	fs := flag.NewFlagSet(client, flag.ExitOnError)
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:3000", "server URL")
	fs.StringVar(&cfg.Workload, "workload", Seq, "seq, inflight, fanout or idle")
	fs.IntVar(&cfg.N, "n", 0, "messages (connections for idle); 0 = default")
	fs.IntVar(&cfg.Warmup, "warmup", 500, "messages sent before measuring")
	fs.IntVar(&cfg.InFlight, "inflight", 50, "acks in flight")
	fs.IntVar(&cfg.Receivers, "receivers", 20, "fan-out receivers")
	fs.DurationVar(&cfg.Timeout, "timeout", 2*time.Minute, "workload timeout")
	fs.DurationVar(&cfg.Settle, "settle", time.Second, "idle: wait before measuring memory")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the measured part")
	fs.StringVar(&cfg.MemProfile, "memprofile", "", "write a heap profile at the end of the measured part")
	_ = fs.Parse(os.Args[1:])
	if cfg.MemProfile != "" {
		runtime.MemProfileRate = 1 // every allocation, for an exact account
	}
	res, err := Run(context.Background(), client, d, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s %s: %v\n", client, cfg.Workload, err)
		os.Exit(1)
	}
	if err := WriteResult(os.Stdout, res); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// WriteResult prints res as one JSON line.
func WriteResult(w io.Writer, res Result) error {
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func sendN(ctx context.Context, c Conn, n int) error {
	for range n {
		if err := c.Send(ctx); err != nil {
			return err
		}
	}
	return nil
}

func runSeq(ctx context.Context, d Driver, cfg Config) (Result, error) {
	c, err := d.Dial(ctx, cfg.URL, Conversation, nil)
	if err != nil {
		return Result{}, fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	if err := sendN(ctx, c, cfg.Warmup); err != nil {
		return Result{}, fmt.Errorf("warm-up: %w", err)
	}
	lat := make([]time.Duration, cfg.N)
	runtime.GC()
	stop := measuring(cfg)
	ms0 := memStats()
	cpu0, start := CPUTime(), time.Now()
	for i := range lat {
		t := time.Now()
		if err := c.Send(ctx); err != nil {
			return Result{}, fmt.Errorf("send %d: %w", i, err)
		}
		lat[i] = time.Since(t)
	}
	wall, cpu := time.Since(start), CPUTime()-cpu0
	stop()
	return withAllocs(acked(cfg.N, wall, cpu, lat), ms0, cfg.N), nil
}

func runInFlight(ctx context.Context, d Driver, cfg Config) (Result, error) {
	c, err := d.Dial(ctx, cfg.URL, Conversation, nil)
	if err != nil {
		return Result{}, fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	if _, err := pipeline(ctx, c, cfg.Warmup, cfg.InFlight, nil); err != nil {
		return Result{}, fmt.Errorf("warm-up: %w", err)
	}
	lat := make([]time.Duration, cfg.N)
	runtime.GC()
	stop := measuring(cfg)
	ms0 := memStats()
	cpu0, start := CPUTime(), time.Now()
	if _, err := pipeline(ctx, c, cfg.N, cfg.InFlight, lat); err != nil {
		return Result{}, err
	}
	wall, cpu := time.Since(start), CPUTime()-cpu0
	stop()
	return withAllocs(acked(cfg.N, wall, cpu, lat), ms0, cfg.N), nil
}

// pipeline sends n messages with k acks in flight; lat, if not nil,
// receives each message's ack latency.
func pipeline(ctx context.Context, c Conn, n, k int, lat []time.Duration) (int, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(k, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				if err := c.Send(ctx); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("send %d: %w", i, err); cancel() })
					return
				}
				if lat != nil {
					lat[i] = time.Since(t)
				}
			}
		}()
	}
	wg.Wait()
	return n, firstErr
}

func acked(n int, wall time.Duration, cpu time.Duration, lat []time.Duration) Result {
	slices.Sort(lat)
	return Result{
		N:       n,
		Seconds: wall.Seconds(),
		Rate:    float64(n) / wall.Seconds(),
		P50:     micros(Percentile(lat, 0.50)),
		P99:     micros(Percentile(lat, 0.99)),
		CPU:     micros(cpu) / float64(n),
	}
}

// measuring brackets the measured part of a workload: it starts the CPU
// profile, and its stop function writes the heap profile.
func measuring(cfg Config) (stop func()) {
	var cpuf *os.File
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			cpuf = f
		}
	}
	return func() {
		if cpuf != nil {
			pprof.StopCPUProfile()
			_ = cpuf.Close()
		}
		if cfg.MemProfile != "" {
			if f, err := os.Create(cfg.MemProfile); err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				_ = f.Close()
			}
		}
	}
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// Percentile returns the q-quantile (nearest rank) of sorted durations.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// counter counts the messages one receiver got.
type counter struct {
	n     atomic.Int64
	total *atomic.Int64
	want  int64
	all   *sync.WaitGroup
}

func (c *counter) inc() {
	if c.n.Add(1) == c.want {
		c.all.Done()
	}
	c.total.Add(1)
}

func runFanout(ctx context.Context, d Driver, cfg Config) (Result, error) {
	var total atomic.Int64
	var all sync.WaitGroup
	want := int64(cfg.Warmup + cfg.N)
	counters := make([]*counter, cfg.Receivers)
	var conns []Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i := range counters {
		ct := &counter{total: &total, want: want, all: &all}
		counters[i] = ct
		all.Add(1)
		c, err := d.Dial(ctx, cfg.URL, FanoutConversation, ct.inc)
		if err != nil {
			return Result{}, fmt.Errorf("dial receiver %d: %w", i, err)
		}
		conns = append(conns, c)
		if err := c.Join(ctx, FanoutConversation); err != nil {
			return Result{}, fmt.Errorf("join receiver %d: %w", i, err)
		}
	}
	sender, err := d.Dial(ctx, cfg.URL, FanoutConversation, nil)
	if err != nil {
		return Result{}, fmt.Errorf("dial sender: %w", err)
	}
	conns = append(conns, sender)
	recv := int64(cfg.Receivers)
	if _, err := pipeline(ctx, sender, cfg.Warmup, cfg.InFlight, nil); err != nil {
		return Result{}, fmt.Errorf("warm-up: %w", err)
	}
	if err := waitFor(ctx, func() bool { return total.Load() >= recv*int64(cfg.Warmup) }); err != nil {
		return Result{}, fmt.Errorf("warm-up deliveries: got %d of %d: %w", total.Load(), recv*int64(cfg.Warmup), err)
	}
	runtime.GC()
	stop := measuring(cfg)
	ms0 := memStats()
	cpu0, start := CPUTime(), time.Now()
	if _, err := pipeline(ctx, sender, cfg.N, cfg.InFlight, nil); err != nil {
		return Result{}, err
	}
	done := make(chan struct{})
	go func() { all.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return Result{}, fmt.Errorf("deliveries: got %d of %d: %w", total.Load(), recv*want, ctx.Err())
	}
	wall, cpu := time.Since(start), CPUTime()-cpu0
	stop()
	// Every receiver got every message; no more arrive after them.
	time.Sleep(50 * time.Millisecond)
	for i, ct := range counters {
		if got := ct.n.Load(); got != want {
			return Result{}, fmt.Errorf("receiver %d got %d messages, want %d", i, got, want)
		}
	}
	return withAllocs(Result{
		N:       cfg.N,
		Seconds: wall.Seconds(),
		Rate:    float64(cfg.N) / wall.Seconds(),
		CPU:     micros(cpu) / float64(cfg.N),
		Extra: map[string]float64{
			"receivers":           float64(cfg.Receivers),
			"deliveries_per_s":    float64(cfg.N) * float64(cfg.Receivers) / wall.Seconds(),
			"cpu_us_per_delivery": micros(cpu) / float64(cfg.N*cfg.Receivers),
		},
	}, ms0, cfg.N), nil
}

// withAllocs adds the heap allocations per message since ms0, and the GC
// cycles, to r's diagnostics.
func withAllocs(r Result, ms0 runtime.MemStats, n int) Result {
	ms1 := memStats()
	if r.Extra == nil {
		r.Extra = map[string]float64{}
	}
	r.Extra["allocs_per_msg"] = float64(ms1.Mallocs-ms0.Mallocs) / float64(n)
	r.Extra["bytes_per_msg"] = float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(n)
	r.Extra["gc_cycles"] = float64(ms1.NumGC - ms0.NumGC)
	return r
}

func waitFor(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// settle collects garbage and returns what is left to the OS.
func settle() {
	runtime.GC()
	debug.FreeOSMemory()
}

func runIdle(ctx context.Context, d Driver, cfg Config) (Result, error) {
	var conns []Conn
	defer func() {
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Add(1)
			go func() { defer wg.Done(); _ = c.Close() }()
		}
		wg.Wait()
	}()
	// One connection first, so that what every process pays once (the
	// HTTP transport, code pages, pools) is not counted per connection.
	warm, err := d.Dial(ctx, cfg.URL, Conversation, nil)
	if err != nil {
		return Result{}, fmt.Errorf("dial: %w", err)
	}
	conns = append(conns, warm)
	if err := warm.Send(ctx); err != nil {
		return Result{}, err
	}
	time.Sleep(cfg.Settle / 5)
	settle()
	rss0, ms0, g0 := RSS(), memStats(), runtime.NumGoroutine()

	// Dial with a few connections at a time, as a service opening its pool.
	const par = 10
	out := make([]Conn, cfg.N)
	errs := make(chan error, par)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= cfg.N {
					return
				}
				c, err := d.Dial(ctx, cfg.URL, Conversation, nil)
				if err != nil {
					errs <- fmt.Errorf("dial %d: %w", i, err)
					return
				}
				out[i] = c
			}
		}()
	}
	wg.Wait()
	for _, c := range out {
		if c != nil {
			conns = append(conns, c)
		}
	}
	select {
	case err := <-errs:
		return Result{}, err
	default:
	}
	time.Sleep(cfg.Settle)
	settle()
	rss1, ms1, g1 := RSS(), memStats(), runtime.NumGoroutine()
	measuring(Config{MemProfile: cfg.MemProfile})()
	n := float64(cfg.N)
	kib := func(b uint64, a uint64) float64 { return (float64(b) - float64(a)) / 1024 / n }
	return Result{
		N:          cfg.N,
		RSSPerConn: (float64(rss1) - float64(rss0)) / 1024 / n,
		Extra: map[string]float64{
			"heap_inuse_kib_per_conn": kib(ms1.HeapInuse, ms0.HeapInuse),
			"stack_kib_per_conn":      kib(ms1.StackInuse, ms0.StackInuse),
			"goroutines_per_conn":     float64(g1-g0) / n,
			"rss_base_mib":            float64(rss0) / (1 << 20),
		},
	}, nil
}

func memStats() runtime.MemStats {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms
}
