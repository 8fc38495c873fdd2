package socketio

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestConnectErrorIsCapped(t *testing.T) {
	// A server refusing with a message of megabytes (and extra data as
	// large) does not make an error of megabytes.
	huge := strings.Repeat("é", 1<<18) // 512 KiB, 2-byte characters
	gs := startGoServer(t, ServerOptions{Authenticate: func(*http.Request, json.RawMessage) (any, error) {
		return nil, &AuthError{Message: huge, Data: map[string]string{"blob": huge}}
	}})
	c := newTestClient(t, gs.URL, ClientOptions{})
	err := c.Connect(ctxT(t, 10*time.Second))
	var ce *ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("Connect: %.200v", err)
	}
	if len(ce.Message) > MaxConnectErrorText+len("…") || !strings.HasSuffix(ce.Message, "…") || !utf8.ValidString(ce.Message) {
		t.Fatalf("message of %d bytes, want at most %d, cut at a character", len(ce.Message), MaxConnectErrorText)
	}
	if ce.Data != nil {
		t.Fatalf("extra data of %d bytes kept", len(ce.Data))
	}
	if n := len(err.Error()); n > 2*MaxConnectErrorText {
		t.Fatalf("error of %d bytes", n)
	}
}

func TestConnectErrorShortTextIsKept(t *testing.T) {
	ce := parseConnectError(json.RawMessage(`{"message":"Invalid token","data":{"code":401}}`))
	if ce.Message != "Invalid token" || string(ce.Data) != `{"code":401}` {
		t.Fatalf("%+v", ce)
	}
}
