package messaging

import (
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
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
}

// defaultCommon fills the shared settings from the environment and the
// package defaults.
func defaultCommon() (commonConfig, error) {
	c := commonConfig{
		token:      os.Getenv(EnvToken),
		apiKey:     os.Getenv(EnvAPIKey),
		logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		httpClient: http.DefaultClient,
		userAgent:  "messaging-go/" + Version,
	}
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

func parseEndpoint(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, invalid("endpoint", "%v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, invalid("endpoint", "scheme must be http or https, got %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, invalid("endpoint", "has no host")
	}
	if u.User != nil {
		return nil, invalid("endpoint", "must not carry credentials: use WithToken or WithAPIKey")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, invalid("endpoint", "must not have a query or fragment")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
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

// WithLogger sets the structured logger. The default discards everything.
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
// apply). The default is http.DefaultClient.
func WithHTTPClient(hc *http.Client) Option {
	return sharedOption(func(c *commonConfig) error {
		if hc == nil {
			return invalid("WithHTTPClient", "client is nil")
		}
		c.httpClient = hc
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

// socketConfig is everything NewSocket reads. socket.go fills the rest.
type socketConfig struct {
	common commonConfig
}
