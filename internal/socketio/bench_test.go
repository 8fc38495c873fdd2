package socketio

import (
	"testing"

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
