package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	messaging "github.com/symbia-labs/messaging-go"
)

// Handler answers one question: ServeTurn is called once per turn, on the
// turn's own goroutine, with the turn's context (the context of its
// messaging.Run, see Turn). It writes the reply to t.Reply and returns
// when done; a returned error is reported (see WithOnTurnEnd), the reply
// keeps what was written.
type Handler interface {
	ServeTurn(ctx context.Context, t *Turn) error
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, t *Turn) error

// ServeTurn calls f(ctx, t).
func (f HandlerFunc) ServeTurn(ctx context.Context, t *Turn) error { return f(ctx, t) }

// Middleware wraps a Handler, e.g. to log, trace or measure turns.
type Middleware func(Handler) Handler

// Errors of turns and servers, for errors.Is.
var (
	// ErrClaimedElsewhere: another replica claimed the question first;
	// this replica's turn ended before its handler ran.
	ErrClaimedElsewhere = errors.New("agent: question claimed by another replica")
	// ErrServerClosed: the server was shut down. It is what Serve returns
	// after Shutdown, and the cause of the context of turns cancelled by
	// a shutdown.
	ErrServerClosed = errors.New("agent: server closed")
)

// PanicError is the error of a turn whose handler panicked: the panic was
// recovered, and the turn ended.
type PanicError struct {
	// Value is what the handler panicked with.
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack []byte
}

// Error implements error.
func (e *PanicError) Error() string { return fmt.Sprintf("agent: handler panicked: %v", e.Value) }

// Unwrap returns Value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Turn is one question and its answer. A Server makes one per question and
// hands it to the Handler.
type Turn struct {
	// Question is the message that makes the turn.
	Question *messaging.Message
	// Attempt counts the claims of the question: 1, or more when a claim
	// was taken over after its lease expired (see Server).
	Attempt int

	srv     *Server
	claimID string
	conv    *messaging.Conversation // as listed; may be nil
	run     *messaging.Run
	reply   *Reply

	done    chan struct{} // closed when the turn has ended
	claimed chan struct{} // closed once the claim is decided
	won     bool          // the claim is ours (after claimed)

	mu            sync.Mutex
	uninterrupted bool

	renewMu sync.Mutex // held by a renewal of the claim while it edits
	started bool       // no more renewals: the reply is written to, or withdrawn
}

// stopRenewals ends the renewals of the claim, once any under way has
// finished.
func (t *Turn) stopRenewals() {
	t.renewMu.Lock()
	t.started = true
	t.renewMu.Unlock()
}

// ConversationID returns the question's conversation.
func (t *Turn) ConversationID() string { return t.Question.ConversationID }

// Conversation returns the conversation as the server last listed it, or
// nil if it does not know it (yet).
func (t *Turn) Conversation() *messaging.Conversation { return t.conv }

// Run returns the turn's run: its Context is the handler's; its state
// follows the conversation's control events (pause, resume, cancel,
// preempt, handoff). It is nil in a turn that ended before its handler ran.
func (t *Turn) Run() *messaging.Run { return t.run }

// Reply returns the turn's reply: a streamed message replying to the
// question, with the run's id and trace id. It is nil in a turn that
// ended before its handler ran.
func (t *Turn) Reply() *Reply { return t.reply }

// ClaimID returns the id of the reply message: derived from the question,
// the agent and the attempt, the same on every replica.
func (t *Turn) ClaimID() string { return t.claimID }

// SetInterruptible says whether a new question in the conversation may
// preempt this turn under the Preempt policy (default true). A turn that
// is not interruptible is waited for.
func (t *Turn) SetInterruptible(on bool) {
	t.mu.Lock()
	t.uninterrupted = !on
	t.mu.Unlock()
}

func (t *Turn) interruptible() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.uninterrupted
}

// historySlack is how many more messages History asks for than it
// returns, for the control records and replies in progress it leaves out.
const historySlack = 20

// History returns up to n messages of the conversation, oldest first,
// ending with the question: what a model's prompt needs. Control records
// are left out, and so are the agent's claims that show only their
// placeholder. One request.
func (t *Turn) History(ctx context.Context, n int) ([]messaging.Message, error) {
	if ctx == nil {
		return nil, invalid("ctx", "is nil")
	}
	if n < 1 {
		return nil, invalid("n", "must be at least 1, got %d", n)
	}
	// before is strict: a millisecond later includes the question (the
	// service keeps milliseconds).
	page, err := t.srv.client.GetMessages(ctx, t.ConversationID(), messaging.GetMessagesParams{
		Before: t.Question.CreatedAt.Add(time.Millisecond),
		Limit:  n + historySlack,
	})
	if err != nil {
		return nil, fmt.Errorf("agent: history: %w", err)
	}
	out := make([]messaging.Message, 0, n)
	for _, m := range page { // newest first
		if m.IsControl() || (t.srv.isMine(&m) && isClaim(&m) && m.Content == t.srv.cfg.placeholder) {
			continue
		}
		out = append(out, m)
		if len(out) == n {
			break
		}
	}
	slices.Reverse(out)
	return out, nil
}

// Reply is the answer of a turn: a message that replies to the question,
// created when the turn was claimed (showing the placeholder) and edited
// as the handler writes, at most once per flush interval (see
// messaging.Stream). Writes block while the run is paused and fail once it
// has ended. The server closes it when the handler returns. Every method
// is safe for concurrent use.
type Reply struct {
	st *messaging.Stream
	t  *Turn
}

// begin marks the reply written to, once any renewal of the claim has
// finished, so that no renewal overwrites the reply's words.
func (r *Reply) begin() { r.t.stopRenewals() }

// Write appends p to the reply (io.Writer). It blocks while the run is
// paused, and fails once it has ended (see messaging.Stream.Write).
func (r *Reply) Write(p []byte) (int, error) {
	if err := r.ready(); err != nil {
		return 0, err
	}
	return r.st.Write(p)
}

// WriteString appends s to the reply (io.StringWriter), as Write.
func (r *Reply) WriteString(s string) (int, error) {
	if err := r.ready(); err != nil {
		return 0, err
	}
	return r.st.WriteString(s)
}

// ready waits while the run is paused (the claim is renewed meanwhile),
// then stops the renewals.
func (r *Reply) ready() error {
	if err := r.t.run.Wait(r.t.run.Context()); err != nil {
		if cause := r.t.run.Err(); cause != nil {
			return cause
		}
		return err
	}
	r.begin()
	return nil
}

// Flush waits until everything written has been sent (see
// messaging.Stream.Flush).
func (r *Reply) Flush(ctx context.Context) error { return r.st.Flush(ctx) }

// ID returns the reply message's id (Turn.ClaimID).
func (r *Reply) ID() string { return r.st.ID() }

// Content returns what the service has of the reply: empty until the
// first words were sent.
func (r *Reply) Content() string { return r.st.Content() }
