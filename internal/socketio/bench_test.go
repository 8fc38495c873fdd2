package socketio

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/symbia-labs/messaging-go/internal/engineio"
)

type benchMessage struct {
	ID             string            `json:"id"`
	ConversationID string            `json:"conversationId"`
	Content        string            `json:"content"`
	Metadata       map[string]string `json:"metadata,omitempty"`
}

var benchMsg = benchMessage{
	ID:             "6f1c2a52-4c1e-4f43-9d8e-0d0b8a1f9e21",
	ConversationID: "c0ffee00-1234-4abc-8def-000000000001",
	Content:        "hello, this is a typical chat message of moderate length",
	Metadata:       map[string]string{"client": "go"},
}

func BenchmarkEncodeEvent(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		p, err := EventPacket("/", NewID(42), "message:send", benchMsg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeBinaryEvent(b *testing.B) {
	blob := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		p, err := EventPacket("/", nil, "upload", map[string]any{"name": "f.bin", "data": blob})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	p, _ := EventPacket("/", NewID(42), "message:new", benchMsg)
	msgs, _ := p.Encode()
	b.SetBytes(int64(len(msgs[0].Data)))
	b.ReportAllocs()
	for b.Loop() {
		var d Decoder
		q, err := d.Decode(msgs[0])
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := q.Event(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBinaryEvent(b *testing.B) {
	p, _ := EventPacket("/", nil, "upload", map[string]any{"name": "f.bin", "data": make([]byte, 4096)})
	msgs, _ := p.Encode()
	b.ReportAllocs()
	for b.Loop() {
		var d Decoder
		var q *Packet
		var err error
		for _, m := range msgs {
			if q, err = d.Decode(m); err != nil {
				b.Fatal(err)
			}
		}
		if _, _, err := q.Event(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeAck(b *testing.B) {
	m := engineio.TextMessage(`312[{"ok":true,"id":"6f1c2a52-4c1e-4f43-9d8e-0d0b8a1f9e21"}]`)
	b.ReportAllocs()
	for b.Loop() {
		var d Decoder
		q, err := d.Decode(m)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := q.Args(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEmitWithAckRoundTrip is one acked call against the in-process Go
// server (whose work is counted too): encode, send, and the ack read by the
// manager and handed to the caller.
func BenchmarkEmitWithAckRoundTrip(b *testing.B) {
	srv := NewServer(ServerOptions{OnConnection: func(so *ServerSocket) {
		so.OnEvent(func(_ string, args []json.RawMessage, ack func(...any)) {
			if ack != nil {
				ack(args[0])
			}
		})
	}})
	hs := httptest.NewServer(srv)
	c := NewClient(hs.URL, ClientOptions{})
	b.Cleanup(func() {
		_ = c.Close()
		srv.Close()
		hs.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	// The ack timeout as the root Socket used to bound a call (a derived
	// context per call), and as it does now.
	b.Run("WithTimeoutCtx", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			actx, cancel := context.WithTimeout(ctx, time.Minute)
			_, err := c.EmitWithAck(actx, "message:send", benchMsg)
			cancel()
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("EmitWithAckTimeout", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.EmitWithAckTimeout(ctx, time.Minute, "message:send", benchMsg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
