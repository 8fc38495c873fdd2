package socketio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/symbia-labs/messaging-go/internal/backoff"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fastBackoff keeps reconnection tests quick.
var fastBackoff = backoff.Backoff{Min: 20 * time.Millisecond, Max: 100 * time.Millisecond, Factor: 2, Jitter: 0.5}

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// goServer is a Go Socket.IO server with the same handlers as the Node
// referee (testdata/conformance/server.js), as far as the tests need.
type goServer struct {
	*Server
	http  *httptest.Server
	URL   string
	conns chan *ServerSocket
}

func startGoServer(t *testing.T, opts ServerOptions) *goServer {
	t.Helper()
	gs := &goServer{conns: make(chan *ServerSocket, 64)}
	if opts.Authenticate == nil {
		opts.Authenticate = func(r *http.Request, auth json.RawMessage) (any, error) {
			var a struct {
				Token string `json:"token"`
			}
			_ = json.Unmarshal(auth, &a)
			if a.Token == "" || a.Token == "bad" {
				return nil, &AuthError{Message: "invalid credentials", Data: map[string]any{"code": 401}}
			}
			return a.Token, nil
		}
	}
	if opts.Namespaces == nil {
		opts.Namespaces = []string{"/admin"}
	}
	user := opts.OnConnection
	opts.OnConnection = func(so *ServerSocket) {
		so.OnEvent(func(event string, args []json.RawMessage, ack func(...any)) {
			switch event {
			case "echo":
				if ack != nil {
					vals := make([]any, len(args))
					for i, a := range args {
						vals[i] = a
					}
					ack(vals...)
				}
			case "echo-binary":
				var b []byte
				if err := json.Unmarshal(args[0], &b); err == nil && ack != nil {
					ack(b)
				}
			case "whoami":
				if ack != nil {
					ack(so.Principal(), so.Namespace())
				}
			case "binary":
				var n int
				_ = json.Unmarshal(args[0], &n)
				b := make([]byte, n)
				for i := range b {
					b[i] = byte(i)
				}
				if ack != nil {
					ack(b, map[string]any{"nested": b[:n/2]})
				}
			case "server-disconnect":
				so.Disconnect()
			}
		})
		if user != nil {
			user(so)
		}
		gs.conns <- so
	}
	gs.Server = NewServer(opts)
	gs.http = httptest.NewServer(gs.Server)
	gs.URL = gs.http.URL
	t.Cleanup(func() {
		gs.Server.Close()
		gs.http.Close()
	})
	return gs
}

func (gs *goServer) next(t *testing.T) *ServerSocket {
	t.Helper()
	select {
	case so := <-gs.conns:
		return so
	case <-time.After(5 * time.Second):
		t.Fatal("no server socket")
		return nil
	}
}

func tokenAuth(tok string) func(context.Context) (any, error) {
	return func(context.Context) (any, error) { return map[string]string{"token": tok}, nil }
}

func newTestClient(t *testing.T, url string, opts ClientOptions) *Client {
	t.Helper()
	if opts.Auth == nil {
		opts.Auth = tokenAuth("good")
	}
	c := NewClient(url, opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestGoConnectEmitAck(t *testing.T) {
	gs := startGoServer(t, ServerOptions{})
	c := newTestClient(t, gs.URL, ClientOptions{})
	if c.Connected() || c.ID() != "" {
		t.Fatal("connected before Connect")
	}
	ctx := ctxT(t, 5*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	so := gs.next(t)
	if !c.Connected() || c.ID() != so.ID() {
		t.Fatalf("id %q vs server %q", c.ID(), so.ID())
	}
	args, err := c.EmitWithAck(ctx, "echo", "hi", 1, map[string]bool{"ok": true})
	if err != nil {
		t.Fatal(err)
	}
	if len(args) != 3 || string(args[0]) != `"hi"` || string(args[1]) != `1` || string(args[2]) != `{"ok":true}` {
		t.Fatalf("ack args %s", args)
	}
	args, err = c.EmitWithAck(ctx, "whoami")
	if err != nil || string(args[0]) != `"good"` {
		t.Fatalf("whoami %s %v", args, err)
	}
	if err := c.Emit(ctx, "connect"); !errors.Is(err, ErrReservedEvent) {
		t.Fatalf("reserved: %v", err)
	}
}

func TestGoRefusedCredentials(t *testing.T) {
	gs := startGoServer(t, ServerOptions{})
	var connErrs atomic.Int32
	c := newTestClient(t, gs.URL, ClientOptions{
		Auth:           tokenAuth("bad"),
		Reconnection:   true,
		Backoff:        fastBackoff,
		OnConnectError: func(error) { connErrs.Add(1) },
	})
	err := c.Connect(ctxT(t, 5*time.Second))
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Message != "invalid credentials" || string(ce.Data) != `{"code":401}` {
		t.Fatalf("Connect: %v", err)
	}
	if !strings.Contains(err.Error(), "invalid credentials") {
		t.Fatalf("message missing: %v", err)
	}
	// Connect returns as the client stops; the hook is called just after.
	for end := time.Now().Add(2 * time.Second); connErrs.Load() == 0 && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // no second call (no reconnection)
	if n := connErrs.Load(); n != 1 {
		t.Fatalf("OnConnectError called %d times", n)
	}
	if err := c.Emit(ctxT(t, time.Second), "echo"); !errors.Is(err, ErrStopped) {
		t.Fatalf("Emit after refusal: %v", err)
	}
}

func TestGoAuthCalledOnEveryConnect(t *testing.T) {
	gs := startGoServer(t, ServerOptions{})
	var n atomic.Int32
	connected := make(chan struct{}, 10)
	c := newTestClient(t, gs.URL, ClientOptions{
		Auth: func(context.Context) (any, error) {
			return map[string]string{"token": fmt.Sprintf("tok-%d", n.Add(1))}, nil
		},
		Reconnection: true,
		Backoff:      fastBackoff,
		OnConnect:    func() { connected <- struct{}{} },
	})
	ctx := ctxT(t, 10*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	<-connected
	gs.next(t)
	gs.DropAll()
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatal("no reconnection")
	}
	args, err := c.EmitWithAck(ctx, "whoami")
	if err != nil || string(args[0]) != `"tok-2"` {
		t.Fatalf("whoami after reconnect: %s %v", args, err)
	}
}

func TestGoBinaryRoundTrip(t *testing.T) {
	gs := startGoServer(t, ServerOptions{})
	c := newTestClient(t, gs.URL, ClientOptions{})
	ctx := ctxT(t, 5*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 70000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	args, err := c.EmitWithAck(ctx, "echo", payload, map[string]any{"inner": []byte{0, 1, 2}}, "text")
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	if err := json.Unmarshal(args[0], &got); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("binary arg mismatch (%v)", err)
	}
	var inner struct{ Inner []byte }
	if err := json.Unmarshal(args[1], &inner); err != nil || !bytes.Equal(inner.Inner, []byte{0, 1, 2}) {
		t.Fatalf("nested binary mismatch: %s", args[1])
	}
	args, err = c.EmitWithAck(ctx, "binary", 256)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(args[0], &got); err != nil || len(got) != 256 || got[255] != 255 {
		t.Fatalf("server binary: %v", err)
	}
}

func TestGoServerDisconnectNotReconnected(t *testing.T) {
	gs := startGoServer(t, ServerOptions{})
	type disc struct {
		reason string
		err    error
	}
	discs := make(chan disc, 4)
	var attempts atomic.Int32
	c := newTestClient(t, gs.URL, ClientOptions{
		Reconnection:       true,
		Backoff:            fastBackoff,
		OnDisconnect:       func(r string, err error) { discs <- disc{r, err} },
		OnReconnectAttempt: func(int) { attempts.Add(1) },
	})
	ctx := ctxT(t, 5*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	so := gs.next(t)
	serverReason := make(chan string, 1)
	so.OnDisconnect(func(r string) { serverReason <- r })
	if err := c.Emit(ctx, "server-disconnect"); err != nil {
		t.Fatal(err)
	}
	d := <-discs
	if d.reason != ReasonServerDisconnect {
		t.Fatalf("reason %q", d.reason)
	}
	if r := <-serverReason; r != ReasonServerNamespaceDisconnect {
		t.Fatalf("server reason %q", r)
	}
	if c.Connected() {
		t.Fatal("still connected")
	}
	if err := c.Emit(ctx, "echo"); !errors.Is(err, ErrStopped) {
		t.Fatalf("Emit after server disconnect: %v", err)
	}
	// Connect starts again on demand.
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if attempts.Load() != 0 {
		t.Fatalf("%d automatic reconnection attempts", attempts.Load())
	}
}

func TestGoPendingAcksFailOnDisconnect(t *testing.T) {
	gs := startGoServer(t, ServerOptions{
		OnConnection: func(so *ServerSocket) {
			prev := so.onEvent
			so.OnEvent(func(ev string, args []json.RawMessage, ack func(...any)) {
				if ev == "never-ack" {
					return
				}
				prev(ev, args, ack)
			})
		},
	})
	c := newTestClient(t, gs.URL, ClientOptions{Reconnection: true, Backoff: fastBackoff})
	ctx := ctxT(t, 5*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	so := gs.next(t)
	const n = 5
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := c.EmitWithAck(ctx, "never-ack")
			errs <- err
		}()
	}
	// Wait until all of them are pending before the drop.
	waitPendingAcks(t, c, n)
	so.DropConnection()
	for i := 0; i < n; i++ {
		err := <-errs
		var de *DisconnectError
		if !errors.Is(err, ErrDisconnected) || !errors.As(err, &de) || de.Reason != ReasonTransportClose {
			t.Fatalf("pending ack ended with %v", err)
		}
	}
}

func TestGoAckIDZeroAndOrder(t *testing.T) {
	var mu sync.Mutex
	var ids []uint64
	gs := startGoServer(t, ServerOptions{})
	c := newTestClient(t, gs.URL, ClientOptions{})
	ctx := ctxT(t, 5*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	so := gs.next(t)
	so.OnEvent(func(ev string, args []json.RawMessage, ack func(...any)) {
		mu.Lock()
		ids = append(ids, uint64(len(ids)))
		mu.Unlock()
		ack(args[0])
	})
	for i := 0; i < 3; i++ {
		args, err := c.EmitWithAck(ctx, "n", i)
		if err != nil || string(args[0]) != fmt.Sprint(i) {
			t.Fatalf("ack %d: %s %v", i, args, err)
		}
	}
}

func TestGoEmitBeforeConnectIsHeld(t *testing.T) {
	got := make(chan string, 4)
	gs := startGoServer(t, ServerOptions{
		OnConnection: func(so *ServerSocket) {
			so.OnEvent(func(ev string, args []json.RawMessage, ack func(...any)) { got <- ev })
		},
	})
	c := newTestClient(t, gs.URL, ClientOptions{})
	ctx := ctxT(t, 5*time.Second)
	emitted := make(chan error, 1)
	go func() { emitted <- c.Emit(ctx, "early") }()
	select {
	case err := <-emitted:
		t.Fatalf("Emit returned before Connect: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-emitted; err != nil {
		t.Fatal(err)
	}
	if ev := <-got; ev != "early" {
		t.Fatalf("server got %q", ev)
	}
}

func TestGoCloseFailsWaitersAndEndsGoroutines(t *testing.T) {
	gs := startGoServer(t, ServerOptions{})
	discs := make(chan string, 2)
	c := newTestClient(t, gs.URL, ClientOptions{OnDisconnect: func(r string, _ error) { discs <- r }})
	ctx := ctxT(t, 5*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	so := gs.next(t)
	serverReason := make(chan string, 1)
	so.OnDisconnect(func(r string) { serverReason <- r })
	_ = c.Close()
	if r := <-discs; r != ReasonClientDisconnect {
		t.Fatalf("reason %q", r)
	}
	if r := <-serverReason; r != ReasonClientNamespaceDisconnect {
		t.Fatalf("server reason %q", r)
	}
	if err := c.Emit(ctx, "x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Emit after Close: %v", err)
	}
	if _, err := c.EmitWithAck(ctx, "x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("EmitWithAck after Close: %v", err)
	}
	if err := c.Connect(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Connect after Close: %v", err)
	}
	_ = c.Close()
}

func TestGoConnectContextEnds(t *testing.T) {
	// Nothing listens on this server's port once closed.
	hs := httptest.NewServer(http.NotFoundHandler())
	url := hs.URL
	hs.Close()
	c := newTestClient(t, url, ClientOptions{Reconnection: true, Backoff: fastBackoff})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := c.Connect(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect: %v", err)
	}
	if err := c.Emit(context.Background(), "x"); !errors.Is(err, ErrStopped) {
		t.Fatalf("Emit after failed Connect: %v", err)
	}
}

func TestGoReconnectAttemptsExhausted(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	url := hs.URL
	hs.Close()
	failed := make(chan error, 2)
	var attempts []int
	var mu sync.Mutex
	c := newTestClient(t, url, ClientOptions{
		Reconnection:         true,
		ReconnectionAttempts: 3,
		Backoff:              fastBackoff,
		OnReconnectAttempt: func(n int) {
			mu.Lock()
			attempts = append(attempts, n)
			mu.Unlock()
		},
		OnReconnectFailed: func(err error) { failed <- err },
	})
	err := c.Connect(ctxT(t, 5*time.Second))
	if !errors.Is(err, ErrReconnectFailed) {
		t.Fatalf("Connect: %v", err)
	}
	// The error keeps the last attempt's cause and counts the attempts:
	// the first one and 3 reconnection attempts.
	var rf *ReconnectFailedError
	var op *net.OpError
	if !errors.As(err, &rf) || rf.Attempts != 4 || !errors.As(err, &op) {
		t.Fatalf("Connect: %v, want 4 attempts ending with a *net.OpError", err)
	}
	if e := <-failed; !errors.Is(e, ErrReconnectFailed) {
		t.Fatalf("OnReconnectFailed: %v", e)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(attempts) != "[1 2 3]" {
		t.Fatalf("attempts %v", attempts)
	}
	select {
	case <-failed:
		t.Fatal("OnReconnectFailed called twice")
	default:
	}
}

func TestGoPingTimeoutAndResume(t *testing.T) {
	const interval, timeout = 100 * time.Millisecond, 300 * time.Millisecond
	gs := startGoServer(t, ServerOptions{PingInterval: interval, PingTimeout: timeout})
	discs := make(chan string, 4)
	connects := make(chan struct{}, 4)
	c := newTestClient(t, gs.URL, ClientOptions{
		Reconnection: true,
		Backoff:      fastBackoff,
		OnDisconnect: func(r string, _ error) { discs <- r },
		OnConnect:    func() { connects <- struct{}{} },
	})
	ctx := ctxT(t, 10*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	<-connects
	gs.PauseHeartbeats()
	paused := time.Now()
	select {
	case r := <-discs:
		if r != ReasonPingTimeout {
			t.Fatalf("reason %q", r)
		}
	case <-time.After(interval + timeout + time.Second):
		t.Fatal("ping timeout not detected in time")
	}
	t.Logf("detected after %v", time.Since(paused))
	gs.ResumeHeartbeats()
	select {
	case <-connects:
	case <-ctx.Done():
		t.Fatal("no reconnection")
	}
	if _, err := c.EmitWithAck(ctx, "echo", 1); err != nil {
		t.Fatal(err)
	}
}

func TestGoHeaderAndHeaderFuncOnEveryDial(t *testing.T) {
	gs := startGoServer(t, ServerOptions{})
	var n atomic.Int32
	static := http.Header{"X-Static": {"s"}, "Traceparent": {"static"}}
	c := newTestClient(t, gs.URL, ClientOptions{
		Header: static,
		HeaderFunc: func(context.Context) http.Header {
			return http.Header{"Traceparent": {fmt.Sprintf("tp-%d", n.Add(1))}}
		},
		Reconnection: true,
		Backoff:      fastBackoff,
	})
	ctx := ctxT(t, 5*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	so := gs.next(t)
	if h := so.Request().Header; h.Get("X-Static") != "s" || h.Get("Traceparent") != "tp-1" {
		t.Fatalf("headers %v", h)
	}
	gs.DropAll()
	so = gs.next(t)
	if h := so.Request().Header; h.Get("X-Static") != "s" || h.Get("Traceparent") != "tp-2" {
		t.Fatalf("after reconnect: %v", h)
	}
	if got := static.Get("Traceparent"); got != "static" {
		t.Fatalf("HeaderFunc altered the static Header: %q", got)
	}
}

func TestGoHookMayEmitWhileConnectedAndPanicIsRecovered(t *testing.T) {
	gs := startGoServer(t, ServerOptions{
		OnConnection: func(so *ServerSocket) { _ = so.Emit("hello", "x") },
	})
	results := make(chan error, 1)
	var c *Client
	c = newTestClient(t, gs.URL, ClientOptions{
		OnEvent: func(ev string, args []json.RawMessage) {
			if ev != "hello" {
				return
			}
			results <- c.Emit(context.Background(), "echo", "from hook")
			panic("handler bug") // recovered
		},
	})
	ctx := ctxT(t, 5*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-results; err != nil {
		t.Fatalf("Emit from hook: %v", err)
	}
	if args, err := c.EmitWithAck(ctx, "echo", 1); err != nil || string(args[0]) != "1" {
		t.Fatalf("after the hook's panic: %s %v", args, err)
	}
}

func TestGoServerAckFailsWhenTheClientLeaves(t *testing.T) {
	// A pending server-side ack fails when the client goes away. The
	// client (which answers no ack) closes only once the event has reached
	// it, so the ack is pending (not refused as unsendable) when the
	// connection goes.
	gs := startGoServer(t, ServerOptions{})
	ctx := ctxT(t, 5*time.Second)
	done := make(chan error, 1)
	received := make(chan struct{})
	c := newTestClient(t, gs.URL, ClientOptions{
		OnEvent: func(ev string, _ []json.RawMessage) {
			if ev == "no-answer" {
				close(received)
			}
		},
	})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	so := gs.next(t)
	go func() {
		_, err := so.EmitWithAck(ctx, "no-answer")
		done <- err
	}()
	select {
	case <-received:
	case <-ctx.Done():
		t.Fatal("the event never reached the client")
	}
	_ = c.Close()
	if err := <-done; !errors.Is(err, ErrDisconnected) {
		t.Fatalf("pending server ack: %v", err)
	}
}

func TestGoManyAcksInOrder(t *testing.T) {
	var mu sync.Mutex
	next := map[int]int{}
	gs := startGoServer(t, ServerOptions{
		OnConnection: func(so *ServerSocket) {
			so.OnEvent(func(ev string, args []json.RawMessage, ack func(...any)) {
				var s, n int
				_ = json.Unmarshal(args[0], &s)
				_ = json.Unmarshal(args[1], &n)
				mu.Lock()
				ok := next[s] == n
				next[s] = n + 1
				mu.Unlock()
				ack(n, ok)
			})
		},
	})
	c := newTestClient(t, gs.URL, ClientOptions{})
	ctx := ctxT(t, 30*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for s := 0; s < 4; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 500; n++ {
				args, err := c.EmitWithAck(ctx, "seq", s, n)
				if err != nil || string(args[1]) != "true" {
					t.Errorf("stream %d #%d: %s %v", s, n, args, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestGoEmitDuringNamespaceHandshakeIsHeld(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	got := make(chan string, 1)
	gs := startGoServer(t, ServerOptions{
		Authenticate: func(r *http.Request, auth json.RawMessage) (any, error) {
			close(entered) // transport open, CONNECT received, reply pending
			<-release
			return "u", nil
		},
		OnConnection: func(so *ServerSocket) {
			so.OnEvent(func(ev string, args []json.RawMessage, ack func(...any)) { got <- ev })
		},
	})
	c := newTestClient(t, gs.URL, ClientOptions{})
	ctx := ctxT(t, 5*time.Second)
	connected := make(chan error, 1)
	go func() { connected <- c.Connect(ctx) }()
	<-entered
	emitted := make(chan error, 1)
	go func() { emitted <- c.Emit(ctx, "during-handshake") }()
	select {
	case err := <-emitted:
		t.Fatalf("Emit went out before the CONNECT reply: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-connected; err != nil {
		t.Fatal(err)
	}
	if err := <-emitted; err != nil {
		t.Fatal(err)
	}
	// An event before the reply would have made the server drop the
	// connection instead of handling it.
	if ev := <-got; ev != "during-handshake" {
		t.Fatalf("server got %q", ev)
	}
}

func TestGoRefusalOnReconnectStopsTheManager(t *testing.T) {
	var accepted atomic.Int32
	gs := startGoServer(t, ServerOptions{
		Authenticate: func(r *http.Request, auth json.RawMessage) (any, error) {
			if accepted.Add(1) > 1 {
				return nil, &AuthError{Message: "token expired", Data: "renew"}
			}
			return "u", nil
		},
	})
	var attempts atomic.Int32
	connErrs := make(chan error, 4)
	discs := make(chan string, 4)
	c := newTestClient(t, gs.URL, ClientOptions{
		Reconnection:       true,
		Backoff:            fastBackoff,
		OnReconnectAttempt: func(int) { attempts.Add(1) },
		OnConnectError:     func(err error) { connErrs <- err },
		OnDisconnect:       func(r string, _ error) { discs <- r },
	})
	ctx := ctxT(t, 5*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	gs.DropAll()
	if r := <-discs; r != ReasonTransportClose {
		t.Fatalf("reason %q", r)
	}
	err := <-connErrs
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Message != "token expired" || string(ce.Data) != `"renew"` {
		t.Fatalf("OnConnectError: %v", err)
	}
	if err := c.Emit(ctx, "x"); !errors.Is(err, ErrStopped) || !errors.As(err, &ce) {
		t.Fatalf("Emit after refusal: %v", err)
	}
	if n := attempts.Load(); n != 1 {
		t.Fatalf("%d reconnection attempts, want 1", n)
	}
	select {
	case err := <-connErrs:
		t.Fatalf("second connect error %v", err)
	default:
	}
}

// waitPendingAcks waits until n acks are registered (their events sent).
func waitPendingAcks(t *testing.T, c *Client, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		k := len(c.acks.waiting)
		c.mu.Unlock()
		if k == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acks pending, want %d", k, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestGoCloseFailsPendingAcks(t *testing.T) {
	gs := startGoServer(t, ServerOptions{})
	c := newTestClient(t, gs.URL, ClientOptions{})
	ctx := ctxT(t, 5*time.Second)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.EmitWithAck(ctx, "no-handler-never-acks")
		errc <- err
	}()
	waitPendingAcks(t, c, 1)
	_ = c.Close()
	err := <-errc
	if !errors.Is(err, ErrDisconnected) || !errors.Is(err, ErrClosed) {
		t.Fatalf("pending ack after Close: %v", err)
	}
}

func TestGoReconnectScheduledWithTheActualDelay(t *testing.T) {
	gs := startGoServer(t, ServerOptions{})
	// r = 0.95: the deviation is floor(0.95·0.5·40 ms) = 19 ms, added (the
	// parity of floor(9.5) is odd), for 59 ms instead of the nominal 40.
	bo := backoff.Backoff{Min: 40 * time.Millisecond, Max: time.Second, Factor: 2, Jitter: 0.5, Rand: func() float64 { return 0.95 }}
	var mu sync.Mutex
	var events []string
	record := func(e string) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	attempted := make(chan struct{}, 4)
	c := newTestClient(t, gs.URL, ClientOptions{
		Reconnection: true,
		Backoff:      bo,
		OnReconnectScheduled: func(n int, d time.Duration) {
			record(fmt.Sprintf("scheduled %d in %v", n, d))
		},
		OnDisconnect:       func(reason string, _ error) { record("disconnect") },
		OnReconnectAttempt: func(n int) { record(fmt.Sprintf("attempt %d", n)); attempted <- struct{}{} },
	})
	if err := c.Connect(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	gs.next(t).DropConnection()
	start := time.Now()
	select {
	case <-attempted:
	case <-time.After(5 * time.Second):
		t.Fatal("no reconnection attempt")
	}
	if waited := time.Since(start); waited < 59*time.Millisecond-5*time.Millisecond {
		t.Errorf("attempt 1 came after %v, before the scheduled delay", waited)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"scheduled 1 in 59ms", "disconnect", "attempt 1"}
	if fmt.Sprint(events) != fmt.Sprint(want) {
		t.Fatalf("events %q, want %q", events, want)
	}
}
