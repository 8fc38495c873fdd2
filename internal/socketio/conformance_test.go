package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Tests of the Go client against the official Node socket.io server.

// events collects OnEvent calls.
type events struct {
	ch chan evt
}

type evt struct {
	name string
	args []json.RawMessage
}

func newEvents() *events { return &events{ch: make(chan evt, 256)} }

func (e *events) hook(name string, args []json.RawMessage) { e.ch <- evt{name, args} }

func (e *events) next(t *testing.T, name string) evt {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-e.ch:
			if ev.name == name {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %q event", name)
		}
	}
}

type disconnects struct {
	ch chan disc
}

type disc struct {
	reason string
	err    error
	at     time.Time
}

func newDisconnects() *disconnects { return &disconnects{ch: make(chan disc, 16)} }

func (d *disconnects) hook(reason string, err error) { d.ch <- disc{reason, err, time.Now()} }

func (d *disconnects) next(t *testing.T, within time.Duration) disc {
	t.Helper()
	select {
	case x := <-d.ch:
		return x
	case <-time.After(within):
		t.Fatalf("no disconnect within %v", within)
		return disc{}
	}
}

func TestNodeConnectWithAuth(t *testing.T) {
	ns := startNode(t)
	c := newTestClient(t, ns.URL, ClientOptions{Auth: tokenAuth("alice")})
	ctx := ctxT(t, 10*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	args, err := c.EmitWithAck(ctx, "whoami")
	if err != nil {
		t.Fatal(err)
	}
	if len(args) != 3 || string(args[0]) != `"alice"` || string(args[1]) != `"/"` || string(args[2]) != fmt.Sprintf("%q", c.ID()) {
		t.Fatalf("whoami = %s (id %s)", args, c.ID())
	}
}

func TestNodeRefusedToken(t *testing.T) {
	ns := startNode(t)
	var reconnects atomic.Int32
	c := newTestClient(t, ns.URL, ClientOptions{
		Auth:               tokenAuth("bad"),
		Reconnection:       true,
		Backoff:            fastBackoff,
		OnReconnectAttempt: func(int) { reconnects.Add(1) },
	})
	err := c.Connect(ctxT(t, 10*time.Second))
	var ce *ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("Connect: %v", err)
	}
	if ce.Message != "invalid credentials" || !strings.Contains(err.Error(), "invalid credentials") {
		t.Fatalf("message %q / %v", ce.Message, err)
	}
	var data struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(ce.Data, &data) != nil || data.Code != 401 || data.Reason != "bad token" {
		t.Fatalf("data %s", ce.Data)
	}
	if reconnects.Load() != 0 {
		t.Fatal("reconnected after a refusal")
	}
	if err := c.Emit(ctxT(t, time.Second), "echo"); !errors.Is(err, ErrStopped) {
		t.Fatalf("Emit after refusal: %v", err)
	}
}

func TestNodeTenThousandAcksInOrder(t *testing.T) {
	ns := startNode(t)
	c := newTestClient(t, ns.URL, ClientOptions{})
	ctx := ctxT(t, 60*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	const streams, per = 10, 1000
	start := time.Now()
	var wg sync.WaitGroup
	var acked atomic.Int64
	for s := 0; s < streams; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < per; n++ {
				args, err := c.EmitWithAck(ctx, "seq", s, n)
				if err != nil {
					t.Errorf("stream %d emit %d: %v", s, n, err)
					return
				}
				if len(args) != 2 || string(args[0]) != fmt.Sprint(n) || string(args[1]) != "true" {
					t.Errorf("stream %d emit %d: ack %s (out of order or lost)", s, n, args)
					return
				}
				acked.Add(1)
			}
		}()
	}
	wg.Wait()
	if acked.Load() != streams*per {
		t.Fatalf("%d of %d acked", acked.Load(), streams*per)
	}
	t.Logf("%d emits with acks in %v", streams*per, time.Since(start))
}

func TestNodeBinaryRoundTrip(t *testing.T) {
	ns := startNode(t)
	ev := newEvents()
	c := newTestClient(t, ns.URL, ClientOptions{OnEvent: ev.hook})
	ctx := ctxT(t, 10*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 300_000)
	for i := range payload {
		payload[i] = byte(i*31 + i>>8)
	}
	small := []byte{0, 0xff, 0x1e, '"', '\\'}
	args, err := c.EmitWithAck(ctx, "echo", payload, map[string]any{"deep": []any{small}}, "plain")
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	if err := json.Unmarshal(args[0], &b); err != nil || !bytes.Equal(b, payload) {
		t.Fatalf("payload mismatch (%v, %d bytes)", err, len(b))
	}
	var deep struct{ Deep [][]byte }
	if err := json.Unmarshal(args[1], &deep); err != nil || !bytes.Equal(deep.Deep[0], small) {
		t.Fatalf("nested mismatch: %s", args[1])
	}
	if string(args[2]) != `"plain"` {
		t.Fatalf("text arg %s", args[2])
	}
	// Binary produced by the server, in an ack and in an event.
	args, err = c.EmitWithAck(ctx, "binary", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var nested struct{ Nested []byte }
	if json.Unmarshal(args[0], &b) != nil || len(b) != 1000 || b[999] != byte(999%256) ||
		json.Unmarshal(args[1], &nested) != nil || len(nested.Nested) != 500 {
		t.Fatalf("server binary ack: %.80s", args)
	}
	if err := c.Emit(ctx, "emit-binary", 10); err != nil {
		t.Fatal(err)
	}
	e := ev.next(t, "binary")
	if json.Unmarshal(e.args[0], &b) != nil || !bytes.Equal(b, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) || string(e.args[1]) != `"after"` {
		t.Fatalf("binary event %s", e.args)
	}
}

func TestNodeServerDisconnect(t *testing.T) {
	ns := startNode(t)
	d := newDisconnects()
	var attempts atomic.Int32
	c := newTestClient(t, ns.URL, ClientOptions{
		Reconnection:       true,
		Backoff:            fastBackoff,
		OnDisconnect:       d.hook,
		OnReconnectAttempt: func(int) { attempts.Add(1) },
	})
	ctx := ctxT(t, 10*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Emit(ctx, "server-disconnect"); err != nil {
		t.Fatal(err)
	}
	if x := d.next(t, 5*time.Second); x.reason != ReasonServerDisconnect {
		t.Fatalf("reason %q (%v)", x.reason, x.err)
	}
	// The manager stopped: emits fail at once instead of waiting for a
	// reconnection that will not come.
	if err := c.Emit(ctx, "echo"); !errors.Is(err, ErrStopped) {
		t.Fatalf("Emit: %v", err)
	}
	if c.Connected() || attempts.Load() != 0 {
		t.Fatalf("reconnected (%d attempts)", attempts.Load())
	}
	// disconnect(true): DISCONNECT then the transport closes; still no
	// reconnection.
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Emit(ctx, "server-close"); err != nil {
		t.Fatal(err)
	}
	if x := d.next(t, 5*time.Second); x.reason != ReasonServerDisconnect {
		t.Fatalf("reason %q (%v)", x.reason, x.err)
	}
	if err := c.Emit(ctx, "echo"); !errors.Is(err, ErrStopped) || attempts.Load() != 0 {
		t.Fatalf("Emit: %v, %d attempts", err, attempts.Load())
	}
}

func TestNodePingTimeout(t *testing.T) {
	const interval, timeout = 1000 * time.Millisecond, 500 * time.Millisecond
	ns := startNode(t, "SIO_PING_INTERVAL=1000", "SIO_PING_TIMEOUT=500")
	d := newDisconnects()
	connects := make(chan struct{}, 4)
	c := newTestClient(t, ns.URL, ClientOptions{
		Reconnection: true,
		Backoff:      fastBackoff,
		OnDisconnect: d.hook,
		OnConnect:    func() { connects <- struct{}{} },
	})
	ctx := ctxT(t, 20*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	<-connects
	pending := make(chan error, 1)
	if _, err := c.EmitWithAck(ctx, "freeze"); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	go func() {
		_, err := c.EmitWithAck(ctx, "echo", "lost")
		pending <- err
	}()
	x := d.next(t, interval+timeout+time.Second)
	if x.reason != ReasonPingTimeout {
		t.Fatalf("reason %q (%v)", x.reason, x.err)
	}
	if took := x.at.Sub(frozen); took > interval+timeout+time.Second {
		t.Fatalf("detected after %v", took)
	}
	t.Logf("ping timeout detected %v after the server froze", x.at.Sub(frozen))
	// The unanswered ack fails with the disconnect error (or, if it was
	// still queued, is sent again after the reconnection and answered).
	select {
	case err := <-pending:
		var de *DisconnectError
		if err != nil && (!errors.As(err, &de) || de.Reason != ReasonPingTimeout) {
			t.Fatalf("pending ack: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pending ack never completed")
	}
	// The server still accepts new connections: the client reconnects.
	select {
	case <-connects:
	case <-time.After(10 * time.Second):
		t.Fatal("no reconnection after ping timeout")
	}
}

func TestNodeRestartReconnects(t *testing.T) {
	ns := startNode(t)
	d := newDisconnects()
	var mu sync.Mutex
	var attempts []int
	connects := make(chan struct{}, 4)
	c := newTestClient(t, ns.URL, ClientOptions{
		Reconnection: true,
		Backoff:      fastBackoff,
		OnDisconnect: d.hook,
		OnConnect:    func() { connects <- struct{}{} },
		OnReconnectAttempt: func(n int) {
			mu.Lock()
			attempts = append(attempts, n)
			mu.Unlock()
		},
	})
	ctx := ctxT(t, 30*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	<-connects
	firstID := c.ID()
	pending := make(chan error, 1)
	go func() {
		_, err := c.EmitWithAck(ctx, "never")
		pending <- err
	}()
	// Let the unanswered emit reach the server before the crash.
	waitPendingAcks(t, c, 1)
	ns.Kill()
	x := d.next(t, 5*time.Second)
	if x.reason != ReasonTransportClose && x.reason != ReasonTransportError {
		t.Fatalf("reason %q (%v)", x.reason, x.err)
	}
	err := <-pending
	if !errors.Is(err, ErrDisconnected) {
		t.Fatalf("pending ack: %v", err)
	}
	// While the server is down, an emit waits for the reconnection.
	emitted := make(chan error, 1)
	go func() {
		args, err := c.EmitWithAck(ctx, "echo", "after restart")
		if err == nil && string(args[0]) != `"after restart"` {
			err = fmt.Errorf("ack %s", args)
		}
		emitted <- err
	}()
	time.Sleep(150 * time.Millisecond) // let a couple of attempts fail
	ns.start()
	select {
	case <-connects:
	case <-ctx.Done():
		t.Fatal("no reconnection")
	}
	if err := <-emitted; err != nil {
		t.Fatalf("emit across the restart: %v", err)
	}
	if c.ID() == firstID || c.ID() == "" {
		t.Fatalf("socket id %q after reconnect (was %q)", c.ID(), firstID)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) == 0 || attempts[0] != 1 {
		t.Fatalf("attempts %v", attempts)
	}
}

func TestNodeAckIDZero(t *testing.T) {
	ns := startNode(t)
	c := newTestClient(t, ns.URL, ClientOptions{})
	ctx := ctxT(t, 10*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	first := c.acks.next
	c.mu.Unlock()
	if first != 0 {
		t.Fatalf("first ack id would be %d", first)
	}
	args, err := c.EmitWithAck(ctx, "echo", "zero")
	if err != nil || string(args[0]) != `"zero"` {
		t.Fatalf("ack id 0: %s %v", args, err)
	}
}

func TestNodeEmitBeforeConnectIsBuffered(t *testing.T) {
	ns := startNode(t)
	ev := newEvents()
	c := newTestClient(t, ns.URL, ClientOptions{OnEvent: ev.hook})
	ctx := ctxT(t, 10*time.Second)
	emitted := make(chan error, 2)
	acked := make(chan []json.RawMessage, 1)
	go func() { emitted <- c.Emit(ctx, "echo", "early") }()
	go func() {
		args, err := c.EmitWithAck(ctx, "echo", "early-ack")
		emitted <- err
		acked <- args
	}()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := <-emitted; err != nil {
			t.Fatal(err)
		}
	}
	// Had the events been sent before the CONNECT reply, the server would
	// have closed the connection instead of answering.
	if e := ev.next(t, "echo"); string(e.args[0]) != `"early"` {
		t.Fatalf("echo %s", e.args)
	}
	if args := <-acked; string(args[0]) != `"early-ack"` {
		t.Fatalf("ack %s", args)
	}
	if !c.Connected() {
		t.Fatal("connection lost")
	}
}

func TestNodeRoomBroadcast(t *testing.T) {
	ns := startNode(t)
	ctx := ctxT(t, 10*time.Second)
	evA, evB := newEvents(), newEvents()
	a := newTestClient(t, ns.URL, ClientOptions{OnEvent: evA.hook, Auth: tokenAuth("a")})
	b := newTestClient(t, ns.URL, ClientOptions{OnEvent: evB.hook, Auth: tokenAuth("b")})
	outsider := newTestClient(t, ns.URL, ClientOptions{})
	for _, c := range []*Client{a, b, outsider} {
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*Client{a, b} {
		if _, err := c.EmitWithAck(ctx, "join", "room-1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := outsider.EmitWithAck(ctx, "broadcast", "room-1", "hello", 42); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []*events{evA, evB} {
		e := ev.next(t, "broadcast")
		if len(e.args) != 2 || string(e.args[0]) != `"hello"` || string(e.args[1]) != `42` {
			t.Fatalf("broadcast %s", e.args)
		}
	}
}

func TestNodeParseErrorReconnects(t *testing.T) {
	ns := startNode(t)
	d := newDisconnects()
	connects := make(chan struct{}, 4)
	c := newTestClient(t, ns.URL, ClientOptions{
		Reconnection: true,
		Backoff:      fastBackoff,
		OnDisconnect: d.hook,
		OnConnect:    func() { connects <- struct{}{} },
	})
	ctx := ctxT(t, 10*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	<-connects
	if err := c.Emit(ctx, "garbage"); err != nil {
		t.Fatal(err)
	}
	x := d.next(t, 5*time.Second)
	if x.reason != ReasonParseError || !errors.Is(x.err, ErrParse) {
		t.Fatalf("reason %q (%v)", x.reason, x.err)
	}
	select {
	case <-connects:
	case <-ctx.Done():
		t.Fatal("no reconnection after a parse error")
	}
	if _, err := c.EmitWithAck(ctx, "echo", 1); err != nil {
		t.Fatal(err)
	}
}

// TestNodeClientAgainstGoServer drives the official socket.io-client
// (testdata/conformance/client.js) against the Go server.
func TestNodeClientAgainstGoServer(t *testing.T) {
	node := requireNode(t)
	// A short interval exercises the Node client's heartbeat during the run;
	// the pong deadline is generous because a loaded CI machine can stall node.
	gs := startGoServer(t, ServerOptions{PingInterval: 500 * time.Millisecond, PingTimeout: 10 * time.Second})
	ctx := ctxT(t, 30*time.Second)
	cmd := exec.CommandContext(ctx, node, "client.js", gs.URL)
	cmd.Dir = conformanceDir
	out, err := cmd.CombinedOutput()
	t.Logf("client.js output:\n%s", out)
	if err != nil {
		t.Fatalf("client.js: %v", err)
	}
	for _, check := range []string{"connect", "echo", "auth", "binary", "server-binary", "many-acks", "refused", "namespace", "invalid-namespace", "server-disconnect"} {
		if !strings.Contains(string(out), "ok "+check+"\n") {
			t.Errorf("check %q did not pass", check)
		}
	}
}
