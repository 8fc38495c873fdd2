package messaging_test

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/internal/stacks"
)

// rootFrame starts a stack frame of a function of package messaging itself
// (not of its tests, "messaging-go_test.", nor of a subpackage,
// "messaging-go/").
var rootFrame = []byte("\ngithub.com/symbia-labs/messaging-go.")

// socketGoroutines counts the goroutines running code of package messaging
// (the dispatcher, the connector, the backfiller and what they start),
// the caller's own excepted. The connection's goroutines run in
// internal/socketio and internal/engineio and are not counted.
func socketGoroutines() int {
	buf := stacks.All()
	stacks := bytes.Split(buf, []byte("\n\n"))
	count := 0
	for _, st := range stacks[1:] { // the first is the caller's
		if bytes.Contains(st, rootFrame) {
			count++
		}
	}
	return count
}

// TestSocketIdleRunsNoGoroutineOfItsOwn: once idle, a connected socket
// keeps only its connection's goroutines; its dispatcher, connector and
// backfiller run while they have work, after messages, reconnections and
// backfills too.
func TestSocketIdleRunsNoGoroutineOfItsOwn(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	own0, g0 := socketGoroutines(), runtime.NumGoroutine()

	const n = 20
	sockets := make([]*messaging.Socket, n)
	got := make(chan *messaging.Message, 4*n)
	for i := range sockets {
		s := e.socket([]string{aliceTok, bobTok}[i%2])
		s.OnMessage(func(m *messaging.Message) { got <- m })
		require.NoError(t, s.Connect(ctx))
		// A joined conversation: rejoined after a reconnection, and
		// backfilled from where its cursor is.
		require.NoError(t, s.JoinConversation(ctx, e.conv))
		sockets[i] = s
	}
	send(t, sockets[0], e.conv, "before")
	for range n {
		recv(t, got)
	}

	states := make([]<-chan messaging.StateChange, n)
	for i, s := range sockets {
		states[i], _ = collect(s.OnStateChange)
	}
	e.srv.DropConnections()
	for i := range sockets {
		recvWhere(t, states[i], func(c messaging.StateChange) bool { return c.Current == messaging.StateConnected })
	}
	for _, s := range sockets {
		// The join's anchor, then the backfill after reconnecting.
		deadline := time.Now().Add(waitTimeout)
		for _, _, fetches := messaging.DeliveryCounters(s); fetches < 2; _, _, fetches = messaging.DeliveryCounters(s) {
			require.True(t, time.Now().Before(deadline), "no backfill after reconnecting")
			time.Sleep(time.Millisecond)
		}
	}
	send(t, sockets[1], e.conv, "after")
	for range n {
		recv(t, got)
	}

	// Idle now: only the connections' goroutines remain.
	deadline := time.Now().Add(waitTimeout)
	own := socketGoroutines()
	for own > own0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		own = socketGoroutines()
	}
	t.Logf("%.1f goroutines per idle connected socket, the in-memory service's included; %.1f of package messaging",
		float64(runtime.NumGoroutine()-g0)/n, float64(own-own0)/n)
	assert.LessOrEqual(t, own, own0, "goroutines of package messaging left running in %d idle sockets", n)
}
