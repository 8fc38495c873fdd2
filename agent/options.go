package agent

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	messaging "github.com/symbia-labs/messaging-go"
)

// Policy says what a [Server] does with a new question in a conversation
// where one of its turns is still running.
type Policy int

const (
	// Preempt ends the running turn, if it is interruptible (see
	// Turn.SetInterruptible), with a stream.preempt naming the new
	// question (preemptedBy), which every client of the conversation
	// sees; the new turn starts once it has ended. A turn that is not
	// interruptible is waited for, as with Queue. It is the default: the
	// JS client's guide marks an agent's replies "interruptible: true //
	// Allow user interruption", and a person who asks again has moved on.
	// Sending stream.preempt needs the capability cap:messaging.interrupt:
	// an agent without it cannot preempt (the refusal is logged), and the
	// new turn waits, as with Queue.
	Preempt Policy = iota
	// Queue runs the conversation's turns one after the other, in the
	// order their questions arrived.
	Queue
	// Parallel runs every turn at once, side by side.
	Parallel
)

// String returns "preempt", "queue" or "parallel".
func (p Policy) String() string {
	switch p {
	case Preempt:
		return "preempt"
	case Queue:
		return "queue"
	case Parallel:
		return "parallel"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// Defaults of a [Server].
const (
	// DefaultMaxTurns is how many turns may run at once, across
	// conversations.
	DefaultMaxTurns = 64
	// DefaultMaxAge is the age beyond which a question makes no turn: one
	// that arrives late (backfilled after a disconnection, or found in
	// the history of a conversation) is not answered if it was asked more
	// than this long ago.
	DefaultMaxAge = 5 * time.Minute
	// DefaultDiscoveryInterval is how often the server lists its
	// conversations to find those it was added to since it connected.
	DefaultDiscoveryInterval = 5 * time.Second
	// DefaultLease is how long a claim may show nothing but its
	// placeholder before another replica may claim the question again.
	DefaultLease = time.Minute
	// DefaultPlaceholder is the content of a claim until the reply's
	// first words replace it.
	DefaultPlaceholder = "…"
)

// Filter decides whether a message makes a turn, once the server has
// ruled out what never does (see [Server]). conv is the conversation as
// the server last listed it; it may be nil when the server does not know
// it yet (the question is then looked at again when the server finds the
// conversation).
type Filter func(q *messaging.Message, conv *messaging.Conversation) bool

// Private is a Filter that answers only in private conversations.
func Private(_ *messaging.Message, conv *messaging.Conversation) bool {
	return conv != nil && conv.Type == messaging.ConversationPrivate
}

// Mentioning returns a Filter that answers only messages whose content
// mentions one of names as "@name" (case-insensitive).
func Mentioning(names ...string) Filter {
	var at []string
	for _, n := range names {
		if n = strings.TrimPrefix(strings.TrimSpace(n), "@"); n != "" {
			at = append(at, "@"+strings.ToLower(n))
		}
	}
	return func(q *messaging.Message, _ *messaging.Conversation) bool {
		c := strings.ToLower(q.Content)
		for _, n := range at {
			if strings.Contains(c, n) {
				return true
			}
		}
		return false
	}
}

// An Option configures a [Server].
type Option func(*config) error

type config struct {
	policy      Policy
	maxTurns    int
	filter      Filter
	agents      bool
	maxAge      time.Duration
	discovery   time.Duration
	lease       time.Duration
	placeholder string
	middleware  []Middleware
	onTurnEnd   func(*Turn, error)
	logger      *slog.Logger
	socketOpts  []messaging.SocketOption
	replica     string
}

func defaultConfig() config {
	return config{
		policy:      Preempt,
		maxTurns:    DefaultMaxTurns,
		maxAge:      DefaultMaxAge,
		discovery:   DefaultDiscoveryInterval,
		lease:       DefaultLease,
		placeholder: DefaultPlaceholder,
		logger:      slog.New(slog.DiscardHandler),
	}
}

func invalid(field, format string, args ...any) error {
	return &messaging.ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// WithPolicy sets what a new question does to a running turn of the same
// conversation (default Preempt).
func WithPolicy(p Policy) Option {
	return func(c *config) error {
		if p < Preempt || p > Parallel {
			return invalid("WithPolicy", "must be Preempt, Queue or Parallel, got %v", p)
		}
		c.policy = p
		return nil
	}
}

// WithMaxTurns sets how many turns may run at once across conversations
// (default DefaultMaxTurns). A turn beyond the limit waits for one to end
// before its handler is called.
func WithMaxTurns(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return invalid("WithMaxTurns", "must be at least 1, got %d", n)
		}
		c.maxTurns = n
		return nil
	}
}

// WithFilter restricts the questions that make turns (default: all the
// messages of people). See Private and Mentioning.
func WithFilter(f Filter) Option {
	return func(c *config) error {
		c.filter = f
		return nil
	}
}

// WithAgentMessages makes the messages of other agents (senders of type
// agent, service or bot) questions too. The server never answers its own
// messages.
func WithAgentMessages() Option {
	return func(c *config) error {
		c.agents = true
		return nil
	}
}

// WithMaxAge sets the age beyond which a question makes no turn (default
// DefaultMaxAge): see the Server's documentation for backfilled
// questions. The age is measured against the service's creation time, with
// the local clock.
func WithMaxAge(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("WithMaxAge", "must be positive, got %v", d)
		}
		c.maxAge = d
		return nil
	}
}

// WithDiscoveryInterval sets how often the server lists its conversations
// to find new ones (default DefaultDiscoveryInterval). It also lists them
// after every reconnection.
func WithDiscoveryInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("WithDiscoveryInterval", "must be positive, got %v", d)
		}
		c.discovery = d
		return nil
	}
}

// WithLease sets how long a claim may show only its placeholder before
// another replica may claim the question again (default DefaultLease).
// The replica that holds a claim renews it every third of the lease until
// its reply's first words are written.
func WithLease(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("WithLease", "must be positive, got %v", d)
		}
		c.lease = d
		return nil
	}
}

// WithPlaceholder sets the content of a claim, shown to people until the
// reply's first words replace it (default DefaultPlaceholder). It must not
// be empty: the service refuses empty messages.
func WithPlaceholder(text string) Option {
	return func(c *config) error {
		if text == "" {
			return invalid("WithPlaceholder", "must not be empty")
		}
		c.placeholder = text
		return nil
	}
}

// WithMiddleware wraps the handler: the first middleware is the outermost.
func WithMiddleware(m ...Middleware) Option {
	return func(c *config) error {
		for i, x := range m {
			if x == nil {
				return invalid("WithMiddleware", "middleware %d is nil", i)
			}
		}
		c.middleware = append(c.middleware, m...)
		return nil
	}
}

// WithOnTurnEnd registers f, called once for every turn after it has
// ended, with why: nil when the handler returned nil, the handler's error,
// a *PanicError, an error matching ErrClaimedElsewhere when another replica
// answers the question, or the turn's cause when it ended before its
// handler ran (e.g. ErrServerClosed). f is called on the turn's goroutine.
func WithOnTurnEnd(f func(t *Turn, err error)) Option {
	return func(c *config) error {
		c.onTurnEnd = f
		return nil
	}
}

// WithLogger sets where the server reports what goes wrong outside of a
// turn (a failed discovery, a failed claim renewal) and turns that end in
// error (default: nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return invalid("WithLogger", "is nil")
		}
		c.logger = l
		return nil
	}
}

// WithSocketOptions sets the options of the socket the server opens with
// Client.NewSocket.
func WithSocketOptions(opts ...messaging.SocketOption) Option {
	return func(c *config) error {
		c.socketOpts = append(c.socketOpts, opts...)
		return nil
	}
}

// WithReplicaID names this replica in its claims (default: a random UUID
// per Server). Replicas must have different ids: two with the same id
// would both believe they hold a claim.
func WithReplicaID(id string) Option {
	return func(c *config) error {
		if id == "" {
			return invalid("WithReplicaID", "must not be empty")
		}
		c.replica = id
		return nil
	}
}
