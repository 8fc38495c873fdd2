package messaging

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"strings"
	"time"
)

// Agent activity: what an agent is doing while it works (the tool calls it
// makes, the tasks it runs, its status), as people watching a conversation
// see it. The service has no event for it, so the SDK carries it in
// ordinary messages: an activity record is one message whose content type
// is ActivityContentType and whose content is the JSON state of one tool
// call, task or agent status. Its sender creates it when the activity
// starts and edits it (message:updated) as it progresses; the last edit
// gives its final state. docs/PROTOCOL.md ("Activity records") is the
// convention, for other clients.

// ActivityMediaType is the media type of an activity record's content
// type, without its version parameter.
const ActivityMediaType = "application/vnd.symbia.activity+json"

// ActivityVersion is the version of the activity convention this SDK
// writes and reads. A version only changes for an incompatible change;
// fields are added without one, and readers ignore the fields they do not
// know.
const ActivityVersion = 1

// ActivityContentType is the content type of the activity records this
// SDK sends: ActivityMediaType with its version, 40 characters (the
// service stores at most 50).
const ActivityContentType = ActivityMediaType + ";v=1"

// ActivityKind says what an activity record describes.
type ActivityKind string

// Activity kinds.
const (
	// ActivityToolCall: one call of a tool by an agent (the seed's
	// tool_call_* events).
	ActivityToolCall ActivityKind = "tool_call"
	// ActivityTask: a task of an agent, with an estimated duration (the
	// seed's agent_task_* events).
	ActivityTask ActivityKind = "task"
	// ActivityAgentStatus: an agent's status during one run (the seed's
	// agent_status_update): what it is doing and how far it is.
	ActivityAgentStatus ActivityKind = "agent_status"
)

// Valid reports whether k is one of the kinds above.
func (k ActivityKind) Valid() bool {
	return k == ActivityToolCall || k == ActivityTask || k == ActivityAgentStatus
}

// ActivityState is where an activity is in its life. An activity starts
// running; the three other states are final: its sender edits it no more.
type ActivityState string

// Activity states.
const (
	// ActivityRunning: started and not finished; progress may follow.
	ActivityRunning ActivityState = "running"
	// ActivityCompleted: finished with a result.
	ActivityCompleted ActivityState = "completed"
	// ActivityFailed: finished with an error.
	ActivityFailed ActivityState = "failed"
	// ActivityCancelled: stopped before finishing, typically because its
	// run ended (cancelled, preempted, handed off or ended); Error says
	// why.
	ActivityCancelled ActivityState = "cancelled"
)

// Valid reports whether s is one of the states above.
func (s ActivityState) Valid() bool {
	return s == ActivityRunning || s.Final()
}

// Final reports whether s is completed, failed or cancelled.
func (s ActivityState) Final() bool {
	return s == ActivityCompleted || s == ActivityFailed || s == ActivityCancelled
}

// ActivityError is why an activity failed or was cancelled: the seed's
// error object of tool_call_error.
type ActivityError struct {
	// Code is a short machine-readable code, e.g. "EXTERNAL_API_ERROR".
	// The SDK uses RUN_CANCELLED, RUN_PREEMPTED, RUN_HANDED_OFF and
	// RUN_ENDED for activities closed by the end of their run.
	Code string `json:"code"`
	// Message is for people.
	Message string `json:"message"`
	// Retryable says whether trying again may succeed.
	Retryable bool `json:"retryable"`
}

// Error implements error.
func (e *ActivityError) Error() string {
	if e.Code == "" {
		return "activity failed: " + e.Message
	}
	return "activity failed: " + e.Code + ": " + e.Message
}

// ActivityRecord is the state of one activity: the decoded content of an
// activity record, and the fields of the message that carries it.
type ActivityRecord struct {
	// ID is the activity's id: the id of the message that carries it.
	ID string
	// ConversationID, SenderID and SenderType are the message's.
	ConversationID string
	SenderID       string
	SenderType     SenderType
	// RunID is the run the activity belongs to, and ReplyTo the message
	// (the question) it serves, when set.
	RunID   string
	ReplyTo string
	// CreatedAt is when the message was created, UpdatedAt when it was
	// last edited (nil before the first edit).
	CreatedAt time.Time
	UpdatedAt *time.Time

	// Kind says what the record describes.
	Kind ActivityKind
	// Seq counts the record's states: 1 when created, one more at each
	// edit. A state with a lower or equal Seq than one already seen is
	// stale.
	Seq int64
	// State is running, or a final state.
	State ActivityState
	// Name is the tool's or the task's name (e.g. "flight_search").
	Name string
	// Description says what a task does.
	Description string
	// Parameters are a tool call's parameters, as JSON.
	Parameters json.RawMessage
	// Progress is how far the activity is, from 0 to 1.
	Progress float64
	// Message is the latest word for people, e.g. "Searching for return
	// flights...".
	Message string
	// Result is the result of a completed activity, as JSON.
	Result json.RawMessage
	// Error is why a failed or cancelled activity did not complete.
	Error *ActivityError
	// EstimatedDuration is how long a task is expected to take, zero if
	// unknown.
	EstimatedDuration time.Duration
	// Status is an agent status record's status (e.g. "active",
	// "thinking", "waiting"): free text.
	Status string
	// CurrentTask is what an agent status record says the agent is doing.
	CurrentTask string
	// StartedAt is when the activity started, EndedAt when it reached a
	// final state (zero while running), per its sender's clock.
	StartedAt time.Time
	EndedAt   time.Time
}

// activityWire is the content of an activity record, version 1.
type activityWire struct {
	Kind              ActivityKind    `json:"kind"`
	Seq               int64           `json:"seq"`
	State             ActivityState   `json:"state"`
	Name              string          `json:"name,omitempty"`
	Description       string          `json:"description,omitempty"`
	Parameters        json.RawMessage `json:"parameters,omitempty"`
	Progress          float64         `json:"progress"`
	Message           string          `json:"message,omitempty"`
	Result            json.RawMessage `json:"result,omitempty"`
	Error             *ActivityError  `json:"error,omitempty"`
	EstimatedDuration float64         `json:"estimated_duration,omitempty"` // seconds
	Status            string          `json:"status,omitempty"`
	CurrentTask       string          `json:"current_task,omitempty"`
	StartedAt         *time.Time      `json:"started_at,omitempty"`
	EndedAt           *time.Time      `json:"ended_at,omitempty"`
}

// encodeActivity returns the content of an activity record for r.
func encodeActivity(r *ActivityRecord) (string, error) {
	w := activityWire{
		Kind: r.Kind, Seq: r.Seq, State: r.State, Name: r.Name, Description: r.Description,
		Parameters: r.Parameters, Progress: r.Progress, Message: r.Message, Result: r.Result,
		Error: r.Error, Status: r.Status, CurrentTask: r.CurrentTask,
	}
	if r.EstimatedDuration > 0 {
		w.EstimatedDuration = r.EstimatedDuration.Seconds()
	}
	if !r.StartedAt.IsZero() {
		t := r.StartedAt.UTC().Truncate(time.Millisecond)
		w.StartedAt = &t
	}
	if !r.EndedAt.IsZero() {
		t := r.EndedAt.UTC().Truncate(time.Millisecond)
		w.EndedAt = &t
	}
	b, err := json.Marshal(w)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Errors of DecodeActivity.
var (
	// ErrNotActivity: the message is not an activity record (its content
	// type is not ActivityMediaType).
	ErrNotActivity = errors.New("messaging: not an activity record")
	// ErrActivityVersion: the message is an activity record of a version
	// this SDK does not read. Show it as an ordinary message.
	ErrActivityVersion = errors.New("messaging: activity record of an unknown version")
)

// IsActivity reports whether m's content type names an activity record,
// of any version.
func IsActivity(m *Message) bool {
	if m == nil {
		return false
	}
	media, _, _ := strings.Cut(m.ContentType, ";")
	return strings.EqualFold(strings.TrimSpace(media), ActivityMediaType)
}

// DecodeActivity reads the activity record a message carries. It fails
// with an error matching ErrNotActivity when m is not one, with one
// matching ErrActivityVersion for a version other than ActivityVersion,
// and with one matching ErrMalformed when its content is not a valid
// record (not JSON, an unknown kind or state, a sequence below 1).
func DecodeActivity(m *Message) (ActivityRecord, error) {
	if !IsActivity(m) {
		return ActivityRecord{}, ErrNotActivity
	}
	if m.ContentType != ActivityContentType { // the SDK's own spelling needs no parsing
		_, params, err := mime.ParseMediaType(m.ContentType)
		if err != nil {
			return ActivityRecord{}, fmt.Errorf("%w: message %s: content type %q: %w", ErrMalformed, m.ID, m.ContentType, err)
		}
		if v, ok := params["v"]; ok && v != "1" {
			return ActivityRecord{}, fmt.Errorf("%w: message %s: v=%s, this SDK reads v=%d", ErrActivityVersion, m.ID, v, ActivityVersion)
		}
	}
	var w activityWire
	if err := json.Unmarshal([]byte(m.Content), &w); err != nil {
		return ActivityRecord{}, fmt.Errorf("%w: activity record %s: %w", ErrMalformed, m.ID, err)
	}
	switch {
	case !w.Kind.Valid():
		return ActivityRecord{}, fmt.Errorf("%w: activity record %s: unknown kind %q", ErrMalformed, m.ID, w.Kind)
	case !w.State.Valid():
		return ActivityRecord{}, fmt.Errorf("%w: activity record %s: unknown state %q", ErrMalformed, m.ID, w.State)
	case w.Seq < 1:
		return ActivityRecord{}, fmt.Errorf("%w: activity record %s: seq %d, want 1 or more", ErrMalformed, m.ID, w.Seq)
	}
	r := ActivityRecord{
		ID: m.ID, ConversationID: m.ConversationID, SenderID: m.SenderID, SenderType: m.SenderType,
		RunID: m.RunID, ReplyTo: m.ReplyTo, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt,
		Kind: w.Kind, Seq: w.Seq, State: w.State, Name: w.Name, Description: w.Description,
		Parameters: w.Parameters, Progress: w.Progress, Message: w.Message, Result: w.Result,
		Error: w.Error, Status: w.Status, CurrentTask: w.CurrentTask,
	}
	if w.EstimatedDuration > 0 && w.EstimatedDuration < math.MaxInt64/float64(time.Second) {
		r.EstimatedDuration = time.Duration(w.EstimatedDuration * float64(time.Second))
	}
	if w.StartedAt != nil {
		r.StartedAt = *w.StartedAt
	}
	if w.EndedAt != nil {
		r.EndedAt = *w.EndedAt
	}
	return r, nil
}

// ActivityEventType is the kind of an [ActivityEvent]: the seed's event
// names, plus agent_task_error, which the seed lacks.
type ActivityEventType string

// Activity event types.
const (
	ToolCallStart     ActivityEventType = "tool_call_start"
	ToolCallProgress  ActivityEventType = "tool_call_progress"
	ToolCallComplete  ActivityEventType = "tool_call_complete"
	ToolCallError     ActivityEventType = "tool_call_error"
	AgentTaskStart    ActivityEventType = "agent_task_start"
	AgentTaskProgress ActivityEventType = "agent_task_progress"
	AgentTaskComplete ActivityEventType = "agent_task_complete"
	AgentTaskError    ActivityEventType = "agent_task_error"
	AgentStatusUpdate ActivityEventType = "agent_status_update"
)

// ActivityEvent is one change of an activity, as Socket.OnActivity and
// ActivityTracker.OnChange report it.
type ActivityEvent struct {
	// Type says what happened: a start, a progress, a completion, an
	// error (a failure or a cancellation: see Record.State) or a status
	// update.
	Type ActivityEventType
	// Record is the activity's state after the change.
	Record ActivityRecord
}

// activityEventType returns the event type of record r, first seen
// (start) or not.
func activityEventType(r *ActivityRecord, first bool) ActivityEventType {
	if r.Kind == ActivityAgentStatus {
		return AgentStatusUpdate
	}
	tool := r.Kind == ActivityToolCall
	pick := func(t, k ActivityEventType) ActivityEventType {
		if tool {
			return t
		}
		return k
	}
	switch {
	case r.State == ActivityCompleted:
		return pick(ToolCallComplete, AgentTaskComplete)
	case r.State.Final():
		return pick(ToolCallError, AgentTaskError)
	case first:
		return pick(ToolCallStart, AgentTaskStart)
	}
	return pick(ToolCallProgress, AgentTaskProgress)
}

// OnActivity registers h for the activity records the socket receives:
// a message:new carrying one is a start (or, for a record created in a
// final state, its completion or error), a message:updated a progress, a
// completion or an error, by the record's state; agent status records are
// status updates. It is built on OnMessage and OnMessageUpdate and runs
// like them, on the socket's dispatcher goroutine. Records that cannot be
// read (malformed, another version) are skipped. The events are as the
// service sends them, unordered across a reconnection: an
// [ActivityTracker] puts them in order and fills in what a disconnection
// missed. It returns a function that unsubscribes h.
func (s *Socket) OnActivity(h func(ActivityEvent)) (off func()) {
	if h == nil {
		return func() {}
	}
	deliver := func(m *Message, first bool) {
		if !IsActivity(m) {
			return
		}
		r, err := DecodeActivity(m)
		if err != nil {
			return
		}
		h(ActivityEvent{Type: activityEventType(&r, first), Record: r})
	}
	offNew := s.OnMessage(func(m *Message) { deliver(m, true) })
	offUpd := s.OnMessageUpdate(func(m *Message) { deliver(m, false) })
	return func() {
		offNew()
		offUpd()
	}
}
