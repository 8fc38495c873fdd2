package messaging

// Unit tests of the socket's delivery rules, feeding server events to the
// socketio hook directly; the history comes from a stub REST server.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const unitConv = "0c7f3d1e-2b4a-4c6d-9e8f-1a2b3c4d5e6f"

// unitSocket is a socket whose goroutines run but which never connects.
type unitSocket struct {
	*Socket
	fetches atomic.Int32
	mu      sync.Mutex
	history []Message // what the stub serves, oldest first
	got     chan *Message
}

func newUnitSocket(t *testing.T, listen bool) *unitSocket {
	t.Helper()
	u := &unitSocket{got: make(chan *Message, 1000)}
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.fetches.Add(1)
		after, err := time.Parse(wireTime, r.URL.Query().Get("after"))
		require.NoError(t, err)
		u.mu.Lock()
		var page []Message
		for _, m := range u.history {
			if m.CreatedAt.After(after) {
				page = append(page, m)
			}
		}
		u.mu.Unlock()
		_ = json.NewEncoder(w).Encode(page)
	}))
	t.Cleanup(stub.Close)
	s, err := NewSocket(WithEndpoint(stub.URL), WithHTTPClient(stub.Client()))
	require.NoError(t, err)
	u.Socket = s
	if listen {
		s.OnMessage(func(m *Message) { u.got <- m })
	}
	s.start()
	t.Cleanup(func() { _ = s.Close() })
	return u
}

var unitT0 = time.Date(2026, 11, 21, 22, 0, 0, 0, time.UTC)

func unitMsg(seq int64) Message {
	return Message{
		ID:             fmt.Sprintf("00000000-0000-4000-8000-%012d", seq),
		ConversationID: unitConv, Content: fmt.Sprint(seq), Sequence: seq,
		CreatedAt: unitT0.Add(time.Duration(seq) * time.Millisecond),
	}
}

// live feeds a message:new as the socketio hook receives it.
func (u *unitSocket) live(t *testing.T, m Message) {
	t.Helper()
	b, err := json.Marshal(m)
	require.NoError(t, err)
	u.onEvent(EventMessageNew, []json.RawMessage{b})
}

func (u *unitSocket) store(ms ...Message) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.history = append(u.history, ms...)
}

func (u *unitSocket) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-u.got:
		return m.Content
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
		return ""
	}
}

func (u *unitSocket) contents(t *testing.T, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		out[i] = u.next(t)
	}
	return out
}

// barrier waits until every event fed so far has been handled.
func (u *unitSocket) barrier(t *testing.T) {
	t.Helper()
	done := make(chan struct{})
	off := u.OnError(func(err error) {
		if err == errBarrier {
			close(done)
		}
	})
	defer off()
	u.queue.pushControl(item{kind: itemError, err: errBarrier})
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("barrier")
	}
}

var errBarrier = fmt.Errorf("barrier")

func TestDeliverySequenceIsOnlyAHint(t *testing.T) {
	u := newUnitSocket(t, true)
	a, b := unitMsg(1), unitMsg(2)
	repeat := unitMsg(2) // the in-memory service repeats sequences
	repeat.ID, repeat.Content = "00000000-0000-4000-8000-0000000000aa", "2 again"
	backwards := unitMsg(1)
	backwards.ID, backwards.Content = "00000000-0000-4000-8000-0000000000bb", "1 late"
	for _, m := range []Message{a, b, repeat, backwards, b, a} {
		u.live(t, m)
	}
	assert.Equal(t, []string{"1", "2", "2 again", "1 late"}, u.contents(t, 4))
	u.barrier(t)
	assert.Empty(t, u.got, "repeats of an id are dropped")
	assert.Zero(t, u.fetches.Load())
}

func TestDeliveryReorderedWithinTheGraceCostsNoFetch(t *testing.T) {
	u := newUnitSocket(t, true)
	u.live(t, unitMsg(1))
	assert.Equal(t, "1", u.next(t))
	u.live(t, unitMsg(4))
	u.live(t, unitMsg(2))
	u.live(t, unitMsg(3))
	assert.Equal(t, []string{"2", "3", "4"}, u.contents(t, 3), "held, then delivered oldest first")
	assert.Zero(t, u.fetches.Load())
}

func TestDeliveryGapIsFetchedAfterTheGrace(t *testing.T) {
	u := newUnitSocket(t, true)
	m1, m2, m3, m4 := unitMsg(1), unitMsg(2), unitMsg(3), unitMsg(4)
	u.store(m1, m2, m3)
	u.live(t, m1)
	assert.Equal(t, "1", u.next(t))
	u.live(t, m3) // 2 never comes live
	assert.Equal(t, []string{"2", "3"}, u.contents(t, 2))
	assert.Equal(t, int32(1), u.fetches.Load())
	u.store(m4)
	u.live(t, m4)
	u.live(t, m2) // its repeat
	assert.Equal(t, "4", u.next(t))
	u.barrier(t)
	assert.Empty(t, u.got)
}

func TestDeliveryBackfillSkipsControlRecordsAndWhatPrecedesTheFloor(t *testing.T) {
	u := newUnitSocket(t, true)
	old := unitMsg(1) // before the socket's first message: not its own
	m2, m4 := unitMsg(2), unitMsg(4)
	ctl := unitMsg(3)
	ctl.ContentType, ctl.Content = ContentTypeEvent, "stream.pause"
	u.store(old, m2, ctl, m4)
	u.live(t, m2)
	assert.Equal(t, "2", u.next(t))
	u.queue.pushControl(item{kind: itemLost})
	u.queue.pushControl(item{kind: itemReady})
	assert.Equal(t, "4", u.next(t))
	u.barrier(t)
	assert.Empty(t, u.got)
	assert.Equal(t, int32(1), u.fetches.Load())
}

func TestDeliveryWithoutHandlersFetchesNothing(t *testing.T) {
	u := newUnitSocket(t, false) // no OnMessage handler
	u.live(t, unitMsg(1))
	u.live(t, unitMsg(5))
	u.queue.pushControl(item{kind: itemLost})
	u.queue.pushControl(item{kind: itemReady})
	u.barrier(t)
	assert.Zero(t, u.fetches.Load())
}

func TestQueueOverflowEpisodes(t *testing.T) {
	q := newEventQueue(4)
	msg := func(i int) event {
		m := unitMsg(int64(i))
		return event{name: EventMessageNew, message: &m}
	}
	for i := range 10 {
		q.pushEvent(msg(i))
	}
	kinds := func() (events, slow, recover int) {
		for {
			q.mu.Lock()
			n := len(q.items) - q.head
			q.mu.Unlock()
			if n == 0 {
				return
			}
			it, _, _ := q.next(nil)
			switch it.kind {
			case itemEvent:
				events++
			case itemSlow:
				slow++
			case itemRecover:
				recover++
			}
		}
	}
	e, s, r := kinds()
	assert.Equal(t, [3]int{4, 1, 1}, [3]int{e, s, r})
	lost := q.takeLost()
	assert.Equal(t, map[string]time.Time{unitConv: unitMsg(4).CreatedAt}, lost, "the oldest dropped message")
	assert.Equal(t, int64(6), q.dropped)
	// Drained: a new overflow is a new episode.
	for i := range 6 {
		q.pushEvent(msg(i))
	}
	_, s, r = kinds()
	assert.Equal(t, [2]int{1, 1}, [2]int{s, r})
	q.close()
	_, ok, closed := q.next(nil)
	assert.False(t, ok)
	assert.True(t, closed)
}

func TestDeliveryHoldsEditsBehindHeldMessages(t *testing.T) {
	u := newUnitSocket(t, false)
	order := make(chan string, 10)
	u.OnMessage(func(m *Message) { order <- "new " + m.Content })
	u.OnMessageUpdate(func(m *Message) { order <- "updated " + m.Content })
	u.OnMessageDelete(func(e MessageDeletedEvent) { order <- "deleted " + e.ID })
	u.live(t, unitMsg(1))
	u.live(t, unitMsg(3)) // a gap: held
	edited := unitMsg(3)
	edited.Content = "3 edited"
	b, err := json.Marshal(edited)
	require.NoError(t, err)
	u.onEvent(EventMessageUpdated, []json.RawMessage{b})
	u.onEvent(EventMessageDeleted, []json.RawMessage{json.RawMessage(`{"id":"x","conversationId":"` + unitConv + `"}`)})
	u.live(t, unitMsg(2)) // fills it
	var got []string
	for range 5 {
		select {
		case s := <-order:
			got = append(got, s)
		case <-time.After(10 * time.Second):
			t.Fatal("timeout")
		}
	}
	assert.Equal(t, []string{"new 1", "new 2", "new 3", "updated 3 edited", "deleted x"}, got)
	assert.Zero(t, u.fetches.Load())
}

func TestClientCapsSuccessfulAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := make([]Message, 20)
		for i := range page {
			page[i] = unitMsg(int64(i))
		}
		_ = json.NewEncoder(w).Encode(page)
	}))
	defer srv.Close()
	c, err := NewClient(WithEndpoint(srv.URL), WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	assert.Equal(t, maxResponseBody, c.maxBody, "the default cap")
	c.maxBody = 1 << 10
	_, err = c.GetMessages(t.Context(), unitConv, GetMessagesParams{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exceeds 1024 bytes")
}
