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
	ctx, observed := s.observeTurn(q)
	run, err := s.socket.Run(ctx, q.ConversationID, "",
		messaging.WithRunPrincipal(s.me...), messaging.WithRunTraceID(q.TraceID))
	if err != nil {
		observed(err)
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
		observed: observed,
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

// observeTurn lets the socket's observer (messaging.WithObserver) see a
// turn for q start: it returns the context the turn's run derives from
// (the server's, or the observer's child of it, such as a span in q's
// trace), and the function to call once with the turn's outcome. Without
// an observer, it costs a comparison.
func (s *Server) observeTurn(q *messaging.Message) (context.Context, func(error)) {
	o := s.socket.Observer()
	if o == nil || o.Turn == nil {
		return s.base, noTurnEnd
	}
	agentID := s.me[len(s.me)-1] // the agent id, or the principal's when the same
	ctx, end := o.Turn(s.base, messaging.TurnInfo{Question: q, AgentID: agentID})
	if ctx == nil {
		ctx = s.base
	}
	if end == nil {
		end = noTurnEnd
	}
	return ctx, end
}

func noTurnEnd(error) {}

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
		t.observed(err)
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
