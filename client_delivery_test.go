package messaging_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// answerEater is a loopback proxy that forwards requests to the service
// and swallows its answers: the service acts on every request, the client
// never hears back, and the connection stays open (a black hole on the way
// back).
type answerEater struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newAnswerEater(t *testing.T, target string) *answerEater {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &answerEater{ln: ln, target: target}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(up, c) }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(io.Discard, up) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestResendWithRecoveredIDStoresOnce: the service stores a message whose
// answer is lost; SendMessage reports a *DeliveryUnknownError carrying the
// id it made, and sending again with that id stores nothing more.
func TestResendWithRecoveredIDStoresOnce(t *testing.T) {
	t.Parallel()
	srv := messagingtest.NewServer()
	defer srv.Close()
	const token = "tok-resend"
	srv.AddUser(token, messagingtest.Principal{ID: "11111111-1111-4111-8111-111111111111"})

	direct, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken(token))
	require.NoError(t, err)
	defer direct.Close()
	ctx := context.Background()
	conv, err := direct.CreateConversation(ctx, messaging.CreateConversationParams{Type: messaging.ConversationPrivate})
	require.NoError(t, err)

	eater := newAnswerEater(t, srv.Addr())
	lossy, err := messaging.NewClient(messaging.WithEndpoint("http://"+eater.ln.Addr().String()), messaging.WithToken(token),
		messaging.WithRequestTimeout(time.Second),
		messaging.WithRetry(messaging.RetryPolicy{MaxRetries: 1, MinDelay: time.Millisecond}))
	require.NoError(t, err)
	defer lossy.Close()

	_, err = lossy.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv.ID, Content: "hello"})
	require.ErrorIs(t, err, messaging.ErrDeliveryUnknown)
	var du *messaging.DeliveryUnknownError
	require.ErrorAs(t, err, &du)
	require.NotEmpty(t, du.MessageID)
	waitUntil(t, "the lost sends to be processed", func() bool { return srv.Stats().MessagesStored >= 1 })

	m, err := direct.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv.ID, ID: du.MessageID, Content: "hello"})
	require.NoError(t, err)
	assert.Equal(t, du.MessageID, m.ID)
	rows := srv.Messages(conv.ID)
	require.Len(t, rows, 1, "the message is stored once")
	assert.Equal(t, du.MessageID, rows[0].ID)
	assert.Equal(t, int64(1), srv.Stats().MessagesStored)
}

// closeRecorder is a caller's transport that records CloseIdleConnections.
type closeRecorder struct {
	http.RoundTripper
	mu     sync.Mutex
	closes int
}

func (c *closeRecorder) CloseIdleConnections() {
	c.mu.Lock()
	c.closes++
	c.mu.Unlock()
}

// TestClientClose: Close releases the kept-alive connections of the SDK's
// own transport (the server sees them close), later calls fail with
// ErrClosed, and a caller's HTTP client is left alone.
func TestClientClose(t *testing.T) {
	t.Parallel()
	closed := make(chan struct{}, 10)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok","timestamp":"2026-11-21T22:45:50.000Z"}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	defer srv.Close()

	c, err := messaging.NewClient(messaging.WithEndpoint(srv.URL))
	require.NoError(t, err)
	_, err = c.Health(context.Background())
	require.NoError(t, err)
	require.Empty(t, closed, "kept alive")
	require.NoError(t, c.Close())
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close left the connection open")
	}
	_, err = c.Health(context.Background())
	require.ErrorIs(t, err, messaging.ErrClosed)
	require.NoError(t, c.Close(), "idempotent")

	rec := &closeRecorder{RoundTripper: srv.Client().Transport}
	c, err = messaging.NewClient(messaging.WithEndpoint(srv.URL), messaging.WithHTTPClient(&http.Client{Transport: rec}))
	require.NoError(t, err)
	_, err = c.Health(context.Background())
	require.NoError(t, err)
	require.NoError(t, c.Close())
	rec.mu.Lock()
	assert.Zero(t, rec.closes, "the caller's client is not closed")
	rec.mu.Unlock()
	_, err = c.Health(context.Background())
	require.True(t, errors.Is(err, messaging.ErrClosed))
}
