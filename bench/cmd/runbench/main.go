// Command runbench is the benchmark harness behind `make bench`.
//
// It starts the Node benchmark server (bench/server.js, the official
// socket.io 4.8 server), then runs the same workloads with five clients,
// each workload in a fresh process of its own so that CPU time and memory are
// the client's own:
//
//   - go:    the Go SDK's Socket (bench/cmd/goclient)
//   - js:    the official socket.io-client 4.8 in Node (bench/jsclient.js)
//   - peer:  the Go Socket.IO client github.com/zishang520/socket.io
//     clients/socket/v3 (bench/peer, a module of its own)
//   - floor: bare coder/websocket with pre-encoded frames (bench/cmd/floor)
//   - rawfloor: the same frames written and read by hand on a bare net.Conn,
//     no WebSocket library (bench/cmd/rawfloor)
//
// The workload "turns" is the agent server's instead (bench/agentload, a
// module of its own so that the SDK's go.mod never requires
// OpenTelemetry): turns per second and the agent process's CPU per turn
// for a handler streaming a 20-token reply, against the in-memory service
// (messagingtest) in a process of its own, once with and once without the
// OpenTelemetry instrumentation (the variants "agent" and "agent+otel");
// their table gives the ratio. It needs no Node.
//
// It repeats everything -reps times (clients in rotating order), takes
// medians, runs the Go micro-benchmarks (go test -bench -benchmem), prints
// one markdown table, writes it with the machine and versions between the
// generated-section markers of docs/benchmarks.md (the rest of that file is
// kept), and draws docs/benchmarks.svg.
//
//	go run ./bench/cmd/runbench [-reps 5] [-quick] [-clients go,js,peer,floor,rawfloor] [-workloads seq,inflight,fanout,idle,turns]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"

	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/symbia-labs/messaging-go/bench/internal/load"
	"github.com/symbia-labs/messaging-go/bench/internal/report"
)

const module = "github.com/symbia-labs/messaging-go"

type options struct {
	reps        int
	quick       bool
	clients     []string
	workloads   []string
	out, svg    string
	goBench     bool
	benchCount  int
	benchTime   string
	sizes       map[string]int
	warmup      int
	write       bool
	processTime time.Duration
	// conversations ask the agent side by side (workload turns).
	conversations int
}

func main() {
	log := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "runbench: "+format+"\n", args...) }
	var o options
	var clients, workloads string
	flag.IntVar(&o.reps, "reps", 5, "repeats of every workload and client (medians are reported)")
	flag.BoolVar(&o.quick, "quick", false, "small sizes, one repeat, no micro-benchmarks, nothing written (a smoke run)")
	flag.StringVar(&clients, "clients", "go,js,peer,floor,rawfloor", "clients to run")
	flag.StringVar(&workloads, "workloads", "seq,inflight,fanout,idle,turns", "workloads to run (turns: the agent server, with and without OpenTelemetry)")
	flag.StringVar(&o.out, "out", "docs/benchmarks.md", "markdown report (its generated section is replaced)")
	flag.StringVar(&o.svg, "svg", "docs/benchmarks.svg", "chart")
	flag.BoolVar(&o.goBench, "gobench", true, "run the go test -bench micro-benchmarks")
	flag.IntVar(&o.benchCount, "benchcount", 5, "go test -count for the micro-benchmarks")
	flag.StringVar(&o.benchTime, "benchtime", "500ms", "go test -benchtime for the micro-benchmarks")
	flag.IntVar(&o.warmup, "warmup", 1000, "messages before measuring")
	nSeq := flag.Int("n-seq", 5000, "sequential acked messages")
	nInflight := flag.Int("n-inflight", 30000, "acked messages with 50 in flight")
	nFanout := flag.Int("n-fanout", 2000, "messages fanned out to 20 receivers")
	nIdle := flag.Int("n-idle", 1000, "idle connections")
	nTurns := flag.Int("n-turns", 5000, "agent turns (after -warmup turns)")
	flag.IntVar(&o.conversations, "conversations", 50, "turns: conversations asking the agent side by side")
	flag.BoolVar(&o.write, "write", true, "write the report and the chart")
	flag.DurationVar(&o.processTime, "process-timeout", 3*time.Minute, "limit for one client process")
	flag.Parse()
	o.clients = strings.Split(clients, ",")
	o.workloads = strings.Split(workloads, ",")
	o.sizes = map[string]int{load.Seq: *nSeq, load.InFlight: *nInflight, load.Fanout: *nFanout, load.Idle: *nIdle, load.Turns: *nTurns}
	if o.quick {
		o.reps, o.goBench, o.write, o.warmup = 1, false, false, 100
		o.sizes = map[string]int{load.Seq: 300, load.InFlight: 500, load.Fanout: 100, load.Idle: 50, load.Turns: 300}
	}
	if err := run(o, log); err != nil {
		log("%v", err)
		os.Exit(1)
	}
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module "+module+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the messaging-go module")
		}
		dir = parent
	}
}

func run(o options, log func(string, ...any)) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if err := os.Chdir(root); err != nil {
		return err
	}
	started := time.Now()
	env := probeEnv()

	// Every workload but the agent's runs against the Node server.
	socketWorkloads := slices.DeleteFunc(slices.Clone(o.workloads), func(w string) bool { return w == load.Turns })
	agentTurns := len(socketWorkloads) < len(o.workloads)
	node, nodeErr := exec.LookPath("node")
	if nodeErr == nil {
		if _, err := os.Stat("testdata/conformance/node_modules/socket.io-client/package.json"); err != nil {
			nodeErr = errors.New("testdata/conformance/node_modules missing (npm ci --prefix testdata/conformance)")
		}
	}
	if nodeErr != nil && len(socketWorkloads) > 0 {
		return fmt.Errorf("the benchmark server runs on Node: %v", nodeErr)
	}

	tmp, err := os.MkdirTemp("", "messaging-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	log("building the Go clients")
	bins := map[string][]string{}
	for _, c := range []string{"goclient", "floor", "rawfloor", "peer", "agentload"} {
		out := filepath.Join(tmp, c)
		cmd := exec.Command("go", "build", "-o", out, "./bench/cmd/"+c)
		switch c {
		case "agentload":
			// A module of its own too (bench/agentload), so that the SDK's
			// go.mod never requires OpenTelemetry.
			if !agentTurns {
				continue
			}
			cmd = exec.Command("go", "build", "-o", out, ".")
			cmd.Dir = "bench/agentload"
			cmd.Env = append(os.Environ(), "GOWORK=off")
		case "goclient", "floor", "rawfloor":
			if len(socketWorkloads) == 0 {
				continue
			}
		case "peer":
			// The peer is a module of its own (bench/peer), so that the
			// SDK's go.mod never requires it; GOWORK=off as in the Makefile.
			if !slices.Contains(o.clients, report.Peer) || len(socketWorkloads) == 0 {
				continue
			}
			cmd = exec.Command("go", "build", "-o", out, ".")
			cmd.Dir = "bench/peer"
			cmd.Env = append(os.Environ(), "GOWORK=off")
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s: %w", c, err)
		}
		bins[c] = []string{out}
	}
	commands := map[string][]string{
		report.Go:       bins["goclient"],
		report.Floor:    bins["floor"],
		report.RawFloor: bins["rawfloor"],
		report.Peer:     bins["peer"],
		report.JS:       {node, "--expose-gc", "bench/jsclient.js"},
	}

	var url string
	if len(socketWorkloads) > 0 {
		var srv *exec.Cmd
		srv, url, err = startServer(node)
		if err != nil {
			return err
		}
		defer func() {
			_ = srv.Process.Signal(os.Interrupt)
			_ = srv.Wait()
		}()
		log("server %s; %d repeats of %v with %v", url, o.reps, socketWorkloads, o.clients)
	}
	if agentTurns {
		log("%d repeats of the agent's turns, without and with OpenTelemetry", o.reps)
	}
	env.LoadBefore = loadAvg()

	var samples []load.Result
	var failures []string
	for rep := range o.reps {
		for _, w := range o.workloads {
			order := slices.Clone(o.clients)
			if w == load.Turns {
				order = []string{report.Agent, report.AgentOTel}
			}
			// Rotate the order every repeat, so no client always runs
			// right after the same other one.
			k := (rep + slices.Index(o.workloads, w)) % len(order)
			order = append(order[k:], order[:k]...)
			for _, c := range order {
				var argv []string
				if w == load.Turns {
					// The agent starts its own service (messagingtest and
					// the people) as a child process.
					argv = []string{bins["agentload"][0], "-role", "agent", "-n", strconv.Itoa(o.sizes[w]),
						"-warmup", strconv.Itoa(o.warmup), "-conversations", strconv.Itoa(o.conversations),
						"-timeout", o.processTime.String()}
					if c == report.AgentOTel {
						argv = append(argv, "-otel")
					}
				} else {
					argv = append(slices.Clone(commands[c]),
						"-url", url, "-workload", w, "-n", strconv.Itoa(o.sizes[w]),
						"-warmup", strconv.Itoa(o.warmup), "-inflight", "50", "-receivers", "20",
						"-timeout", o.processTime.String())
				}
				res, err := runClient(argv, o.processTime+30*time.Second)
				if err != nil {
					msg := fmt.Sprintf("repeat %d, %s, %s: %v", rep+1, w, c, err)
					log("FAILED %s", msg)
					failures = append(failures, msg)
					continue
				}
				log("repeat %d %-8s %-5s %s", rep+1, w, c, brief(res))
				samples = append(samples, res)
			}
		}
	}
	env.LoadAfter = loadAvg()

	var benches []report.GoBench
	var benchOut []byte
	if o.goBench {
		log("go test -bench (count %d)", o.benchCount)
		benchOut, err = goBench(o)
		if err != nil {
			log("micro-benchmarks failed: %v\n%s", err, benchOut)
			failures = append(failures, "go test -bench: "+err.Error())
		}
		benches = report.ParseGoBench(bytes.NewReader(benchOut))
		env.LoadAfterBench = loadAvg()
	}
	env.Duration = time.Since(started).Round(time.Second)

	rows := report.Build(samples)
	agentRows := report.BuildAgent(samples)
	if len(socketWorkloads) > 0 {
		fmt.Println()
		report.Table(os.Stdout, rows)
	}
	if report.HasSamples(agentRows) {
		fmt.Println()
		report.AgentTable(os.Stdout, agentRows)
	}
	if len(benches) > 0 {
		fmt.Println()
		report.GoBenchTable(os.Stdout, benches, module)
	}
	for _, f := range failures {
		fmt.Println("FAILED:", f)
	}
	if !o.write {
		return nil
	}
	if err := writeReport(o, env, rows, agentRows, samples, benches, failures); err != nil {
		return err
	}
	f, err := os.Create(o.svg)
	if err != nil {
		return err
	}
	sub := fmt.Sprintf("%s · %d cores · Go %s · Node %s · socket.io %s · medians of %d runs", env.CPU, env.Cores, env.GoVersion, env.NodeVersion, env.SocketIOClient, o.reps)
	if err := report.Chart(f, rows, sub); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	log("wrote %s and %s in %s", o.out, o.svg, env.Duration)
	// The peer's failures are findings about the peer, reported in the
	// table; only the others' fail the run.
	var ours int
	for _, f := range failures {
		if !strings.Contains(f, ", "+report.Peer+": ") {
			ours++
		}
	}
	if ours > 0 {
		return fmt.Errorf("%d runs failed", ours)
	}
	return nil
}

// peerVersion reads the peer's version from bench/peer/go.mod.
func peerVersion() string {
	b, err := os.ReadFile("bench/peer/go.mod")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "github.com/zishang520/socket.io/clients/socket/v3" {
			return f[1]
		}
	}
	return "?"
}

func brief(r load.Result) string {
	switch {
	case r.RSSPerConn != 0:
		return fmt.Sprintf("%.1f KiB/conn", r.RSSPerConn)
	case r.Workload == load.Turns:
		return fmt.Sprintf("%.0f turns/s cpu %.0fµs/turn p50 %.0fµs p99 %.0fµs", r.Rate, r.CPU, r.P50, r.P99)
	case r.P99 != 0:
		return fmt.Sprintf("%.0f msgs/s p50 %.0fµs p99 %.0fµs cpu %.1fµs/msg", r.Rate, r.P50, r.P99, r.CPU)
	default:
		return fmt.Sprintf("%.0f msgs/s cpu %.1fµs/msg", r.Rate, r.CPU)
	}
}

// startServer runs bench/server.js on a free port.
func startServer(node string) (*exec.Cmd, string, error) {
	cmd := exec.Command(node, "bench/server.js", "0")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- p
			}
		}
	}()
	select {
	case p := <-ready:
		return cmd, "http://127.0.0.1:" + strings.TrimSpace(p), nil
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, "", errors.New("bench/server.js did not print READY within 20 s")
	}
}

// runClient runs one client process and reads its JSON result.
func runClient(argv []string, timeout time.Duration) (load.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return load.Result{}, fmt.Errorf("%w: %s", err, firstLines(stderr.String(), 4))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var res load.Result
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		return res, fmt.Errorf("bad result %q: %w", lines[len(lines)-1], err)
	}
	return res, nil
}

func firstLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[:n]
	}
	return strings.Join(l, " | ")
}

// benchPackages hold the *_bench_test.go micro-benchmarks.
var benchPackages = []string{".", "./internal/socketio", "./internal/engineio"}

func goBench(o options) ([]byte, error) {
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem",
		"-count", strconv.Itoa(o.benchCount), "-benchtime", o.benchTime}, benchPackages...)
	cmd := exec.Command("go", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// machine and versions

type envInfo struct {
	CPU, Kernel, GoVersion, NodeVersion, SocketIOClient, SocketIOServer, Websocket, Commit string
	Cores                                                                                  int
	MemGiB                                                                                 float64
	LoadBefore, LoadAfter, LoadAfterBench                                                  string
	Date                                                                                   time.Time
	Duration                                                                               time.Duration
}

func probeEnv() envInfo {
	e := envInfo{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), Date: time.Now().UTC()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`(?m)^model name\s*:\s*(.+)$`).FindSubmatch(b); m != nil {
			e.CPU = strings.TrimSpace(string(m[1]))
		}
	}
	if e.CPU == "" {
		e.CPU = runtime.GOARCH
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.Kernel = runtime.GOOS + " " + strings.TrimSpace(string(b))
	} else {
		e.Kernel = runtime.GOOS
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if m := regexp.MustCompile(`MemTotal:\s+(\d+) kB`).FindSubmatch(b); m != nil {
			kb, _ := strconv.ParseFloat(string(m[1]), 64)
			e.MemGiB = kb / (1 << 20)
		}
	}
	if out, err := exec.Command("node", "--version").Output(); err == nil {
		e.NodeVersion = strings.TrimSpace(string(out))
	}
	e.SocketIOClient = pkgVersion("socket.io-client")
	e.SocketIOServer = pkgVersion("socket.io")
	if b, err := os.ReadFile("go.mod"); err == nil {
		if m := regexp.MustCompile(`github.com/coder/websocket (v\S+)`).FindSubmatch(b); m != nil {
			e.Websocket = string(m[1])
		}
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		e.Commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
			e.Commit += " (with uncommitted changes)"
		}
	}
	return e
}

func pkgVersion(name string) string {
	b, err := os.ReadFile(filepath.Join("testdata/conformance/node_modules", name, "package.json"))
	if err != nil {
		return "?"
	}
	var p struct{ Version string }
	_ = json.Unmarshal(b, &p)
	return p.Version
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
