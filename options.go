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

// clientConfig is everything NewClient reads. client.go fills the rest.
type clientConfig struct {
	common commonConfig
}

// socketConfig is everything NewSocket reads. socket.go fills the rest.
type socketConfig struct {
	common commonConfig
}
