package agent_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
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
