package messaging_test

// Security basics: credentials never leave the CONNECT packet and the
// headers, never reach logs, errors or String; TLS is verified.

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/internal/socketio"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

func TestSocketSecretsStayOutOfLogsErrorsAndString(t *testing.T) {
	const secret = "S3CR3T"
	e := newEnv(t)
	good, bad, key := "tok-"+secret+"-1", "tok-"+secret+"-2", "key-"+secret+"-3"
	e.srv.AddUser(good, messagingtest.Principal{ID: bobID})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var mu sync.Mutex
	var texts []string
	keep := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		texts = append(texts, err.Error())
	}
	s := e.socket(good, messaging.WithAPIKey(key), messaging.WithLogger(logger), messaging.WithErrorHandler(keep))
	s.OnError(keep)
	s.OnStateChange(func(c messaging.StateChange) {
		if c.Err != nil {
			keep(c.Err)
		}
	})
	disconnects, _ := collect(s.OnDisconnect)
	ctx := testCtx(t)
	require.NoError(t, s.Connect(ctx))
	require.NoError(t, s.JoinConversation(ctx, e.conv))
	send(t, s, e.conv, "hello")
	keep(errorString(s.String()))

	// A reconnection with credentials the server refuses.
	s.SetToken(bad)
	s.SetAPIKey("")
	e.srv.DropConnections()
	recv(t, disconnects)
	assert.Equal(t, messaging.ReasonConnectRefused, recv(t, disconnects))
	_, err := s.SendMessage(ctx, messaging.SendMessageParams{ConversationID: e.conv, Content: "x"})
	require.Error(t, err)
	require.Error(t, s.Connect(ctx))
	keep(errorString(s.String()))
	require.NoError(t, s.Close())

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, logs.String())
	assert.NotContains(t, logs.String(), secret)
	for _, text := range texts {
		assert.NotContains(t, text, secret)
	}
}

func TestSocketVerifiesTLS(t *testing.T) {
	sio := socketio.NewServer(socketio.ServerOptions{})
	srv := httptest.NewTLSServer(sio)
	defer func() {
		sio.Close()
		srv.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	// The default HTTP client does not trust the test certificate.
	s, err := messaging.NewSocket(messaging.WithEndpoint(srv.URL), messaging.WithToken("t"), messaging.WithReconnection(false))
	require.NoError(t, err)
	defer s.Close()
	err = s.Connect(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate")

	// The caller's own TLS configuration is used as given.
	s2, err := messaging.NewSocket(messaging.WithEndpoint(srv.URL), messaging.WithToken("t"), messaging.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	defer s2.Close()
	require.NoError(t, s2.Connect(ctx))
	assert.True(t, s2.Connected())
	require.NoError(t, s2.Close())

	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer insecure.CloseIdleConnections()
	s3, err := messaging.NewSocket(messaging.WithEndpoint(srv.URL), messaging.WithToken("t"), messaging.WithHTTPClient(insecure),
		messaging.WithConnectTimeout(5*time.Second))
	require.NoError(t, err)
	defer s3.Close()
	require.NoError(t, s3.Connect(ctx), "a caller may opt out, explicitly")
}

type errorString string

func (e errorString) Error() string { return string(e) }
