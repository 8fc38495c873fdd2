package messaging

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// blackHole is a loopback server that accepts connections and never
// answers: it reads each request whole (or, with stall, only its first
// bytes, then stops reading), and keeps the connection open without a
// word, as a NAT table or load balancer that lost the connection does.
type blackHole struct {
	ln    net.Listener
	stall bool

	mu    sync.Mutex
	conns []net.Conn
	reqs  [][]byte      // bodies read whole
	got   chan struct{} // a request read whole (or its first bytes, with stall)
}

func newBlackHole(t *testing.T, stall bool) *blackHole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &blackHole{ln: ln, stall: stall, got: make(chan struct{}, 100)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			go b.serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		b.mu.Lock()
		for _, c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
	})
	return b
}

func (b *blackHole) serve(c net.Conn) {
	if b.stall {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096)
		}
		buf := make([]byte, 1024)
		_, _ = io.ReadFull(c, buf)
		b.got <- struct{}{}
		return // never reads again; the connection stays open
	}
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(req.Body)
		b.mu.Lock()
		b.reqs = append(b.reqs, body)
		b.mu.Unlock()
		b.got <- struct{}{}
	}
}

// waitRequests waits until n more requests have reached the server.
func (b *blackHole) waitRequests(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-b.got:
		case <-time.After(20 * time.Second):
			t.Fatal("the request never reached the server")
		}
	}
}

func (b *blackHole) url() string { return "http://" + b.ln.Addr().String() }

func (b *blackHole) bodies() [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]byte(nil), b.reqs...)
}

// within runs f and fails the test if it has not returned after a bound
// far above the timeouts involved: without a request timeout, f would
// never return.
func within[T any](t *testing.T, f func() (T, error)) (T, error) {
	t.Helper()
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-time.After(30 * time.Second):
		t.Fatal("the call still hangs on a black-holed connection")
		panic("unreachable")
	}
}

// TestRequestTimeoutEndsBlackHoles: with a context that never ends, a
// request to a server that accepts and never answers fails after the
// request timeout, through the SDK's own transport, each attempt bounded.
func TestRequestTimeoutEndsBlackHoles(t *testing.T) {
	t.Parallel()
	bh := newBlackHole(t, false)
	c, err := NewClient(WithEndpoint(bh.url()), WithRequestTimeout(time.Second),
		WithRetry(RetryPolicy{MaxRetries: 1, MinDelay: time.Millisecond}))
	require.NoError(t, err)
	defer c.Close()

	_, err = within(t, func() (*Health, error) { return c.Health(context.Background()) })
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "request timeout of 1s")
	assert.NotErrorIs(t, err, ErrDeliveryUnknown) // a read, not a send
	bh.waitRequests(t, 1)                         // it was a black hole, not a refusal
}

// TestRequestTimeoutEndsStalledWrites: a server that stops reading in the
// middle of a request (the client's write blocks) cannot hold the call
// either; the request was never written whole, so the service cannot have
// stored it: a plain error, not ErrDeliveryUnknown.
func TestRequestTimeoutEndsStalledWrites(t *testing.T) {
	t.Parallel()
	bh := newBlackHole(t, true)
	// Small socket buffers, so that the kernel cannot take the whole body.
	dialer := &net.Dialer{Control: nil}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dialer.DialContext(ctx, network, addr)
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetWriteBuffer(4096)
		}
		return conn, err
	}}
	defer tr.CloseIdleConnections()
	c, err := NewClient(WithEndpoint(bh.url()), WithHTTPClient(&http.Client{Transport: tr}),
		WithRequestTimeout(300*time.Millisecond), WithRetry(RetryPolicy{MaxRetries: 0}))
	require.NoError(t, err)

	big := strings.Repeat("a", 11<<20)
	_, err = within(t, func() (*Message, error) {
		return c.SendMessage(context.Background(), SendMessageParams{ConversationID: convID, Content: big})
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ErrDeliveryUnknown, "a request never written whole cannot have been stored")
	var du *DeliveryUnknownError
	assert.False(t, errors.As(err, &du))
}

// TestDefaultRequestTimeout: the bound is on by default, for the Client
// and for the client the Socket fetches history with; 0 turns it off and a
// negative value is refused.
func TestDefaultRequestTimeout(t *testing.T) {
	t.Parallel()
	c, err := NewClient(WithEndpoint("http://messaging.test"))
	require.NoError(t, err)
	assert.Equal(t, DefaultRequestTimeout, c.timeout)
	s, err := NewSocket(WithEndpoint("http://messaging.test"))
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, DefaultRequestTimeout, s.rest.timeout)
	s2, err := c.NewSocket()
	require.NoError(t, err)
	defer s2.Close()
	assert.Equal(t, DefaultRequestTimeout, s2.rest.timeout)

	c, err = NewClient(WithEndpoint("http://messaging.test"), WithRequestTimeout(0))
	require.NoError(t, err)
	assert.Zero(t, c.timeout)
	c, err = NewClient(WithEndpoint("http://messaging.test"), WithRequestTimeout(time.Second))
	require.NoError(t, err)
	assert.Equal(t, time.Second, c.timeout)
	_, err = NewClient(WithRequestTimeout(-time.Second))
	requireValidation(t, err, "WithRequestTimeout")
}

// TestLostAnswerIsDeliveryUnknown: a send whose request was written whole
// but whose answer never came (timeout, cancelled context) is a
// *DeliveryUnknownError; SendMessage's carries the id it sent, the others
// say they have none.
func TestLostAnswerIsDeliveryUnknown(t *testing.T) {
	t.Parallel()
	bh := newBlackHole(t, false)
	el := &errorLog{}
	// Long enough for the request to be written even on a loaded machine:
	// a request still unwritten when the timeout ends is rightly no doubt.
	c, err := NewClient(WithEndpoint(bh.url()), WithRequestTimeout(time.Second),
		WithRetry(RetryPolicy{MaxRetries: 1, MinDelay: time.Millisecond}), WithErrorHandler(el.handle))
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()

	t.Run("SendMessage timeout", func(t *testing.T) {
		_, err := within(t, func() (*Message, error) {
			return c.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: "hello"})
		})
		require.ErrorIs(t, err, ErrDeliveryUnknown)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		var du *DeliveryUnknownError
		require.ErrorAs(t, err, &du)
		require.NoError(t, uuid.Validate(du.MessageID))
		assert.Contains(t, err.Error(), du.MessageID)
		assert.Contains(t, du.Op, "POST /api/conversations/"+convID+"/messages")
		// Every attempt that reached the server carried that id (on a
		// loaded machine the second one may time out before it is written).
		bh.waitRequests(t, 1)
		bodies := bh.bodies()
		require.NotEmpty(t, bodies)
		for _, b := range bodies {
			assert.Contains(t, string(b), `"id":"`+du.MessageID+`"`, "%v", err)
		}
	})
	t.Run("SendMessage with its own id, cancelled", func(t *testing.T) {
		for len(bh.got) > 0 {
			<-bh.got // earlier requests' signals
		}
		cctx, cancel := context.WithCancel(ctx)
		go func() {
			<-bh.got // the request arrived whole
			cancel()
		}()
		c2, err := NewClient(WithEndpoint(bh.url()), WithRequestTimeout(0))
		require.NoError(t, err)
		defer c2.Close()
		_, err = within(t, func() (*Message, error) {
			return c2.SendMessage(cctx, SendMessageParams{ConversationID: convID, ID: msgID, Content: "hello"})
		})
		require.ErrorIs(t, err, ErrDeliveryUnknown)
		require.ErrorIs(t, err, context.Canceled)
		var du *DeliveryUnknownError
		require.ErrorAs(t, err, &du)
		assert.Equal(t, msgID, du.MessageID)
	})
	for name, call := range map[string]func() error{
		"SendControl": func() error {
			_, err := c.SendControl(ctx, convID, ControlParams{Event: "pause"})
			return err
		},
		"CreateConversation": func() error {
			_, err := c.CreateConversation(ctx, CreateConversationParams{Type: ConversationPrivate})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := within(t, func() (struct{}, error) { return struct{}{}, call() })
			require.ErrorIs(t, err, ErrDeliveryUnknown)
			var du *DeliveryUnknownError
			require.ErrorAs(t, err, &du)
			assert.Empty(t, du.MessageID)
			assert.Contains(t, err.Error(), "no client id")
		})
	}
	// The error handler saw the same typed errors.
	for _, e := range el.get() {
		assert.ErrorIs(t, e, ErrDeliveryUnknown)
	}
}

// TestNotSentIsNotDeliveryUnknown: when nothing reached the service (the
// connection was refused, the context ended first) the error says nothing
// of a delivery: nothing was stored.
func TestNotSentIsNotDeliveryUnknown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close() // the port refuses connections now
	c, err := NewClient(WithEndpoint("http://"+addr), WithRetry(RetryPolicy{MaxRetries: 0}))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.SendMessage(context.Background(), SendMessageParams{ConversationID: convID, Content: "x"})
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrDeliveryUnknown)
	_, err = c.SendControl(context.Background(), convID, ControlParams{Event: "pause"})
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrDeliveryUnknown)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.CreateConversation(ctx, CreateConversationParams{Type: ConversationPrivate})
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrDeliveryUnknown)
}

// TestAnswerCutMidBodyIsDeliveryUnknown: the service answered 201 (it
// stored the event) but the connection broke in the middle of the answer.
func TestAnswerCutMidBodyIsDeliveryUnknown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"b4705320`)
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	_, err := h.c.SendControl(context.Background(), convID, ControlParams{Event: "pause"})
	require.ErrorIs(t, err, ErrDeliveryUnknown)
	assert.Equal(t, 1, h.srv.count(), "never retried")

	// A refusal is an answer: nothing stored, no doubt.
	h = newHarness(t, answer(http.StatusForbidden, `{"error":"Not a participant in this conversation"}`))
	_, err = h.c.SendControl(context.Background(), convID, ControlParams{Event: "pause"})
	require.ErrorIs(t, err, ErrForbidden)
	assert.NotErrorIs(t, err, ErrDeliveryUnknown)
}

// TestWithMessageID: the socket's errors gain the id the same way.
func TestWithMessageID(t *testing.T) {
	t.Parallel()
	plain := errors.New("boom")
	assert.Same(t, plain, withMessageID(plain, msgID))
	sock := deliveryUnknown(EventMessageSend, context.Canceled)
	err := withMessageID(sock, msgID)
	var du *DeliveryUnknownError
	require.ErrorAs(t, err, &du)
	assert.Equal(t, msgID, du.MessageID)
	require.ErrorIs(t, err, ErrDeliveryUnknown)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, strings.Count(err.Error(), "delivery unknown"), err.Error())
	assert.Contains(t, err.Error(), msgID)

	typed := &DeliveryUnknownError{Op: EventMessageSend, Err: context.Canceled}
	err = withMessageID(typed, msgID)
	require.ErrorAs(t, err, &du)
	assert.Equal(t, msgID, du.MessageID)
	assert.Empty(t, typed.MessageID, "the original is not changed")
}
