package timeline

import (
	"slices"
	"time"

	messaging "github.com/symbia-labs/messaging-go"
)

// The socket's handlers. They run on the socket's dispatcher goroutine,
// in the order the server sent the events, and only take the lock for a
// moment. Events are the server's order of things; acknowledgements come
// on the callers' goroutines and may overtake the events that preceded
// them, which the landing list below accounts for.

// onNew handles message:new.
func (t *Timeline) onNew(m *messaging.Message) {
	if m.ConversationID != t.conv {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.touch(m.ID)
	t.gap(m)
	e := t.entries[m.ID]
	if e == nil {
		if m.DeletedAt != nil || m.IsControl() || t.outside(m) {
			return
		}
		e = t.newEntry(m.ID)
		s := *m
		e.server = &s
		t.refresh(e, note{cause: CauseServer})
		return
	}
	if e.deleted || e.server != nil {
		return // known: a repeat carries nothing newer
	}
	// The echo of a local send, or a failed send stored after all.
	s := *m
	t.stored(e, &s)
	t.refresh(e, note{cause: CauseServer})
	t.settleUnknown(e)
}

// stored records the first server version of an entry sent from here.
func (t *Timeline) stored(e *entry, m *messaging.Message) {
	t.seq(m)
	e.server = m
	e.failed = nil
	for _, o := range e.ops {
		if o.kind == OpSend {
			o.echoed = true
		}
	}
}

// onUpdate handles message:updated.
func (t *Timeline) onUpdate(m *messaging.Message) {
	if m.ConversationID != t.conv {
		return
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.touch(m.ID)
	e := t.entries[m.ID]
	if e == nil {
		// An update can overtake its message:new (the socket holds new
		// messages while it fetches history).
		if m.DeletedAt == nil && !m.IsControl() && !t.outside(m) {
			e = t.newEntry(m.ID)
			s := *m
			e.server = &s
			t.refresh(e, note{cause: CauseServer})
		}
		t.mu.Unlock()
		return
	}
	if e.deleted || m.DeletedAt != nil {
		t.mu.Unlock()
		return
	}
	c, gen := t.serverUpdate(e, m)
	t.settleUnknown(e)
	t.mu.Unlock()
	if c != nil {
		t.decide(c, gen)
	}
}

// serverUpdate applies a server update of e from the socket and returns a
// conflict to decide, if any. Caller holds t.mu.
func (t *Timeline) serverUpdate(e *entry, m *messaging.Message) (*Conflict, uint64) {
	s := *m
	if e.server == nil {
		t.stored(e, &s)
	}
	// Is it the echo of a local edit?
	ours := false
	stale := len(e.landing) > 0 // an acknowledged edit's echo is still to come: this is older
	if i := slices.IndexFunc(e.landing, func(l landed) bool { return l.content == m.Content }); i >= 0 {
		e.landing = e.landing[i+1:]
		stale = len(e.landing) > 0
		ours = true
	}
	if !ours {
		for _, o := range e.ops {
			if o.kind == OpEdit && !o.echoed && o.content == m.Content {
				o.echoed, ours = true, true
				break
			}
		}
	}
	if !ours {
		for _, o := range e.ops {
			if o.kind == OpEdit && o.content == m.Content {
				ours = true // a repeated echo
				break
			}
		}
	}
	var local string
	var localAt time.Time
	pending := false
	// Only the sender may edit a message: a local edit of someone else's
	// will be refused, and their update is no conflict.
	if !ours && (t.selfID == "" || m.SenderID == t.selfID) {
		local, localAt, pending = pendingEdit(e)
		if e.want != nil && *e.want == m.Content {
			ours = true // the server already says what the resolution wants
		}
	}
	if !stale {
		e.server = &s
	}
	if ours || !pending || local == m.Content {
		t.refresh(e, note{cause: CauseServer})
		return nil, 0
	}
	base := s
	if e.server != nil {
		base = *e.server
	}
	lm := base
	lm.Content, lm.UpdatedAt = local, &localAt
	c := &Conflict{MessageID: e.id, Local: lm, Server: s}
	e.conflictGen++
	t.refresh(e, note{cause: CauseServer})
	return c, e.conflictGen
}

// pendingEdit returns the latest local content of e that the server has
// not settled: a pending edit, else an acknowledged one not yet echoed.
func pendingEdit(e *entry) (string, time.Time, bool) {
	for i := len(e.ops) - 1; i >= 0; i-- {
		if o := e.ops[i]; o.kind == OpEdit {
			return o.content, o.at, true
		}
	}
	if n := len(e.landing); n > 0 {
		return e.landing[n-1].content, e.landing[n-1].at, true
	}
	return "", time.Time{}, false
}

// decide asks the resolver about a conflict (without the lock) and applies
// its answer, unless the entry moved on meanwhile.
func (t *Timeline) decide(c *Conflict, gen uint64) {
	r := t.ask(*c)
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[c.MessageID]
	if t.closed || e == nil || e.deleted || e.conflictGen != gen {
		return
	}
	var want string
	switch r.Choice {
	case UseServer:
		want = c.Server.Content
	case UseLocal:
		want = c.Local.Content
	case UseContent:
		want = r.Content
	}
	if want == "" {
		e.conflict = c
		t.setWant(e, nil)
	} else {
		e.conflict = nil
		t.setWant(e, &want)
	}
	t.refresh(e, note{cause: CauseConflict, conflict: c, report: true})
	t.settle(e)
}

// ask runs the resolver; a panic defers the conflict.
func (t *Timeline) ask(c Conflict) (r Resolution) {
	defer func() {
		if recover() != nil {
			r = Resolution{Choice: Defer}
		}
	}()
	return t.cfg.resolver(c)
}

// settle applies a conflict resolution once the local changes of e have
// settled: if the server does not say what the resolution wants, it edits
// the message again. Caller holds t.mu.
func (t *Timeline) settle(e *entry) {
	if e.want == nil || len(e.ops) > 0 {
		return
	}
	want := *e.want
	t.setWant(e, nil)
	if t.closed || e.deleted || e.server == nil || e.server.Content == want {
		t.refresh(e, note{cause: CauseServer})
		return
	}
	o := &op{kind: OpEdit, content: want, at: time.Now(), resolve: true}
	t.addOp(e, o)
	t.refresh(e, note{cause: CauseApplied, op: OpEdit, resolve: true})
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		_, _ = t.execute(t.ctx, e, o)
	}()
}

// onDelete handles message:deleted.
func (t *Timeline) onDelete(ev messaging.MessageDeletedEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	e := t.entries[ev.ID]
	if ev.ConversationID != t.conv && (ev.ConversationID != "" || e == nil) {
		return
	}
	t.touch(ev.ID)
	if e == nil {
		// A tombstone: the message:new may still be on its way (held by
		// the socket's backfill).
		t.newEntry(ev.ID).deleted = true
		return
	}
	if e.deleted {
		return
	}
	t.forget(e)
	for _, o := range e.ops {
		if o.kind == OpDelete {
			o.echoed = true
		}
	}
	t.refresh(e, note{cause: CauseServer})
	t.settleUnknown(e)
}

// requestResync asks the loop for a reconciliation with the history.
func (t *Timeline) requestResync() {
	t.mu.Lock()
	if !t.closed {
		t.reqGen++
	}
	t.mu.Unlock()
	t.kick()
}

func (t *Timeline) kick() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}
