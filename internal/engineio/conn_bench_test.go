package engineio

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"
)

// benchFrame is a message:new packet as the service sends it (without the
// Engine.IO "4"), about the size of a real message row.
var benchFrame = []byte(`2["message:new",{"id":"ab3bdbd3-362c-4a18-afde-5430a68075d4","conversation_id":"e0eed82d-ec4f-4818-9be1-9f1402a7f089","sender_id":"11111111-1111-4111-8111-111111111111","sender_type":"user","content":"Hello from the benchmark: a chat message of ordinary length, about one hundred bytes.","content_type":"text","reply_to":null,"org_id":null,"run_id":null,"trace_id":null,"sequence":1,"priority":"normal","interruptible":true,"preempted_by":null,"metadata":{},"created_at":"2026-11-21T22:29:04.545Z","updated_at":null,"deleted_at":null}]`)

// benchPair connects a client Conn to a ServerConn over loopback.
func benchPair(b *testing.B) (*Conn, *ServerConn) {
	return benchPairWith(b, DialOptions{})
}

func benchPairWith(b *testing.B, opts DialOptions) (*Conn, *ServerConn) {
	b.Helper()
	conns := make(chan *ServerConn, 1)
	s := NewServer(ServerOptions{OnConnection: func(c *ServerConn) { conns <- c }, WriteQueueLimit: 1 << 20})
	hs := httptest.NewServer(s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, hs.URL, opts)
	if err != nil {
		b.Fatal(err)
	}
	var sc *ServerConn
	select {
	case sc = <-conns:
	case <-ctx.Done():
		b.Fatal("no server connection")
	}
	b.Cleanup(func() {
		_ = c.Close()
		s.Close()
		hs.Close()
	})
	return c, sc
}

// BenchmarkClientRead measures the client's receive path per message: Read
// takes the frame off the WebSocket itself.
func BenchmarkClientRead(b *testing.B) {
	benchClientRead(b, DialOptions{})
}

func benchClientRead(b *testing.B, opts DialOptions) {
	c, sc := benchPairWith(b, opts)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(benchFrame)))
	b.ResetTimer()
	go func() {
		for range b.N {
			if sc.Send(Message{Data: benchFrame}) != nil {
				return
			}
		}
	}()
	for range b.N {
		if _, err := c.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClientSend measures the client's send path per message, as
// EmitWithAck uses it: Send returns once the writer goroutine wrote the
// frame.
func BenchmarkClientSend(b *testing.B) {
	c, sc := benchPair(b)
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := sc.Read(ctx); err != nil {
				return
			}
		}
	}()
	b.ReportAllocs()
	b.SetBytes(int64(len(benchFrame)))
	b.ResetTimer()
	for range b.N {
		if err := c.Send(ctx, Message{Data: benchFrame}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	_ = c.Close()
	<-done
}
