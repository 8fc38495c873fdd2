package messaging

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tieGroups puts many messages in single milliseconds, several larger than
// a page, so that page edges fall inside ties.
var tieGroups = []int{1, 1, 5, 60, 2, 1, 130, 3, 7, 50, 51, 49, 1, 17, 100, 2}

func TestMessagesOldestFirstWalksWholeHistory(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pageSize int
		stable   bool
	}{{1, false}, {1, true}, {2, false}, {7, false}, {7, true}, {49, false}, {50, false}, {50, true}, {51, false}, {1000, false}} {
		t.Run(fmt.Sprintf("%d stable=%v", tc.pageSize, tc.stable), func(t *testing.T) {
			t.Parallel()
			hist := newHistory(uint64(tc.pageSize)+100, tieGroups)
			hist.stable = tc.stable
			h := newHarness(t, hist.ServeHTTP)
			got, errs := collect(t, h.c.Messages(context.Background(), convID, WithPageSize(tc.pageSize), WithOldestFirst()))
			require.Empty(t, errs)
			checkWalkOrder(t, hist.msgs, got, true)
			for _, l := range hist.limits {
				assert.GreaterOrEqual(t, l, tc.pageSize)
			}
		})
	}
}

func TestMessagesOldestFirstRequests(t *testing.T) {
	t.Parallel()
	hist := newHistory(3, []int{3, 4})
	h := newHarness(t, hist.ServeHTTP)
	got, errs := collect(t, h.c.Messages(context.Background(), convID, WithOldestFirst()))
	require.Empty(t, errs)
	checkWalkOrder(t, hist.msgs, got, true)
	reqs := h.srv.requests()
	require.Len(t, reqs, 2, "one page with everything, one that brings only the overlap")
	// The first page is bounded, so that it comes in creation order and not
	// in the sequence order of an unbounded request.
	assert.Equal(t, "1970-01-01T00:00:00.000Z", reqs[0].Query.Get("after"))
	assert.Empty(t, reqs[0].Query.Get("before"))
	newest := hist.msgs[len(hist.msgs)-1].CreatedAt
	assert.Equal(t, formatTime(newest.Add(-time.Millisecond)), reqs[1].Query.Get("after"), "overlap by a millisecond")
}

func TestMessagesOldestFirstBounds(t *testing.T) {
	t.Parallel()
	hist := newHistory(5, []int{4, 4, 4, 4, 4, 4})
	h := newHarness(t, hist.ServeHTTP)
	before := hist.msgs[20].CreatedAt // the sixth group is excluded
	after := hist.msgs[4].CreatedAt   // so are the first two
	got, errs := collect(t, h.c.Messages(context.Background(), convID,
		WithOldestFirst(), WithBefore(before), WithAfter(after), WithPageSize(3)))
	require.Empty(t, errs)
	checkWalkOrder(t, hist.msgs[8:20], got, true)
	reqs := h.srv.requests()
	assert.Equal(t, formatTime(after), reqs[0].Query.Get("after"))
	for _, r := range reqs {
		assert.Empty(t, r.Query.Get("before"), "the service ignores after when before is set")
	}
}

// TestMessagesCursorResumes stops walks at every kind of point (inside a
// tie that spans pages, at its edges) and resumes them with the cursor:
// the pieces make the whole history, each message once, in order.
func TestMessagesCursorResumes(t *testing.T) {
	t.Parallel()
	for _, oldestFirst := range []bool{false, true} {
		for _, step := range []int{1, 4, 11, 29} {
			t.Run(fmt.Sprintf("oldestFirst=%v step=%d", oldestFirst, step), func(t *testing.T) {
				t.Parallel()
				// Ties of 25 and 30 messages span pages of 6.
				hist := newHistory(uint64(step), []int{1, 1, 5, 30, 2, 1, 25, 3, 12, 1})
				h := newHarness(t, hist.ServeHTTP)
				opts := []MessagesOption{WithPageSize(6)}
				if oldestFirst {
					opts = append(opts, WithOldestFirst())
				}
				cur := new(Cursor)
				opts = append(opts, WithCursor(cur))
				var got []Message
				for range len(hist.msgs) + 1 {
					n := 0
					for m, err := range h.c.Messages(context.Background(), convID, opts...) {
						require.NoError(t, err)
						got = append(got, m)
						if n++; n == step {
							break
						}
					}
					assert.Equal(t, got[len(got)-1].CreatedAt, cur.Time())
					if n < step {
						break // the walk ended by itself
					}
				}
				checkWalkOrder(t, hist.msgs, got, oldestFirst)
				// At the end, the cursor yields nothing more.
				rest, errs := collect(t, h.c.Messages(context.Background(), convID, opts...))
				assert.Empty(t, errs)
				assert.Empty(t, rest)
			})
		}
	}
}

// TestMessagesCursorPicksUpNewMessages polls with an oldest-first cursor:
// messages stored since, including ones in the very millisecond the last
// walk ended in, are yielded once.
func TestMessagesCursorPicksUpNewMessages(t *testing.T) {
	t.Parallel()
	for _, pageSize := range []int{2, 5, 50} {
		hist := newHistory(11, []int{3, 40, 6})
		h := newHarness(t, hist.ServeHTTP)
		cur := new(Cursor)
		poll := func() []Message {
			got, errs := collect(t, h.c.Messages(context.Background(), convID, WithOldestFirst(), WithCursor(cur), WithPageSize(pageSize)))
			require.Empty(t, errs)
			return got
		}
		checkWalkOrder(t, hist.msgs, poll(), true)
		assert.Empty(t, poll())
		added := hist.add(10)
		checkWalkOrder(t, added, poll(), true)
		added = hist.add(1)
		assert.Equal(t, added, poll())
		assert.Empty(t, poll())
	}
}

func TestMessagesCursorAt(t *testing.T) {
	t.Parallel()
	hist := newHistory(12, []int{2, 5, 3})
	hist.stable = true
	h := newHarness(t, hist.ServeHTTP)
	m := hist.msgs[4] // in the middle of the 5-message millisecond
	// Newer: the other four of its millisecond, then the last group.
	got, errs := collect(t, h.c.Messages(context.Background(), convID, WithOldestFirst(), WithCursor(CursorAt(m)), WithPageSize(2)))
	require.Empty(t, errs)
	want := slices.Concat(hist.msgs[2:4], hist.msgs[5:])
	checkWalkOrder(t, want, got, true)
	// Older: the other four of its millisecond, then the first group.
	got, errs = collect(t, h.c.Messages(context.Background(), convID, WithCursor(CursorAt(m)), WithPageSize(2)))
	require.Empty(t, errs)
	want = slices.Concat(hist.msgs[:4], hist.msgs[5:7])
	checkWalkOrder(t, want, got, false)
	// The first request of each starts in m's millisecond.
	reqs := h.srv.requests()
	assert.Equal(t, formatTime(m.CreatedAt.Add(-time.Millisecond)), reqs[0].Query.Get("after"))
	assert.Equal(t, formatTime(m.CreatedAt.Add(time.Millisecond)), reqs[len(reqs)-3].Query.Get("before"))
}

func TestMessagesCursorAndBound(t *testing.T) {
	t.Parallel()
	hist := newHistory(13, []int{4, 4, 4, 4})
	h := newHarness(t, hist.ServeHTTP)
	// A bound past the cursor wins over it.
	got, errs := collect(t, h.c.Messages(context.Background(), convID,
		WithOldestFirst(), WithCursor(CursorAt(hist.msgs[0])), WithAfter(hist.msgs[8].CreatedAt)))
	require.Empty(t, errs)
	checkWalkOrder(t, hist.msgs[12:], got, true)
	got, errs = collect(t, h.c.Messages(context.Background(), convID,
		WithCursor(CursorAt(hist.msgs[15])), WithBefore(hist.msgs[4].CreatedAt)))
	require.Empty(t, errs)
	checkWalkOrder(t, hist.msgs[:4], got, false)
}

func TestMessagesWithoutControl(t *testing.T) {
	t.Parallel()
	hist := newHistory(14, []int{3, 3, 3})
	for i := range hist.msgs {
		if i%2 == 0 {
			hist.msgs[i].ContentType = ContentTypeEvent
		}
	}
	h := newHarness(t, hist.ServeHTTP)
	all, errs := collect(t, h.c.Messages(context.Background(), convID, WithPageSize(2)))
	require.Empty(t, errs)
	assert.Len(t, all, 9, "control records are listed by default")
	cur := new(Cursor)
	got, errs := collect(t, h.c.Messages(context.Background(), convID, WithPageSize(2), WithoutControl(), WithOldestFirst(), WithCursor(cur)))
	require.Empty(t, errs)
	var want []Message
	for _, m := range hist.msgs {
		if !m.IsControl() {
			want = append(want, m)
		}
	}
	checkWalkOrder(t, want, got, true)
	assert.Equal(t, hist.msgs[8].CreatedAt, cur.Time(), "skipped records move the cursor")
}

func TestMessagesNilCursor(t *testing.T) {
	t.Parallel()
	h := newHarness(t, answer(200, "[]"))
	_, errs := collect(t, h.c.Messages(context.Background(), convID, WithCursor(nil)))
	require.Len(t, errs, 1)
	var ve *ValidationError
	require.ErrorAs(t, errs[0], &ve)
	assert.Equal(t, "WithCursor", ve.Field)
	assert.Zero(t, h.srv.count())
}

func TestCursorClone(t *testing.T) {
	t.Parallel()
	hist := newHistory(15, []int{3, 3})
	hist.stable = true
	h := newHarness(t, hist.ServeHTTP)
	cur := new(Cursor)
	walk := func(c *Cursor, n int) []Message {
		var got []Message
		for m, err := range h.c.Messages(context.Background(), convID, WithOldestFirst(), WithCursor(c)) {
			require.NoError(t, err)
			if got = append(got, m); len(got) == n {
				break
			}
		}
		return got
	}
	walk(cur, 1) // inside the first millisecond
	kept := cur.Clone()
	assert.Len(t, walk(cur, 10), 5)
	assert.Equal(t, hist.msgs[1:], walk(kept, 10), "the clone did not move with the cursor")
}
