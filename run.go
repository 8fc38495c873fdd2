package messaging

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/symbia-labs/messaging-go/internal/emitter"
)

// RunState is the state of an agent's [Run].
type RunState int

// Run states. A run starts running; stream.pause and stream.resume move it
// between running and paused. The other four states are final: once a run
// is preempted, handed off, cancelled or done it never changes again.
const (
	// RunRunning: the run may work and send.
	RunRunning RunState = iota + 1
	// RunPaused: a stream.pause asked the run to hold its output until a
	// stream.resume. Run.Wait blocks, and so do writes to its streams.
	RunPaused
	// RunPreempted: a stream.preempt ended the run (something more urgent
	// took over). Final.
	RunPreempted
	// RunHandedOff: a stream.handoff or stream.route ended the run; the
	// event's target takes over the conversation. Final.
	RunHandedOff
	// RunCancelled: a stream.cancel ended the run, or the context given to
	// Socket.Run ended, or the socket was closed. Final.
	RunCancelled
	// RunDone: the agent called End. Final.
	RunDone
)

// String returns the state's name: "running", "paused", "preempted",
// "handed off", "cancelled" or "done".
func (s RunState) String() string {
	switch s {
	case RunRunning:
		return "running"
	case RunPaused:
		return "paused"
	case RunPreempted:
		return "preempted"
	case RunHandedOff:
		return "handed off"
	case RunCancelled:
		return "cancelled"
	case RunDone:
		return "done"
	}
	return "RunState(" + strconv.Itoa(int(s)) + ")"
}

// Ended reports whether s is a final state: preempted, handed off,
// cancelled or done.
func (s RunState) Ended() bool { return s >= RunPreempted && s <= RunDone }

// Errors a run ends with, for errors.Is on the cause of a run's Context,
// on Run.Err and on the errors of its streams. A *RunStoppedError matches
// the one that describes it.
var (
	// ErrRunCancelled: a stream.cancel ended the run.
	ErrRunCancelled = errors.New("messaging: run cancelled")
	// ErrRunPreempted: a stream.preempt ended the run.
	ErrRunPreempted = errors.New("messaging: run preempted")
	// ErrRunHandedOff: a stream.handoff or stream.route ended the run.
	ErrRunHandedOff = errors.New("messaging: run handed off")
	// ErrRunEnded: the agent ended the run with End.
	ErrRunEnded = errors.New("messaging: run ended")
)

// RunStoppedError is the cause of a run ended by a control event
// (stream.cancel, stream.preempt, stream.handoff or stream.route). It
// matches ErrRunCancelled, ErrRunPreempted or ErrRunHandedOff.
type RunStoppedError struct {
	// Event is the control event that ended the run.
	Event ControlEventName
	// RunID is the run's id.
	RunID string
	// Reason is the event's free-text reason, if any.
	Reason string
	// PreemptedBy is, for a preemption, the id of the message that
	// preempts the run, if the sender named one.
	PreemptedBy string
	// Target is whom the event names: for a handoff or a route, the
	// principal taking over; for other events, the principal addressed.
	Target *ControlTarget
	// Control is the event as received.
	Control ControlEvent
}

// Error implements error.
func (e *RunStoppedError) Error() string {
	var b strings.Builder
	b.WriteString("messaging: run ")
	b.WriteString(e.RunID)
	switch e.Event {
	case StreamCancel:
		b.WriteString(" cancelled")
	case StreamPreempt:
		b.WriteString(" preempted")
		if e.PreemptedBy != "" {
			b.WriteString(" by message " + e.PreemptedBy)
		}
	case StreamHandoff, StreamRoute:
		b.WriteString(" handed off")
		if e.Target != nil && e.Target.PrincipalID != "" {
			b.WriteString(" to " + e.Target.PrincipalID)
		}
	default:
		b.WriteString(" stopped by " + string(e.Event))
	}
	if e.Reason != "" {
		b.WriteString(": " + e.Reason)
	}
	return b.String()
}

// Is matches ErrRunCancelled, ErrRunPreempted or ErrRunHandedOff, by Event.
func (e *RunStoppedError) Is(target error) bool {
	switch target {
	case ErrRunCancelled:
		return e.Event == StreamCancel
	case ErrRunPreempted:
		return e.Event == StreamPreempt
	case ErrRunHandedOff:
		return e.Event == StreamHandoff || e.Event == StreamRoute
	}
	return false
}

// RunStateChange describes one change of a run, as passed to
// Run.OnStateChange handlers.
type RunStateChange struct {
	// Previous and Current are the states before and after the change.
	// They are equal for a change of priority alone.
	Previous, Current RunState
	// Priority is the run's priority after the change.
	Priority Priority
	// Event is the control event behind the change; nil for a change made
	// by End, by the end of the context given to Socket.Run or by the
	// socket's Close.
	Event *ControlEvent
	// Err is, for a final state, the run's cause (see Run.Err).
	Err error
}

// RunOption configures a [Run].
type RunOption interface {
	applyRun(*runConfig) error
}

type runOptionFunc func(*runConfig) error

func (f runOptionFunc) applyRun(c *runConfig) error { return f(c) }

type runConfig struct {
	traceID      string
	priority     Priority
	principalSet bool
	principals   []string
}

// WithRunTraceID sets the trace id the run's messages carry (default: a
// new random UUID). It is free text; empty means the default.
func WithRunTraceID(traceID string) RunOption {
	return runOptionFunc(func(c *runConfig) error {
		c.traceID = traceID
		return nil
	})
}

// WithRunPriority sets the run's initial priority (default
// PriorityNormal), which its messages carry unless they set their own.
// A stream.priority event changes it.
func WithRunPriority(p Priority) RunOption {
	return runOptionFunc(func(c *runConfig) error {
		if !p.Valid() {
			return invalid("WithRunPriority", "must be low, normal, high or critical, got %q", p)
		}
		c.priority = p
		return nil
	})
}

// WithRunPrincipal names the principal the run works for: the ids (its
// principal id, its agent id) that a control event's target may use to
// address it. With it, Socket.Run makes no request to learn them. With no
// ids, the run obeys only control events that name its run id.
func WithRunPrincipal(ids ...string) RunOption {
	return runOptionFunc(func(c *runConfig) error {
		c.principalSet = true
		c.principals = nil
		for _, id := range ids {
			if id != "" {
				c.principals = append(c.principals, id)
			}
		}
		return nil
	})
}

// Run is one piece of an agent's work in a conversation (typically one
// reply), steered by the conversation's stream control events. Make one
// with [Socket.Run]; End it when the work is done.
//
// The run obeys a control event broadcast to its conversation when the
// event names the run's id (runId), or, for an event without a run id,
// when its target names the run's principal (see Socket.Run):
//
//   - stream.pause pauses the run: Wait blocks, and so do writes to its
//     streams, until stream.resume;
//   - stream.cancel and stream.preempt end it, cancelling its Context with
//     a *RunStoppedError cause (ErrRunCancelled, ErrRunPreempted);
//   - stream.handoff and stream.route end it the same way
//     (ErrRunHandedOff), the cause carrying the event's target, who takes
//     over; these two apply only by run id, since their target names the
//     recipient, not the run;
//   - stream.priority changes Priority: the new priority is read from the
//     event's reason ("high"), the only free field the service passes on.
//
// Every method is safe for concurrent use.
type Run struct {
	s          *Socket
	conv, id   string
	trace      string
	principals []string

	ctx    context.Context
	cancel context.CancelCauseFunc

	mu         sync.Mutex
	activities *runActivities // activity_run.go; nil until the first activity
	state      RunState
	priority   Priority
	cause      error
	changed    chan struct{} // closed and replaced on every change
	offs       []func()      // subscriptions, released when the run ends

	changes emitter.List[RunStateChange]

	// issueHook, for tests, is called by the run's streams each time they
	// send or edit their message, just before the call.
	issueHook func(content string)
}

// Run starts a run of the caller's work in a conversation and returns its
// handle. runID names the run; empty means a new random UUID, and any
// other value must be a UUID (the service stores run ids in a UUID
// column). The run's Context derives from ctx: when ctx ends, the run is
// cancelled.
//
// Control events may address the run by its id or by its principal (their
// target). Unless WithRunPrincipal names the principal, Run learns it with
// one request to GET /api/auth/me, with the socket's credentials; an
// error of that request is returned.
//
// The socket must be in the conversation's room to receive its control
// events: the service joins the rooms of the caller's conversations at
// connect time; for a conversation joined later, call JoinConversation.
// Control events broadcast while the socket is disconnected are not seen.
// The run follows a control event as soon as the socket receives it,
// before and independently of the socket's handlers: a run started inside
// a handler (an agent streaming its reply from OnMessage) is cancelled or
// paused while that handler still runs. OnControl handlers still receive
// the event in order. Closing the socket cancels its runs.
func (s *Socket) Run(ctx context.Context, conversationID, runID string, opts ...RunOption) (*Run, error) {
	if ctx == nil {
		return nil, invalid("ctx", "is nil")
	}
	if err := requireUUID("conversationID", conversationID); err != nil {
		return nil, err
	}
	if runID == "" {
		id, err := uuid.NewRandom()
		if err != nil {
			return nil, fmt.Errorf("messaging: making a run id: %w", err)
		}
		runID = id.String()
	} else if !isUUID(runID) {
		return nil, invalid("runID", "must be a UUID (the service stores run ids in a UUID column), got %q", runID)
	}
	cfg := runConfig{priority: PriorityNormal}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applyRun(&cfg); err != nil {
			return nil, err
		}
	}
	explicitTrace := cfg.traceID != ""
	if cfg.traceID == "" {
		id, err := uuid.NewRandom()
		if err != nil {
			return nil, fmt.Errorf("messaging: making a trace id: %w", err)
		}
		cfg.traceID = id.String()
	}
	if s.State() == StateClosed {
		return nil, fmt.Errorf("messaging: run: %w", ErrClosed)
	}
	if !cfg.principalSet {
		ids, err := s.principalIDs(ctx)
		if err != nil {
			return nil, fmt.Errorf("messaging: run: learning the caller's principal (WithRunPrincipal avoids it): %w", err)
		}
		cfg.principals = ids
	}
	ctx, observed := s.observeRun(ctx, conversationID, runID, &cfg.traceID, explicitTrace)
	r := &Run{
		s:          s,
		conv:       conversationID,
		id:         runID,
		trace:      cfg.traceID,
		principals: cfg.principals,
		state:      RunRunning,
		priority:   cfg.priority,
		changed:    make(chan struct{}),
	}
	r.ctx, r.cancel = context.WithCancelCause(ctx)
	offControl := s.runs.add(r)
	offSocket := s.OnStateChange(func(c StateChange) {
		if c.Current == StateClosed {
			r.finish(RunCancelled, fmt.Errorf("messaging: run %s: %w", r.id, ErrClosed))
		}
	})
	stopParent := context.AfterFunc(ctx, func() {
		r.finish(RunCancelled, context.Cause(ctx))
	})
	offs := []func(){offControl, offSocket, func() { stopParent() }}
	r.mu.Lock()
	ended := r.state.Ended() // ctx had ended already
	if !ended {
		r.offs = offs
	}
	r.mu.Unlock()
	if ended {
		for _, off := range offs {
			off()
		}
	}
	if s.State() == StateClosed { // closed while we subscribed
		r.finish(RunCancelled, fmt.Errorf("messaging: run %s: %w", r.id, ErrClosed))
	}
	observed.attach(r)
	return r, nil
}

// principalIDs learns the ids that name the socket's principal in a
// control event's target: its id and, for an agent, its agent id. It uses
// the socket's internal REST client (read-only), which carries the
// socket's credentials.
func (s *Socket) principalIDs(ctx context.Context) ([]string, error) {
	me, err := s.rest.Me(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, id := range []string{me.User.ID, me.User.AgentID} {
		if id != "" {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// ID returns the run's id, a UUID.
func (r *Run) ID() string { return r.id }

// TraceID returns the trace id the run's messages carry.
func (r *Run) TraceID() string { return r.trace }

// ConversationID returns the conversation the run works in.
func (r *Run) ConversationID() string { return r.conv }

// Context returns the run's context: it is cancelled when the run ends,
// with the run's cause (see Err). Pass it to the work the run does, e.g.
// a model call, so that a cancel or a preemption stops it.
func (r *Run) Context() context.Context { return r.ctx }

// State returns the run's current state.
func (r *Run) State() RunState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// Priority returns the run's current priority: the one of WithRunPriority
// (default PriorityNormal), or of the last stream.priority event.
func (r *Run) Priority() Priority {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.priority
}

// Err returns nil while the run is running or paused, and why it ended
// once it has: a *RunStoppedError for a control event (matching
// ErrRunCancelled, ErrRunPreempted or ErrRunHandedOff), ErrRunEnded after
// End, an error matching ErrClosed after the socket's Close, or the cause
// of the context given to Socket.Run. It is the cause of the run's
// Context.
func (r *Run) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cause
}

// OnStateChange registers h for every change of the run: of its state,
// and of its priority alone (with Previous equal to Current). Handlers are
// called one at a time, in the order of the changes, possibly on another
// goroutine than the one that made the change and after the call that
// made it returned (a control event's changes run on a goroutine of the
// socket's own, not on the handler goroutine: the run follows control
// events as they arrive, also while a handler blocks). h may call the
// run's methods. It returns a function that unsubscribes h.
func (r *Run) OnStateChange(h func(RunStateChange)) (off func()) { return r.changes.On(h) }

// Wait returns nil at once while the run is running. While it is paused,
// Wait blocks until it is resumed (nil), ends (its cause, see Err) or ctx
// ends (an error wrapping ctx's error). Once the run has ended it returns
// the cause at once.
func (r *Run) Wait(ctx context.Context) error {
	for {
		r.mu.Lock()
		st, cause, ch := r.state, r.cause, r.changed
		r.mu.Unlock()
		switch {
		case st == RunRunning:
			return nil
		case st.Ended():
			return cause
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("messaging: run %s paused: %w", r.id, ctx.Err())
		}
	}
}

// End marks the run done: its Context is cancelled with ErrRunEnded, its
// subscriptions are released, and streams still open stop without sending
// what they hold (close them first). End does nothing once the run has
// ended, and is safe to defer.
func (r *Run) End() { r.finish(RunDone, ErrRunEnded) }

// SendMessage sends a message as part of the run: params.RunID and
// params.TraceID are filled with the run's (a different RunID is refused),
// params.ConversationID defaults to the run's conversation (another one
// is refused), and params.Priority defaults to the run's priority. Like
// writes to the run's streams, it waits while the run is paused (bounded
// by ctx), and fails with the run's cause once it has ended. Otherwise it
// is Socket.SendMessage.
func (r *Run) SendMessage(ctx context.Context, params SendMessageParams) (*Message, error) {
	if ctx == nil {
		return nil, invalid("ctx", "is nil")
	}
	if err := r.fill(&params); err != nil {
		return nil, err
	}
	if err := r.Wait(ctx); err != nil {
		return nil, err
	}
	return r.s.SendMessage(ctx, params)
}

// fill sets the run's fields on a message to send.
func (r *Run) fill(p *SendMessageParams) error {
	switch {
	case p.ConversationID == "":
		p.ConversationID = r.conv
	case !strings.EqualFold(p.ConversationID, r.conv):
		return invalid("params.ConversationID", "is not the run's conversation %s", r.conv)
	}
	switch {
	case p.RunID == "":
		p.RunID = r.id
	case !strings.EqualFold(p.RunID, r.id):
		return invalid("params.RunID", "is not the run's id %s", r.id)
	}
	if p.TraceID == "" {
		p.TraceID = r.trace
	}
	if p.Priority == "" {
		p.Priority = r.Priority()
	}
	return nil
}
