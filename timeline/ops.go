package timeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	messaging "github.com/symbia-labs/messaging-go"
)

// Send sends a message to the conversation optimistically: the view shows
// it at once as a Pending entry (last, after the messages the server
// stored), then Send waits for the server. params.ConversationID may be
// left empty (it must otherwise name the timeline's conversation);
// without params.ID the timeline makes a random UUID, which the server
// keeps, so that its echo is recognised.
//
// On success Send returns the entry, confirmed (or still pending if a
// later change of the message is). On failure it returns the error and
// the entry as it was sent: the send is rolled back (the entry leaves the
// view, or becomes Failed with WithKeepFailedSends) and the change feed
// reports it, unless its delivery is unknown (the error matches
// messaging.ErrDeliveryUnknown): the entry then stays pending until the
// next reconciliation with the history settles it either way.
//
// The entry is in the view before Send waits. To show it and carry on
// without waiting, choose its id (messaging.NewMessageID), call Send from
// a goroutine, and follow the change feed or Get the entry by that id.
func (t *Timeline) Send(ctx context.Context, params messaging.SendMessageParams) (Entry, error) {
	if ctx == nil {
		return Entry{}, invalid("send: nil context")
	}
	if params.ConversationID != "" && params.ConversationID != t.conv {
		return Entry{}, invalid("send: params.ConversationID %q is not the timeline's conversation", params.ConversationID)
	}
	if params.Content == "" {
		return Entry{}, invalid("send: params.Content must not be empty")
	}
	params.ConversationID = t.conv
	if params.ID == "" {
		params.ID = uuid.NewString()
	} else if err := checkUUID("params.ID", params.ID); err != nil {
		return Entry{}, err
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return Entry{}, ErrClosed
	}
	if t.entries[params.ID] != nil {
		t.mu.Unlock()
		return Entry{}, invalid("send: message %s is already in the timeline", params.ID)
	}
	e := t.newEntry(params.ID)
	o := t.sendOp(e, params)
	t.addOp(e, o)
	t.refresh(e, note{cause: CauseApplied, op: OpSend})
	t.mu.Unlock()
	return t.execute(ctx, e, o)
}

// sendOp makes the change of a send, with the message as the view shows
// it until the server's version arrives. Caller holds t.mu.
func (t *Timeline) sendOp(e *entry, p messaging.SendMessageParams) *op {
	now := time.Now()
	m := messaging.Message{
		ID: p.ID, ConversationID: t.conv, SenderID: t.selfID, SenderType: t.selfType,
		Content: p.Content, ContentType: p.ContentType, ReplyTo: p.ReplyTo, RunID: p.RunID,
		TraceID: p.TraceID, Priority: p.Priority, Interruptible: true, PreemptedBy: p.PreemptedBy,
		Metadata: p.Metadata, CreatedAt: now,
	}
	if m.ContentType == "" {
		m.ContentType = messaging.ContentTypeText
	}
	if m.Priority == "" {
		m.Priority = messaging.PriorityNormal
	}
	if p.Interruptible != nil {
		m.Interruptible = *p.Interruptible
	}
	t.local++
	e.local = t.local
	return &op{kind: OpSend, params: p, msg: m, at: now}
}

// Edit replaces the content of a message of the view optimistically: the
// view shows the new content at once (Pending), then Edit waits for the
// server. The service lets only a message's sender edit it; a refusal
// rolls the entry back and is returned and reported on the change feed.
// Errors and unknown deliveries are as for Send. A message the view does
// not show, or is deleting, is an error matching ErrUnknownMessage,
// without I/O.
func (t *Timeline) Edit(ctx context.Context, messageID, content string) (Entry, error) {
	if ctx == nil {
		return Entry{}, invalid("edit: nil context")
	}
	if content == "" {
		return Entry{}, invalid("edit: content must not be empty")
	}
	t.mu.Lock()
	e, err := t.editable(messageID)
	if err != nil {
		t.mu.Unlock()
		return Entry{}, err
	}
	o := &op{kind: OpEdit, content: content, at: time.Now()}
	t.addOp(e, o)
	t.refresh(e, note{cause: CauseApplied, op: OpEdit})
	t.mu.Unlock()
	return t.execute(ctx, e, o)
}

// Delete deletes a message of the view optimistically: the entry stays,
// Pending with its DeletedAt set, until the server confirms, then leaves
// the view. The service lets only a message's sender delete it; a
// refusal restores the entry and is returned and reported on the change
// feed. Errors and unknown deliveries are as for Send.
func (t *Timeline) Delete(ctx context.Context, messageID string) error {
	if ctx == nil {
		return invalid("delete: nil context")
	}
	t.mu.Lock()
	e, err := t.editable(messageID)
	if err != nil {
		t.mu.Unlock()
		return err
	}
	o := &op{kind: OpDelete, at: time.Now()}
	t.addOp(e, o)
	t.refresh(e, note{cause: CauseApplied, op: OpDelete})
	t.mu.Unlock()
	_, err = t.execute(ctx, e, o)
	return err
}

// editable returns the entry of a message that may be edited or deleted.
// Caller holds t.mu.
func (t *Timeline) editable(id string) (*entry, error) {
	if t.closed {
		return nil, ErrClosed
	}
	e := t.entries[id]
	if e == nil || e.shown == nil || e.failed != nil || e.deleting() {
		return nil, fmt.Errorf("%w: %s", ErrUnknownMessage, id)
	}
	return e, nil
}

func (e *entry) deleting() bool {
	return slices.ContainsFunc(e.ops, func(o *op) bool { return o.kind == OpDelete })
}

// Resolve settles a deferred conflict (see Conflicts): UseServer keeps
// the server's content, UseLocal the local one, UseContent r.Content.
// When the server does not already say so, the message is edited as by
// Edit, and the edit's error is returned.
func (t *Timeline) Resolve(ctx context.Context, messageID string, r Resolution) error {
	if ctx == nil {
		return invalid("resolve: nil context")
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	e := t.entries[messageID]
	if e == nil || e.conflict == nil {
		t.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNoConflict, messageID)
	}
	var want string
	switch r.Choice {
	case UseServer:
		want = e.conflict.Server.Content
	case UseLocal:
		want = e.conflict.Local.Content
	case UseContent:
		want = r.Content
	}
	if want == "" {
		t.mu.Unlock()
		return invalid("resolve: %v with content %q resolves nothing", r.Choice, r.Content)
	}
	e.conflict = nil
	e.conflictGen++
	if len(e.ops) == 0 && e.server != nil && e.server.Content == want {
		t.refresh(e, note{cause: CauseServer})
		t.mu.Unlock()
		return nil
	}
	o := &op{kind: OpEdit, content: want, at: time.Now()}
	t.addOp(e, o)
	t.refresh(e, note{cause: CauseApplied, op: OpEdit})
	t.mu.Unlock()
	_, err := t.execute(ctx, e, o)
	return err
}

// Retry sends a Failed entry again (see WithKeepFailedSends), with the
// same id and parameters, as Send does.
func (t *Timeline) Retry(ctx context.Context, messageID string) (Entry, error) {
	if ctx == nil {
		return Entry{}, invalid("retry: nil context")
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return Entry{}, ErrClosed
	}
	e := t.entries[messageID]
	if e == nil || e.failed == nil {
		t.mu.Unlock()
		return Entry{}, fmt.Errorf("%w: %s", ErrNotFailed, messageID)
	}
	p := e.failed.params
	e.failed = nil
	o := t.sendOp(e, p)
	t.addOp(e, o)
	t.refresh(e, note{cause: CauseApplied, op: OpSend})
	t.mu.Unlock()
	return t.execute(ctx, e, o)
}

// Discard removes a Failed entry from the view.
func (t *Timeline) Discard(messageID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	e := t.entries[messageID]
	if e == nil || e.failed == nil {
		return fmt.Errorf("%w: %s", ErrNotFailed, messageID)
	}
	e.failed = nil
	t.refresh(e, note{cause: CauseDiscarded, op: OpSend, report: true})
	t.gc(e)
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("timeline: "+format+": %w", append(args, messaging.ErrInvalidArgument)...)
}

// ---- running changes ----

// addOp queues a change of e after the ones in progress. Caller holds t.mu.
func (t *Timeline) addOp(e *entry, o *op) {
	o.done = make(chan struct{})
	if e.tail != nil {
		o.prev = e.tail.done
	}
	e.tail = o
	e.ops = append(e.ops, o)
	t.ops++
}

// removeOp ends a change. Caller holds t.mu.
func (t *Timeline) removeOp(e *entry, o *op) bool {
	i := slices.Index(e.ops, o)
	if i < 0 {
		return false
	}
	e.ops = slices.Delete(e.ops, i, i+1)
	t.ops--
	return true
}

// execute runs a change: it waits for the previous change of the same
// message, calls the socket, and settles the change with the answer.
func (t *Timeline) execute(ctx context.Context, e *entry, o *op) (Entry, error) {
	cctx, cancel := context.WithTimeout(ctx, t.cfg.timeout)
	stop := context.AfterFunc(t.ctx, cancel)
	m, err := t.call(cctx, e, o)
	stop()
	cancel()
	if err != nil && t.ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	out := t.finish(e, o, m, err)
	close(o.done)
	return out, err
}

func (t *Timeline) call(ctx context.Context, e *entry, o *op) (*messaging.Message, error) {
	if o.prev != nil {
		select {
		case <-o.prev:
		case <-ctx.Done():
			return nil, fmt.Errorf("timeline: %v: waiting for the previous change of the message: %w", o.kind, ctx.Err())
		}
	}
	switch o.kind {
	case OpSend:
		return t.s.SendMessage(ctx, o.params)
	case OpEdit:
		return t.s.EditMessage(ctx, e.id, o.content)
	default:
		return nil, t.s.DeleteMessage(ctx, e.id)
	}
}

// finish settles a change with the server's answer and returns the entry.
func (t *Timeline) finish(e *entry, o *op, m *messaging.Message, err error) Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return e.last
	}
	switch {
	case err == nil:
		t.confirm(e, o, m)
	case errors.Is(err, messaging.ErrDeliveryUnknown):
		// It may or may not have reached the server: the history decides.
		o.unknown, o.err, o.due = true, err, time.Now().Add(unknownGrace)
		t.kick()
	default:
		t.rollback(e, o, err)
	}
	if e.shown != nil {
		return export(*e.shown)
	}
	out := export(e.last)
	if o.kind == OpSend && out.Message.ID == "" {
		out = Entry{Message: o.msg, State: Pending, Op: OpSend}
	}
	return out
}

// confirm settles a change the server accepted; m is the server's
// version from the acknowledgement (nil: none). Caller holds t.mu.
func (t *Timeline) confirm(e *entry, o *op, m *messaging.Message) {
	if !t.removeOp(e, o) {
		return
	}
	if m != nil {
		t.touch(e.id)
	}
	switch o.kind {
	case OpSend:
		switch {
		case m == nil || e.deleted:
		case e.server == nil:
			s := *m
			t.stored(e, &s)
		case m.Content == e.server.Content && m.UpdatedAt != nil &&
			(e.server.UpdatedAt == nil || m.UpdatedAt.After(*e.server.UpdatedAt)):
			// A repeated send (after a lost acknowledgement) sets the
			// stored message's updated_at, and its message:new repeat is
			// not passed on: take the time from the acknowledgement.
			s := *e.server
			s.UpdatedAt = m.UpdatedAt
			e.server = &s
		}
	case OpEdit:
		if !o.echoed && !e.deleted && m != nil {
			// The echo is on its way, behind the events that preceded it.
			s := *m
			e.server = &s
			e.landing = append(e.landing, landed{content: o.content, at: o.at})
		}
	case OpDelete:
		if !e.deleted {
			t.forget(e)
		}
	}
	t.refresh(e, note{cause: CauseConfirmed, op: o.kind, resolve: o.resolve, report: true})
	t.settle(e)
	t.gc(e)
}

// rollback undoes a change the server refused or never got. Caller holds
// t.mu.
func (t *Timeline) rollback(e *entry, o *op, err error) {
	if !t.removeOp(e, o) {
		return
	}
	if o.kind == OpSend && t.cfg.keepFailed && e.server == nil && !e.deleted {
		e.failed = &failure{params: o.params, msg: o.msg, err: err}
	}
	t.refresh(e, note{cause: CauseRolledBack, op: o.kind, err: err, resolve: o.resolve, report: true})
	t.settle(e)
	t.gc(e)
}
