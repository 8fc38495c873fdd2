package socketio

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/symbia-labs/messaging-go/internal/engineio"
)

// Real packets of the Socket.IO v4 protocol (handshake, events, binary), as WebSocket
// text frames. The Engine.IO "4" prefix is stripped before the Socket.IO
// decoder sees them; both forms are used as seeds.
var wireSeeds = []string{
	`42["hello",1]`,
	`42["hello","world"]`,
	`4212["hello"]`,
	`42/admin,13["x"]`,
	`43/admin,13["bar"]`,
	`4312["ok"]`,
	`4312[]`,
	`43456["ok"]`,
	`42456["x",{"a":[1,2,{"b":null}]}]`,
	`452-["hello",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`,
	`452-789["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`,
	`462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`,
	`451-["upload",{"_placeholder":true,"num":0}]`,
	`461-7[{"_placeholder":true,"num":0}]`,
	`44/random,{"message":"Invalid namespace"}`,
	`44{"message":"Not authorized"}`,
	`44{"message":"Not authorized","data":{"code":401}}`,
	`44/admin,{"message":"not allowed","data":{"code":403}}`,
	`40`,
	`40/admin,`,
	`40/random`,
	`40/custom,{"token":"x"}`,
	`40{"token":"abc"}`,
	`40{"sid":"wZX3oN0bSVIhsaknAAAI","pid":"Bq3xT2pN0aA"}`,
	`40{"pid":"Bq3xT2pN0aA","offset":"MzUPkW0","token":"abc"}`,
	`420["join","room-1"]`,
	`430[{"ok":true}]`,
	`42["news",{"n":1},"MzUPkW0"]`,
	`41`,
	`41/custom`,
	`41/nsp,`,
	`4abc`,
	`42{}`,
	`42abc["x"]`,
	`42abc[...]`,
	`4`,
	``,
}

func seedText(f *testing.F) {
	for _, s := range wireSeeds {
		f.Add(s)
		f.Add(strings.TrimPrefix(s, "4"))
	}
}

// FuzzDecodeText: no input may panic or hang the decoder; whatever it
// accepts must re-encode to a packet that decodes to the same thing.
func FuzzDecodeText(f *testing.F) {
	seedText(f)
	f.Fuzz(func(t *testing.T, in string) {
		var d Decoder
		p, err := d.Decode(engineio.TextMessage(in))
		if err != nil || p == nil {
			return
		}
		if p.Type == PacketEvent || p.Type == PacketBinaryEvent {
			if _, _, err := p.Event(); err != nil {
				t.Fatalf("accepted event without a valid name: %q: %v", in, err)
			}
		}
		msgs, err := p.Encode()
		if err != nil {
			if strings.Contains(p.Namespace, ",") || !strings.HasPrefix(p.nsp(), "/") {
				return // cannot be expressed; the decoder read it anyway
			}
			t.Fatalf("re-encode %q: %v", in, err)
		}
		var d2 Decoder
		q, err := d2.Decode(msgs[0])
		if err != nil || q == nil {
			t.Fatalf("re-decode of %q (%q): %v", in, msgs[0].Data, err)
		}
		if q.Type != p.Type || q.nsp() != p.nsp() || !bytes.Equal(q.Data, p.Data) ||
			(q.ID == nil) != (p.ID == nil) || (q.ID != nil && *q.ID != *p.ID) {
			t.Fatalf("round trip of %q changed the packet: %+v vs %+v", in, p, q)
		}
	})
}

// FuzzDecodeBinary: a header followed by up to three frames, each either
// binary or text, in any order.
func FuzzDecodeBinary(f *testing.F) {
	f.Add(`52-["hello",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, []byte{1, 2, 3}, []byte{4}, []byte("x"), uint8(0))
	f.Add(`62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, []byte{}, []byte{0xff}, []byte{}, uint8(0))
	f.Add(`51-["upload",{"_placeholder":true,"num":0}]`, []byte{1, 2, 3, 4}, []byte(`2["next"]`), []byte{}, uint8(2))
	f.Add(`51-["a",{"_placeholder":true,"num":7}]`, []byte{1}, []byte{2}, []byte{3}, uint8(0))
	f.Add(`51-["a",{"x":[{"_placeholder":true,"num":0}]}]`, []byte{1}, []byte{2}, []byte{3}, uint8(7))
	f.Add(`53-/nsp,5[{"_placeholder":true,"num":2}]`, []byte{1}, []byte{2}, []byte{3}, uint8(0))
	f.Add(`2["plain"]`, []byte{1}, []byte{2}, []byte{3}, uint8(1))
	f.Fuzz(func(t *testing.T, header string, a, b, c []byte, textMask uint8) {
		d := Decoder{maxAttachments: 3}
		frames := []engineio.Message{engineio.TextMessage(header)}
		for i, data := range [][]byte{a, b, c} {
			frames = append(frames, engineio.Message{Binary: textMask&(1<<i) == 0, Data: data})
		}
		for _, m := range frames {
			p, err := d.Decode(m)
			if err != nil || p == nil {
				continue
			}
			if p.Type.binary() {
				if _, err := p.Args(); err != nil {
					t.Fatalf("complete binary packet with bad payload: %v", err)
				}
				if !json.Valid(p.Data) {
					t.Fatalf("reconstructed payload is not JSON: %q", p.Data)
				}
			}
			if p.Type == PacketBinaryEvent {
				if _, _, err := p.Event(); err != nil {
					t.Fatalf("complete binary event without a name: %v", err)
				}
			}
		}
	})
}

// FuzzEncodeRoundTrip: any event name and JSON argument, plus a binary
// argument, survive encode then decode; the argument compacted and passed
// as RawJSON arrives byte for byte.
func FuzzEncodeRoundTrip(f *testing.F) {
	f.Add("hello", `{"a":1,"b":[true,null,"x"]}`, []byte{1, 2, 3}, "/")
	f.Add("ünïcode \u2028", `"s"`, []byte{}, "/admin")
	f.Add("message", `[1.5e300,-0,"\u0000"]`, []byte("\x1e\x00"), "/a")
	f.Fuzz(func(t *testing.T, event, arg string, bin []byte, nsp string) {
		if isReserved(event) || !json.Valid([]byte(arg)) || !strings.HasPrefix(nsp, "/") || strings.Contains(nsp, ",") {
			return
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(arg)); err != nil {
			t.Fatal(err)
		}
		p, err := EventPacket(nsp, NewID(uint64(len(bin))), event, json.RawMessage(arg), bin, RawJSON(compact.Bytes()))
		if !utf8.ValidString(event) {
			if err == nil {
				t.Fatalf("invalid UTF-8 event name %q accepted", event)
			}
			return
		}
		if err != nil {
			t.Fatalf("EventPacket: %v", err)
		}
		msgs, err := p.Encode()
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		var d Decoder
		var q *Packet
		for _, m := range msgs {
			if q, err = d.Decode(m); err != nil {
				t.Fatalf("Decode %q: %v", m.Data, err)
			}
		}
		if q == nil {
			t.Fatal("packet incomplete")
		}
		name, args, err := q.Event()
		if err != nil || name != event || len(args) != 3 || q.nsp() != nsp || *q.ID != uint64(len(bin)) {
			t.Fatalf("got %q %s %v (nsp %q)", name, args, err, q.nsp())
		}
		var gotBin []byte
		if err := json.Unmarshal(args[1], &gotBin); err != nil || !bytes.Equal(gotBin, bin) {
			t.Fatalf("binary changed: %v", err)
		}
		var want, got any
		_ = json.Unmarshal([]byte(arg), &want)
		_ = json.Unmarshal(args[0], &got)
		wb, _ := json.Marshal(want)
		gb, _ := json.Marshal(got)
		if !bytes.Equal(wb, gb) {
			t.Fatalf("argument changed: %s vs %s", wb, gb)
		}
		// (Invalid UTF-8, which json.Valid lets through in strings, is not
		// valid JSON: decoding a binary packet re-encodes it.)
		if utf8.Valid(compact.Bytes()) && !bytes.Equal(args[2], compact.Bytes()) {
			t.Fatalf("RawJSON argument changed: %q vs %q (packet %q)", args[2], compact.Bytes(), msgs[0].Data)
		}
	})
}

// FuzzConnectError: any CONNECT_ERROR payload yields an error with a
// message.
func FuzzConnectError(f *testing.F) {
	f.Add(`{"message":"Not authorized","data":{"code":401}}`)
	f.Add(`"legacy"`)
	f.Add(`{"message":""}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, in string) {
		ce := parseConnectError(json.RawMessage(in))
		if ce == nil || ce.Message == "" || ce.Error() == "" {
			t.Fatalf("bad ConnectError for %q", in)
		}
	})
}
