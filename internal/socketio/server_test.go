package socketio

import (
	"context"
	"testing"
	"time"

	"github.com/symbia-labs/messaging-go/internal/engineio"
)

// rawConn dials the Go server at the Engine.IO level, to send what a
// well-behaved client never would.
func rawConn(t *testing.T, gs *goServer) *engineio.Conn {
	t.Helper()
	c, err := engineio.Dial(ctxT(t, 5*time.Second), gs.URL, engineio.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func readText(t *testing.T, c *engineio.Conn) string {
	t.Helper()
	m, err := c.Read(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(m.Data)
}

// expectClosed reads c (a client notices the end of its connection by
// reading) until the server closes it.
func expectClosed(t *testing.T, c *engineio.Conn) {
	t.Helper()
	ctx := ctxT(t, 5*time.Second)
	for {
		if _, err := c.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatal("server did not close the connection")
			}
			return
		}
	}
}

func TestServerProtocolViolationsCloseTheConnection(t *testing.T) {
	cases := map[string][]string{
		"event before CONNECT":   {`2["x"]`},
		"undecodable packet":     {`0{"token":"good"}`, `2{}`},
		"bad ack id":             {`0{"token":"good"}`, `2abc["x"]`},
		"unknown type":           {`abc`},
		"second CONNECT":         {`0{"token":"good"}`, `0{"token":"good"}`},
		"event on unjoined nsp":  {`0{"token":"good"}`, `2/admin,["x"]`},
		"CONNECT_ERROR from cli": {`4{"message":"x"}`},
	}
	for name, frames := range cases {
		t.Run(name, func(t *testing.T) {
			gs := startGoServer(t, ServerOptions{})
			c := rawConn(t, gs)
			for _, f := range frames {
				if err := c.Send(ctxT(t, time.Second), engineio.TextMessage(f)); err != nil {
					t.Fatal(err)
				}
			}
			expectClosed(t, c)
		})
	}
}

func TestServerConnectRepliesAndRefusals(t *testing.T) {
	gs := startGoServer(t, ServerOptions{})
	c := rawConn(t, gs)
	ctx := ctxT(t, 5*time.Second)
	send := func(s string) {
		t.Helper()
		if err := c.Send(ctx, engineio.TextMessage(s)); err != nil {
			t.Fatal(err)
		}
	}
	send(`0/random,`)
	if got := readText(t, c); got != `4/random,{"message":"Invalid namespace"}` {
		t.Fatalf("unknown namespace: %s", got)
	}
	send(`0{"token":"bad"}`)
	if got := readText(t, c); got != `4{"data":{"code":401},"message":"invalid credentials"}` {
		t.Fatalf("refusal: %s", got)
	}
	send(`0{"token":"good"}`)
	p, _, err := ParseText([]byte(readText(t, c)))
	if err != nil || p.Type != PacketConnect {
		t.Fatalf("reply %+v %v", p, err)
	}
	send(`0/admin,{"token":"good"}`)
	if got := readText(t, c); len(got) < 8 || got[:8] != `0/admin,` {
		t.Fatalf("admin reply %s", got)
	}
	send(`20["echo","a"]`)
	if got := readText(t, c); got != `30["a"]` {
		t.Fatalf("ack id 0: %s", got)
	}
	send(`2/admin,7["echo",1]`)
	if got := readText(t, c); got != `3/admin,7[1]` {
		t.Fatalf("namespaced ack: %s", got)
	}
	send(`1/admin,`)
	send(`21["echo","b"]`) // "/" still joined: answered, no close
	if got := readText(t, c); got != `31["b"]` {
		t.Fatalf("after leaving /admin: %s", got)
	}
	if len(gs.Sockets()) != 1 {
		t.Fatalf("%d sockets after leaving /admin", len(gs.Sockets()))
	}
}

func TestServerConnectTimeout(t *testing.T) {
	gs := startGoServer(t, ServerOptions{ConnectTimeout: 100 * time.Millisecond})
	c := rawConn(t, gs)
	expectClosed(t, c)
}

func TestServerCloseEndsSockets(t *testing.T) {
	gs := startGoServer(t, ServerOptions{})
	cl := newTestClient(t, gs.URL, ClientOptions{})
	if err := cl.Connect(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	so := gs.next(t)
	reason := make(chan string, 1)
	so.OnDisconnect(func(r string) { reason <- r })
	gs.Server.Close()
	if r := <-reason; r != ReasonServerShuttingDown {
		t.Fatalf("reason %q", r)
	}
	if err := so.Emit("x"); err == nil {
		t.Fatal("Emit on a closed socket succeeded")
	}
	if _, err := so.EmitWithAck(context.Background(), "x"); err == nil {
		t.Fatal("EmitWithAck on a closed socket succeeded")
	}
	late := make(chan string, 1)
	so.OnDisconnect(func(r string) { late <- r })
	if r := <-late; r != ReasonServerShuttingDown {
		t.Fatalf("late handler reason %q", r)
	}
}
