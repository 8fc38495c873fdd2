package messagingtest

// The fake service's in-memory database: its records (conversations,
// participants, messages), the store and the column checks shared by its
// queries. The queries are in store_conversations.go, store_messages.go
// and store_admin.go.

import (
	"encoding/json"
	"errors"
	"sync"
	"time"
	"unicode/utf8"
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
