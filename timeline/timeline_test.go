package timeline_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"
	"github.com/symbia-labs/messaging-go/timeline"
)

func TestNewChecksBeforeIO(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := e.socket(aliceTok)
	c := e.client(aliceTok)
	before := e.srv.Stats().Requests
	for _, id := range []string{"", "not-a-uuid", "{" + e.conv + "}"} {
		_, err := timeline.New(ctxFor(t), s, c, id)
		require.ErrorIs(t, err, messaging.ErrInvalidArgument, id)
	}
	_, err := timeline.New(ctxFor(t), nil, c, e.conv)
	require.ErrorIs(t, err, messaging.ErrInvalidArgument)
	_, err = timeline.New(ctxFor(t), s, c, e.conv, timeline.WithHistoryLimit(0))
	require.ErrorIs(t, err, messaging.ErrInvalidArgument)
	assert.Equal(t, before, e.srv.Stats().Requests, "no request before the checks pass")

	// Someone who may not read the conversation gets the service's answer.
	e.srv.AddUser("carol", messagingtest.Principal{ID: "33333333-3333-4333-8333-333333333333"})
	_, err = timeline.New(ctxFor(t), e.socket("carol"), e.client("carol"), e.conv)
	require.ErrorIs(t, err, messaging.ErrForbidden)
}

func TestLoadsRecentHistoryThenStaysLive(t *testing.T) {
	t.Parallel()
	// A clock that moves a millisecond at every reading: the window
	// takes in every message of its oldest millisecond.
	var tick atomic.Int64
	start := time.Now()
	e := newEnv(t, messagingtest.WithClock(func() time.Time {
		return start.Add(time.Duration(tick.Add(1)) * time.Millisecond)
	}))
	for _, c := range []string{"one", "two", "three", "four", "five"} {
		e.send(bobTok, c)
	}
	tl, _ := e.timeline(timeline.WithHistoryLimit(3))
	assert.Equal(t, []string{"three", "four", "five"}, contents(tl.Messages()))
	for _, en := range tl.Messages() {
		assert.Equal(t, timeline.Confirmed, en.State)
	}

	r := record(t, tl)
	bob := e.socket(bobTok)
	m, err := bob.SendMessage(ctxFor(t), messaging.SendMessageParams{ConversationID: e.conv, Content: "six"})
	require.NoError(t, err)
	c := r.wait(t, "six added", func(c timeline.Change) bool { return c.Kind == timeline.Added })
	assert.Equal(t, timeline.CauseServer, c.Cause)
	assert.Equal(t, m.ID, c.Entry.Message.ID)

	_, err = bob.EditMessage(ctxFor(t), m.ID, "six, edited")
	require.NoError(t, err)
	r.wait(t, "six edited", func(c timeline.Change) bool {
		return c.Kind == timeline.Updated && c.Entry.Message.Content == "six, edited"
	})
	require.NoError(t, bob.DeleteMessage(ctxFor(t), m.ID))
	r.wait(t, "six removed", func(c timeline.Change) bool { return c.Kind == timeline.Removed })
	assert.Equal(t, []string{"three", "four", "five"}, contents(tl.Messages()))
	assert.Zero(t, tl.Pending())
}

func TestOptimisticSendVisibleBeforeAck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.send(bobTok, "hi")
	tl, _ := e.timeline()
	r := record(t, tl)
	e.srv.SetLatency(150 * time.Millisecond) // the server takes its time

	type result struct {
		en  timeline.Entry
		err error
	}
	done := make(chan result, 1)
	go func() {
		en, err := tl.Send(ctxFor(t), messaging.SendMessageParams{Content: "hello"})
		done <- result{en, err}
	}()
	applied := r.wait(t, "applied", func(c timeline.Change) bool { return c.Cause == timeline.CauseApplied })
	assert.Equal(t, timeline.Added, applied.Kind)
	assert.Equal(t, timeline.OpSend, applied.Op)
	id := applied.Entry.Message.ID

	// Before the acknowledgement: shown last, pending, with our sender.
	select {
	case <-done:
		t.Fatal("Send returned before the server answered")
	default:
	}
	msgs := tl.Messages()
	require.Equal(t, []string{"hi", "hello"}, contents(msgs))
	assert.Equal(t, timeline.Pending, msgs[1].State)
	assert.Equal(t, timeline.OpSend, msgs[1].Op)
	assert.Equal(t, aliceID, msgs[1].Message.SenderID)
	assert.Equal(t, 1, tl.Pending())

	res := <-done
	require.NoError(t, res.err)
	assert.Equal(t, timeline.Confirmed, res.en.State)
	assert.Equal(t, id, res.en.Message.ID)
	assert.EqualValues(t, 2, res.en.Message.Sequence, "the server's version")
	r.wait(t, "confirmed", func(c timeline.Change) bool { return c.Cause == timeline.CauseConfirmed })
	assert.Zero(t, tl.Pending())

	// The echo is matched to the entry: one entry, one Added.
	e.srv.SetLatency(0)
	require.NoError(t, tl.Sync(ctxFor(t)))
	msgs = tl.Messages()
	require.Len(t, msgs, 2)
	assert.Equal(t, id, msgs[1].Message.ID)
	added := 0
	for _, c := range r.all() {
		if c.Kind == timeline.Added {
			added++
		}
	}
	assert.Equal(t, 1, added)
	assert.Equal(t, e.history(aliceTok)[1].ID, id)
}

func TestRefusedEditRollsBackExactly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bobs := e.send(bobTok, "bob's words")
	e.send(aliceTok, "alice's words")
	tl, _ := e.timeline()
	r := record(t, tl)
	before := tl.Messages()

	_, err := tl.Edit(ctxFor(t), bobs.ID, "put in bob's mouth")
	var ae *messaging.AckError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "Not authorized to edit this message", ae.Message)
	assert.ErrorIs(t, err, messaging.ErrForbidden)

	assert.Equal(t, before, tl.Messages(), "the view is exactly what it was")
	assert.Zero(t, tl.Pending())

	applied := r.wait(t, "applied", func(c timeline.Change) bool { return c.Cause == timeline.CauseApplied })
	assert.Equal(t, "put in bob's mouth", applied.Entry.Message.Content)
	assert.Equal(t, timeline.Pending, applied.Entry.State)
	rb := r.wait(t, "rolled back", func(c timeline.Change) bool { return c.Cause == timeline.CauseRolledBack })
	assert.Equal(t, timeline.Updated, rb.Kind)
	assert.Equal(t, timeline.OpEdit, rb.Op)
	assert.Same(t, err, rb.Err, "the feed reports the call's error")
	assert.Equal(t, before[0], rb.Entry)
}

func TestRefusedDeleteRestoresTheEntry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bobs := e.send(bobTok, "keep me")
	tl, _ := e.timeline()
	r := record(t, tl)
	before := tl.Messages()

	e.srv.SetLatency(100 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- tl.Delete(ctxFor(t), bobs.ID) }()
	applied := r.wait(t, "applied", func(c timeline.Change) bool { return c.Cause == timeline.CauseApplied })
	assert.Equal(t, timeline.OpDelete, applied.Entry.Op)
	assert.NotNil(t, applied.Entry.Message.DeletedAt, "a pending deletion is shown as such")
	err := <-done
	assert.ErrorIs(t, err, messaging.ErrForbidden)
	assert.Equal(t, before, tl.Messages())
	rb := r.wait(t, "rolled back", func(c timeline.Change) bool { return c.Cause == timeline.CauseRolledBack })
	assert.Same(t, err, rb.Err)
	assert.Equal(t, before[0], rb.Entry)
}

func TestOwnEditAndDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tl, _ := e.timeline()
	r := record(t, tl)
	en, err := tl.Send(ctxFor(t), messaging.SendMessageParams{Content: "draft"})
	require.NoError(t, err)
	id := en.Message.ID

	// Changes of one message run in order, even when made at once.
	errs := make(chan error, 3)
	go func() { _, err := tl.Edit(ctxFor(t), id, "second"); errs <- err }()
	r.wait(t, "first edit applied", func(c timeline.Change) bool {
		return c.Cause == timeline.CauseApplied && c.Entry.Message.Content == "second"
	})
	go func() { _, err := tl.Edit(ctxFor(t), id, "third"); errs <- err }()
	r.wait(t, "second edit applied", func(c timeline.Change) bool {
		return c.Cause == timeline.CauseApplied && c.Entry.Message.Content == "third"
	})
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	got, ok := tl.Get(id)
	require.True(t, ok)
	assert.Equal(t, "third", got.Message.Content)
	assert.Equal(t, timeline.Confirmed, got.State)
	assert.Equal(t, "third", e.history(aliceTok)[0].Content)

	require.NoError(t, tl.Delete(ctxFor(t), id))
	_, ok = tl.Get(id)
	assert.False(t, ok)
	assert.Empty(t, tl.Messages())
	assert.Empty(t, e.history(aliceTok))
	_, err = tl.Edit(ctxFor(t), id, "too late")
	assert.ErrorIs(t, err, timeline.ErrUnknownMessage)
	assert.ErrorIs(t, err, messaging.ErrNotFound)
	assert.Zero(t, tl.Pending())
}

func TestSendRefusedIsRolledBackOrKeptAsFailed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, messagingtest.WithParticipantCacheTTL(0))
	owner := e.client(aliceTok)
	// Bob's timelines; alice removes bob, so his sends are refused.
	bobSock := e.socket(bobTok)
	tl, err := timeline.New(ctxFor(t), bobSock, e.client(bobTok), e.conv, timeline.WithKeepFailedSends(true))
	require.NoError(t, err)
	defer tl.Close()
	tl2, err := timeline.New(ctxFor(t), bobSock, e.client(bobTok), e.conv)
	require.NoError(t, err)
	defer tl2.Close()
	r := record(t, tl)
	require.NoError(t, owner.RemoveParticipant(ctxFor(t), e.conv, bobID))

	en, err := tl.Send(ctxFor(t), messaging.SendMessageParams{Content: "anyone?"})
	require.ErrorIs(t, err, messaging.ErrNotParticipant)
	assert.Equal(t, timeline.Failed, en.State)
	msgs := tl.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, timeline.Failed, msgs[0].State)
	assert.Same(t, err, msgs[0].Err)
	rb := r.wait(t, "rolled back", func(c timeline.Change) bool { return c.Cause == timeline.CauseRolledBack })
	assert.Same(t, err, rb.Err)
	assert.Zero(t, tl.Pending())

	// Back in the conversation, the retry goes through with the same id.
	_, err = owner.AddParticipant(ctxFor(t), e.conv, bobID, messaging.UserTypeUser)
	require.NoError(t, err)
	again, err := tl.Retry(ctxFor(t), en.Message.ID)
	require.NoError(t, err)
	assert.Equal(t, timeline.Confirmed, again.State)
	assert.Equal(t, en.Message.ID, again.Message.ID)
	require.Len(t, e.history(aliceTok), 1)
	assert.Equal(t, "anyone?", e.history(aliceTok)[0].Content)

	// Another failure, discarded.
	require.NoError(t, owner.RemoveParticipant(ctxFor(t), e.conv, bobID))
	en, err = tl.Send(ctxFor(t), messaging.SendMessageParams{Content: "hello?"})
	require.Error(t, err)
	require.NoError(t, tl.Discard(en.Message.ID))
	assert.Equal(t, []string{"anyone?"}, contents(tl.Messages()))
	assert.ErrorIs(t, tl.Discard(en.Message.ID), timeline.ErrNotFailed)

	// Without WithKeepFailedSends the entry simply leaves.
	_, err = tl2.Send(ctxFor(t), messaging.SendMessageParams{Content: "gone"})
	require.Error(t, err)
	assert.Equal(t, []string{"anyone?"}, contents(tl2.Messages()))
}

func TestTimeoutRollsBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tl, sock := e.timeline(timeline.WithChangeTimeout(50 * time.Millisecond))
	// A socket that cannot reach the server: the send never goes out.
	e.srv.Stop()
	eventually(t, "disconnected", func() bool { return !sock.Connected() })
	r := record(t, tl)
	_, err := tl.Send(ctxFor(t), messaging.SendMessageParams{Content: "into the void"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, messaging.ErrDeliveryUnknown)
	assert.Empty(t, tl.Messages())
	assert.Zero(t, tl.Pending())
	rb := r.wait(t, "rolled back", func(c timeline.Change) bool { return c.Cause == timeline.CauseRolledBack })
	assert.Equal(t, timeline.Removed, rb.Kind)
	e.srv.Start()
}

func TestUnknownDeliveryIsSettledByTheHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tl, _ := e.timeline()
	r := record(t, tl)
	e.srv.SetLatency(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(ctxFor(t), 100*time.Millisecond)
	defer cancel()
	en, err := tl.Send(ctx, messaging.SendMessageParams{Content: "maybe"})
	require.ErrorIs(t, err, messaging.ErrDeliveryUnknown)
	assert.Equal(t, timeline.Pending, en.State, "neither confirmed nor rolled back")
	assert.Equal(t, 1, tl.Pending())

	// The server did store it: the reconciliation confirms it.
	e.srv.SetLatency(0)
	eventually(t, "settled", func() bool {
		_ = tl.Sync(ctxFor(t))
		return tl.Pending() == 0
	})
	c := r.wait(t, "confirmed", func(c timeline.Change) bool { return c.Cause == timeline.CauseConfirmed })
	assert.Equal(t, en.Message.ID, c.Entry.Message.ID)
	msgs := tl.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, timeline.Confirmed, msgs[0].State)
	for _, c := range r.all() {
		assert.NotEqual(t, timeline.CauseRolledBack, c.Cause)
	}
}

func TestResyncAfterReconnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	edited := e.send(bobTok, "before")
	deleted := e.send(bobTok, "doomed")
	// Alice's socket does not reconnect by itself, so that bob acts while
	// she is away.
	sock := e.socket(aliceTok, messaging.WithReconnection(false))
	tl := e.timelineOn(sock)
	bob := e.socket(bobTok)
	assert.Equal(t, []string{"before", "doomed"}, contents(tl.Messages()))

	e.srv.DropConnections()
	eventually(t, "alice disconnected", func() bool { return sock.State() == messaging.StateDisconnected })
	eventually(t, "bob back", bob.Connected)
	_, err := bob.EditMessage(ctxFor(t), edited.ID, "after")
	require.NoError(t, err)
	require.NoError(t, bob.DeleteMessage(ctxFor(t), deleted.ID))
	_, err = bob.SendMessage(ctxFor(t), messaging.SendMessageParams{ConversationID: e.conv, Content: "new"})
	require.NoError(t, err)
	assert.Equal(t, []string{"before", "doomed"}, contents(tl.Messages()), "alice heard nothing")

	require.NoError(t, sock.Connect(ctxFor(t)))
	eventually(t, "reconciled", func() bool {
		got := contents(tl.Messages())
		return len(got) == 2 && got[0] == "after" && got[1] == "new"
	})
}

func TestCloseEndsEverything(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tl, _ := e.timeline()
	require.NoError(t, tl.Close())
	require.NoError(t, tl.Close())
	_, err := tl.Send(ctxFor(t), messaging.SendMessageParams{Content: "x"})
	assert.ErrorIs(t, err, timeline.ErrClosed)
	assert.ErrorIs(t, tl.Sync(ctxFor(t)), timeline.ErrClosed)
}

func TestCloseFromAHandler(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tl, _ := e.timeline()
	closed := make(chan struct{})
	tl.OnChange(func(timeline.Change) {
		_ = tl.Close()
		close(closed)
	})
	go func() { _, _ = tl.Send(context.Background(), messaging.SendMessageParams{Content: "bye"}) }()
	select {
	case <-closed:
	case <-time.After(waitTimeout):
		t.Fatal("Close from a handler did not return")
	}
}

func TestHandlerPanicsDoNotStopTheFeed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tl, _ := e.timeline()
	tl.OnChange(func(timeline.Change) { panic("boom") })
	r := record(t, tl)
	_, err := tl.Send(ctxFor(t), messaging.SendMessageParams{Content: "still here"})
	require.NoError(t, err)
	r.wait(t, "confirmed", func(c timeline.Change) bool { return c.Cause == timeline.CauseConfirmed })
	require.False(t, errors.Is(err, timeline.ErrClosed))
}

func TestFillsSequenceGaps(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A socket that does not fill gaps itself, and misses messages while
	// out of the conversation's room.
	sock := e.socket(aliceTok, messaging.WithBackfill(false))
	tl := e.timelineOn(sock)
	e.send(bobTok, "one")
	eventually(t, "one", func() bool { return len(tl.Messages()) == 1 })
	require.NoError(t, sock.LeaveConversation(ctxFor(t), e.conv))
	e.send(bobTok, "two")
	e.send(bobTok, "three")
	require.NoError(t, sock.JoinConversation(ctxFor(t), e.conv))
	e.send(bobTok, "four") // sequence 4 after 1: a gap
	eventually(t, "the gap filled", func() bool {
		got := contents(tl.Messages())
		return len(got) == 4 && got[1] == "two" && got[2] == "three" && got[3] == "four"
	})
}

func TestWindowTakesTheOldestMillisecondWhole(t *testing.T) {
	t.Parallel()
	at := time.Now()
	e := newEnv(t, messagingtest.WithClock(func() time.Time { return at }))
	for _, c := range []string{"a", "b", "c", "d"} {
		e.send(bobTok, c)
	}
	tl, _ := e.timeline(timeline.WithHistoryLimit(2))
	assert.Equal(t, []string{"a", "b", "c", "d"}, contents(tl.Messages()), "all four share the oldest millisecond")
}
