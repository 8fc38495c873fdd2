package messagingtest

// The store's messages (the service's MessageModel): create, read, edit,
// delete and history pages.

import (
	"cmp"
	"encoding/json"
	"slices"
	"time"

	"github.com/google/uuid"
)

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
