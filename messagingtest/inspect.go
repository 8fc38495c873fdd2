package messagingtest

import (
	"encoding/json"
	"time"

	messaging "github.com/symbia-labs/messaging-go"
)

// Messages returns every stored message of a conversation, soft-deleted
// ones included (DeletedAt set), in sequence order, for assertions. It
// returns nil for an unknown conversation.
func (s *Server) Messages(conversationID string) []messaging.Message {
	rows := s.store.storedMessages(conversationID)
	if len(rows) == 0 {
		return nil
	}
	out := make([]messaging.Message, len(rows))
	for i, r := range rows {
		out[i] = r.model()
	}
	return out
}

// Conversation returns a stored conversation with its participants, for
// assertions.
func (s *Server) Conversation(id string) (messaging.Conversation, bool) {
	row, ok, err := s.store.conversation(id)
	if !ok || err != nil {
		return messaging.Conversation{}, false
	}
	c := row.model()
	ps, _ := s.store.participants(id)
	c.Participants = make([]messaging.Participant, len(ps))
	for i, p := range ps {
		c.Participants[i] = p.model()
	}
	return c, true
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func derefTime(t *jsTime) *time.Time {
	if t == nil {
		return nil
	}
	v := time.Time(*t)
	return &v
}

func metadataMap(raw json.RawMessage) map[string]any {
	var m map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		_ = json.Unmarshal(raw, &m)
	}
	return m
}

func (r messageRow) model() messaging.Message {
	return messaging.Message{
		ID: r.ID, ConversationID: r.ConversationID, SenderID: r.SenderID,
		SenderType: messaging.SenderType(r.SenderType), Content: r.Content, ContentType: r.ContentType,
		ReplyTo: deref(r.ReplyTo), OrgID: deref(r.OrgID), RunID: deref(r.RunID), TraceID: deref(r.TraceID),
		Sequence: r.Sequence, Priority: messaging.Priority(r.Priority), Interruptible: r.Interruptible,
		PreemptedBy: deref(r.PreemptedBy), Metadata: metadataMap(r.Metadata),
		CreatedAt: time.Time(r.CreatedAt), UpdatedAt: derefTime(r.UpdatedAt), DeletedAt: derefTime(r.DeletedAt),
	}
}

func (r conversationRow) model() messaging.Conversation {
	return messaging.Conversation{
		ID: r.ID, Type: messaging.ConversationType(r.Type), Name: deref(r.Name),
		Description: deref(r.Description), OrgID: deref(r.OrgID), CreatedBy: r.CreatedBy,
		Metadata: metadataMap(r.Metadata), CreatedAt: time.Time(r.CreatedAt), UpdatedAt: time.Time(r.UpdatedAt),
	}
}

func (p participantRow) model() messaging.Participant {
	return messaging.Participant{
		ID: p.ID, ConversationID: p.ConversationID, UserID: p.UserID,
		UserType: messaging.UserType(p.UserType), Role: messaging.ParticipantRole(p.Role),
		JoinedAt: time.Time(p.JoinedAt), LastReadAt: derefTime(p.LastReadAt),
	}
}
