package socketio

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/symbia-labs/messaging-go/internal/engineio"
)

// The frames of the messaging workloads (bench/): a message row as the
// service sends it (docs/PROTOCOL.md), in message:new and in the message:send ack.
const benchRow = `{"id":"ab3bdbd3-362c-4a18-afde-5430a68075d4","conversation_id":"e0eed82d-ec4f-4818-9be1-9f1402a7f089","sender_id":"11111111-1111-4111-8111-111111111111","sender_type":"user","content":"Hello from the benchmark: a chat message of ordinary length, about one hundred bytes.","content_type":"text","reply_to":null,"org_id":null,"run_id":null,"trace_id":null,"sequence":1,"priority":"normal","interruptible":true,"preempted_by":null,"metadata":{},"created_at":"2026-11-21T22:29:04.545Z","updated_at":null,"deleted_at":null}`

var (
	benchMessageNew = []byte(`2["message:new",` + benchRow + `]`)
	benchSendAck    = []byte(`31234[{"success":true,"message":` + benchRow + `}]`)
)

// benchSendParams has the shape of messaging.SendMessageParams (this package
// cannot import the root package).
type benchSendParams struct {
	ConversationID string         `json:"conversationId,omitempty"`
	ID             string         `json:"id,omitempty"`
	Content        string         `json:"content"`
	ContentType    string         `json:"contentType,omitempty"`
	ReplyTo        string         `json:"replyTo,omitempty"`
	Metadata       map[string]any `json:"metadata,omitempty"`
	RunID          string         `json:"runId,omitempty"`
	TraceID        string         `json:"traceId,omitempty"`
	Priority       string         `json:"priority,omitempty"`
	Interruptible  *bool          `json:"interruptible,omitempty"`
	PreemptedBy    string         `json:"preemptedBy,omitempty"`
}

var benchParams = benchSendParams{
	ConversationID: "e0eed82d-ec4f-4818-9be1-9f1402a7f089",
	ID:             "5b0e6a1c-3f7d-4c2a-9e8b-1d2f3a4b5c6d",
	Content:        "Hello from the benchmark: a chat message of ordinary length, about one hundred bytes.",
}

// benchRowStruct has the shape of messaging.Message.
type benchRowStruct struct {
	ID             string         `json:"id"`
	ConversationID string         `json:"conversation_id"`
	SenderID       string         `json:"sender_id"`
	SenderType     string         `json:"sender_type,omitempty"`
	Content        string         `json:"content"`
	ContentType    string         `json:"content_type,omitempty"`
	ReplyTo        string         `json:"reply_to,omitempty"`
	OrgID          string         `json:"org_id,omitempty"`
	RunID          string         `json:"run_id,omitempty"`
	TraceID        string         `json:"trace_id,omitempty"`
	Sequence       int64          `json:"sequence"`
	Priority       string         `json:"priority,omitempty"`
	Interruptible  bool           `json:"interruptible"`
	PreemptedBy    string         `json:"preempted_by,omitempty"`
	Metadata       map[string]any `json:"metadata,omitempty"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      *time.Time     `json:"updated_at,omitempty"`
	DeletedAt      *time.Time     `json:"deleted_at,omitempty"`
}

// BenchmarkEncodeEventWithAck is what EmitWithAck does to a message:send:
// encode the arguments, then the packet with its ack id.
func BenchmarkEncodeEventWithAck(b *testing.B) {
	b.ReportAllocs()
	id := uint64(1234)
	for b.Loop() {
		data, att, err := EncodeArgs("message:send", benchParams)
		if err != nil {
			b.Fatal(err)
		}
		p := &Packet{Type: PacketEvent, Namespace: "/", ID: &id, Data: data, Attachments: att}
		if _, err := p.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeJSONOnly is the JSON work of the above alone: marshalling
// the same argument array, with nothing else.
func BenchmarkEncodeJSONOnly(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal([]any{"message:send", benchParams}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeMessageNew is what the client's read loop does with a
// message:new frame: decode the packet and split out the event's name and
// arguments (the typed decoding is benchmarked in the root package).
func BenchmarkDecodeMessageNew(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchMessageNew)))
	var d Decoder
	for b.Loop() {
		p, err := d.Decode(engineio.Message{Data: benchMessageNew})
		if err != nil {
			b.Fatal(err)
		}
		name, args, err := p.Event()
		if err != nil || name != "message:new" || len(args) != 1 {
			b.Fatal(name, err)
		}
	}
}

// BenchmarkDecodeSendAck decodes the ack of a message:send.
func BenchmarkDecodeSendAck(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchSendAck)))
	var d Decoder
	for b.Loop() {
		p, err := d.Decode(engineio.Message{Data: benchSendAck})
		if err != nil {
			b.Fatal(err)
		}
		if args, err := p.Args(); err != nil || len(args) != 1 {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeTypedJSONOnly is the JSON work a typed message:new needs
// at least: unmarshalling the row into a struct.
func BenchmarkDecodeTypedJSONOnly(b *testing.B) {
	b.ReportAllocs()
	row := []byte(benchRow)
	b.SetBytes(int64(len(row)))
	for b.Loop() {
		var m benchRowStruct
		if err := json.Unmarshal(row, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeEventRawMessage and BenchmarkEncodeEventRawJSON are what
// the root Socket's calls do to an argument it encoded itself: pass it as
// a json.RawMessage (validated and compacted again by encoding/json) or as
// a RawJSON (appended as is).
func BenchmarkEncodeEventRawMessage(b *testing.B) {
	raw, _ := json.Marshal(benchParams)
	benchEncodeEvent(b, json.RawMessage(raw))
}

func BenchmarkEncodeEventRawJSON(b *testing.B) {
	raw, _ := json.Marshal(benchParams)
	benchEncodeEvent(b, RawJSON(raw))
}

func benchEncodeEvent(b *testing.B, arg any) {
	b.ReportAllocs()
	id := uint64(1234)
	for b.Loop() {
		data, att, err := EncodeArgs("message:send", arg)
		if err != nil {
			b.Fatal(err)
		}
		p := &Packet{Type: PacketEvent, Namespace: "/", ID: &id, Data: data, Attachments: att}
		if _, err := p.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}
