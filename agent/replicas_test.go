package agent_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/agent"
)

// Three replicas of one agent, 100 questions from 2 people in 5
// conversations, the agent's connections dropped three times during the
// run: exactly 100 replies, each question claimed by exactly one replica,
// no handler run twice for one question. Queue keeps every reply whole
// (under Preempt, a question asked while the previous one is answered
// would cut that answer short, by design).
func TestReplicasAnswerEachQuestionOnce(t *testing.T) {
	e := newEnv(t)
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
	for i := range nReplicas {
		sv := e.serve(handler, agent.WithPolicy(agent.Queue), agent.WithReplicaID(fmt.Sprintf("replica-%d", i)))
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
	// Every replica's turn for every question has ended once every
	// question is settled: 3 turns per question.
	e.eventually("every turn to end", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, q := range qs {
			n += len(claimedBy[q.ID]) + lost[q.ID]
		}
		return n == nReplicas*nQuestion
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
	for _, q := range qs {
		assert.Len(t, claimedBy[q.ID], 1, "question %q claimed once", q.Content)
		assert.Equal(t, nReplicas-1, lost[q.ID], "question %q lost by the others", q.Content)
		assert.Equal(t, 1, runs[q.ID], "handler run once for %q", q.Content)
		rs := e.replies(q)
		require.Len(t, rs, 1)
		if len(claimedBy[q.ID]) == 1 {
			owner, _ := rs[0].Metadata[agent.ClaimMetadataKey].(map[string]any)
			assert.Equal(t, claimedBy[q.ID][0], owner["replica"])
			perReplica[claimedBy[q.ID][0]]++
		}
	}
	t.Logf("questions answered per replica: %v; agent connections: %d", perReplica, e.srv.Stats().Connections)
}
