package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/symbia-labs/messaging-go/internal/engineio"
	"github.com/symbia-labs/messaging-go/internal/stacks"
)

// Tests of the manager goroutine reading the transport itself.

// clientGoroutines returns the stacks of the goroutines that serve c: those
// running one of its methods (the manager) and transport readers on
// goroutines of their own (engineio's readLoop as the entry function; a
// server runs its readers on HTTP handler goroutines, not counted).
func clientGoroutines(c *Client) []string {
	buf := stacks.All()
	self := fmt.Sprintf("socketio.(*Client).manage(%p", c)
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		lines := strings.Split(strings.TrimSpace(g), "\n")
		entry := ""
		for i := len(lines) - 1; i > 0; i-- {
			if strings.HasPrefix(lines[i], "created by ") {
				if i >= 2 {
					entry = lines[i-2]
				}
				break
			}
		}
		switch {
		case strings.Contains(g, self):
			out = append(out, g)
		case strings.Contains(entry, "engineio.(*conn).readLoop("):
			out = append(out, g)
		}
	}
	return out
}

func TestGoOneGoroutinePerConnection(t *testing.T) {
	gs := startGoServer(t, ServerOptions{PingInterval: 20 * time.Millisecond, PingTimeout: time.Second})
	c := newTestClient(t, gs.URL, ClientOptions{})
	ctx := ctxT(t, 5*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	gs.next(t)
	// Pings flow meanwhile: answering them costs a short-lived goroutine
	// at most, which is not counted (not the manager, not a reader).
	check := func(when string) {
		t.Helper()
		var g []string
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			if g = clientGoroutines(c); len(g) == 1 {
				break
			}
		}
		if len(g) != 1 {
			t.Fatalf("%s: %d goroutines serve the client, want 1 (the manager):\n%s", when, len(g), strings.Join(g, "\n\n"))
		}
	}
	check("idle")
	for i := range 50 {
		args, err := c.EmitWithAck(ctx, "echo", i)
		if err != nil || len(args) != 1 || string(args[0]) != fmt.Sprint(i) {
			t.Fatalf("echo %d: %s %v", i, args, err)
		}
	}
	time.Sleep(100 * time.Millisecond) // a few pings answered
	check("after acks and pings")
	if !c.Connected() {
		t.Fatal("disconnected")
	}
}

func TestGoPingTimeoutDetectedWhileHookBlocks(t *testing.T) {
	// The manager is stuck in a hook, so nobody reads the transport; the
	// client's heartbeat deadline must still end it, and the disconnection
	// is reported once the hook returns.
	const interval, timeout = 50 * time.Millisecond, 100 * time.Millisecond
	gs := startGoServer(t, ServerOptions{PingInterval: interval, PingTimeout: timeout})
	release := make(chan struct{})
	entered := make(chan struct{})
	discs := make(chan string, 2)
	c := newTestClient(t, gs.URL, ClientOptions{
		OnEvent: func(event string, _ []json.RawMessage) {
			if event == "block" {
				close(entered)
				<-release
			}
		},
		OnDisconnect: func(r string, _ error) { discs <- r },
	})
	ctx := ctxT(t, 10*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	so := gs.next(t)
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	gs.PauseHeartbeats() // no pings, and no pongs expected: only the client's deadline can fire
	if err := so.Emit("block"); err != nil {
		t.Fatal(err)
	}
	<-entered
	select {
	case <-conn.Done():
	case <-time.After(interval + timeout + 2*time.Second):
		close(release)
		t.Fatal("ping timeout not detected while the manager was blocked")
	}
	if conn.Reason() != engineio.ReasonPingTimeout {
		t.Fatalf("transport reason %q", conn.Reason())
	}
	select {
	case r := <-discs:
		t.Fatalf("disconnection reported (%q) while the hook still runs", r)
	default:
	}
	close(release)
	select {
	case r := <-discs:
		if r != ReasonPingTimeout {
			t.Fatalf("reason %q", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("disconnection not reported")
	}
}

func TestGoConnectTimeoutWithoutReply(t *testing.T) {
	// A transport that never answers the namespace CONNECT.
	es := engineio.NewServer(engineio.ServerOptions{OnConnection: func(sc *engineio.ServerConn) {
		go func() {
			for {
				if _, err := sc.Read(context.Background()); err != nil {
					return
				}
			}
		}()
	}})
	hs := httptest.NewServer(es)
	t.Cleanup(func() {
		es.Close()
		hs.Close()
	})
	c := newTestClient(t, hs.URL, ClientOptions{ConnectTimeout: 100 * time.Millisecond})
	start := time.Now()
	err := c.Connect(ctxT(t, 5*time.Second))
	if !errors.Is(err, ErrConnectTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Connect took %v", d)
	}
}

func TestGoEmitWithAckTimeout(t *testing.T) {
	gs := startGoServer(t, ServerOptions{})
	c := newTestClient(t, gs.URL, ClientOptions{})

	// Before Connect: the timeout ends the wait for the connection; the
	// packet never left.
	start := time.Now()
	_, err := c.EmitWithAckTimeout(context.Background(), 30*time.Millisecond, "echo", 1)
	if !errors.Is(err, ErrAckTimeout) || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrNotSent) {
		t.Fatalf("not connected: %v", err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("timed out after %v", d)
	}

	ctx := ctxT(t, 10*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	gs.next(t)

	// Answered in time.
	args, err := c.EmitWithAckTimeout(ctx, time.Second, "echo", "hi")
	if err != nil || len(args) != 1 || string(args[0]) != `"hi"` {
		t.Fatalf("echo: %s %v", args, err)
	}

	// Never answered: the ack timeout, not ctx, ends the call, after the
	// packet was sent (so not ErrNotSent).
	start = time.Now()
	_, err = c.EmitWithAckTimeout(ctx, 50*time.Millisecond, "silent")
	if !errors.Is(err, ErrAckTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("silent: %v", err)
	}
	if errors.Is(err, ErrNotSent) || errors.Is(err, context.Canceled) {
		t.Fatalf("silent: %v matches too much", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 3*time.Second {
		t.Fatalf("silent: timed out after %v", d)
	}

	// The caller's ctx ending first is reported as such, not as a timeout.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err = c.EmitWithAckTimeout(cctx, time.Minute, "silent")
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrAckTimeout) {
		t.Fatalf("cancelled: %v", err)
	}
	// Likewise a deadline of the caller's shorter than the timeout.
	dctx, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	_, err = c.EmitWithAckTimeout(dctx, time.Minute, "silent")
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrAckTimeout) {
		t.Fatalf("caller's deadline: %v", err)
	}

	// Timers are reused: one that fired leaves nothing behind that would
	// end a later call early.
	for i := range 20 {
		_, err := c.EmitWithAckTimeout(ctx, time.Millisecond, "silent")
		if !errors.Is(err, ErrAckTimeout) {
			t.Fatalf("silent %d: %v", i, err)
		}
		args, err := c.EmitWithAckTimeout(ctx, 5*time.Second, "echo", i)
		if err != nil || string(args[0]) != fmt.Sprint(i) {
			t.Fatalf("echo %d after a timeout: %s %v", i, args, err)
		}
	}
	// A timeout of zero is none.
	if _, err := c.EmitWithAckTimeout(ctx, 0, "echo", 1); err != nil {
		t.Fatalf("no timeout: %v", err)
	}
}

func TestGoEmitWithAckTimeoutAllocatesNoContext(t *testing.T) {
	gs := startGoServer(t, ServerOptions{})
	c := newTestClient(t, gs.URL, ClientOptions{})
	ctx := ctxT(t, 10*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	gs.next(t)
	// Both variants carry the same work besides the timeout (the server
	// side's included, in this process); a derived context costs three
	// allocations or so, the pooled timer none.
	withContext := testing.AllocsPerRun(200, func() {
		actx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if _, err := c.EmitWithAck(actx, "echo", 1); err != nil {
			t.Fatal(err)
		}
	})
	withTimer := testing.AllocsPerRun(200, func() {
		if _, err := c.EmitWithAckTimeout(ctx, time.Minute, "echo", 1); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("allocations per call: %.1f with a context, %.1f with the timeout", withContext, withTimer)
	if withTimer > withContext-1 {
		t.Fatalf("EmitWithAckTimeout: %.1f allocations per call, a derived context %.1f", withTimer, withContext)
	}
}

func TestGoConnectWithEndedContextStartsNothing(t *testing.T) {
	gs := startGoServer(t, ServerOptions{})
	c := newTestClient(t, gs.URL, ClientOptions{})
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	// However fast the server, the client does not connect behind the
	// failed call's back: no run is started at all.
	for range 20 {
		if err := c.Connect(ended); !errors.Is(err, context.Canceled) {
			t.Fatalf("Connect: %v", err)
		}
		if g := clientGoroutines(c); len(g) != 0 {
			t.Fatalf("a manager was started:\n%s", strings.Join(g, "\n\n"))
		}
		if c.Connected() {
			t.Fatal("connected")
		}
	}
	if err := c.Emit(context.Background(), "x"); !errors.Is(err, ErrStopped) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Emit after failed Connect: %v", err)
	}
	if err := c.Connect(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("Connect: %v", err)
	}
}
