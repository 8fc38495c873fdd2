package engineio

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/symbia-labs/messaging-go/internal/netfault"
)

// Tests of what a peer can make a connection wait for or hold.

// closeBound is how long a test waits for a Close that should take about
// closeGrace: generous, since it only runs out when the test fails.
const closeBound = 3 * time.Second

// blackHoled returns a client connection, its server side and the proxy
// between them, whose link is black-holed: bytes stop flowing both ways
// and nothing closes.
func blackHoled(t *testing.T) (*Conn, *ServerConn, *netfault.Proxy) {
	t.Helper()
	_, hs, conns := testServer(t, ServerOptions{PingInterval: time.Hour, PingTimeout: time.Hour})
	p, err := netfault.NewProxy(strings.TrimPrefix(hs.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	c := dialT(t, "http://"+p.Addr(), DialOptions{})
	sc := recvConn(t, conns)
	if n := p.CutAll(netfault.BlackHole); n != 1 {
		t.Fatalf("black-holed %d links", n)
	}
	return c, sc, p
}

// closeWithin runs close and fails the test if it has not returned within
// closeBound.
func closeWithin(t *testing.T, what string, closeFn func()) {
	t.Helper()
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		closeFn()
	}()
	select {
	case <-done:
		t.Logf("%s returned after %v", what, time.Since(start).Round(time.Millisecond))
	case <-time.After(closeBound):
		t.Fatalf("%s on a black-holed connection has not returned after %v", what, closeBound)
	}
}

func TestClientCloseOnABlackHoledConnectionIsBounded(t *testing.T) {
	c, _, _ := blackHoled(t)
	reading := make(chan error, 1)
	go func() { // the consumer's pending Read, as the socketio manager has one
		_, err := c.Read(context.Background())
		reading <- err
	}()
	closeWithin(t, "Conn.Close", func() { _ = c.Close() })
	select {
	case err := <-reading:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("pending Read: %v", err)
		}
	case <-time.After(closeBound):
		t.Fatal("the pending Read did not return")
	}
}

func TestServerCloseOnABlackHoledConnectionIsBounded(t *testing.T) {
	c, sc, _ := blackHoled(t)
	go func() { _, _ = sc.Read(context.Background()) }()
	closeWithin(t, "ServerConn.Close", func() { _ = sc.Close() })
	_ = c // closed at cleanup
}

func TestClientClampsAnAbsurdHeartbeat(t *testing.T) {
	// An open packet announcing a heartbeat of 2^41 ms would leave the
	// connection's death unnoticed for 70 years.
	hs := httptest.NewServer(openPacketServer(`0{"sid":"x","upgrades":[],"pingInterval":2199023255552,"pingTimeout":2199023255552,"maxPayload":1000000}`))
	t.Cleanup(hs.Close)
	c := dialT(t, hs.URL, DialOptions{})
	if got := c.pingInterval + c.pingTimeout; got > MaxPingInterval+MaxPingTimeout {
		t.Fatalf("dead-link deadline %v, want at most %v", got, MaxPingInterval+MaxPingTimeout)
	}
	if c.Handshake().PingInterval != MaxPingInterval || c.Handshake().PingTimeout != MaxPingTimeout {
		t.Fatalf("handshake %+v, want the clamped figures", c.Handshake())
	}
}

// openPacketServer accepts a WebSocket, sends open as its first frame and
// then reads until the client goes.
func openPacketServer(open string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		if ws.Write(r.Context(), websocket.MessageText, []byte(open)) != nil {
			return
		}
		for {
			if _, _, err := ws.Read(r.Context()); err != nil {
				return
			}
		}
	})
}
