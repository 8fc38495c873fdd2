package messaging_test

// Tests of Stream against messagingtest: an agent streams a reply while
// another client pauses, resumes, preempts or cancels it.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
)

// issues records the sends and edits a run's streams make, with when
// they were issued.
type issues struct {
	mu       sync.Mutex
	at       []time.Time
	contents []string
}

func recordIssues(r *messaging.Run) *issues {
	is := &issues{}
	messaging.SetRunIssueHook(r, func(content string) {
		is.mu.Lock()
		defer is.mu.Unlock()
		is.at = append(is.at, time.Now())
		is.contents = append(is.contents, content)
	})
	return is
}

func (is *issues) snapshot() ([]time.Time, []string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	return slices.Clone(is.at), slices.Clone(is.contents)
}

func (is *issues) len() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return len(is.at)
}

// gaps returns the shortest and the mean time between consecutive times.
func gaps(at []time.Time) (shortest, mean time.Duration) {
	if len(at) < 2 {
		return 0, 0
	}
	shortest = time.Duration(1<<63 - 1)
	for i := 1; i < len(at); i++ {
		shortest = min(shortest, at[i].Sub(at[i-1]))
	}
	return shortest, at[len(at)-1].Sub(at[0]) / time.Duration(len(at)-1)
}

// updates counts the message:updated events a socket receives for one
// message, with their times and the last content.
type updates struct {
	mu   sync.Mutex
	id   string
	at   []time.Time
	last string
}

func watchUpdates(s *messaging.Socket) *updates {
	u := &updates{}
	s.OnMessageUpdate(func(m *messaging.Message) {
		u.mu.Lock()
		defer u.mu.Unlock()
		if u.id == "" || m.ID == u.id {
			u.at = append(u.at, time.Now())
			u.last = m.Content
		}
	})
	return u
}

func (u *updates) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.at)
}

func (u *updates) content() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

func chunk(i int) string { return fmt.Sprintf("w%03d ", i) }

// The acceptance test of issue 8: an agent streaming 200 chunks is paused
// and resumed by a second client. No edit arrives while paused, and all
// the content arrives after the resume.
func TestStreamPausedAndResumedByAnotherClient(t *testing.T) {
	e := newRTEnv(t)
	agent := e.connect(rtAgentTok)
	user := e.connect(rtUserTok)
	seen := watchUpdates(user)

	r, err := agent.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal())
	require.NoError(t, err)
	defer r.End()
	is := recordIssues(r)
	var pausedAt, resumedAt atomic.Pointer[time.Time]
	paused, resumed := make(chan struct{}), make(chan struct{})
	r.OnStateChange(func(c messaging.RunStateChange) {
		now := time.Now()
		switch {
		case c.Current == messaging.RunPaused:
			pausedAt.Store(&now)
			close(paused)
		case c.Previous == messaging.RunPaused && c.Current == messaging.RunRunning:
			resumedAt.Store(&now)
			close(resumed)
		}
	})

	st, err := r.Stream(e.ctx, messaging.StreamParams{})
	require.NoError(t, err)
	var want strings.Builder
	for i := range 200 {
		want.WriteString(chunk(i))
	}
	var written atomic.Int64
	done := make(chan error, 1)
	go func() {
		for i := range 200 {
			if _, err := st.WriteString(chunk(i)); err != nil {
				done <- err
				return
			}
			written.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
		done <- st.Close()
	}()

	eventually(t, "50 chunks are written", func() bool { return written.Load() >= 50 })
	e.control(user, messaging.ControlParams{Event: "pause", RunID: r.ID(), Reason: "let me read"})
	rtRecv(t, paused)
	// Sends issued before the pause was known may still be on their way:
	// wait until the user has them all (the first is the message:new).
	n := is.len()
	eventually(t, "the edits issued before the pause arrive", func() bool { return seen.count() >= n-1 })
	atPause, seenAtPause := written.Load(), seen.count()
	time.Sleep(300 * time.Millisecond) // three flush intervals
	assert.Equal(t, n, is.len(), "no send is issued while paused")
	assert.Equal(t, seenAtPause, seen.count(), "no edit arrives while paused")
	assert.LessOrEqual(t, written.Load()-atPause, int64(1), "writes block while paused (one may have been under way)")
	assert.Less(t, written.Load(), int64(200))

	// The run resumes after this and before its handler hears of it: a
	// send may rightly be issued in between.
	resumeSent := time.Now()
	e.control(user, messaging.ControlParams{Event: "resume", RunID: r.ID()})
	rtRecv(t, resumed)
	require.NoError(t, rtRecv(t, done))
	assert.Equal(t, want.String(), st.Content())
	stored := e.stored(st.ID())
	assert.Equal(t, want.String(), stored.Content, "all content after the resume")
	assert.True(t, stored.Interruptible)
	assert.Equal(t, r.ID(), stored.RunID)
	assert.Equal(t, r.TraceID(), stored.TraceID)
	assert.Equal(t, true, stored.Metadata[messaging.StreamMetadataKey])
	eventually(t, "the user sees the whole content", func() bool { return seen.content() == want.String() })

	at, _ := is.snapshot()
	p, q := *pausedAt.Load(), *resumedAt.Load()
	for _, a := range at {
		// An edit decided before the pause was processed may be issued
		// within microseconds after it.
		assert.False(t, a.After(p.Add(5*time.Millisecond)) && a.Before(resumeSent), "a send issued %v after the pause", a.Sub(p))
	}
	shortest, mean := gaps(at)
	t.Logf("200 chunks: %d sends, pause held %v; gap between sends: shortest %v, mean %v (interval %v)",
		len(at), q.Sub(p).Round(time.Millisecond), shortest, mean, messaging.DefaultFlushInterval)
	assert.GreaterOrEqual(t, shortest, messaging.DefaultFlushInterval)
}

// A preemption ends the stream at once, with the right cause, and the
// stored message holds exactly what was flushed.
func TestStreamPreemptedKeepsWhatWasFlushed(t *testing.T) {
	e := newRTEnv(t)
	agent := e.connect(rtAgentTok)
	user := e.connect(rtUserTok)
	r, err := agent.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal())
	require.NoError(t, err)
	defer r.End()
	is := recordIssues(r)
	// The run's own context: a send under way when it is cancelled still
	// completes, so Content stays exact.
	st, err := r.Stream(r.Context(), messaging.StreamParams{FlushInterval: 20 * time.Millisecond})
	require.NoError(t, err)

	type result struct {
		err     error
		at      time.Time
		written string
	}
	done := make(chan result, 1)
	go func() {
		var w strings.Builder
		for i := 0; ; i++ {
			if _, err := st.WriteString(chunk(i)); err != nil {
				done <- result{err, time.Now(), w.String()}
				return
			}
			w.WriteString(chunk(i))
			time.Sleep(time.Millisecond)
		}
	}()
	eventually(t, "a few edits are made", func() bool { return is.len() >= 4 })

	question, err := user.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: e.conv, Content: "stop, another question"})
	require.NoError(t, err)
	start := time.Now()
	e.control(user, messaging.ControlParams{Event: "preempt", RunID: r.ID(), PreemptedBy: question.ID, Reason: "new question"})
	res := rtRecv(t, done)
	latency := res.at.Sub(start)
	t.Logf("preempt: the writer failed %v after the control was sent", latency)
	assert.Less(t, latency, 2*time.Second, "generous bound; the figure is logged")

	require.ErrorIs(t, res.err, messaging.ErrRunPreempted)
	var rs *messaging.RunStoppedError
	require.ErrorAs(t, res.err, &rs)
	assert.Equal(t, question.ID, rs.PreemptedBy)
	assert.Equal(t, "new question", rs.Reason)
	assert.Equal(t, messaging.RunPreempted, r.State())
	assert.ErrorIs(t, context.Cause(r.Context()), messaging.ErrRunPreempted)

	assert.ErrorIs(t, st.Close(), messaging.ErrRunPreempted)
	assert.ErrorIs(t, st.Close(), messaging.ErrRunPreempted, "Close is idempotent")
	flushed := st.Content()
	_, contents := is.snapshot()
	assert.Equal(t, contents[len(contents)-1], flushed, "the last send issued completed")
	assert.Equal(t, flushed, e.stored(st.ID()).Content, "the stored message holds exactly the flushed text")
	assert.True(t, strings.HasPrefix(res.written, flushed))
	t.Logf("preempt: %d bytes written, %d flushed", len(res.written), len(flushed))

	_, err = st.WriteString("more")
	assert.ErrorIs(t, err, messaging.ErrRunPreempted)
	n := is.len()
	time.Sleep(60 * time.Millisecond) // three flush intervals
	assert.Equal(t, n, is.len(), "nothing is sent after the preemption")
	assert.Equal(t, flushed, e.stored(st.ID()).Content)
}

// A cancel cancels the run's context, the stream's writes fail with it,
// and the agent stops typing.
func TestStreamCancelled(t *testing.T) {
	e := newRTEnv(t)
	agent := e.connect(rtAgentTok)
	user := e.connect(rtUserTok)
	typing := make(chan bool, 100)
	user.OnTypingStart(func(ev messaging.TypingEvent) {
		if ev.UserID == rtAgentID {
			typing <- true
		}
	})
	user.OnTypingStop(func(ev messaging.TypingEvent) {
		if ev.UserID == rtAgentID {
			typing <- false
		}
	})
	r, err := agent.Run(e.ctx, e.conv, "")
	require.NoError(t, err)
	defer r.End()
	st, err := r.Stream(e.ctx, messaging.StreamParams{})
	require.NoError(t, err)
	_, err = st.WriteString("Let me think")
	require.NoError(t, err)
	require.NoError(t, st.Flush(e.ctx))
	assert.True(t, rtRecv(t, typing), "the agent types while streaming")

	e.control(user, messaging.ControlParams{Event: "cancel", Reason: "never mind",
		Target: &messaging.ControlTarget{PrincipalID: rtAgentID, PrincipalType: messaging.UserTypeAgent}})
	select {
	case <-r.Context().Done():
	case <-time.After(rtWait):
		t.Fatal("the run's context was not cancelled")
	}
	assert.ErrorIs(t, context.Cause(r.Context()), messaging.ErrRunCancelled)
	_, err = st.WriteString(" about it")
	assert.ErrorIs(t, err, messaging.ErrRunCancelled)
	assert.ErrorIs(t, st.Close(), messaging.ErrRunCancelled)
	assert.False(t, rtRecv(t, typing), "the agent stops typing")
	assert.Equal(t, "Let me think", e.stored(st.ID()).Content)
}

// A handoff ends the stream with the target in the cause.
func TestStreamHandedOff(t *testing.T) {
	e := newRTEnv(t)
	agent := e.connect(rtAgentTok)
	user := e.connect(rtUserTok)
	r, err := agent.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal())
	require.NoError(t, err)
	defer r.End()
	st, err := r.Stream(e.ctx, messaging.StreamParams{})
	require.NoError(t, err)
	_, err = st.WriteString("Your invoice")
	require.NoError(t, err)
	require.NoError(t, st.Flush(e.ctx))
	e.control(user, messaging.ControlParams{Event: "handoff", RunID: r.ID(),
		Target: &messaging.ControlTarget{PrincipalID: "agent:billing", PrincipalType: messaging.UserTypeAgent}})
	eventually(t, "the run is handed off", func() bool { return r.State() == messaging.RunHandedOff })
	_, err = st.WriteString(" is ready")
	require.ErrorIs(t, err, messaging.ErrRunHandedOff)
	err = st.Close()
	require.ErrorIs(t, err, messaging.ErrRunHandedOff)
	var rs *messaging.RunStoppedError
	require.ErrorAs(t, err, &rs)
	require.NotNil(t, rs.Target)
	assert.Equal(t, "agent:billing", rs.Target.PrincipalID)
	assert.Equal(t, "Your invoice", e.stored(st.ID()).Content)
}

// The edit rate never exceeds the flush interval, measured where the
// edits are issued; the receiver's view is logged.
func TestStreamEditRateNeverExceedsTheInterval(t *testing.T) {
	e := newRTEnv(t)
	agent := e.connect(rtAgentTok)
	user := e.connect(rtUserTok)
	seen := watchUpdates(user)
	r, err := agent.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal())
	require.NoError(t, err)
	defer r.End()
	is := recordIssues(r)
	const interval = 40 * time.Millisecond
	st, err := r.Stream(e.ctx, messaging.StreamParams{FlushInterval: interval, NoTyping: true})
	require.NoError(t, err)
	begin := time.Now()
	var want strings.Builder
	for i := 0; time.Since(begin) < 500*time.Millisecond; i++ {
		_, err := st.WriteString(chunk(i))
		require.NoError(t, err)
		want.WriteString(chunk(i))
		time.Sleep(500 * time.Microsecond)
	}
	require.NoError(t, st.Close())
	elapsed := time.Since(begin)
	assert.Equal(t, want.String(), e.stored(st.ID()).Content)

	at, _ := is.snapshot()
	shortest, mean := gaps(at)
	eventually(t, "the user has every edit", func() bool { return seen.count() == len(at)-1 })
	seen.mu.Lock()
	rshort, rmean := gaps(seen.at)
	seen.mu.Unlock()
	t.Logf("interval %v: %d sends in %v; issued gaps shortest %v, mean %v; received gaps shortest %v, mean %v",
		interval, len(at), elapsed.Round(time.Millisecond), shortest, mean, rshort, rmean)
	assert.GreaterOrEqual(t, shortest, interval)
	assert.LessOrEqual(t, len(at), int(elapsed/interval)+2)
	assert.Greater(t, len(at), 3, "the content is sent as it grows, not only at Close")
}

// Text goes out in whole characters; Flush waits for what was written;
// a stream never written to sends nothing.
func TestStreamFlushCloseAndUTF8(t *testing.T) {
	e := newRTEnv(t)
	agent := e.connect(rtAgentTok)
	r, err := agent.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal())
	require.NoError(t, err)
	defer r.End()
	before := len(e.srv.Messages(e.conv))

	empty, err := r.Stream(e.ctx, messaging.StreamParams{})
	require.NoError(t, err)
	require.NoError(t, empty.Close())
	assert.Nil(t, empty.Message())
	_, err = empty.WriteString("late")
	assert.ErrorIs(t, err, messaging.ErrClosed)
	assert.Len(t, e.srv.Messages(e.conv), before, "nothing is sent for an empty stream")

	const id = "c0ffee00-1111-4111-8111-111111111111"
	st, err := r.Stream(e.ctx, messaging.StreamParams{ID: id, Metadata: map[string]any{"model": "m1"}, NoTyping: true})
	require.NoError(t, err)
	assert.Equal(t, id, st.ID())
	e9 := []byte("é") // two bytes
	_, err = st.Write(e9[:1])
	require.NoError(t, err)
	require.NoError(t, st.Flush(e.ctx), "nothing whole to flush yet")
	assert.Nil(t, st.Message())
	_, err = st.Write(append(e9[1:], '!'))
	require.NoError(t, err)
	require.NoError(t, st.Flush(e.ctx))
	require.NotNil(t, st.Message())
	assert.Equal(t, "é!", st.Content())
	assert.Equal(t, "é!", st.Message().Content)
	_, err = st.Write([]byte{0xe2, 0x82}) // the first two bytes of "€", never completed
	require.NoError(t, err)
	require.NoError(t, st.Close())
	got := e.stored(id)
	assert.Equal(t, "é!\uFFFD", got.Content, "at Close, an incomplete character is sent as U+FFFD")
	assert.Equal(t, got.Content, st.Content())
	assert.Equal(t, map[string]any{"model": "m1", messaging.StreamMetadataKey: true}, got.Metadata)

	_, err = r.Stream(e.ctx, messaging.StreamParams{ID: "not-a-uuid"})
	assert.ErrorIs(t, err, messaging.ErrInvalidArgument)
	_, err = r.Stream(e.ctx, messaging.StreamParams{FlushInterval: -time.Second})
	assert.ErrorIs(t, err, messaging.ErrInvalidArgument)
	_, err = r.Stream(e.ctx, messaging.StreamParams{ContentType: messaging.ContentTypeEvent})
	assert.ErrorIs(t, err, messaging.ErrInvalidArgument)
}

// When the stream's context ends, writes fail with its cause.
func TestStreamContextEnds(t *testing.T) {
	e := newRTEnv(t)
	agent := e.connect(rtAgentTok)
	r, err := agent.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal())
	require.NoError(t, err)
	defer r.End()
	ctx, cancel := context.WithCancelCause(e.ctx)
	st, err := r.Stream(ctx, messaging.StreamParams{})
	require.NoError(t, err)
	_, err = st.WriteString("partial")
	require.NoError(t, err)
	require.NoError(t, st.Flush(e.ctx))
	stop := errors.New("client went away")
	cancel(stop)
	_, err = st.WriteString(" more")
	assert.ErrorIs(t, err, stop)
	assert.ErrorIs(t, st.Close(), stop)
	assert.Equal(t, "partial", e.stored(st.ID()).Content)
	assert.Equal(t, messaging.RunRunning, r.State(), "the run goes on")
}

// End while a stream is open stops it without sending what it holds.
func TestStreamStopsWhenTheRunEnds(t *testing.T) {
	e := newRTEnv(t)
	agent := e.connect(rtAgentTok)
	r, err := agent.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal())
	require.NoError(t, err)
	st, err := r.Stream(e.ctx, messaging.StreamParams{FlushInterval: time.Hour})
	require.NoError(t, err)
	_, err = st.WriteString("first")
	require.NoError(t, err)
	require.NoError(t, st.Flush(e.ctx))
	_, err = st.WriteString(" held back by the interval")
	require.NoError(t, err)
	r.End()
	assert.ErrorIs(t, st.Close(), messaging.ErrRunEnded)
	assert.Equal(t, "first", st.Content())
	assert.Equal(t, "first", e.stored(st.ID()).Content)
}

// BenchmarkStreamPreemptLatency measures the time from sending a
// stream.preempt to the agent's next write failing (ns/op).
func BenchmarkStreamPreemptLatency(b *testing.B) {
	e := newRTEnv(b)
	agent := e.connect(rtAgentTok)
	user := e.connect(rtUserTok)
	var total time.Duration
	for b.Loop() {
		r, err := agent.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal())
		if err != nil {
			b.Fatal(err)
		}
		st, err := r.Stream(e.ctx, messaging.StreamParams{NoTyping: true})
		if err != nil {
			b.Fatal(err)
		}
		failed := make(chan time.Time, 1)
		go func() {
			for {
				if _, err := st.WriteString("tok "); err != nil {
					failed <- time.Now()
					return
				}
				time.Sleep(100 * time.Microsecond)
			}
		}()
		start := time.Now()
		if _, err := user.SendControl(e.ctx, e.conv, messaging.ControlParams{Event: "preempt", RunID: r.ID()}); err != nil {
			b.Fatal(err)
		}
		total += (<-failed).Sub(start)
		_ = st.Close()
		r.End()
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/preempt")
}

// Two streams of one socket in one conversation share the typing
// indicator: it stops when the last one ends, and only then do receivers
// take both as complete.
//
// What the user's socket sees is recorded in one log, in the order its
// dispatcher handles it, and a plain message serves as the barrier through
// the assembler itself: whatever the user saw before the barrier's own
// chunk came first, so the check does not depend on timing or on telling
// the barrier's chunk apart from the others.
func TestStreamsShareTheTypingIndicator(t *testing.T) {
	e := newRTEnv(t)
	agent := e.connect(rtAgentTok)
	user := e.connect(rtUserTok)
	seen := make(chan string, 100)
	user.OnTypingStop(func(ev messaging.TypingEvent) { seen <- "typing stopped by " + ev.UserID })
	defer messaging.NewChunkAssembler(func(c messaging.Chunk) {
		if c.Complete {
			seen <- "complete " + c.MessageID
		}
	}).Attach(user)()

	var streams []*messaging.Stream
	for range 2 {
		r, err := agent.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal())
		require.NoError(t, err)
		defer r.End()
		st, err := r.Stream(e.ctx, messaging.StreamParams{})
		require.NoError(t, err)
		_, err = st.WriteString("partial answer")
		require.NoError(t, err)
		require.NoError(t, st.Flush(e.ctx))
		streams = append(streams, st)
	}
	assert.Equal(t, 1, messaging.StreamTypingShares(agent), "one indicator for the socket and conversation")
	assert.Zero(t, messaging.StreamTypingShares(user), "the indicator belongs to the streaming socket")
	require.NoError(t, streams[0].Close())
	assert.Equal(t, 1, messaging.StreamTypingShares(agent))
	barrier, err := agent.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: e.conv, Content: "barrier"})
	require.NoError(t, err)
	require.Equal(t, "complete "+barrier.ID, rtRecv(t, seen),
		"nothing stops or completes while a stream of the sender still runs")

	require.NoError(t, streams[1].Close())
	assert.Zero(t, messaging.StreamTypingShares(agent), "forgotten with the last stream")
	assert.Equal(t, "typing stopped by "+rtAgentID, rtRecv(t, seen))
	done := []string{rtRecv(t, seen), rtRecv(t, seen)}
	assert.ElementsMatch(t, []string{"complete " + streams[0].ID(), "complete " + streams[1].ID()}, done)
	select {
	case more := <-seen:
		t.Errorf("more than expected: %s", more)
	default:
	}
}

// A stream with Existing edits a message the caller created (a
// placeholder) from its first chunk: a send with the same id would return
// the placeholder's row unchanged, so a reply written in one chunk would
// never reach the service.
func TestStreamEditsAnExistingMessage(t *testing.T) {
	e := newRTEnv(t)
	agent := e.connect(rtAgentTok)
	r, err := agent.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal())
	require.NoError(t, err)
	defer r.End()
	const id = "c0ffee00-2222-4222-8222-222222222222"
	_, err = r.SendMessage(e.ctx, messaging.SendMessageParams{ID: id, Content: "…"})
	require.NoError(t, err)
	st, err := r.Stream(e.ctx, messaging.StreamParams{ID: id, Existing: true, NoTyping: true})
	require.NoError(t, err)
	_, err = st.WriteString("the whole reply")
	require.NoError(t, err)
	require.NoError(t, st.Close())
	assert.Equal(t, "the whole reply", e.stored(id).Content)
	assert.Equal(t, "the whole reply", st.Content())

	_, err = r.Stream(e.ctx, messaging.StreamParams{Existing: true})
	var ve *messaging.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "params.ID", ve.Field)
}
