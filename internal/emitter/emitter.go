// Package emitter is the ordered subscriber list behind every On… of the
// module: the Socket's handlers, a Run's and the trackers' change
// callbacks, the chunk assembler's output and the timeline's change feed.
//
// Subscribers are called in the order they subscribed, on the goroutine
// that emits, with no lock held (a subscriber may subscribe, unsubscribe
// or emit again). A subscriber that panics is recovered, the panic is
// passed to the emitter's recovered function and the next subscriber is
// called. After an off function returns, its subscriber is not called
// again (a call already running finishes).
package emitter

import (
	"slices"
	"sync"
	"sync/atomic"
)

type sub[T any] struct {
	fn  func(T)
	off atomic.Bool
}

// List is an ordered list of subscribers to values of type T. The zero
// List is ready. Subscribing and unsubscribing copy the list; emitting
// reads a snapshot without locking.
type List[T any] struct {
	mu   sync.Mutex
	subs atomic.Pointer[[]*sub[T]]

	// Queued delivery (Enqueue and Drain), guarded by mu.
	queue []T
	busy  bool
}

// On subscribes fn and returns the function that unsubscribes it, which
// is idempotent. A nil fn subscribes nothing.
func (l *List[T]) On(fn func(T)) (off func()) {
	if fn == nil {
		return func() {}
	}
	s := &sub[T]{fn: fn}
	l.mu.Lock()
	next := append(slices.Clip(l.snapshot()), s)
	l.subs.Store(&next)
	l.mu.Unlock()
	return func() {
		if s.off.Swap(true) {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		next := slices.DeleteFunc(slices.Clone(l.snapshot()), func(x *sub[T]) bool { return x == s })
		l.subs.Store(&next)
	}
}

func (l *List[T]) snapshot() []*sub[T] {
	if p := l.subs.Load(); p != nil {
		return *p
	}
	return nil
}

// OffAll unsubscribes every subscriber, as their off functions would: none
// is called after OffAll returns (a call already running finishes).
func (l *List[T]) OffAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.snapshot() {
		s.off.Store(true)
	}
	l.subs.Store(nil)
}

// Empty reports whether nobody subscribes.
func (l *List[T]) Empty() bool { return len(l.snapshot()) == 0 }

// Emit calls every subscriber with v, in order, on the caller's goroutine.
// A panicking subscriber is recovered; recovered (if not nil) is called
// with the panic's value before the next subscriber.
func (l *List[T]) Emit(v T, recovered func(any)) {
	for _, s := range l.snapshot() {
		if !s.off.Load() {
			call(s.fn, v, recovered)
		}
	}
}

func call[T any](fn func(T), v T, recovered func(any)) {
	defer func() {
		if r := recover(); r != nil && recovered != nil {
			recovered(r)
		}
	}()
	fn(v)
}

// Enqueue queues v for ordered delivery without a goroutine of its own,
// and reports whether the caller must call Drain: true when no delivery
// is in progress. Values queued while one is (by other goroutines or by
// the subscribers themselves) are delivered by it, in order. A caller
// that must order values across goroutines enqueues under its own lock
// and drains after releasing it. With nobody subscribed and no delivery
// in progress, v is dropped.
func (l *List[T]) Enqueue(v T) (drain bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.busy && len(l.snapshot()) == 0 {
		return false
	}
	l.queue = append(l.queue, v)
	if l.busy {
		return false
	}
	l.busy = true
	return true
}

// Drain delivers the queued values, with Emit, until the queue is empty.
// Only the caller Enqueue told to may call it.
func (l *List[T]) Drain(recovered func(any)) {
	for {
		l.mu.Lock()
		if len(l.queue) == 0 {
			l.queue = nil
			l.busy = false
			l.mu.Unlock()
			return
		}
		v := l.queue[0]
		var zero T
		l.queue[0] = zero
		l.queue = l.queue[1:]
		l.mu.Unlock()
		l.Emit(v, recovered)
	}
}
