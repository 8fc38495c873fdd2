package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/symbia-labs/messaging-go/bench/internal/load"
)

// Both roles in one process: the service role with its people, and the
// agent (without and with OpenTelemetry) answering every question with
// the whole reply.
func TestTurnsWithAndWithoutOpenTelemetry(t *testing.T) {
	for _, otel := range []bool{false, true} {
		c := config{n: 30, warmup: 5, conversations: 3, timeout: 2 * time.Minute, otel: otel}
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		served := make(chan error, 1)
		go func() {
			served <- serve(ctx, c, inR, outW)
			outW.Close()
		}()
		lines := bufio.NewScanner(outR)
		if !lines.Scan() || !strings.HasPrefix(lines.Text(), "READY ") {
			t.Fatalf("the service role said %q", lines.Text())
		}
		c.url = strings.TrimPrefix(lines.Text(), "READY ")
		done := make(chan string, 1)
		go func() {
			for lines.Scan() {
				if strings.HasPrefix(lines.Text(), "DONE ") {
					done <- lines.Text()
				}
			}
		}()

		res, err := runAgent(ctx, c)
		if err != nil {
			t.Fatalf("otel %v: %v", otel, err)
		}
		want := clientPlain
		if otel {
			want = clientOTel
		}
		if res.Client != want || res.Workload != load.Turns || res.N != c.n || !(res.Rate > 0) || !(res.CPU > 0) {
			t.Errorf("otel %v: %+v", otel, res)
		}
		if otel && !(res.Extra["otel_spans_per_turn"] >= 1) {
			t.Errorf("no spans exported: %+v", res.Extra)
		}
		select {
		case line := <-done:
			if !strings.Contains(line, `"turns":30`) {
				t.Errorf("the people saw %s", line)
			}
		case <-ctx.Done():
			t.Fatal("the people did not finish")
		}
		inW.Close()
		if err := <-served; err != nil {
			t.Errorf("service role: %v", err)
		}
		cancel()
	}
}
