package timeline

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/symbia-labs/messaging-go/internal/goid"
)

// The change feed: changes are queued in order (under the timeline's lock,
// which only appends to a slice) and handed to the handlers by one
// goroutine, outside any lock.

type subscriber struct {
	fn  func(Change)
	off atomic.Bool
}

type feed struct {
	mu     sync.Mutex
	queue  []Change
	subs   []*subscriber // copied on write
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
	if f.closed || len(f.subs) == 0 {
		return
	}
	f.queue = append(f.queue, c)
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *feed) subscribe(fn func(Change)) (off func()) {
	if fn == nil {
		return func() {}
	}
	s := &subscriber{fn: fn}
	f.mu.Lock()
	f.subs = append(slices.Clip(f.subs), s)
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.off.Store(true)
			f.mu.Lock()
			f.subs = slices.DeleteFunc(slices.Clone(f.subs), func(x *subscriber) bool { return x == s })
			f.mu.Unlock()
		})
	}
}

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
		subs := f.subs
		f.mu.Unlock()
		for _, c := range batch {
			for _, s := range subs {
				if !s.off.Load() && !f.isClosed() {
					call(s.fn, c)
				}
			}
		}
	}
}

func (f *feed) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// call runs a handler; a panic is swallowed, so that one bad handler does
// not stop the feed.
func call(fn func(Change), c Change) {
	defer func() { _ = recover() }()
	fn(c)
}

// close stops the feed; it waits for run to return unless called from a
// handler (run then returns as soon as that handler does).
func (f *feed) close(started bool) {
	f.mu.Lock()
	f.closed = true
	f.queue = nil
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
	if started && f.gid.Load() != goid.Get() {
		<-f.done
	}
}
