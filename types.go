package messaging

import (
	"encoding/json"
	"fmt"
	"time"
)

// ConversationType says whether a conversation is private or a named group.
type ConversationType string

// Conversation types understood by the service.
const (
	ConversationPrivate ConversationType = "private"
	ConversationGroup   ConversationType = "group"
)

// Valid reports whether t is a conversation type the service accepts.
func (t ConversationType) Valid() bool {
	return t == ConversationPrivate || t == ConversationGroup
}

// ParticipantRole is a participant's role in a conversation.
type ParticipantRole string

// Participant roles.
const (
	RoleOwner  ParticipantRole = "owner"
	RoleAdmin  ParticipantRole = "admin"
	RoleMember ParticipantRole = "member"
)

// Valid reports whether r is a known role.
func (r ParticipantRole) Valid() bool {
	return r == RoleOwner || r == RoleAdmin || r == RoleMember
}

// UserType distinguishes people from AI agents.
type UserType string

// User types.
const (
	UserTypeUser  UserType = "user"
	UserTypeAgent UserType = "agent"
)

// Valid reports whether t is a user type the service accepts.
func (t UserType) Valid() bool { return t == UserTypeUser || t == UserTypeAgent }

// SenderType is who sent a message. It is wider than [UserType]: the service
// also records messages from services and bots.
type SenderType string

// Sender types.
const (
	SenderUser    SenderType = "user"
	SenderAgent   SenderType = "agent"
	SenderService SenderType = "service"
	SenderBot     SenderType = "bot"
)

// Valid reports whether t is a known sender type.
func (t SenderType) Valid() bool {
	switch t {
	case SenderUser, SenderAgent, SenderService, SenderBot:
		return true
	}
	return false
}

// Priority is a message's priority. The service stores unknown priorities as
// [PriorityNormal]; this SDK rejects them before sending.
type Priority string

// Message priorities.
const (
	PriorityLow      Priority = "low"
	PriorityNormal   Priority = "normal"
	PriorityHigh     Priority = "high"
	PriorityCritical Priority = "critical"
)

// Valid reports whether p is a known priority.
func (p Priority) Valid() bool {
	switch p {
	case PriorityLow, PriorityNormal, PriorityHigh, PriorityCritical:
		return true
	}
	return false
}

// PresenceStatus is a user's availability.
type PresenceStatus string

// Presence statuses.
const (
	PresenceOnline  PresenceStatus = "online"
	PresenceAway    PresenceStatus = "away"
	PresenceBusy    PresenceStatus = "busy"
	PresenceOffline PresenceStatus = "offline"
)

// Valid reports whether s is a known presence status.
func (s PresenceStatus) Valid() bool {
	switch s {
	case PresenceOnline, PresenceAway, PresenceBusy, PresenceOffline:
		return true
	}
	return false
}

// Content types with a meaning to the service. Any other string is allowed
// and stored as given.
const (
	// ContentTypeText is the default content type.
	ContentTypeText = "text"
	// ContentTypeEvent marks the stored record of a control event. Only the
	// service writes it: send control events with SendControl.
	ContentTypeEvent = "event"
)

// Conversation is a conversation as the service returns it.
type Conversation struct {
	ID          string           `json:"id"`
	Type        ConversationType `json:"type"`
	Name        string           `json:"name,omitempty"`
	Description string           `json:"description,omitempty"`
	OrgID       string           `json:"org_id,omitempty"`
	CreatedBy   string           `json:"created_by,omitempty"`
	Metadata    map[string]any   `json:"metadata,omitempty"`
	CreatedAt   time.Time        `json:"created_at"`
	UpdatedAt   time.Time        `json:"updated_at"`
	// Participants is filled by CreateConversation and GetConversation only;
	// the list and update calls return conversations without it.
	Participants []Participant `json:"participants,omitempty"`
}

// Participant is a member of a conversation.
type Participant struct {
	ID             string          `json:"id,omitempty"`
	ConversationID string          `json:"conversation_id"`
	UserID         string          `json:"user_id"`
	UserType       UserType        `json:"user_type,omitempty"`
	Role           ParticipantRole `json:"role"`
	EntityID       string          `json:"entity_id,omitempty"`
	JoinedAt       time.Time       `json:"joined_at"`
	// LastReadAt is nil until the participant first reads the history.
	LastReadAt *time.Time `json:"last_read_at,omitempty"`
}

// Message is a stored message. Identity is ID: the service may repeat a
// Sequence under concurrency, so treat Sequence as an ordering hint only.
type Message struct {
	ID             string         `json:"id"`
	ConversationID string         `json:"conversation_id"`
	SenderID       string         `json:"sender_id"`
	SenderType     SenderType     `json:"sender_type,omitempty"`
	Content        string         `json:"content"`
	ContentType    string         `json:"content_type,omitempty"`
	ReplyTo        string         `json:"reply_to,omitempty"`
	OrgID          string         `json:"org_id,omitempty"`
	RunID          string         `json:"run_id,omitempty"`
	TraceID        string         `json:"trace_id,omitempty"`
	Sequence       int64          `json:"sequence"`
	Priority       Priority       `json:"priority,omitempty"`
	Interruptible  bool           `json:"interruptible"`
	PreemptedBy    string         `json:"preempted_by,omitempty"`
	Metadata       map[string]any `json:"metadata,omitempty"`
	CreatedAt      time.Time      `json:"created_at"`
	// UpdatedAt is nil for a message never edited (and never re-sent with
	// the same id).
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
	// DeletedAt is set on soft-deleted messages; the history never lists them.
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
}

// IsControl reports whether m is the stored record of a control event.
func (m *Message) IsControl() bool { return m.ContentType == ContentTypeEvent }

// ControlTarget names whom a control event is for. The service passes it
// through untouched: the web console sends {principalId, principalType}, the
// JS client documents a bare string. Both decode; a target with an empty
// PrincipalType is encoded as a bare string, any other as the object.
type ControlTarget struct {
	PrincipalID   string
	PrincipalType UserType
}

// MarshalJSON encodes the target as a bare string when PrincipalType is
// empty, else as {principalId, principalType}.
func (t ControlTarget) MarshalJSON() ([]byte, error) {
	if t.PrincipalType == "" {
		return json.Marshal(t.PrincipalID)
	}
	return json.Marshal(controlTargetWire(t))
}

// UnmarshalJSON accepts a bare string, an object {principalId,
// principalType} or null.
func (t *ControlTarget) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = ControlTarget{PrincipalID: s}
		return nil
	}
	var w controlTargetWire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("messaging: control target: %w", err)
	}
	*t = ControlTarget(w)
	return nil
}

type controlTargetWire struct {
	PrincipalID   string   `json:"principalId"`
	PrincipalType UserType `json:"principalType,omitempty"`
}

// User is an authenticated principal as GET /api/auth/me describes it.
type User struct {
	ID            string         `json:"id"`
	Email         string         `json:"email,omitempty"`
	Name          string         `json:"name,omitempty"`
	Type          UserType       `json:"type"`
	AgentID       string         `json:"agentId,omitempty"`
	OrgID         string         `json:"orgId,omitempty"`
	Organizations []Organization `json:"organizations,omitempty"`
	Entitlements  []string       `json:"entitlements,omitempty"`
	Roles         []string       `json:"roles,omitempty"`
	IsSuperAdmin  bool           `json:"isSuperAdmin,omitempty"`
}

// Organization is an organisation a principal belongs to. The identity
// service may list organisations as bare ids or as objects; both decode.
type Organization struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	Slug string `json:"slug,omitempty"`
	Role string `json:"role,omitempty"`
}

// UnmarshalJSON accepts a bare id string or an object.
func (o *Organization) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &o.ID)
	}
	type plain Organization
	return json.Unmarshal(b, (*plain)(o))
}

// Me is the answer of GET /api/auth/me: who the caller is.
type Me struct {
	User          User           `json:"user"`
	Organizations []Organization `json:"organizations,omitempty"`
}

// Health is the answer of the health endpoint.
type Health struct {
	Status    string    `json:"status"`
	Timestamp time.Time `json:"timestamp"`
}

// NewParticipant names a participant to add when creating a conversation.
type NewParticipant struct {
	UserID   string   `json:"userId"`
	UserType UserType `json:"userType,omitempty"`
}

// CreateConversationParams are the fields of a new conversation.
type CreateConversationParams struct {
	// Type is required: ConversationPrivate or ConversationGroup.
	Type ConversationType
	// Name is required for groups.
	Name        string
	Description string
	// OrgID places the conversation in an organisation the caller belongs to.
	OrgID    string
	Metadata map[string]any
	// Participants are added besides the creator, who is always the owner.
	Participants []NewParticipant
	// ParticipantIDs is the JS client's form: bare user ids, added as users.
	// They are sent as {userId, userType:"user"} objects, the form the
	// service reads (it silently ignores bare strings).
	ParticipantIDs []string
}

// MarshalJSON encodes the request body the service reads.
func (p CreateConversationParams) MarshalJSON() ([]byte, error) {
	w := struct {
		Type         ConversationType `json:"type"`
		Name         string           `json:"name,omitempty"`
		Description  string           `json:"description,omitempty"`
		OrgID        string           `json:"orgId,omitempty"`
		Metadata     map[string]any   `json:"metadata,omitempty"`
		Participants []NewParticipant `json:"participants,omitempty"`
	}{p.Type, p.Name, p.Description, p.OrgID, p.Metadata, p.allParticipants()}
	return json.Marshal(w)
}

func (p CreateConversationParams) allParticipants() []NewParticipant {
	if len(p.ParticipantIDs) == 0 {
		return p.Participants
	}
	out := make([]NewParticipant, 0, len(p.Participants)+len(p.ParticipantIDs))
	out = append(out, p.Participants...)
	for _, id := range p.ParticipantIDs {
		out = append(out, NewParticipant{UserID: id, UserType: UserTypeUser})
	}
	return out
}

// UpdateConversationParams are the fields to change. Empty fields are left
// as they are; Metadata, when set, replaces the stored metadata whole.
type UpdateConversationParams struct {
	Name        string         `json:"name,omitempty"`
	Description string         `json:"description,omitempty"`
	Metadata    map[string]any `json:"metadata,omitempty"`
}

// SendMessageParams describe a message to send, over REST or the socket.
type SendMessageParams struct {
	// ConversationID is required.
	ConversationID string `json:"conversationId,omitempty"`
	// ID is the message's id, a UUID. Leave it empty and the SDK makes one,
	// which makes the send safe to retry: the service stores an id once.
	ID string `json:"id,omitempty"`
	// Content is required and must not be empty.
	Content string `json:"content"`
	// ContentType defaults to "text" on the service. "event" is refused:
	// control events go through SendControl.
	ContentType string `json:"contentType,omitempty"`
	// ReplyTo is the id (UUID) of the message this one answers.
	ReplyTo  string         `json:"replyTo,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
	// RunID must be a UUID: the service stores it in a UUID column.
	RunID string `json:"runId,omitempty"`
	// TraceID is free text.
	TraceID  string   `json:"traceId,omitempty"`
	Priority Priority `json:"priority,omitempty"`
	// Interruptible defaults to true on the service; set it with [Bool].
	Interruptible *bool `json:"interruptible,omitempty"`
	// PreemptedBy is the id (UUID) of the message that preempted this one.
	PreemptedBy string `json:"preemptedBy,omitempty"`
}

// Bool returns a pointer to v, for optional boolean fields.
func Bool(v bool) *bool { return &v }

// GetMessagesParams select a page of history. The service's orderings
// differ by mode: Before gives newest first, After oldest first, neither the
// oldest Limit messages.
type GetMessagesParams struct {
	// Limit is the page size; 0 means the service's default of 50.
	Limit int
	// Before selects messages created strictly before this time.
	Before time.Time
	// After selects messages created strictly after this time.
	After time.Time
}

// ControlParams describe a control event for a conversation's streams.
type ControlParams struct {
	// Event is one of the seven stream events, short ("pause") or full
	// ("stream.pause"); short names are sent in full so listeners of
	// "stream.pause" see them.
	Event   string         `json:"event"`
	Target  *ControlTarget `json:"target,omitempty"`
	Reason  string         `json:"reason,omitempty"`
	RunID   string         `json:"runId,omitempty"`
	TraceID string         `json:"traceId,omitempty"`
	// PreemptedBy is the id (UUID) of the message that preempts the stream.
	PreemptedBy string         `json:"preemptedBy,omitempty"`
	Metadata    map[string]any `json:"metadata,omitempty"`
}
