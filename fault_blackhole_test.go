package messaging_test

// The black-hole fault suite: the SDK's connections (each socket's, and
// the REST requests of the Client and of the sockets' own catch-up) go
// through a loopback proxy that cuts them by FIN, RST, mid-frame cuts and
// black holes (a connection that stops forwarding without closing). After
// the last fault, every receiver must have every stored message, exactly
// once and in each sender's order, within a bound derived from the
// timeouts.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/internal/netfault"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// Timeouts of the suite. Every bound below is derived from them.
const (
	bhPingInterval = 100 * time.Millisecond // the server's heartbeat
	bhPingTimeout  = 200 * time.Millisecond
	bhDelay        = 20 * time.Millisecond  // reconnection delay, doubling
	bhDelayMax     = 200 * time.Millisecond //   up to this, +50 % jitter
	bhConnect      = time.Second            // WithConnectTimeout
	bhAck          = time.Second            // WithAckTimeout
	bhCall         = time.Second            // the senders' context per attempt
	bhPace         = 10 * time.Millisecond  // between a sender's messages
)

// bhCatchUp bounds the time from the last fault until every receiver has
// every message. A receiver whose connection was cut last:
//   - notices: at once after FIN, RST or a mid-frame cut; after a black
//     hole, when its heartbeat deadline passes (bhPingInterval +
//     bhPingTimeout after the last ping it saw): 300 ms;
//   - waits before reconnecting: at most bhDelayMax + 50 % jitter, 300 ms;
//   - connects: an attempt begun into a black hole before the last fault
//     fails after bhConnect (1 s), and one more delay (300 ms) follows;
//   - catches up from the history: a fetch that went into a black hole
//     ends after bhFetch (300 ms); the retry comes after the SDK's backfill
//     backoff (500 ms + 50 % jitter after one failure, 750 ms).
//
// Sum ≈ 2.95 s. The bound doubles it and adds 3 s of slack for a loaded CI
// machine (a couple more failed fetches in a row stay within it); the
// assertion waits on the condition, so only a failing run waits this long.
func bhCatchUp() time.Duration {
	d := bhPingInterval + bhPingTimeout + 2*(bhDelayMax*3/2) + bhConnect + bhFetch + bhRetry*3/2
	return 2*d + 3*time.Second
}

// bhFetch bounds each history request of a socket (WithBackfillTimeout);
// bhRetry is the SDK's first backfill retry delay (before jitter).
const (
	bhFetch = 300 * time.Millisecond
	bhRetry = 500 * time.Millisecond
)

// bhFaultKinds is the length of the injector's cycle of faults: three black
// holes, a FIN, an RST and a mid-frame cut.
const bhFaultKinds = 6

// bhRecorder records what one socket's OnMessage received, in order, and
// where among the deliveries its OnError reported failed catch-ups
// (*BackfillError).
type bhRecorder struct {
	mu    sync.Mutex
	ids   []string
	count map[string]int
	errAt []int // len(ids) when each *BackfillError arrived
}

func newBHRecorder(s *messaging.Socket) *bhRecorder {
	r := &bhRecorder{count: make(map[string]int)}
	s.OnMessage(func(m *messaging.Message) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.ids = append(r.ids, m.ID)
		r.count[m.ID]++
	})
	s.OnError(func(err error) {
		var be *messaging.BackfillError
		if errors.As(err, &be) {
			r.mu.Lock()
			r.errAt = append(r.errAt, len(r.ids))
			r.mu.Unlock()
		}
	})
	return r
}

// overtakings checks the order of one sender's messages (sent, in send
// order) as r received them, and returns the number delivered after a
// newer one. The SDK's guarantee: within a conversation, missed messages
// come before newer live ones whenever the history answers in time; when
// it does not (a catch-up failed, reported as a *BackfillError), liveness
// wins and the missed ones come later. So a receiver that had no failed
// catch-up must have every sender's messages in order. Caller holds r.mu.
func (r *bhRecorder) overtakings(t *testing.T, who string, sent []string) int {
	t.Helper()
	rank := make(map[string]int, len(sent))
	for i, id := range sent {
		rank[id] = i
	}
	n, highest := 0, -1
	for _, id := range r.ids {
		k, ok := rank[id]
		if !ok {
			continue
		}
		if k < highest {
			n++
		}
		highest = max(highest, k)
	}
	if n > 0 && len(r.errAt) == 0 {
		t.Fatalf("%s: %d messages delivered after newer ones, without a reported catch-up failure", who, n)
	}
	return n
}

// hasAll reports whether every id of want was received.
func (r *bhRecorder) hasAll(want []string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range want {
		if r.count[id] == 0 {
			return false
		}
	}
	return true
}

// bhHTTPClient is an HTTP client with a transport of its own, whose idle
// connections go at cleanup.
func bhHTTPClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// bhSocketLink tells a socket's connection from a REST one.
func bhSocketLink(l *netfault.Link) bool {
	return strings.Contains(l.FirstLine(), "/socket.io/")
}

// bhFetchLink tells a history request's connection.
func bhFetchLink(l *netfault.Link) bool {
	return strings.HasPrefix(l.FirstLine(), "GET ") && strings.Contains(l.FirstLine(), "/messages")
}

// bhHoleEveryOtherFetch black-holes every other history request through p
// once it was forwarded (its answer is lost), so that a receiver's fetches
// fail at most once in a row by a black hole.
func bhHoleEveryOtherFetch(p *netfault.Proxy, record func(netfault.Fault)) {
	var mu sync.Mutex
	hole := true
	p.OnRequest(func(l *netfault.Link) {
		if !bhFetchLink(l) {
			return
		}
		mu.Lock()
		h := hole
		hole = !hole
		mu.Unlock()
		if h {
			l.Cut(netfault.BlackHole)
			record(netfault.BlackHole)
		}
	})
}

func TestFaultBlackHoles(t *testing.T) {
	const receivers = 2
	sends := envInt(t, "MESSAGING_BLACKHOLE_SENDS", 40) // per sender
	srv := messagingtest.NewServer(messagingtest.WithHeartbeat(bhPingInterval, bhPingTimeout))
	t.Cleanup(srv.Close)
	// One proxy per receiver and one for both senders: each receiver's
	// history requests are told apart.
	proxies := make([]*netfault.Proxy, 1+receivers)
	for i := range proxies {
		p, err := netfault.NewProxy(srv.Addr())
		require.NoError(t, err)
		t.Cleanup(p.Close)
		proxies[i] = p
	}
	sendProxy, recvProxies := proxies[0], proxies[1:]
	via := func(p *netfault.Proxy) string { return "http://" + p.Addr() }
	allLinks := func() []*netfault.Link {
		var out []*netfault.Link
		for _, p := range proxies {
			out = append(out, p.Links()...)
		}
		return out
	}

	e := &env{t: t, srv: srv}
	tokens := []string{"bh-sender", "bh-rest-sender", "bh-receiver-0", "bh-receiver-1"}
	ids := make([]string, len(tokens))
	for i, tok := range tokens {
		ids[i] = uuid.NewString()
		srv.AddUser(tok, messagingtest.Principal{ID: ids[i]})
	}
	conv := e.group(tokens[0], ids[1:]...)

	newSocket := func(token string, p *netfault.Proxy) *messaging.Socket {
		s, err := messaging.NewSocket(
			messaging.WithEndpoint(via(p)),
			messaging.WithHTTPClient(bhHTTPClient(t)),
			messaging.WithToken(token),
			messaging.WithReconnectionDelay(bhDelay),
			messaging.WithReconnectionDelayMax(bhDelayMax),
			messaging.WithReconnectionAttempts(0),
			messaging.WithConnectTimeout(bhConnect),
			messaging.WithAckTimeout(bhAck),
			messaging.WithBackfillTimeout(bhFetch),
		)
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}

	recorders := make([]*bhRecorder, receivers)
	for r := range receivers {
		s := newSocket(tokens[2+r], recvProxies[r])
		recorders[r] = newBHRecorder(s)
		require.NoError(t, s.Connect(testCtx(t)))
		require.NoError(t, s.JoinConversation(testCtx(t), conv))
	}
	sender := newSocket(tokens[0], sendProxy)
	require.NoError(t, sender.Connect(testCtx(t)))
	restSender, err := messaging.NewClient(messaging.WithEndpoint(via(sendProxy)), messaging.WithToken(tokens[1]),
		messaging.WithHTTPClient(bhHTTPClient(t)))
	require.NoError(t, err)

	// Faults: every 50–150 ms a random connection is cut, by black holes
	// half the time. The sockets' own history requests get clean cuts from
	// the injector, and every other one is black-holed once forwarded.
	faults := map[netfault.Fault]int{}
	var faultsMu sync.Mutex
	record := func(f netfault.Fault) {
		faultsMu.Lock()
		faults[f]++
		faultsMu.Unlock()
	}
	for _, p := range recvProxies {
		bhHoleEveryOtherFetch(p, record)
	}
	var injected atomic.Int64 // faults injected while sending
	stop := make(chan struct{})
	injectorDone := make(chan struct{})
	go func() {
		kinds := []netfault.Fault{netfault.BlackHole, netfault.FIN, netfault.BlackHole, netfault.RST, netfault.BlackHole, netfault.MidFrame}
		for n := 0; ; {
			select {
			case <-stop:
				close(injectorDone)
				return
			case <-time.After(50*time.Millisecond + rand.N(100*time.Millisecond)):
			}
			f := kinds[n%len(kinds)]
			links := slices.DeleteFunc(allLinks(), func(l *netfault.Link) bool {
				return l.Fault() != 0 || f == netfault.BlackHole && bhFetchLink(l)
			})
			if len(links) == 0 {
				continue
			}
			links[rand.N(len(links))].Cut(f)
			record(f)
			n++
			injected.Store(int64(n))
		}
	}()

	// Two senders, each in order, each message retried with its id until
	// it is acknowledged: the service stores an id once.
	sent := make([][]string, 3) // the two senders', then the last messages
	var wg sync.WaitGroup
	sendAll := func(k int, send func(context.Context, messaging.SendMessageParams) error) {
		defer wg.Done()
		// At least sends messages, and on until every kind of fault
		// happened twice among them.
		for i := 0; i < sends || injected.Load() < 2*bhFaultKinds; i++ {
			p := messaging.SendMessageParams{ConversationID: conv, ID: uuid.NewString(), Content: fmt.Sprintf("s%d-%d", k, i)}
			for attempt := 0; ; attempt++ {
				ctx, cancel := context.WithTimeout(context.Background(), bhCall)
				err := send(ctx, p)
				cancel()
				if err == nil {
					break
				}
				if attempt == 50 {
					t.Errorf("sender %d: message %d not acknowledged after %d attempts: %v", k, i, attempt, err)
					return
				}
			}
			sent[k] = append(sent[k], p.ID)
			time.Sleep(bhPace) // so that faults fall among the sends
		}
	}
	start := time.Now()
	wg.Add(2)
	go sendAll(0, func(ctx context.Context, p messaging.SendMessageParams) error {
		_, err := sender.SendMessage(ctx, p)
		return err
	})
	go sendAll(1, func(ctx context.Context, p messaging.SendMessageParams) error {
		_, err := restSender.SendMessage(ctx, p)
		return err
	})
	wg.Wait()
	sendTime := time.Since(start)
	close(stop)
	<-injectorDone
	require.False(t, t.Failed())

	// The last fault, the worst: every socket connection goes into a black
	// hole at once, and messages are stored meanwhile (by a client that
	// does not go through the proxies). The receivers get them only after
	// noticing, reconnecting and catching up, and the first history
	// request of each goes into a black hole too.
	for _, p := range recvProxies {
		bhHoleEveryOtherFetch(p, record)
	}
	for _, l := range allLinks() {
		if bhSocketLink(l) && l.Fault() == 0 {
			l.Cut(netfault.BlackHole)
			record(netfault.BlackHole)
		}
	}
	lastFault := time.Now() // the fetch holes to come are bounded separately: bhFetch
	direct := e.client(tokens[0])
	for i := range 5 {
		m, err := direct.SendMessage(testCtx(t), messaging.SendMessageParams{ConversationID: conv, Content: fmt.Sprint("after the last fault ", i)})
		require.NoError(t, err)
		sent[2] = append(sent[2], m.ID)
	}

	// What the service stored: each message once.
	want := append(append(append([]string(nil), sent[0]...), sent[1]...), sent[2]...)
	stored := storedIDs(t, direct, conv)
	require.Len(t, stored, len(want), "one row per message")
	for _, id := range want {
		require.True(t, stored[id])
	}

	// After the last fault, every receiver catches up within the bound.
	bound := bhCatchUp()
	for r, rec := range recorders {
		deadline := lastFault.Add(bound)
		for !rec.hasAll(want) {
			if time.Now().After(deadline) {
				rec.mu.Lock()
				n := len(rec.count)
				rec.mu.Unlock()
				t.Fatalf("receiver %d has %d of %d messages %v after the last fault (bound %v)",
					r, n, len(want), time.Since(lastFault).Round(time.Millisecond), bound)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	caughtUp := time.Since(lastFault)

	// A barrier message flushes any repeat still on its way.
	barrier := messaging.SendMessageParams{ConversationID: conv, ID: uuid.NewString(), Content: "barrier"}
	_, err = direct.SendMessage(testCtx(t), barrier)
	require.NoError(t, err)
	late, backfillErrors := 0, 0
	for r, rec := range recorders {
		require.Eventually(t, func() bool { return rec.hasAll([]string{barrier.ID}) }, bound, 5*time.Millisecond, "receiver %d", r)
		rec.mu.Lock()
		require.Len(t, rec.count, len(want)+1, "receiver %d: distinct messages", r)
		require.Len(t, rec.ids, len(want)+1, "receiver %d: each message exactly once", r)
		for k := range sent {
			late += rec.overtakings(t, fmt.Sprintf("receiver %d, sender %d", r, k), sent[k])
		}
		backfillErrors += len(rec.errAt)
		rec.mu.Unlock()
	}
	faultsMu.Lock()
	defer faultsMu.Unlock()
	t.Logf("black-hole suite: 2 senders × ≥%d messages (%d stored) in %v; faults %v; every receiver caught up %v after the last fault (bound %v); %d catch-up failures reported, %d messages delivered after newer ones",
		sends, len(want), sendTime.Round(time.Millisecond), faults, caughtUp.Round(time.Millisecond), bound, backfillErrors, late)
	for _, f := range []netfault.Fault{netfault.FIN, netfault.RST, netfault.MidFrame} {
		require.Positive(t, faults[f], "no %v while sending", f)
	}
}

func TestFaultCloseOnABlackHoledSocket(t *testing.T) {
	// The server's heartbeat is slow, so the black hole is not noticed
	// before Close: Close alone must not wait for the server's answer.
	srv := messagingtest.NewServer(messagingtest.WithHeartbeat(time.Minute, time.Minute))
	t.Cleanup(srv.Close)
	srv.AddUser(aliceTok, messagingtest.Principal{ID: aliceID})
	p, err := netfault.NewProxy(srv.Addr())
	require.NoError(t, err)
	t.Cleanup(p.Close)
	s, err := messaging.NewSocket(messaging.WithEndpoint("http://"+p.Addr()), messaging.WithToken(aliceTok),
		messaging.WithHTTPClient(bhHTTPClient(t)))
	require.NoError(t, err)
	require.NoError(t, s.Connect(testCtx(t)))
	require.Positive(t, p.CutAll(netfault.BlackHole))

	closed := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(closed)
		_ = s.Close()
	}()
	select {
	case <-closed:
		t.Logf("Close on a black-holed socket returned after %v", time.Since(start).Round(time.Millisecond))
	case <-time.After(3 * time.Second): // about 1 s expected; generous
		t.Fatal("Close on a black-holed socket has not returned after 3 s")
	}
}
