package timeline_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"
	"github.com/symbia-labs/messaging-go/timeline"
)

// conflict makes alice's other device edit a message to "server" while
// the timeline's own edit to "local" is pending: the server, slowed down,
// applies the other device's edit first, so the timeline hears of it
// before the echo of its own. It returns the timeline's edit's error, once
// the view has settled.
func conflict(t *testing.T, e *env, tl *timeline.Timeline, id string) error {
	t.Helper()
	other := e.socket(aliceTok)
	const latency, gap = 250 * time.Millisecond, 80 * time.Millisecond
	e.srv.SetLatency(latency)
	otherDone := make(chan error, 1)
	go func() {
		_, err := other.EditMessage(ctxFor(t), id, "server")
		otherDone <- err
	}()
	time.Sleep(gap) // the other device's edit reaches the server first
	_, err := tl.Edit(ctxFor(t), id, "local")
	require.NoError(t, <-otherDone)
	e.srv.SetLatency(0)
	eventually(t, "settled", func() bool { return tl.Pending() == 0 })
	return err
}

func TestConflictServerWins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.send(aliceTok, "original")
	tl, _ := e.timeline() // ServerWins is the default
	r := record(t, tl)
	require.NoError(t, conflict(t, e, tl, m.ID))

	c := r.wait(t, "conflict", func(c timeline.Change) bool { return c.Cause == timeline.CauseConflict })
	require.NotNil(t, c.Conflict)
	assert.Equal(t, "local", c.Conflict.Local.Content)
	assert.Equal(t, "server", c.Conflict.Server.Content)
	assert.Equal(t, m.ID, c.Conflict.MessageID)

	// The server's content survives: the timeline wrote it back after its
	// own edit landed.
	eventually(t, "server content everywhere", func() bool {
		got, _ := tl.Get(m.ID)
		return got.Message.Content == "server" && got.State == timeline.Confirmed &&
			e.history(aliceTok)[0].Content == "server"
	})
	assert.Empty(t, tl.Conflicts())
}

func TestConflictClientWins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.send(aliceTok, "original")
	tl, _ := e.timeline(timeline.WithResolver(timeline.ClientWins))
	r := record(t, tl)
	require.NoError(t, conflict(t, e, tl, m.ID))
	r.wait(t, "conflict", func(c timeline.Change) bool { return c.Cause == timeline.CauseConflict })
	eventually(t, "local content everywhere", func() bool {
		got, _ := tl.Get(m.ID)
		return got.Message.Content == "local" && got.State == timeline.Confirmed &&
			e.history(aliceTok)[0].Content == "local"
	})
}

func TestConflictLastWriterWins(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		skew time.Duration // of the server's clock
		want string
	}{
		{"server clock behind: local is later", -time.Hour, "local"},
		{"server clock ahead: server is later", time.Hour, "server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, messagingtest.WithClock(func() time.Time { return time.Now().Add(tc.skew) }))
			m := e.send(aliceTok, "original")
			tl, _ := e.timeline(timeline.WithResolver(timeline.LastWriterWins))
			r := record(t, tl)
			require.NoError(t, conflict(t, e, tl, m.ID))
			r.wait(t, "conflict", func(c timeline.Change) bool { return c.Cause == timeline.CauseConflict })
			eventually(t, tc.want+" everywhere", func() bool {
				got, _ := tl.Get(m.ID)
				return got.Message.Content == tc.want && got.State == timeline.Confirmed &&
					e.history(aliceTok)[0].Content == tc.want
			})
		})
	}
}

func TestConflictCustomMerge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.send(aliceTok, "original")
	merge := func(c timeline.Conflict) timeline.Resolution {
		return timeline.Resolution{Choice: timeline.UseContent, Content: c.Server.Content + "+" + c.Local.Content}
	}
	tl, _ := e.timeline(timeline.WithResolver(merge))
	require.NoError(t, conflict(t, e, tl, m.ID))
	eventually(t, "merged everywhere", func() bool {
		got, _ := tl.Get(m.ID)
		return got.Message.Content == "server+local" && got.State == timeline.Confirmed &&
			e.history(aliceTok)[0].Content == "server+local"
	})
}

func TestConflictManualThenResolve(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.send(aliceTok, "original")
	tl, _ := e.timeline(timeline.WithResolver(timeline.Manual))
	require.NoError(t, conflict(t, e, tl, m.ID))

	// Unresolved: listed, and the view shows what the server has (the
	// timeline's edit landed last).
	cs := tl.Conflicts()
	require.Len(t, cs, 1)
	assert.Equal(t, "local", cs[0].Local.Content)
	assert.Equal(t, "server", cs[0].Server.Content)
	got, _ := tl.Get(m.ID)
	assert.Equal(t, "local", got.Message.Content)
	assert.Equal(t, timeline.Confirmed, got.State)
	require.NotNil(t, got.Conflict)
	assert.Zero(t, tl.Pending(), "a deferred conflict is not a pending change")

	err := tl.Resolve(ctxFor(t), m.ID, timeline.Resolution{Choice: timeline.Defer})
	assert.ErrorIs(t, err, messaging.ErrInvalidArgument)

	require.NoError(t, tl.Resolve(ctxFor(t), m.ID, timeline.Resolution{Choice: timeline.UseServer}))
	assert.Empty(t, tl.Conflicts())
	got, _ = tl.Get(m.ID)
	assert.Equal(t, "server", got.Message.Content)
	assert.Nil(t, got.Conflict)
	assert.Equal(t, "server", e.history(aliceTok)[0].Content)
	assert.ErrorIs(t, tl.Resolve(ctxFor(t), m.ID, timeline.Resolution{Choice: timeline.UseLocal}), timeline.ErrNoConflict)
}

func TestNoConflictForOwnEchoes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.send(aliceTok, "v0")
	tl, _ := e.timeline(timeline.WithResolver(func(timeline.Conflict) timeline.Resolution {
		t.Error("resolver called without a conflict")
		return timeline.Resolution{}
	}))
	// Many quick edits of one message: every echo is the timeline's own.
	e.srv.SetLatency(20 * time.Millisecond)
	errs := make(chan error, 5)
	for i := 1; i <= 5; i++ {
		go func() {
			_, err := tl.Edit(ctxFor(t), m.ID, "v"+string(rune('0'+i)))
			errs <- err
		}()
	}
	for range 5 {
		require.NoError(t, <-errs)
	}
	e.srv.SetLatency(0)
	require.NoError(t, tl.Sync(ctxFor(t)))
	got, _ := tl.Get(m.ID)
	assert.Equal(t, e.history(aliceTok)[0].Content, got.Message.Content)
	assert.Empty(t, tl.Conflicts())
}
