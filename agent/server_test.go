package agent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/agent"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

func TestServerAnswersAQuestion(t *testing.T) {
	e := newEnv(t)
	conv := e.conv(messaging.ConversationGroup)
	sv := e.serve(echo)
	q, err := e.client(aliceTok).SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: conv, Content: "hello", TraceID: "trace-1"})
	require.NoError(t, err)
	x := sv.next(t)
	require.NoError(t, x.err)
	assert.Equal(t, q.ID, x.t.Question.ID)
	rs := e.replies(q)
	require.Len(t, rs, 1)
	assert.Equal(t, "re: hello", rs[0].Content)
	assert.Equal(t, x.t.ClaimID(), rs[0].ID)
	assert.Equal(t, "trace-1", rs[0].TraceID)
	assert.Equal(t, x.t.Run().ID(), rs[0].RunID)
	assert.Equal(t, 1, x.t.Attempt)
}

// started is a handler that writes "a", flushes, reports its turn on
// started, then writes every token it is given until tokens is closed or
// its context ends; it returns the context's cause.
type scripted struct {
	started chan *agent.Turn
	tokens  chan string
	wrote   chan string
}

func newScripted() *scripted {
	return &scripted{started: make(chan *agent.Turn, 100), tokens: make(chan string), wrote: make(chan string, 100)}
}

func (s *scripted) serve(ctx context.Context, t *agent.Turn) error {
	if _, err := t.Reply().WriteString("a"); err != nil {
		return err
	}
	if err := t.Reply().Flush(ctx); err != nil {
		return err
	}
	s.started <- t
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case tok, ok := <-s.tokens:
			if !ok {
				return nil
			}
			if _, err := t.Reply().WriteString(tok); err != nil {
				return err
			}
			s.wrote <- tok
		}
	}
}

func (s *scripted) turn(t *testing.T) *agent.Turn {
	t.Helper()
	select {
	case x := <-s.started:
		return x
	case <-time.After(wait):
		t.Fatal("no turn started")
		return nil
	}
}

// A cancel sent by another person mid-reply ends the turn's context: the
// turn runs on its own goroutine, so its run hears the control event.
func TestServerTurnCancelledByAnotherUser(t *testing.T) {
	e := newEnv(t)
	conv := e.conv(messaging.ConversationGroup)
	h := newScripted()
	sv := e.serve(h.serve)
	q := e.ask(aliceTok, conv, "tell me a long story")
	turn := h.turn(t)
	_, err := e.client(bobTok).SendControl(e.ctx, conv, messaging.ControlParams{Event: "cancel", RunID: turn.Run().ID(), Reason: "enough"})
	require.NoError(t, err)
	x := sv.next(t)
	assert.ErrorIs(t, x.err, messaging.ErrRunCancelled)
	assert.Equal(t, messaging.RunCancelled, turn.Run().State())
	rs := e.replies(q)
	require.Len(t, rs, 1)
	assert.Equal(t, "a", rs[0].Content, "the reply keeps what was sent")
}

// A pause holds the reply's writes until the resume.
func TestServerTurnPausedAndResumed(t *testing.T) {
	e := newEnv(t)
	conv := e.conv(messaging.ConversationGroup)
	h := newScripted()
	sv := e.serve(h.serve)
	q := e.ask(aliceTok, conv, "go on")
	turn := h.turn(t)
	paused := make(chan struct{}, 1)
	resumed := make(chan struct{}, 1)
	turn.Run().OnStateChange(func(c messaging.RunStateChange) {
		switch c.Current {
		case messaging.RunPaused:
			paused <- struct{}{}
		case messaging.RunRunning:
			resumed <- struct{}{}
		}
	})
	alice := e.client(aliceTok)
	_, err := alice.SendControl(e.ctx, conv, messaging.ControlParams{Event: "pause", RunID: turn.Run().ID()})
	require.NoError(t, err)
	<-paused
	go func() { h.tokens <- "b" }()
	select {
	case <-h.wrote:
		t.Fatal("a write went through while the run was paused")
	case <-time.After(300 * time.Millisecond):
	}
	assert.Equal(t, "a", e.replies(q)[0].Content)
	_, err = alice.SendControl(e.ctx, conv, messaging.ControlParams{Event: "resume", RunID: turn.Run().ID()})
	require.NoError(t, err)
	<-resumed
	assert.Equal(t, "b", <-h.wrote)
	close(h.tokens)
	require.NoError(t, sv.next(t).err)
	assert.Equal(t, "ab", e.replies(q)[0].Content)
}

// Under the default policy a new question preempts the running turn with
// a stream.preempt naming it; the new question is answered next.
func TestServerPreemptsOnNewQuestion(t *testing.T) {
	e := newEnv(t)
	conv := e.conv(messaging.ConversationGroup)
	h := newScripted()
	sv := e.serve(h.serve)
	q1 := e.ask(aliceTok, conv, "first")
	first := h.turn(t)
	assert.Equal(t, q1.ID, first.Question.ID)
	q2 := e.ask(aliceTok, conv, "second")
	x := sv.next(t)
	assert.Equal(t, q1.ID, x.t.Question.ID)
	var stopped *messaging.RunStoppedError
	require.ErrorAs(t, x.err, &stopped)
	assert.ErrorIs(t, x.err, messaging.ErrRunPreempted)
	assert.Equal(t, q2.ID, stopped.PreemptedBy)
	second := h.turn(t)
	assert.Equal(t, q2.ID, second.Question.ID)
	close(h.tokens)
	require.NoError(t, sv.next(t).err)
	// The control record is in the history, for every client to see.
	var preempts int
	for _, m := range e.srv.Messages(conv) {
		if m.IsControl() && m.Content == string(messaging.StreamPreempt) {
			preempts++
		}
	}
	assert.Equal(t, 1, preempts)
	assert.Equal(t, "a", e.replies(q1)[0].Content)
}

// Under Queue, the second question waits for the first turn to end.
func TestServerQueuesTurns(t *testing.T) {
	e := newEnv(t)
	conv := e.conv(messaging.ConversationGroup)
	h := newScripted()
	sv := e.serve(h.serve, agent.WithPolicy(agent.Queue))
	q1 := e.ask(aliceTok, conv, "first")
	first := h.turn(t)
	q2 := e.ask(bobTok, conv, "second")
	// The second claim is made, its handler waits.
	e.eventually("the second claim", func() bool { return len(e.replies(q2)) == 1 })
	select {
	case <-h.started:
		t.Fatal("the second turn started while the first ran")
	case <-time.After(200 * time.Millisecond):
	}
	h.tokens <- "1"
	<-h.wrote
	assert.Equal(t, q1.ID, first.Question.ID)
	go func() { h.tokens <- "end" }() // taken by the first turn
	<-h.wrote
	// End the first turn: closing would end both, so cancel it.
	_, err := e.client(aliceTok).SendControl(e.ctx, conv, messaging.ControlParams{Event: "cancel", RunID: first.Run().ID()})
	require.NoError(t, err)
	assert.Equal(t, q1.ID, sv.next(t).t.Question.ID)
	second := h.turn(t)
	assert.Equal(t, q2.ID, second.Question.ID)
	close(h.tokens)
	require.NoError(t, sv.next(t).err)
}

// Shutdown lets a running turn finish within its context; a turn still
// running when the context ends is cancelled with ErrServerClosed.
func TestServerShutdownWithGrace(t *testing.T) {
	e := newEnv(t)
	conv := e.conv(messaging.ConversationGroup)
	h := newScripted()
	sv := e.serve(h.serve, agent.WithPolicy(agent.Parallel))
	q1 := e.ask(aliceTok, conv, "one")
	h.turn(t)

	// Grace long enough: the turn finishes on its own.
	shut := make(chan error, 1)
	go func() { shut <- sv.srv.Shutdown(e.ctx) }()
	h.tokens <- "b"
	<-h.wrote
	close(h.tokens)
	require.NoError(t, <-shut)
	require.NoError(t, sv.next(t).err)
	assert.ErrorIs(t, sv.wait(t), agent.ErrServerClosed)
	assert.Equal(t, "ab", e.replies(q1)[0].Content)
}

func TestServerShutdownCancelsPastGrace(t *testing.T) {
	e := newEnv(t)
	conv := e.conv(messaging.ConversationGroup)
	h := newScripted()
	sv := e.serve(h.serve)
	e.ask(aliceTok, conv, "one")
	turn := h.turn(t)
	ctx, cancel := context.WithTimeout(e.ctx, 100*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, sv.srv.Shutdown(ctx), context.DeadlineExceeded)
	x := sv.next(t)
	assert.ErrorIs(t, x.err, agent.ErrServerClosed)
	assert.ErrorIs(t, context.Cause(turn.Run().Context()), agent.ErrServerClosed)
	assert.ErrorIs(t, sv.wait(t), agent.ErrServerClosed)
}

// A conversation created with the agent after Serve started is found by
// discovery, and its first question, possibly sent before the agent
// joined, is answered.
func TestServerDiscoversNewConversations(t *testing.T) {
	e := newEnv(t)
	const interval = 200 * time.Millisecond
	sv := e.serve(echo, agent.WithDiscoveryInterval(interval))
	// Let the first listing happen, with no conversation.
	time.Sleep(2 * interval)
	conv := e.conv(messaging.ConversationPrivate)
	start := time.Now()
	q := e.ask(aliceTok, conv, "hi there")
	x := sv.next(t)
	require.NoError(t, x.err)
	assert.Equal(t, q.ID, x.t.Question.ID)
	took := time.Since(start)
	t.Logf("answered %v after the question (discovery interval %v)", took, interval)
	// The documented bound: one interval, plus a listing, a join and a
	// history read (given generous room on a loaded machine).
	assert.Less(t, took, interval+wait/2)
	assert.Equal(t, "re: hi there", e.replies(q)[0].Content)
	// Later questions arrive live.
	start = time.Now()
	q2 := e.ask(bobTok, conv, "again")
	require.NoError(t, sv.next(t).err)
	t.Logf("the next question answered in %v", time.Since(start))
	assert.Equal(t, "re: again", e.replies(q2)[0].Content)
}

// What makes a turn: people's messages; not the agent's own, not control
// records, not other agents' unless asked, not what the filter refuses,
// not questions older than the maximum age.
func TestServerWhatMakesATurn(t *testing.T) {
	e := newEnv(t)
	private := e.conv(messaging.ConversationPrivate)
	group := e.conv(messaging.ConversationGroup)
	sv := e.serve(echo, agent.WithFilter(agent.Private))
	e.ask(aliceTok, group, "in a group: ignored")
	_, err := e.client(aliceTok).SendControl(e.ctx, private, messaging.ControlParams{Event: "pause"})
	require.NoError(t, err)
	_, err = e.client(agentTok).SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: private, Content: "my own"})
	require.NoError(t, err)
	q := e.ask(bobTok, private, "in private")
	x := sv.next(t)
	require.NoError(t, x.err)
	assert.Equal(t, q.ID, x.t.Question.ID)
	select {
	case x := <-sv.ends:
		t.Fatalf("unexpected turn for %q", x.t.Question.Content)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestServerMentioningAndAgents(t *testing.T) {
	f := agent.Mentioning("@Travel", "bot")
	assert.True(t, f(&messaging.Message{Content: "hey @travel, help"}, nil))
	assert.True(t, f(&messaging.Message{Content: "@BOT?"}, nil))
	assert.False(t, f(&messaging.Message{Content: "travel"}, nil))
	assert.False(t, agent.Private(&messaging.Message{}, nil))
}

// A handler that panics is recovered: the turn ends with a *PanicError,
// its empty claim is withdrawn, and the server goes on.
func TestServerRecoversAPanic(t *testing.T) {
	e := newEnv(t)
	conv := e.conv(messaging.ConversationGroup)
	var calls atomic.Int32
	sv := e.serve(func(ctx context.Context, t *agent.Turn) error {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		return echo(ctx, t)
	})
	q1 := e.ask(aliceTok, conv, "one")
	x := sv.next(t)
	var pe *agent.PanicError
	require.ErrorAs(t, x.err, &pe)
	assert.Equal(t, "boom", pe.Value)
	assert.NotEmpty(t, pe.Stack)
	e.eventually("the empty claim to go", func() bool { return len(e.replies(q1)) == 0 })
	q2 := e.ask(aliceTok, conv, "two")
	require.NoError(t, sv.next(t).err)
	assert.Equal(t, "re: two", e.replies(q2)[0].Content)
}

// Middleware wraps the handler, the first outermost.
func TestServerMiddleware(t *testing.T) {
	e := newEnv(t)
	conv := e.conv(messaging.ConversationGroup)
	var mu sync.Mutex
	var order []string
	mw := func(name string) agent.Middleware {
		return func(next agent.Handler) agent.Handler {
			return agent.HandlerFunc(func(ctx context.Context, t *agent.Turn) error {
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
				return next.ServeTurn(ctx, t)
			})
		}
	}
	sv := e.serve(echo, agent.WithMiddleware(mw("outer"), mw("inner")))
	e.ask(aliceTok, conv, "x")
	require.NoError(t, sv.next(t).err)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"outer", "inner"}, order)
}

// At most WithMaxTurns handlers run at once, across conversations.
func TestServerMaxTurns(t *testing.T) {
	e := newEnv(t)
	h := newScripted()
	sv := e.serve(h.serve, agent.WithMaxTurns(2))
	for i := range 3 {
		e.ask(aliceTok, e.conv(messaging.ConversationGroup), fmt.Sprint(i))
	}
	h.turn(t)
	h.turn(t)
	select {
	case <-h.started:
		t.Fatal("a third turn ran")
	case <-time.After(300 * time.Millisecond):
	}
	h.tokens <- "x" // one of the two
	<-h.wrote
	close(h.tokens)
	h.turn(t) // the third, once one ended
	for range 3 {
		require.NoError(t, sv.next(t).err)
	}
}

// Turn.History gives the conversation up to the question, oldest first,
// without control records.
func TestTurnHistory(t *testing.T) {
	e := newEnv(t)
	conv := e.conv(messaging.ConversationGroup)
	got := make(chan []string, 1)
	sv := e.serve(func(ctx context.Context, t *agent.Turn) error {
		h, err := t.History(ctx, 10)
		if err != nil {
			return err
		}
		var cs []string
		for _, m := range h {
			cs = append(cs, m.Content)
		}
		got <- cs
		_, err = t.History(ctx, 0)
		var ve *messaging.ValidationError
		if !errors.As(err, &ve) {
			return fmt.Errorf("History(0): %v", err)
		}
		return echo(ctx, t)
	}, agent.WithFilter(func(q *messaging.Message, _ *messaging.Conversation) bool {
		return strings.HasSuffix(q.Content, "?")
	}))
	e.ask(aliceTok, conv, "one")
	_, err := e.client(aliceTok).SendControl(e.ctx, conv, messaging.ControlParams{Event: "priority", Reason: "high"})
	require.NoError(t, err)
	e.ask(bobTok, conv, "two")
	e.ask(aliceTok, conv, "three?")
	require.NoError(t, sv.next(t).err)
	assert.Equal(t, []string{"one", "two", "three?"}, <-got)
}

// Questions older than the maximum age make no turn: here, those in the
// history when the server starts.
func TestServerMaxAge(t *testing.T) {
	e := newEnv(t)
	conv := e.conv(messaging.ConversationGroup)
	e.ask(aliceTok, conv, "old")
	time.Sleep(50 * time.Millisecond)
	sv := e.serve(echo, agent.WithMaxAge(20*time.Millisecond), agent.WithPolicy(agent.Queue))
	select {
	case x := <-sv.ends:
		t.Fatalf("an old question made a turn: %q", x.t.Question.Content)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestNewValidates(t *testing.T) {
	e := newEnv(t)
	c := e.client(agentTok)
	_, err := agent.New(nil, agent.HandlerFunc(echo))
	assert.ErrorIs(t, err, messaging.ErrInvalidArgument)
	_, err = agent.New(c, nil)
	assert.ErrorIs(t, err, messaging.ErrInvalidArgument)
	for _, o := range []agent.Option{
		agent.WithMaxTurns(0), agent.WithMaxAge(0), agent.WithDiscoveryInterval(-1), agent.WithLease(0),
		agent.WithPlaceholder(""), agent.WithPolicy(agent.Policy(9)), agent.WithMiddleware(nil),
		agent.WithLogger(nil), agent.WithReplicaID(""),
	} {
		_, err = agent.New(c, agent.HandlerFunc(echo), o)
		var ve *messaging.ValidationError
		assert.ErrorAs(t, err, &ve)
	}
	s, err := agent.New(c, agent.HandlerFunc(echo))
	require.NoError(t, err)
	require.NoError(t, s.Shutdown(e.ctx))
	require.NoError(t, s.Shutdown(e.ctx), "twice")
	assert.ErrorIs(t, s.Serve(e.ctx), agent.ErrServerClosed)
	assert.ErrorContains(t, s.Serve(e.ctx), "twice")
}

// A question older than the maximum age makes no turn when it arrives,
// e.g. by backfill after a long disconnection: here the service's clock
// dates it ten minutes back.
func TestServerSkipsOldQuestionsThatArriveLate(t *testing.T) {
	var offset atomic.Int64
	e := newEnv(t, messagingtest.WithClock(func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }))
	conv := e.conv(messaging.ConversationGroup)
	sv := e.serve(echo, agent.WithPolicy(agent.Queue))
	e.eventually("the agent's socket", func() bool { return e.srv.Stats().LiveConnections == 1 })
	offset.Store(int64(-10 * time.Minute))
	old := e.ask(aliceTok, conv, "from long ago")
	offset.Store(0)
	q := e.ask(aliceTok, conv, "now")
	x := sv.next(t)
	require.NoError(t, x.err)
	assert.Equal(t, q.ID, x.t.Question.ID, "the old question came first and made no turn")
	assert.Empty(t, e.replies(old))
}

// Other agents' messages make turns only with WithAgentMessages.
func TestServerAgentMessages(t *testing.T) {
	for _, asked := range []bool{false, true} {
		t.Run(fmt.Sprint("asked=", asked), func(t *testing.T) {
			e := newEnv(t)
			conv := e.conv(messaging.ConversationGroup)
			var opts []agent.Option
			if asked {
				opts = append(opts, agent.WithAgentMessages())
			}
			sv := e.serve(echo, append(opts, agent.WithPolicy(agent.Queue))...)
			e.eventually("the agent's socket", func() bool { return e.srv.Stats().LiveConnections == 1 })
			// An agent posting is added to the conversation by the service.
			fromAgent := e.ask(otherTok, conv, "from another agent")
			q := e.ask(aliceTok, conv, "from a person")
			x := sv.next(t)
			require.NoError(t, x.err)
			if asked {
				assert.Equal(t, fromAgent.ID, x.t.Question.ID)
				x = sv.next(t)
				require.NoError(t, x.err)
			}
			assert.Equal(t, q.ID, x.t.Question.ID)
		})
	}
}

// A turn that is not interruptible is waited for under Preempt.
func TestServerUninterruptibleTurnIsWaitedFor(t *testing.T) {
	e := newEnv(t)
	conv := e.conv(messaging.ConversationGroup)
	h := newScripted()
	sv := e.serve(func(ctx context.Context, t *agent.Turn) error {
		t.SetInterruptible(false)
		return h.serve(ctx, t)
	})
	q1 := e.ask(aliceTok, conv, "first")
	first := h.turn(t)
	q2 := e.ask(aliceTok, conv, "second")
	e.eventually("the second claim", func() bool { return len(e.replies(q2)) == 1 })
	select {
	case <-h.started:
		t.Fatal("the second turn started while the first ran")
	case <-time.After(200 * time.Millisecond):
	}
	assert.Equal(t, messaging.RunRunning, first.Run().State(), "not preempted")
	h.tokens <- "b"
	<-h.wrote
	close(h.tokens)
	x := sv.next(t)
	require.NoError(t, x.err)
	assert.Equal(t, q1.ID, x.t.Question.ID)
	assert.Equal(t, q2.ID, h.turn(t).Question.ID)
	require.NoError(t, sv.next(t).err)
}

// Shutdown ends the turns still waiting for their turn without running
// them; their claims stay, for the lease.
func TestServerShutdownEndsWaitingTurns(t *testing.T) {
	e := newEnv(t)
	conv := e.conv(messaging.ConversationGroup)
	h := newScripted()
	sv := e.serve(h.serve, agent.WithPolicy(agent.Queue))
	e.ask(aliceTok, conv, "first")
	h.turn(t)
	q2 := e.ask(aliceTok, conv, "second")
	e.eventually("the second claim", func() bool { return len(e.replies(q2)) == 1 })
	shut := make(chan error, 1)
	go func() { shut <- sv.srv.Shutdown(e.ctx) }()
	x := sv.next(t)
	assert.Equal(t, q2.ID, x.t.Question.ID)
	assert.ErrorIs(t, x.err, agent.ErrServerClosed)
	assert.Nil(t, x.t.Reply(), "its handler did not run")
	close(h.tokens)
	require.NoError(t, sv.next(t).err)
	require.NoError(t, <-shut)
	assert.ErrorIs(t, sv.wait(t), agent.ErrServerClosed)
	rs := e.replies(q2)
	require.Len(t, rs, 1)
	assert.Equal(t, agent.DefaultPlaceholder, rs[0].Content)
}

// People see the agent typing while a turn works on its reply.
func TestServerShowsTypingDuringATurn(t *testing.T) {
	e := newEnv(t)
	conv := e.conv(messaging.ConversationGroup)
	alice, err := e.client(aliceTok).NewSocket(messaging.WithHTTPClient(e.srv.Client()))
	require.NoError(t, err)
	defer alice.Close()
	typing := make(chan messaging.TypingEvent, 10)
	alice.OnTypingStart(func(ev messaging.TypingEvent) { typing <- ev })
	require.NoError(t, alice.Connect(e.ctx))
	require.NoError(t, alice.JoinConversation(e.ctx, conv))
	h := newScripted()
	sv := e.serve(h.serve)
	e.ask(aliceTok, conv, "hello")
	h.turn(t)
	select {
	case ev := <-typing:
		assert.Equal(t, agentID, ev.UserID)
		assert.Equal(t, conv, ev.ConversationID)
	case <-time.After(wait):
		t.Fatal("alice never saw the agent typing")
	}
	close(h.tokens)
	require.NoError(t, sv.next(t).err)
}
