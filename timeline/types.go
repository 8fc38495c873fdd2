package timeline

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	messaging "github.com/symbia-labs/messaging-go"
)

// Errors of the timeline, for errors.Is.
var (
	// ErrClosed: the timeline was closed.
	ErrClosed = errors.New("timeline: closed")
	// ErrUnknownMessage: the message is not in the timeline (never loaded,
	// outside the loaded window, or deleted). It also matches
	// messaging.ErrNotFound.
	ErrUnknownMessage = fmt.Errorf("timeline: message not in the timeline: %w", messaging.ErrNotFound)
	// ErrNoConflict: Resolve found no unresolved conflict for the message.
	ErrNoConflict = errors.New("timeline: no unresolved conflict for this message")
	// ErrNotFailed: Retry or Discard named a message that is not a failed
	// send.
	ErrNotFailed = errors.New("timeline: not a failed send")
)

// State says whether an entry of the view agrees with the server.
type State int

const (
	// Confirmed: the entry is the server's version of the message.
	Confirmed State = iota
	// Pending: a local change of the entry awaits the server (see
	// Entry.Op).
	Pending
	// Failed: a send that did not reach the server, kept in the view by
	// WithKeepFailedSends for Retry or Discard.
	Failed
)

// String returns the state's name, e.g. "pending".
func (s State) String() string {
	switch s {
	case Confirmed:
		return "confirmed"
	case Pending:
		return "pending"
	case Failed:
		return "failed"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Op is a kind of local change.
type Op int

const (
	// OpNone: no local change.
	OpNone Op = iota
	// OpSend: a new message.
	OpSend
	// OpEdit: a new content for a message.
	OpEdit
	// OpDelete: the deletion of a message.
	OpDelete
)

// String returns the change's name, e.g. "edit".
func (o Op) String() string {
	switch o {
	case OpNone:
		return "none"
	case OpSend:
		return "send"
	case OpEdit:
		return "edit"
	case OpDelete:
		return "delete"
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// Entry is one message of the view with its state.
type Entry struct {
	// Message is the message as the view shows it: the server's version
	// with the pending local changes applied. A pending edit sets Content
	// and UpdatedAt (local time); a pending deletion sets DeletedAt (local
	// time) and keeps the entry until the server confirms. A pending send
	// has the client-made id, Sequence 0 and a local CreatedAt until the
	// server's version arrives.
	Message messaging.Message
	// State is Confirmed, Pending or Failed.
	State State
	// Op is, for a pending entry, the latest local change waiting for the
	// server; for a failed entry, OpSend.
	Op Op
	// Err is, for a failed entry, why the send failed.
	Err error
	// Conflict is an unresolved conflict on this message (see Manual and
	// Timeline.Resolve), or nil.
	Conflict *Conflict
}

// ChangeKind says how a change altered the view.
type ChangeKind int

const (
	// Added: an entry appeared in the view.
	Added ChangeKind = iota + 1
	// Updated: an entry changed (its message, state or conflict), or a
	// local change was confirmed or rolled back without changing it.
	Updated
	// Removed: an entry left the view.
	Removed
)

// String returns the kind's name, e.g. "added".
func (k ChangeKind) String() string {
	switch k {
	case Added:
		return "added"
	case Updated:
		return "updated"
	case Removed:
		return "removed"
	}
	return "ChangeKind(" + strconv.Itoa(int(k)) + ")"
}

// Cause says why a change happened.
type Cause int

const (
	// CauseServer: a change made elsewhere (or the server's echo of a
	// local change), learned from the socket or from a reconciliation with
	// the history.
	CauseServer Cause = iota
	// CauseApplied: a local change was applied optimistically.
	CauseApplied
	// CauseConfirmed: the server confirmed a local change.
	CauseConfirmed
	// CauseRolledBack: a local change failed and was rolled back;
	// Change.Err says why.
	CauseRolledBack
	// CauseConflict: a server update conflicted with a pending local edit;
	// Change.Conflict describes it.
	CauseConflict
	// CauseDiscarded: Discard removed a failed send.
	CauseDiscarded
)

// String returns the cause's name, e.g. "rolled back".
func (c Cause) String() string {
	switch c {
	case CauseServer:
		return "server"
	case CauseApplied:
		return "applied"
	case CauseConfirmed:
		return "confirmed"
	case CauseRolledBack:
		return "rolled back"
	case CauseConflict:
		return "conflict"
	case CauseDiscarded:
		return "discarded"
	}
	return "Cause(" + strconv.Itoa(int(c)) + ")"
}

// Change is one event of the change feed (see Timeline.OnChange).
type Change struct {
	// Kind says how the view changed.
	Kind ChangeKind
	// Cause says why.
	Cause Cause
	// Entry is the entry after the change; for Removed, as it last was.
	Entry Entry
	// Op is the local change this reports on (CauseApplied, CauseConfirmed,
	// CauseRolledBack); OpNone for changes from elsewhere.
	Op Op
	// Err is, for CauseRolledBack, the error of the failed change: the same
	// error the call returned, when the call saw it.
	Err error
	// Conflict is, for CauseConflict, the conflict detected.
	Conflict *Conflict
	// Resolution says that the local change reported on (Op) is an edit
	// the timeline made itself to apply a conflict's resolution, not a
	// call of the caller's.
	Resolution bool
}

// Conflict is a server update that arrived for a message while a local
// edit of it was pending, with a different content.
type Conflict struct {
	// MessageID is the message's id.
	MessageID string
	// Local is the message as the pending local edit made it; its
	// UpdatedAt is when the edit was made (local clock).
	Local messaging.Message
	// Server is the server's version that arrived.
	Server messaging.Message
}

// Choice is what a resolution keeps.
type Choice int

const (
	// Defer leaves the conflict unresolved, listed by Timeline.Conflicts,
	// until Timeline.Resolve. The view shows the server's version.
	Defer Choice = iota
	// UseServer keeps the server's content.
	UseServer
	// UseLocal keeps the local content.
	UseLocal
	// UseContent replaces both by Resolution.Content (a merge).
	UseContent
)

// String returns the choice's name, e.g. "use server".
func (c Choice) String() string {
	switch c {
	case Defer:
		return "defer"
	case UseServer:
		return "use server"
	case UseLocal:
		return "use local"
	case UseContent:
		return "use content"
	}
	return "Choice(" + strconv.Itoa(int(c)) + ")"
}

// Resolution is the outcome of a conflict.
type Resolution struct {
	Choice Choice
	// Content is the message's new content, for UseContent. It must not be
	// empty.
	Content string
}

// Resolver decides a conflict. It runs on the socket's handler goroutine,
// without the timeline's lock held, and must return quickly. A panic
// counts as Defer.
type Resolver func(Conflict) Resolution

// ServerWins keeps the server's content: the default resolver.
func ServerWins(Conflict) Resolution { return Resolution{Choice: UseServer} }

// ClientWins keeps the local content: the local edit is sent again if the
// server ends up with another.
func ClientWins(Conflict) Resolution { return Resolution{Choice: UseLocal} }

// LastWriterWins keeps the content written last, comparing the server's
// updated_at (its created_at if never updated) with the local edit's time.
// The two come from different clocks: skew between them decides close
// calls. A tie keeps the server's.
func LastWriterWins(c Conflict) Resolution {
	server := c.Server.CreatedAt
	if c.Server.UpdatedAt != nil {
		server = *c.Server.UpdatedAt
	}
	var local time.Time
	if c.Local.UpdatedAt != nil {
		local = *c.Local.UpdatedAt
	}
	if local.After(server) {
		return Resolution{Choice: UseLocal}
	}
	return Resolution{Choice: UseServer}
}

// Manual defers every conflict to the caller: see Timeline.Conflicts and
// Timeline.Resolve.
func Manual(Conflict) Resolution { return Resolution{Choice: Defer} }
