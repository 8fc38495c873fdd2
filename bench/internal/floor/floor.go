// Package floor is the cost floor of the benchmark: a minimal Socket.IO
// client on bare github.com/coder/websocket, with no SDK around it. It sends
// pre-encoded frames (only the ack id is written per message), matches acks
// by id without decoding their JSON, and counts message:new frames by their
// prefix. Anything a real client must do beyond this is overhead the SDK
// adds.
package floor

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/coder/websocket"

	"github.com/symbia-labs/messaging-go/bench/internal/acks"
	"github.com/symbia-labs/messaging-go/bench/internal/load"
)

// messageID is the message id of every floor message: the same length as
// the fresh UUIDs the other clients send, but made once.
const messageID = "5b0e6a1c-3f7d-4c2a-9e8b-1d2f3a4b5c6d"

// Driver dials floor connections.
type Driver struct{}

// Conn is one floor connection.
type Conn struct {
	ws        *websocket.Conn
	send      []byte // `["message:send",{...}]`, the frame after "42<id>"
	onMessage func()
	acks      acks.Table
	done      chan struct{}
}

var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// wsURL turns http://host into the Engine.IO WebSocket URL.
func wsURL(u string) string {
	u = strings.TrimSuffix(u, "/")
	switch {
	case strings.HasPrefix(u, "http://"):
		u = "ws://" + strings.TrimPrefix(u, "http://")
	case strings.HasPrefix(u, "https://"):
		u = "wss://" + strings.TrimPrefix(u, "https://")
	}
	return u + "/socket.io/?EIO=4&transport=websocket"
}

// Dial opens the WebSocket, reads the Engine.IO open packet, sends the
// namespace CONNECT with {token} and waits for the server's CONNECT.
func (Driver) Dial(ctx context.Context, url, conversation string, onMessage func()) (load.Conn, error) {
	ws, _, err := websocket.Dial(ctx, wsURL(url), nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	fail := func(err error) (load.Conn, error) {
		_ = ws.CloseNow()
		return nil, err
	}
	if _, b, err := ws.Read(ctx); err != nil || len(b) == 0 || b[0] != '0' {
		return fail(fmt.Errorf("open packet: %q %v", b, err))
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte(`40{"token":"`+load.Token+`"}`)); err != nil {
		return fail(err)
	}
	if _, b, err := ws.Read(ctx); err != nil || !bytes.HasPrefix(b, []byte("40{")) {
		return fail(fmt.Errorf("CONNECT reply: %q %v", b, err))
	}
	c := &Conn{
		ws: ws,
		send: []byte(`["message:send",{"conversationId":"` + conversation + `","id":"` + messageID +
			`","content":"` + load.Content + `"}]`),
		onMessage: onMessage,
		done:      make(chan struct{}),
	}
	go c.read()
	return c, nil
}

// read answers pings, delivers acks and counts message:new frames.
func (c *Conn) read() {
	defer close(c.done)
	var buf bytes.Buffer
	for {
		_, r, err := c.ws.Reader(context.Background())
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		if err != nil {
			c.acks.Fail(err)
			return
		}
		switch kind, id, ok := acks.Classify(buf.Bytes()); kind {
		case acks.Ping:
			_ = c.ws.Write(context.Background(), websocket.MessageText, []byte{'3'})
		case acks.Ack:
			c.acks.Deliver(id, ok)
		case acks.MessageNew:
			if c.onMessage != nil {
				c.onMessage()
			}
		}
	}
}

// emit writes "42<id><body>" and waits for the ack with that id.
func (c *Conn) emit(ctx context.Context, body []byte) error {
	id, ch, err := c.acks.Register()
	if err != nil {
		return err
	}
	bp := bufs.Get().(*[]byte)
	frame := append((*bp)[:0], '4', '2')
	frame = strconv.AppendUint(frame, id, 10)
	frame = append(frame, body...)
	err = c.ws.Write(ctx, websocket.MessageText, frame)
	*bp = frame
	bufs.Put(bp)
	if err != nil {
		c.acks.Forget(id)
		return err
	}
	return c.acks.Wait(ctx, id, ch)
}

// Send emits message:send and waits for {success:true}.
func (c *Conn) Send(ctx context.Context) error { return c.emit(ctx, c.send) }

// Join emits join:conversation and waits for its ack.
func (c *Conn) Join(ctx context.Context, conversation string) error {
	return c.emit(ctx, []byte(`["join:conversation","`+conversation+`"]`))
}

// Close drops the connection.
func (c *Conn) Close() error {
	err := c.ws.CloseNow()
	<-c.done
	return err
}
