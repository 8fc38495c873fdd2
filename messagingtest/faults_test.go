package messagingtest_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/symbia-labs/messaging-go/internal/backoff"
	"github.com/symbia-labs/messaging-go/internal/socketio"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// reconnecting makes a test client reconnect quickly, and counts its
// disconnections by reason.
func reconnecting(reasons chan<- string) func(*socketio.ClientOptions) {
	return func(o *socketio.ClientOptions) {
		o.Reconnection = true
		o.Backoff = backoff.Backoff{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond}
		o.OnDisconnect = func(reason string, _ error) { reasons <- reason }
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDropConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob)
	reasons := make(chan string, 10)
	a := e.dial(map[string]string{"token": "alice"}, reconnecting(reasons))
	b := e.dialAs("bob")
	require.Equal(t, 2, e.srv.Stats().LiveConnections)

	e.srv.DropConnections()
	assert.Equal(t, "transport close", <-reasons)
	waitFor(t, "reconnection", func() bool { return a.c.Connected() })
	waitFor(t, "the dropped sockets to be gone", func() bool { return e.srv.Stats().LiveConnections == 1 })
	assert.False(t, b.c.Connected(), "bob's client does not reconnect")
	st := e.srv.Stats()
	assert.EqualValues(t, 3, st.Connections)
	// The reconnected socket is back in its rooms; REST was not affected.
	e.send("alice", conv, "after the drop")
	assert.Contains(t, a.take("message:new"), "after the drop")
}

func TestDropConnectionsOf(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob)
	aliceDrops, bobDrops := make(chan string, 10), make(chan string, 10)
	a1 := e.dial(map[string]string{"token": "alice"}, reconnecting(aliceDrops))
	a2 := e.dial(map[string]string{"token": "alice"}, reconnecting(aliceDrops))
	b := e.dial(map[string]string{"token": "bob"}, reconnecting(bobDrops))

	e.srv.DropConnectionsOf(unknown) // no socket: nothing happens
	a1.sync()
	a2.sync()
	b.sync()
	assert.Empty(t, aliceDrops)
	assert.EqualValues(t, 3, e.srv.Stats().Connections)

	e.srv.DropConnectionsOf(alice)
	for range 2 {
		select {
		case r := <-aliceDrops:
			assert.Equal(t, "transport close", r)
		case <-time.After(5 * time.Second):
			t.Fatal("alice's sockets were not both dropped")
		}
	}
	waitFor(t, "alice's reconnections", func() bool { return a1.c.Connected() && a2.c.Connected() })
	waitFor(t, "the dropped sockets to be replaced", func() bool { return e.srv.Stats().LiveConnections == 3 })
	// Bob's socket was never touched: it sees alice go offline and keeps
	// its connection.
	b.take("participant:offline")
	b.sync()
	assert.Empty(t, bobDrops)
	assert.True(t, b.c.Connected())
	assert.EqualValues(t, 5, e.srv.Stats().Connections, "three sockets, then alice's two again")
	// The reconnected sockets are back in their rooms.
	e.send("bob", conv, "after the drop")
	assert.Contains(t, a1.take("message:new"), "after the drop")
	assert.Contains(t, a2.take("message:new"), "after the drop")
}

func TestCloseClientConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reasons := make(chan string, 10)
	e.dial(map[string]string{"token": "alice"}, reconnecting(reasons))
	assert.Equal(t, 200, e.do("GET", "/health", "", "").status)
	e.srv.CloseClientConnections()
	assert.Equal(t, "transport close", <-reasons)
	// The server still serves.
	assert.Equal(t, 200, e.do("GET", "/health", "", "").status)
}

func TestPauseHeartbeats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, messagingtest.WithHeartbeat(100*time.Millisecond, 200*time.Millisecond))
	reasons := make(chan string, 10)
	s := e.dial(map[string]string{"token": "alice"}, reconnecting(reasons), func(o *socketio.ClientOptions) {
		// Reconnect only after the test resumed the heartbeat: a connection
		// accepted while paused would time out too.
		o.Backoff = backoff.Backoff{Min: 300 * time.Millisecond, Max: 300 * time.Millisecond}
	})
	time.Sleep(400 * time.Millisecond) // several heartbeats pass
	require.True(t, s.c.Connected())
	e.srv.PauseHeartbeats()
	select {
	case r := <-reasons:
		assert.Equal(t, "ping timeout", r)
	case <-time.After(3 * time.Second):
		t.Fatal("the client did not notice the missing heartbeat")
	}
	e.srv.ResumeHeartbeats()
	waitFor(t, "reconnection", func() bool { return s.c.Connected() })
	time.Sleep(400 * time.Millisecond) // longer than the client's heartbeat deadline
	assert.True(t, s.c.Connected())
	select {
	case r := <-reasons:
		t.Fatalf("disconnected again after ResumeHeartbeats: %s", r)
	default:
	}
}

func TestFailNext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.srv.FailNext(2, http.StatusServiceUnavailable, 1500*time.Millisecond)
	for i := 0; i < 2; i++ {
		r := e.do("GET", "/api/conversations", "alice", "")
		e.expect(r, 503, `{"error":"Service Unavailable"}`)
		assert.Equal(t, "2", r.header.Get("Retry-After"))
	}
	e.expect(e.do("GET", "/api/conversations", "alice", ""), 200, `[]`)

	e.srv.FailNext(1, http.StatusTooManyRequests, 0)
	r := e.do("POST", "/api/conversations", "alice", `{"type":"group","name":"x"}`)
	e.expect(r, 429, `{"error":"Too Many Requests"}`)
	assert.Empty(t, r.header.Get("Retry-After"))
	assert.Empty(t, e.srv.Messages(""), "the failed request did nothing")
	var list []any
	e.do("GET", "/api/conversations", "alice", "").json(t, &list)
	assert.Empty(t, list)

	e.srv.FailNext(5, 500, 0)
	e.srv.FailNext(0, 0, 0) // cancels
	assert.Equal(t, 200, e.do("GET", "/health", "", "").status)
	assert.EqualValues(t, 6, e.srv.Stats().Requests)
	assert.Panics(t, func() { e.srv.FailNext(1, 42, 0) })
}

func TestSetLatency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice")
	a := e.dialAs("alice")
	e.srv.SetLatency(80 * time.Millisecond)
	start := time.Now()
	e.do("GET", "/health", "", "")
	assert.GreaterOrEqual(t, time.Since(start), 80*time.Millisecond)
	start = time.Now()
	a.ack("message:send", map[string]any{"conversationId": conv, "content": "slow"})
	assert.GreaterOrEqual(t, time.Since(start), 80*time.Millisecond)
	e.srv.SetLatency(0)
	start = time.Now()
	e.do("GET", "/health", "", "")
	assert.Less(t, time.Since(start), 80*time.Millisecond)
}

func TestCloseCutsLatencyShortAndEndsEverything(t *testing.T) {
	t.Parallel()
	srv := messagingtest.NewServer()
	srv.AddUser("alice", messagingtest.Principal{ID: alice})
	e := &env{t: t, srv: srv}
	reasons := make(chan string, 10)
	s := e.dial(map[string]string{"token": "alice"}, reconnecting(reasons))
	srv.SetLatency(time.Hour)
	done := make(chan int, 1)
	go func() {
		resp, err := http.Get(srv.URL() + "/health")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	waitFor(t, "the request to be in flight", func() bool { return srv.Stats().Requests == 1 })
	start := time.Now()
	srv.Close()
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.Equal(t, 200, <-done, "Close lets the request finish")
	assert.Equal(t, "transport close", <-reasons)
	assert.False(t, s.c.Connected())
	srv.Close() // idempotent
	assert.Panics(t, srv.Start)
	_, err := http.Get(srv.URL() + "/health")
	assert.Error(t, err)
}

func TestStopAndStartKeepStateAndPort(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob)
	url := e.srv.URL()
	reasons := make(chan string, 10)
	a := e.dial(map[string]string{"token": "alice"}, reconnecting(reasons))

	e.srv.Stop()
	assert.Equal(t, "transport close", <-reasons)
	_, err := http.Get(url + "/health")
	require.Error(t, err)
	e.srv.Stop() // no-op

	e.srv.Start()
	assert.Equal(t, url, e.srv.URL())
	waitFor(t, "reconnection", func() bool { return a.c.Connected() })
	// The store and credentials survived.
	assert.Equal(t, 200, e.do("GET", "/api/conversations/"+conv, "bob", "").status)
	e.send("bob", conv, "after restart")
	assert.Contains(t, a.take("message:new"), "after restart")
	assert.Panics(t, e.srv.Start, "already serving")
}

func TestUnstartedServerOnFixedPort(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	srv := messagingtest.NewUnstartedServer(messagingtest.WithAddr(addr))
	assert.Empty(t, srv.URL())
	srv.AddUser("alice", messagingtest.Principal{ID: alice})
	srv.Start()
	assert.Equal(t, "http://"+addr, srv.URL())
	e := &env{t: t, srv: srv}
	reasons := make(chan string, 10)
	s := e.dial(map[string]string{"token": "alice"}, reconnecting(reasons))
	srv.Close()
	assert.Equal(t, "transport close", <-reasons)

	// A new server on the same port: the client reconnects to it.
	srv2 := messagingtest.NewServer(messagingtest.WithAddr(addr))
	defer srv2.Close()
	srv2.AddUser("alice", messagingtest.Principal{ID: alice})
	waitFor(t, "reconnection to the new server", func() bool { return s.c.Connected() })
	assert.Equal(t, 1, srv2.Stats().LiveConnections)
}

func TestStatsCounters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob)
	a := e.dialAs("alice")
	e.dialAs("bob") // one broadcast: participant:online to alice's room
	a.take("participant:online")
	e.send("alice", conv, "x")                                                                     // message:new
	e.do("POST", "/api/conversations/"+conv+"/messages", "alice", `{"content":"y","runId":"bad"}`) // stores nothing
	a.emit("typing:start", conv)                                                                   // typing:started
	a.emit("presence:update", "busy")                                                              // presence:changed
	a.sync()
	st := e.srv.Stats()
	assert.Equal(t, 2, st.LiveConnections)
	assert.EqualValues(t, 2, st.Connections)
	assert.EqualValues(t, 1, st.MessagesStored)
	// Two participant:online (each connect is one broadcast, even to an
	// empty room), message:new, typing:started, presence:changed.
	assert.EqualValues(t, 5, st.EventsBroadcast)
	assert.EqualValues(t, 3, st.Requests)
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conv := e.group("alice", bob)
	var wg sync.WaitGroup
	var sent atomic.Int64
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := e.tryDial(map[string]string{"token": "bob"})
			if err != nil {
				t.Error(err)
				return
			}
			for j := 0; j < 10; j++ {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := s.c.EmitWithAck(ctx, "message:send", map[string]any{"conversationId": conv, "content": fmt.Sprint(j)})
				cancel()
				if err == nil {
					sent.Add(1)
				}
			}
		}()
	}
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				_ = e.srv.Stats()
				_ = e.srv.Messages(conv)
				e.srv.AddUser(fmt.Sprint("tok", j), messagingtest.Principal{ID: carol})
			}
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 40, sent.Load())
	ms := e.srv.Messages(conv)
	require.Len(t, ms, 40)
	for i, m := range ms {
		assert.EqualValues(t, i+1, m.Sequence)
	}
}

func TestOptionAndPrincipalValidation(t *testing.T) {
	t.Parallel()
	assert.Panics(t, func() { messagingtest.NewUnstartedServer(messagingtest.WithClock(nil)) })
	assert.Panics(t, func() { messagingtest.NewUnstartedServer(messagingtest.WithHeartbeat(0, time.Second)) })
	assert.Panics(t, func() { messagingtest.NewUnstartedServer(messagingtest.WithParticipantCacheTTL(-1)) })
	srv := messagingtest.NewUnstartedServer()
	assert.Panics(t, func() { srv.AddUser("", messagingtest.Principal{ID: alice}) })
	assert.Panics(t, func() { srv.AddUser("t", messagingtest.Principal{}) })
	assert.Panics(t, func() { srv.AddUser("t", messagingtest.Principal{ID: alice, Type: "robot"}) })
	assert.Panics(t, func() { srv.AddAPIKey("", messagingtest.Principal{ID: alice}) })
	srv.Close() // closing an unstarted server is fine
}
