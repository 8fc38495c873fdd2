// Command peer runs one benchmark workload with the Go Socket.IO client that
// the project's original design named, github.com/zishang520/socket.io's
// clients/socket/v3, used as its README shows (websocket transport only,
// auth {token}, one Emit with an ack callback per message). It prints the
// result as one JSON line. Run by bench/cmd/runbench.
//
// It is a module of its own so that the SDK's go.mod never requires the
// peer or the modules it links.
package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/zishang520/socket.io/clients/engine/v3/transports"
	sio "github.com/zishang520/socket.io/clients/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"

	"github.com/symbia-labs/messaging-go/bench/internal/load"
)

func main() { load.Main("peer", driver{}) }

type driver struct{}

type conn struct {
	s    *sio.Socket
	m    *sio.Manager
	conv string
}

// Dial connects one socket with the peer's defaults but for the transport
// (websocket only, as the SDK) and reconnection (off: the workloads do not
// drop connections).
func (driver) Dial(ctx context.Context, url, conversation string, onMessage func()) (load.Conn, error) {
	opts := sio.DefaultOptions()
	opts.SetTransports(types.NewSet(transports.WebSocket))
	opts.SetReconnection(false)
	opts.SetForceNew(true)
	opts.SetMultiplex(false)
	opts.SetAuth(map[string]any{"token": load.Token})
	m := sio.NewManager(strings.TrimSuffix(url, "/"), opts)
	s := m.Socket("/", opts)
	connected := make(chan error, 1)
	var once sync.Once
	s.Once("connect", func(...any) { once.Do(func() { connected <- nil }) })
	s.Once("connect_error", func(a ...any) {
		once.Do(func() { connected <- fmt.Errorf("connect_error: %v", a) })
	})
	if onMessage != nil {
		s.On("message:new", func(...any) { onMessage() })
	}
	s.Connect()
	select {
	case err := <-connected:
		if err != nil {
			s.Disconnect()
			return nil, err
		}
	case <-ctx.Done():
		s.Disconnect()
		return nil, ctx.Err()
	}
	return &conn{s: s, m: m, conv: conversation}, nil
}

var errRefused = errors.New("peer: ack without success:true")

// emit sends an event with an ack and waits for the ack.
func (c *conn) emit(ctx context.Context, event string, arg any) error {
	done := make(chan error, 1)
	err := c.s.Emit(event, arg, func(args []any, err error) {
		if err != nil {
			done <- err
			return
		}
		if len(args) > 0 {
			if m, ok := args[0].(map[string]any); ok && m["success"] == true {
				done <- nil
				return
			}
		}
		done <- errRefused
	})
	if err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Send emits message:send with a fresh message id, as the other clients.
func (c *conn) Send(ctx context.Context) error {
	return c.emit(ctx, "message:send", map[string]any{
		"conversationId": c.conv,
		"id":             uuid.NewString(),
		"content":        load.Content,
	})
}

// Join emits join:conversation and waits for its ack.
func (c *conn) Join(ctx context.Context, conversation string) error {
	return c.emit(ctx, "join:conversation", conversation)
}

// Close disconnects.
func (c *conn) Close() error {
	c.s.Disconnect()
	return nil
}
