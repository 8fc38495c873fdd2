package messaging_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
)

// Connect keeps the cause of its last attempt and says how many were made.

// connectThatGivesUp connects a socket that gives up after 2 reconnection
// attempts (3 attempts in all) and returns Connect's error.
func connectThatGivesUp(t *testing.T, opts ...messaging.SocketOption) error {
	t.Helper()
	all := append([]messaging.SocketOption{
		messaging.WithToken(aliceTok),
		messaging.WithReconnectionDelay(time.Millisecond),
		messaging.WithReconnectionDelayMax(2 * time.Millisecond),
		messaging.WithReconnectionAttempts(2),
	}, opts...)
	s, err := messaging.NewSocket(all...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	err = s.Connect(testCtx(t))
	require.Error(t, err)
	assert.ErrorIs(t, err, messaging.ErrReconnectFailed)
	assert.Contains(t, err.Error(), "after 3 attempts")
	assert.Equal(t, 1, strings.Count(err.Error(), "messaging: reconnection"), err.Error())
	assert.NotContains(t, err.Error(), "<nil>")
	return err
}

func TestSocketConnectKeepsTheCauseOfAClosedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	err = connectThatGivesUp(t, messaging.WithEndpoint("http://"+addr))
	var op *net.OpError
	assert.ErrorAs(t, err, &op, err.Error())
}

func TestSocketConnectKeepsTheTokenSourcesError(t *testing.T) {
	e := newEnv(t)
	errSource := errors.New("token vault unreachable")
	err := connectThatGivesUp(t, messaging.WithEndpoint(e.srv.URL()), messaging.WithHTTPClient(e.srv.Client()),
		messaging.WithTokenSource(func(context.Context) (string, error) { return "", errSource }))
	assert.ErrorIs(t, err, errSource, err.Error())
}

func TestSocketConnectKeepsTheCauseOfAMalformedOpenPacket(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		_ = ws.Write(r.Context(), websocket.MessageText, []byte(`0{"sid":`))
		_, _, _ = ws.Read(r.Context()) // until the client goes
	}))
	t.Cleanup(srv.Close)

	err := connectThatGivesUp(t, messaging.WithEndpoint(srv.URL))
	assert.Contains(t, err.Error(), "bad open packet")
	var se *json.SyntaxError
	assert.ErrorAs(t, err, &se, err.Error())
}
