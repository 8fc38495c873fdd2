package messaging_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type typingChange struct {
	conv   string
	typing []string
}

func watchTyping(tr *messaging.TypingTracker) <-chan typingChange {
	ch := make(chan typingChange, 100)
	tr.OnChange(func(conv string, typing []messaging.TypingEvent) {
		ids := []string{}
		for _, ev := range typing {
			ids = append(ids, ev.UserID)
		}
		ch <- typingChange{conv, ids}
	})
	return ch
}

// readConcurrently reads from a tracker while the test runs, for the race
// detector.
func readConcurrently(t *testing.T, read func()) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				read()
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })
}

func TestTypingTrackerExpiresWithoutAStop(t *testing.T) {
	e := newRTEnv(t)
	conv2 := e.group() // before connecting: rooms are joined at connect time
	agent := e.connect(rtAgentTok)
	peer := e.connect(rtPeerTok)
	user := e.connect(rtUserTok)
	clock := &fakeClock{now: time.Date(2025, 1, 15, 10, 30, 0, 0, time.UTC)}
	tr := messaging.NewTypingTracker(user, messaging.WithTypingClock(clock.Now))
	defer tr.Close()
	ch := watchTyping(tr)
	readConcurrently(t, func() { tr.Typing(e.conv); tr.IsTyping(e.conv, rtAgentID) })

	require.NoError(t, agent.StartTyping(e.ctx, e.conv)) // t=0, expires at 5 s
	assert.Equal(t, typingChange{e.conv, []string{rtAgentID}}, rtRecv(t, ch))
	typing := tr.Typing(e.conv)
	require.Len(t, typing, 1)
	assert.Equal(t, messaging.TypingEvent{ConversationID: e.conv, UserID: rtAgentID, UserType: messaging.UserTypeAgent}, typing[0])

	clock.advance(4 * time.Second)
	require.NoError(t, agent.StartTyping(e.ctx, e.conv)) // t=4 s: still typing, now until 9 s
	require.NoError(t, agent.StartTyping(e.ctx, conv2))  // a barrier on the same connection
	assert.Equal(t, typingChange{conv2, []string{rtAgentID}}, rtRecv(t, ch))
	clock.advance(500 * time.Millisecond)
	require.NoError(t, peer.StartTyping(e.ctx, e.conv)) // t=4.5 s, until 9.5 s
	assert.Equal(t, typingChange{e.conv, []string{rtAgentID, rtPeerID}}, rtRecv(t, ch), "in the order they started")

	clock.advance(1500 * time.Millisecond) // t=6 s
	messaging.SweepTyping(tr)
	assert.True(t, tr.IsTyping(e.conv, rtAgentID), "the second start renewed the agent's entry")
	clock.advance(3 * time.Second) // t=9 s
	assert.False(t, tr.IsTyping(e.conv, rtAgentID), "expired, without a typing:stopped")
	assert.Equal(t, []messaging.TypingEvent{{ConversationID: e.conv, UserID: rtPeerID, UserType: messaging.UserTypeUser}}, tr.Typing(e.conv))
	messaging.SweepTyping(tr)
	assert.ElementsMatch(t, []typingChange{{e.conv, []string{rtPeerID}}, {conv2, []string{}}},
		[]typingChange{rtRecv(t, ch), rtRecv(t, ch)})

	require.NoError(t, peer.StopTyping(e.ctx, e.conv))
	assert.Equal(t, typingChange{e.conv, []string{}}, rtRecv(t, ch))
	assert.Empty(t, tr.Typing(e.conv))
	select {
	case c := <-ch:
		t.Fatalf("unexpected change %+v", c)
	default:
	}
}

func TestTypingTrackerTimerAndOffline(t *testing.T) {
	e := newRTEnv(t)
	agent := e.connect(rtAgentTok)
	user := e.connect(rtUserTok)
	tr := messaging.NewTypingTracker(user, messaging.WithTypingExpiry(50*time.Millisecond))
	defer tr.Close()
	ch := watchTyping(tr)

	start := time.Now()
	require.NoError(t, agent.StartTyping(e.ctx, e.conv))
	assert.Equal(t, []string{rtAgentID}, rtRecv(t, ch).typing)
	assert.Equal(t, []string{}, rtRecv(t, ch).typing, "the timer expires the entry")
	t.Logf("typing expired %v after the start (expiry 50ms)", time.Since(start).Round(time.Millisecond))

	// Going offline ends the entry at once.
	tr2 := messaging.NewTypingTracker(user)
	defer tr2.Close()
	ch2 := watchTyping(tr2)
	require.NoError(t, agent.StartTyping(e.ctx, e.conv))
	assert.Equal(t, []string{rtAgentID}, rtRecv(t, ch2).typing)
	require.NoError(t, agent.Close())
	assert.Equal(t, []string{}, rtRecv(t, ch2).typing)

	// The socket's own disconnection forgets everything.
	peer := e.connect(rtPeerTok)
	require.NoError(t, peer.StartTyping(e.ctx, e.conv))
	assert.Equal(t, []string{rtPeerID}, rtRecv(t, ch2).typing)
	e.srv.DropConnections()
	assert.Equal(t, []string{}, rtRecv(t, ch2).typing)
	assert.Empty(t, tr2.Typing(e.conv))
}

func TestPresenceTracker(t *testing.T) {
	e := newRTEnv(t)
	user := e.connect(rtUserTok)
	pt := messaging.NewPresenceTracker(user)
	defer pt.Close()
	ch := make(chan messaging.PresenceChange, 100)
	pt.OnChange(func(c messaging.PresenceChange) {
		if c.UserID == rtPeerID {
			ch <- c
		}
	})
	var reads atomic.Int64
	readConcurrently(t, func() { pt.Status(rtPeerID); pt.Online(e.conv); reads.Add(1) })
	_, known := pt.Status(rtPeerID)
	assert.False(t, known)

	peer := e.connect(rtPeerTok)
	assert.Equal(t, messaging.PresenceChange{UserID: rtPeerID, UserType: messaging.UserTypeUser,
		Status: messaging.PresenceOnline, ConversationID: e.conv, Online: true}, rtRecv(t, ch))
	assert.Contains(t, pt.Online(e.conv), rtPeerID)
	st, known := pt.Status(rtPeerID)
	assert.True(t, known)
	assert.Equal(t, messaging.PresenceOnline, st)

	require.NoError(t, peer.UpdatePresence(e.ctx, messaging.PresenceAway))
	assert.Equal(t, messaging.PresenceChange{UserID: rtPeerID, UserType: messaging.UserTypeUser,
		Previous: messaging.PresenceOnline, Status: messaging.PresenceAway}, rtRecv(t, ch))
	st, _ = pt.Status(rtPeerID)
	assert.Equal(t, messaging.PresenceAway, st)

	require.NoError(t, peer.Close())
	c := rtRecv(t, ch) // participant:offline first, as the service sends it
	assert.Equal(t, e.conv, c.ConversationID)
	assert.False(t, c.Online)
	c = rtRecv(t, ch)
	assert.Equal(t, messaging.PresenceChange{UserID: rtPeerID, UserType: messaging.UserTypeUser,
		Previous: messaging.PresenceAway, Status: messaging.PresenceOffline}, c)
	assert.NotContains(t, pt.Online(e.conv), rtPeerID)
	st, _ = pt.Status(rtPeerID)
	assert.Equal(t, messaging.PresenceOffline, st)

	// The socket's own disconnection forgets everything.
	e.srv.DropConnections()
	assert.Equal(t, messaging.PresenceChange{UserID: rtPeerID, UserType: messaging.UserTypeUser,
		Previous: messaging.PresenceOffline}, rtRecv(t, ch))
	_, known = pt.Status(rtPeerID)
	assert.False(t, known)
	assert.Positive(t, reads.Load())
}
