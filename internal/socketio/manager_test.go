package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/symbia-labs/messaging-go/internal/engineio"
)

// Tests of the manager goroutine reading the transport itself.

// clientGoroutines returns the stacks of the goroutines that serve c: those
// running one of its methods (the manager) and transport readers on
// goroutines of their own (engineio's readLoop as the entry function; a
// server runs its readers on HTTP handler goroutines, not counted).
func clientGoroutines(c *Client) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
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
