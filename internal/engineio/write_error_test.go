package engineio

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/symbia-labs/messaging-go/internal/netfault"
)

// faultDial dials url through a netfault connection and returns it.
func faultDial(t *testing.T, url string) (*Conn, *netfault.Conn) {
	t.Helper()
	d := &netfault.Dialer{}
	t.Cleanup(d.Close)
	c := dialT(t, url, DialOptions{HTTPClient: d.Client()})
	return c, d.Last()
}

// holdWrite dials through a netfault connection and starts sending
// "first", whose write is held until released. It returns once that write
// is held; first reports the Send.
func holdWrite(t *testing.T) (c *Conn, fc *netfault.Conn, first <-chan error) {
	t.Helper()
	_, hs, conns := testServer(t, ServerOptions{})
	c, fc = faultDial(t, hs.URL)
	recvConn(t, conns)
	fc.Hold()
	ch := make(chan error, 1)
	go func() { ch <- c.Send(context.Background(), TextMessage("first")) }()
	<-fc.Held()
	return c, fc, ch
}

func TestSendOnBrokenConnectionSaysWhetherAnythingLeft(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    netfault.Mode
		notSent bool
	}{
		{"refused", netfault.Refuse, true},
		{"closed under the writer", netfault.Closed, true},
		{"partly written", netfault.Half, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, hs, conns := testServer(t, ServerOptions{})
			c, fc := faultDial(t, hs.URL)
			recvConn(t, conns)
			if err := c.Send(ctxT(t, 5*time.Second), TextMessage("before")); err != nil {
				t.Fatalf("Send on a healthy connection: %v", err)
			}
			fc.Set(tc.mode)
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
		c.mu.Lock()
		queued = c.wq.len()
		c.mu.Unlock()
	}
	fc.Release(netfault.Half)
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
	fc.Release(netfault.Half)
	<-first
}

// SendUntil's expire channel acts like a deadline of its ctx: a group still
// queued when it fires is never written, and its sender learns so.
func TestSendUntilExpiredWhileQueuedIsNotSent(t *testing.T) {
	c, fc, first := holdWrite(t)
	timer := time.NewTimer(20 * time.Millisecond)
	defer timer.Stop()
	err := c.SendUntil(context.Background(), timer.C, TextMessage("second"))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrNotSent) {
		t.Errorf("second: %v", err)
	}
	if c.Err() != nil {
		t.Errorf("an expired send ended the connection: %v", c.Err())
	}
	fc.Release(netfault.Pass)
	if err := <-first; err != nil {
		t.Errorf("first: %v", err)
	}
	// A nil expire never fires.
	if err := c.SendUntil(ctxT(t, time.Second), nil, TextMessage("third")); err != nil {
		t.Errorf("third: %v", err)
	}
}
