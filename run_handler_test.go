package messaging_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
)

// A reply streamed from inside an OnMessage handler, as an agent written
// the natural way does. The handler blocks the socket's handler queue for
// the whole reply, so the run must learn of control events without it.
type handlerReply struct {
	run     chan *messaging.Run
	written atomic.Int64
	done    chan error // the handler's last write or Close error
}

const replyTokens = 60

func replyFromHandler(t *testing.T, e *rtEnv, agent *messaging.Socket) *handlerReply {
	h := &handlerReply{run: make(chan *messaging.Run, 1), done: make(chan error, 1)}
	agent.OnMessage(func(m *messaging.Message) {
		if m.SenderID == rtAgentID || m.Content != "question" {
			return
		}
		r, err := agent.Run(e.ctx, m.ConversationID, "", messaging.WithRunPrincipal())
		if err != nil {
			h.done <- err
			return
		}
		defer r.End()
		h.run <- r
		st, err := r.Stream(e.ctx, messaging.StreamParams{FlushInterval: 20 * time.Millisecond})
		if err != nil {
			h.done <- err
			return
		}
		for i := range replyTokens {
			if _, err := st.WriteString(chunk(i)); err != nil {
				h.done <- err
				return
			}
			h.written.Add(1)
			time.Sleep(10 * time.Millisecond)
		}
		h.done <- st.Close()
	})
	return h
}

// TestRun_CancelReachesARunStreamingInsideAHandler: a stream.cancel sent
// by another user mid-reply ends the run while the handler still streams:
// the run's Context ends (waited for with a generous bound, the latency
// is logged), the handler's next write fails with ErrRunCancelled, and the
// reply stops short of its 60 tokens.
func TestRun_CancelReachesARunStreamingInsideAHandler(t *testing.T) {
	e := newRTEnv(t)
	agent := e.connect(rtAgentTok)
	user := e.connect(rtUserTok)
	h := replyFromHandler(t, e, agent)
	_, err := user.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: e.conv, Content: "question"})
	require.NoError(t, err)
	r := rtRecv(t, h.run)
	eventually(t, "the reply is under way", func() bool { return h.written.Load() >= 5 })

	sent := time.Now()
	e.control(user, messaging.ControlParams{Event: "cancel", RunID: r.ID(), Reason: "enough"})
	select {
	case <-r.Context().Done():
	case <-time.After(rtWait):
		t.Fatalf("the run did not end within %v of the cancel (state %s, %d tokens written)", rtWait, r.State(), h.written.Load())
	}
	t.Logf("the run ended %v after the cancel was acknowledged", time.Since(sent))
	assert.Equal(t, messaging.RunCancelled, r.State())
	assert.ErrorIs(t, rtRecv(t, h.done), messaging.ErrRunCancelled)
	assert.Less(t, h.written.Load(), int64(replyTokens), "the reply stopped short")
}

// TestRun_PauseHoldsAStreamInsideAHandler: a stream.pause holds the
// handler's writes until the stream.resume; the whole reply is stored
// after it.
func TestRun_PauseHoldsAStreamInsideAHandler(t *testing.T) {
	e := newRTEnv(t)
	agent := e.connect(rtAgentTok)
	user := e.connect(rtUserTok)
	h := replyFromHandler(t, e, agent)
	_, err := user.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: e.conv, Content: "question"})
	require.NoError(t, err)
	r := rtRecv(t, h.run)
	eventually(t, "the reply is under way", func() bool { return h.written.Load() >= 5 })

	e.control(user, messaging.ControlParams{Event: "pause", RunID: r.ID()})
	eventually(t, "the run is paused", func() bool { return r.State() == messaging.RunPaused })
	atPause := h.written.Load()
	time.Sleep(200 * time.Millisecond) // twenty writes' worth
	assert.LessOrEqual(t, h.written.Load()-atPause, int64(1), "writes are held while paused (one may have been under way)")
	assert.Less(t, h.written.Load(), int64(replyTokens))

	e.control(user, messaging.ControlParams{Event: "resume", RunID: r.ID()})
	require.NoError(t, rtRecv(t, h.done))
	assert.Equal(t, int64(replyTokens), h.written.Load())
	var want strings.Builder
	for i := range replyTokens {
		want.WriteString(chunk(i))
	}
	var reply messaging.Message
	for _, m := range e.srv.Messages(e.conv) {
		if m.SenderID == rtAgentID && m.RunID == r.ID() {
			reply = m
		}
	}
	assert.Equal(t, want.String(), reply.Content, "the whole reply is stored after the resume")
}
