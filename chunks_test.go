package messaging_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
)

// The receiving side of a stream: OnMessage and OnMessageUpdate become
// ordered chunks, completed when the agent stops typing.
func TestChunkAssemblerFollowsAStream(t *testing.T) {
	e := newRTEnv(t)
	agent := e.connect(rtAgentTok)
	user := e.connect(rtUserTok)
	chunks := make(chan messaging.Chunk, 100)
	a := messaging.NewChunkAssembler(func(c messaging.Chunk) { chunks <- c })
	detach := a.Attach(user)
	defer detach()

	r, err := agent.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal())
	require.NoError(t, err)
	defer r.End()
	st, err := r.Stream(e.ctx, messaging.StreamParams{})
	require.NoError(t, err)
	for _, part := range []string{"Hello", ", world", "!"} {
		_, err := st.WriteString(part)
		require.NoError(t, err)
		require.NoError(t, st.Flush(e.ctx))
	}
	require.NoError(t, st.Close())

	var got []messaging.Chunk
	for {
		c := rtRecv(t, chunks)
		got = append(got, c)
		if c.Complete {
			break
		}
	}
	var texts []string
	for i, c := range got {
		assert.Equal(t, i+1, c.Seq)
		assert.Equal(t, st.ID(), c.MessageID)
		assert.Equal(t, e.conv, c.ConversationID)
		assert.Equal(t, rtAgentID, c.SenderID)
		assert.Equal(t, r.ID(), c.RunID)
		assert.False(t, c.Replaced)
		texts = append(texts, c.Text)
	}
	assert.Equal(t, []string{"Hello", ", world", "!", ""}, texts)
	last := got[len(got)-1]
	assert.Equal(t, "Hello, world!", last.Content, "complete after the final edit")
	assert.Empty(t, last.StoppedBy)

	// A message that was not streamed is one complete chunk.
	_, err = agent.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: e.conv, Content: "plain"})
	require.NoError(t, err)
	c := rtRecv(t, chunks)
	assert.Equal(t, messaging.Chunk{MessageID: c.MessageID, ConversationID: e.conv, SenderID: rtAgentID,
		Seq: 1, Text: "plain", Content: "plain", Complete: true}, c)
}

// A preempted stream completes on the control event, without waiting for
// the typing stop.
func TestChunkAssemblerCompletesOnPreempt(t *testing.T) {
	e := newRTEnv(t)
	agent := e.connect(rtAgentTok)
	user := e.connect(rtUserTok)
	chunks := make(chan messaging.Chunk, 100)
	defer messaging.NewChunkAssembler(func(c messaging.Chunk) { chunks <- c }).Attach(user)()

	r, err := agent.Run(e.ctx, e.conv, "", messaging.WithRunPrincipal())
	require.NoError(t, err)
	defer r.End()
	st, err := r.Stream(e.ctx, messaging.StreamParams{})
	require.NoError(t, err)
	_, err = st.WriteString("The answer is")
	require.NoError(t, err)
	require.NoError(t, st.Flush(e.ctx))
	assert.Equal(t, "The answer is", rtRecv(t, chunks).Text)
	e.control(user, messaging.ControlParams{Event: "preempt", RunID: r.ID()})
	c := rtRecv(t, chunks)
	assert.True(t, c.Complete)
	assert.Equal(t, messaging.StreamPreempt, c.StoppedBy)
	assert.Equal(t, "The answer is", c.Content)
	<-r.Context().Done()
	assert.ErrorIs(t, st.Close(), messaging.ErrRunPreempted)
}

func TestChunkAssemblerRules(t *testing.T) {
	const conv = "0c0c0c0c-0000-4000-8000-000000000000"
	const run = "0d0d0d0d-0000-4000-8000-000000000000"
	var got []messaging.Chunk
	a := messaging.NewChunkAssembler(func(c messaging.Chunk) { got = append(got, c) })
	take := func() []messaging.Chunk { g := got; got = nil; return g }
	streamed := func(id, sender, content string) *messaging.Message {
		return &messaging.Message{ID: id, ConversationID: conv, SenderID: sender, RunID: run, Content: content,
			Metadata: map[string]any{messaging.StreamMetadataKey: true}}
	}

	a.Message(streamed("m1", "ag", "a"))
	a.Message(streamed("m1", "ag", "a")) // a repeat changes nothing
	a.Message(streamed("m1", "ag", "ab"))
	a.Message(streamed("m1", "ag", "xyz")) // rewritten
	g := take()
	require.Len(t, g, 3)
	assert.Equal(t, []string{"a", "b", "xyz"}, []string{g[0].Text, g[1].Text, g[2].Text})
	assert.True(t, g[2].Replaced)
	assert.False(t, g[2].Complete)

	// Someone else stopping typing, or the sender in another conversation,
	// completes nothing.
	a.TypingStopped(messaging.TypingEvent{ConversationID: conv, UserID: "someone"})
	a.TypingStopped(messaging.TypingEvent{ConversationID: "0e0e0e0e-0000-4000-8000-000000000000", UserID: "ag"})
	assert.Empty(t, take())
	a.TypingStopped(messaging.TypingEvent{ConversationID: strings.ToUpper(conv), UserID: "ag"})
	g = take()
	require.Len(t, g, 1)
	assert.Equal(t, messaging.Chunk{MessageID: "m1", ConversationID: conv, SenderID: "ag", RunID: run,
		Seq: 4, Content: "xyz", Complete: true}, g[0])
	a.TypingStopped(messaging.TypingEvent{ConversationID: conv, UserID: "ag"})
	assert.Empty(t, take(), "completed once")

	// A later edit of a completed message continues its numbering.
	a.Message(streamed("m1", "ag", "xyz!"))
	g = take()
	require.Len(t, g, 1)
	assert.Equal(t, 5, g[0].Seq)
	assert.Equal(t, "!", g[0].Text)
	assert.True(t, g[0].Complete)

	// Control events: by run id; by a target naming the sender; a handoff
	// without run id names the recipient and completes nothing; pause
	// completes nothing.
	a.Message(streamed("m2", "ag", "one"))
	a.Message(streamed("m3", "other", "two"))
	take()
	a.Control(messaging.ControlEvent{Event: messaging.StreamPause, ConversationID: conv, RunID: run})
	a.Control(messaging.ControlEvent{Event: messaging.StreamHandoff, ConversationID: conv, Target: &messaging.ControlTarget{PrincipalID: "ag"}})
	assert.Empty(t, take())
	a.Control(messaging.ControlEvent{Event: messaging.StreamCancel, ConversationID: conv, Target: &messaging.ControlTarget{PrincipalID: "other"}})
	g = take()
	require.Len(t, g, 1)
	assert.Equal(t, "m3", g[0].MessageID)
	assert.Equal(t, messaging.StreamCancel, g[0].StoppedBy)
	a.Control(messaging.ControlEvent{Event: messaging.StreamRoute, ConversationID: conv, RunID: strings.ToUpper(run)})
	g = take()
	require.Len(t, g, 1)
	assert.Equal(t, "m2", g[0].MessageID)
	assert.Equal(t, messaging.StreamRoute, g[0].StoppedBy)

	// Complete by hand; Delete forgets; control records are not chunks.
	a.Message(streamed("m4", "ag", "four"))
	a.Message(streamed("m5", "ag", "five"))
	take()
	a.Complete("m4")
	a.Complete("m4")
	g = take()
	require.Len(t, g, 1)
	assert.True(t, g[0].Complete)
	a.Delete("m5")
	a.TypingStopped(messaging.TypingEvent{ConversationID: conv, UserID: "ag"})
	assert.Empty(t, take())
	a.Message(&messaging.Message{ID: "c1", ConversationID: conv, Content: "stream.pause", ContentType: messaging.ContentTypeEvent})
	a.Message(nil)
	assert.Empty(t, take())
}

// Activity records are messages of their own kind, not streamed text: the
// assembler leaves them to OnActivity and ActivityTracker.
func TestChunkAssemblerIgnoresActivityRecords(t *testing.T) {
	var got []messaging.Chunk
	a := messaging.NewChunkAssembler(func(c messaging.Chunk) { got = append(got, c) })
	rec := &messaging.Message{ID: "5b0e6a1c-3f7d-4c2a-9e8b-1d2f3a4b5c6d", ConversationID: "c", SenderID: "agent",
		ContentType: messaging.ActivityContentType, Content: `{"kind":"tool_call","state":"running","seq":1}`}
	a.Message(rec)
	a.Complete(rec.ID)
	text := &messaging.Message{ID: "6b0e6a1c-3f7d-4c2a-9e8b-1d2f3a4b5c6d", ConversationID: "c", SenderID: "agent", Content: "Hello"}
	a.Message(text)
	if len(got) != 1 || got[0].MessageID != text.ID {
		t.Fatalf("chunks %+v, want one of the text message only", got)
	}
}
