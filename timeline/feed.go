package timeline

import (
	"sync"
	"sync/atomic"

	"github.com/symbia-labs/messaging-go/internal/emitter"
	"github.com/symbia-labs/messaging-go/internal/goid"
)

// The change feed: changes are queued in order (under the timeline's lock,
// which only appends to a slice) and handed to the handlers by one
// goroutine, outside any lock.

type feed struct {
	mu     sync.Mutex
	queue  []Change
	subs   emitter.List[Change]
	closed bool
	wake   chan struct{}
	done   chan struct{} // closed when run returns
	gid    atomic.Uint64 // the goroutine of run
}

func newFeed() *feed {
	return &feed{wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (f *feed) push(c Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.subs.Empty() {
		return
	}
	f.queue = append(f.queue, c)
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *feed) subscribe(fn func(Change)) (off func()) { return f.subs.On(fn) }

// run delivers the queued changes until close.
func (f *feed) run() {
	defer close(f.done)
	f.gid.Store(goid.Get())
	for {
		f.mu.Lock()
		for len(f.queue) == 0 && !f.closed {
			f.mu.Unlock()
			<-f.wake
			f.mu.Lock()
		}
		if f.closed {
			f.queue = nil
			f.mu.Unlock()
			return
		}
		batch := f.queue
		f.queue = nil
		f.mu.Unlock()
		for _, c := range batch {
			// A panicking handler is recovered, so that one bad handler
			// does not stop the feed; close unsubscribes every handler.
			f.subs.Emit(c, nil)
		}
	}
}

// close stops the feed; it waits for run to return unless called from a
// handler (run then returns as soon as that handler does).
func (f *feed) close(started bool) {
	f.mu.Lock()
	f.closed = true
	f.queue = nil
	f.mu.Unlock()
	f.subs.OffAll()
	select {
	case f.wake <- struct{}{}:
	default:
	}
	if started && f.gid.Load() != goid.Get() {
		<-f.done
	}
}
