package messaging

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/symbia-labs/messaging-go/internal/engineio"
	"github.com/symbia-labs/messaging-go/internal/socketio"
)

// The frames of the benchmark workloads (bench/): a message row as the
// service sends it (docs/PROTOCOL.md), in message:new and in the message:send
// ack.
const benchRow = `{"id":"ab3bdbd3-362c-4a18-afde-5430a68075d4","conversation_id":"e0eed82d-ec4f-4818-9be1-9f1402a7f089","sender_id":"11111111-1111-4111-8111-111111111111","sender_type":"user","content":"Hello from the benchmark: a chat message of ordinary length, about one hundred bytes.","content_type":"text","reply_to":null,"org_id":null,"run_id":null,"trace_id":null,"sequence":1,"priority":"normal","interruptible":true,"preempted_by":null,"metadata":{},"created_at":"2026-11-21T22:29:04.545Z","updated_at":null,"deleted_at":null}`

var (
	benchMessageNewFrame = []byte(`2["message:new",` + benchRow + `]`)
	benchSendAckFrame    = []byte(`31234[{"success":true,"message":` + benchRow + `}]`)
	benchParams          = SendMessageParams{
		ConversationID: "e0eed82d-ec4f-4818-9be1-9f1402a7f089",
		Content:        "Hello from the benchmark: a chat message of ordinary length, about one hundred bytes.",
	}
)

// BenchmarkDecodeMessageNew is a message:new from the wire to the typed
// *Message the OnMessage handlers get: the socketio packet decoding, then
// the Socket's event decoding (decodeEvent).
func BenchmarkDecodeMessageNew(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchMessageNewFrame)))
	var d socketio.Decoder
	for b.Loop() {
		p, err := d.Decode(engineio.Message{Data: benchMessageNewFrame})
		if err != nil {
			b.Fatal(err)
		}
		name, args, err := p.Event()
		if err != nil {
			b.Fatal(err)
		}
		it, ok := decodeEvent(name, args)
		if !ok || it.err != nil {
			b.Fatal(it.err)
		}
	}
}

// BenchmarkDecodeSendAck is the ack of a message:send from the wire to the
// stored *Message SendMessage returns (decodeAck, then the row).
func BenchmarkDecodeSendAck(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchSendAckFrame)))
	var d socketio.Decoder
	for b.Loop() {
		p, err := d.Decode(engineio.Message{Data: benchSendAckFrame})
		if err != nil {
			b.Fatal(err)
		}
		args, err := p.Args()
		if err != nil {
			b.Fatal(err)
		}
		body, err := decodeAck(EventMessageSend, args)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := body.message(EventMessageSend); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeMessageJSONOnly is the JSON work a typed message needs at
// least: unmarshalling the row into a Message.
func BenchmarkDecodeMessageJSONOnly(b *testing.B) {
	b.ReportAllocs()
	row := []byte(benchRow)
	b.SetBytes(int64(len(row)))
	for b.Loop() {
		var m Message
		if err := json.Unmarshal(row, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMessageUnmarshalJSON is Message's own decoder alone, on the same
// row: what BenchmarkDecodeMessageJSONOnly costs without encoding/json's
// validation pass and reflection in front of it.
func BenchmarkMessageUnmarshalJSON(b *testing.B) {
	b.ReportAllocs()
	row := []byte(benchRow)
	b.SetBytes(int64(len(row)))
	for b.Loop() {
		var m Message
		if err := m.UnmarshalJSON(row); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeSendMessage is what Socket.SendMessage does before the
// network: check the params, make the message id, encode the event with
// its ack id.
func BenchmarkEncodeSendMessage(b *testing.B) {
	b.ReportAllocs()
	id := uint64(1234)
	for b.Loop() {
		p := benchParams
		if err := p.validate(); err != nil {
			b.Fatal(err)
		}
		u, err := uuid.NewRandom()
		if err != nil {
			b.Fatal(err)
		}
		p.ID = u.String()
		data, att, err := socketio.EncodeArgs(EventMessageSend, p)
		if err != nil {
			b.Fatal(err)
		}
		pk := &socketio.Packet{Type: socketio.PacketEvent, Namespace: "/", ID: &id, Data: data, Attachments: att}
		if _, err := pk.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeSendJSONOnly is the JSON work of the above alone:
// marshalling the same argument array.
func BenchmarkEncodeSendJSONOnly(b *testing.B) {
	b.ReportAllocs()
	p := benchParams
	p.ID = "5b0e6a1c-3f7d-4c2a-9e8b-1d2f3a4b5c6d"
	for b.Loop() {
		if _, err := json.Marshal([]any{EventMessageSend, p}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeAckRefusal is a refused message:send ack: the typed pass
// sees success false and the generic path reads the server's text.
func BenchmarkDecodeAckRefusal(b *testing.B) {
	b.ReportAllocs()
	args := []json.RawMessage{json.RawMessage(`{"success":false,"error":"Not a participant"}`)}
	for b.Loop() {
		if _, err := decodeAck(EventMessageSend, args); err == nil {
			b.Fatal("accepted a refusal")
		}
	}
}

// TestDecodeAckTypedMatchesGeneric checks that the typed pass of decodeAck
// gives the rows the generic path gives.
func TestDecodeAckTypedMatchesGeneric(t *testing.T) {
	for _, ack := range []string{
		`{"success":true,"message":` + benchRow + `}`,
		`{"success":true,"control":` + benchRow + `,"message":null}`,
		` {"error":"","success":true,"message":` + benchRow + `,"control":` + benchRow + `} `,
	} {
		args := []json.RawMessage{json.RawMessage(ack)}
		typed, err := decodeAck(EventMessageSend, args)
		if err != nil || typed.raw == nil {
			t.Fatalf("%s: typed pass not taken (err %v)", ack, err)
		}
		generic, err := decodeAckGeneric(EventMessageSend, args)
		if err != nil {
			t.Fatal(err)
		}
		for _, control := range []bool{false, true} {
			m1, err1 := typed.row(EventMessageSend, control)
			m2, err2 := generic.row(EventMessageSend, control)
			if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
				t.Fatalf("%s control=%v: errors %v vs %v", ack, control, err1, err2)
			}
			if m1 != nil {
				j1, _ := json.Marshal(m1)
				j2, _ := json.Marshal(m2)
				if string(j1) != string(j2) {
					t.Fatalf("%s control=%v: rows differ:\n%s\n%s", ack, control, j1, j2)
				}
			}
		}
	}
}
