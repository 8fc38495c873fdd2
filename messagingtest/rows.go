package messagingtest

import (
	"encoding/json"
	"time"
)

// The service returns raw database rows: snake_case keys in the order the
// database hands them over, every empty optional column as an explicit
// null, times in milliseconds with a Z. The root package's types omit empty
// fields, so the wire form is encoded from the row types below. Their field
// order is the key order observed on the real service.

// jsTime encodes as JavaScript's Date.prototype.toISOString does.
type jsTime time.Time

const jsTimeLayout = "2006-01-02T15:04:05.000Z"

// MarshalJSON implements json.Marshaler.
func (t jsTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format(jsTimeLayout) + `"`), nil
}

func optTime(t *time.Time) *jsTime {
	if t == nil {
		return nil
	}
	j := jsTime(*t)
	return &j
}

// conversationRow is a conversation as returned by create, get and update
// (the order of an INSERT … RETURNING * row), with participants when the
// route adds them.
type conversationRow struct {
	Type           string            `json:"type"`
	Name           *string           `json:"name"`
	Description    *string           `json:"description"`
	OrgID          *string           `json:"org_id"`
	CreatedBy      string            `json:"created_by"`
	Metadata       json.RawMessage   `json:"metadata"`
	ID             string            `json:"id"`
	CreatedAt      jsTime            `json:"created_at"`
	UpdatedAt      jsTime            `json:"updated_at"`
	Participants   *[]participantRow `json:"participants,omitempty"`
	RecentMessages *[]messageRow     `json:"recentMessages,omitempty"`
}

// conversationListRow is a conversation as listed (the table's column
// order, without participants).
type conversationListRow struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Name        *string         `json:"name"`
	Description *string         `json:"description"`
	OrgID       *string         `json:"org_id"`
	CreatedBy   string          `json:"created_by"`
	CreatedAt   jsTime          `json:"created_at"`
	UpdatedAt   jsTime          `json:"updated_at"`
	Metadata    json.RawMessage `json:"metadata"`
}

type participantRow struct {
	ConversationID string  `json:"conversation_id"`
	UserID         string  `json:"user_id"`
	UserType       string  `json:"user_type"`
	Role           string  `json:"role"`
	EntityID       *string `json:"entity_id"`
	ID             string  `json:"id"`
	JoinedAt       jsTime  `json:"joined_at"`
	LastReadAt     *jsTime `json:"last_read_at"`
}

type messageRow struct {
	ID             string          `json:"id"`
	ConversationID string          `json:"conversation_id"`
	SenderID       string          `json:"sender_id"`
	SenderType     string          `json:"sender_type"`
	Content        string          `json:"content"`
	ContentType    string          `json:"content_type"`
	ReplyTo        *string         `json:"reply_to"`
	OrgID          *string         `json:"org_id"`
	RunID          *string         `json:"run_id"`
	TraceID        *string         `json:"trace_id"`
	Sequence       int64           `json:"sequence"`
	Priority       string          `json:"priority"`
	Interruptible  bool            `json:"interruptible"`
	PreemptedBy    *string         `json:"preempted_by"`
	Metadata       json.RawMessage `json:"metadata"`
	CreatedAt      jsTime          `json:"created_at"`
	UpdatedAt      *jsTime         `json:"updated_at"`
	DeletedAt      *jsTime         `json:"deleted_at"`
}

func (c *conversation) row() conversationRow {
	return conversationRow{
		Type: c.typ, Name: c.name, Description: c.description, OrgID: c.orgID,
		CreatedBy: c.createdBy, Metadata: c.metadata, ID: c.id,
		CreatedAt: jsTime(c.createdAt), UpdatedAt: jsTime(c.updatedAt),
	}
}

func (c *conversation) listRow() conversationListRow {
	return conversationListRow{
		ID: c.id, Type: c.typ, Name: c.name, Description: c.description, OrgID: c.orgID,
		CreatedBy: c.createdBy, CreatedAt: jsTime(c.createdAt), UpdatedAt: jsTime(c.updatedAt),
		Metadata: c.metadata,
	}
}

func (p *participant) row() participantRow {
	return participantRow{
		ConversationID: p.conversationID, UserID: p.userID, UserType: p.userType,
		Role: p.role, ID: p.id, JoinedAt: jsTime(p.joinedAt), LastReadAt: optTime(p.lastReadAt),
	}
}

func (m *message) row() messageRow {
	return messageRow{
		ID: m.id, ConversationID: m.conversationID, SenderID: m.senderID, SenderType: m.senderType,
		Content: m.content, ContentType: m.contentType, ReplyTo: m.replyTo, OrgID: m.orgID,
		RunID: m.runID, TraceID: m.traceID, Sequence: m.sequence, Priority: m.priority,
		Interruptible: m.interruptible, PreemptedBy: m.preemptedBy, Metadata: m.metadata,
		CreatedAt: jsTime(m.createdAt), UpdatedAt: optTime(m.updatedAt), DeletedAt: optTime(m.deletedAt),
	}
}
