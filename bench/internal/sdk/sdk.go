// Package sdk drives the Go SDK's real-time client for the benchmark.
package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/bench/internal/load"
	"github.com/symbia-labs/messaging-go/internal/socketio"
)

// Driver dials SDK connections.
//
// Until the public Socket lands this drives internal/socketio.Client the way
// the Socket does (typed params in, typed Message out).
type Driver struct{}

// Conn is one SDK connection.
type Conn struct {
	c    *socketio.Client
	conv string
}

// Dial connects one client.
func (Driver) Dial(ctx context.Context, url, conversation string, onMessage func()) (load.Conn, error) {
	opts := socketio.ClientOptions{
		Auth:         func(context.Context) (any, error) { return map[string]string{"token": load.Token}, nil },
		Reconnection: true,
	}
	if onMessage != nil {
		opts.OnEvent = func(event string, args []json.RawMessage) {
			if event != messaging.EventMessageNew || len(args) == 0 {
				return
			}
			var m messaging.Message
			if json.Unmarshal(args[0], &m) == nil {
				onMessage()
			}
		}
	}
	c := socketio.NewClient(strings.TrimSuffix(url, "/"), opts)
	if err := c.Connect(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return &Conn{c: c, conv: conversation}, nil
}

type sendAck struct {
	Success bool               `json:"success"`
	Message *messaging.Message `json:"message"`
	Error   string             `json:"error"`
}

// Send sends one message and waits for the stored row.
func (c *Conn) Send(ctx context.Context) error {
	id, err := newID()
	if err != nil {
		return err
	}
	args, err := c.c.EmitWithAck(ctx, messaging.EventMessageSend, messaging.SendMessageParams{
		ConversationID: c.conv, ID: id, Content: load.Content,
	})
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return errors.New("empty ack")
	}
	var a sendAck
	if err := json.Unmarshal(args[0], &a); err != nil {
		return err
	}
	if !a.Success || a.Message == nil {
		return errors.New("refused: " + a.Error)
	}
	return nil
}

// Join joins a conversation's room.
func (c *Conn) Join(ctx context.Context, conversation string) error {
	_, err := c.c.EmitWithAck(ctx, messaging.EventJoinConversation, conversation)
	return err
}

// Close closes the client.
func (c *Conn) Close() error { return c.c.Close() }
