package timeline_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/timeline"
)

// Activity records are entries of the view, like any message, kept
// current by their edits: a view renders them with DecodeActivity.
func TestActivityRecordsAreEntriesKeptCurrent(t *testing.T) {
	e := newEnv(t)
	tl, _ := e.timeline()
	r := record(t, tl)

	bob := e.socket(bobTok)
	run, err := bob.Run(ctxFor(t), e.conv, "", messaging.WithRunPrincipal(bobID))
	require.NoError(t, err)
	defer run.End()
	call, err := run.StartToolCall(ctxFor(t), messaging.ToolCallParams{Name: "flight_search"})
	require.NoError(t, err)
	r.wait(t, "record added", func(c timeline.Change) bool { return c.Kind == timeline.Added })
	require.NoError(t, call.Complete(ctxFor(t), map[string]int{"flights_found": 25}))
	c := r.wait(t, "record completed", func(c timeline.Change) bool {
		if c.Kind != timeline.Updated {
			return false
		}
		rec, err := messaging.DecodeActivity(&c.Entry.Message)
		return err == nil && rec.State == messaging.ActivityCompleted
	})
	assert.True(t, messaging.IsActivity(&c.Entry.Message))

	msgs := tl.Messages()
	require.Len(t, msgs, 1)
	rec, err := messaging.DecodeActivity(&msgs[0].Message)
	require.NoError(t, err)
	assert.Equal(t, call.ID(), rec.ID)
	assert.JSONEq(t, `{"flights_found":25}`, string(rec.Result))
}
