package messagingtest

import (
	"cmp"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// errDB is a failed query: a value the column cannot take, a broken foreign
// key, a check constraint. The routes answer it with their 500 text.
var errDB = errors.New("messagingtest: database error")

type conversation struct {
	id          string
	typ         string
	name        *string
	description *string
	orgID       *string
	createdBy   string
	metadata    json.RawMessage
	createdAt   time.Time
	updatedAt   time.Time
	serial      int64 // creation order, to break ties in listings
	maxSeq      int64 // highest sequence ever given in this conversation
}

type participant struct {
	id             string
	conversationID string
	userID         string
	userType       string
	role           string
	joinedAt       time.Time
	lastReadAt     *time.Time
}

type message struct {
	id             string
	conversationID string
	senderID       string
	senderType     string
	content        string
	contentType    string
	replyTo        *string
	orgID          *string
	runID          *string
	traceID        *string
	sequence       int64
	priority       string
	interruptible  bool
	preemptedBy    *string
	metadata       json.RawMessage
	createdAt      time.Time
	updatedAt      *time.Time
	deletedAt      *time.Time
}

// store is the service's database: three tables behind one lock. Each
// method is one query (or one transaction) of the real service, so a route
// that makes several calls is, as there, not atomic.
type store struct {
	now func() time.Time

	mu       sync.Mutex
	convs    map[string]*conversation
	parts    map[string][]*participant // by conversation id, in insertion order
	msgs     map[string]*message       // by id
	convMsgs map[string][]*message     // by conversation id, in insertion order
	serial   int64
	inserted int64 // message rows ever inserted
}

func newStore(now func() time.Time) *store {
	return &store{
		now:      now,
		convs:    make(map[string]*conversation),
		parts:    make(map[string][]*participant),
		msgs:     make(map[string]*message),
		convMsgs: make(map[string][]*message),
	}
}

// timestamp is NOW() of a TIMESTAMP column: UTC, milliseconds.
func (s *store) timestamp() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

func fitsVarchar(s string, n int) bool { return utf8.RuneCountInString(s) <= n }

func optVarchar(s string, null bool, n int) (*string, error) {
	if null {
		return nil, nil
	}
	if !fitsVarchar(s, n) {
		return nil, errDB
	}
	return &s, nil
}

// optUUID binds `v || null` to a UUID column.
func optUUID(v json.RawMessage) (*string, error) {
	s, null, ok := orNull(v)
	if !ok {
		return nil, errDB
	}
	if null {
		return nil, nil
	}
	id, ok := parseUUID(s)
	if !ok {
		return nil, errDB
	}
	return &id, nil
}

// convID binds a conversation id to a UUID parameter.
func convID(id string) (string, error) {
	c, ok := parseUUID(id)
	if !ok {
		return "", errDB
	}
	return c, nil
}

// ---- conversations ----

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

// ---- messages ----

// messageInput is what the routes hand to MessageModel.create, values as the
// request carried them (nil for undefined).
type messageInput struct {
	conversationID string
	senderID       string
	senderType     string
	id             json.RawMessage // `|| randomUUID()`
	content        json.RawMessage // NOT NULL
	contentType    json.RawMessage // `|| 'text'`
	replyTo        json.RawMessage // `|| null`, UUID, references messages
	runID          json.RawMessage // `|| null`, UUID
	traceID        json.RawMessage // `|| null`, VARCHAR(255)
	preemptedBy    json.RawMessage // `|| null`, UUID
	priority       string          // already normalised; "" is normal
	interruptible  json.RawMessage // `?? true`
	metadata       json.RawMessage // `|| {}`
}

// createMessage inserts a message; an id that exists already returns the
// stored row with updated_at set instead (INSERT … ON CONFLICT (id) DO
// UPDATE). inserted reports which.
func (s *store) createMessage(in messageInput) (row messageRow, inserted bool, err error) {
	cid, err := convID(in.conversationID)
	if err != nil {
		return messageRow{}, false, err
	}
	m := &message{conversationID: cid, senderID: in.senderID, senderType: in.senderType, priority: in.priority}
	if m.priority == "" {
		m.priority = "normal"
	}
	m.id = uuid.NewString()
	if truthy(in.id) {
		v, _, _ := textParam(in.id) // an array gives "", no UUID
		var ok bool
		if m.id, ok = parseUUID(v); !ok {
			return messageRow{}, false, errDB
		}
	}
	content, null, ok := textParam(in.content)
	if !ok || null {
		return messageRow{}, false, errDB
	}
	m.content = content
	ct, null, ok := orNull(in.contentType)
	if !ok || !fitsVarchar(ct, 50) {
		return messageRow{}, false, errDB
	}
	m.contentType = ct
	if null {
		m.contentType = "text"
	}
	if m.replyTo, err = optUUID(in.replyTo); err != nil {
		return messageRow{}, false, err
	}
	if m.runID, err = optUUID(in.runID); err != nil {
		return messageRow{}, false, err
	}
	if m.preemptedBy, err = optUUID(in.preemptedBy); err != nil {
		return messageRow{}, false, err
	}
	tr, null, ok := orNull(in.traceID)
	if !ok {
		return messageRow{}, false, errDB
	}
	if m.traceID, err = optVarchar(tr, null, 255); err != nil {
		return messageRow{}, false, err
	}
	if m.interruptible, ok = boolParam(in.interruptible, true); !ok {
		return messageRow{}, false, errDB
	}
	if m.metadata, ok = jsonbParam(in.metadata); !ok {
		return messageRow{}, false, errDB
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.timestamp()
	c := s.convs[cid]
	if old := s.msgs[m.id]; old != nil {
		old.updatedAt = &now
		if c != nil {
			c.updatedAt = now
		}
		return old.row(), false, nil
	}
	if c == nil {
		return messageRow{}, false, errDB // foreign key
	}
	if m.replyTo != nil && s.msgs[*m.replyTo] == nil {
		return messageRow{}, false, errDB // foreign key
	}
	c.maxSeq++
	m.sequence = c.maxSeq
	m.orgID = c.orgID
	m.createdAt = now
	c.updatedAt = now
	s.msgs[m.id] = m
	s.convMsgs[cid] = append(s.convMsgs[cid], m)
	s.inserted++
	return m.row(), true, nil
}

// message returns the message id unless it is deleted.
func (s *store) message(id string) (messageRow, bool, error) {
	mid, ok := parseUUID(id)
	if !ok {
		return messageRow{}, false, errDB
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.msgs[mid]
	if m == nil || m.deletedAt != nil {
		return messageRow{}, false, nil
	}
	return m.row(), true, nil
}

// editMessage replaces the content of a message that is not deleted.
func (s *store) editMessage(id string, content json.RawMessage) (messageRow, bool, error) {
	mid, ok := parseUUID(id)
	if !ok {
		return messageRow{}, false, errDB
	}
	text, null, ok := textParam(content)
	if !ok || null {
		return messageRow{}, false, errDB
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.msgs[mid]
	if m == nil || m.deletedAt != nil {
		return messageRow{}, false, nil
	}
	now := s.timestamp()
	m.content = text
	m.updatedAt = &now
	return m.row(), true, nil
}

// deleteMessage soft-deletes a message.
func (s *store) deleteMessage(id string) error {
	mid, ok := parseUUID(id)
	if !ok {
		return errDB
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.msgs[mid]; m != nil {
		now := s.timestamp()
		m.deletedAt = &now
	}
	return nil
}

// historyQuery selects a page of history. A limit below zero selects
// nothing (the in-memory database's answer to LIMIT -1).
type historyQuery struct {
	limit         int64
	before, after *time.Time
}

func (s *store) history(id string, q historyQuery) ([]messageRow, error) {
	cid, err := convID(id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ms []*message
	for _, m := range s.convMsgs[cid] {
		switch {
		case m.deletedAt != nil:
		case q.before != nil:
			if m.createdAt.Before(*q.before) {
				ms = append(ms, m)
			}
		case q.after != nil:
			if m.createdAt.After(*q.after) {
				ms = append(ms, m)
			}
		default:
			ms = append(ms, m)
		}
	}
	slices.SortStableFunc(ms, func(a, b *message) int {
		if q.before != nil {
			return cmp.Or(b.createdAt.Compare(a.createdAt), cmp.Compare(b.sequence, a.sequence))
		}
		if q.after != nil {
			return cmp.Or(a.createdAt.Compare(b.createdAt), cmp.Compare(a.sequence, b.sequence))
		}
		return cmp.Or(cmp.Compare(a.sequence, b.sequence), a.createdAt.Compare(b.createdAt))
	})
	if q.limit < 0 {
		ms = nil
	} else if int64(len(ms)) > q.limit {
		ms = ms[:q.limit]
	}
	rows := make([]messageRow, 0, len(ms))
	for _, m := range ms {
		rows = append(rows, m.row())
	}
	return rows, nil
}

// ---- admin and inspection ----

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

func validRole(r string) bool { return r == "owner" || r == "admin" || r == "member" }
