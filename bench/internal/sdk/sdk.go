// Package sdk drives the Go SDK's real-time client, the public Socket, for
// the benchmark: with its default options, as a service would use it.
package sdk

import (
	"context"
	"strings"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/bench/internal/load"
)

// Driver dials SDK sockets.
type Driver struct{}

// Conn is one connected Socket.
type Conn struct {
	s    *messaging.Socket
	conv string
}

// Dial makes a Socket, registers onMessage with OnMessage and connects.
func (Driver) Dial(ctx context.Context, url, conversation string, onMessage func()) (load.Conn, error) {
	s, err := messaging.NewSocket(messaging.WithEndpoint(strings.TrimSuffix(url, "/")), messaging.WithToken(load.Token))
	if err != nil {
		return nil, err
	}
	if onMessage != nil {
		s.OnMessage(func(*messaging.Message) { onMessage() })
	}
	if err := s.Connect(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return &Conn{s: s, conv: conversation}, nil
}

// Send sends one message (the Socket makes its id) and waits for the
// stored row.
func (c *Conn) Send(ctx context.Context) error {
	_, err := c.s.SendMessage(ctx, messaging.SendMessageParams{ConversationID: c.conv, Content: load.Content})
	return err
}

// Join joins a conversation's room.
func (c *Conn) Join(ctx context.Context, conversation string) error {
	return c.s.JoinConversation(ctx, conversation)
}

// Close closes the socket.
func (c *Conn) Close() error { return c.s.Close() }
