package messaging_test

// The fault suite: the socket loses nothing and duplicates nothing while
// the service drops connections, restarts, stops its heartbeat, rotates
// credentials or never answers. Counts are asserted exactly.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// envInt reads a positive integer from the environment, else def.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, name)
	require.Positive(t, n, name)
	return n
}

// inbox records what one socket's OnMessage received.
type inbox struct {
	mu    sync.Mutex
	ids   []string
	count map[string]int
	by    map[string]string // id → sender
}

func newInbox(s *messaging.Socket) *inbox {
	in := &inbox{count: make(map[string]int), by: make(map[string]string)}
	s.OnMessage(func(m *messaging.Message) {
		in.mu.Lock()
		defer in.mu.Unlock()
		in.ids = append(in.ids, m.ID)
		in.count[m.ID]++
		in.by[m.ID] = m.SenderID
	})
	return in
}

func (in *inbox) distinct() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.count)
}

func (in *inbox) has(id string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.count[id] > 0
}

// storedIDs lists the conversation's messages as the service stores them.
func storedIDs(t *testing.T, c *messaging.Client, conv string) map[string]bool {
	t.Helper()
	page, err := c.GetMessages(testCtx(t), conv, messaging.GetMessagesParams{After: time.UnixMilli(1), Limit: 1 << 20})
	require.NoError(t, err)
	ids := make(map[string]bool, len(page))
	for _, m := range page {
		require.False(t, ids[m.ID], "the history lists %s twice", m.ID)
		ids[m.ID] = true
	}
	return ids
}

// firstDiff is the first index where a and b differ, -1 if equal.
func firstDiff(a, b []string) int {
	for i := range max(len(a), len(b)) {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return -1
}

// window shows a few entries of s around i.
func window(s []string, i int) []string {
	return s[max(i-2, 0):min(i+3, len(s))]
}

// outcome is how one send ended.
type outcome struct {
	id      string
	err     error
	unknown bool
}

func TestFaultStorm(t *testing.T) {
	var (
		sends     = envInt(t, "MESSAGING_FAULT_SENDS", 2000)
		dropEvery = time.Duration(envInt(t, "MESSAGING_FAULT_DROP_MS", 200)) * time.Millisecond
	)
	const senders, receivers = 3, 2
	const impatientEvery = 25 // one send in 25 has a deadline of a few ms

	srv := messagingtest.NewServer()
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv}
	tokens := make([]string, senders+receivers)
	ids := make([]string, senders+receivers)
	for i := range tokens {
		tokens[i], ids[i] = fmt.Sprint("storm-token-", i), uuid.NewString()
		srv.AddUser(tokens[i], messagingtest.Principal{ID: ids[i]})
	}
	conv := e.group(tokens[0], ids[1:]...)

	// Receivers join, so that their backfill starts with the conversation.
	inboxes := make([]*inbox, receivers)
	rsocks := make([]*messaging.Socket, receivers)
	for r := range receivers {
		s := e.socket(tokens[senders+r])
		inboxes[r] = newInbox(s)
		require.NoError(t, s.Connect(testCtx(t)))
		require.NoError(t, s.JoinConversation(testCtx(t), conv))
		rsocks[r] = s
	}
	var reconnects sync.Map // socket index → *int
	count := func(i int, s *messaging.Socket) {
		n := new(int)
		var mu sync.Mutex
		reconnects.Store(i, func() int { mu.Lock(); defer mu.Unlock(); return *n })
		s.OnReconnect(func() { mu.Lock(); *n++; mu.Unlock() })
	}
	for r, s := range rsocks {
		count(senders+r, s)
	}
	ssocks := make([]*messaging.Socket, senders)
	for k := range senders {
		ssocks[k] = e.connect(tokens[k])
		count(k, ssocks[k])
	}

	start := time.Now()
	stop := make(chan struct{})
	dropperDone := make(chan int)
	go func() {
		drops := 0
		for {
			d := dropEvery/2 + rand.N(dropEvery) // 100–300 ms by default
			select {
			case <-stop:
				dropperDone <- drops
				return
			case <-time.After(d):
				srv.DropConnections()
				drops++
			}
		}
	}()

	outcomes := make([][]outcome, senders)
	acked := make([][]string, senders) // each sender's ids, in the order its acks returned
	var wg sync.WaitGroup
	for k := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range sends {
				p := messaging.SendMessageParams{ConversationID: conv, ID: uuid.NewString(), Content: fmt.Sprintf("s%d-%d", k, i)}
				timeout := time.Minute
				if i%impatientEvery == impatientEvery-1 {
					timeout = time.Duration(1+rand.N(20)) * time.Millisecond
				}
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				_, err := ssocks[k].SendMessage(ctx, p)
				cancel()
				outcomes[k] = append(outcomes[k], outcome{id: p.ID, err: err, unknown: errors.Is(err, messaging.ErrDeliveryUnknown)})
				if err == nil {
					acked[k] = append(acked[k], p.ID)
				}
			}
		}()
	}
	wg.Wait() // every send returned
	sendTime := time.Since(start)
	close(stop)
	drops := <-dropperDone

	// What the service stored.
	client := e.client(tokens[0])
	stored := storedIDs(t, client, conv)
	require.Equal(t, int64(len(stored)), srv.Stats().MessagesStored, "no row outside the conversation's history")
	var ok, unknownStored, unknownLost, notSent int
	for k := range senders {
		require.Len(t, outcomes[k], sends)
		for _, o := range outcomes[k] {
			switch {
			case o.err == nil:
				ok++
				require.True(t, stored[o.id], "an acknowledged send was not stored")
			case o.unknown:
				if stored[o.id] {
					unknownStored++
				} else {
					unknownLost++
				}
				require.ErrorIs(t, o.err, context.DeadlineExceeded)
			default:
				notSent++
				require.False(t, stored[o.id], "a send that failed without ErrDeliveryUnknown was stored: %v", o.err)
				require.ErrorIs(t, o.err, context.DeadlineExceeded, "only impatient sends fail")
			}
		}
	}
	require.Equal(t, len(stored), ok+unknownStored, "exactly one message per successful send, none per other")
	require.Equal(t, senders*sends, ok+unknownStored+unknownLost+notSent)

	// Every receiver sees every stored message once.
	for r, in := range inboxes {
		require.Eventually(t, func() bool { return in.distinct() >= len(stored) }, time.Minute, 10*time.Millisecond,
			"receiver %d has %d of %d messages", r, in.distinct(), len(stored))
	}
	// A last message, after everything settled, flushes any repeat still
	// on its way.
	last := messaging.SendMessageParams{ConversationID: conv, ID: uuid.NewString(), Content: "last"}
	_, err := ssocks[0].SendMessage(testCtx(t), last)
	require.NoError(t, err)
	stored[last.ID] = true
	totalTime := time.Since(start)

	var backfilled, duplicates, fetches int64
	for r, in := range inboxes {
		require.Eventually(t, func() bool { return in.has(last.ID) }, time.Minute, 10*time.Millisecond)
		in.mu.Lock()
		require.Equal(t, len(stored), len(in.count), "receiver %d: distinct messages", r)
		for id, n := range in.count {
			require.True(t, stored[id], "receiver %d got a message the service does not have", r)
			require.Equal(t, 1, n, "receiver %d got %s %d times", r, id, n)
		}
		require.Equal(t, len(stored), len(in.ids), "receiver %d: deliveries", r)
		for k := range senders {
			mine := make(map[string]bool, len(acked[k]))
			for _, id := range acked[k] {
				mine[id] = true
			}
			seen := slices.DeleteFunc(slices.Clone(in.ids), func(id string) bool { return !mine[id] })
			if i := firstDiff(acked[k], seen); i >= 0 {
				t.Fatalf("receiver %d saw sender %d's messages out of ack order from position %d: acked %s, saw %s",
					r, k, i, window(acked[k], i), window(seen, i))
			}
		}
		in.mu.Unlock()
		b, d, f := messaging.DeliveryCounters(rsocks[r])
		backfilled += b
		duplicates += d
		fetches += f
	}
	var reconnectCounts []int
	for i := range senders + receivers {
		f, _ := reconnects.Load(i)
		reconnectCounts = append(reconnectCounts, f.(func() int)())
	}
	t.Logf("fault storm: %d senders × %d sends, %d receivers; %d drops every ~%v; sending took %v, all delivered after %v",
		senders, sends, receivers, drops, dropEvery, sendTime.Round(time.Millisecond), totalTime.Round(time.Millisecond))
	t.Logf("fault storm: sends: %d acknowledged, %d failed with ErrDeliveryUnknown (%d of them stored), %d failed unsent (impatient sends); stored %d (with the final barrier message)",
		ok, unknownStored+unknownLost, unknownStored, notSent, len(stored))
	t.Logf("fault storm: receivers together: %d messages backfilled, %d live repeats dropped, %d history requests; reconnections per socket %v",
		backfilled, duplicates, fetches, reconnectCounts)
	require.Positive(t, drops)
}

func TestFaultServerRestart(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		e := newEnv(t)
		g := newGate()
		bob := e.socket(bobTok, g.source(bobTok))
		msgs, _ := collect(bob.OnMessage)
		states, _ := collect(bob.OnStateChange)
		reconnected, _ := signals(bob.OnReconnect)
		require.NoError(t, bob.Connect(testCtx(t)))
		require.NoError(t, bob.JoinConversation(testCtx(t), e.conv))
		addr := e.srv.Addr()

		g.hold()
		e.srv.Stop()
		recvWhere(t, states, func(c messaging.StateChange) bool { return c.Current == messaging.StateReconnecting })
		e.srv.Start()
		require.Equal(t, addr, e.srv.Addr())
		restSend(t, e.client(aliceTok), e.conv, "after restart")
		g.open()
		recv(t, reconnected)
		assert.Equal(t, "after restart", recv(t, msgs).Content)
		alice := e.connect(aliceTok)
		send(t, alice, e.conv, "live")
		assert.Equal(t, "live", recv(t, msgs).Content)
	})
	t.Run("sending", func(t *testing.T) {
		e := newEnv(t)
		const n = 200
		alice := e.connect(aliceTok)
		bob := e.socket(bobTok)
		in := newInbox(bob)
		require.NoError(t, bob.Connect(testCtx(t)))
		require.NoError(t, bob.JoinConversation(testCtx(t), e.conv))
		states, _ := collect(alice.OnStateChange)

		halfway := make(chan struct{})
		done := make(chan []string)
		go func() {
			var acked []string
			for i := range n {
				m, err := alice.SendMessage(context.Background(), messaging.SendMessageParams{ConversationID: e.conv, Content: fmt.Sprint(i)})
				if err != nil {
					t.Errorf("send %d: %v", i, err)
					break
				}
				acked = append(acked, m.ID)
				if i == n/2 {
					close(halfway)
				}
			}
			done <- acked
		}()
		recv(t, halfway)
		e.srv.Stop()
		recvWhere(t, states, func(c messaging.StateChange) bool { return c.Current == messaging.StateReconnecting })
		e.srv.Start()
		acked := recv(t, done)
		require.Len(t, acked, n)
		assert.Equal(t, int64(n), e.srv.Stats().MessagesStored, "each send stored once")
		require.Eventually(t, func() bool { return in.distinct() == n }, waitTimeout, 10*time.Millisecond)
		in.mu.Lock()
		defer in.mu.Unlock()
		assert.Equal(t, acked, in.ids, "bob saw each once, in order")
	})
}

func TestFaultHeartbeatStops(t *testing.T) {
	e := newEnv(t, messagingtest.WithHeartbeat(100*time.Millisecond, 200*time.Millisecond))
	g := newGate()
	bob := e.socket(bobTok, g.source(bobTok))
	msgs, _ := collect(bob.OnMessage)
	disconnects, _ := collect(bob.OnDisconnect)
	reconnected, _ := signals(bob.OnReconnect)
	require.NoError(t, bob.Connect(testCtx(t)))
	require.NoError(t, bob.JoinConversation(testCtx(t), e.conv))
	alice := e.client(aliceTok)

	// The server goes silent: bob notices by his own heartbeat timeout.
	g.hold()
	e.srv.PauseHeartbeats()
	assert.Equal(t, messaging.ReasonPingTimeout, recv(t, disconnects))
	restSend(t, alice, e.conv, numbered("while silent ", 5)...)
	e.srv.ResumeHeartbeats()
	g.open()
	recv(t, reconnected)
	restSend(t, alice, e.conv, "after")
	assert.Equal(t, append(numbered("while silent ", 5), "after"), contents(t, msgs, 6))
	restSend(t, alice, e.conv, "barrier")
	assert.Equal(t, "barrier", recv(t, msgs).Content)
	backfilled, _, _ := messaging.DeliveryCounters(bob)
	assert.Contains(t, []int64{5, 6}, backfilled, "the silent part came from the history")
}

func TestFaultTokenExpires(t *testing.T) {
	e := newEnv(t)
	g := newGate()
	var mu sync.Mutex
	current, calls := "bob-token-1", 0
	e.srv.AddUser(current, messagingtest.Principal{ID: bobID})
	bob := e.socket("", messaging.WithTokenSource(func(ctx context.Context) (string, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		g.mu.Lock()
		ch := g.ch
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		mu.Lock()
		defer mu.Unlock()
		return current, nil
	}))
	msgs, _ := collect(bob.OnMessage)
	errs, _ := collect(bob.OnError)
	require.NoError(t, bob.Connect(testCtx(t)))
	require.NoError(t, bob.JoinConversation(testCtx(t), e.conv))

	// The token expires; the source hands out a new one.
	outage(t, e, g, bob, func() {
		e.srv.RemoveCredential("bob-token-1")
		e.srv.AddUser("bob-token-2", messagingtest.Principal{ID: bobID})
		mu.Lock()
		current = "bob-token-2"
		mu.Unlock()
		restSend(t, e.client(aliceTok), e.conv, "while expired")
	})
	// The backfill read the history with the new token.
	assert.Equal(t, "while expired", recv(t, msgs).Content)
	restSend(t, e.client(aliceTok), e.conv, "barrier")
	assert.Equal(t, "barrier", recv(t, msgs).Content)
	empty(t, errs, "an error")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 2, calls, "the source is asked before every connection")
}

func TestFaultReconnectBudgetIsReportedOnce(t *testing.T) {
	e := newEnv(t)
	alice := e.socket(aliceTok, messaging.WithReconnectionAttempts(3))
	errs, _ := collect(alice.OnError)
	disconnects, _ := collect(alice.OnDisconnect)
	attempts, _ := collect(alice.OnReconnecting)
	states, _ := collect(alice.OnStateChange)
	require.NoError(t, alice.Connect(testCtx(t)))

	e.srv.Stop()
	recvWhere(t, states, func(c messaging.StateChange) bool { return c.Current == messaging.StateReconnecting })
	waiting := make(chan error, 1)
	go func() {
		_, err := alice.SendMessage(context.Background(), messaging.SendMessageParams{ConversationID: e.conv, Content: "x"})
		waiting <- err
	}()
	assert.Equal(t, messaging.ReasonTransportClose, recv(t, disconnects))
	assert.Equal(t, messaging.ReasonReconnectFailed, recv(t, disconnects))
	err := recv(t, errs)
	assert.ErrorIs(t, err, messaging.ErrReconnectFailed)
	sc := recvWhere(t, states, func(c messaging.StateChange) bool { return c.Current == messaging.StateDisconnected })
	assert.ErrorIs(t, sc.Err, messaging.ErrReconnectFailed)
	err = recv(t, waiting)
	assert.ErrorIs(t, err, messaging.ErrNotConnected, "the waiting send ends")
	assert.ErrorIs(t, err, messaging.ErrReconnectFailed)
	assert.Equal(t, []int{1, 2, 3}, []int{recv(t, attempts), recv(t, attempts), recv(t, attempts)})
	empty(t, errs, "reported more than once")

	e.srv.Start()
	require.NoError(t, alice.Connect(testCtx(t)), "Connect starts again")
	send(t, alice, e.conv, "back")
}

func TestFaultServerThatNeverAnswers(t *testing.T) {
	// Accepts TCP connections and never writes a byte.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-accepted
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})

	s, err := messaging.NewSocket(messaging.WithEndpoint("http://"+ln.Addr().String()), messaging.WithToken(aliceTok),
		messaging.WithConnectTimeout(time.Minute), messaging.WithAckTimeout(time.Minute))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type call struct {
		name string
		fn   func(context.Context) error
	}
	calls := []call{
		{"SendMessage", func(ctx context.Context) error {
			_, err := s.SendMessage(ctx, messaging.SendMessageParams{ConversationID: wireConv, Content: "x"})
			return err
		}},
		{"EditMessage", func(ctx context.Context) error { _, err := s.EditMessage(ctx, wireConv, "x"); return err }},
		{"DeleteMessage", func(ctx context.Context) error { return s.DeleteMessage(ctx, wireConv) }},
		{"SendControl", func(ctx context.Context) error {
			_, err := s.SendControl(ctx, wireConv, messaging.ControlParams{Event: "pause"})
			return err
		}},
		{"JoinConversation", func(ctx context.Context) error { return s.JoinConversation(ctx, wireConv) }},
	}
	connected := make(chan error, 1)
	go func() { connected <- s.Connect(ctx) }()
	require.Eventually(t, func() bool { return s.State() == messaging.StateConnecting }, waitTimeout, time.Millisecond)
	results := make(chan error, len(calls))
	for _, c := range calls {
		go func() {
			cctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			results <- fmt.Errorf("%s: %w", c.name, c.fn(cctx))
		}()
	}
	for range calls {
		err := recv(t, results)
		assert.ErrorIs(t, err, context.DeadlineExceeded, err.Error())
		assert.NotErrorIs(t, err, messaging.ErrDeliveryUnknown, "nothing was sent")
	}
	assert.Equal(t, messaging.StateConnecting, s.State(), "still trying")
	cancel()
	err = recv(t, connected)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, messaging.StateDisconnected, s.State())
	begin := time.Now()
	require.NoError(t, s.Close())
	assert.Less(t, time.Since(begin), 5*time.Second)
}
