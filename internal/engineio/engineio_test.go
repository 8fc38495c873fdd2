package engineio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testServer starts a Server behind httptest; every accepted connection is
// handed to the returned channel.
func testServer(t *testing.T, opts ServerOptions) (*Server, *httptest.Server, chan *ServerConn) {
	t.Helper()
	conns := make(chan *ServerConn, 16)
	opts.OnConnection = func(c *ServerConn) { conns <- c }
	s := NewServer(opts)
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	return s, hs, conns
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// readAll reads c until its end, as a consumer must for pings to be
// answered and the end to be noticed.
func readAll(t *testing.T, c *Conn) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = c.Close()
		<-done
	})
}

func dialT(t *testing.T, url string, opts DialOptions) *Conn {
	t.Helper()
	c, err := Dial(ctxT(t, 5*time.Second), url, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func recvConn(t *testing.T, ch chan *ServerConn) *ServerConn {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no server connection")
		return nil
	}
}

func waitDone(t *testing.T, done <-chan struct{}, within time.Duration, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(within):
		t.Fatalf("%s: not ended within %v", what, within)
	}
}

func TestBuildURL(t *testing.T) {
	cases := []struct {
		in   string
		opts DialOptions
		want string
	}{
		{"http://h:1", DialOptions{}, "ws://h:1/socket.io/?EIO=4&transport=websocket"},
		{"https://h/ns?x=1", DialOptions{}, "wss://h/socket.io/?EIO=4&transport=websocket&x=1"},
		{"ws://h", DialOptions{Path: "/api/rt"}, "ws://h/api/rt/?EIO=4&transport=websocket"},
		{"wss://h", DialOptions{Path: "sock/"}, "wss://h/sock/?EIO=4&transport=websocket"},
	}
	for _, c := range cases {
		got, err := BuildURL(c.in, c.opts)
		if err != nil || got != c.want {
			t.Errorf("BuildURL(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"ftp://h", "http://", "::"} {
		if _, err := BuildURL(bad, DialOptions{}); err == nil {
			t.Errorf("BuildURL(%q): want error", bad)
		}
	}
}

func TestParseOpen(t *testing.T) {
	h, err := ParseOpen([]byte(`0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`))
	if err != nil {
		t.Fatal(err)
	}
	if h.SID != "lv_VI97HAXpY6yYWAAAC" || h.PingInterval != 25*time.Second || h.PingTimeout != 20*time.Second || h.MaxPayload != 1e6 || len(h.Upgrades) != 1 {
		t.Fatalf("bad handshake %+v", h)
	}
	for _, bad := range []string{"", "4{}", "0", "0{}", `0{"sid":"x","pingInterval":0,"pingTimeout":1}`, `0{"sid":"x","pingInterval":99999999999999999,"pingTimeout":1}`, "0[]"} {
		if _, err := ParseOpen([]byte(bad)); err == nil {
			t.Errorf("ParseOpen(%q): want error", bad)
		}
	}
}

func TestRoundTripInOrder(t *testing.T) {
	_, hs, conns := testServer(t, ServerOptions{})
	c := dialT(t, hs.URL, DialOptions{})
	sc := recvConn(t, conns)
	if c.Handshake().SID != sc.ID() {
		t.Fatalf("sid mismatch %q vs %q", c.Handshake().SID, sc.ID())
	}
	ctx := ctxT(t, 10*time.Second)
	const n = 2000
	go func() {
		for i := 0; i < n; i++ {
			m := TextMessage(fmt.Sprintf("m%d", i))
			if i%3 == 0 {
				m = BinaryMessage([]byte{byte(i), byte(i >> 8), 0xff})
			}
			if err := c.Send(ctx, m); err != nil {
				t.Errorf("Send %d: %v", i, err)
				return
			}
		}
	}()
	for i := 0; i < n; i++ {
		m, err := sc.Read(ctx)
		if err != nil {
			t.Fatalf("server Read %d: %v", i, err)
		}
		if i%3 == 0 {
			if !m.Binary || !bytes.Equal(m.Data, []byte{byte(i), byte(i >> 8), 0xff}) {
				t.Fatalf("message %d: got %+v", i, m)
			}
		} else if m.Binary || string(m.Data) != fmt.Sprintf("m%d", i) {
			t.Fatalf("message %d: got %+v", i, m)
		}
		// Echo it back; the server side never blocks.
		if err := sc.Send(m); err != nil {
			t.Fatalf("server Send: %v", err)
		}
	}
	for i := 0; i < n; i++ {
		m, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("client Read %d: %v", i, err)
		}
		if (i%3 == 0) != m.Binary {
			t.Fatalf("echo %d: wrong kind", i)
		}
	}
}

func TestGroupIsContiguous(t *testing.T) {
	_, hs, conns := testServer(t, ServerOptions{})
	c := dialT(t, hs.URL, DialOptions{})
	sc := recvConn(t, conns)
	ctx := ctxT(t, 10*time.Second)
	const writers, per = 4, 200
	for w := 0; w < writers; w++ {
		go func() {
			for i := 0; i < per; i++ {
				_ = c.Send(ctx, TextMessage("head"), BinaryMessage([]byte{1}), BinaryMessage([]byte{2}))
			}
		}()
	}
	for i := 0; i < writers*per; i++ {
		for j, want := range []string{"head", "\x01", "\x02"} {
			m, err := sc.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Data) != want {
				t.Fatalf("group %d frame %d: got %q, want %q", i, j, m.Data, want)
			}
		}
	}
}

func TestHeartbeatKeepsConnectionAlive(t *testing.T) {
	_, hs, conns := testServer(t, ServerOptions{PingInterval: 20 * time.Millisecond, PingTimeout: 250 * time.Millisecond})
	c := dialT(t, hs.URL, DialOptions{})
	readAll(t, c)
	sc := recvConn(t, conns)
	// About twenty ping rounds: a missing pong would end the server side
	// within 270 ms, a missing ping the client side.
	select {
	case <-sc.Done():
		t.Fatalf("server ended the connection: %v", sc.Err())
	case <-c.Done():
		t.Fatalf("client ended the connection: %v", c.Err())
	case <-time.After(500 * time.Millisecond):
	}
	if c.Err() != nil || sc.Err() != nil {
		t.Fatalf("unexpected errors %v / %v", c.Err(), sc.Err())
	}
}

func TestClientDetectsPingTimeout(t *testing.T) {
	s, hs, conns := testServer(t, ServerOptions{PingInterval: 50 * time.Millisecond, PingTimeout: 50 * time.Millisecond})
	c := dialT(t, hs.URL, DialOptions{})
	recvConn(t, conns)
	s.PauseHeartbeats()
	start := time.Now()
	waitDone(t, c.Done(), 100*time.Millisecond+time.Second, "client")
	if c.Reason() != ReasonPingTimeout {
		t.Fatalf("reason %q, err %v", c.Reason(), c.Err())
	}
	if !errors.Is(c.Err(), ErrClosed) {
		t.Fatalf("Err %v does not match ErrClosed", c.Err())
	}
	t.Logf("ping timeout detected after %v", time.Since(start))
	if _, err := c.Read(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after end: %v", err)
	}
	if err := c.Send(context.Background(), TextMessage("x")); !errors.Is(err, ErrNotSent) {
		t.Fatalf("Send after end: %v", err)
	}
}

func TestServerDetectsMissingPong(t *testing.T) {
	_, hs, conns := testServer(t, ServerOptions{PingInterval: 30 * time.Millisecond, PingTimeout: 30 * time.Millisecond})
	u, _ := BuildURL(hs.URL, DialOptions{})
	ctx := ctxT(t, 5*time.Second)
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	sc := recvConn(t, conns)
	// Read (so control frames flow) but never answer the pings.
	go func() {
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				return
			}
		}
	}()
	waitDone(t, sc.Done(), 2*time.Second, "server conn")
	if sc.Reason() != ReasonPingTimeout {
		t.Fatalf("reason %q (%v)", sc.Reason(), sc.Err())
	}
}

func TestServerRejectsClientPing(t *testing.T) {
	_, hs, conns := testServer(t, ServerOptions{})
	u, _ := BuildURL(hs.URL, DialOptions{})
	ctx := ctxT(t, 5*time.Second)
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	sc := recvConn(t, conns)
	if err := ws.Write(ctx, websocket.MessageText, []byte("2")); err != nil {
		t.Fatal(err)
	}
	waitDone(t, sc.Done(), 2*time.Second, "server conn")
	if sc.Reason() != ReasonTransportError {
		t.Fatalf("reason %q", sc.Reason())
	}
}

func TestDropAllLooksLikeNetworkFailure(t *testing.T) {
	s, hs, conns := testServer(t, ServerOptions{})
	c := dialT(t, hs.URL, DialOptions{})
	readAll(t, c)
	recvConn(t, conns)
	s.DropAll()
	waitDone(t, c.Done(), 2*time.Second, "client")
	if c.Reason() != ReasonTransportClose {
		t.Fatalf("reason %q (%v)", c.Reason(), c.Err())
	}
	if len(s.Conns()) != 0 {
		t.Fatalf("server still lists %d conns", len(s.Conns()))
	}
}

func TestClientCloseFlushesAndServerSeesTransportClose(t *testing.T) {
	_, hs, conns := testServer(t, ServerOptions{})
	c := dialT(t, hs.URL, DialOptions{})
	sc := recvConn(t, conns)
	if err := c.Queue(TextMessage("last words")); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if c.Reason() != ReasonForcedClose {
		t.Fatalf("client reason %q", c.Reason())
	}
	m, err := sc.Read(ctxT(t, 2*time.Second))
	if err != nil || string(m.Data) != "last words" {
		t.Fatalf("queued message lost: %q, %v", m.Data, err)
	}
	waitDone(t, sc.Done(), 2*time.Second, "server conn")
	if sc.Reason() != ReasonTransportClose {
		t.Fatalf("server reason %q", sc.Reason())
	}
	_ = c.Close() // idempotent
}

func TestServerCloseEndsClients(t *testing.T) {
	s, hs, conns := testServer(t, ServerOptions{})
	c := dialT(t, hs.URL, DialOptions{})
	sc := recvConn(t, conns)
	if err := sc.Send(TextMessage("bye")); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		s.Close()
	}()
	m, err := c.Read(ctxT(t, 3*time.Second))
	if err != nil || string(m.Data) != "bye" {
		t.Fatalf("message before close lost: %q %v", m.Data, err)
	}
	if _, err := c.Read(ctxT(t, 3*time.Second)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after the server closed: %v", err)
	}
	waitDone(t, c.Done(), 3*time.Second, "client")
	waitDone(t, closed, 3*time.Second, "server Close")
	if c.Reason() != ReasonTransportClose {
		t.Fatalf("client reason %q", c.Reason())
	}
	// A closed server refuses new connections.
	if _, err := Dial(ctxT(t, 2*time.Second), hs.URL, DialOptions{}); err == nil {
		t.Fatal("Dial to closed server succeeded")
	}
}

func TestPayloadTooLarge(t *testing.T) {
	_, hs, conns := testServer(t, ServerOptions{MaxPayload: 100})
	c := dialT(t, hs.URL, DialOptions{})
	recvConn(t, conns)
	if c.Handshake().MaxPayload != 100 {
		t.Fatalf("maxPayload %d", c.Handshake().MaxPayload)
	}
	err := c.Send(ctxT(t, time.Second), TextMessage(strings.Repeat("x", 100)))
	if !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("Send: %v", err)
	}
	if err := c.Send(ctxT(t, time.Second), TextMessage(strings.Repeat("x", 99))); err != nil {
		t.Fatalf("Send at the limit: %v", err)
	}
}

func TestClientIncomingLimit(t *testing.T) {
	_, hs, conns := testServer(t, ServerOptions{})
	c := dialT(t, hs.URL, DialOptions{MaxPayload: 64})
	sc := recvConn(t, conns)
	_ = sc.Send(BinaryMessage(make([]byte, 1000)))
	if _, err := c.Read(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read: %v", err)
	}
	waitDone(t, c.Done(), 2*time.Second, "client")
	if c.Reason() != ReasonTransportError {
		t.Fatalf("reason %q (%v)", c.Reason(), c.Err())
	}
}

func TestSlowPeerIsDropped(t *testing.T) {
	_, hs, conns := testServer(t, ServerOptions{WriteQueueLimit: 4, MaxPayload: 1 << 20})
	u, _ := BuildURL(hs.URL, DialOptions{})
	ctx := ctxT(t, 5*time.Second)
	ws, _, err := websocket.Dial(ctx, u, nil) // never reads
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	sc := recvConn(t, conns)
	big := BinaryMessage(make([]byte, 1<<20))
	var sendErr error
	start := time.Now()
	for i := 0; i < 1000 && sendErr == nil; i++ {
		sendErr = sc.Send(big)
	}
	if !errors.Is(sendErr, ErrWriteQueueFull) {
		t.Fatalf("Send to a stuck peer never failed: %v", sendErr)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Send blocked the caller for %v", d)
	}
	waitDone(t, sc.Done(), 2*time.Second, "server conn")
	if !errors.Is(sc.Err(), ErrWriteQueueFull) {
		t.Fatalf("server conn err %v", sc.Err())
	}
}

func TestBadRequests(t *testing.T) {
	_, hs, _ := testServer(t, ServerOptions{})
	for _, q := range []string{"/socket.io/?EIO=3&transport=websocket", "/socket.io/?EIO=4&transport=polling", "/socket.io/?EIO=4&transport=websocket&sid=abc", "/socket.io/?EIO=4&transport=websocket"} {
		resp, err := http.Get(hs.URL + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d", q, resp.StatusCode)
		}
	}
	resp, err := http.Get(hs.URL + "/other/?EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("other path: status %d", resp.StatusCode)
	}
	_, err = Dial(ctxT(t, 2*time.Second), hs.URL, DialOptions{Path: "/nope"})
	var he *HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusNotFound {
		t.Fatalf("Dial wrong path: %v", err)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestDialContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Dial(ctx, "http://127.0.0.1:1", DialOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial: %v", err)
	}
}

func TestDialTLSAndHeaders(t *testing.T) {
	conns := make(chan *ServerConn, 2)
	s := NewServer(ServerOptions{OnConnection: func(c *ServerConn) { conns <- c }})
	hs := httptest.NewTLSServer(s)
	defer func() {
		s.Close()
		hs.Close()
	}()
	// The caller's HTTP client (here trusting the test CA) is used as is.
	c := dialT(t, hs.URL+"/?v=1", DialOptions{
		HTTPClient: hs.Client(),
		Header:     http.Header{"Authorization": {"Bearer t"}},
	})
	sc := recvConn(t, conns)
	if sc.Request().Header.Get("Authorization") != "Bearer t" || sc.Request().URL.Query().Get("v") != "1" {
		t.Fatalf("handshake request %v %v", sc.Request().Header, sc.Request().URL)
	}
	if err := c.Send(ctxT(t, time.Second), TextMessage("over tls")); err != nil {
		t.Fatal(err)
	}
	if m, err := sc.Read(ctxT(t, time.Second)); err != nil || string(m.Data) != "over tls" {
		t.Fatalf("%q %v", m.Data, err)
	}
	// Without the CA the handshake fails.
	if _, err := Dial(ctxT(t, 2*time.Second), hs.URL, DialOptions{}); err == nil {
		t.Fatal("untrusted certificate accepted")
	}
}

func TestSendChecksHeartbeatDeadline(t *testing.T) {
	_, hs, conns := testServer(t, ServerOptions{PingInterval: time.Hour, PingTimeout: time.Hour})
	c := dialT(t, hs.URL, DialOptions{})
	recvConn(t, conns)
	// As after a machine suspend: the timer has not fired yet, but the
	// wall clock says the deadline passed.
	c.mu.Lock()
	c.lastPing = time.Now().Round(0).Add(-3 * time.Hour)
	c.mu.Unlock()
	err := c.Send(ctxT(t, time.Second), TextMessage("x"))
	if !errors.Is(err, ErrNotSent) {
		t.Fatalf("Send: %v", err)
	}
	waitDone(t, c.Done(), time.Second, "client")
	if c.Reason() != ReasonPingTimeout {
		t.Fatalf("reason %q", c.Reason())
	}
}

func TestSendContextCancelledWhileQueued(t *testing.T) {
	_, hs, conns := testServer(t, ServerOptions{})
	c := dialT(t, hs.URL, DialOptions{})
	recvConn(t, conns)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Send(ctx, TextMessage("x")); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrNotSent) {
		t.Fatalf("Send: %v", err)
	}
	if c.Err() != nil {
		t.Fatal("a cancelled Send must not end the connection")
	}
}
