package agent_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/agent"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// blackHole is a TCP proxy in front of the test service. Once armed, the
// first socket connection whose server-to-client bytes contain trigger
// becomes a black hole: from those bytes on, nothing more is forwarded in
// either direction, and the connection stays open. Later connections pass.
type blackHole struct {
	t       *testing.T
	ln      net.Listener
	target  string
	trigger []byte
	armed   atomic.Bool
	froze   atomic.Bool
	sockets atomic.Int32 // socket connections accepted

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newBlackHole(t *testing.T, target, trigger string) *blackHole {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &blackHole{t: t, ln: ln, target: target, trigger: []byte(trigger)}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(b.close)
	return b
}

func (b *blackHole) addr() string { return b.ln.Addr().String() }

func (b *blackHole) track(c net.Conn) {
	b.mu.Lock()
	b.conns = append(b.conns, c)
	b.mu.Unlock()
}

func (b *blackHole) close() {
	_ = b.ln.Close()
	b.mu.Lock()
	for _, c := range b.conns {
		_ = c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *blackHole) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", b.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		b.track(c)
		b.track(s)
		b.wg.Add(1)
		go b.serve(c, s)
	}
}

func (b *blackHole) serve(c, s net.Conn) {
	defer b.wg.Done()
	defer c.Close()
	defer s.Close()
	// The first bytes say whether it is the socket's connection.
	buf := make([]byte, 32<<10)
	n, err := c.Read(buf)
	if err != nil {
		return
	}
	socket := bytes.HasPrefix(buf[:n], []byte("GET /socket.io/"))
	if socket {
		b.sockets.Add(1)
	}
	if _, err := s.Write(buf[:n]); err != nil {
		return
	}
	var frozen atomic.Bool
	done := make(chan struct{})
	go func() { // client → server
		defer close(done)
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			if err != nil {
				_ = s.Close()
				return
			}
			if frozen.Load() {
				continue // swallowed
			}
			if _, err := s.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	var tail []byte
	for { // server → client
		n, err := s.Read(buf)
		if err != nil {
			_ = c.Close()
			break
		}
		if frozen.Load() {
			continue
		}
		window := append(tail, buf[:n]...)
		if socket && bytes.Contains(window, b.trigger) && b.armed.CompareAndSwap(true, false) {
			frozen.Store(true)
			b.froze.Store(true)
			continue
		}
		tail = append(tail[:0], window[max(0, len(window)-len(b.trigger)):]...)
		if _, err := c.Write(buf[:n]); err != nil {
			break
		}
	}
	<-done
}

// A claim holds across a reconnection of its holder: the connection goes
// dark as the service answers the claim (the acknowledgement never
// arrives); the socket finds the connection dead by its heartbeat,
// reconnects and sends the claim again with the same id; the service
// answers with the stored row, which carries this replica's id: the turn
// goes on, once.
func TestClaimHoldsAcrossAReconnect(t *testing.T) {
	e := newEnv(t, messagingtest.WithHeartbeat(100*time.Millisecond, 200*time.Millisecond))
	conv := e.conv(messaging.ConversationGroup)
	px := newBlackHole(t, e.srv.Addr(), `"agentClaim"`)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	client, err := messaging.NewClient(messaging.WithEndpoint("http://"+px.addr()), messaging.WithToken(agentTok), messaging.WithHTTPClient(hc))
	require.NoError(t, err)
	var calls atomic.Int32
	sv := e.serveAs(client, func(ctx context.Context, t *agent.Turn) error {
		calls.Add(1)
		return echo(ctx, t)
	}, agent.WithSocketOptions(messaging.WithHTTPClient(hc)))
	e.eventually("the agent's socket", func() bool { return px.sockets.Load() == 1 && e.srv.Stats().LiveConnections == 1 })
	px.armed.Store(true)

	q := e.ask(aliceTok, conv, "still there?")
	x := sv.next(t)
	require.NoError(t, x.err, "the claim held")
	assert.True(t, px.froze.Load(), "the claim's answer went into the black hole")
	assert.GreaterOrEqual(t, px.sockets.Load(), int32(2), "the agent reconnected")
	assert.Equal(t, 1, x.t.Attempt)
	assert.EqualValues(t, 1, calls.Load())
	rs := e.replies(q)
	require.Len(t, rs, 1)
	assert.Equal(t, "re: still there?", rs[0].Content)
	assert.Equal(t, x.t.ClaimID(), rs[0].ID)
	select {
	case x := <-sv.ends:
		t.Fatalf("a second turn for %q: %v", x.t.Question.Content, x.err)
	case <-time.After(200 * time.Millisecond):
	}
}
