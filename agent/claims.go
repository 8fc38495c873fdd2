package agent

// Claims: a turn is claimed by creating its reply with an id derived from
// the question (claimID); the replica whose create returns a row it did
// not write loses (claim). A live claim is renewed (renew), withdrawn when
// its turn wrote nothing (withdraw, deleteClaim).

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	messaging "github.com/symbia-labs/messaging-go"
)

// claimID derives the id of the claim of question qid at attempt n.
func (s *Server) claimID(qid string, n int) string {
	name := s.me[0] + "/" + key(qid)
	if n > 1 {
		name += fmt.Sprintf("/%d", n)
	}
	return uuid.NewSHA1(claimSpace, []byte(name)).String()
}

func (s *Server) isMine(m *messaging.Message) bool {
	return slices.Contains(s.me, m.SenderID)
}

// isClaim reports whether m carries a claim.
func isClaim(m *messaging.Message) bool {
	_, ok := m.Metadata[ClaimMetadataKey].(map[string]any)
	return ok
}

// claimOf returns the replica and attempt of a claim.
func claimOf(m *messaging.Message) (replica string, attempt int) {
	c, _ := m.Metadata[ClaimMetadataKey].(map[string]any)
	replica, _ = c["replica"].(string)
	switch a := c["attempt"].(type) {
	case float64:
		attempt = int(a)
	case int:
		attempt = a
	}
	return replica, max(attempt, 1)
}

// claim creates the turn's reply message, and reports whether the row the
// service returned is this replica's.
func (s *Server) claim(t *Turn) (bool, error) {
	defer close(t.claimed)
	ctx, cancel := context.WithTimeout(t.run.Context(), claimTimeout)
	defer cancel()
	q := t.Question
	row, err := s.socket.SendMessage(ctx, messaging.SendMessageParams{
		ConversationID: q.ConversationID,
		ID:             t.claimID,
		Content:        s.cfg.placeholder,
		ReplyTo:        q.ID,
		RunID:          t.run.ID(),
		TraceID:        t.run.TraceID(),
		Interruptible:  messaging.Bool(true),
		Metadata: map[string]any{
			messaging.StreamMetadataKey: true,
			ClaimMetadataKey: map[string]any{
				"replica":  s.replica,
				"attempt":  t.Attempt,
				"question": q.ID,
			},
		},
	})
	if err != nil {
		if rctx := t.run.Context(); rctx.Err() != nil {
			// The run ended while the claim was under way (a handoff or a
			// cancel naming the run its placeholder announced): that is
			// why the turn ends, not the interrupted send.
			return false, context.Cause(rctx)
		}
		return false, fmt.Errorf("agent: claiming question %s: %w", q.ID, err)
	}
	replica, _ := claimOf(row)
	if replica == s.replica && row.DeletedAt == nil {
		t.won = true
		if t.Attempt > 1 {
			// The stale claim of the previous attempt goes.
			s.turns.Add(1)
			go func() {
				defer s.turns.Done()
				s.deleteClaim(s.claimID(q.ID, t.Attempt-1))
			}()
		}
		return true, nil
	}
	if row.DeletedAt == nil && row.Content == s.cfg.placeholder {
		s.mu.Lock()
		s.watches[key(row.ID)] = &watch{q: q, conv: t.conv, attempt: t.Attempt, deadline: time.Now().Add(s.cfg.lease)}
		s.mu.Unlock()
	}
	return false, nil
}

// renew renews the turn's claim every third of the lease until the
// reply is written to or the turn ends.
func (s *Server) renew(t *Turn) (stop func()) {
	done := make(chan struct{})
	s.turns.Add(1)
	go func() {
		defer s.turns.Done()
		tick := time.NewTicker(s.cfg.lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			t.renewMu.Lock()
			if t.started {
				t.renewMu.Unlock()
				return
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(t.run.Context()), min(s.cfg.lease/3, controlTimeout))
			_, err := s.socket.EditMessage(ctx, t.claimID, s.cfg.placeholder)
			cancel()
			t.renewMu.Unlock()
			if err != nil {
				s.cfg.logger.Warn("agent: renewing a claim", "claim", t.claimID, "err", err)
			}
		}
	}()
	return func() { close(done) }
}

// withdraw deletes the claim of a turn that wrote nothing, unless a
// shutdown ended it (the claim then stays, for the lease).
func (s *Server) withdraw(t *Turn, cause error) {
	t.stopRenewals()
	if errors.Is(cause, ErrServerClosed) || s.base.Err() != nil {
		return
	}
	s.deleteClaim(t.claimID)
}

func (s *Server) deleteClaim(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := s.socket.DeleteMessage(ctx, id); err != nil && !errors.Is(err, messaging.ErrNotFound) {
		s.cfg.logger.Warn("agent: deleting a claim", "claim", id, "err", err)
	}
}
