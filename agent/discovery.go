package agent

// Discovery: the service tells an agent neither that it was added to a
// conversation nor puts its socket in the new room, so the server lists
// its conversations (discoveryLoop, discover), joins and scans new ones for
// unanswered questions (scan), and watches other replicas' claims for
// expired leases (checkWatches, findMessage, prune).

import (
	"context"
	"slices"
	"time"

	messaging "github.com/symbia-labs/messaging-go"
)

// discoveryLoop lists the conversations now, every interval and after
// every reconnection, and checks the leases of other replicas' claims.
func (s *Server) discoveryLoop(ctx context.Context) {
	tick := time.NewTicker(s.cfg.discovery)
	defer tick.Stop()
	for {
		s.discover(ctx)
		s.checkWatches(ctx)
		s.prune()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.wake:
		}
	}
}

// discover lists the conversations; each new one is joined, then its
// recent history is read for unanswered questions.
func (s *Server) discover(ctx context.Context) {
	list, err := s.client.ListConversations(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.cfg.logger.Warn("agent: listing conversations", "err", err)
		}
		return
	}
	for i := range list {
		c := &list[i]
		s.mu.Lock()
		st := s.convLocked(c.ID)
		st.info = c
		isNew := !st.listed
		s.mu.Unlock()
		if !isNew {
			continue
		}
		// Joined first, so that what the history read misses arrives live.
		if err := s.socket.JoinConversation(ctx, c.ID); err != nil {
			if ctx.Err() == nil {
				s.cfg.logger.Warn("agent: joining a conversation", "conversation", c.ID, "err", err)
			}
			continue
		}
		if err := s.scan(ctx, c); err != nil {
			if ctx.Err() == nil {
				s.cfg.logger.Warn("agent: reading a conversation's history", "conversation", c.ID, "err", err)
			}
			continue
		}
		s.mu.Lock()
		st.listed = true
		s.mu.Unlock()
	}
}

// scan reads a conversation's recent history (no older than the maximum
// age) and starts turns for its unanswered questions.
func (s *Server) scan(ctx context.Context, c *messaging.Conversation) error {
	since := time.Now().Add(-s.cfg.maxAge)
	var page []messaging.Message // newest first
	for m, err := range s.client.Messages(ctx, c.ID, messaging.WithAfter(since)) {
		if err != nil {
			return err
		}
		page = append(page, m)
		if len(page) == scanLimit {
			break
		}
	}
	slices.Reverse(page)
	answered := make(map[string]bool)
	stale := make(map[string]*messaging.Message) // question → its claim showing the placeholder
	for i := range page {
		m := &page[i]
		if s.isMine(m) && m.ReplyTo != "" {
			answered[key(m.ReplyTo)] = true
			if isClaim(m) && m.Content == s.cfg.placeholder {
				stale[key(m.ReplyTo)] = m
			}
		}
	}
	var qs []*messaging.Message
	byID := make(map[string]*messaging.Message)
	for i := range page {
		m := &page[i]
		byID[key(m.ID)] = m
		if !answered[key(m.ID)] && s.makesTurn(m, c) {
			qs = append(qs, m)
		}
	}
	if s.cfg.policy == Preempt && len(qs) > 1 {
		qs = qs[len(qs)-1:] // the newest supersedes the others
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return nil
	}
	st := s.convLocked(c.ID)
	for _, q := range qs {
		s.startLocked(q, 1, st)
	}
	for qid, claim := range stale {
		q := byID[qid]
		if q == nil || s.watches[key(claim.ID)] != nil {
			continue
		}
		if replica, _ := claimOf(claim); replica == s.replica {
			continue
		}
		_, attempt := claimOf(claim)
		last := claim.CreatedAt
		if claim.UpdatedAt != nil && claim.UpdatedAt.After(last) {
			last = *claim.UpdatedAt
		}
		s.watches[key(claim.ID)] = &watch{q: q, conv: c, attempt: attempt, deadline: last.Add(s.cfg.lease)}
	}
	return nil
}

// checkWatches takes over the claims whose lease has expired: one that
// still shows its placeholder and was not renewed for a lease is claimed
// again under the next attempt.
func (s *Server) checkWatches(ctx context.Context) {
	now := time.Now()
	s.mu.Lock()
	var due []*watch
	var ids []string
	for id, w := range s.watches {
		if now.After(w.deadline) {
			due = append(due, w)
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	for i, w := range due {
		id := ids[i]
		claim, err := s.findMessage(ctx, w.q, id)
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.logger.Warn("agent: checking a claim", "claim", id, "err", err)
			}
			continue
		}
		s.mu.Lock()
		switch {
		case s.watches[id] != w:
			// Changed meanwhile.
		case claim == nil || claim.DeletedAt != nil || claim.Content != s.cfg.placeholder:
			delete(s.watches, id)
		default:
			last := claim.CreatedAt
			if claim.UpdatedAt != nil && claim.UpdatedAt.After(last) {
				last = *claim.UpdatedAt
			}
			if time.Since(last) < s.cfg.lease {
				w.deadline = last.Add(s.cfg.lease)
				break
			}
			delete(s.watches, id)
			if !s.stopping {
				s.startLocked(w.q, w.attempt+1, s.convLocked(w.q.ConversationID))
			}
		}
		s.mu.Unlock()
	}
}

// findMessage reads the message id, created after question q, from the
// history; nil if it is not there (deleted).
func (s *Server) findMessage(ctx context.Context, q *messaging.Message, id string) (*messaging.Message, error) {
	after := q.CreatedAt.Add(-time.Millisecond)
	for {
		page, err := s.client.GetMessages(ctx, q.ConversationID, messaging.GetMessagesParams{After: after, Limit: 100})
		if err != nil {
			return nil, err
		}
		for i := range page {
			if key(page[i].ID) == id {
				return &page[i], nil
			}
		}
		if len(page) < 100 {
			return nil, nil
		}
		// Overlap by a millisecond: the service compares strictly.
		next := page[len(page)-1].CreatedAt.Add(-time.Millisecond)
		if !next.After(after) {
			return nil, nil
		}
		after = next
	}
}

// prune forgets the questions too old to make a turn again.
func (s *Server) prune() {
	limit := time.Now().Add(-2*s.cfg.maxAge - s.cfg.lease)
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, at := range s.seen {
		if at.Before(limit) {
			delete(s.seen, id)
		}
	}
}
