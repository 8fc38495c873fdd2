package messaging

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// history is a fake message store with the service's listing rules
// (docs/PROTOCOL.md): before=T gives created_at < T newest first,
// after=T gives created_at > T oldest first, neither the oldest by sequence;
// limit defaults to 50 (0 or junk too); before wins over after. Messages
// sharing a created_at come back in a random order on every request, as a
// database without a tie-breaker may return them.
type history struct {
	mu      sync.Mutex
	msgs    []Message
	rnd     *rand.Rand
	stable  bool // ties in insertion order instead of a random one
	limits  []int
	befores []string
}

func newHistory(seed uint64, groups []int) *history {
	h := &history{rnd: rand.New(rand.NewPCG(seed, seed))}
	t := time.Date(2026, 11, 21, 22, 0, 0, 0, time.UTC)
	seq := int64(0)
	for _, n := range groups {
		t = t.Add(time.Duration(1+h.rnd.IntN(3)) * time.Millisecond)
		for range n {
			seq++
			h.msgs = append(h.msgs, Message{
				ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", seq), ConversationID: convID,
				Content: fmt.Sprint(seq), Sequence: seq, CreatedAt: t,
			})
		}
	}
	return h
}

func (h *history) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	q := r.URL.Query()
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit == 0 {
		limit = 50
	}
	h.limits = append(h.limits, limit)
	h.befores = append(h.befores, q.Get("before"))
	parse := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	var page []Message
	switch {
	case q.Get("before") != "":
		before := parse(q.Get("before"))
		for _, m := range h.msgs {
			if m.CreatedAt.Before(before) {
				page = append(page, m)
			}
		}
		if !h.stable {
			h.rnd.Shuffle(len(page), func(i, j int) { page[i], page[j] = page[j], page[i] })
		}
		slices.SortStableFunc(page, func(a, b Message) int { return b.CreatedAt.Compare(a.CreatedAt) })
	case q.Get("after") != "":
		after := parse(q.Get("after"))
		for _, m := range h.msgs {
			if m.CreatedAt.After(after) {
				page = append(page, m)
			}
		}
		if !h.stable {
			h.rnd.Shuffle(len(page), func(i, j int) { page[i], page[j] = page[j], page[i] })
		}
		slices.SortStableFunc(page, func(a, b Message) int { return a.CreatedAt.Compare(b.CreatedAt) })
	default:
		page = slices.Clone(h.msgs)
	}
	page = page[:min(limit, len(page))]
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(page)
}

// add stores n more messages, the first of them in the millisecond of the
// newest message stored (a tie across the end of an earlier walk), the
// others spread over the next milliseconds.
func (h *history) add(n int) []Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	last := h.msgs[len(h.msgs)-1]
	t, seq := last.CreatedAt, last.Sequence
	start := len(h.msgs)
	for i := range n {
		if i > 0 && i%3 == 0 {
			t = t.Add(time.Millisecond)
		}
		seq++
		h.msgs = append(h.msgs, Message{
			ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", seq), ConversationID: convID,
			Content: fmt.Sprint(seq), Sequence: seq, CreatedAt: t,
		})
	}
	return slices.Clone(h.msgs[start:])
}

func (h *history) requests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.limits)
}

// collect runs the iterator to its end.
func collect(t *testing.T, seq func(func(Message, error) bool)) ([]Message, []error) {
	t.Helper()
	var msgs []Message
	var errs []error
	for m, err := range seq {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		msgs = append(msgs, m)
	}
	return msgs, errs
}

// checkWalk asserts that got is all of want, each once, newest first.
func checkWalk(t *testing.T, want, got []Message) {
	t.Helper()
	checkWalkOrder(t, want, got, false)
}

// checkWalkOrder asserts that got is all of want, each once, in the order
// of the walk.
func checkWalkOrder(t *testing.T, want, got []Message, oldestFirst bool) {
	t.Helper()
	seen := make(map[string]int)
	for _, m := range got {
		seen[m.ID]++
	}
	for _, m := range want {
		assert.Equal(t, 1, seen[m.ID], "message %s (%s)", m.Content, m.CreatedAt.Format(wireTime))
	}
	assert.Len(t, got, len(want))
	for i := 1; i < len(got); i++ {
		if oldestFirst {
			assert.False(t, got[i].CreatedAt.Before(got[i-1].CreatedAt), "out of order at %d", i)
		} else {
			assert.False(t, got[i].CreatedAt.After(got[i-1].CreatedAt), "out of order at %d", i)
		}
	}
}

func TestMessagesWalksWholeHistory(t *testing.T) {
	t.Parallel()
	// Groups of messages sharing one millisecond, several larger than a page.
	groups := []int{1, 1, 5, 60, 2, 1, 130, 3, 7, 50, 51, 49, 1, 17, 100, 2}
	for _, tc := range []struct {
		pageSize int
		stable   bool
	}{{1, false}, {1, true}, {2, false}, {7, false}, {7, true}, {49, false}, {50, false}, {50, true}, {51, false}, {64, false}, {1000, false}} {
		pageSize := tc.pageSize
		t.Run(fmt.Sprintf("%d stable=%v", tc.pageSize, tc.stable), func(t *testing.T) {
			t.Parallel()
			hist := newHistory(uint64(pageSize), groups)
			hist.stable = tc.stable
			h := newHarness(t, hist.ServeHTTP)
			got, errs := collect(t, h.c.Messages(context.Background(), convID, WithPageSize(pageSize)))
			require.Empty(t, errs)
			checkWalk(t, hist.msgs, got)
			for _, l := range hist.limits {
				assert.GreaterOrEqual(t, l, pageSize)
			}
		})
	}
}

func TestMessagesOneBigMillisecond(t *testing.T) {
	t.Parallel()
	for _, stable := range []bool{false, true} {
		hist := newHistory(7, []int{300})
		hist.stable = stable
		h := newHarness(t, hist.ServeHTTP)
		got, errs := collect(t, h.c.Messages(context.Background(), convID, WithPageSize(10)))
		require.Empty(t, errs)
		checkWalk(t, hist.msgs, got)
		assert.LessOrEqual(t, hist.requests(), 8, "pages grow instead of crawling (stable=%v)", stable)
		assert.Equal(t, []int{10, 30}, hist.limits[:2])
	}
}

func TestMessagesEmptyAndDefaults(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.FixedZone("x", 3600))
	hist := newHistory(1, nil)
	h := newHarness(t, hist.ServeHTTP)
	h.c.now = func() time.Time { return now }
	got, errs := collect(t, h.c.Messages(context.Background(), convID))
	assert.Empty(t, got)
	assert.Empty(t, errs)
	reqs := h.srv.requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "/api/conversations/"+convID+"/messages", reqs[0].Path)
	assert.Equal(t, "50", reqs[0].Query.Get("limit"))
	assert.Equal(t, "2026-11-22T11:00:00.000Z", reqs[0].Query.Get("before"), "the first page starts a day ahead, in UTC")
	assert.Equal(t, "Bearer "+testToken, reqs[0].Header.Get("Authorization"))
}

func TestMessagesEndsAfterShortPageWithNothingNew(t *testing.T) {
	t.Parallel()
	hist := newHistory(3, []int{3, 4})
	h := newHarness(t, hist.ServeHTTP)
	got, errs := collect(t, h.c.Messages(context.Background(), convID))
	require.Empty(t, errs)
	checkWalk(t, hist.msgs, got)
	// One page with everything, one that brings only the overlap.
	assert.Equal(t, 2, hist.requests())
	assert.Equal(t, formatTime(hist.msgs[0].CreatedAt.Add(time.Millisecond)), hist.befores[1])
}

func TestMessagesBeforeAndAfter(t *testing.T) {
	t.Parallel()
	hist := newHistory(5, []int{4, 4, 4, 4, 4, 4})
	h := newHarness(t, hist.ServeHTTP)
	before := hist.msgs[20].CreatedAt // the sixth group is excluded
	after := hist.msgs[4].CreatedAt   // so are the first two
	got, errs := collect(t, h.c.Messages(context.Background(), convID,
		WithBefore(before), WithAfter(after), WithPageSize(3), AsUser("assistant:reader")))
	require.Empty(t, errs)
	checkWalk(t, hist.msgs[8:20], got)
	for _, r := range h.srv.requests() {
		assert.Equal(t, "assistant:reader", r.Header.Get("X-As-User-Id"))
		assert.Empty(t, r.Query.Get("after"), "the service ignores after when before is set")
	}
	assert.Equal(t, formatTime(before), hist.befores[0])
}

func TestMessagesStopsWhenTheLoopDoes(t *testing.T) {
	t.Parallel()
	hist := newHistory(9, []int{10, 10, 10, 10, 10, 10, 10, 10, 10, 10})
	h := newHarness(t, hist.ServeHTTP)
	seq := h.c.Messages(context.Background(), convID, WithPageSize(20))
	assert.Zero(t, hist.requests(), "lazy: nothing requested before the loop")
	n := 0
	for _, err := range seq {
		require.NoError(t, err)
		n++
		if n == 25 {
			break
		}
	}
	assert.Equal(t, 2, hist.requests())
	// Ranging again starts over.
	got, errs := collect(t, seq)
	require.Empty(t, errs)
	checkWalk(t, hist.msgs, got)
}

func TestMessagesYieldsAnErrorOnce(t *testing.T) {
	t.Parallel()
	hist := newHistory(2, []int{30, 30, 30})
	calls := 0
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls == 2 {
			answer(403, `{"error":"Not a participant in this conversation"}`)(w, r)
			return
		}
		hist.ServeHTTP(w, r)
	})
	var got []Message
	var errs []error
	for m, err := range h.c.Messages(context.Background(), convID, WithPageSize(40), WithMaxRetries(0)) {
		if err != nil {
			errs = append(errs, err)
			assert.Zero(t, m)
			continue
		}
		got = append(got, m)
	}
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrNotParticipant)
	assert.Len(t, got, 40)
	assert.Equal(t, 2, calls)
	assert.Equal(t, errs, h.errs.get(), "reported to the error handler once")
}

func TestMessagesBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		id    string
		opts  []MessagesOption
		field string
	}{
		{"bad id", "conversation-id", nil, "conversationID"},
		{"page size", convID, []MessagesOption{WithPageSize(0)}, "WithPageSize"},
		{"before", convID, []MessagesOption{WithBefore(time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC))}, "WithBefore"},
		{"after", convID, []MessagesOption{nil, WithAfter(time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC))}, "WithAfter"},
		{"request option", convID, []MessagesOption{WithOrgID("")}, "WithOrgID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, answer(200, "[]"))
			_, errs := collect(t, h.c.Messages(context.Background(), tc.id, tc.opts...))
			require.Len(t, errs, 1)
			var ve *ValidationError
			require.ErrorAs(t, errs[0], &ve)
			assert.Equal(t, tc.field, ve.Field)
			assert.Zero(t, h.srv.count())
			assert.Len(t, h.errs.get(), 1)
		})
	}
}

func TestMessagesUninitialisedClient(t *testing.T) {
	t.Parallel()
	var zero Client
	_, errs := collect(t, zero.Messages(context.Background(), convID))
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], errNoClient)
	var nilClient *Client
	_, errs = collect(t, nilClient.Messages(context.Background(), convID))
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], errNoClient)
}

func TestMessagesCancelled(t *testing.T) {
	t.Parallel()
	hist := newHistory(4, []int{100})
	h := newHarness(t, hist.ServeHTTP)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	var errs []error
	for _, err := range h.c.Messages(ctx, convID, WithPageSize(10)) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n++; n == 10 {
			cancel()
		}
	}
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], context.Canceled)
	assert.Equal(t, 10, n)
}

func TestMessagesGivesUpOnAServerThatNeverAdvances(t *testing.T) {
	t.Parallel()
	// Every page is full of the same message: no progress is possible.
	same, err := json.Marshal(Message{ID: msgID, CreatedAt: ms("2026-11-21T22:45:57.434Z")})
	require.NoError(t, err)
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		page := make([]json.RawMessage, n)
		for i := range page {
			page[i] = same
		}
		json.NewEncoder(w).Encode(page)
	})
	lowCap := messagesOption(func(c *messagesConfig) error { c.maxPage = 64; return nil })
	got, errs := collect(t, h.c.Messages(context.Background(), convID, WithPageSize(4), lowCap))
	require.Len(t, got, 1)
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], errNoProgress)
	// 4 (one new), then 4+2 for the overlap, then 12, 24, 48, 64 of repeats.
	assert.Equal(t, 6, h.srv.count())
}

func TestMessagesSkipsRepeatsOfNewerMessages(t *testing.T) {
	t.Parallel()
	// A server that ignores before and answers the newest page every time:
	// nothing is yielded twice and the walk ends.
	hist := newHistory(6, []int{2, 2, 2, 2, 2})
	newest := hist.msgs[len(hist.msgs)-4:]
	slices.Reverse(newest)
	body, err := json.Marshal(newest)
	require.NoError(t, err)
	h := newHarness(t, answer(200, string(body)))
	got, errs := collect(t, h.c.Messages(context.Background(), convID, WithPageSize(4)))
	require.Empty(t, errs)
	assert.Equal(t, newest, got)
}
