package messagingtest

// Store queries across conversations, for the admin routes and for
// inspection by tests (Server's counters and stored messages).

import (
	"cmp"
	"slices"
	"time"
)

// allConversations lists every conversation matching the filters (empty
// means any), newest activity first.
func (s *store) allConversations(orgID, typ string) []conversationListRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cs []*conversation
	for _, c := range s.convs {
		if !c.matches(orgID, typ) {
			continue
		}
		cs = append(cs, c)
	}
	return listRows(cs)
}

// matches reports whether c passes the admin filters: of organisation
// orgID and of type typ, empty meaning any.
func (c *conversation) matches(orgID, typ string) bool {
	return (orgID == "" || c.orgID != nil && *c.orgID == orgID) && (typ == "" || c.typ == typ)
}

type storeCounts struct {
	conversations, messages, participants, active24h int
}

// counts counts rows, over the conversations matching the filters.
func (s *store) counts(orgID, typ string) storeCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n storeCounts
	users := make(map[string]bool)
	dayAgo := s.now().Add(-24 * time.Hour)
	for id, c := range s.convs {
		if !c.matches(orgID, typ) {
			continue
		}
		n.conversations++
		if c.updatedAt.After(dayAgo) {
			n.active24h++
		}
		n.messages += len(s.convMsgs[id])
		for _, p := range s.parts[id] {
			users[p.userID] = true
		}
	}
	n.participants = len(users)
	return n
}

// storedMessages returns every row of conversation id, deleted ones
// included, in sequence order.
func (s *store) storedMessages(id string) []messageRow {
	cid, ok := parseUUID(id)
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rows := make([]messageRow, 0, len(s.convMsgs[cid]))
	for _, m := range s.convMsgs[cid] {
		rows = append(rows, m.row())
	}
	slices.SortStableFunc(rows, func(a, b messageRow) int { return cmp.Compare(a.Sequence, b.Sequence) })
	return rows
}

func (s *store) messagesInserted() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inserted
}
