// Package lazy runs a goroutine only while it has work.
//
// A Worker's goroutine starts when work is signalled and ends when it
// finds none. The work itself lives in the caller's state, guarded by a
// lock the caller gives the Worker. The rule that keeps work from being
// lost: producers add work and call KickLocked under that lock, and the
// goroutine decides to stop (its next function reports no work) under the
// same lock. A producer's work is thus either seen by the running
// goroutine's next call, or added after the goroutine stopped, in which
// case KickLocked starts a new one.
//
// Close refuses new goroutines and waits for the running one, if any.
// Close must not be called from the worker's own goroutine.
package lazy

import "sync"

// Worker runs next's jobs on a goroutine that exists only while next has
// work. The zero Worker is not usable: make one with New.
type Worker struct {
	l    sync.Locker
	next func() (job func(), ok bool)

	// Guarded by l.
	running bool
	closed  bool

	// Add is called only under l while closed is false; Close sets closed
	// under l before it waits, so an Add never races with the Wait.
	wg sync.WaitGroup
}

// New returns a Worker whose goroutine calls next with l held to take the
// next job, runs the job with l released, and returns when next reports
// no job (with l held, so a producer holding l sees it stopped).
func New(l sync.Locker, next func() (job func(), ok bool)) *Worker {
	return &Worker{l: l, next: next}
}

// KickLocked starts the goroutine unless it runs or the Worker is closed.
// The caller holds the Worker's lock and has just added work. It reports
// whether the goroutine runs (false once Close was called).
func (w *Worker) KickLocked() bool {
	if w.closed {
		return false
	}
	if !w.running {
		w.running = true
		w.wg.Add(1)
		go w.loop()
	}
	return true
}

// Kick is KickLocked for a caller that does not hold the lock.
func (w *Worker) Kick() bool {
	w.l.Lock()
	defer w.l.Unlock()
	return w.KickLocked()
}

// RunningLocked reports whether the goroutine runs. The caller holds the
// lock.
func (w *Worker) RunningLocked() bool { return w.running }

func (w *Worker) loop() {
	defer w.wg.Done()
	for {
		w.l.Lock()
		job, ok := w.next()
		if !ok || w.closed {
			w.running = false
			w.l.Unlock()
			return
		}
		w.l.Unlock()
		job()
	}
}

// Close stops the Worker: no goroutine starts after it, the running one
// returns after its current job, and Close waits for it. Work left is
// dropped. Close is idempotent.
func (w *Worker) Close() {
	w.l.Lock()
	w.closed = true
	w.l.Unlock()
	w.wg.Wait()
}

// Queue is a FIFO of values handled one at a time by a lazy goroutine.
type Queue[T any] struct {
	mu     sync.Mutex
	items  []T
	handle func(T)
	w      *Worker
}

// NewQueue returns a queue whose values are passed to handle, in order,
// on a goroutine that runs only while the queue is not empty.
func NewQueue[T any](handle func(T)) *Queue[T] {
	q := &Queue[T]{handle: handle}
	q.w = New(&q.mu, q.take)
	return q
}

func (q *Queue[T]) take() (func(), bool) {
	if len(q.items) == 0 {
		q.items = nil // let the backing array go
		return nil, false
	}
	v := q.items[0]
	var zero T
	q.items[0] = zero
	q.items = q.items[1:]
	return func() { q.handle(v) }, true
}

// Push queues v and reports true, or reports false once Close was called.
func (q *Queue[T]) Push(v T) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.w.closed {
		return false
	}
	q.items = append(q.items, v)
	return q.w.KickLocked()
}

// Len returns the number of values queued and not yet taken.
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// Close drops the values not yet taken, refuses new ones, and waits for
// the value being handled, if any. It must not be called from handle.
func (q *Queue[T]) Close() {
	q.mu.Lock()
	q.items = nil
	q.mu.Unlock()
	q.w.Close()
}
