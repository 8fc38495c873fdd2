package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/symbia-labs/messaging-go/internal/engineio"
	"github.com/symbia-labs/messaging-go/internal/netfault"
)

// Errors of Emit and EmitWithAck tell a packet that never left from one the
// server may have seen.

func TestNotSentWhenNothingWasWritten(t *testing.T) {
	gs := startGoServer(t, ServerOptions{})
	type call struct {
		name string
		fn   func(c *Client, ctx context.Context) error
	}
	calls := []call{
		{"Emit", func(c *Client, ctx context.Context) error { return c.Emit(ctx, "echo") }},
		{"EmitWithAck", func(c *Client, ctx context.Context) error { _, err := c.EmitWithAck(ctx, "echo"); return err }},
	}
	for _, cl := range calls {
		t.Run(cl.name+"/ctx ends before connecting", func(t *testing.T) {
			c := newTestClient(t, gs.URL, ClientOptions{}) // never connected
			err := cl.fn(c, ctxT(t, 20*time.Millisecond))
			if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrNotSent) {
				t.Fatalf("got %v", err)
			}
		})
		t.Run(cl.name+"/closed", func(t *testing.T) {
			c := newTestClient(t, gs.URL, ClientOptions{})
			_ = c.Close()
			err := cl.fn(c, ctxT(t, time.Second))
			if !errors.Is(err, ErrClosed) || !errors.Is(err, ErrNotSent) {
				t.Fatalf("got %v", err)
			}
		})
		t.Run(cl.name+"/stopped", func(t *testing.T) {
			c := newTestClient(t, gs.URL, ClientOptions{Auth: tokenAuth("bad")})
			var ce *ConnectError
			if err := c.Connect(ctxT(t, 5*time.Second)); !errors.As(err, &ce) {
				t.Fatalf("Connect: %v", err)
			}
			err := cl.fn(c, ctxT(t, time.Second))
			if !errors.Is(err, ErrStopped) || !errors.Is(err, ErrNotSent) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// neverAckServer is the test server, where the event "never-ack" is
// received (and reported on the channel) but never answered.
func neverAckServer(t *testing.T) (*goServer, chan struct{}) {
	t.Helper()
	got := make(chan struct{}, 16)
	gs := startGoServer(t, ServerOptions{
		OnConnection: func(so *ServerSocket) {
			prev := so.onEvent
			so.OnEvent(func(ev string, args []json.RawMessage, ack func(...any)) {
				if ev == "never-ack" {
					got <- struct{}{}
					return
				}
				prev(ev, args, ack)
			})
		},
	})
	return gs, got
}

func TestSentPacketsDoNotMatchNotSent(t *testing.T) {
	gs, got := neverAckServer(t)
	c := newTestClient(t, gs.URL, ClientOptions{Reconnection: true, Backoff: fastBackoff})
	if err := c.Connect(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	so := gs.next(t)

	_, err := c.EmitWithAck(ctxT(t, 50*time.Millisecond), "never-ack")
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrNotSent) {
		t.Fatalf("sent, ack never came: %v", err)
	}
	<-got

	errc := make(chan error, 1)
	go func() {
		_, err := c.EmitWithAck(ctxT(t, 5*time.Second), "never-ack")
		errc <- err
	}()
	<-got // the server has it
	so.DropConnection()
	err = <-errc
	var de *DisconnectError
	if !errors.As(err, &de) || errors.Is(err, ErrNotSent) {
		t.Fatalf("sent, then disconnected: %v", err)
	}
}

// brokenClient is a client of gs whose connections can be broken (see
// netfault), connected with reconnection on.
func brokenClient(t *testing.T, gs *goServer) (*Client, *netfault.Dialer) {
	t.Helper()
	d := &netfault.Dialer{}
	t.Cleanup(d.Close)
	c := newTestClient(t, gs.URL, ClientOptions{Reconnection: true, Backoff: fastBackoff, HTTPClient: d.Client()})
	if err := c.Connect(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	return c, d
}

func TestPacketNotWrittenIsSentOnTheNextConnection(t *testing.T) {
	gs := startGoServer(t, ServerOptions{})
	c, d := brokenClient(t, gs)
	first := gs.next(t)
	d.Last().Set(netfault.Refuse)
	args, err := c.EmitWithAck(ctxT(t, 5*time.Second), "echo", "once")
	if err != nil || len(args) != 1 || string(args[0]) != `"once"` {
		t.Fatalf("EmitWithAck: %s, %v", args, err)
	}
	if second := gs.next(t); second == first {
		t.Fatal("answered on the broken connection")
	}
	if err := c.Emit(ctxT(t, 5*time.Second), "echo"); err != nil {
		t.Fatalf("Emit after the reconnection: %v", err)
	}
}

func TestPacketPartlyWrittenMayHaveBeenSent(t *testing.T) {
	gs := startGoServer(t, ServerOptions{})
	c, d := brokenClient(t, gs)
	gs.next(t)
	d.Last().Set(netfault.Half)
	_, err := c.EmitWithAck(ctxT(t, 5*time.Second), "echo", "maybe")
	if err == nil || errors.Is(err, ErrNotSent) || !errors.Is(err, engineio.ErrClosed) {
		t.Fatalf("EmitWithAck: %v", err)
	}
}
