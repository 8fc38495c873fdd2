package messaging

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// DefaultEndpoint is used when neither WithEndpoint nor MESSAGING_ENDPOINT
// names one.
const DefaultEndpoint = "http://localhost:5005"

// Environment variables read for defaults. An explicit option always wins.
const (
	EnvEndpoint = "MESSAGING_ENDPOINT"
	EnvToken    = "MESSAGING_SERVICE_TOKEN"
	EnvAPIKey   = "MESSAGING_API_KEY"
)

// ClientOption configures a Client.
type ClientOption interface{ applyClient(*clientConfig) error }

// SocketOption configures a Socket.
type SocketOption interface{ applySocket(*socketConfig) error }

// Option configures both a Client and a Socket.
type Option interface {
	ClientOption
	SocketOption
}

// commonConfig holds what the Client and the Socket share.
type commonConfig struct {
	endpoint     *url.URL
	token        string
	apiKey       string
	errorHandler func(error)
	logger       *slog.Logger
	httpClient   *http.Client
	userAgent    string
	// ownTransport is httpClient's transport when the SDK made it (no
	// WithHTTPClient): the Client that owns it releases it in Close. A
	// socket made by Client.NewSocket shares its client's and does not own
	// it.
	ownTransport *http.Transport
	observer     *Observer // WithObserver (observe.go)
}

// discardLogger is the default: it formats nothing, and a logger derived
// from it with With allocates no handler of its own (one per Socket).
var discardLogger = slog.New(slog.DiscardHandler)

// defaultCommon fills the shared settings from the environment and the
// package defaults.
func defaultCommon() (commonConfig, error) {
	c := commonConfig{
		token:     os.Getenv(EnvToken),
		apiKey:    os.Getenv(EnvAPIKey),
		logger:    discardLogger,
		userAgent: "messaging-go/" + Version,
	}
	c.httpClient, c.ownTransport = newHTTPClient()
	ep := os.Getenv(EnvEndpoint)
	if ep == "" {
		ep = DefaultEndpoint
	}
	u, err := parseEndpoint(ep)
	if err != nil {
		return c, err
	}
	c.endpoint = u
	return c, nil
}

// sharedOption applies to the settings both halves share.
type sharedOption func(*commonConfig) error

func (o sharedOption) applyClient(c *clientConfig) error { return o(&c.common) }
func (o sharedOption) applySocket(c *socketConfig) error { return o(&c.common) }

// WithEndpoint sets the service's base URL, e.g. "https://messaging.example".
// The default is MESSAGING_ENDPOINT, else http://localhost:5005. A path
// prefix is kept (requests go to <endpoint>/api/...).
func WithEndpoint(endpoint string) Option {
	return sharedOption(func(c *commonConfig) error {
		u, err := parseEndpoint(endpoint)
		if err != nil {
			return err
		}
		c.endpoint = u
		return nil
	})
}

// WithToken sets the bearer token (default MESSAGING_SERVICE_TOKEN). It is
// sent in the Authorization header, and in the socket's CONNECT auth object.
func WithToken(token string) Option {
	return sharedOption(func(c *commonConfig) error {
		c.token = token
		return nil
	})
}

// WithAPIKey sets the API key (default MESSAGING_API_KEY), sent as X-API-Key.
// The service tries the token first.
func WithAPIKey(key string) Option {
	return sharedOption(func(c *commonConfig) error {
		c.apiKey = key
		return nil
	})
}

// WithErrorHandler registers a function called once with the error of every
// failed call, like the JS client's onError. The call still returns its
// error. The handler must not block for long.
func WithErrorHandler(h func(error)) Option {
	return sharedOption(func(c *commonConfig) error {
		c.errorHandler = h
		return nil
	})
}

// WithLogger sets the structured logger. The default discards everything,
// except a Socket's errors that no OnError handler takes, which then go
// to slog.Default() (see Socket.OnError).
// Credentials are never logged.
func WithLogger(l *slog.Logger) Option {
	return sharedOption(func(c *commonConfig) error {
		if l == nil {
			return invalid("WithLogger", "logger is nil")
		}
		c.logger = l
		return nil
	})
}

// WithHTTPClient sets the HTTP client used for REST calls and, for the
// socket, for the WebSocket handshake (its Transport's TLS and dial settings
// apply). By default the SDK makes its own client, with a transport cloned
// from http.DefaultTransport, which Client.Close releases (sockets made by
// NewSocket share one, released by the last Socket.Close). A client given
// here stays the caller's: Close does not close its connections (call its
// CloseIdleConnections yourself). Its Timeout, if any, applies besides the
// SDK's request timeout (WithRequestTimeout).
func WithHTTPClient(hc *http.Client) Option {
	return sharedOption(func(c *commonConfig) error {
		if hc == nil {
			return invalid("WithHTTPClient", "client is nil")
		}
		c.httpClient = hc
		c.ownTransport = nil
		return nil
	})
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return sharedOption(func(c *commonConfig) error {
		c.userAgent = ua
		return nil
	})
}

// clientConfig is everything NewClient reads.
type clientConfig struct {
	common commonConfig
	retry  RetryPolicy
	// requestTimeout bounds each attempt: 0 means DefaultRequestTimeout
	// (so that a config built without options, as the socket builds its
	// own, gets the default), negative means no bound.
	requestTimeout time.Duration
}

// DefaultRequestTimeout bounds each attempt of a REST call unless
// WithRequestTimeout says otherwise.
const DefaultRequestTimeout = 30 * time.Second

// timeout is the bound of one attempt, 0 for none.
func (c *clientConfig) timeout() time.Duration {
	switch {
	case c.requestTimeout == 0:
		return DefaultRequestTimeout
	case c.requestTimeout < 0:
		return 0
	}
	return c.requestTimeout
}

// clientOption applies to the Client's own settings only.
type clientOption func(*clientConfig) error

func (o clientOption) applyClient(c *clientConfig) error { return o(c) }

// WithRetry sets how the client repeats failed calls that are safe to
// repeat (see [RetryPolicy]). The default is [DefaultRetryPolicy]; zero
// durations in p mean their defaults, and p.MaxRetries 0 disables retries.
// WithMaxRetries changes the number of retries of a single call.
func WithRetry(p RetryPolicy) ClientOption {
	return clientOption(func(c *clientConfig) error {
		n, err := p.normalize()
		if err != nil {
			return err
		}
		c.retry = n
		return nil
	})
}

// WithRequestTimeout bounds each attempt of a REST call — connecting,
// sending the request and reading the whole answer — whatever the call's
// context says (default [DefaultRequestTimeout], 30 s). It is what ends a
// request on a connection that stops answering without closing (a "black
// hole", as a NAT table or load balancer that dropped the connection
// leaves), even with a context that never ends. An attempt that runs out of
// time fails with an error matching context.DeadlineExceeded; a call that
// is safe to repeat is then retried by the RetryPolicy, so a whole call
// takes at most (MaxRetries+1) timeouts plus the delays between them, or
// less if its context ends first.
//
// d = 0 turns the bound off: attempts then end only with their context,
// the HTTP client's own Timeout or the connection. A negative d is refused.
// The socket's history backfill has its own bound (see the socket options).
func WithRequestTimeout(d time.Duration) ClientOption {
	return clientOption(func(c *clientConfig) error {
		switch {
		case d < 0:
			return invalid("WithRequestTimeout", "must not be negative, got %v (0 turns the bound off)", d)
		case d == 0:
			c.requestTimeout = -1
		default:
			c.requestTimeout = d
		}
		return nil
	})
}

// RequestOption changes one call: the headers it sends or how often it is
// retried. Every RequestOption is also a [MessagesOption], so the history
// iterator takes them too.
type RequestOption interface {
	MessagesOption
	applyRequest(*requestConfig) error
}

// requestConfig is what the RequestOptions of one call set.
type requestConfig struct {
	asUser     string
	orgID      string
	header     http.Header
	maxRetries int // -1: the client's RetryPolicy
}

func newRequestConfig(opts []RequestOption) (requestConfig, error) {
	rc := requestConfig{maxRetries: -1}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applyRequest(&rc); err != nil {
			return rc, err
		}
	}
	return rc, nil
}

type requestOption func(*requestConfig) error

func (o requestOption) applyRequest(c *requestConfig) error   { return o(c) }
func (o requestOption) applyMessages(c *messagesConfig) error { return o(&c.req) }

// AsUser makes the call on behalf of another principal (header
// X-As-User-Id), like the JS client's asUserId. The service honours it only
// for agents and super admins and silently ignores it for anyone else. Ids
// starting with "assistant:" or "agent:" act as agents.
//
// Only the identity changes: the call is checked and recorded as userID's
// (participant checks, a message's sender), while the capabilities
// (entitlements such as cap:messaging.interrupt), organisations and super
// admin status that count are still the caller's. Acting as a user grants
// none of that user's capabilities, and keeps all of the caller's.
func AsUser(userID string) RequestOption {
	return requestOption(func(c *requestConfig) error {
		if userID == "" {
			return invalid("AsUser", "user id is empty")
		}
		c.asUser = userID
		return nil
	})
}

// WithOrgID sets the organisation context of the call (header X-Org-Id),
// like the JS client's orgId. ListConversations then lists that
// organisation's conversations (and those without one); CreateConversation
// checks that the caller belongs to it.
func WithOrgID(orgID string) RequestOption {
	return requestOption(func(c *requestConfig) error {
		if orgID == "" {
			return invalid("WithOrgID", "organisation id is empty")
		}
		c.orgID = orgID
		return nil
	})
}

// managedHeaders are set by the client itself; WithHeader refuses them.
var managedHeaders = map[string]string{
	"Authorization":  "use WithToken or SetToken",
	"X-Api-Key":      "use WithAPIKey or SetAPIKey",
	"X-As-User-Id":   "use AsUser",
	"X-Org-Id":       "use WithOrgID",
	"Content-Type":   "the body is always JSON",
	"Content-Length": "it is computed",
	"Host":           "use WithEndpoint",
}

// WithHeader sets an extra header on the call, replacing any earlier value
// of the same name (User-Agent included). Headers the client manages itself
// (Authorization, X-API-Key, X-As-User-Id, X-Org-Id, Content-Type,
// Content-Length, Host) are refused with an error matching
// ErrInvalidArgument: use the dedicated options for them.
func WithHeader(name, value string) RequestOption {
	return requestOption(func(c *requestConfig) error {
		key := http.CanonicalHeaderKey(strings.TrimSpace(name))
		if key == "" || strings.ContainsAny(key, " \t\r\n:") {
			return invalid("WithHeader", "bad header name %q", name)
		}
		if hint, ok := managedHeaders[key]; ok {
			return invalid("WithHeader", "%s is set by the client: %s", key, hint)
		}
		if strings.ContainsAny(value, "\r\n") {
			return invalid("WithHeader", "value of %s contains a line break", key)
		}
		if c.header == nil {
			c.header = make(http.Header)
		}
		c.header.Set(key, value)
		return nil
	})
}

// WithMaxRetries sets how many times this call is repeated after its first
// attempt, overriding the client's RetryPolicy (0 disables retries for the
// call). It has no effect on CreateConversation and SendControl, which are
// never retried.
func WithMaxRetries(n int) RequestOption {
	return requestOption(func(c *requestConfig) error {
		if n < 0 {
			return invalid("WithMaxRetries", "must not be negative, got %d", n)
		}
		c.maxRetries = n
		return nil
	})
}

// socketConfig is everything NewSocket reads.
type socketConfig struct {
	common commonConfig

	reconnection   bool
	attempts       int // 0: no limit
	delay          time.Duration
	delayMax       time.Duration
	ackTimeout     time.Duration
	connectTimeout time.Duration
	tokenSource    func(context.Context) (string, error)
	header         http.Header
	queueSize      int
	backfill       bool
	delivery       deliveryOptions // delivery_options.go
}

// Defaults of the socket-only options. Reconnection, its attempts and its
// first delay are the JS client's.
const (
	DefaultReconnectionAttempts = 5
	DefaultReconnectionDelay    = time.Second
	DefaultReconnectionDelayMax = 5 * time.Second
	DefaultAckTimeout           = 20 * time.Second
	DefaultConnectTimeout       = 20 * time.Second
	DefaultHandlerQueueSize     = 10_000
)

func defaultSocketConfig(common commonConfig) socketConfig {
	return socketConfig{
		common:         common,
		reconnection:   true,
		attempts:       DefaultReconnectionAttempts,
		delay:          DefaultReconnectionDelay,
		delayMax:       DefaultReconnectionDelayMax,
		ackTimeout:     DefaultAckTimeout,
		connectTimeout: DefaultConnectTimeout,
		queueSize:      DefaultHandlerQueueSize,
		backfill:       true,
	}
}

// check validates what single options cannot: how they combine.
func (c *socketConfig) check() error {
	if c.delayMax < c.delay {
		return invalid("WithReconnectionDelayMax", "%v is below the reconnection delay %v", c.delayMax, c.delay)
	}
	return nil
}

// socketOption applies to the Socket's own settings only.
type socketOption func(*socketConfig) error

func (o socketOption) applySocket(c *socketConfig) error { return o(c) }

// WithReconnection turns automatic reconnection after a lost connection on
// or off (default on). With it off, a lost connection leaves the socket
// disconnected until Connect is called again.
func WithReconnection(on bool) SocketOption {
	return socketOption(func(c *socketConfig) error {
		c.reconnection = on
		return nil
	})
}

// WithReconnectionAttempts sets how many reconnection attempts in a row may
// fail before the socket gives up and reports it (default 5, as the JS
// client). 0 means no limit: the socket keeps trying until Close, which is
// what a long-running service usually wants. Refused credentials stop the
// attempts at once whatever the limit.
func WithReconnectionAttempts(n int) SocketOption {
	return socketOption(func(c *socketConfig) error {
		if n < 0 {
			return invalid("WithReconnectionAttempts", "must not be negative, got %d (0 means no limit)", n)
		}
		c.attempts = n
		return nil
	})
}

// WithReconnectionDelay sets the delay before the first reconnection
// attempt (default 1 s). Later delays double up to the maximum of
// WithReconnectionDelayMax, with ±50 % jitter.
func WithReconnectionDelay(d time.Duration) SocketOption {
	return socketOption(func(c *socketConfig) error {
		if d <= 0 {
			return invalid("WithReconnectionDelay", "must be positive, got %v", d)
		}
		c.delay = d
		return nil
	})
}

// WithReconnectionDelayMax caps the delay between reconnection attempts
// (default 5 s). It must not be below the reconnection delay.
func WithReconnectionDelayMax(d time.Duration) SocketOption {
	return socketOption(func(c *socketConfig) error {
		if d <= 0 {
			return invalid("WithReconnectionDelayMax", "must be positive, got %v", d)
		}
		c.delayMax = d
		return nil
	})
}

// WithAckTimeout bounds how long one attempt of a call waits for the
// server's acknowledgement (default 20 s), so that no call waits forever
// even with a context that never ends. What happens when it passes depends
// on the call: sends and edits are repeated with the same message id;
// SendControl, which the service would store twice, is repeated only if
// its packet was never written, else it reports ErrDeliveryUnknown (see
// the methods).
func WithAckTimeout(d time.Duration) SocketOption {
	return socketOption(func(c *socketConfig) error {
		if d <= 0 {
			return invalid("WithAckTimeout", "must be positive, got %v", d)
		}
		c.ackTimeout = d
		return nil
	})
}

// WithConnectTimeout bounds each connection attempt: the WebSocket
// handshake plus the server's answer to the namespace CONNECT (default
// 20 s).
func WithConnectTimeout(d time.Duration) SocketOption {
	return socketOption(func(c *socketConfig) error {
		if d <= 0 {
			return invalid("WithConnectTimeout", "must be positive, got %v", d)
		}
		c.connectTimeout = d
		return nil
	})
}

// WithTokenSource sets a function called for the bearer token before every
// connection attempt (the first and each reconnection), so that an
// expiring token can be refreshed. It runs with a context bounded by the
// connect timeout; an error fails that attempt, which is retried like any
// other. The token it returns also replaces the one used to fetch history
// (see WithBackfill). It takes precedence over WithToken and SetToken.
func WithTokenSource(src func(ctx context.Context) (string, error)) SocketOption {
	return socketOption(func(c *socketConfig) error {
		if src == nil {
			return invalid("WithTokenSource", "function is nil")
		}
		c.tokenSource = src
		return nil
	})
}

// handshakeManaged are the headers WithHandshakeHeader refuses.
var handshakeManaged = map[string]string{
	"Authorization":            "use WithToken, SetToken or WithTokenSource",
	"X-Api-Key":                "use WithAPIKey",
	"Cookie":                   "credentials travel in the CONNECT auth object: use WithToken",
	"Host":                     "use WithEndpoint",
	"Connection":               "it is part of the WebSocket handshake",
	"Upgrade":                  "it is part of the WebSocket handshake",
	"Sec-Websocket-Key":        "it is part of the WebSocket handshake",
	"Sec-Websocket-Version":    "it is part of the WebSocket handshake",
	"Sec-Websocket-Extensions": "it is part of the WebSocket handshake",
	"Sec-Websocket-Protocol":   "it is part of the WebSocket handshake",
}

// WithHandshakeHeader adds headers to the socket's WebSocket handshake
// request, e.g. for a proxy or for tracing. It is the socket's counterpart
// of the per-request WithHeader, and may be given more than once (later
// values of a name replace earlier ones). Credentials and the headers of
// the WebSocket handshake itself are refused with an error matching
// ErrInvalidArgument: the socket sends its credentials in the CONNECT auth
// object only.
func WithHandshakeHeader(h http.Header) SocketOption {
	return socketOption(func(c *socketConfig) error {
		for name, vs := range h {
			key := http.CanonicalHeaderKey(strings.TrimSpace(name))
			if key == "" || strings.ContainsAny(key, " \t\r\n:") {
				return invalid("WithHandshakeHeader", "bad header name %q", name)
			}
			if hint, ok := handshakeManaged[key]; ok {
				return invalid("WithHandshakeHeader", "%s is set by the socket: %s", key, hint)
			}
			for _, v := range vs {
				if strings.ContainsAny(v, "\r\n") {
					return invalid("WithHandshakeHeader", "value of %s contains a line break", key)
				}
			}
			if c.header == nil {
				c.header = make(http.Header)
			}
			c.header[key] = append([]string(nil), vs...)
		}
		return nil
	})
}

// WithHandlerQueueSize sets how many server events may wait for the
// handlers (default 10,000). When handlers fall that far behind, the socket
// reports ErrSlowConsumer once per episode through OnError and drops new
// events until there is room again; dropped messages are fetched again from
// the history (unless WithBackfill(false)), other dropped events are lost.
func WithHandlerQueueSize(n int) SocketOption {
	return socketOption(func(c *socketConfig) error {
		if n < 1 {
			return invalid("WithHandlerQueueSize", "must be at least 1, got %d", n)
		}
		c.queueSize = n
		return nil
	})
}

// WithBackfill turns history backfill on or off (default on). With it on,
// the socket fetches over REST the messages it missed — while it was
// reconnecting, when a message's sequence number skips ahead, or when its
// handler queue overflowed — and delivers them to OnMessage before newer
// live messages, each once. See the package documentation, "Delivery".
func WithBackfill(on bool) SocketOption {
	return socketOption(func(c *socketConfig) error {
		c.backfill = on
		return nil
	})
}
