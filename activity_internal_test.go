package messaging

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/symbia-labs/messaging-go/internal/emitter"
)

const (
	atConv  = "c0c0c0c0-0000-4000-8000-000000000001"
	atAgent = "a9e00000-0000-4000-8000-000000000002"
	atTool  = "70010000-0000-4000-8000-000000000003"
	atTask  = "7a5c0000-0000-4000-8000-000000000004"
)

// atRecord returns the message of one state of an activity record.
func atRecord(t *testing.T, id string, kind ActivityKind, seq int64, state ActivityState, progress float64, msg string) *Message {
	t.Helper()
	content, err := encodeActivity(&ActivityRecord{Kind: kind, Seq: seq, State: state, Name: "flight_search",
		Progress: progress, Message: msg})
	require.NoError(t, err)
	return &Message{ID: id, ConversationID: atConv, SenderID: atAgent, SenderType: SenderAgent,
		Content: content, ContentType: ActivityContentType, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// newBareTracker returns a tracker fed by hand, with no socket.
func newBareTracker() (*ActivityTracker, *[]ActivityEvent) {
	t := &ActivityTracker{convs: make(map[string]*activityConv)}
	var evs []ActivityEvent
	t.OnChange(func(e ActivityEvent) { evs = append(evs, e) })
	return t, &evs
}

func eventTypes(evs []ActivityEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s %s %.2f", e.Type, e.Record.State, e.Record.Progress))
	}
	return out
}

func TestActivityContentTypeFitsTheService(t *testing.T) {
	// The service's content_type column is VARCHAR(50).
	assert.LessOrEqual(t, len(ActivityContentType), 50)
	assert.Equal(t, "application/vnd.symbia.activity+json;v=1", ActivityContentType)
}

func TestActivityTrackerOrdering(t *testing.T) {
	tr, evs := newBareTracker()
	tr.message(atRecord(t, atTool, ActivityToolCall, 1, ActivityRunning, 0, "starting"))
	tr.message(atRecord(t, atTool, ActivityToolCall, 3, ActivityRunning, 0.5, "half"))
	// An older state arriving late (e.g. from a history page) is ignored.
	tr.message(atRecord(t, atTool, ActivityToolCall, 2, ActivityRunning, 0.25, "quarter"))
	// A repeat is ignored.
	tr.message(atRecord(t, atTool, ActivityToolCall, 3, ActivityRunning, 0.5, "half"))
	tr.message(atRecord(t, atTool, ActivityToolCall, 5, ActivityCompleted, 1, "done"))
	// A late progress after the completion is ignored, even with a higher
	// sequence: a finished activity never runs again.
	tr.message(atRecord(t, atTool, ActivityToolCall, 4, ActivityRunning, 0.75, "late"))
	tr.message(atRecord(t, atTool, ActivityToolCall, 6, ActivityRunning, 0.8, "later"))

	assert.Equal(t, []string{
		"tool_call_start running 0.00",
		"tool_call_progress running 0.50",
		"tool_call_complete completed 1.00",
	}, eventTypes(*evs))
	assert.Empty(t, tr.Activities(atConv))
	got, ok := tr.Get(atTool)
	require.True(t, ok)
	assert.Equal(t, ActivityCompleted, got.State)
	assert.Equal(t, "done", got.Message)
	assert.EqualValues(t, 5, got.Seq)
}

func TestActivityTrackerFirstSeenByAnEdit(t *testing.T) {
	tr, evs := newBareTracker()
	// The creation was missed: the first edit seen starts the activity.
	tr.message(atRecord(t, atTask, ActivityTask, 4, ActivityRunning, 0.4, "going"))
	running := tr.Activities(atConv)
	require.Len(t, running, 1)
	assert.Equal(t, 0.4, running[0].Progress)
	// Seen first in a final state (e.g. from history): its end only.
	tr.message(atRecord(t, atTool, ActivityToolCall, 3, ActivityFailed, 0.1, "boom"))
	assert.Equal(t, []string{"agent_task_start running 0.40", "tool_call_error failed 0.10"}, eventTypes(*evs))
}

func TestActivityTrackerIgnoresWhatItCannotRead(t *testing.T) {
	tr, evs := newBareTracker()
	m := atRecord(t, atTool, ActivityToolCall, 1, ActivityRunning, 0, "")
	m.ContentType = ActivityMediaType + ";v=2"
	tr.message(m)
	m = atRecord(t, atTool, ActivityToolCall, 1, ActivityRunning, 0, "")
	m.Content = "not json"
	tr.message(m)
	m = atRecord(t, atTool, ActivityToolCall, 1, ActivityRunning, 0, "")
	m.ContentType = "text"
	tr.message(m)
	assert.Empty(t, *evs)
}

func TestActivityTrackerForgetsDeletedRecords(t *testing.T) {
	tr, _ := newBareTracker()
	tr.message(atRecord(t, atTool, ActivityToolCall, 1, ActivityRunning, 0, ""))
	tr.forget(atConv, atTool)
	_, ok := tr.Get(atTool)
	assert.False(t, ok)
}

func TestActivityTrackerKeepsFinishedBounded(t *testing.T) {
	tr, _ := newBareTracker()
	for i := range activityKeepFinished + 10 {
		id := fmt.Sprintf("70010000-0000-4000-8000-%012d", i)
		tr.message(atRecord(t, id, ActivityToolCall, 2, ActivityCompleted, 1, ""))
	}
	assert.Len(t, tr.convs[atConv].recs, activityKeepFinished)
	_, ok := tr.Get("70010000-0000-4000-8000-000000000000")
	assert.False(t, ok, "the oldest finished records are dropped")
}

func TestDecodeActivity(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	in := ActivityRecord{Kind: ActivityTask, Seq: 2, State: ActivityFailed, Name: "Flight Search",
		Description: "NYC to PAR", EstimatedDuration: 30 * time.Second, Progress: 0.8, Message: "m",
		Error: &ActivityError{Code: "EXTERNAL_API_ERROR", Message: "down", Retryable: true}, StartedAt: start,
		EndedAt: start.Add(time.Second)}
	content, err := encodeActivity(&in)
	require.NoError(t, err)
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(content), &raw))
	assert.Equal(t, 30.0, raw["estimated_duration"], "seconds, as the seed")
	assert.Equal(t, "failed", raw["state"])

	m := &Message{ID: atTask, ConversationID: atConv, SenderID: atAgent, RunID: atTool, Content: content,
		ContentType: " Application/Vnd.Symbia.Activity+JSON ; v=1"}
	out, err := DecodeActivity(m)
	require.NoError(t, err)
	in.ID, in.ConversationID, in.SenderID, in.RunID = atTask, atConv, atAgent, atTool
	assert.Equal(t, in, out)

	_, err = DecodeActivity(&Message{ContentType: "text", Content: "{}"})
	assert.ErrorIs(t, err, ErrNotActivity)
	_, err = DecodeActivity(&Message{ContentType: ActivityMediaType + ";v=2", Content: content})
	assert.ErrorIs(t, err, ErrActivityVersion)
	for _, bad := range []string{"", "[]", `{"kind":"tool_call","seq":1,"state":"paused"}`,
		`{"kind":"dance","seq":1,"state":"running"}`, `{"kind":"task","seq":0,"state":"running"}`,
		`{"kind":"task","seq":1,"state":"running"} trailing`} {
		_, err = DecodeActivity(&Message{ContentType: ActivityContentType, Content: bad})
		assert.ErrorIs(t, err, ErrMalformed, "content %q", bad)
	}
	// No version parameter reads as version 1.
	_, err = DecodeActivity(&Message{ContentType: ActivityMediaType, Content: content})
	assert.NoError(t, err)
	assert.False(t, IsActivity(nil))
	assert.False(t, errors.Is(ErrActivityVersion, ErrNotActivity))
}

func benchRecord(b *testing.B) *Message {
	content, err := encodeActivity(&ActivityRecord{Kind: ActivityToolCall, Seq: 3, State: ActivityRunning,
		Name: "flight_search", Parameters: json.RawMessage(`{"origin":"NYC","destination":"PAR","departure_date":"2025-06-01"}`),
		Progress: 0.75, Message: "Searching for return flights...", StartedAt: time.Now()})
	require.NoError(b, err)
	return &Message{ID: atTool, ConversationID: atConv, SenderID: atAgent, Content: content, ContentType: ActivityContentType}
}

func BenchmarkDecodeActivity(b *testing.B) {
	m := benchRecord(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeActivity(m); err != nil {
			b.Fatal(err)
		}
	}
}

// One live progress state through a tracker: decode, order check, store,
// report.
func BenchmarkActivityTrackerProgress(b *testing.B) {
	tr, _ := newBareTracker()
	tr.changes = emitter.List[ActivityEvent]{}
	tr.OnChange(func(ActivityEvent) {})
	m := benchRecord(b)
	var w activityWire
	require.NoError(b, json.Unmarshal([]byte(m.Content), &w))
	msgs := make([]Message, 1024)
	for i := range msgs {
		w.Seq = int64(i + 1)
		c, _ := json.Marshal(w)
		msgs[i] = *m
		msgs[i].Content = string(c)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(msgs) {
			tr.forget(atConv, atTool)
			i = 0
		}
		tr.message(&msgs[i])
		i++
	}
}
