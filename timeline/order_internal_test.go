package timeline

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
)

// Orderings of events, acknowledgements and fetches that the service
// produces only by chance, replayed deterministically on a timeline
// without socket or client (nothing here may do I/O).

const (
	self  = "11111111-1111-4111-8111-111111111111"
	other = "22222222-2222-4222-8222-222222222222"
	conv  = "33333333-3333-4333-8333-333333333333"
)

func bare(t *testing.T, r Resolver) *Timeline {
	cfg := defaultConfig()
	cfg.resolver = r
	tl := &Timeline{conv: conv, cfg: cfg, selfID: self, feed: newFeed(), wake: make(chan struct{}, 1),
		entries: make(map[string]*entry), syncDone: make(chan struct{}), loaded: true}
	tl.ctx, tl.cancel = t.Context(), func() {}
	// Changes stay queued (no feed goroutine runs): see queued.
	tl.feed.subscribe(func(Change) {})
	return tl
}

func queued(tl *Timeline) []Change {
	tl.feed.mu.Lock()
	defer tl.feed.mu.Unlock()
	return tl.feed.queue
}

var clock = time.Date(2025, 1, 15, 10, 30, 0, 0, time.UTC)

func msg(id string, seq int64, sender, content string) *messaging.Message {
	at := clock.Add(time.Duration(seq) * time.Millisecond)
	return &messaging.Message{ID: id, ConversationID: conv, SenderID: sender, Content: content, Sequence: seq, CreatedAt: at}
}

func edited(m *messaging.Message, content string, at time.Duration) *messaging.Message {
	c := *m
	u := clock.Add(at)
	c.Content, c.UpdatedAt = content, &u
	return &c
}

// edit applies a local edit as Edit does, without calling the socket.
func edit(tl *Timeline, id, content string) *op {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	e := tl.entries[id]
	o := &op{kind: OpEdit, content: content, at: time.Now()}
	tl.addOp(e, o)
	tl.refresh(e, note{cause: CauseApplied, op: OpEdit})
	return o
}

func ack(tl *Timeline, id string, o *op, m *messaging.Message, err error) {
	tl.finish(tl.entries[id], o, m, err)
}

func shown(t *testing.T, tl *Timeline, id string) Entry {
	t.Helper()
	en, ok := tl.Get(id)
	require.True(t, ok, "entry %s shown", id)
	return en
}

func TestAckOvertakingOlderEvents(t *testing.T) {
	t.Parallel()
	tl := bare(t, Manual)
	x := msg("x", 1, self, "v0")
	tl.onNew(x)
	o := edit(tl, "x", "mine")

	// The server applied another device's edit, then ours; our ack is
	// handled before either event.
	ack(tl, "x", o, edited(x, "mine", 20), nil)
	assert.Equal(t, "mine", shown(t, tl, "x").Message.Content)
	assert.Equal(t, Confirmed, shown(t, tl, "x").State)

	tl.onUpdate(edited(x, "theirs", 10)) // older than our ack: not shown
	en := shown(t, tl, "x")
	assert.Equal(t, "mine", en.Message.Content, "an older event does not undo the acknowledged edit")
	require.NotNil(t, en.Conflict, "yet it conflicted with our edit")
	assert.Equal(t, "theirs", en.Conflict.Server.Content)
	assert.Equal(t, "mine", en.Conflict.Local.Content)

	tl.onUpdate(edited(x, "mine", 20)) // our echo: in order again
	tl.onUpdate(edited(x, "later", 30))
	assert.Equal(t, "later", shown(t, tl, "x").Message.Content)
	assert.Zero(t, tl.Pending())
}

func TestUpdateAfterEchoBeforeAck(t *testing.T) {
	t.Parallel()
	tl := bare(t, Manual)
	x := msg("x", 1, self, "v0")
	tl.onNew(x)
	o := edit(tl, "x", "mine")
	tl.onUpdate(edited(x, "mine", 10))   // our echo
	tl.onUpdate(edited(x, "theirs", 20)) // then another device, before our ack
	assert.Len(t, tl.Conflicts(), 1)
	ack(tl, "x", o, edited(x, "mine", 10), nil)
	en := shown(t, tl, "x")
	assert.Equal(t, "theirs", en.Message.Content, "the server's latest")
	assert.Equal(t, Confirmed, en.State)
	require.NotNil(t, en.Conflict)
}

func TestNoConflictOnOthersMessages(t *testing.T) {
	t.Parallel()
	tl := bare(t, func(Conflict) Resolution { panic("no conflict expected") })
	y := msg("y", 1, other, "theirs")
	tl.onNew(y)
	o := edit(tl, "y", "mine") // will be refused
	tl.onUpdate(edited(y, "theirs, edited", 10))
	assert.Equal(t, "mine", shown(t, tl, "y").Message.Content, "the pending edit shows on top")
	refusal := &messaging.AckError{Event: messaging.EventMessageEdit, Message: "Not authorized to edit this message"}
	ack(tl, "y", o, nil, refusal)
	en := shown(t, tl, "y")
	assert.Equal(t, "theirs, edited", en.Message.Content, "rolled back onto the server's version")
	assert.Nil(t, en.Conflict)
	assert.Empty(t, tl.Conflicts())
}

func TestFetchYieldsToWhatTheSocketSaidMeanwhile(t *testing.T) {
	t.Parallel()
	tl := bare(t, Manual)
	a, b, c := msg("a", 1, other, "a0"), msg("b", 2, other, "b0"), msg("c", 3, other, "c0")
	for _, m := range []*messaging.Message{a, b, c} {
		tl.onNew(m)
	}
	// A fetch starts; meanwhile the socket reports an edit of a and a new
	// message d, then the fetch answers what it read before them, without
	// b (deleted while the socket was away).
	tl.mu.Lock()
	tl.fetching, tl.touched = true, make(map[string]bool)
	tl.mu.Unlock()
	tl.onUpdate(edited(a, "a1", 10))
	d := msg("d", 4, other, "d0")
	tl.onNew(d)
	tl.mu.Lock()
	touched := tl.touched
	tl.fetching, tl.touched = false, nil
	tl.merge([]messaging.Message{*a, *c}, touched, time.Now(), time.Time{}, true)
	tl.mu.Unlock()

	var got []string
	for _, en := range tl.Messages() {
		got = append(got, en.Message.ID+"="+en.Message.Content)
	}
	assert.Equal(t, []string{"a=a1", "c=c0", "d=d0"}, got)
	// A late event about the deleted message does not bring it back.
	tl.onUpdate(edited(b, "b1", 20))
	tl.onNew(b)
	_, ok := tl.Get("b")
	assert.False(t, ok)
}

func TestUnknownDeliveryDecidedWhenDue(t *testing.T) {
	t.Parallel()
	tl := bare(t, Manual)
	tl.mu.Lock()
	e := tl.newEntry("s")
	o := tl.sendOp(e, messaging.SendMessageParams{ID: "s", ConversationID: conv, Content: "maybe"})
	tl.addOp(e, o)
	tl.refresh(e, note{cause: CauseApplied, op: OpSend})
	tl.mu.Unlock()
	unknown := fmt.Errorf("messaging: message:send: %w: %w", messaging.ErrDeliveryUnknown, errors.New("lost"))
	ack(tl, "s", o, nil, unknown)
	assert.Equal(t, Pending, shown(t, tl, "s").State)

	// A fetch before the grace period decides nothing; one after it does.
	tl.mu.Lock()
	tl.merge(nil, nil, time.Now(), time.Time{}, true)
	tl.mu.Unlock()
	assert.Equal(t, 1, tl.Pending())
	tl.mu.Lock()
	tl.merge(nil, nil, time.Now().Add(unknownGrace), time.Time{}, true)
	tl.mu.Unlock()
	assert.Zero(t, tl.Pending())
	_, ok := tl.Get("s")
	assert.False(t, ok, "not stored: rolled back")
	last := queued(tl)[len(queued(tl))-1]
	assert.Equal(t, CauseRolledBack, last.Cause)
	assert.Same(t, unknown, last.Err)
}

func TestUnknownDeliveryConfirmedByEcho(t *testing.T) {
	t.Parallel()
	tl := bare(t, Manual)
	tl.mu.Lock()
	e := tl.newEntry("s")
	o := tl.sendOp(e, messaging.SendMessageParams{ID: "s", ConversationID: conv, Content: "maybe"})
	tl.addOp(e, o)
	tl.refresh(e, note{cause: CauseApplied, op: OpSend})
	tl.mu.Unlock()
	ack(tl, "s", o, nil, fmt.Errorf("x: %w", messaging.ErrDeliveryUnknown))
	tl.onNew(msg("s", 7, self, "maybe"))
	en := shown(t, tl, "s")
	assert.Equal(t, Confirmed, en.State)
	assert.EqualValues(t, 7, en.Message.Sequence)
	last := queued(tl)[len(queued(tl))-1]
	assert.Equal(t, CauseConfirmed, last.Cause)
}
