package messaging

import (
	"time"

	"github.com/google/uuid"
)

// Validation shared by the REST client and the socket: both paths apply the
// REST rules, because the service's socket path validates less and answers
// what it misses with a 500 or a bare "Failed to send message".

func isUUID(s string) bool {
	// uuid.Parse also accepts urn: and braced forms; the service's check
	// takes the canonical 36-character form only.
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

func requireUUID(field, v string) error {
	if v == "" {
		return invalid(field, "is required")
	}
	if !isUUID(v) {
		return invalid(field, "must be a UUID, got %q", v)
	}
	return nil
}

func optionalUUID(field, v string) error {
	if v != "" && !isUUID(v) {
		return invalid(field, "must be a UUID, got %q", v)
	}
	return nil
}

func requireID(field, v string) error {
	if v == "" {
		return invalid(field, "is required")
	}
	return nil
}

func (p *CreateConversationParams) validate() error {
	if p.Type == "" {
		return invalid("params.Type", "is required (private or group)")
	}
	if !p.Type.Valid() {
		return invalid("params.Type", "must be private or group, got %q", p.Type)
	}
	if p.Type == ConversationGroup && p.Name == "" {
		return invalid("params.Name", "is required for a group conversation")
	}
	for i, np := range p.Participants {
		if np.UserID == "" {
			return invalid("params.Participants", "entry %d has no UserID", i)
		}
		if np.UserType != "" && !np.UserType.Valid() {
			return invalid("params.Participants", "entry %d has user type %q (want user or agent)", i, np.UserType)
		}
	}
	for i, id := range p.ParticipantIDs {
		if id == "" {
			return invalid("params.ParticipantIDs", "entry %d is empty", i)
		}
	}
	return nil
}

func (p *SendMessageParams) validate() error {
	if err := requireUUID("params.ConversationID", p.ConversationID); err != nil {
		return err
	}
	if p.Content == "" {
		return invalid("params.Content", "must not be empty")
	}
	if p.ContentType == ContentTypeEvent {
		return invalid("params.ContentType", `"event" is reserved for control events: use SendControl`)
	}
	if p.Priority != "" && !p.Priority.Valid() {
		return invalid("params.Priority", "must be low, normal, high or critical, got %q", p.Priority)
	}
	for _, f := range [...]struct{ name, v string }{
		{"params.ID", p.ID}, {"params.ReplyTo", p.ReplyTo}, {"params.RunID", p.RunID}, {"params.PreemptedBy", p.PreemptedBy},
	} {
		if err := optionalUUID(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

func (p *GetMessagesParams) validate() error {
	if p.Limit < 0 {
		return invalid("params.Limit", "must not be negative, got %d", p.Limit)
	}
	if !p.Before.IsZero() && !p.After.IsZero() {
		return invalid("params", "set Before or After, not both (the service ignores After when both are given)")
	}
	if err := wireTimeInRange("params.Before", p.Before); err != nil {
		return err
	}
	return wireTimeInRange("params.After", p.After)
}

// wireTimeInRange refuses a time the service cannot parse (it answers those
// with a 500): ISO 8601 as sent has four-digit years. The zero time means
// unset and passes.
func wireTimeInRange(field string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return invalid(field, "year %d is out of range (1 to 9999)", y)
	}
	return nil
}

// validate checks p and returns the full event name to send.
func (p *ControlParams) validate() (ControlEventName, error) {
	if p.Event == "" {
		return "", invalid("params.Event", "is required")
	}
	name, ok := ParseControlEvent(p.Event)
	if !ok {
		return "", invalid("params.Event", "must be one of pause, resume, preempt, route, handoff, cancel, priority (or stream.*), got %q", p.Event)
	}
	if err := optionalUUID("params.RunID", p.RunID); err != nil {
		return "", err
	}
	if err := optionalUUID("params.PreemptedBy", p.PreemptedBy); err != nil {
		return "", err
	}
	if p.Target != nil && p.Target.PrincipalType != "" && !p.Target.PrincipalType.Valid() {
		return "", invalid("params.Target.PrincipalType", "must be user or agent, got %q", p.Target.PrincipalType)
	}
	return name, nil
}
