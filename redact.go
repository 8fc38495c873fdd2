package messaging

import (
	"fmt"
	"io"
	"log/slog"
)

// Formatting and logging of the values that hold credentials (Client,
// Socket and their configurations): they show the endpoint and whether a
// token or API key is set, never the credential itself, whatever the fmt
// verb or slog handler. A Formatter covers every verb (%v, %+v, %#v, %s,
// %q, %d, ...), so fmt never walks their fields.

// redactedMark stands in for a credential that is set.
const redactedMark = "[REDACTED]"

// redacted says whether a credential is set without showing it.
func redacted(secret string) string {
	if secret == "" {
		return `""`
	}
	return redactedMark
}

// formatRedacted writes s for %v, %+v and %s, gs for %#v, s quoted for %q,
// and s marked as a bad verb otherwise (as fmt does), so that no verb
// reaches the fields.
func formatRedacted(f fmt.State, verb rune, s, gs string) {
	switch verb {
	case 'v':
		if f.Flag('#') {
			_, _ = io.WriteString(f, gs)
			return
		}
		_, _ = io.WriteString(f, s)
	case 's':
		_, _ = io.WriteString(f, s)
	case 'q':
		_, _ = fmt.Fprintf(f, "%q", s)
	default:
		_, _ = fmt.Fprintf(f, "%%!%c(%s)", verb, s)
	}
}

// credentialAttrs describe the credentials for a log record.
func credentialAttrs(endpoint, token, apiKey string) []slog.Attr {
	return []slog.Attr{
		slog.String("endpoint", endpoint),
		slog.Bool("token_set", token != ""),
		slog.Bool("api_key_set", apiKey != ""),
	}
}

// ---- Client ----

// String describes the client for logs: its endpoint, never its
// credentials.
func (c *Client) String() string {
	if c == nil {
		return "messaging.Client(nil)"
	}
	return fmt.Sprintf("messaging.Client(%s)", c.base)
}

// GoString is the %#v form: the endpoint, and whether a token and an API
// key are set.
func (c *Client) GoString() string {
	if c == nil {
		return "(*messaging.Client)(nil)"
	}
	token, apiKey := c.credentials()
	return fmt.Sprintf("&messaging.Client{endpoint: %q, token: %s, apiKey: %s}", c.base, redacted(token), redacted(apiKey))
}

// Format implements fmt.Formatter so that no verb prints the credentials.
func (c *Client) Format(f fmt.State, verb rune) { formatRedacted(f, verb, c.String(), c.GoString()) }

// LogValue implements slog.LogValuer: the endpoint, and whether a token and
// an API key are set.
func (c *Client) LogValue() slog.Value {
	if c == nil {
		return slog.StringValue("messaging.Client(nil)")
	}
	token, apiKey := c.credentials()
	return slog.GroupValue(credentialAttrs(c.base, token, apiKey)...)
}

// ---- Socket (its String is in socket.go) ----

// GoString is the %#v form: the endpoint, the state, and whether a token
// and an API key are set.
func (s *Socket) GoString() string {
	if s == nil {
		return "(*messaging.Socket)(nil)"
	}
	token, apiKey := s.socketCredentials()
	return fmt.Sprintf("&messaging.Socket{endpoint: %q, state: %q, token: %s, apiKey: %s}", s.endpoint, s.State(), redacted(token), redacted(apiKey))
}

// Format implements fmt.Formatter so that no verb prints the credentials.
func (s *Socket) Format(f fmt.State, verb rune) {
	if s == nil {
		formatRedacted(f, verb, "messaging.Socket(nil)", s.GoString())
		return
	}
	formatRedacted(f, verb, s.String(), s.GoString())
}

// LogValue implements slog.LogValuer: the endpoint, the state, and whether
// a token and an API key are set.
func (s *Socket) LogValue() slog.Value {
	if s == nil {
		return slog.StringValue("messaging.Socket(nil)")
	}
	token, apiKey := s.socketCredentials()
	return slog.GroupValue(append(credentialAttrs(s.endpoint, token, apiKey), slog.String("state", s.State().String()))...)
}

func (s *Socket) socketCredentials() (token, apiKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token, s.apiKey
}

// ---- configurations ----

func (c commonConfig) endpointString() string {
	if c.endpoint == nil {
		return ""
	}
	return c.endpoint.String()
}

// String describes the settings without their credentials.
func (c commonConfig) String() string {
	return fmt.Sprintf("messaging.commonConfig(%s)", c.endpointString())
}

// GoString is the %#v form, credentials redacted.
func (c commonConfig) GoString() string {
	return fmt.Sprintf("messaging.commonConfig{endpoint: %q, token: %s, apiKey: %s}", c.endpointString(), redacted(c.token), redacted(c.apiKey))
}

// Format implements fmt.Formatter so that no verb prints the credentials.
func (c commonConfig) Format(f fmt.State, verb rune) {
	formatRedacted(f, verb, c.String(), c.GoString())
}

// LogValue implements slog.LogValuer without the credentials.
func (c commonConfig) LogValue() slog.Value {
	return slog.GroupValue(credentialAttrs(c.endpointString(), c.token, c.apiKey)...)
}

// String describes the settings without their credentials.
func (c clientConfig) String() string {
	return fmt.Sprintf("messaging.clientConfig(%s)", c.common.endpointString())
}

// GoString is the %#v form, credentials redacted.
func (c clientConfig) GoString() string {
	return fmt.Sprintf("messaging.clientConfig{common: %#v, retry: %#v, requestTimeout: %v}", c.common, c.retry, c.requestTimeout)
}

// Format implements fmt.Formatter so that no verb prints the credentials.
func (c clientConfig) Format(f fmt.State, verb rune) {
	formatRedacted(f, verb, c.String(), c.GoString())
}

// LogValue implements slog.LogValuer without the credentials.
func (c clientConfig) LogValue() slog.Value { return c.common.LogValue() }

// String describes the settings without their credentials.
func (c socketConfig) String() string {
	return fmt.Sprintf("messaging.socketConfig(%s)", c.common.endpointString())
}

// GoString is the %#v form, credentials redacted.
func (c socketConfig) GoString() string {
	return fmt.Sprintf("messaging.socketConfig{common: %#v, reconnection: %v, attempts: %d, tokenSource: %v}",
		c.common, c.reconnection, c.attempts, c.tokenSource != nil)
}

// Format implements fmt.Formatter so that no verb prints the credentials.
func (c socketConfig) Format(f fmt.State, verb rune) {
	formatRedacted(f, verb, c.String(), c.GoString())
}

// LogValue implements slog.LogValuer without the credentials.
func (c socketConfig) LogValue() slog.Value { return c.common.LogValue() }
