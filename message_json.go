package messaging

import (
	"encoding/json"
	"time"

	"github.com/symbia-labs/messaging-go/internal/jsonscan"
)

// Decoding message rows without encoding/json's reflection: every ack of a
// send and every message:new carries one, and encoding/json spent most of
// the client's decoding time on them (it validates the whole input, then
// walks the struct by reflection, field by field).
//
// The fast path reads the row's keys directly, and only the plain case: a
// zero Message, each known key once and spelt exactly, each value of its
// field's JSON type (or null). Anything else is decoded by encoding/json
// itself, which therefore defines every result and every error; the fast
// path must give exactly what encoding/json gives on the input it accepts
// (FuzzMessageUnmarshal checks this).

// messageAlias is Message without its UnmarshalJSON method.
type messageAlias Message

// UnmarshalJSON decodes a message row exactly as encoding/json would
// decode it into a Message without this method: the same Message (also
// when decoding fails part way) and the same error. A plain row into a
// zero Message is read directly, without reflection; anything else is
// handed to encoding/json.
func (m *Message) UnmarshalJSON(b []byte) error {
	if m.isZero() {
		var x Message
		if end, ok := x.readRow(b, jsonscan.SkipSpace(b, 0), 0); ok && jsonscan.SkipSpace(b, end) == len(b) {
			*m = x
			return nil
		}
	}
	return m.unmarshalGeneric(b)
}

// unmarshalGeneric is json.Unmarshal into m, as if Message had no
// UnmarshalJSON method.
func (m *Message) unmarshalGeneric(b []byte) error {
	// A local type named Message, so that encoding/json's errors name the
	// struct as they did before Message had a method ("Go struct field
	// Message.sequence").
	type Message messageAlias
	return json.Unmarshal(b, (*Message)(m))
}

// isZero reports whether m is the zero Message: encoding/json keeps what a
// Message holds where the input has no key, and decodes into the maps and
// pointers it finds, so the fast path starts from zero only.
func (m *Message) isZero() bool {
	return m.ID == "" && m.ConversationID == "" && m.SenderID == "" && m.SenderType == "" &&
		m.Content == "" && m.ContentType == "" && m.ReplyTo == "" && m.OrgID == "" &&
		m.RunID == "" && m.TraceID == "" && m.Sequence == 0 && m.Priority == "" &&
		!m.Interruptible && m.PreemptedBy == "" && m.Metadata == nil &&
		m.CreatedAt == (time.Time{}) && m.UpdatedAt == nil && m.DeletedAt == nil
}

// The fields of a message row, by their JSON names (Message's tags).
const (
	rowID = iota
	rowConversationID
	rowSenderID
	rowSenderType
	rowContent
	rowContentType
	rowReplyTo
	rowOrgID
	rowRunID
	rowTraceID
	rowSequence
	rowPriority
	rowInterruptible
	rowPreemptedBy
	rowMetadata
	rowCreatedAt
	rowUpdatedAt
	rowDeletedAt
	rowFields
)

// rowField returns the field named exactly key, or -1.
func rowField(key []byte) int {
	switch string(key) {
	case "id":
		return rowID
	case "conversation_id":
		return rowConversationID
	case "sender_id":
		return rowSenderID
	case "sender_type":
		return rowSenderType
	case "content":
		return rowContent
	case "content_type":
		return rowContentType
	case "reply_to":
		return rowReplyTo
	case "org_id":
		return rowOrgID
	case "run_id":
		return rowRunID
	case "trace_id":
		return rowTraceID
	case "sequence":
		return rowSequence
	case "priority":
		return rowPriority
	case "interruptible":
		return rowInterruptible
	case "preempted_by":
		return rowPreemptedBy
	case "metadata":
		return rowMetadata
	case "created_at":
		return rowCreatedAt
	case "updated_at":
		return rowUpdatedAt
	case "deleted_at":
		return rowDeletedAt
	}
	return -1
}

// readRow decodes the object at b[i] into m, which must be zero, and
// returns the position just past it. It is false when the input is not the
// plain case (m is then unusable). depth is the number of arrays and
// objects around the row, for encoding/json's nesting limit.
func (m *Message) readRow(b []byte, i, depth int) (int, bool) {
	if i >= len(b) || b[i] != '{' {
		return i, false
	}
	var seen uint32
	return readObject(b, i, func(key []byte, i int) (int, bool) {
		f := rowField(key)
		if f < 0 {
			lower, ok := lowerASCII(key)
			if !ok || rowField(lower) >= 0 {
				return i, false // encoding/json would match it to a field
			}
			return jsonscan.Skip(b, i, depth+1)
		}
		if seen&(1<<f) != 0 {
			return i, false // a duplicate: encoding/json merges, the last wins
		}
		seen |= 1 << f
		if f == rowMetadata {
			return m.readMetadata(b, i, depth+1)
		}
		return m.readField(f, b, i)
	})
}

// readObject reads the object at b[i] (b[i] must be '{'), calling member
// for each key (verbatim: a key with an escape or invalid UTF-8 declines)
// with the position of its value; member returns the position past the
// value. It returns the position past the object.
func readObject(b []byte, i int, member func(key []byte, i int) (int, bool)) (int, bool) {
	i = jsonscan.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, false
		}
		end, verbatim, ok := jsonscan.ScanString(b, i)
		if !ok || !verbatim {
			return i, false
		}
		key := b[i+1 : end-1]
		i = jsonscan.SkipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return i, false
		}
		if i = jsonscan.SkipSpace(b, i+1); i >= len(b) {
			return i, false
		}
		if i, ok = member(key, i); !ok {
			return i, false
		}
		i = jsonscan.SkipSpace(b, i)
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i = jsonscan.SkipSpace(b, i+1)
		case '}':
			return i + 1, true
		default:
			return i, false
		}
	}
}

// lowerASCII returns key in lower case, or false when key has a byte
// outside ASCII (encoding/json folds Unicode case: "ſ" matches "s"). A key
// too long for any field's name comes back as is.
func lowerASCII(key []byte) ([]byte, bool) {
	var buf [16]byte
	for _, c := range key {
		if c >= 0x80 {
			return nil, false
		}
	}
	if len(key) > len(buf) {
		return key, true
	}
	for j, c := range key {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[j] = c
	}
	return buf[:len(key)], true
}

func (m *Message) readField(f int, b []byte, i int) (int, bool) {
	switch f {
	case rowID:
		return readString(b, i, &m.ID)
	case rowConversationID:
		return readString(b, i, &m.ConversationID)
	case rowSenderID:
		return readString(b, i, &m.SenderID)
	case rowSenderType:
		return readString(b, i, &m.SenderType)
	case rowContent:
		return readString(b, i, &m.Content)
	case rowContentType:
		return readString(b, i, &m.ContentType)
	case rowReplyTo:
		return readString(b, i, &m.ReplyTo)
	case rowOrgID:
		return readString(b, i, &m.OrgID)
	case rowRunID:
		return readString(b, i, &m.RunID)
	case rowTraceID:
		return readString(b, i, &m.TraceID)
	case rowPriority:
		return readString(b, i, &m.Priority)
	case rowPreemptedBy:
		return readString(b, i, &m.PreemptedBy)
	case rowSequence:
		if b[i] == 'n' {
			return readNull(b, i)
		}
		v, end, ok := jsonscan.Int64(b, i)
		m.Sequence = v
		return end, ok
	case rowInterruptible:
		switch b[i] {
		case 't':
			m.Interruptible = true
			return readLiteral(b, i, "true")
		case 'f':
			return readLiteral(b, i, "false")
		case 'n':
			return readNull(b, i)
		}
		return i, false
	case rowCreatedAt:
		return readTime(b, i, &m.CreatedAt)
	case rowUpdatedAt:
		return readTimePtr(b, i, &m.UpdatedAt)
	case rowDeletedAt:
		return readTimePtr(b, i, &m.DeletedAt)
	}
	return i, false
}

// readString reads a string, or null (which leaves *dst as it is, as in
// encoding/json). The values the service repeats on every row are not
// allocated again.
func readString[T ~string](b []byte, i int, dst *T) (int, bool) {
	switch b[i] {
	case '"':
	case 'n':
		return readNull(b, i)
	default:
		return i, false
	}
	end, verbatim, ok := jsonscan.ScanString(b, i)
	if !ok {
		return end, false
	}
	if verbatim {
		*dst = T(common(b[i+1 : end-1]))
	} else {
		var buf [256]byte // most escaped strings fit: one allocation, the string
		*dst = T(jsonscan.AppendUnquote(buf[:0], b[i:end]))
	}
	return end, true
}

// common returns s as a string, without allocating for the enumerated
// values every row repeats.
func common(s []byte) string {
	switch string(s) {
	case "":
		return ""
	case "user":
		return "user"
	case "agent":
		return "agent"
	case "service":
		return "service"
	case "bot":
		return "bot"
	case "text":
		return "text"
	case "event":
		return "event"
	case "low":
		return "low"
	case "normal":
		return "normal"
	case "high":
		return "high"
	case "critical":
		return "critical"
	}
	return string(s)
}

func readNull(b []byte, i int) (int, bool) { return readLiteral(b, i, "null") }

func readLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), true
	}
	return i, false
}

// readTime gives the string's bytes, quotes and escapes included, to
// time.Time's UnmarshalJSON, as encoding/json does; null leaves *dst as is.
func readTime(b []byte, i int, dst *time.Time) (int, bool) {
	switch b[i] {
	case '"':
		end, _, ok := jsonscan.ScanString(b, i)
		if !ok || dst.UnmarshalJSON(b[i:end]) != nil {
			return end, false
		}
		return end, true
	case 'n':
		return readNull(b, i)
	}
	return i, false
}

// readTimePtr is readTime into a new time.Time; null sets *dst to nil.
func readTimePtr(b []byte, i int, dst **time.Time) (int, bool) {
	switch b[i] {
	case '"':
		t := new(time.Time)
		end, ok := readTime(b, i, t)
		*dst = t
		return end, ok
	case 'n':
		*dst = nil
		return readNull(b, i)
	}
	return i, false
}

// readMetadata reads the metadata object, inside depth arrays and
// objects: {} is the empty map encoding/json makes, null sets nil, and any
// other object is decoded by encoding/json into the map (once validated
// here, where the nesting around it counts).
func (m *Message) readMetadata(b []byte, i, depth int) (int, bool) {
	switch b[i] {
	case '{':
		if j := jsonscan.SkipSpace(b, i+1); j < len(b) && b[j] == '}' {
			m.Metadata = map[string]any{}
			return j + 1, true
		}
		end, ok := jsonscan.Skip(b, i, depth)
		if !ok {
			return end, false
		}
		var md map[string]any // not &m.Metadata: m would escape
		if json.Unmarshal(b[i:end], &md) != nil {
			return end, false
		}
		m.Metadata = md
		return end, true
	case 'n':
		m.Metadata = nil
		return readNull(b, i)
	}
	return i, false
}
