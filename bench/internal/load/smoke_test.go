package load_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/symbia-labs/messaging-go/bench/internal/floor"
	"github.com/symbia-labs/messaging-go/bench/internal/load"
	"github.com/symbia-labs/messaging-go/bench/internal/report"
	"github.com/symbia-labs/messaging-go/bench/internal/sdk"

	"github.com/symbia-labs/messaging-go/internal/testnode"
)

// A smoke test of the benchmark harness, a few hundred messages: the bench
// server, every workload with the Go SDK and the floor (in this process),
// the JS client (as its own process), and the report. It measures nothing;
// `make bench` does. It needs Node and the modules of testdata/conformance,
// and skips without them unless MESSAGING_CONFORMANCE=required.

const root = "../../.."

func requireNode(t *testing.T) string {
	t.Helper()
	return testnode.Require(t, filepath.Join(root, "testdata/conformance"))
}

// startServer runs bench/server.js and returns its URL.
func startServer(t *testing.T, node string) string {
	t.Helper()
	cmd := exec.Command(node, filepath.Join(root, "bench/server.js"), "0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- p
			}
		}
	}()
	select {
	case p := <-ready:
		return "http://127.0.0.1:" + p
	case <-time.After(15 * time.Second):
		t.Fatal("bench/server.js did not start")
		return ""
	}
}

var smokeSizes = map[string]int{load.Seq: 100, load.InFlight: 200, load.Fanout: 30, load.Idle: 10}

func smokeConfig(url, w string) load.Config {
	return load.Config{URL: url, Workload: w, N: smokeSizes[w], Warmup: 10, InFlight: 10, Receivers: 3, Timeout: 20 * time.Second, Settle: 50 * time.Millisecond}
}

func check(t *testing.T, r load.Result) {
	t.Helper()
	switch r.Workload {
	case load.Idle:
		if r.N != smokeSizes[load.Idle] {
			t.Errorf("%s %s: %+v", r.Client, r.Workload, r)
		}
	default:
		if r.Rate <= 0 || r.N != smokeSizes[r.Workload] {
			t.Errorf("%s %s: %+v", r.Client, r.Workload, r)
		}
	}
}

func TestHarnessSmoke(t *testing.T) {
	node := requireNode(t)
	url := startServer(t, node)
	ctx := context.Background()
	var results []load.Result
	for _, w := range []string{load.Seq, load.InFlight, load.Fanout, load.Idle} {
		for name, d := range map[string]load.Driver{report.Go: sdk.Driver{}, report.Floor: floor.Driver{}} {
			r, err := load.Run(ctx, name, d, smokeConfig(url, w))
			if err != nil {
				t.Fatalf("%s %s: %v", name, w, err)
			}
			check(t, r)
			results = append(results, r)
		}
		c := smokeConfig(url, w)
		cmd := exec.Command(node, "--expose-gc", filepath.Join(root, "bench/jsclient.js"), "-url", url, "-workload", w,
			"-n", strconv.Itoa(c.N), "-warmup", strconv.Itoa(c.Warmup), "-inflight", strconv.Itoa(c.InFlight), "-receivers", strconv.Itoa(c.Receivers), "-timeout", "20s", "-settle", "50ms")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("jsclient %s: %v\n%s", w, err, stderr.String())
		}
		var r load.Result
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("jsclient %s: %v: %q", w, err, out)
		}
		check(t, r)
		results = append(results, r)
	}

	rows := report.Build(results)
	var table, svg bytes.Buffer
	report.Table(&table, rows)
	if err := report.Chart(&svg, rows, "smoke"); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(table.String(), "\n"); n != len(report.Metrics)+2 {
		t.Errorf("table has %d lines:\n%s", n, table.String())
	}
	if !strings.HasPrefix(svg.String(), "<svg") || !strings.HasSuffix(svg.String(), "</svg>\n") {
		t.Errorf("chart: %.200s", svg.String())
	}
}
