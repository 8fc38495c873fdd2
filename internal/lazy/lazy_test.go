package lazy

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestQueue_Stress pushes from many goroutines while the worker keeps
// running dry and stopping: every value is handled exactly once, in each
// producer's order, never by two goroutines at once, and no goroutine is
// left after Close.
func TestQueue_Stress(t *testing.T) {
	const producers, perProducer = 16, 2000
	var (
		active  atomic.Int32
		overlap atomic.Bool
		starts  atomic.Int64
		mu      sync.Mutex
		last    = make([]int, producers)
		handled int
		bad     bool
		all     = make(chan struct{})
	)
	for i := range last {
		last[i] = -1
	}
	q := NewQueue(func(v [2]int) {
		if active.Add(1) != 1 {
			overlap.Store(true)
		}
		mu.Lock()
		if v[1] != last[v[0]]+1 {
			bad = true
		}
		last[v[0]] = v[1]
		handled++
		if handled == producers*perProducer {
			close(all)
		}
		mu.Unlock()
		if v[1]%97 == 0 {
			runtime.Gosched()
		}
		active.Add(-1)
	})
	// Count goroutine starts through the worker's own flag.
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perProducer {
				q.mu.Lock()
				if !q.w.running {
					starts.Add(1)
				}
				q.mu.Unlock()
				if !q.Push([2]int{p, i}) {
					t.Error("Push refused before Close")
					return
				}
				if i%50 == 0 {
					time.Sleep(time.Microsecond) // let the worker run dry
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-all:
	case <-time.After(time.Minute):
		mu.Lock()
		t.Fatalf("handled %d of %d values after a minute", handled, producers*perProducer)
	}
	q.Close()
	if overlap.Load() {
		t.Error("two goroutines handled values at once")
	}
	if bad {
		t.Error("a producer's values were handled out of order or twice")
	}
	if q.Push([2]int{0, 0}) {
		t.Error("Push accepted a value after Close")
	}
	t.Logf("%d values, the worker (re)started about %d times", producers*perProducer, starts.Load())
}

// TestWorker_CloseWaitsForJob: Close returns only after the running job
// returned, and no job starts after Close.
func TestWorker_CloseWaitsForJob(t *testing.T) {
	var mu sync.Mutex
	work := 0
	entered, release := make(chan struct{}), make(chan struct{})
	var ran atomic.Int32
	w := New(&mu, func() (func(), bool) {
		if work == 0 {
			return nil, false
		}
		work--
		return func() {
			if ran.Add(1) == 1 {
				close(entered)
				<-release
			}
		}, true
	})
	mu.Lock()
	work = 3
	w.KickLocked()
	mu.Unlock()
	<-entered
	closed := make(chan struct{})
	go func() { w.Close(); close(closed) }()
	// Close must be waiting on the job: it cannot return before release.
	select {
	case <-closed:
		t.Fatal("Close returned while a job was running")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(time.Minute):
		t.Fatal("Close did not return after the job did")
	}
	if n := ran.Load(); n != 1 {
		t.Errorf("%d jobs ran, want 1 (no job after Close)", n)
	}
	if w.Kick() {
		t.Error("Kick started a goroutine after Close")
	}
}

// TestWorker_NothingLost: work added right as the goroutine decides to
// stop is still done (the decision and the addition share the lock).
func TestWorker_NothingLost(t *testing.T) {
	var mu sync.Mutex
	pending, done := 0, 0
	w := New(&mu, func() (func(), bool) {
		if pending == 0 {
			return nil, false
		}
		pending--
		return func() {
			mu.Lock()
			done++
			mu.Unlock()
		}, true
	})
	defer w.Close()
	const n = 20000
	for range n {
		mu.Lock()
		pending++
		w.KickLocked()
		mu.Unlock()
	}
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		d, running := done, w.RunningLocked()
		mu.Unlock()
		if d == n && !running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("done %d of %d, running %v", d, n, running)
		}
		time.Sleep(time.Millisecond)
	}
}
