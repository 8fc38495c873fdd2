package messaging_test

// A call whose packet provably never left is not reported as possibly
// delivered, and a control event is sent again after reconnecting only
// then. netfault breaks writes on demand, as a connection does whose server
// vanished before the client's reader noticed.

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/internal/netfault"
	"github.com/symbia-labs/messaging-go/internal/socketio"
)

// stalled connects a socket to sc through a netfault dialer and holds the
// next write of its connection.
func stalled(t *testing.T, sc *script, opts ...messaging.SocketOption) (*messaging.Socket, *netfault.Conn) {
	t.Helper()
	d := &netfault.Dialer{}
	t.Cleanup(d.Close)
	s := sc.socket(t, append([]messaging.SocketOption{messaging.WithHTTPClient(d.Client())}, opts...)...)
	conn := d.Last()
	conn.Hold()
	return s, conn
}

func controlScript(t *testing.T) *script {
	return newScript(t, nil, func(sc *script, so *socketio.ServerSocket, event, id string, n int, ack func(...any)) {
		if event == messaging.EventControlSend {
			ack(ackJSON(`{"success":true,"control":` + string(row("0e6a9c43-6f0b-4c53-9a59-1b7dfd0d0c6e", "stream.pause")) + `}`))
		}
	})
}

func TestSocketControlNotWrittenIsSentAfterReconnecting(t *testing.T) {
	sc := controlScript(t)
	const ackTimeout = 50 * time.Millisecond
	s, conn := stalled(t, sc, messaging.WithAckTimeout(ackTimeout))
	reconnected, _ := signals(s.OnReconnect)
	done := make(chan error, 1)
	go func() {
		_, err := s.SendControl(testCtx(t), wireConv, messaging.ControlParams{Event: "pause"})
		done <- err
	}()
	// The attempt's ack timeout passes while its write hangs; then the
	// write fails before any byte left.
	recv(t, conn.Held())
	time.Sleep(3 * ackTimeout)
	conn.Release(netfault.Refuse)
	require.NoError(t, recv(t, done), "sent again on the next connection")
	recv(t, reconnected)
	assert.Equal(t, 1, sc.count(messaging.EventControlSend+" "+wireConv), "the server saw it once")
	assert.Equal(t, 2, sc.conns)
}

func TestSocketSendNotWrittenIsNotDeliveryUnknown(t *testing.T) {
	sc := controlScript(t)
	s, conn := stalled(t, sc)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.SendControl(ctx, wireConv, messaging.ControlParams{Event: "pause"})
		done <- err
	}()
	recv(t, conn.Held())
	cancel() // the caller gives up while the write hangs; it then fails unwritten
	conn.Release(netfault.Refuse)
	err := recv(t, done)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, messaging.ErrDeliveryUnknown, "nothing left")
	assert.Equal(t, 0, sc.count(messaging.EventControlSend+" "+wireConv))
}

func TestSocketControlPartlyWrittenIsDeliveryUnknown(t *testing.T) {
	sc := controlScript(t)
	s, conn := stalled(t, sc)
	done := make(chan error, 1)
	go func() {
		_, err := s.SendControl(testCtx(t), wireConv, messaging.ControlParams{Event: "pause"})
		done <- err
	}()
	recv(t, conn.Held())
	conn.Release(netfault.Half)
	err := recv(t, done)
	assert.ErrorIs(t, err, messaging.ErrDeliveryUnknown, "part of it left")
	// Nothing was sent again: the next control goes out on its own.
	_, err = s.SendControl(testCtx(t), wireConv, messaging.ControlParams{Event: "pause"})
	require.NoError(t, err)
	assert.Equal(t, 1, sc.count(messaging.EventControlSend+" "+wireConv))
}
