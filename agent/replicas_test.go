package agent_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/agent"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// Three replicas of one agent, 100 questions from 2 people in 5
// conversations, the agent's connections dropped four times during the
// run, and each replica's connection turned into a black hole once (as the
// answer to one of its claims comes back): exactly 100 replies, each
// question claimed by exactly one replica, no handler run twice for one
// question. Queue keeps every reply whole
// (under Preempt, a question asked while the previous one is answered
// would cut that answer short, by design).
func TestReplicasAnswerEachQuestionOnce(t *testing.T) {
	e := newEnv(t, messagingtest.WithHeartbeat(100*time.Millisecond, 200*time.Millisecond))
	const (
		nReplicas = 3
		nConvs    = 5
		nQuestion = 100
	)
	var convs []string
	for range nConvs {
		convs = append(convs, e.conv(messaging.ConversationGroup))
	}
	var mu sync.Mutex
	runs := make(map[string]int)           // question id → handler calls
	claimedBy := make(map[string][]string) // question id → replicas that won
	lost := make(map[string]int)           // question id → turns that lost
	handler := func(ctx context.Context, t *agent.Turn) error {
		mu.Lock()
		runs[t.Question.ID]++
		mu.Unlock()
		_, err := t.Reply().WriteString("re: " + t.Question.Content)
		return err
	}
	var servers []*serving
	var holes []*blackHole
	for i := range nReplicas {
		px := newBlackHole(t, e.srv.Addr(), `"agentClaim"`)
		holes = append(holes, px)
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		hc := &http.Client{Transport: tr}
		client, err := messaging.NewClient(messaging.WithEndpoint("http://"+px.addr()), messaging.WithToken(agentTok), messaging.WithHTTPClient(hc))
		require.NoError(t, err)
		sv := e.serveAs(client, handler, agent.WithPolicy(agent.Queue), agent.WithReplicaID(fmt.Sprintf("replica-%d", i)),
			agent.WithSocketOptions(messaging.WithHTTPClient(hc)))
		servers = append(servers, sv)
	}
	var wg sync.WaitGroup
	for _, sv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for x := range sv.ends {
				mu.Lock()
				switch {
				case x.err == nil:
					claimedBy[x.t.Question.ID] = append(claimedBy[x.t.Question.ID], sv.srv.ReplicaID())
				case errors.Is(x.err, agent.ErrClaimedElsewhere):
					lost[x.t.Question.ID]++
				default:
					t.Errorf("turn for %q: %v", x.t.Question.Content, x.err)
				}
				mu.Unlock()
			}
		}()
	}
	// Every replica is connected and has listed its conversations.
	e.eventually("the replicas to connect", func() bool { return e.srv.Stats().LiveConnections >= nReplicas })

	users := []string{aliceTok, bobTok}
	var qs []*messaging.Message
	for i := range nQuestion {
		if i%25 == 10 {
			e.srv.DropConnectionsOf(agentID)
		}
		if i%25 == 20 {
			holes[i/25%nReplicas].armed.Store(true)
		}
		qs = append(qs, e.ask(users[i%2], convs[i%nConvs], fmt.Sprintf("question %d", i)))
	}
	answered := func() int {
		n := 0
		for _, q := range qs {
			if rs := e.replies(q); len(rs) == 1 && rs[0].Content == "re: "+q.Content {
				n++
			}
		}
		return n
	}
	e.eventually("100 replies", func() bool { return answered() == nQuestion })
	// Every question's winning turn has ended. (A replica that missed a
	// question while disconnected before it first listed its
	// conversations finds it answered in the history, and makes no turn
	// for it: hence "at most" below.)
	e.eventually("every winning turn to end", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, q := range qs {
			if len(claimedBy[q.ID]) == 0 {
				return false
			}
		}
		return true
	})
	for _, sv := range servers {
		require.NoError(t, sv.srv.Shutdown(e.ctx))
		assert.ErrorIs(t, sv.wait(t), agent.ErrServerClosed)
		close(sv.ends)
	}
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	var replies int
	for _, c := range convs {
		for _, m := range e.srv.Messages(c) {
			if m.SenderID == agentID && m.DeletedAt == nil {
				replies++
			}
		}
	}
	assert.Equal(t, nQuestion, replies, "exactly one reply per question")
	perReplica := make(map[string]int)
	lostN := 0
	for _, q := range qs {
		assert.Len(t, claimedBy[q.ID], 1, "question %q claimed once", q.Content)
		assert.LessOrEqual(t, lost[q.ID], nReplicas-1, "question %q lost by the others", q.Content)
		lostN += lost[q.ID]
		assert.Equal(t, 1, runs[q.ID], "handler run once for %q", q.Content)
		rs := e.replies(q)
		require.Len(t, rs, 1)
		if len(claimedBy[q.ID]) == 1 {
			owner, _ := rs[0].Metadata[agent.ClaimMetadataKey].(map[string]any)
			assert.Equal(t, claimedBy[q.ID][0], owner["replica"])
			perReplica[claimedBy[q.ID][0]]++
		}
	}
	frozen := 0
	for _, px := range holes {
		if px.froze.Load() {
			frozen++
		}
	}
	assert.Equal(t, nReplicas, frozen, "each replica's connection went dark once")
	t.Logf("questions answered per replica: %v; claims lost: %d; agent connections: %d; black holes: %d",
		perReplica, lostN, e.srv.Stats().Connections, frozen)
}

// A replica that dies holding a claim, before writing anything, leaves a
// placeholder; once its lease has expired another replica claims the
// question again (attempt 2), answers it and deletes the stale claim.
func TestReplicaTakesOverAnExpiredClaim(t *testing.T) {
	e := newEnv(t)
	conv := e.conv(messaging.ConversationGroup)
	holding := make(chan *agent.Turn, 1)
	const lease = 300 * time.Millisecond
	a := e.serve(func(ctx context.Context, t *agent.Turn) error {
		holding <- t
		<-ctx.Done() // a model call that never returns in time
		return ctx.Err()
	}, agent.WithReplicaID("dying"), agent.WithLease(lease))
	q := e.ask(aliceTok, conv, "anyone?")
	first := <-holding
	assert.Equal(t, 1, first.Attempt)
	// The replica dies: Serve's context ends; its claim stays.
	a.stop()
	assert.ErrorIs(t, a.wait(t), context.Canceled)
	rs := e.replies(q)
	require.Len(t, rs, 1)
	assert.Equal(t, agent.DefaultPlaceholder, rs[0].Content)

	b := e.serve(echo, agent.WithReplicaID("survivor"), agent.WithLease(lease))
	x := b.next(t)
	require.NoError(t, x.err)
	assert.Equal(t, q.ID, x.t.Question.ID)
	assert.Equal(t, 2, x.t.Attempt)
	assert.NotEqual(t, first.ClaimID(), x.t.ClaimID())
	e.eventually("the stale claim to go", func() bool { return len(e.replies(q)) == 1 })
	rs = e.replies(q)
	assert.Equal(t, "re: anyone?", rs[0].Content)
	assert.Equal(t, x.t.ClaimID(), rs[0].ID)
}

// The holder of a claim renews it while its handler has written nothing:
// a replica watching it does not take it over, however long the wait.
func TestReplicaRenewsItsClaim(t *testing.T) {
	e := newEnv(t)
	conv := e.conv(messaging.ConversationGroup)
	const lease = 300 * time.Millisecond
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	slow := func(ctx context.Context, t *agent.Turn) error {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return echo(ctx, t)
	}
	a := e.serve(slow, agent.WithReplicaID("a"), agent.WithLease(lease))
	b := e.serve(slow, agent.WithReplicaID("b"), agent.WithLease(lease))
	// Both see the question live (a replica that connects later finds the
	// claim in the history, and only watches it).
	e.eventually("both replicas to connect", func() bool { return e.srv.Stats().LiveConnections == 2 })
	q := e.ask(aliceTok, conv, "slow one")
	<-started
	// Four leases pass with only the placeholder.
	time.Sleep(4 * lease)
	select {
	case <-started:
		t.Fatal("the claim was taken over while renewed")
	default:
	}
	close(release)
	var won, lostN int
	for range 2 {
		var x ended
		select {
		case x = <-a.ends:
		case x = <-b.ends:
		case <-time.After(wait):
			t.Fatal("no turn ended")
		}
		if x.err == nil {
			won++
		} else if errors.Is(x.err, agent.ErrClaimedElsewhere) {
			lostN++
		}
	}
	assert.Equal(t, 1, won)
	assert.Equal(t, 1, lostN)
	rs := e.replies(q)
	require.Len(t, rs, 1)
	assert.Equal(t, "re: slow one", rs[0].Content)
}

// Under Preempt, the replica running a turn preempts it when a new
// question arrives, whichever replica claims the new one.
func TestReplicasPreemptAcrossReplicas(t *testing.T) {
	e := newEnv(t)
	conv := e.conv(messaging.ConversationGroup)
	h := newScripted()
	a := e.serve(h.serve, agent.WithReplicaID("a"))
	b := e.serve(h.serve, agent.WithReplicaID("b"))
	e.eventually("both replicas to connect", func() bool { return e.srv.Stats().LiveConnections == 2 })
	q1 := e.ask(aliceTok, conv, "first")
	first := h.turn(t)
	assert.Equal(t, q1.ID, first.Question.ID)
	q2 := e.ask(bobTok, conv, "second")
	second := h.turn(t)
	assert.Equal(t, q2.ID, second.Question.ID)
	// Another replica may have claimed the second question and started
	// it at once: the preemption reaches the first turn a round trip later.
	select {
	case <-first.Run().Context().Done():
	case <-time.After(wait):
		t.Fatal("the first turn was not preempted")
	}
	var stopped *messaging.RunStoppedError
	require.ErrorAs(t, context.Cause(first.Run().Context()), &stopped)
	assert.Equal(t, messaging.StreamPreempt, stopped.Event)
	assert.Equal(t, q2.ID, stopped.PreemptedBy)
	close(h.tokens)
	var won, preempted, lostN int
	for range 4 { // two questions, two replicas
		var x ended
		select {
		case x = <-a.ends:
		case x = <-b.ends:
		case <-time.After(wait):
			t.Fatal("no turn ended")
		}
		switch {
		case x.err == nil:
			won++
		case errors.Is(x.err, messaging.ErrRunPreempted):
			preempted++
		case errors.Is(x.err, agent.ErrClaimedElsewhere):
			lostN++
		default:
			t.Errorf("turn %q: %v", x.t.Question.Content, x.err)
		}
	}
	assert.Equal(t, []int{1, 1, 2}, []int{won, preempted, lostN})
	assert.Len(t, e.replies(q1), 1)
	assert.Len(t, e.replies(q2), 1)
}
