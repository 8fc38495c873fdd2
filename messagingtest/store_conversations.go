package messagingtest

// The store's conversations and their participants (the service's
// ConversationModel and ParticipantModel).

import (
	"cmp"
	"encoding/json"
	"slices"

	"github.com/google/uuid"
)

type conversationInput struct {
	typ         string
	name        json.RawMessage
	description json.RawMessage
	orgID       string // "" for none
	createdBy   string
	metadata    json.RawMessage
}

func (s *store) createConversation(in conversationInput) (conversationRow, error) {
	name, null, ok := textParam(in.name)
	if !ok {
		return conversationRow{}, errDB
	}
	namep, err := optVarchar(name, null, 255)
	if err != nil {
		return conversationRow{}, err
	}
	desc, dnull, ok := textParam(in.description)
	if !ok {
		return conversationRow{}, errDB
	}
	descp, _ := optVarchar(desc, dnull, 1<<30)
	orgp, err := optVarchar(in.orgID, in.orgID == "", 255)
	if err != nil {
		return conversationRow{}, err
	}
	meta, ok := jsonbParam(in.metadata)
	if !ok || !fitsVarchar(in.createdBy, 255) {
		return conversationRow{}, errDB
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.timestamp()
	s.serial++
	c := &conversation{
		id: uuid.NewString(), typ: in.typ, name: namep, description: descp, orgID: orgp,
		createdBy: in.createdBy, metadata: meta, createdAt: now, updatedAt: now, serial: s.serial,
	}
	s.convs[c.id] = c
	return c.row(), nil
}

// conversation returns the row of id, false when there is none.
func (s *store) conversation(id string) (conversationRow, bool, error) {
	cid, err := convID(id)
	if err != nil {
		return conversationRow{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.convs[cid]
	if c == nil {
		return conversationRow{}, false, nil
	}
	return c.row(), true, nil
}

// listForUser lists the conversations userID participates in, newest
// activity first; a non-empty orgID keeps that org's and org-less ones.
func (s *store) listForUser(userID, orgID string) []conversationListRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cs []*conversation
	for id, ps := range s.parts {
		for _, p := range ps {
			if p.userID != userID {
				continue
			}
			c := s.convs[id]
			if orgID == "" || c.orgID == nil || *c.orgID == orgID {
				cs = append(cs, c)
			}
			break
		}
	}
	return listRows(cs)
}

func listRows(cs []*conversation) []conversationListRow {
	slices.SortFunc(cs, func(a, b *conversation) int {
		if c := b.updatedAt.Compare(a.updatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.serial, a.serial)
	})
	rows := make([]conversationListRow, 0, len(cs))
	for _, c := range cs {
		rows = append(rows, c.listRow())
	}
	return rows
}

// conversationUpdate holds PATCH fields; nil means undefined (left alone).
type conversationUpdate struct {
	name, description, metadata json.RawMessage
}

func (s *store) updateConversation(id string, u conversationUpdate) (conversationRow, bool, error) {
	cid, err := convID(id)
	if err != nil {
		return conversationRow{}, false, err
	}
	var name, desc *string
	var meta json.RawMessage
	if u.name != nil {
		v, null, ok := textParam(u.name)
		if name, err = optVarchar(v, null, 255); !ok || err != nil {
			return conversationRow{}, false, errDB
		}
	}
	if u.description != nil {
		v, null, ok := textParam(u.description)
		if !ok {
			return conversationRow{}, false, errDB
		}
		desc, _ = optVarchar(v, null, 1<<30)
	}
	if u.metadata != nil {
		var ok bool
		if meta, ok = jsonbValue(u.metadata); !ok {
			return conversationRow{}, false, errDB
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.convs[cid]
	if c == nil {
		return conversationRow{}, false, nil
	}
	if u.name == nil && u.description == nil && u.metadata == nil {
		return c.row(), true, nil
	}
	if u.name != nil {
		c.name = name
	}
	if u.description != nil {
		c.description = desc
	}
	if u.metadata != nil {
		c.metadata = meta
	}
	c.updatedAt = s.timestamp()
	return c.row(), true, nil
}

// jsonbValue binds v (not undefined) to a JSONB parameter without the
// `|| {}` of inserts: null stays SQL NULL.
func jsonbValue(v json.RawMessage) (json.RawMessage, bool) {
	if string(v) == "null" {
		return json.RawMessage("null"), true
	}
	if !truthy(v) && v[0] != '"' {
		return normalizeJSON(v), true
	}
	return jsonbParam(v)
}

// deleteConversation deletes id with its participants and messages.
func (s *store) deleteConversation(id string) (bool, error) {
	cid, err := convID(id)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.convs[cid] == nil {
		return false, nil
	}
	delete(s.convs, cid)
	delete(s.parts, cid)
	for _, m := range s.convMsgs[cid] {
		delete(s.msgs, m.id)
	}
	delete(s.convMsgs, cid)
	return true, nil
}

// ---- participants ----

func (s *store) findParticipant(cid, userID string) *participant {
	for _, p := range s.parts[cid] {
		if p.userID == userID {
			return p
		}
	}
	return nil
}

// addParticipant upserts (conversation, user): a new row, or the existing
// one with its role replaced.
func (s *store) addParticipant(id, userID, userType, role string) (participantRow, error) {
	cid, err := convID(id)
	if err != nil {
		return participantRow{}, err
	}
	if userType != "user" && userType != "agent" || !validRole(role) || !fitsVarchar(userID, 255) {
		return participantRow{}, errDB
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.convs[cid] == nil {
		return participantRow{}, errDB // foreign key
	}
	if p := s.findParticipant(cid, userID); p != nil {
		p.role = role
		return p.row(), nil
	}
	p := &participant{
		id: uuid.NewString(), conversationID: cid, userID: userID, userType: userType,
		role: role, joinedAt: s.timestamp(),
	}
	s.parts[cid] = append(s.parts[cid], p)
	return p.row(), nil
}

func (s *store) removeParticipant(id, userID string) (bool, error) {
	cid, err := convID(id)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.parts[cid]
	for i, p := range ps {
		if p.userID == userID {
			s.parts[cid] = slices.Delete(ps, i, i+1)
			return true, nil
		}
	}
	return false, nil
}

func (s *store) participants(id string) ([]participantRow, error) {
	cid, err := convID(id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rows := make([]participantRow, 0, len(s.parts[cid]))
	for _, p := range s.parts[cid] {
		rows = append(rows, p.row())
	}
	return rows, nil
}

// role returns userID's role in id, "" when not a participant.
func (s *store) role(id, userID string) (string, error) {
	cid, err := convID(id)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.findParticipant(cid, userID); p != nil {
		return p.role, nil
	}
	return "", nil
}

func (s *store) isParticipant(id, userID string) (bool, error) {
	r, err := s.role(id, userID)
	return r != "", err
}

func (s *store) updateLastRead(id, userID string) {
	cid, err := convID(id)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.findParticipant(cid, userID); p != nil {
		t := s.timestamp()
		p.lastReadAt = &t
	}
}

// conversationsOf lists the ids of the conversations userID participates in.
func (s *store) conversationsOf(userID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cs []*conversation
	for cid := range s.parts {
		if s.findParticipant(cid, userID) != nil {
			cs = append(cs, s.convs[cid])
		}
	}
	slices.SortFunc(cs, func(a, b *conversation) int { return cmp.Compare(a.serial, b.serial) })
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.id
	}
	return ids
}

func validRole(r string) bool { return r == "owner" || r == "admin" || r == "member" }
