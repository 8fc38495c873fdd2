package messaging

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/symbia-labs/messaging-go/internal/emitter"
	"github.com/symbia-labs/messaging-go/internal/lazy"
)

// How a Run follows control events. The socket keeps its live runs in
// liveRuns; socketio's event hook (onEvent) hands every control event to
// liveRuns.control as it arrives, before and independently of the handler
// queue, so a run's state, its Context and its streams follow the event
// even while a handler blocks the queue (a run streaming from inside
// OnMessage). User OnControl handlers still get the event in order
// through the queue. The run's OnStateChange callbacks for such a change
// are user code, which the hook must not run: they run on the socket's
// run notifier, a lazy goroutine (internal/lazy), one run's changes at a
// time and in order.

// liveRuns are a socket's runs that have not ended.
type liveRuns struct {
	s  *Socket
	mu sync.Mutex
	// Guarded by mu.
	runs     []*Run
	owed     []*Run // runs whose queued changes the notifier must deliver
	notifier *lazy.Worker
}

func (l *liveRuns) init(s *Socket) {
	l.s = s
	l.notifier = lazy.New(&l.mu, l.nextOwed)
}

// add registers r and returns the function that removes it.
func (l *liveRuns) add(r *Run) (remove func()) {
	l.mu.Lock()
	l.runs = append(l.runs, r)
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for i, x := range l.runs {
			if x == r {
				l.runs = append(l.runs[:i:i], l.runs[i+1:]...)
				return
			}
		}
	}
}

// control applies a control event to every live run it is meant for. It
// runs on socketio's read goroutine and does not block: it changes the
// runs' states and queues their callbacks for the notifier.
func (l *liveRuns) control(e ControlEvent) {
	l.mu.Lock()
	runs := l.runs
	l.mu.Unlock()
	if len(runs) == 0 || l.s.left(e.ConversationID) {
		return
	}
	for _, r := range runs {
		if r.control(e) {
			l.mu.Lock()
			l.owed = append(l.owed, r)
			if !l.notifier.KickLocked() {
				l.owed = l.owed[:len(l.owed)-1]
				l.mu.Unlock()
				l.deliver(r) // closed: Close delivers nothing more
				continue
			}
			l.mu.Unlock()
		}
	}
}

// nextOwed is the notifier's next function (l.mu held).
func (l *liveRuns) nextOwed() (func(), bool) {
	if len(l.owed) == 0 {
		l.owed = nil
		return nil, false
	}
	r := l.owed[0]
	l.owed[0] = nil
	l.owed = l.owed[1:]
	return func() { l.deliver(r) }, true
}

// deliver runs r's queued OnStateChange callbacks; a panic is reported to
// OnError, as a handler's.
func (l *liveRuns) deliver(r *Run) {
	r.changes.Drain(func(p any) {
		l.s.queueError(fmt.Errorf("messaging: run %s: OnStateChange handler panicked: %v", r.id, p))
	})
}

// close stops the notifier, then delivers what it left, on the caller's
// goroutine (Close's).
func (l *liveRuns) close() {
	l.notifier.Close()
	l.mu.Lock()
	owed := l.owed
	l.owed = nil
	l.mu.Unlock()
	for _, r := range owed {
		l.deliver(r)
	}
}

// control applies a control event to the run, if it is meant for it, and
// reports whether the caller must deliver the change it queued (drain
// r.changes). It runs on socketio's read goroutine (liveRuns.control),
// so it never calls user code.
func (r *Run) control(e ControlEvent) (deliver bool) {
	if !r.applies(e) {
		return false
	}
	switch e.Event {
	case StreamPause:
		return r.move(RunRunning, RunPaused, &e)
	case StreamResume:
		return r.move(RunPaused, RunRunning, &e)
	case StreamPriority:
		return r.setPriority(&e)
	case StreamCancel:
		return r.end(RunCancelled, r.stopped(e), &e)
	case StreamPreempt:
		return r.end(RunPreempted, r.stopped(e), &e)
	case StreamHandoff, StreamRoute:
		return r.end(RunHandedOff, r.stopped(e), &e)
	}
	return false
}

// applies reports whether a control event is meant for this run: same
// conversation, and its run id, or, without a run id, a target naming the
// run's principal (never for a handoff or a route, whose target is the
// recipient).
func (r *Run) applies(e ControlEvent) bool {
	if !strings.EqualFold(e.ConversationID, r.conv) {
		return false
	}
	if e.RunID != "" {
		return strings.EqualFold(e.RunID, r.id)
	}
	if e.Event == StreamHandoff || e.Event == StreamRoute || e.Target == nil {
		return false
	}
	for _, id := range r.principals {
		if e.Target.PrincipalID == id {
			return true
		}
	}
	return false
}

func (r *Run) stopped(e ControlEvent) error {
	return &RunStoppedError{
		Event: e.Event, RunID: r.id, Reason: e.Reason, PreemptedBy: e.PreemptedBy,
		Target: e.Target, Control: e,
	}
}

// move changes the state from → to, if the run is in from. It reports
// whether the caller must drain r.changes.
func (r *Run) move(from, to RunState, e *ControlEvent) bool {
	r.mu.Lock()
	if r.state != from {
		r.mu.Unlock()
		return false
	}
	r.state = to
	c := RunStateChange{Previous: from, Current: to, Priority: r.priority, Event: e}
	r.wakeLocked()
	start := r.changes.Enqueue(c)
	r.mu.Unlock()
	return start
}

// setPriority changes the priority as e says; it reports whether the
// caller must drain r.changes.
func (r *Run) setPriority(e *ControlEvent) bool {
	p := Priority(strings.ToLower(strings.TrimSpace(e.Reason)))
	if !p.Valid() {
		if v, ok := e.Metadata["priority"].(string); ok {
			p = Priority(strings.ToLower(v))
		}
	}
	if !p.Valid() {
		return false
	}
	r.mu.Lock()
	if r.state.Ended() || r.priority == p {
		r.mu.Unlock()
		return false
	}
	r.priority = p
	c := RunStateChange{Previous: r.state, Current: r.state, Priority: p, Event: e}
	r.wakeLocked()
	start := r.changes.Enqueue(c)
	r.mu.Unlock()
	return start
}

// finish ends the run (see end) and delivers the change on the caller's
// goroutine.
func (r *Run) finish(to RunState, cause error) {
	if r.end(to, cause, nil) {
		drain(&r.changes)
	}
}

// end moves the run to a final state with cause, once. It reports whether
// the caller must drain r.changes.
func (r *Run) end(to RunState, cause error, e *ControlEvent) bool {
	r.mu.Lock()
	if r.state.Ended() {
		r.mu.Unlock()
		return false
	}
	prev := r.state
	r.cancel(cause)
	// The cause of the context is the run's, also when the parent context
	// ended first.
	r.state, r.cause = to, context.Cause(r.ctx)
	c := RunStateChange{Previous: prev, Current: to, Priority: r.priority, Event: e, Err: r.cause}
	r.wakeLocked()
	offs := r.offs
	r.offs = nil
	start := r.changes.Enqueue(c)
	r.mu.Unlock()
	for _, off := range offs {
		off()
	}
	return start
}

func (r *Run) wakeLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// snapshot returns the state, the channel closed at the next change and
// the cause.
func (r *Run) snapshot() (RunState, <-chan struct{}, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state, r.changed, r.cause
}

// drain delivers the values queued on l (emitter.List's Enqueue and
// Drain: one at a time, in order, on the goroutine Enqueue told to
// drain). A panicking callback does not stop the delivery; the first
// panic goes on, on the caller's goroutine, once the queue is delivered,
// as callbacks of Run, the trackers and ChunkAssembler always did.
func drain[T any](l *emitter.List[T]) {
	var first any
	l.Drain(func(r any) {
		if first == nil {
			first = r
		}
	})
	if first != nil {
		panic(first)
	}
}
