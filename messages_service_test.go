package messaging_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// TestMessagesTiesAgainstMessagingtest walks a history stored by
// messagingtest whose clock stands still for runs of messages, so that
// many rows share a created_at millisecond across page edges, in both
// directions and resumed from cursors.
func TestMessagesTiesAgainstMessagingtest(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	srv := messagingtest.NewServer(messagingtest.WithClock(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}))
	defer srv.Close()
	tick := func() {
		mu.Lock()
		now = now.Add(time.Millisecond)
		mu.Unlock()
	}
	const alice = "a11ce000-0000-4000-8000-000000000001"
	srv.AddUser("alice", messagingtest.Principal{ID: alice, Entitlements: []string{"cap:messaging.interrupt"}})
	c, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken("alice"))
	require.NoError(t, err)
	ctx := context.Background()
	conv, err := c.CreateConversation(ctx, messaging.CreateConversationParams{Type: messaging.ConversationGroup, Name: "ties"})
	require.NoError(t, err)
	var sent []string
	for _, n := range []int{3, 17, 1, 9, 2} { // runs of messages in one millisecond
		tick()
		for range n {
			m, err := c.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv.ID, Content: fmt.Sprint(len(sent))})
			require.NoError(t, err)
			sent = append(sent, m.ID)
		}
	}
	tick()
	_, err = c.SendControl(ctx, conv.ID, messaging.ControlParams{Event: "pause"})
	require.NoError(t, err)

	ids := func(opts ...messaging.MessagesOption) []string {
		var out []string
		for m, err := range c.Messages(ctx, conv.ID, opts...) {
			require.NoError(t, err)
			out = append(out, m.ID)
		}
		return out
	}
	oldest := ids(messaging.WithOldestFirst(), messaging.WithPageSize(4), messaging.WithoutControl())
	assert.ElementsMatch(t, sent, oldest)
	newest := ids(messaging.WithPageSize(4), messaging.WithoutControl())
	assert.ElementsMatch(t, sent, newest)
	assert.Len(t, ids(messaging.WithPageSize(4)), len(sent)+1, "the pause is listed")

	// Three messages at a time with one cursor, then new ones, one in the
	// millisecond the walk ended in.
	cur := new(messaging.Cursor)
	var polled []string
	for range 20 {
		n := 0
		for m, err := range c.Messages(ctx, conv.ID, messaging.WithOldestFirst(), messaging.WithCursor(cur), messaging.WithPageSize(2), messaging.WithoutControl()) {
			require.NoError(t, err)
			polled = append(polled, m.ID)
			if n++; n == 3 {
				break
			}
		}
	}
	assert.Equal(t, oldest, polled)
	m, err := c.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv.ID, Content: "late"})
	require.NoError(t, err)
	assert.Equal(t, []string{m.ID}, ids(messaging.WithOldestFirst(), messaging.WithCursor(cur)))
}
