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
//     bhPingTimeout after the last ping it saw);
//   - waits before reconnecting: at most bhDelayMax × 1.5 (jitter);
//   - connects: an attempt begun into a black hole before the last fault
//     fails after bhConnect, and one more delay follows;
//   - catches up from the history: one fetch; a fetch that went into a
//     black hole before the last fault ends after the fetch bound
//     (bhFetch, when it is on), and a retry follows after a delay.
//
// Sum: 300 ms + 2 × 300 ms + 1 s (+ 2 × bhFetch) ≈ 2 s (4 s); the bound
// doubles it and adds 3 s of slack for a loaded CI machine, since the
// assertion waits on the condition and only a failing run waits this long.
func bhCatchUp() time.Duration {
	d := bhPingInterval + bhPingTimeout + 2*(bhDelayMax*3/2) + bhConnect
	if fetchBlackHoles {
		d += 2 * bhFetch
	}
	return 2*d + 3*time.Second
}

// fetchBlackHoles turns on black holes for the REST requests the sockets
// make for themselves (the catch-up's history pages). It needs the fetch
// bound of the delivery work (a backfill fetch timeout, live events released
// after it); without it a black-holed fetch holds its conversation forever.
const fetchBlackHoles = false

// bhFetch is the fetch bound the sockets are given when fetchBlackHoles is
// on.
const bhFetch = 500 * time.Millisecond

// faultKinds is the length of the injector's cycle of faults: three black
// holes, a FIN, an RST and a mid-frame cut.
const faultKinds = 6

// bhRecorder records what one socket's OnMessage received, in order.
type bhRecorder struct {
	mu    sync.Mutex
	ids   []string
	count map[string]int
}

func newBHRecorder(s *messaging.Socket) *bhRecorder {
	r := &bhRecorder{count: make(map[string]int)}
	s.OnMessage(func(m *messaging.Message) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.ids = append(r.ids, m.ID)
		r.count[m.ID]++
	})
	return r
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

// ownTransport is an HTTP client with a transport of its own, whose idle
// connections go at cleanup.
func ownTransport(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// isSocketLink tells a socket's connection from a REST one.
func isSocketLink(l *netfault.Link) bool {
	return strings.Contains(l.FirstLine(), "/socket.io/")
}

// isSendLink tells the REST sender's connections (it only posts; the
// sockets' history fetches only get).
func isSendLink(l *netfault.Link) bool {
	return strings.HasPrefix(l.FirstLine(), "POST ")
}

func TestFaultBlackHoles(t *testing.T) {
	const receivers = 2
	sends := envInt(t, "MESSAGING_BLACKHOLE_SENDS", 40) // per sender
	srv := messagingtest.NewServer(messagingtest.WithHeartbeat(bhPingInterval, bhPingTimeout))
	t.Cleanup(srv.Close)
	proxy, err := netfault.NewProxy(srv.Addr())
	require.NoError(t, err)
	t.Cleanup(proxy.Close)
	viaProxy := "http://" + proxy.Addr()

	e := &env{t: t, srv: srv}
	tokens := []string{"bh-sender", "bh-rest-sender", "bh-receiver-0", "bh-receiver-1"}
	ids := make([]string, len(tokens))
	for i, tok := range tokens {
		ids[i] = uuid.NewString()
		srv.AddUser(tok, messagingtest.Principal{ID: ids[i]})
	}
	conv := e.group(tokens[0], ids[1:]...)

	socketOpts := func(token string) []messaging.SocketOption {
		opts := []messaging.SocketOption{
			messaging.WithEndpoint(viaProxy),
			messaging.WithHTTPClient(ownTransport(t)),
			messaging.WithToken(token),
			messaging.WithReconnectionDelay(bhDelay),
			messaging.WithReconnectionDelayMax(bhDelayMax),
			messaging.WithReconnectionAttempts(0),
			messaging.WithConnectTimeout(bhConnect),
			messaging.WithAckTimeout(bhAck),
		}
		return append(opts, fetchBoundOptions()...)
	}
	newSocket := func(token string) *messaging.Socket {
		s, err := messaging.NewSocket(socketOpts(token)...)
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}

	recorders := make([]*bhRecorder, receivers)
	for r := range receivers {
		s := newSocket(tokens[2+r])
		recorders[r] = newBHRecorder(s)
		require.NoError(t, s.Connect(testCtx(t)))
		require.NoError(t, s.JoinConversation(testCtx(t), conv))
	}
	sender := newSocket(tokens[0])
	require.NoError(t, sender.Connect(testCtx(t)))
	restSender, err := messaging.NewClient(messaging.WithEndpoint(viaProxy), messaging.WithToken(tokens[1]),
		messaging.WithHTTPClient(ownTransport(t)))
	require.NoError(t, err)

	// Faults: every 50–150 ms a random connection is cut, a black hole one
	// time in two. The sockets' own REST connections (history fetches) get
	// clean cuts, and black holes only when the catch-up's fetch is
	// bounded; each new history request may also be black-holed once
	// forwarded (its answer is lost).
	faults := map[netfault.Fault]int{}
	var faultsMu sync.Mutex
	record := func(f netfault.Fault) {
		faultsMu.Lock()
		faults[f]++
		faultsMu.Unlock()
	}
	if fetchBlackHoles {
		proxy.OnRequest(func(l *netfault.Link) {
			if strings.Contains(l.FirstLine(), "/messages?") && rand.N(3) == 0 {
				l.Cut(netfault.BlackHole)
				record(netfault.BlackHole)
			}
		})
	}
	var injected atomic.Int64 // faults injected while sending
	stop := make(chan struct{})
	injectorDone := make(chan struct{})
	go func() {
		kinds := []netfault.Fault{netfault.BlackHole, netfault.FIN, netfault.BlackHole, netfault.RST, netfault.BlackHole, netfault.MidFrame}
		for n := 0; ; {
			select {
			case <-stop:
				proxy.OnRequest(nil)
				close(injectorDone)
				return
			case <-time.After(50*time.Millisecond + rand.N(100*time.Millisecond)):
			}
			f := kinds[n%len(kinds)]
			links := slices.DeleteFunc(proxy.Links(), func(l *netfault.Link) bool {
				return l.Fault() != 0 || f == netfault.BlackHole && !isSocketLink(l) && !isSendLink(l) && !fetchBlackHoles
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
		for i := 0; i < sends || injected.Load() < 2*faultKinds; i++ {
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
	// does not go through the proxy). The receivers get them only after
	// noticing, reconnecting and catching up.
	for _, l := range proxy.Links() {
		if isSocketLink(l) && l.Fault() == 0 {
			l.Cut(netfault.BlackHole)
			record(netfault.BlackHole)
		}
	}
	lastFault := time.Now()
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
	for r, rec := range recorders {
		require.Eventually(t, func() bool { return rec.hasAll([]string{barrier.ID}) }, bound, 5*time.Millisecond, "receiver %d", r)
		rec.mu.Lock()
		require.Len(t, rec.count, len(want)+1, "receiver %d: distinct messages", r)
		require.Len(t, rec.ids, len(want)+1, "receiver %d: each message exactly once", r)
		for k := range sent {
			mine := make(map[string]bool, len(sent[k]))
			for _, id := range sent[k] {
				mine[id] = true
			}
			var seen []string
			for _, id := range rec.ids {
				if mine[id] {
					seen = append(seen, id)
				}
			}
			if i := firstDiff(sent[k], seen); i >= 0 {
				rec.mu.Unlock()
				t.Fatalf("receiver %d saw sender %d's messages out of order from position %d", r, k, i)
			}
		}
		rec.mu.Unlock()
	}
	faultsMu.Lock()
	defer faultsMu.Unlock()
	t.Logf("black-hole suite: 2 senders × ≥%d messages (%d stored) in %v; faults %v; every receiver caught up %v after the last fault (bound %v)",
		sends, len(want), sendTime.Round(time.Millisecond), faults, caughtUp.Round(time.Millisecond), bound)
	for _, f := range []netfault.Fault{netfault.FIN, netfault.RST, netfault.MidFrame} {
		require.Positive(t, faults[f], "no %v while sending", f)
	}
}

// fetchBoundOptions are the socket options bounding the catch-up's fetch
// (bhFetch), when the SDK has them.
func fetchBoundOptions() []messaging.SocketOption { return nil }
