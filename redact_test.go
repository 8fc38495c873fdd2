package messaging

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	redactToken  = "tok-REDACT-5e1d9c"
	redactAPIKey = "key-REDACT-a07c3b"
)

// formatAll formats v with every verb fmt has and with slog's text and
// JSON handlers, and returns everything it wrote.
func formatAll(t *testing.T, v any) string {
	t.Helper()
	var b strings.Builder
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%10v", "%-8s"}
	if reflect.ValueOf(v).Kind() == reflect.Pointer {
		// fmt answers %p before asking the value's methods, and for a
		// non-pointer it prints the fields: only the package's own code
		// holds the (unexported) configuration values, and never does that.
		verbs = append(verbs, "%p")
	}
	for _, verb := range verbs {
		b.WriteString(fmt.Sprintf(verb, v))
		b.WriteByte('\n')
	}
	b.WriteString(fmt.Sprint(v))
	b.WriteString(fmt.Sprintln(v, []any{v}, map[string]any{"v": v}, struct{ V any }{v}))
	b.WriteString(fmt.Sprintf("%+v %#v", []any{v}, struct{ V any }{v}))
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(w *bytes.Buffer) slog.Handler { return slog.NewTextHandler(w, nil) },
		func(w *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(w, nil) },
	} {
		var w bytes.Buffer
		l := slog.New(h(&w))
		l.Info("value", slog.Any("v", v), "raw", v)
		l.Info(fmt.Sprint(v), slog.Group("g", slog.Any("v", v)))
		l.With("v", v).Info("with")
		b.Write(w.Bytes())
	}
	return b.String()
}

func assertNoSecret(t *testing.T, what, out string) {
	t.Helper()
	for _, secret := range []string{redactToken, redactAPIKey, "5e1d9c", "a07c3b"} {
		assert.NotContains(t, out, secret, "%s printed a credential:\n%s", what, out)
	}
}

// TestFormattingHidesCredentials: every value holding a credential, with
// every fmt verb and with slog's handlers, shows none.
func TestFormattingHidesCredentials(t *testing.T) {
	t.Parallel()
	c, err := NewClient(WithEndpoint("http://messaging.test"), WithToken(redactToken), WithAPIKey(redactAPIKey))
	require.NoError(t, err)
	defer c.Close()
	s, err := NewSocket(WithEndpoint("http://messaging.test"), WithToken(redactToken), WithAPIKey(redactAPIKey))
	require.NoError(t, err)
	defer s.Close()
	s2, err := c.NewSocket()
	require.NoError(t, err)
	defer s2.Close()
	s3, err := NewSocket(WithEndpoint("http://messaging.test"), WithTokenSource(func(context.Context) (string, error) { return redactToken, nil }))
	require.NoError(t, err)
	defer s3.Close()
	c2, err := NewClient(WithEndpoint("http://messaging.test"))
	require.NoError(t, err)
	c2.SetToken(redactToken)
	c2.SetAPIKey(redactAPIKey)

	values := map[string]any{
		"*Client":              c,
		"*Client after Set...": c2,
		"*Socket":              s,
		"*Socket of a Client":  s2,
		"*Socket token source": s3,
		"the socket's Client":  s.rest,
		"commonConfig":         c.cfg.common,
		"*commonConfig":        &c.cfg.common,
		"clientConfig":         c.cfg,
		"*clientConfig":        &c.cfg,
		"socketConfig":         s.cfg,
		"*socketConfig":        &s.cfg,
		"WithToken":            WithToken(redactToken),
		"WithAPIKey":           WithAPIKey(redactAPIKey),
	}
	for name, v := range values {
		out := formatAll(t, v)
		assertNoSecret(t, name, out)
	}
	// What they do show.
	assert.Equal(t, "messaging.Client(http://messaging.test)", fmt.Sprint(c))
	assert.Equal(t, `&messaging.Client{endpoint: "http://messaging.test", token: [REDACTED], apiKey: [REDACTED]}`, fmt.Sprintf("%#v", c))
	assert.Contains(t, fmt.Sprintf("%#v", s), `token: [REDACTED]`)
	var w bytes.Buffer
	slog.New(slog.NewJSONHandler(&w, nil)).Info("x", "client", c)
	assert.Contains(t, w.String(), `"client":{"endpoint":"http://messaging.test","token_set":true,"api_key_set":true}`)
	var nilClient *Client
	var nilSocket *Socket
	assert.Equal(t, "messaging.Client(nil)", fmt.Sprint(nilClient))
	assert.Equal(t, "(*messaging.Socket)(nil)", fmt.Sprintf("%#v", nilSocket))
}
