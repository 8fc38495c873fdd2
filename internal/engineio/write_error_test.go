package engineio

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Write fault modes of faultConn.
const (
	writeOK      int32 = iota
	writeRefused       // no byte is taken: the kernel refuses the write
	writeClosed        // no byte is taken: the socket was closed under us
	writeHalf          // half the bytes are taken, then the write fails
	writeHeld          // as writeHalf, once released
)

// faultConn is a client's network connection whose writes fail on demand
// while its reads go on, as when the peer vanished but the reader has not
// noticed yet.
type faultConn struct {
	net.Conn
	mode    atomic.Int32
	held    chan struct{} // writeHeld: a write is waiting
	release chan struct{} // writeHeld: let it go on
}

func (c *faultConn) Write(p []byte) (int, error) {
	switch c.mode.Load() {
	case writeHeld:
		c.held <- struct{}{}
		<-c.release
		fallthrough
	case writeHalf:
		n, _ := c.Conn.Write(p[:len(p)/2])
		return n, &net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNRESET}
	case writeRefused:
		return 0, &net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}
	case writeClosed:
		return 0, &net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed}
	}
	return c.Conn.Write(p)
}

// faultDial dials hs through a faultConn, returned once the dial is done.
func faultDial(t *testing.T, url string) (*Conn, *faultConn) {
	t.Helper()
	conns := make(chan *faultConn, 1)
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		fc := &faultConn{Conn: nc, held: make(chan struct{}), release: make(chan struct{})}
		conns <- fc
		return fc, nil
	}}
	t.Cleanup(tr.CloseIdleConnections)
	c := dialT(t, url, DialOptions{HTTPClient: &http.Client{Transport: tr}})
	return c, <-conns
}

// holdWrite dials through a faultConn and starts sending "first", whose
// write is held until fc.release is closed and then fails after half its
// bytes. It returns once that write is held; first reports the Send.
func holdWrite(t *testing.T) (c *Conn, fc *faultConn, first <-chan error) {
	t.Helper()
	_, hs, conns := testServer(t, ServerOptions{})
	c, fc = faultDial(t, hs.URL)
	recvConn(t, conns)
	fc.mode.Store(writeHeld)
	ch := make(chan error, 1)
	go func() { ch <- c.Send(context.Background(), TextMessage("first")) }()
	<-fc.held
	return c, fc, ch
}

func TestSendOnBrokenConnectionSaysWhetherAnythingLeft(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    int32
		notSent bool
	}{
		{"refused", writeRefused, true},
		{"closed under the writer", writeClosed, true},
		{"partly written", writeHalf, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, hs, conns := testServer(t, ServerOptions{})
			c, fc := faultDial(t, hs.URL)
			recvConn(t, conns)
			if err := c.Send(ctxT(t, 5*time.Second), TextMessage("before")); err != nil {
				t.Fatalf("Send on a healthy connection: %v", err)
			}
			fc.mode.Store(tc.mode)
			err := c.Send(ctxT(t, 5*time.Second), TextMessage("during"))
			if err == nil {
				t.Fatal("Send on a broken connection succeeded")
			}
			if !errors.Is(err, ErrClosed) {
				t.Errorf("error %q does not match ErrClosed", err)
			}
			if errors.Is(err, ErrNotSent) != tc.notSent {
				t.Errorf("error %q: matches ErrNotSent = %v, want %v", err, !tc.notSent, tc.notSent)
			}
			waitDone(t, c.Done(), 2*time.Second, "client")
			if c.Reason() != ReasonTransportError {
				t.Errorf("reason %q, want %q", c.Reason(), ReasonTransportError)
			}
			// Anything sent after the failure is refused, never written.
			if err := c.Send(ctxT(t, time.Second), TextMessage("after")); !errors.Is(err, ErrNotSent) || !errors.Is(err, ErrClosed) {
				t.Errorf("Send after the failure: %v", err)
			}
		})
	}
}

// A group queued behind a write that fails was never written: its sender
// learns so, while the sender of the failed write learns that it may have
// been.
func TestSendQueuedBehindAFailedWriteIsNotSent(t *testing.T) {
	c, fc, first := holdWrite(t)
	second := make(chan error, 1)
	go func() { second <- c.Send(context.Background(), TextMessage("second")) }()
	for queued := 0; queued == 0; {
		time.Sleep(time.Millisecond)
		c.c.mu.Lock()
		queued = c.c.wq.len()
		c.c.mu.Unlock()
	}
	close(fc.release)
	if err := <-first; err == nil || errors.Is(err, ErrNotSent) || !errors.Is(err, ErrClosed) {
		t.Errorf("first (partly written): %v", err)
	}
	if err := <-second; !errors.Is(err, ErrNotSent) || !errors.Is(err, ErrClosed) {
		t.Errorf("second (never written): %v", err)
	}
}

// A group whose sender gives up while it waits behind another write is
// never written, and its sender learns so.
func TestSendGivenUpWhileQueuedIsNotSent(t *testing.T) {
	c, fc, first := holdWrite(t)
	err := c.Send(ctxT(t, 20*time.Millisecond), TextMessage("second"))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrNotSent) {
		t.Errorf("second: %v", err)
	}
	close(fc.release)
	<-first
}
