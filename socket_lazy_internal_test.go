package messaging

// The socket's goroutines run only while they have work (dispatcher,
// connector, backfiller). These tests hand them work at the moment they
// decide to stop, over and over: a lost wake-up leaves work behind, and
// the test times out waiting for it.

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/symbia-labs/messaging-go/internal/goid"
)

// jitter pauses for nothing, a yield or a few microseconds, so that work
// arrives at every point of a worker's life, its end included.
func jitter() {
	switch rand.IntN(4) {
	case 0:
	case 1:
		runtime.Gosched()
	default:
		time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
	}
}

// eventually polls cond until it holds or 10 s have passed.
func eventually(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf(format, args...)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitFor waits for ch, failing the test after a few seconds.
func waitFor[T any](t *testing.T, ch <-chan T, format string, args ...any) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf(format, args...)
		panic("unreachable")
	}
}

func TestDispatcherWorkArrivingAsItStops(t *testing.T) {
	u := newUnitSocket(t, false)
	u.queue.mu.Lock()
	u.queue.linger = 0 // stop as soon as the queue is empty: as many stops as possible
	u.queue.mu.Unlock()

	var (
		busy    atomic.Bool
		mu      sync.Mutex
		got     = make(map[int][]int) // producer → items in handling order
		runners = make(map[uint64]bool)
		handled = make(chan int, 100)
	)
	u.OnError(func(err error) {
		if !busy.CompareAndSwap(false, true) {
			t.Error("two handlers ran at once")
		}
		defer busy.Store(false)
		var p, i int
		_, serr := fmt.Sscanf(err.Error(), "%d %d", &p, &i)
		require.NoError(t, serr)
		mu.Lock()
		got[p] = append(got[p], i)
		runners[goid.Get()] = true
		mu.Unlock()
		handled <- p
	})
	push := func(p, i int) { u.queue.pushControl(item{kind: itemError, err: fmt.Errorf("%d %d", p, i)}) }

	// One item at a time: each one is queued as the dispatcher that
	// handled the one before is stopping, or has stopped, or is about to.
	// Nothing else would come to pick up an item left behind.
	const rounds = 2000
	for i := range rounds {
		push(0, i)
		waitFor(t, handled, "item %d never handled: queued as a dispatcher stopped, and left behind", i)
		jitter()
	}

	// Producers at once: handlers one at a time, each producer's items in
	// its order.
	const producers, per = 4, 300
	var wg sync.WaitGroup
	for p := 1; p <= producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				push(p, i)
				jitter()
			}
		}()
	}
	for i := range producers * per {
		waitFor(t, handled, "%d of %d items handled", i, producers*per)
	}
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	for p := range producers + 1 {
		want := per
		if p == 0 {
			want = rounds
		}
		require.Len(t, got[p], want)
		for i, v := range got[p] {
			require.Equal(t, i, v, "producer %d: out of order", p)
		}
	}
	assert.Greater(t, len(runners), rounds/10, "dispatchers started (the test did not make them stop)")
	t.Logf("%d items on %d dispatcher goroutines", rounds+producers*per, len(runners))
	eventually(t, func() bool {
		u.queue.mu.Lock()
		defer u.queue.mu.Unlock()
		return !u.queue.running
	}, "the dispatcher did not stop once idle")
}

func TestDispatcherLingersThenStops(t *testing.T) {
	u := newUnitSocket(t, false)
	got := make(chan uint64, 10)
	u.OnError(func(error) { got <- goid.Get() })
	running := func() bool {
		u.queue.mu.Lock()
		defer u.queue.mu.Unlock()
		return u.queue.running
	}
	u.queue.pushControl(item{kind: itemError, err: errBackfillStuck})
	first := <-got
	// Work well within the linger finds the same dispatcher.
	time.Sleep(dispatchLinger / 10)
	u.queue.pushControl(item{kind: itemError, err: errBackfillStuck})
	assert.Equal(t, first, <-got, "a new dispatcher started within dispatchLinger")
	eventually(t, func() bool { return !running() }, "the dispatcher did not stop")
	u.queue.pushControl(item{kind: itemError, err: errBackfillStuck})
	assert.NotEqual(t, first, <-got, "work after the dispatcher stopped must start another")
}

// TestDispatcherHandlerGoexit: a handler that ends its goroutine (as
// t.FailNow does) neither stops the later handlers nor makes Close wait
// forever.
func TestDispatcherHandlerGoexit(t *testing.T) {
	// Closed by the test itself, not at cleanup: a Close that hangs fails
	// the test instead of hanging it.
	u, err := NewSocket(WithEndpoint("http://127.0.0.1:1"))
	require.NoError(t, err)
	u.start()
	got := make(chan error, 2)
	u.OnError(func(err error) {
		if err == errBackfillStuck {
			runtime.Goexit()
		}
		got <- err
	})
	u.queue.pushControl(item{kind: itemError, err: errBackfillStuck})
	u.queue.pushControl(item{kind: itemError, err: ErrSlowConsumer})
	assert.Equal(t, ErrSlowConsumer, waitFor(t, got, "the handler after the one that called Goexit never ran"))
	u.queue.pushControl(item{kind: itemError, err: errBackfillStuck})
	closed := make(chan struct{})
	go func() {
		_ = u.Close()
		close(closed)
	}()
	waitFor(t, closed, "Close hung after a handler called Goexit")
}

// backfillStub serves an empty history and records the goroutines that
// fetch it.
type backfillStub struct {
	hc       *http.Client
	url      string
	mu       sync.Mutex
	fetchers map[uint64]int
	fetches  atomic.Int32
	served   chan struct{} // one per request served
}

type recordingTransport struct {
	next http.RoundTripper
	b    *backfillStub
}

func (rt recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.b.mu.Lock()
	rt.b.fetchers[goid.Get()]++ // RoundTrip runs on the caller's goroutine
	rt.b.mu.Unlock()
	return rt.next.RoundTrip(r)
}

func newBackfillStub(t *testing.T) *backfillStub {
	b := &backfillStub{fetchers: make(map[uint64]int), served: make(chan struct{}, 1<<12)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.fetches.Add(1)
		_, _ = w.Write([]byte("[]"))
		select {
		case b.served <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(srv.Close)
	b.url, b.hc = srv.URL, srv.Client()
	b.hc.Transport = recordingTransport{next: b.hc.Transport, b: b}
	return b
}

// socket returns a started socket of the stub (never connected).
func (b *backfillStub) socket(t *testing.T) *Socket {
	s, err := NewSocket(WithEndpoint(b.url), WithHTTPClient(b.hc))
	require.NoError(t, err)
	s.start()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestBackfillerWorkArrivingAsItStops(t *testing.T) {
	b := newBackfillStub(t)
	s := b.socket(t)
	// A conversation the dispatcher does not know: each page is handed
	// over and dropped.
	push := func() { s.backfiller.push(fetchReq{c: &convState{id: unitConv}, from: unitT0}) }

	// One request at a time, each pushed around the moment the
	// backfiller that fetched the one before stops.
	const rounds = 500
	for i := range rounds {
		push()
		waitFor(t, b.served, "request %d never fetched: queued as the backfiller stopped, and left behind", i)
		// The backfiller still reads the answer and hands the page over.
		time.Sleep(time.Duration(rand.IntN(400)) * time.Microsecond)
	}
	// And from two goroutines at once.
	const producers, per = 2, 100
	var wg sync.WaitGroup
	for range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				push()
				time.Sleep(time.Duration(rand.IntN(1500)) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	for range producers * per {
		waitFor(t, b.served, "fetched %d of %d", b.fetches.Load(), rounds+producers*per)
	}
	eventually(t, func() bool { return b.fetches.Load() == rounds+producers*per },
		"fetched %d of %d", b.fetches.Load(), rounds+producers*per)
	eventually(t, func() bool {
		s.backfiller.mu.Lock()
		defer s.backfiller.mu.Unlock()
		return !s.backfiller.worker.RunningLocked() && len(s.backfiller.reqs) == 0
	}, "the backfiller did not stop once idle")
	b.mu.Lock()
	defer b.mu.Unlock()
	assert.Greater(t, len(b.fetchers), rounds/10, "backfiller goroutines (the test did not make it stop)")
	t.Logf("%d fetches on %d backfiller goroutines", rounds+producers*per, len(b.fetchers))
}

func TestConnectorWorkArrivingAsItStops(t *testing.T) {
	// Never connected for real: the hooks are called as socketio calls
	// them, one after the other, and the connector has no room to rejoin,
	// so it makes each connection ready at once.
	u := newUnitSocket(t, false).Socket
	restarts := 0
	connect := func() {
		u.mu.Lock()
		if !u.connector.RunningLocked() {
			restarts++
		}
		u.mu.Unlock()
		u.onConnect()
	}
	connected := func() bool { return u.State() == StateConnected }

	// One connection at a time, each made as the connector that made the
	// one before ready is stopping, or has stopped, or is about to.
	const rounds = 1000
	for i := range rounds {
		connect()
		// Woken by the state change itself, not by polling: the next
		// connection comes while the connector is ending.
		timeout := time.After(5 * time.Second)
		for {
			u.mu.Lock()
			st, changed := u.state, u.changed
			u.mu.Unlock()
			if st == StateConnected {
				break
			}
			select {
			case <-changed:
			case <-timeout:
				t.Fatalf("connection %d: state %s: made as the connector stopped, and never made ready", i, st)
			}
		}
		if rand.IntN(2) == 0 {
			runtime.Gosched()
		}
		u.onDisconnect(ReasonTransportClose, nil)
	}
	// Connections lost and made again faster than the connector keeps up.
	for range 1000 {
		connect()
		jitter()
		u.onDisconnect(ReasonTransportClose, nil)
		jitter()
	}
	connect()
	eventually(t, connected, "state %s: the last connection was never made ready", u.State())
	eventually(t, func() bool {
		u.mu.Lock()
		defer u.mu.Unlock()
		return !u.connector.RunningLocked()
	}, "the connector did not stop")
	assert.Greater(t, restarts, rounds/10, "connector starts (the test did not make it stop)")
	t.Logf("the connector started %d times for %d connections", restarts, rounds+1001)
}

// TestCloseStopsLazyWorkers closes sockets at random moments of their
// workers' lives; Close must neither hang nor leave a goroutine behind
// (goleak checks the latter at the end of the package).
func TestCloseStopsLazyWorkers(t *testing.T) {
	stub := newBackfillStub(t)
	for range 200 {
		b := stub.socket(t)
		for range rand.IntN(5) {
			b.backfiller.push(fetchReq{c: &convState{id: unitConv}, from: unitT0})
		}
		b.queue.pushControl(item{kind: itemError, err: errBackfillStuck})
		b.onConnect()
		jitter()
		done := make(chan struct{})
		go func() {
			_ = b.Close()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Close hung")
		}
		b.queue.mu.Lock()
		running := b.queue.running
		b.queue.mu.Unlock()
		b.backfiller.mu.Lock()
		bfRunning := b.backfiller.worker.RunningLocked()
		b.backfiller.mu.Unlock()
		b.mu.Lock()
		connRunning := b.connector.RunningLocked()
		b.mu.Unlock()
		require.False(t, running || bfRunning || connRunning, "a worker still runs after Close")
	}
}
