package messaging_test

// Tests of what the socket delivers across disconnections: history
// backfill, identity, order, and sends that wait for the connection.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
)

// gate holds a socket's reconnections: its token source waits while the
// gate is held. It starts open.
type gate struct {
	mu sync.Mutex
	ch chan struct{}
}

func newGate() *gate {
	g := &gate{ch: make(chan struct{})}
	close(g.ch)
	return g
}

func (g *gate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ch = make(chan struct{})
}

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.ch:
	default:
		close(g.ch)
	}
}

func (g *gate) source(token string) messaging.SocketOption {
	return messaging.WithTokenSource(func(ctx context.Context) (string, error) {
		g.mu.Lock()
		ch := g.ch
		g.mu.Unlock()
		select {
		case <-ch:
			return token, nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})
}

// contents drains n messages from ch and returns their contents.
func contents(t *testing.T, ch <-chan *messaging.Message, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	for range n {
		out = append(out, recv(t, ch).Content)
	}
	return out
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(prefix, i)
	}
	return out
}

func restSend(t *testing.T, c *messaging.Client, conv string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		_, err := c.SendMessage(testCtx(t), messaging.SendMessageParams{ConversationID: conv, Content: s})
		require.NoError(t, err)
	}
}

// outage takes the connections down and runs during while s cannot
// reconnect, then lets it reconnect and waits until it has.
func outage(t *testing.T, e *env, g *gate, s *messaging.Socket, during func()) {
	t.Helper()
	reconnected, off := signals(s.OnReconnect)
	defer off()
	states, offStates := collect(s.OnStateChange)
	defer offStates()
	g.hold()
	e.srv.DropConnections()
	recvWhere(t, states, func(c messaging.StateChange) bool { return c.Current == messaging.StateReconnecting })
	during()
	g.open()
	recv(t, reconnected)
}

func TestSocketBackfillDeliversWhatAnOutageMissed(t *testing.T) {
	e := newEnv(t)
	g := newGate()
	bob := e.socket(bobTok, g.source(bobTok))
	msgs, _ := collect(bob.OnMessage)
	require.NoError(t, bob.Connect(testCtx(t)))
	require.NoError(t, bob.JoinConversation(testCtx(t), e.conv))
	alice := e.client(aliceTok)
	restSend(t, alice, e.conv, "before")
	assert.Equal(t, "before", recv(t, msgs).Content)

	outage(t, e, g, bob, func() { restSend(t, alice, e.conv, numbered("missed ", 10)...) })
	restSend(t, alice, e.conv, "live")
	assert.Equal(t, append(numbered("missed ", 10), "live"), contents(t, msgs, 11),
		"the missed messages, oldest first, before the newer live one")
	restSend(t, alice, e.conv, "barrier")
	assert.Equal(t, "barrier", recv(t, msgs).Content, "nothing twice")
	// "live" comes through the history too if it was stored before the
	// fetch ran.
	backfilled, _, _ := messaging.DeliveryCounters(bob)
	assert.Contains(t, []int64{10, 11}, backfilled)
}

func TestSocketBackfillOfAConversationJoinedWhileEmpty(t *testing.T) {
	e := newEnv(t)
	conv := e.group(aliceTok, bobID)
	g := newGate()
	bob := e.socket(bobTok, g.source(bobTok))
	msgs, _ := collect(bob.OnMessage)
	require.NoError(t, bob.Connect(testCtx(t)))
	require.NoError(t, bob.JoinConversation(testCtx(t), conv)) // anchored at "no message yet"

	alice := e.client(aliceTok)
	outage(t, e, g, bob, func() { restSend(t, alice, conv, "first", "second") })
	assert.Equal(t, []string{"first", "second"}, contents(t, msgs, 2))
}

func TestSocketBackfillStartsAtTheFirstMessageSeen(t *testing.T) {
	e := newEnv(t)
	alice := e.client(aliceTok)
	restSend(t, alice, e.conv, "ancient") // before bob connects: never his
	g := newGate()
	bob := e.socket(bobTok, g.source(bobTok))
	msgs, _ := collect(bob.OnMessage)
	require.NoError(t, bob.Connect(testCtx(t))) // no JoinConversation: the service joined the room
	restSend(t, alice, e.conv, "first")
	assert.Equal(t, "first", recv(t, msgs).Content)

	outage(t, e, g, bob, func() { restSend(t, alice, e.conv, "missed") })
	restSend(t, alice, e.conv, "barrier")
	assert.Equal(t, []string{"missed", "barrier"}, contents(t, msgs, 2))
}

func TestSocketWithoutBackfillAnOutageIsLost(t *testing.T) {
	e := newEnv(t)
	g := newGate()
	bob := e.socket(bobTok, g.source(bobTok), messaging.WithBackfill(false))
	msgs, _ := collect(bob.OnMessage)
	require.NoError(t, bob.Connect(testCtx(t)))
	require.NoError(t, bob.JoinConversation(testCtx(t), e.conv))
	alice := e.client(aliceTok)
	outage(t, e, g, bob, func() { restSend(t, alice, e.conv, "missed") })
	restSend(t, alice, e.conv, "live")
	assert.Equal(t, "live", recv(t, msgs).Content)
	_, _, fetches := messaging.DeliveryCounters(bob)
	assert.Zero(t, fetches, "no history request at all")
}

func TestSocketSequenceGapFetchesTheHistory(t *testing.T) {
	e := newEnv(t)
	agent := e.connect(agentTok)
	bob := e.connect(bobTok)
	msgs, _ := collect(bob.OnMessage)
	require.NoError(t, bob.JoinConversation(testCtx(t), e.conv))
	send(t, agent, e.conv, "one")
	assert.Equal(t, "one", recv(t, msgs).Content)
	_, _, before := messaging.DeliveryCounters(bob)

	// A control event takes a sequence number but is no message:new, so
	// "two" arrives with a gap before it.
	_, err := agent.SendControl(testCtx(t), e.conv, messaging.ControlParams{Event: "pause"})
	require.NoError(t, err)
	send(t, agent, e.conv, "two")
	send(t, agent, e.conv, "three")
	assert.Equal(t, []string{"two", "three"}, contents(t, msgs, 2), "the control record is no message, and two comes once")
	_, _, after := messaging.DeliveryCounters(bob)
	assert.Equal(t, before+1, after, "one fetch for the gap")
}

func TestSocketSlowConsumerRecoversDroppedMessages(t *testing.T) {
	e := newEnv(t)
	bob := e.connect(bobTok, messaging.WithHandlerQueueSize(8))
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	all := make(chan struct{})
	const n = 100
	bob.OnMessage(func(m *messaging.Message) {
		if m.Content == "block" {
			<-release
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, m.Content)
		if len(got) == n+1 {
			close(all)
		}
	})
	errs, _ := collect(bob.OnError)
	alice := e.connect(aliceTok)
	send(t, alice, e.conv, "block")
	want := numbered("m", n)
	for _, c := range want {
		send(t, alice, e.conv, c)
	}
	require.Eventually(t, func() bool {
		queued, dropped := messaging.SocketQueue(bob)
		return int64(queued)+dropped == n
	}, waitTimeout, 5*time.Millisecond, "every message reached the socket")
	_, dropped := messaging.SocketQueue(bob)
	assert.Equal(t, int64(n-8), dropped)
	close(release)
	recv(t, all)

	assert.ErrorIs(t, recv(t, errs), messaging.ErrSlowConsumer)
	send(t, alice, e.conv, "barrier")
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == n+2 }, waitTimeout, 5*time.Millisecond)
	empty(t, errs, "reported more than once")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, append(append([]string{"block"}, want...), "barrier"), got, "every message once, in order")
}

func TestSocketFailedBackfillIsReportedAndRetried(t *testing.T) {
	e := newEnv(t)
	g := newGate()
	bob := e.socket(bobTok, g.source(bobTok))
	msgs, _ := collect(bob.OnMessage)
	errs, _ := collect(bob.OnError)
	require.NoError(t, bob.Connect(testCtx(t)))
	require.NoError(t, bob.JoinConversation(testCtx(t), e.conv))
	alice := e.client(aliceTok)
	restSend(t, alice, e.conv, "before")
	recv(t, msgs)

	outage(t, e, g, bob, func() {
		restSend(t, alice, e.conv, "missed 0", "missed 1")
		e.srv.FailNext(1, http.StatusInternalServerError, 0) // the backfill's request
	})
	err := recv(t, errs)
	var ae *messaging.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusInternalServerError, ae.StatusCode)
	assert.Contains(t, err.Error(), "history backfill")

	// The next reconnection tries again.
	reconnected, _ := signals(bob.OnReconnect)
	e.srv.DropConnections()
	recv(t, reconnected)
	assert.Equal(t, []string{"missed 0", "missed 1"}, contents(t, msgs, 2))
}

func TestSocketSendWaitsForTheReconnection(t *testing.T) {
	e := newEnv(t)
	g := newGate()
	alice := e.socket(aliceTok, g.source(aliceTok))
	require.NoError(t, alice.Connect(testCtx(t)))
	bob := e.connect(bobTok)
	msgs, _ := collect(bob.OnMessage)
	stored := e.srv.Stats().MessagesStored

	states, _ := collect(alice.OnStateChange)
	g.hold()
	e.srv.DropConnections()
	recvWhere(t, states, func(c messaging.StateChange) bool { return c.Current == messaging.StateReconnecting })

	// A call whose context ends while waiting was never sent.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := alice.SendMessage(ctx, messaging.SendMessageParams{ConversationID: e.conv, Content: "too late"})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, messaging.ErrDeliveryUnknown)
	assert.ErrorIs(t, alice.StartTyping(testCtx(t), e.conv), messaging.ErrNotConnected, "typing does not wait")

	done := make(chan error, 1)
	go func() {
		_, err := alice.SendMessage(testCtx(t), messaging.SendMessageParams{ConversationID: e.conv, Content: "waited"})
		done <- err
	}()
	g.open()
	require.NoError(t, recv(t, done))
	assert.Equal(t, "waited", recvWhere(t, msgs, func(m *messaging.Message) bool { return m.SenderID == aliceID }).Content)
	assert.Equal(t, stored+1, e.srv.Stats().MessagesStored, "the late one was not stored")
}

func TestSocketRefusedAtReconnectStops(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	token := aliceTok
	alice := e.socket(aliceTok, messaging.WithTokenSource(func(context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		return token, nil
	}))
	errs, _ := collect(alice.OnError)
	disconnects, _ := collect(alice.OnDisconnect)
	require.NoError(t, alice.Connect(testCtx(t)))

	mu.Lock()
	token = "revoked"
	mu.Unlock()
	e.srv.DropConnections()
	assert.Equal(t, messaging.ReasonTransportClose, recv(t, disconnects))
	var ce *messaging.ConnectError
	require.ErrorAs(t, recv(t, errs), &ce)
	assert.Equal(t, "Authentication required", ce.Message)
	assert.Equal(t, messaging.ReasonConnectRefused, recv(t, disconnects))
	assert.Equal(t, messaging.StateDisconnected, alice.State())
	_, err := alice.SendMessage(testCtx(t), messaging.SendMessageParams{ConversationID: e.conv, Content: "x"})
	assert.ErrorIs(t, err, messaging.ErrNotConnected)
	assert.ErrorAs(t, err, &ce, "the cause is kept")
	assert.False(t, errors.Is(err, messaging.ErrDeliveryUnknown))
}
