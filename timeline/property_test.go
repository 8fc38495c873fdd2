package timeline_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/timeline"
)

// The property: whatever the interleaving of alice's optimistic changes
// (through the timeline), bob's changes of his own messages, alice's other
// device editing her messages, alice's refused changes of bob's messages
// and dropped connections, once every call has returned and the socket is
// connected again, the timeline shows exactly the server's history (over
// REST) with nothing pending, and every failed change was rolled back and
// reported on the change feed with the error its call returned.
//
// Each run logs its seeds; TIMELINE_SEED=1,2,3 replays those seeds (the
// choices of operations replay exactly, their timing does not) and
// TIMELINE_OPS=n changes alice's number of operations.

func propertySeeds(t *testing.T) []uint64 {
	if s := os.Getenv("TIMELINE_SEED"); s != "" {
		var seeds []uint64
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			require.NoError(t, err, "TIMELINE_SEED")
			seeds = append(seeds, n)
		}
		return seeds
	}
	base := uint64(time.Now().UnixNano())
	return []uint64{base, base + 1, base + 2, base + 3}
}

type outcome struct {
	op   timeline.Op
	id   string
	err  error
	bobs bool // a change of bob's message: the server must refuse it
}

type figures struct {
	aliceOps, bobOps, otherOps, drops         int
	refused, failed, unknown, skipped, merged int
	lostRefusals, unknownRolledBack           int
}

func TestPropertyConvergence(t *testing.T) {
	t.Parallel()
	ops := 40
	if s := os.Getenv("TIMELINE_OPS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "TIMELINE_OPS")
		ops = n
	}
	for _, seed := range propertySeeds(t) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel() // each seed has a service of its own
			t.Logf("replay with TIMELINE_SEED=%d", seed)
			runProperty(t, seed, ops)
		})
	}
}

func runProperty(t *testing.T, seed uint64, nAlice int) {
	start := time.Now()
	e := newEnv(t)
	for i := range 3 {
		e.send(bobTok, fmt.Sprintf("bob-%d", i))
	}
	resolvers := []timeline.Resolver{timeline.ServerWins, timeline.ClientWins, timeline.LastWriterWins}
	// Alice comes back slower than bob after a drop, so that bob acts
	// while she is away.
	sock := e.socket(aliceTok, messaging.WithReconnectionDelay(80*time.Millisecond),
		messaging.WithReconnectionDelayMax(150*time.Millisecond))
	tl := e.timelineOn(sock, timeline.WithChangeTimeout(10*time.Second),
		timeline.WithResolver(resolvers[seed%uint64(len(resolvers))]))
	rec := record(t, tl)
	bob := e.socket(bobTok)
	other := e.socket(aliceTok) // alice's other device

	var (
		mu       sync.Mutex
		outcomes []outcome
		fig      figures
	)
	ctx := ctxFor(t)

	// Bob and alice's other device, one goroutine each, sequentially.
	var side sync.WaitGroup
	side.Add(2)
	go func() {
		defer side.Done()
		rng := rand.New(rand.NewPCG(seed, 2))
		var mine []string
		for i := range nAlice / 2 {
			switch r := rng.IntN(10); {
			case r < 5 || len(mine) == 0:
				m, err := bob.SendMessage(ctx, messaging.SendMessageParams{ConversationID: e.conv, Content: fmt.Sprintf("bob-send-%d", i)})
				if err == nil {
					mine = append(mine, m.ID)
				}
			case r < 8:
				_, _ = bob.EditMessage(ctx, mine[rng.IntN(len(mine))], fmt.Sprintf("bob-edit-%d", i))
			default:
				j := rng.IntN(len(mine))
				_ = bob.DeleteMessage(ctx, mine[j])
				mine = append(mine[:j], mine[j+1:]...)
			}
			mu.Lock()
			fig.bobOps++
			mu.Unlock()
		}
	}()
	go func() {
		defer side.Done()
		rng := rand.New(rand.NewPCG(seed, 3))
		for i := range nAlice / 6 {
			var own []string
			for _, en := range tl.Messages() {
				if en.Message.SenderID == aliceID && en.State == timeline.Confirmed {
					own = append(own, en.Message.ID)
				}
			}
			if len(own) == 0 {
				select {
				case <-time.After(20 * time.Millisecond):
				case <-ctx.Done():
					return
				}
				continue
			}
			// Errors are expected: the message may be deleted meanwhile.
			_, _ = other.EditMessage(ctx, own[rng.IntN(len(own))], fmt.Sprintf("other-edit-%d", i))
			mu.Lock()
			fig.otherOps++
			mu.Unlock()
		}
	}()

	// Alice: up to three changes in flight, targets chosen from her view.
	rng := rand.New(rand.NewPCG(seed, 1))
	sem := make(chan struct{}, 3)
	var wg sync.WaitGroup
	for i := range nAlice {
		sem <- struct{}{}
		var own, bobs []string
		for _, en := range tl.Messages() {
			if en.State == timeline.Failed || en.Message.DeletedAt != nil {
				continue
			}
			if en.Message.SenderID == aliceID {
				own = append(own, en.Message.ID)
			} else {
				bobs = append(bobs, en.Message.ID)
			}
		}
		o := outcome{op: timeline.OpSend}
		switch r := rng.IntN(100); {
		case r < 40:
		case r < 60 && len(own) > 0:
			o.op, o.id = timeline.OpEdit, own[rng.IntN(len(own))]
		case r < 75 && len(own) > 0:
			o.op, o.id = timeline.OpDelete, own[rng.IntN(len(own))]
		case r < 90 && len(bobs) > 0:
			o.op, o.id, o.bobs = timeline.OpEdit, bobs[rng.IntN(len(bobs))], true
		case r >= 90 && len(bobs) > 0:
			o.op, o.id, o.bobs = timeline.OpDelete, bobs[rng.IntN(len(bobs))], true
		}
		drop := rng.IntN(10) == 0
		// Now and then the server slows down, and a change is given
		// little time: its delivery may become unknown.
		if rng.IntN(8) == 0 {
			e.srv.SetLatency(time.Duration(rng.IntN(30)) * time.Millisecond)
		}
		var patience time.Duration
		if rng.IntN(8) == 0 {
			patience = time.Duration(5+rng.IntN(30)) * time.Millisecond
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			octx := ctx
			if patience > 0 {
				var cancel context.CancelFunc
				octx, cancel = context.WithTimeout(ctx, patience)
				defer cancel()
			}
			switch o.op {
			case timeline.OpSend:
				var en timeline.Entry
				en, o.err = tl.Send(octx, messaging.SendMessageParams{Content: fmt.Sprintf("alice-send-%d", i)})
				o.id = en.Message.ID
			case timeline.OpEdit:
				_, o.err = tl.Edit(octx, o.id, fmt.Sprintf("alice-edit-%d", i))
			case timeline.OpDelete:
				o.err = tl.Delete(octx, o.id)
			}
			mu.Lock()
			outcomes = append(outcomes, o)
			mu.Unlock()
		}()
		if drop {
			e.srv.DropConnections()
			fig.drops++
		}
	}
	wg.Wait()
	side.Wait()
	e.srv.SetLatency(0)
	fig.aliceOps = nAlice

	// Settle: connected again, the views agree by the timeline's own
	// means (live events, reconciliation after reconnecting, unknown
	// deliveries settled when due), and an explicit Sync changes nothing.
	eventually(t, "alice's socket connected", sock.Connected)
	var local []timeline.Entry
	var server []messaging.Message
	agree := func() bool {
		local, server = tl.Messages(), e.history(aliceTok)
		return tl.Pending() == 0 && sameView(local, server) == ""
	}
	deadline := time.Now().Add(waitTimeout)
	for !agree() {
		if time.Now().After(deadline) {
			t.Fatalf("the view did not converge (pending %d): %s", tl.Pending(), sameView(local, server))
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, tl.Sync(ctx))
	require.True(t, agree(), "Sync changed the settled view: %s", sameView(local, server))

	// Every failed change was rolled back and reported with its error.
	changes := rec.all()
	reported := func(ok func(timeline.Change) bool) bool {
		for _, c := range changes {
			if ok(c) {
				return true
			}
		}
		return false
	}
	rolledBackRefusals := 0
	for _, c := range changes {
		var ae *messaging.AckError
		if c.Cause == timeline.CauseRolledBack && !c.Resolution && errors.As(c.Err, &ae) {
			rolledBackRefusals++
		}
	}
	for _, o := range outcomes {
		var ae *messaging.AckError
		switch {
		case o.err == nil && o.bobs:
			// The socket takes a repeated delete answered "Message not
			// found" for its own success (see Socket.DeleteMessage): so
			// it is when bob deleted it between the attempts.
			require.Equal(t, timeline.OpDelete, o.op, "alice edited bob's message %s", o.id)
			for _, m := range server {
				require.NotEqual(t, o.id, m.ID, "alice's delete of bob's message %s succeeded, yet it is there", o.id)
			}
			fig.lostRefusals++
		case o.err == nil:
		case errors.Is(o.err, timeline.ErrUnknownMessage):
			fig.skipped++ // refused before anything was applied
		case errors.Is(o.err, messaging.ErrDeliveryUnknown):
			fig.unknown++
			require.True(t, reported(func(c timeline.Change) bool {
				return (c.Cause == timeline.CauseConfirmed || c.Cause == timeline.CauseRolledBack) &&
					c.Op == o.op && c.Entry.Message.ID == o.id
			}), "unknown %v of %s never settled", o.op, o.id)
		default:
			if errors.As(o.err, &ae) {
				fig.refused++
			} else {
				fig.failed++
			}
			require.True(t, reported(func(c timeline.Change) bool {
				return c.Cause == timeline.CauseRolledBack && c.Err == o.err
			}), "%v of %s failed with %v, not reported", o.op, o.id, o.err)
		}
	}
	if fig.refused != rolledBackRefusals {
		for _, c := range changes {
			if c.Cause == timeline.CauseRolledBack || c.Cause == timeline.CauseConflict {
				t.Logf("%v %v %s %q: %v", c.Cause, c.Op, c.Entry.Message.ID[:8], c.Entry.Message.Content, c.Err)
			}
		}
		for _, o := range outcomes {
			t.Logf("call %v %s: %v", o.op, o.id, o.err)
		}
	}
	require.Equal(t, fig.refused, rolledBackRefusals, "one rollback report per refusal")
	for _, c := range changes {
		switch {
		case c.Cause == timeline.CauseConflict:
			fig.merged++
		case c.Cause == timeline.CauseRolledBack && errors.Is(c.Err, messaging.ErrDeliveryUnknown):
			fig.unknownRolledBack++
		}
	}
	t.Logf("seed %d: alice %d ops, bob %d, other device %d, %d drops; %d refused (+%d taken for deletions by the socket), %d other failures, %d unknown (%d of them rolled back), %d skipped, %d conflicts; %d messages, %d changes; %v",
		seed, fig.aliceOps, fig.bobOps, fig.otherOps, fig.drops, fig.refused, fig.lostRefusals, fig.failed, fig.unknown,
		fig.unknownRolledBack, fig.skipped, fig.merged, len(server), len(changes), time.Since(start).Round(time.Millisecond))
}

// sameView describes how the view differs from the history, or returns "".
func sameView(local []timeline.Entry, server []messaging.Message) string {
	var b strings.Builder
	if len(local) != len(server) {
		fmt.Fprintf(&b, "%d entries, %d messages; ", len(local), len(server))
	}
	for i := range max(len(local), len(server)) {
		var l, s string
		if i < len(local) {
			en := local[i]
			l = fmt.Sprintf("%s %q seq %d %v", en.Message.ID[:8], en.Message.Content, en.Message.Sequence, en.State)
			if en.State != timeline.Confirmed {
				l += " NOT CONFIRMED"
			}
		}
		if i < len(server) {
			m := server[i]
			s = fmt.Sprintf("%s %q seq %d %v", m.ID[:8], m.Content, m.Sequence, timeline.Confirmed)
		}
		same := l == s
		if same && i < len(local) {
			a, m := local[i].Message, server[i]
			same = a.CreatedAt.Equal(m.CreatedAt) && (a.UpdatedAt == nil) == (m.UpdatedAt == nil) &&
				(a.UpdatedAt == nil || a.UpdatedAt.Equal(*m.UpdatedAt))
			if !same {
				l += " (times differ)"
			}
		}
		if !same {
			fmt.Fprintf(&b, "\n  #%d view %s | server %s", i, l, s)
		}
	}
	return b.String()
}
