package engineio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/symbia-labs/messaging-go/internal/stacks"
)

// Tests of the client's reading: no reader goroutine, the consumer's Read
// reads from the network and handles heartbeats inline.

// goroutinesOf returns the stacks of the goroutines with a frame of c's
// connection in them (its address as the receiver of a conn method), apart
// from the caller's.
func goroutinesOf(c *Conn) []string {
	buf := stacks.All()
	recv := fmt.Sprintf("(%p", c) // as in "engineio.(*frameConn).next(0xc000123400)": frameConn is Conn's first field
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 {
			continue // the caller
		}
		for _, line := range strings.Split(g, "\n") {
			if strings.Contains(line, "engineio.(*") && strings.Contains(line, recv) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

func TestReadHasNoReaderGoroutine(t *testing.T) {
	_, hs, conns := testServer(t, ServerOptions{PingInterval: time.Hour, PingTimeout: time.Hour})
	d := dialT(t, hs.URL, DialOptions{})
	sc := recvConn(t, conns)
	if g := goroutinesOf(d); len(g) != 0 {
		t.Fatalf("want no goroutine, got %d:\n%s", len(g), strings.Join(g, "\n\n"))
	}
	// It works: a message each way.
	if err := sc.Send(TextMessage("hi")); err != nil {
		t.Fatal(err)
	}
	if m, err := d.Read(context.Background()); err != nil || string(m.Data) != "hi" {
		t.Fatalf("Read: %q %v", m.Data, err)
	}
	if err := d.Send(ctxT(t, time.Second), TextMessage("ho")); err != nil {
		t.Fatal(err)
	}
	if m, err := sc.Read(ctxT(t, time.Second)); err != nil || string(m.Data) != "ho" {
		t.Fatalf("server Read: %q %v", m.Data, err)
	}
	if g := goroutinesOf(d); len(g) != 0 {
		t.Fatalf("after use: want no goroutine, got %d:\n%s", len(g), strings.Join(g, "\n\n"))
	}
}

func TestReadInOrderWithHeartbeats(t *testing.T) {
	// Pings every 5 ms interleave with the messages, and are handled
	// within Read. The sender waits for each batch to be read, so that the
	// server's writer is idle (and pings) often. (The pingTimeout is
	// generous: a loaded machine can delay the server's writer, which
	// pings only when idle, beyond a short one; TestReadAnswersPingsWhileWaiting
	// checks the pongs.)
	_, hs, conns := testServer(t, ServerOptions{PingInterval: 5 * time.Millisecond, PingTimeout: 2 * time.Second})
	c := dialT(t, hs.URL, DialOptions{})
	sc := recvConn(t, conns)
	c.mu.Lock()
	firstPing := c.lastPing
	c.mu.Unlock()
	const batches, per = 40, 50
	batchRead := make(chan struct{})
	go func() {
		i := 0
		for range batches {
			for range per {
				m := TextMessage(fmt.Sprintf("m%d", i))
				if i%3 == 0 {
					m = BinaryMessage([]byte{byte(i), byte(i >> 8), 0xff})
				}
				if sc.Send(m) != nil {
					return // reported by the reader
				}
				i++
			}
			select {
			case <-batchRead:
			case <-sc.Done():
				return
			}
			time.Sleep(10 * time.Millisecond) // let pings in between
		}
	}()
	ctx := context.Background()
	for i := 0; i < batches*per; i++ {
		m, err := c.Read(ctx)
		if err != nil {
			<-sc.Done()
			t.Fatalf("Read %d: %v (server: %v)", i, err, sc.Err())
		}
		if i%3 == 0 {
			if !m.Binary || !bytes.Equal(m.Data, []byte{byte(i), byte(i >> 8), 0xff}) {
				t.Fatalf("message %d: got %+v", i, m)
			}
		} else if m.Binary || string(m.Data) != fmt.Sprintf("m%d", i) {
			t.Fatalf("message %d: got %+v", i, m)
		}
		if (i+1)%per == 0 {
			batchRead <- struct{}{}
		}
	}
	if c.Err() != nil || sc.Err() != nil {
		t.Fatalf("unexpected end: %v / %v", c.Err(), sc.Err())
	}
	c.mu.Lock()
	lastPing := c.lastPing
	c.mu.Unlock()
	if !lastPing.After(firstPing) {
		t.Fatal("no ping was seen by Read")
	}
}

func TestReadAnswersPingsWhileWaiting(t *testing.T) {
	_, hs, conns := testServer(t, ServerOptions{PingInterval: 20 * time.Millisecond, PingTimeout: 250 * time.Millisecond})
	c := dialT(t, hs.URL, DialOptions{})
	sc := recvConn(t, conns)
	read := make(chan error, 1)
	go func() {
		_, err := c.Read(context.Background())
		read <- err
	}()
	// About twenty ping rounds while Read waits for a message.
	select {
	case <-sc.Done():
		t.Fatalf("server ended the connection: %v", sc.Err())
	case err := <-read:
		t.Fatalf("Read returned: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	_ = c.Close()
	if err := <-read; !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
}

func TestReadPingTimeoutWithBlockedConsumer(t *testing.T) {
	s, hs, conns := testServer(t, ServerOptions{PingInterval: 50 * time.Millisecond, PingTimeout: 50 * time.Millisecond})
	c := dialT(t, hs.URL, DialOptions{})
	recvConn(t, conns)
	s.PauseHeartbeats()
	// Nobody calls Read: the consumer is busy elsewhere. The dead-link
	// timer must still end the connection.
	waitDone(t, c.Done(), 100*time.Millisecond+time.Second, "client")
	if c.Reason() != ReasonPingTimeout {
		t.Fatalf("reason %q, err %v", c.Reason(), c.Err())
	}
	if _, err := c.Read(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after end: %v", err)
	}
	if err := c.Send(context.Background(), TextMessage("x")); !errors.Is(err, ErrNotSent) {
		t.Fatalf("Send after end: %v", err)
	}
}

func TestReadPingTimeoutEndsPendingRead(t *testing.T) {
	s, hs, conns := testServer(t, ServerOptions{PingInterval: 50 * time.Millisecond, PingTimeout: 50 * time.Millisecond})
	c := dialT(t, hs.URL, DialOptions{})
	recvConn(t, conns)
	s.PauseHeartbeats()
	read := make(chan error, 1)
	go func() {
		_, err := c.Read(context.Background())
		read <- err
	}()
	select {
	case err := <-read:
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Reason != ReasonPingTimeout {
			t.Fatalf("Read: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("pending Read not ended by the ping timeout")
	}
	waitDone(t, c.Done(), time.Second, "client")
}

func TestReadCloseUnblocksRead(t *testing.T) {
	_, hs, conns := testServer(t, ServerOptions{})
	c := dialT(t, hs.URL, DialOptions{})
	sc := recvConn(t, conns)
	read := make(chan error, 1)
	go func() {
		_, err := c.Read(context.Background())
		read <- err
	}()
	time.Sleep(20 * time.Millisecond) // let Read block on the network
	if err := c.Queue(TextMessage("last words")); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		_ = c.Close()
		close(closed)
	}()
	select {
	case err := <-read:
		if !errors.Is(err, ErrClosed) || c.Reason() != ReasonForcedClose {
			t.Fatalf("Read: %v (reason %q)", err, c.Reason())
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
	waitDone(t, closed, 3*time.Second, "Close")
	waitDone(t, c.Done(), time.Second, "client")
	m, err := sc.Read(ctxT(t, 2*time.Second))
	if err != nil || string(m.Data) != "last words" {
		t.Fatalf("queued message lost: %q, %v", m.Data, err)
	}
	waitDone(t, sc.Done(), 2*time.Second, "server conn")
	if sc.Reason() != ReasonTransportClose {
		t.Fatalf("server reason %q", sc.Reason())
	}
}

func TestReadServerClose(t *testing.T) {
	s, hs, conns := testServer(t, ServerOptions{})
	c := dialT(t, hs.URL, DialOptions{})
	sc := recvConn(t, conns)
	for _, m := range []string{"one", "two"} {
		if err := sc.Send(TextMessage(m)); err != nil {
			t.Fatal(err)
		}
	}
	// The server's close handshake waits for the client to read its close
	// frame, which a direct client does only in Read.
	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	ctx := context.Background()
	for _, want := range []string{"one", "two"} {
		m, err := c.Read(ctx)
		if err != nil || string(m.Data) != want {
			t.Fatalf("message before close: %q %v", m.Data, err)
		}
	}
	if _, err := c.Read(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after close: %v", err)
	}
	if _, err := c.Read(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Read after close: %v", err)
	}
	waitDone(t, c.Done(), time.Second, "client")
	if c.Reason() != ReasonTransportClose {
		t.Fatalf("client reason %q", c.Reason())
	}
	waitDone(t, closed, time.Second, "server Close")
}

func TestReadContext(t *testing.T) {
	_, hs, conns := testServer(t, ServerOptions{})
	c := dialT(t, hs.URL, DialOptions{})
	recvConn(t, conns)
	// A ctx that has already ended is reported without touching anything.
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Read(ended); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read: %v", err)
	}
	if c.Err() != nil {
		t.Fatal("an ended ctx passed to Read ended the connection")
	}
	// One that ends while Read waits drops the connection.
	ctx, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := c.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read: %v", err)
	}
	waitDone(t, c.Done(), time.Second, "client")
	if c.Reason() != ReasonForcedClose || !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("reason %q, err %v", c.Reason(), c.Err())
	}
	if _, err := c.Read(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after the end: %v", err)
	}
}

func TestReadWithConcurrentSends(t *testing.T) {
	// Senders and the reader share nothing but the connection: an echo
	// server answers every message while pings go on.
	_, hs, conns := testServer(t, ServerOptions{PingInterval: 5 * time.Millisecond, PingTimeout: time.Second})
	c := dialT(t, hs.URL, DialOptions{})
	sc := recvConn(t, conns)
	go func() {
		for {
			m, err := sc.Read(context.Background())
			if err != nil {
				return
			}
			_ = sc.Send(m)
		}
	}()
	const senders, per = 4, 100
	ctx := ctxT(t, 10*time.Second)
	for range senders {
		go func() {
			for i := range per {
				if err := c.Send(ctx, TextMessage(fmt.Sprint(i))); err != nil {
					t.Errorf("Send: %v", err)
					return
				}
			}
		}()
	}
	for i := range senders * per {
		if _, err := c.Read(ctx); err != nil {
			t.Fatalf("Read %d: %v", i, err)
		}
	}
	_ = c.Close()
	waitDone(t, sc.Done(), 2*time.Second, "server conn")
}
