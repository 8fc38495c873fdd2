package messaging

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"
	"unicode/utf8"

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
	if err := validText("params.Name", p.Name); err != nil {
		return err
	}
	if err := validText("params.Description", p.Description); err != nil {
		return err
	}
	return validMetadata("params.Metadata", p.Metadata)
}

func (p *UpdateConversationParams) validate() error {
	if p.Name == "" && p.Description == "" && len(p.Metadata) == 0 {
		return invalid("params", "has nothing to update: set Name, Description or Metadata (empty fields, and an empty Metadata map, are not sent)")
	}
	if err := validText("params.Name", p.Name); err != nil {
		return err
	}
	if err := validText("params.Description", p.Description); err != nil {
		return err
	}
	return validMetadata("params.Metadata", p.Metadata)
}

// Size limits of what the service accepts, by path. They bound the
// encoded request, so the content alone must stay somewhat below them.
const (
	// MaxRESTBodySize is the largest JSON request body the service's REST
	// API accepts: its body parser's limit of 12 MB (12 MiB, 12,582,912
	// bytes). A larger SendMessage, CreateConversation, UpdateConversation
	// or SendControl is refused before any I/O with a *ValidationError
	// naming the field that makes it too large.
	MaxRESTBodySize = 12 << 20
	// MaxSocketPacketSize is the largest Socket.IO packet the service
	// accepts: the Socket.IO server's default maxHttpBufferSize of 1 MB
	// (1,000,000 bytes), which the service keeps. A Socket.SendMessage
	// whose packet (event name, JSON-encoded parameters and framing) would
	// exceed it is refused before any I/O with a *ValidationError naming
	// params.Content (or params.Metadata when that is the larger part).
	MaxSocketPacketSize = 1_000_000
)

// socketPacketOverhead is what a Socket.IO event packet adds around its
// JSON argument, generously: the Engine.IO and Socket.IO type digits, an
// acknowledgement id, the event name with its brackets, quotes and comma.
const socketPacketOverhead = 64

// validate checks p by the rules of both paths, and the size limit of the
// socket (the smaller one). The REST client calls validateREST instead.
func (p *SendMessageParams) validate() error {
	if err := p.validateCommon(); err != nil {
		return err
	}
	return p.fits(MaxSocketPacketSize - socketPacketOverhead)
}

// validateREST checks p by the rules of both paths and the REST body limit.
func (p *SendMessageParams) validateREST() error {
	if err := p.validateCommon(); err != nil {
		return err
	}
	return p.fits(MaxRESTBodySize)
}

// fits refuses params whose JSON encoding would exceed limit bytes, naming
// the larger of Content and Metadata. A cheap upper bound spares the exact
// encoding for every message that is far from the limit.
func (p *SendMessageParams) fits(limit int) error {
	const others = 1024 // the other fields, keys and punctuation, generously
	content := jsonStringLen(p.Content)
	meta := 0
	if len(p.Metadata) > 0 {
		// validateCommon encoded it already; encoding again only for
		// messages close to the limit would need to keep that result.
		b, err := json.Marshal(p.Metadata)
		if err != nil {
			return invalid("params.Metadata", "cannot be encoded as JSON: %v", err)
		}
		meta = len(b)
	}
	if content+meta+others <= limit {
		return nil
	}
	// Close to the limit: measure exactly what will be sent.
	n := 0
	if b, err := json.Marshal(p); err == nil {
		n = len(b)
	} else {
		n = content + meta + others
	}
	if n <= limit {
		return nil
	}
	field, size := "params.Content", len(p.Content)
	if meta > content {
		field, size = "params.Metadata", meta
	}
	return invalid(field, "is %d bytes, and the encoded message (%d bytes) exceeds the %d bytes this path carries (see MaxRESTBodySize and MaxSocketPacketSize)", size, n, limit)
}

// validateCommon holds the rules both paths apply to a message.
func (p *SendMessageParams) validateCommon() error {
	if err := requireUUID("params.ConversationID", p.ConversationID); err != nil {
		return err
	}
	if p.Content == "" {
		return invalid("params.Content", "must not be empty")
	}
	if err := validText("params.Content", p.Content); err != nil {
		return err
	}
	if err := validText("params.ContentType", p.ContentType); err != nil {
		return err
	}
	if err := validText("params.TraceID", p.TraceID); err != nil {
		return err
	}
	if err := validMetadata("params.Metadata", p.Metadata); err != nil {
		return err
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
	if err := validText("params.Reason", p.Reason); err != nil {
		return "", err
	}
	if err := validText("params.TraceID", p.TraceID); err != nil {
		return "", err
	}
	if err := validMetadata("params.Metadata", p.Metadata); err != nil {
		return "", err
	}
	return name, nil
}

// validateSocketContent checks the new content of a message sent over the
// socket (EditMessage): not empty, valid UTF-8, and small enough for the
// socket's packet limit, MaxSocketPacketSize, with the edit's other fields.
func validateSocketContent(field, content string) error {
	if content == "" {
		return invalid(field, "must not be empty")
	}
	if err := validText(field, content); err != nil {
		return err
	}
	const limit = MaxSocketPacketSize - socketPacketOverhead - 64 // the message id and keys
	if n := jsonStringLen(content); n > limit {
		return invalid(field, "is %d bytes (%d encoded), more than the %d bytes a socket packet carries (see MaxSocketPacketSize)", len(content), n, limit)
	}
	return nil
}

// validText refuses a string that is not valid UTF-8: encoding/json would
// replace each bad byte with U+FFFD, so the service would store a text
// other than the caller's. Lone surrogates (UTF-16 halves, which Go strings
// can only hold as invalid bytes) are refused the same way.
func validText(field, s string) error {
	if utf8.ValidString(s) {
		return nil
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return invalid(field, "is not valid UTF-8 (bad byte 0x%02x at offset %d); it would not be stored as given", s[i], i)
		}
		i += size
	}
	return invalid(field, "is not valid UTF-8") // not reached
}

// validMetadata refuses metadata that cannot be sent as given: values
// encoding/json cannot encode (NaN or infinite numbers, functions,
// channels, cycles) and strings (keys or values) that are not valid UTF-8.
func validMetadata(field string, m map[string]any) error {
	if len(m) == 0 {
		return nil
	}
	if _, err := json.Marshal(m); err != nil {
		return invalid(field, "cannot be encoded as JSON: %v", err)
	}
	return checkStrings(field, reflect.ValueOf(m), 0)
}

// maxMetadataDepth stops checkStrings on a structure deeper than any
// JSON the service would take; json.Marshal has refused cycles already.
const maxMetadataDepth = 1000

var jsonMarshaler = reflect.TypeFor[json.Marshaler]()

// checkStrings walks v as encoding/json would and refuses the first string
// that is not valid UTF-8, naming where it is. Values with their own
// MarshalJSON are theirs to encode and are not walked.
func checkStrings(path string, v reflect.Value, depth int) error {
	if depth > maxMetadataDepth || !v.IsValid() {
		return nil
	}
	if v.Type().Implements(jsonMarshaler) || (v.CanAddr() && v.Addr().Type().Implements(jsonMarshaler)) {
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		return validText(path, v.String())
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return checkStrings(path, v.Elem(), depth+1)
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			k := it.Key()
			if k.Kind() == reflect.String {
				if err := validText(path+" key", k.String()); err != nil {
					return err
				}
			}
			if err := checkStrings(fmt.Sprintf("%s[%q]", path, fmt.Sprint(k)), it.Value(), depth+1); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // []byte travels as base64
		}
		for i := range v.Len() {
			if err := checkStrings(fmt.Sprintf("%s[%d]", path, i), v.Index(i), depth+1); err != nil {
				return err
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				if err := checkStrings(path+"."+t.Field(i).Name, v.Field(i), depth+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// jsonStringLen is an upper bound of the length of s encoded as a JSON
// string by encoding/json, quotes included: it escapes quotes and
// backslashes in two bytes, control characters, <, >, & and U+2028/U+2029
// in at most six.
func jsonStringLen(s string) int {
	n := 2 + len(s)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			n++
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			n += 5
		case c == 0xe2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xa8 || s[i+2] == 0xa9):
			n += 3 // three bytes become six
		}
	}
	return n
}
