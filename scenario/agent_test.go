package scenario_test

// Scenarios of package agent: turns (discovery of a conversation created
// after the server started, a cancel mid-reply, a preemption by a new
// question) and replicas answering each question once.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/agent"
)

// Against an external server the agent may be in conversations of other
// runs: the scenarios' servers answer only in conversations of their own.
type convSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (s *convSet) add(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[string]bool{}
	}
	s.ids[strings.ToLower(id)] = true
	return id
}

func (s *convSet) filter(q *messaging.Message, _ *messaging.Conversation) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[strings.ToLower(q.ConversationID)]
}

type turnEnd struct {
	t   *agent.Turn
	err error
}

// serveAgent runs an agent server as the agent until the test ends.
func (e *env) serveAgent(h agent.HandlerFunc, opts ...agent.Option) (*agent.Server, chan turnEnd) {
	e.t.Helper()
	ends := make(chan turnEnd, 1000)
	opts = append([]agent.Option{
		agent.WithDiscoveryInterval(300 * time.Millisecond),
		agent.WithOnTurnEnd(func(t *agent.Turn, err error) { ends <- turnEnd{t, err} }),
	}, opts...)
	srv, err := agent.New(e.agent.Client, h, opts...)
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(callTimeout):
			e.t.Error("the agent server did not stop")
		}
	})
	return srv, ends
}

func nextEnd(t *testing.T, ends chan turnEnd) turnEnd {
	t.Helper()
	select {
	case x := <-ends:
		return x
	case <-time.After(callTimeout):
		t.Fatal("no turn ended")
		return turnEnd{}
	}
}

// agentReplies returns the agent's replies to q, as stored.
func (e *env) agentReplies(q *messaging.Message) []messaging.Message {
	e.t.Helper()
	page, err := e.alice.Client.GetMessages(e.ctx, q.ConversationID, messaging.GetMessagesParams{After: q.CreatedAt.Add(-time.Millisecond), Limit: 500})
	require.NoError(e.t, err)
	var out []messaging.Message
	for _, m := range page {
		if m.SenderID == e.agent.ID && m.ReplyTo == q.ID {
			out = append(out, m)
		}
	}
	return out
}

// storyteller answers "quick" questions at once, and others word by word
// until its context ends.
func storyteller(started chan<- *agent.Turn) agent.HandlerFunc {
	return func(ctx context.Context, t *agent.Turn) error {
		if strings.HasPrefix(t.Question.Content, "quick") {
			_, err := t.Reply().WriteString("re: " + t.Question.Content)
			return err
		}
		if _, err := t.Reply().WriteString("once "); err != nil {
			return err
		}
		if err := t.Reply().Flush(ctx); err != nil {
			return err
		}
		started <- t
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := t.Reply().WriteString(fmt.Sprintf("w%d ", i)); err != nil {
				return nil // the run ended
			}
		}
	}
}

func TestAgentTurns(t *testing.T) {
	e := newEnv(t)
	var convs convSet
	started := make(chan *agent.Turn, 10)
	_, ends := e.serveAgent(storyteller(started), agent.WithFilter(convs.filter))

	// A conversation created with the agent after the server started: its
	// first question is answered (discovery).
	conv := convs.add(e.alice.group(e.bob, e.agent))
	q := e.alice.send(conv, "quick: are you there?")
	x := nextEnd(t, ends)
	require.NoError(t, x.err)
	assert.Equal(t, q.ID, x.t.Question.ID)
	rs := e.agentReplies(q)
	require.Len(t, rs, 1)
	assert.Equal(t, "re: quick: are you there?", rs[0].Content)
	assert.Equal(t, x.t.ClaimID(), rs[0].ID)
	assert.Equal(t, x.t.Run().ID(), rs[0].RunID)

	// A cancel mid-reply ends the turn (sent by another connection of the
	// agent's principal: the suite's only one allowed to interrupt).
	q = e.alice.send(conv, "tell me a story")
	turn := <-started
	_, err := e.agent.Client.SendControl(e.ctx, conv, messaging.ControlParams{Event: "cancel", RunID: turn.Run().ID(), Reason: "enough"})
	require.NoError(t, err)
	x = nextEnd(t, ends)
	assert.Equal(t, q.ID, x.t.Question.ID)
	assert.ErrorIs(t, x.err, messaging.ErrRunCancelled)
	rs = e.agentReplies(q)
	require.Len(t, rs, 1)
	assert.True(t, strings.HasPrefix(rs[0].Content, "once "), "the reply keeps what was sent: %q", rs[0].Content)

	// A new question preempts the running turn, with a stream.preempt
	// naming it.
	q1 := e.bob.send(conv, "another story")
	first := <-started
	assert.Equal(t, q1.ID, first.Question.ID)
	q2 := e.alice.send(conv, "quick: never mind")
	var preempted, answered bool
	for range 2 {
		x := nextEnd(t, ends)
		switch x.t.Question.ID {
		case q1.ID:
			var stopped *messaging.RunStoppedError
			require.ErrorAs(t, x.err, &stopped)
			assert.ErrorIs(t, x.err, messaging.ErrRunPreempted)
			assert.Equal(t, q2.ID, stopped.PreemptedBy)
			preempted = true
		case q2.ID:
			require.NoError(t, x.err)
			answered = true
		}
	}
	assert.True(t, preempted && answered)
	rs = e.agentReplies(q2)
	require.Len(t, rs, 1)
	assert.Equal(t, "re: quick: never mind", rs[0].Content)
}

// Three replicas of the agent (same credentials) answer each question
// once: one claim per question, and no handler runs twice.
func TestAgentReplicasAnswerOnce(t *testing.T) {
	e := newEnv(t)
	var convs convSet
	c1 := convs.add(e.alice.group(e.bob, e.agent))
	c2 := convs.add(e.bob.group(e.alice, e.agent))
	var mu sync.Mutex
	runs := map[string]int{}
	won := map[string][]string{}
	lost := 0
	var all []chan turnEnd
	var servers []*agent.Server
	for i := range 3 {
		srv, ends := e.serveAgent(func(ctx context.Context, t *agent.Turn) error {
			mu.Lock()
			runs[t.Question.ID]++
			mu.Unlock()
			_, err := t.Reply().WriteString("re: " + t.Question.Content)
			return err
		}, agent.WithFilter(convs.filter), agent.WithPolicy(agent.Queue), agent.WithReplicaID(fmt.Sprintf("replica-%d", i)))
		servers = append(servers, srv)
		all = append(all, ends)
	}
	// Let every replica list and join the two conversations.
	time.Sleep(time.Second)
	var qs []*messaging.Message
	for i := range 12 {
		from, conv := e.alice, c1
		if i%2 == 1 {
			from, conv = e.bob, c2
		}
		qs = append(qs, from.send(conv, fmt.Sprintf("question %d", i)))
	}
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := len(won)
		mu.Unlock()
		if n == len(qs) {
			break
		}
		require.True(t, time.Now().Before(deadline), "only %d of %d questions answered", n, len(qs))
		for i, ends := range all {
			select {
			case x := <-ends:
				mu.Lock()
				switch {
				case x.err == nil:
					won[x.t.Question.ID] = append(won[x.t.Question.ID], servers[i].ReplicaID())
				case errors.Is(x.err, agent.ErrClaimedElsewhere):
					lost++
				default:
					t.Errorf("turn %q: %v", x.t.Question.Content, x.err)
				}
				mu.Unlock()
			default:
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, q := range qs {
		assert.Len(t, won[q.ID], 1, "%q claimed once", q.Content)
		assert.Equal(t, 1, runs[q.ID], "%q handled once", q.Content)
		rs := e.agentReplies(q)
		require.Len(t, rs, 1, "%q has one reply", q.Content)
		assert.Equal(t, "re: "+q.Content, rs[0].Content)
		claim, _ := rs[0].Metadata[agent.ClaimMetadataKey].(map[string]any)
		if len(won[q.ID]) == 1 {
			assert.Equal(t, won[q.ID][0], claim["replica"])
		}
	}
	t.Logf("claims lost by the other replicas: %d", lost)
}
