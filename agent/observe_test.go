package agent_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/agent"
)

type turnKey struct{}

// The server reports each turn to its socket's observer (the client's,
// messaging.WithObserver): the Turn hook sees the question and the agent's
// id, the turn's handler and run work under the context it returns, and
// its end function gets the turn's outcome, once.
func TestServerReportsTurnsToTheObserver(t *testing.T) {
	e := newEnv(t)
	conv := e.conv(messaging.ConversationGroup)
	var mu sync.Mutex
	var infos []messaging.TurnInfo
	var ends []error
	obs := &messaging.Observer{
		Turn: func(ctx context.Context, info messaging.TurnInfo) (context.Context, func(error)) {
			mu.Lock()
			infos = append(infos, info)
			mu.Unlock()
			return context.WithValue(ctx, turnKey{}, info.Question.ID), func(err error) {
				mu.Lock()
				ends = append(ends, err)
				mu.Unlock()
			}
		},
	}
	client, err := messaging.NewClient(messaging.WithEndpoint(e.srv.URL()), messaging.WithToken(agentTok),
		messaging.WithHTTPClient(e.srv.Client()), messaging.WithObserver(obs))
	require.NoError(t, err)
	failure := errors.New("model unavailable")
	sv := e.serveAs(client, func(ctx context.Context, turn *agent.Turn) error {
		if got := ctx.Value(turnKey{}); got != turn.Question.ID {
			return errors.New("the handler's context is not the Turn hook's")
		}
		if got := turn.Run().Context().Value(turnKey{}); got != turn.Question.ID {
			return errors.New("the run's context is not the Turn hook's")
		}
		if turn.Question.Content == "fail" {
			return failure
		}
		return echo(ctx, turn)
	}, agent.WithPolicy(agent.Queue))

	q1 := e.ask(aliceTok, conv, "hello")
	x := sv.next(t)
	require.NoError(t, x.err)
	q2 := e.ask(aliceTok, conv, "fail")
	x = sv.next(t)
	require.ErrorIs(t, x.err, failure)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, infos, 2)
	assert.Equal(t, q1.ID, infos[0].Question.ID)
	assert.Equal(t, q2.ID, infos[1].Question.ID)
	assert.Equal(t, "agent:test", infos[0].AgentID)
	require.Len(t, ends, 2, "one end per turn")
	assert.NoError(t, ends[0])
	assert.ErrorIs(t, ends[1], failure)
}
