package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// activityIOTimeout bounds each edit the SDK makes on its own behalf: the
// rate-limited progress edits, and the final states sent when a run ends.
const activityIOTimeout = 10 * time.Second

// ErrActivityFinished: the activity already has a final state (completed,
// failed, or cancelled by the end of its run); it cannot change anymore.
var ErrActivityFinished = errors.New("messaging: activity finished")

// ToolCallParams describe a tool call to start with Run.StartToolCall.
type ToolCallParams struct {
	// Name is the tool's name, e.g. "flight_search". Required.
	Name string
	// Parameters are the call's parameters, sent as JSON (nil for none).
	Parameters any
	// Message is a first word for people, e.g. "Searching flights".
	Message string
	// ReplyTo is the id (UUID) of the message (the question) the call
	// serves, if any.
	ReplyTo string
	// ID is the record's message id, a UUID; empty means a new one.
	ID string
	// FlushInterval is the shortest time between two edits of the record
	// made for progress; zero means DefaultFlushInterval. Final states
	// are sent at once.
	FlushInterval time.Duration
}

// TaskParams describe a task to start with Run.StartTask.
type TaskParams struct {
	// Name is the task's name, e.g. "Flight Search". Required.
	Name string
	// Description says what the task does.
	Description string
	// EstimatedDuration is how long the task is expected to take; zero
	// if unknown.
	EstimatedDuration time.Duration
	// Message, ReplyTo, ID and FlushInterval are as in ToolCallParams.
	Message       string
	ReplyTo       string
	ID            string
	FlushInterval time.Duration
}

// AgentStatus is an agent's status during a run, for Run.SetStatus.
type AgentStatus struct {
	// Status is a short word, e.g. "active", "thinking", "waiting".
	// Required.
	Status string
	// CurrentTask says what the agent is doing, e.g. "Analyzing flight
	// options".
	CurrentTask string
	// Progress is how far the agent is, from 0 to 1.
	Progress float64
	// Message is a word for people.
	Message string
	// ReplyTo is the id (UUID) of the message the run answers; read only
	// by the first SetStatus of a run, which creates its status record.
	ReplyTo string
}

// Activity is a tool call or a task that a [Run] started (Run.StartToolCall,
// Run.StartTask): an activity record the run's socket created and edits as
// the activity progresses. Progress is rate-limited (at most one edit per
// flush interval, the latest state winning); Complete and Fail send the
// final state at once. When the run ends first (a cancel, a preemption, a
// handoff, End, or the socket's Close), the record is closed for it: its
// state becomes cancelled, with an Error saying why (code RUN_CANCELLED,
// RUN_PREEMPTED, RUN_HANDED_OFF or RUN_ENDED), so no record stays running;
// Run.End normally does it before it returns, so that closing the socket
// right after loses nothing. Edits go on while the run is paused: they report the agent's work, they
// are not its output.
//
// Every method is safe for concurrent use.
type Activity struct {
	r        *Run
	ra       *runActivities
	interval time.Duration

	sendMu sync.Mutex // one edit on the wire at a time, in order

	mu       sync.Mutex
	rec      ActivityRecord // the latest state, sent or not
	sentSeq  int64          // the Seq the service has
	lastSend time.Time
	timer    *time.Timer // a progress edit waiting for the interval
	err      error       // of a failed background edit, for the next call
	final    bool        // a final state is set (sent or not)
	closedBy error       // the run's cause, when the run's end closed it
}

// StartToolCall starts a tool call of the run: it creates its activity
// record (kind tool_call, state running, progress 0) in the run's
// conversation, with the run's id, and returns its handle. Like
// Run.SendMessage, it waits while the run is paused and fails with the
// run's cause once the run has ended.
func (r *Run) StartToolCall(ctx context.Context, params ToolCallParams) (*Activity, error) {
	if params.Name == "" {
		return nil, invalid("params.Name", "is empty")
	}
	rec := ActivityRecord{Kind: ActivityToolCall, Name: params.Name, Message: params.Message}
	if params.Parameters != nil {
		b, err := json.Marshal(params.Parameters)
		if err != nil {
			return nil, invalid("params.Parameters", "cannot be encoded as JSON: %v", err)
		}
		rec.Parameters = b
	}
	return r.startActivity(ctx, rec, params.ReplyTo, params.ID, params.FlushInterval)
}

// StartTask starts a task of the run, as StartToolCall does a tool call
// (kind task).
func (r *Run) StartTask(ctx context.Context, params TaskParams) (*Activity, error) {
	if params.Name == "" {
		return nil, invalid("params.Name", "is empty")
	}
	if params.EstimatedDuration < 0 {
		return nil, invalid("params.EstimatedDuration", "must not be negative, got %v", params.EstimatedDuration)
	}
	rec := ActivityRecord{Kind: ActivityTask, Name: params.Name, Description: params.Description,
		EstimatedDuration: params.EstimatedDuration, Message: params.Message}
	return r.startActivity(ctx, rec, params.ReplyTo, params.ID, params.FlushInterval)
}

// SetStatus sets the agent's status for the run: the run's first call
// creates its status record (kind agent_status) and later calls edit it,
// at most once per DefaultFlushInterval, the latest status winning. When
// the run ends, the record gets a final state: completed after End,
// cancelled otherwise. It returns an error for bad input, for a failed
// creation, for the failure of an earlier background edit, or, once the
// run has ended, the run's cause.
func (r *Run) SetStatus(ctx context.Context, status AgentStatus) error {
	if ctx == nil {
		return invalid("ctx", "is nil")
	}
	if status.Status == "" {
		return invalid("status.Status", "is empty")
	}
	if err := checkFraction("status.Progress", status.Progress); err != nil {
		return err
	}
	if err := optionalUUID("status.ReplyTo", status.ReplyTo); err != nil {
		return err
	}
	ra := activitiesOf(r)
	// One creation at a time: the first call creates, the others edit.
	ra.statusMu.Lock()
	defer ra.statusMu.Unlock()
	ra.mu.Lock()
	a := ra.status
	ra.mu.Unlock()
	if a == nil {
		rec := ActivityRecord{Kind: ActivityAgentStatus, Status: status.Status, CurrentTask: status.CurrentTask,
			Progress: status.Progress, Message: status.Message}
		a, err := r.startActivity(ctx, rec, status.ReplyTo, "", 0)
		if err != nil {
			return err
		}
		ra.mu.Lock()
		ra.status = a
		ra.mu.Unlock()
		return nil
	}
	return a.update(func(rec *ActivityRecord) {
		rec.Status, rec.CurrentTask, rec.Progress, rec.Message = status.Status, status.CurrentTask, status.Progress, status.Message
	})
}

func checkFraction(field string, f float64) error {
	if math.IsNaN(f) || f < 0 || f > 1 {
		return invalid(field, "must be between 0 and 1, got %v", f)
	}
	return nil
}

// startActivity creates the record of rec and returns its handle.
func (r *Run) startActivity(ctx context.Context, rec ActivityRecord, replyTo, id string, interval time.Duration) (*Activity, error) {
	if ctx == nil {
		return nil, invalid("ctx", "is nil")
	}
	if interval < 0 {
		return nil, invalid("params.FlushInterval", "must not be negative, got %v", interval)
	}
	if interval == 0 {
		interval = DefaultFlushInterval
	}
	if err := optionalUUID("params.ReplyTo", replyTo); err != nil {
		return nil, err
	}
	if err := optionalUUID("params.ID", id); err != nil {
		return nil, err
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	ra := activitiesOf(r)
	rec.Seq, rec.State, rec.StartedAt = 1, ActivityRunning, time.Now()
	content, err := encodeActivity(&rec)
	if err != nil {
		return nil, invalid("params", "cannot be encoded as JSON: %v", err)
	}
	m, err := r.SendMessage(ctx, SendMessageParams{ID: id, Content: content, ContentType: ActivityContentType, ReplyTo: replyTo})
	if err != nil {
		return nil, err
	}
	rec.ID, rec.ConversationID, rec.SenderID, rec.SenderType = m.ID, m.ConversationID, m.SenderID, m.SenderType
	rec.RunID, rec.ReplyTo, rec.CreatedAt = m.RunID, m.ReplyTo, m.CreatedAt
	a := &Activity{r: r, ra: ra, interval: interval, rec: rec, sentSeq: 1, lastSend: time.Now()}
	if !ra.add(a) {
		// The run ended while the record was being created: close it now.
		state, cause := r.State(), r.Err()
		a.closeForRun(state, cause)
		return nil, cause
	}
	return a, nil
}

// ID returns the activity's id: its record's message id.
func (a *Activity) ID() string { return a.rec.ID }

// Record returns the activity's latest state, sent or about to be.
func (a *Activity) Record() ActivityRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rec
}

// Progress reports how far the activity is (fraction, from 0 to 1) with a
// word for people (message; empty keeps the previous one). It returns at
// once: the record is edited by a background send, at most once per flush
// interval, with the latest state. It fails with a *ValidationError for a
// fraction outside [0, 1], with an error matching ErrActivityFinished
// once the activity has a final state, and with the error of an earlier
// background edit that failed (reported once; the next edit sends the
// latest state again). ctx is unused but for its nil check: the edit is
// made on the activity's behalf, bounded by the SDK.
func (a *Activity) Progress(ctx context.Context, fraction float64, message string) error {
	if ctx == nil {
		return invalid("ctx", "is nil")
	}
	if err := checkFraction("fraction", fraction); err != nil {
		return err
	}
	return a.update(func(rec *ActivityRecord) {
		rec.Progress = fraction
		if message != "" {
			rec.Message = message
		}
	})
}

// update changes the record and schedules its edit.
func (a *Activity) update(change func(*ActivityRecord)) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.final {
		return a.finishedLocked()
	}
	change(&a.rec)
	a.rec.Seq++
	if a.timer == nil {
		wait := max(a.interval-time.Since(a.lastSend), 0)
		a.timer = time.AfterFunc(wait, a.flush)
	}
	err := a.err
	a.err = nil
	return err
}

func (a *Activity) finishedLocked() error {
	if a.closedBy != nil {
		return fmt.Errorf("%w: %w", ErrActivityFinished, a.closedBy)
	}
	return ErrActivityFinished
}

// flush sends the latest state, on a timer's goroutine.
func (a *Activity) flush() {
	a.sendMu.Lock()
	defer a.sendMu.Unlock()
	a.mu.Lock()
	a.timer = nil
	if a.final || a.rec.Seq <= a.sentSeq {
		a.mu.Unlock()
		return
	}
	rec := a.rec
	a.lastSend = time.Now()
	a.mu.Unlock()

	err := a.edit(context.Background(), &rec)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		if !a.final {
			a.err = err
		}
		return
	}
	a.sentSeq = max(a.sentSeq, rec.Seq)
}

// edit sends rec as the record's content, within activityIOTimeout.
func (a *Activity) edit(ctx context.Context, rec *ActivityRecord) error {
	content, err := encodeActivity(rec)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), activityIOTimeout)
	defer cancel()
	_, err = a.r.s.EditMessage(ctx, rec.ID, content)
	return err
}

// Complete ends the activity with a result (sent as JSON; nil for none):
// its record's state becomes completed, with progress 1, sent at once
// (after an edit under way). It fails with an error matching
// ErrActivityFinished when the activity already has a final state, and
// with the edit's error; the final state is then sent again when the run
// ends. The edit is bounded by ctx and by the SDK's own bound, and is
// made even when ctx is the run's Context and the run has just ended.
func (a *Activity) Complete(ctx context.Context, result any) error {
	if ctx == nil {
		return invalid("ctx", "is nil")
	}
	var raw json.RawMessage
	if result != nil {
		b, err := json.Marshal(result)
		if err != nil {
			return invalid("result", "cannot be encoded as JSON: %v", err)
		}
		raw = b
	}
	return a.finish(ctx, func(rec *ActivityRecord) {
		rec.State, rec.Progress, rec.Result = ActivityCompleted, 1, raw
	})
}

// Fail ends the activity with an error (code, message, retryable): its
// record's state becomes failed, sent at once. Errors are as Complete's.
func (a *Activity) Fail(ctx context.Context, failure ActivityError) error {
	if ctx == nil {
		return invalid("ctx", "is nil")
	}
	if failure.Code == "" && failure.Message == "" {
		return invalid("failure", "has neither a code nor a message")
	}
	return a.finish(ctx, func(rec *ActivityRecord) {
		rec.State, rec.Error = ActivityFailed, &failure
	})
}

// finish sets a final state and sends it.
func (a *Activity) finish(ctx context.Context, change func(*ActivityRecord)) error {
	a.mu.Lock()
	if a.final {
		err := a.finishedLocked()
		a.mu.Unlock()
		return err
	}
	a.setFinalLocked(change)
	a.mu.Unlock()
	if ctx.Err() != nil {
		// The caller's context ended (typically the run's Context, as the
		// run ended): send anyway, within the SDK's bound.
		ctx = context.WithoutCancel(ctx)
	}
	return a.sendFinal(ctx)
}

func (a *Activity) setFinalLocked(change func(*ActivityRecord)) {
	a.final = true
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	change(&a.rec)
	a.rec.Seq++
	a.rec.EndedAt = time.Now()
}

// sendFinal sends the final state, unless the service has it already.
func (a *Activity) sendFinal(ctx context.Context) error {
	a.sendMu.Lock()
	defer a.sendMu.Unlock()
	a.mu.Lock()
	if a.sentSeq >= a.rec.Seq {
		a.mu.Unlock()
		return nil
	}
	rec := a.rec
	a.mu.Unlock()
	if err := a.edit(ctx, &rec); err != nil {
		return err
	}
	a.mu.Lock()
	a.sentSeq = max(a.sentSeq, rec.Seq)
	a.mu.Unlock()
	a.ra.remove(a)
	return nil
}

// closeForRun gives the activity its final state for the run's end
// (unless it has one already, which is then sent if it was not) and sends
// it, within the SDK's bound.
func (a *Activity) closeForRun(state RunState, cause error) {
	a.mu.Lock()
	if !a.final {
		a.closedBy = cause
		a.setFinalLocked(func(rec *ActivityRecord) {
			if rec.Kind == ActivityAgentStatus && state == RunDone {
				rec.State = ActivityCompleted
				return
			}
			rec.State = ActivityCancelled
			msg := "the run ended"
			if cause != nil {
				msg = cause.Error()
			}
			rec.Error = &ActivityError{Code: runEndCode(state), Message: msg}
		})
	}
	a.mu.Unlock()
	_ = a.sendFinal(context.Background())
}

func runEndCode(s RunState) string {
	switch s {
	case RunPreempted:
		return "RUN_PREEMPTED"
	case RunHandedOff:
		return "RUN_HANDED_OFF"
	case RunDone:
		return "RUN_ENDED"
	}
	return "RUN_CANCELLED"
}

// runActivities are the open activities of one run (Run.activities, made
// at its first activity).
type runActivities struct {
	r        *Run
	statusMu sync.Mutex // serialises SetStatus

	mu     sync.Mutex
	open   []*Activity // not yet closed, in start order
	status *Activity
	ended  bool
	off    func()
}

// activitiesOf returns the run's activities, registering for its end the
// first time.
func activitiesOf(r *Run) *runActivities {
	r.mu.Lock()
	ra := r.activities
	first := ra == nil
	if first {
		ra = &runActivities{r: r}
		r.activities = ra
	}
	r.mu.Unlock()
	if !first {
		return ra
	}
	off := r.OnStateChange(func(c RunStateChange) {
		if c.Current.Ended() {
			ra.runEnded(c.Current, c.Err, c.Event != nil)
		}
	})
	ra.mu.Lock()
	if ra.ended {
		ra.mu.Unlock()
		off()
	} else {
		ra.off = off
		ra.mu.Unlock()
	}
	if st := r.State(); st.Ended() { // ended before the subscription
		ra.runEnded(st, r.Err(), false)
	}
	return ra
}

// add registers a new activity; false if the run has ended.
func (ra *runActivities) add(a *Activity) bool {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	if ra.ended {
		return false
	}
	ra.open = append(ra.open, a)
	return true
}

// remove forgets an activity whose final state was sent.
func (ra *runActivities) remove(a *Activity) {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	for i, x := range ra.open {
		if x == a {
			ra.open = append(ra.open[:i], ra.open[i+1:]...)
			return
		}
	}
}

// runEnded closes the run's open activities, once. A control event's end
// is seen on the socket's dispatcher goroutine, which must not wait for
// edits: the records are closed on a goroutine of their own then, bounded
// by activityIOTimeout per edit. Otherwise (End, the run's context, the
// socket's Close) they are closed on the goroutine that delivers the run's
// change: for End, End's own, so that they are closed before End returns,
// unless another change of the run is being delivered at that moment, on
// the goroutine delivering it.
func (ra *runActivities) runEnded(state RunState, cause error, onDispatcher bool) {
	ra.mu.Lock()
	if ra.ended {
		ra.mu.Unlock()
		return
	}
	ra.ended = true
	open := ra.open
	ra.open = nil
	off := ra.off
	ra.off = nil
	ra.mu.Unlock()
	if off != nil {
		off()
	}
	closeAll := func() {
		var wg sync.WaitGroup
		for _, a := range open {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a.closeForRun(state, cause)
			}()
		}
		wg.Wait()
	}
	if onDispatcher {
		go closeAll()
	} else {
		closeAll()
	}
}
