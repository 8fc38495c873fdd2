package agent

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	messaging "github.com/symbia-labs/messaging-go"
)

// ClaimMetadataKey is the metadata key of a claim: the reply message a
// replica creates to take a question, whose value holds "replica" (the
// replica's id), "attempt" and "question".
const ClaimMetadataKey = "agentClaim"

// claimSpace is the namespace of the name-based (SHA-1) UUIDs of claims.
var claimSpace = uuid.MustParse("6f1d7a52-93c4-4e0b-9a55-3c1f0b6e2d41")

// Bounds of the server's own requests.
const (
	claimTimeout   = 30 * time.Second
	controlTimeout = 10 * time.Second
	cleanupTimeout = 10 * time.Second
	// scanLimit bounds how many messages the scan of a newly found
	// conversation reads.
	scanLimit = 500
)

// Server answers the questions people ask an agent, one [Turn] per
// question, each on its own goroutine, as net/http's Server serves
// requests. Make one with New; Serve runs it.
//
// # What makes a turn
//
// A message makes a turn when it is not a control record, not the agent's
// own, not deleted, from a person (sender type user; agents, services and
// bots too with WithAgentMessages), not older than the maximum age
// (WithMaxAge), and accepted by the filter (WithFilter), if any.
//
// Questions missed while disconnected arrive by the socket's backfill
// after the reconnection; those older than the maximum age make no turn
// (an answer an hour late is more often wrong than useful). The same rule
// holds for the questions found in the history of a conversation the
// server finds (at start, or later by discovery): the unanswered ones, no
// older than the maximum age, make turns; under the Preempt policy only
// the newest of them does, since it would preempt the others.
//
// # Discovery
//
// The service sends nothing when the agent is added to a conversation, and
// puts a socket in rooms at connect time only. So the server lists its
// conversations when it starts, every discovery interval (WithDiscoveryInterval,
// default 5 s) and after every reconnection; it joins each new one and
// reads its recent history for questions without a reply from the agent.
// A conversation created with the agent is answered within one discovery
// interval, plus the time of a listing, a join and a history read.
//
// # Replicas
//
// Several replicas may serve the same agent (same credentials): each
// receives every question, and exactly one answers it. A replica claims a
// question by creating the reply message with an id derived from the
// question and the agent (a name-based UUID, Turn.ClaimID), carrying its
// replica id in the metadata (ClaimMetadataKey). The service stores an id
// once and answers a repeated one with the stored row, so every replica
// gets the same row back: the replica whose id it carries holds the claim;
// the others end the turn before their handler runs, with an error
// matching ErrClaimedElsewhere. A claim survives a reconnection of its
// holder: a send repeated with the same id returns its own row.
//
// People see the claim as a reply (with the placeholder, "…" by default,
// see WithPlaceholder), the agent shown typing; the reply's first words
// replace the placeholder, and it grows as the handler writes. A turn that
// ends without writing anything (its handler wrote nothing, or it was
// preempted or cancelled first) deletes its claim, so no placeholder is
// left behind; a turn cancelled by a shutdown keeps it, for the lease.
//
// A replica that dies holding a claim would leave the placeholder forever:
// hence the lease (WithLease, default 1 min). The holder renews its claim
// (an edit that changes nothing) every third of the lease until the reply's
// first words are written; a claim that shows only its placeholder and has
// not been renewed for a lease is taken over by the other replicas, which
// claim the question again under the next attempt's id (Turn.Attempt); the
// new holder deletes the stale claim. A replica that dies after writing
// part of a reply leaves that part: people see a reply cut short, and may
// ask again. Renewals go on while the turn waits for its turn and while
// its run is paused; only a holder cut off from the service for longer
// than a lease loses the question to another replica, and the question
// may then be answered twice. A lease is taken over within the lease plus
// one discovery interval.
//
// Per conversation, turns run one at a time (Queue) or preempt each other
// (Preempt) within one replica; replicas do not coordinate beyond claims,
// so under Queue two replicas may answer two questions of the same
// conversation at once. Under Preempt the replica running a turn preempts
// it when it sees the new question, whoever claims that one.
//
// # Threading
//
// Each turn runs on a goroutine of its own, never on the socket's handler
// goroutine, so its run hears the conversation's control events while the
// handler works. The handler's context is the turn's run's: it is
// cancelled by stream.cancel, stream.preempt, stream.handoff and
// stream.route, by a shutdown past its grace, and when Serve's context
// ends. A stream.pause holds the reply's writes until stream.resume. At
// most WithMaxTurns handlers run at once. A handler that panics is
// recovered: its turn ends, and the panic is reported as a *PanicError.
type Server struct {
	client  *messaging.Client
	h       Handler
	cfg     config
	replica string

	mu         sync.Mutex
	started    bool
	stopping   bool
	shutdownC  chan struct{} // closed by Shutdown
	stopC      chan struct{} // closed when the server stops taking turns
	doneC      chan struct{} // closed when Serve has returned
	socket     *messaging.Socket
	me         []string // principal id, then agent id
	convs      map[string]*convState
	seen       map[string]time.Time // claim ids given a turn here → question time
	watches    map[string]*watch    // claims of other replicas, by claim id
	cancelBase context.CancelCauseFunc
	base       context.Context

	turns sync.WaitGroup
	slots chan struct{}
	wake  chan struct{}
}

type convState struct {
	info   *messaging.Conversation
	listed bool    // found by a listing, joined and scanned
	active []*Turn // turns not ended, in arrival order
}

// watch follows a claim held by another replica, for its lease.
type watch struct {
	q        *messaging.Message
	conv     *messaging.Conversation
	attempt  int
	deadline time.Time
}

// New returns a server that answers with h as the principal of client
// (the agent's credentials), on a socket it makes with client.NewSocket.
func New(client *messaging.Client, h Handler, opts ...Option) (*Server, error) {
	if client == nil {
		return nil, invalid("client", "is nil")
	}
	if h == nil {
		return nil, invalid("h", "is nil")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	for i := len(cfg.middleware) - 1; i >= 0; i-- {
		h = cfg.middleware[i](h)
		if h == nil {
			return nil, invalid("WithMiddleware", "middleware %d returned a nil handler", i)
		}
	}
	replica := cfg.replica
	if replica == "" {
		replica = uuid.NewString()
	}
	return &Server{
		client:    client,
		h:         h,
		cfg:       cfg,
		replica:   replica,
		shutdownC: make(chan struct{}),
		stopC:     make(chan struct{}),
		doneC:     make(chan struct{}),
		convs:     make(map[string]*convState),
		seen:      make(map[string]time.Time),
		watches:   make(map[string]*watch),
		slots:     make(chan struct{}, cfg.maxTurns),
		wake:      make(chan struct{}, 1),
	}, nil
}

// ReplicaID returns the id this replica writes in its claims.
func (s *Server) ReplicaID() string { return s.replica }

// Serve connects and answers until ctx ends or Shutdown is called, then
// stops taking turns. After Shutdown it lets the running turns finish
// (within Shutdown's context) and returns ErrServerClosed; when ctx ends,
// it cancels them at once and returns ctx's error. Either way it returns
// once every turn has ended and the socket is closed. Serve may be called
// once.
func (s *Server) Serve(ctx context.Context) error {
	if ctx == nil {
		return invalid("ctx", "is nil")
	}
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("agent: Serve called twice")
	}
	s.started = true
	if s.stopping {
		s.mu.Unlock()
		close(s.doneC)
		return ErrServerClosed
	}
	s.base, s.cancelBase = context.WithCancelCause(ctx)
	s.mu.Unlock()
	defer close(s.doneC)
	defer s.cancelBase(ErrServerClosed)

	me, err := s.client.Me(ctx)
	if err != nil {
		return fmt.Errorf("agent: learning the agent's principal: %w", err)
	}
	ids := []string{me.User.ID}
	if me.User.AgentID != "" && me.User.AgentID != me.User.ID {
		ids = append(ids, me.User.AgentID)
	}
	socket, err := s.client.NewSocket(s.cfg.socketOpts...)
	if err != nil {
		return err
	}
	defer socket.Close()
	s.mu.Lock()
	s.me, s.socket = ids, socket
	s.mu.Unlock()
	offs := []func(){
		socket.OnMessage(s.onMessage),
		socket.OnMessageUpdate(s.onUpdate),
		socket.OnMessageDelete(func(e messaging.MessageDeletedEvent) {
			s.mu.Lock()
			delete(s.watches, strings.ToLower(e.ID))
			s.mu.Unlock()
		}),
		socket.OnReconnect(func() {
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}),
		socket.OnError(func(err error) { s.cfg.logger.Warn("agent: socket", "err", err) }),
	}
	stopTaking := func() {
		s.mu.Lock()
		if !s.stopping {
			s.stopping = true
			close(s.stopC)
		}
		s.mu.Unlock()
		for _, off := range offs {
			off()
		}
	}
	if err := socket.Connect(ctx); err != nil {
		stopTaking()
		return fmt.Errorf("agent: connecting: %w", err)
	}

	discCtx, stopDisc := context.WithCancel(s.base)
	discDone := make(chan struct{})
	go func() {
		defer close(discDone)
		s.discoveryLoop(discCtx)
	}()

	var result error
	select {
	case <-ctx.Done():
		result = ctx.Err()
	case <-s.shutdownC:
		result = ErrServerClosed
	}
	stopTaking()
	stopDisc()
	<-discDone
	s.turns.Wait()
	return result
}

// Shutdown stops the server taking turns, and waits for the running ones
// to end on their own until ctx ends; then it cancels them (their
// context's cause is ErrServerClosed) and returns ctx's error. Serve
// returns once they have all ended. Turns that were waiting for their
// turn end without running; their claims stay, for the lease.
func (s *Server) Shutdown(ctx context.Context) error {
	if ctx == nil {
		return invalid("ctx", "is nil")
	}
	s.mu.Lock()
	select {
	case <-s.shutdownC:
	default:
		close(s.shutdownC)
	}
	started := s.started
	if !started && !s.stopping {
		s.stopping = true
		close(s.stopC)
	}
	s.mu.Unlock()
	if !started {
		return nil
	}
	select {
	case <-s.doneC:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		cancel := s.cancelBase
		s.mu.Unlock()
		if cancel != nil {
			cancel(ErrServerClosed)
		}
		return ctx.Err()
	}
}

func key(id string) string { return strings.ToLower(id) }

// claimID derives the id of the claim of question qid at attempt n.
func (s *Server) claimID(qid string, n int) string {
	name := s.me[0] + "/" + key(qid)
	if n > 1 {
		name += fmt.Sprintf("/%d", n)
	}
	return uuid.NewSHA1(claimSpace, []byte(name)).String()
}

func (s *Server) isMine(m *messaging.Message) bool {
	return slices.Contains(s.me, m.SenderID)
}

// isClaim reports whether m carries a claim.
func isClaim(m *messaging.Message) bool {
	_, ok := m.Metadata[ClaimMetadataKey].(map[string]any)
	return ok
}

// claimOf returns the replica and attempt of a claim.
func claimOf(m *messaging.Message) (replica string, attempt int) {
	c, _ := m.Metadata[ClaimMetadataKey].(map[string]any)
	replica, _ = c["replica"].(string)
	switch a := c["attempt"].(type) {
	case float64:
		attempt = int(a)
	case int:
		attempt = a
	}
	return replica, max(attempt, 1)
}

// makesTurn applies the rules of what makes a turn.
func (s *Server) makesTurn(m *messaging.Message, conv *messaging.Conversation) bool {
	switch {
	case m.IsControl(), m.DeletedAt != nil, s.isMine(m), m.ID == "":
		return false
	case m.SenderType != messaging.SenderUser && !s.cfg.agents:
		return false
	case time.Since(m.CreatedAt) > s.cfg.maxAge:
		return false
	case s.cfg.filter != nil && !s.cfg.filter(m, conv):
		return false
	}
	return true
}

func (s *Server) convLocked(id string) *convState {
	c := s.convs[key(id)]
	if c == nil {
		c = &convState{}
		s.convs[key(id)] = c
	}
	return c
}

// onMessage runs on the socket's handler goroutine: it registers the turn
// in arrival order, and leaves everything else to the turn's goroutine.
func (s *Server) onMessage(m *messaging.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return
	}
	c := s.convLocked(m.ConversationID)
	if !s.makesTurn(m, c.info) {
		return
	}
	s.startLocked(m, 1, c)
}

// onUpdate follows the claims of other replicas: a renewal extends the
// lease, the reply's first words end the watch.
func (s *Server) onUpdate(m *messaging.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.watches[key(m.ID)]
	if w == nil {
		return
	}
	if m.Content != s.cfg.placeholder || m.DeletedAt != nil {
		delete(s.watches, key(m.ID))
		return
	}
	w.deadline = time.Now().Add(s.cfg.lease)
}

// startLocked starts a turn for q at attempt n, unless one was started for
// it here already.
func (s *Server) startLocked(q *messaging.Message, n int, c *convState) {
	id := s.claimID(q.ID, n)
	if _, dup := s.seen[id]; dup {
		return
	}
	s.seen[id] = q.CreatedAt
	run, err := s.socket.Run(s.base, q.ConversationID, "",
		messaging.WithRunPrincipal(s.me...), messaging.WithRunTraceID(q.TraceID))
	if err != nil {
		s.cfg.logger.Warn("agent: cannot start a run", "question", q.ID, "err", err)
		return
	}
	t := &Turn{
		Question: q,
		Attempt:  n,
		srv:      s,
		claimID:  id,
		conv:     c.info,
		run:      run,
		done:     make(chan struct{}),
		claimed:  make(chan struct{}),
	}
	var earlier []*Turn
	if s.cfg.policy != Parallel {
		earlier = slices.Clone(c.active)
	}
	c.active = append(c.active, t)
	s.turns.Add(1)
	go s.serveTurn(t, c, earlier)
	if s.cfg.policy == Preempt {
		for _, p := range earlier {
			s.turns.Add(1)
			go s.preempt(p, q.ID)
		}
	}
}

// serveTurn is a turn's goroutine.
func (s *Server) serveTurn(t *Turn, c *convState, earlier []*Turn) {
	defer s.turns.Done()
	var err error
	defer func() {
		t.run.End()
		s.mu.Lock()
		c.active = slices.DeleteFunc(c.active, func(x *Turn) bool { return x == t })
		s.mu.Unlock()
		close(t.done)
		if err != nil && !errors.Is(err, ErrClaimedElsewhere) {
			s.cfg.logger.Warn("agent: turn", "question", t.Question.ID, "err", err)
		}
		if f := s.cfg.onTurnEnd; f != nil {
			f(t, err)
		}
	}()
	err = s.runTurn(t, earlier)
}

func (s *Server) runTurn(t *Turn, earlier []*Turn) error {
	ctx := t.run.Context()
	won, err := s.claim(t)
	if err != nil {
		return err
	}
	if !won {
		return fmt.Errorf("agent: question %s: %w", t.Question.ID, ErrClaimedElsewhere)
	}
	// The reply's stream starts now: the agent is shown typing while the
	// turn waits, and the placeholder reads as a reply in progress.
	st, err := t.run.Stream(ctx, messaging.StreamParams{ID: t.claimID, Existing: true})
	if err != nil {
		s.withdraw(t, err)
		return err
	}
	reply := &Reply{st: st, t: t}
	stopRenew := s.renew(t)
	defer stopRenew()

	// Wait for the conversation's earlier turns, then for a slot.
	for _, p := range earlier {
		select {
		case <-p.done:
		case <-ctx.Done():
		case <-s.stopC:
		}
	}
	acquired := false
	if ctx.Err() == nil && !s.isStopped() {
		select {
		case s.slots <- struct{}{}:
			acquired = true
		case <-ctx.Done():
		case <-s.stopC:
		}
	}
	if acquired {
		defer func() { <-s.slots }()
	}
	switch {
	case ctx.Err() != nil:
		// Preempted or cancelled while waiting.
		err := context.Cause(ctx)
		_ = st.Close()
		s.withdraw(t, err)
		return err
	case !acquired || s.isStopped():
		// Shut down before the handler ran: the claim stays, for the
		// lease.
		t.stopRenewals()
		_ = st.Close()
		return ErrServerClosed
	}

	t.reply = reply
	herr := s.call(ctx, t)
	cerr := st.Close()
	if st.Content() == "" {
		s.withdraw(t, context.Cause(ctx))
	}
	if herr != nil {
		return herr
	}
	if cerr != nil && !errors.Is(cerr, messaging.ErrRunEnded) {
		return cerr
	}
	return nil
}

func (s *Server) isStopped() bool {
	select {
	case <-s.stopC:
		return true
	default:
		return false
	}
}

// claim creates the turn's reply message, and reports whether the row the
// service returned is this replica's.
func (s *Server) claim(t *Turn) (bool, error) {
	defer close(t.claimed)
	ctx, cancel := context.WithTimeout(t.run.Context(), claimTimeout)
	defer cancel()
	q := t.Question
	row, err := s.socket.SendMessage(ctx, messaging.SendMessageParams{
		ConversationID: q.ConversationID,
		ID:             t.claimID,
		Content:        s.cfg.placeholder,
		ReplyTo:        q.ID,
		RunID:          t.run.ID(),
		TraceID:        t.run.TraceID(),
		Interruptible:  messaging.Bool(true),
		Metadata: map[string]any{
			messaging.StreamMetadataKey: true,
			ClaimMetadataKey: map[string]any{
				"replica":  s.replica,
				"attempt":  t.Attempt,
				"question": q.ID,
			},
		},
	})
	if err != nil {
		return false, fmt.Errorf("agent: claiming question %s: %w", q.ID, err)
	}
	replica, _ := claimOf(row)
	if replica == s.replica && row.DeletedAt == nil {
		t.won = true
		if t.Attempt > 1 {
			// The stale claim of the previous attempt goes.
			s.turns.Add(1)
			go func() {
				defer s.turns.Done()
				s.deleteClaim(s.claimID(q.ID, t.Attempt-1))
			}()
		}
		return true, nil
	}
	if row.DeletedAt == nil && row.Content == s.cfg.placeholder {
		s.mu.Lock()
		s.watches[key(row.ID)] = &watch{q: q, conv: t.conv, attempt: t.Attempt, deadline: time.Now().Add(s.cfg.lease)}
		s.mu.Unlock()
	}
	return false, nil
}

// renew renews the turn's claim every third of the lease until the
// reply is written to or the turn ends.
func (s *Server) renew(t *Turn) (stop func()) {
	done := make(chan struct{})
	s.turns.Add(1)
	go func() {
		defer s.turns.Done()
		tick := time.NewTicker(s.cfg.lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			t.renewMu.Lock()
			if t.started {
				t.renewMu.Unlock()
				return
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(t.run.Context()), min(s.cfg.lease/3, controlTimeout))
			_, err := s.socket.EditMessage(ctx, t.claimID, s.cfg.placeholder)
			cancel()
			t.renewMu.Unlock()
			if err != nil {
				s.cfg.logger.Warn("agent: renewing a claim", "claim", t.claimID, "err", err)
			}
		}
	}()
	return func() { close(done) }
}

// withdraw deletes the claim of a turn that wrote nothing, unless a
// shutdown ended it (the claim then stays, for the lease).
func (s *Server) withdraw(t *Turn, cause error) {
	t.stopRenewals()
	if errors.Is(cause, ErrServerClosed) || s.base.Err() != nil {
		return
	}
	s.deleteClaim(t.claimID)
}

func (s *Server) deleteClaim(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := s.socket.DeleteMessage(ctx, id); err != nil && !errors.Is(err, messaging.ErrNotFound) {
		s.cfg.logger.Warn("agent: deleting a claim", "claim", id, "err", err)
	}
}

// preempt sends stream.preempt to turn p, once its claim is decided, if
// this replica holds it and it is interruptible.
func (s *Server) preempt(p *Turn, by string) {
	defer s.turns.Done()
	select {
	case <-p.claimed:
	case <-p.done:
		return
	}
	if !p.won || !p.interruptible() || p.run.State().Ended() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
	defer cancel()
	_, err := s.socket.SendControl(ctx, p.ConversationID(), messaging.ControlParams{
		Event:       string(messaging.StreamPreempt),
		RunID:       p.run.ID(),
		TraceID:     p.run.TraceID(),
		PreemptedBy: by,
		Reason:      "new question",
	})
	if err != nil {
		s.cfg.logger.Warn("agent: preempting a turn", "question", p.Question.ID, "err", err)
	}
}

// call runs the handler, recovering a panic.
func (s *Server) call(ctx context.Context, t *Turn) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return s.h.ServeTurn(ctx, t)
}

// discoveryLoop lists the conversations now, every interval and after
// every reconnection, and checks the leases of other replicas' claims.
func (s *Server) discoveryLoop(ctx context.Context) {
	tick := time.NewTicker(s.cfg.discovery)
	defer tick.Stop()
	for {
		s.discover(ctx)
		s.checkWatches(ctx)
		s.prune()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.wake:
		}
	}
}

// discover lists the conversations; each new one is joined, then its
// recent history is read for unanswered questions.
func (s *Server) discover(ctx context.Context) {
	list, err := s.client.ListConversations(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.cfg.logger.Warn("agent: listing conversations", "err", err)
		}
		return
	}
	for i := range list {
		c := &list[i]
		s.mu.Lock()
		st := s.convLocked(c.ID)
		st.info = c
		isNew := !st.listed
		s.mu.Unlock()
		if !isNew {
			continue
		}
		// Joined first, so that what the history read misses arrives live.
		if err := s.socket.JoinConversation(ctx, c.ID); err != nil {
			if ctx.Err() == nil {
				s.cfg.logger.Warn("agent: joining a conversation", "conversation", c.ID, "err", err)
			}
			continue
		}
		if err := s.scan(ctx, c); err != nil {
			if ctx.Err() == nil {
				s.cfg.logger.Warn("agent: reading a conversation's history", "conversation", c.ID, "err", err)
			}
			continue
		}
		s.mu.Lock()
		st.listed = true
		s.mu.Unlock()
	}
}

// scan reads a conversation's recent history (no older than the maximum
// age) and starts turns for its unanswered questions.
func (s *Server) scan(ctx context.Context, c *messaging.Conversation) error {
	since := time.Now().Add(-s.cfg.maxAge)
	var page []messaging.Message // newest first
	for m, err := range s.client.Messages(ctx, c.ID, messaging.WithAfter(since)) {
		if err != nil {
			return err
		}
		page = append(page, m)
		if len(page) == scanLimit {
			break
		}
	}
	slices.Reverse(page)
	answered := make(map[string]bool)
	stale := make(map[string]*messaging.Message) // question → its claim showing the placeholder
	for i := range page {
		m := &page[i]
		if s.isMine(m) && m.ReplyTo != "" {
			answered[key(m.ReplyTo)] = true
			if isClaim(m) && m.Content == s.cfg.placeholder {
				stale[key(m.ReplyTo)] = m
			}
		}
	}
	var qs []*messaging.Message
	byID := make(map[string]*messaging.Message)
	for i := range page {
		m := &page[i]
		byID[key(m.ID)] = m
		if !answered[key(m.ID)] && s.makesTurn(m, c) {
			qs = append(qs, m)
		}
	}
	if s.cfg.policy == Preempt && len(qs) > 1 {
		qs = qs[len(qs)-1:] // the newest supersedes the others
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return nil
	}
	st := s.convLocked(c.ID)
	for _, q := range qs {
		s.startLocked(q, 1, st)
	}
	for qid, claim := range stale {
		q := byID[qid]
		if q == nil || s.watches[key(claim.ID)] != nil {
			continue
		}
		if replica, _ := claimOf(claim); replica == s.replica {
			continue
		}
		_, attempt := claimOf(claim)
		last := claim.CreatedAt
		if claim.UpdatedAt != nil && claim.UpdatedAt.After(last) {
			last = *claim.UpdatedAt
		}
		s.watches[key(claim.ID)] = &watch{q: q, conv: c, attempt: attempt, deadline: last.Add(s.cfg.lease)}
	}
	return nil
}

// checkWatches takes over the claims whose lease has expired: one that
// still shows its placeholder and was not renewed for a lease is claimed
// again under the next attempt.
func (s *Server) checkWatches(ctx context.Context) {
	now := time.Now()
	s.mu.Lock()
	var due []*watch
	var ids []string
	for id, w := range s.watches {
		if now.After(w.deadline) {
			due = append(due, w)
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	for i, w := range due {
		id := ids[i]
		claim, err := s.findMessage(ctx, w.q, id)
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.logger.Warn("agent: checking a claim", "claim", id, "err", err)
			}
			continue
		}
		s.mu.Lock()
		switch {
		case s.watches[id] != w:
			// Changed meanwhile.
		case claim == nil || claim.DeletedAt != nil || claim.Content != s.cfg.placeholder:
			delete(s.watches, id)
		default:
			last := claim.CreatedAt
			if claim.UpdatedAt != nil && claim.UpdatedAt.After(last) {
				last = *claim.UpdatedAt
			}
			if time.Since(last) < s.cfg.lease {
				w.deadline = last.Add(s.cfg.lease)
				break
			}
			delete(s.watches, id)
			if !s.stopping {
				s.startLocked(w.q, w.attempt+1, s.convLocked(w.q.ConversationID))
			}
		}
		s.mu.Unlock()
	}
}

// findMessage reads the message id, created after question q, from the
// history; nil if it is not there (deleted).
func (s *Server) findMessage(ctx context.Context, q *messaging.Message, id string) (*messaging.Message, error) {
	after := q.CreatedAt.Add(-time.Millisecond)
	for {
		page, err := s.client.GetMessages(ctx, q.ConversationID, messaging.GetMessagesParams{After: after, Limit: 100})
		if err != nil {
			return nil, err
		}
		for i := range page {
			if key(page[i].ID) == id {
				return &page[i], nil
			}
		}
		if len(page) < 100 {
			return nil, nil
		}
		// Overlap by a millisecond: the service compares strictly.
		next := page[len(page)-1].CreatedAt.Add(-time.Millisecond)
		if !next.After(after) {
			return nil, nil
		}
		after = next
	}
}

// prune forgets the questions too old to make a turn again.
func (s *Server) prune() {
	limit := time.Now().Add(-2*s.cfg.maxAge - s.cfg.lease)
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, at := range s.seen {
		if at.Before(limit) {
			delete(s.seen, id)
		}
	}
}
