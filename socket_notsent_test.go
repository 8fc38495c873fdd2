package messaging_test

// A call whose packet provably never left is not reported as possibly
// delivered, and a control event is sent again after reconnecting only
// then. The transport below breaks writes on demand, as a connection does
// whose server vanished before the client's reader noticed.

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/internal/socketio"
)

// stallConn is a client connection whose next write, once stalled, waits
// for a verdict: fail before any byte left (none), after half of them
// (half), or go through (0).
type stallConn struct {
	net.Conn
	stalled atomic.Bool
	held    chan struct{} // a stalled write waits
	verdict chan int
	gone    chan struct{} // closed by Close
	once    sync.Once
}

const (
	verdictNone = iota + 1
	verdictHalf
)

func (c *stallConn) Write(p []byte) (int, error) {
	if !c.stalled.Load() {
		return c.Conn.Write(p)
	}
	c.stalled.Store(false)
	c.held <- struct{}{}
	var v int
	select {
	case v = <-c.verdict:
	case <-c.gone:
		return 0, net.ErrClosed
	}
	n := 0
	switch v {
	case verdictNone:
	case verdictHalf:
		n, _ = c.Conn.Write(p[:len(p)/2])
	default:
		return c.Conn.Write(p)
	}
	return n, &net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}
}

func (c *stallConn) Close() error {
	c.once.Do(func() { close(c.gone) })
	return c.Conn.Close()
}

// decide waits until the stalled write is held, then lets it go on as
// verdict says.
func (c *stallConn) decide(t *testing.T, verdict int) {
	t.Helper()
	recv(t, c.held)
	c.verdict <- verdict
}

// stallDialer makes stallConns; stall stalls the latest.
type stallDialer struct {
	mu   sync.Mutex
	last *stallConn
}

func (d *stallDialer) client(t *testing.T) *http.Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var nd net.Dialer
		nc, err := nd.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		sc := &stallConn{Conn: nc, held: make(chan struct{}, 1), verdict: make(chan int, 1), gone: make(chan struct{})}
		d.mu.Lock()
		d.last = sc
		d.mu.Unlock()
		return sc, nil
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// stall stalls the next write of the current connection.
func (d *stallDialer) stall() *stallConn {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.last.stalled.Store(true)
	return d.last
}

func controlScript(t *testing.T) *script {
	return newScript(t, nil, func(sc *script, so *socketio.ServerSocket, event, id string, n int, ack func(...any)) {
		if event == messaging.EventControlSend {
			ack(ackJSON(`{"success":true,"control":` + string(row("0e6a9c43-6f0b-4c53-9a59-1b7dfd0d0c6e", "stream.pause")) + `}`))
		}
	})
}

func TestSocketControlNotWrittenIsSentAfterReconnecting(t *testing.T) {
	sc := controlScript(t)
	var d stallDialer
	const ackTimeout = 50 * time.Millisecond
	s := sc.socket(t, messaging.WithHTTPClient(d.client(t)), messaging.WithAckTimeout(ackTimeout))
	reconnected, _ := signals(s.OnReconnect)
	conn := d.stall()
	done := make(chan error, 1)
	go func() {
		_, err := s.SendControl(testCtx(t), wireConv, messaging.ControlParams{Event: "pause"})
		done <- err
	}()
	// The attempt's ack timeout passes while its write hangs; then the
	// write fails before any byte left.
	recv(t, conn.held)
	time.Sleep(3 * ackTimeout)
	conn.verdict <- verdictNone
	require.NoError(t, recv(t, done), "sent again on the next connection")
	recv(t, reconnected)
	assert.Equal(t, 1, sc.count(messaging.EventControlSend+" "+wireConv), "the server saw it once")
	assert.Equal(t, 2, sc.conns)
}

func TestSocketSendNotWrittenIsNotDeliveryUnknown(t *testing.T) {
	sc := controlScript(t)
	var d stallDialer
	s := sc.socket(t, messaging.WithHTTPClient(d.client(t)))
	conn := d.stall()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.SendControl(ctx, wireConv, messaging.ControlParams{Event: "pause"})
		done <- err
	}()
	recv(t, conn.held)
	cancel() // the caller gives up while the write hangs; it then fails unwritten
	conn.verdict <- verdictNone
	err := recv(t, done)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, messaging.ErrDeliveryUnknown, "nothing left")
	assert.Equal(t, 0, sc.count(messaging.EventControlSend+" "+wireConv))
}

func TestSocketControlPartlyWrittenIsDeliveryUnknown(t *testing.T) {
	sc := controlScript(t)
	var d stallDialer
	s := sc.socket(t, messaging.WithHTTPClient(d.client(t)))
	conn := d.stall()
	done := make(chan error, 1)
	go func() {
		_, err := s.SendControl(testCtx(t), wireConv, messaging.ControlParams{Event: "pause"})
		done <- err
	}()
	conn.decide(t, verdictHalf)
	err := recv(t, done)
	assert.ErrorIs(t, err, messaging.ErrDeliveryUnknown, "part of it left")
	// Nothing was sent again: the next control goes out on its own.
	_, err = s.SendControl(testCtx(t), wireConv, messaging.ControlParams{Event: "pause"})
	require.NoError(t, err)
	assert.Equal(t, 1, sc.count(messaging.EventControlSend+" "+wireConv))
}
