package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/symbia-labs/messaging-go/internal/engineio"
)

func text(s string) engineio.Message { return engineio.TextMessage(s) }

func encodeText(t *testing.T, p *Packet) (string, [][]byte) {
	t.Helper()
	msgs, err := p.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	var att [][]byte
	for _, m := range msgs[1:] {
		if !m.Binary {
			t.Fatalf("attachment not binary")
		}
		att = append(att, m.Data)
	}
	return string(msgs[0].Data), att
}

func TestEncodeWireExamples(t *testing.T) {
	cases := []struct {
		p    Packet
		want string
	}{
		{Packet{Type: PacketConnect}, `0`},
		{Packet{Type: PacketConnect, Namespace: "/admin"}, `0/admin,`},
		{Packet{Type: PacketConnect, Data: json.RawMessage(`{"token":"abc"}`)}, `0{"token":"abc"}`},
		{Packet{Type: PacketConnect, Namespace: "/admin", Data: json.RawMessage(`{"token":"abc"}`)}, `0/admin,{"token":"abc"}`},
		{Packet{Type: PacketDisconnect, Namespace: "/"}, `1`},
		{Packet{Type: PacketEvent, Data: json.RawMessage(`["hello",1]`)}, `2["hello",1]`},
		{Packet{Type: PacketEvent, ID: NewID(0), Data: json.RawMessage(`["join","room-1"]`)}, `20["join","room-1"]`},
		{Packet{Type: PacketEvent, Namespace: "/admin", ID: NewID(13), Data: json.RawMessage(`["x"]`)}, `2/admin,13["x"]`},
		{Packet{Type: PacketAck, ID: NewID(456), Data: json.RawMessage(`[]`)}, `3456[]`},
		{Packet{Type: PacketConnectError, Namespace: "/random", Data: json.RawMessage(`{"message":"Invalid namespace"}`)}, `4/random,{"message":"Invalid namespace"}`},
		{Packet{Type: PacketEvent, Data: json.RawMessage(`["upload",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{1, 2, 3, 4}}}, `51-["upload",{"_placeholder":true,"num":0}]`},
		{Packet{Type: PacketAck, ID: NewID(7), Data: json.RawMessage(`[{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{1}}}, `61-7[{"_placeholder":true,"num":0}]`},
	}
	for _, c := range cases {
		got, _ := encodeText(t, &c.p)
		if got != c.want {
			t.Errorf("Encode(%+v) = %s, want %s", c.p, got, c.want)
		}
	}
	if _, err := (&Packet{Type: PacketEvent, Namespace: "no-slash"}).Encode(); err == nil {
		t.Error("namespace without slash: want error")
	}
	if _, err := (&Packet{Type: 9}).Encode(); err == nil {
		t.Error("type 9: want error")
	}
}

func TestDecodeWireExamples(t *testing.T) {
	type want struct {
		typ  PacketType
		nsp  string
		id   *uint64
		data string
	}
	cases := []struct {
		in string
		w  want
	}{
		{`0`, want{PacketConnect, "/", nil, ""}},
		{`0/admin,`, want{PacketConnect, "/admin", nil, ""}},
		{`0/random`, want{PacketConnect, "/random", nil, ""}},
		{`0/custom,{"token":"x"}`, want{PacketConnect, "/custom", nil, `{"token":"x"}`}},
		{`0{"sid":"wZX3oN0bSVIhsaknAAAI","pid":"Bq3xT2pN0aA"}`, want{PacketConnect, "/", nil, `{"sid":"wZX3oN0bSVIhsaknAAAI","pid":"Bq3xT2pN0aA"}`}},
		{`1`, want{PacketDisconnect, "/", nil, ""}},
		{`1/custom`, want{PacketDisconnect, "/custom", nil, ""}},
		{`2["hello",1]`, want{PacketEvent, "/", nil, `["hello",1]`}},
		{`20["join","room-1"]`, want{PacketEvent, "/", NewID(0), `["join","room-1"]`}},
		{`2456["x"]`, want{PacketEvent, "/", NewID(456), `["x"]`}},
		{`2/admin,13["x"]`, want{PacketEvent, "/admin", NewID(13), `["x"]`}},
		{`2[42,"numeric event"]`, want{PacketEvent, "/", nil, `[42,"numeric event"]`}},
		{`3456["ok"]`, want{PacketAck, "/", NewID(456), `["ok"]`}},
		{`30[{"ok":true}]`, want{PacketAck, "/", NewID(0), `[{"ok":true}]`}},
		{`312[]`, want{PacketAck, "/", NewID(12), `[]`}},
		{`4{"message":"Not authorized","data":{"code":401}}`, want{PacketConnectError, "/", nil, `{"message":"Not authorized","data":{"code":401}}`}},
		{`4/random,{"message":"Invalid namespace"}`, want{PacketConnectError, "/random", nil, `{"message":"Invalid namespace"}`}},
		{`4"legacy"`, want{PacketConnectError, "/", nil, `"legacy"`}},
		{`50-["nobin"]`, want{PacketBinaryEvent, "/", nil, `["nobin"]`}},
	}
	for _, c := range cases {
		var d Decoder
		p, err := d.Decode(text(c.in))
		if err != nil || p == nil {
			t.Errorf("Decode(%s): %v", c.in, err)
			continue
		}
		if p.Type != c.w.typ || p.Namespace != c.w.nsp || string(p.Data) != c.w.data ||
			(p.ID == nil) != (c.w.id == nil) || (p.ID != nil && *p.ID != *c.w.id) {
			t.Errorf("Decode(%s) = %+v (id %v)", c.in, p, p.ID)
		}
		// Round trip.
		if got, _ := encodeText(t, p); strings.TrimSuffix(got, ",") != strings.TrimSuffix(c.in, ",") && c.in != `0/random` && c.in != `1/custom` {
			t.Errorf("re-encode %s = %s", c.in, got)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	bad := []string{
		``, `4abc`, `abc`, `7`, `9[]`, `2{}`, `2abc["x"]`, `2`, `2[]`, `2[{}]`, `2[true]`, `2["connect"]`,
		`2["disconnect",1]`, `2["x"`, `3`, `3{}`, `3"x"`, `0[]`, `0"x"`, `0null`, `1{}`, `1["x"]`, `4`, `4[]`, `44`,
		`5["x"]`, `5-["x"]`, `5a-["x"]`, `511-["x"]`, `52`, `2/admin,abc`, `299999999999999999999999["x"]`, `6-1[]`,
		`2["x"]garbage`, `0{"a":1}{"b":2}`,
	}
	for _, in := range bad {
		var d Decoder
		p, err := d.Decode(text(in))
		if err == nil {
			t.Errorf("Decode(%q) = %+v, want error", in, p)
		} else if !errors.Is(err, ErrParse) {
			t.Errorf("Decode(%q): error %v does not match ErrParse", in, err)
		}
	}
}

func TestBinaryReassembly(t *testing.T) {
	var d Decoder
	p, err := d.Decode(text(`52-["upload",{"_placeholder":true,"num":1},{"k":[{"_placeholder":true,"num":0}]}]`))
	if p != nil || err != nil {
		t.Fatalf("header: %v %v", p, err)
	}
	if p, err = d.Decode(engineio.BinaryMessage([]byte{1, 2})); p != nil || err != nil {
		t.Fatalf("first attachment: %v %v", p, err)
	}
	p, err = d.Decode(engineio.BinaryMessage([]byte{3}))
	if err != nil || p == nil {
		t.Fatalf("second attachment: %v %v", p, err)
	}
	name, args, err := p.Event()
	if err != nil || name != "upload" || len(args) != 2 {
		t.Fatalf("Event: %q %v %v", name, args, err)
	}
	var b []byte
	if err := json.Unmarshal(args[0], &b); err != nil || !bytes.Equal(b, []byte{3}) {
		t.Fatalf("arg0 = %s (%v)", args[0], err)
	}
	var obj struct{ K [][]byte }
	if err := json.Unmarshal(args[1], &obj); err != nil || !bytes.Equal(obj.K[0], []byte{1, 2}) {
		t.Fatalf("arg1 = %s (%v)", args[1], err)
	}
	if len(p.Attachments) != 2 {
		t.Fatalf("attachments %d", len(p.Attachments))
	}
}

func TestBinaryProtocolErrors(t *testing.T) {
	var d Decoder
	if _, err := d.Decode(engineio.BinaryMessage([]byte{1})); err == nil {
		t.Error("binary without header: want error")
	}
	if _, err := d.Decode(text(`51-["x",{"_placeholder":true,"num":0}]`)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Decode(text(`2["y"]`)); err == nil {
		t.Error("text while reconstructing: want error")
	}
	// The decoder recovers after the error.
	if p, err := d.Decode(text(`2["y"]`)); err != nil || p == nil {
		t.Errorf("after reset: %v %v", p, err)
	}
	for _, hdr := range []string{
		`51-["x",{"_placeholder":true,"num":1}]`,
		`51-["x",{"_placeholder":true,"num":-1}]`,
		`51-["x",{"_placeholder":true,"num":"0"}]`,
		`51-["x",{"_placeholder":true,"num":0.5}]`,
	} {
		var d Decoder
		if _, err := d.Decode(text(hdr)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Decode(engineio.BinaryMessage([]byte{1})); err == nil {
			t.Errorf("%s: illegal placeholder accepted", hdr)
		}
	}
	d2 := Decoder{maxAttachments: 2}
	if _, err := d2.Decode(text(`53-["x"]`)); err == nil {
		t.Error("too many attachments accepted")
	}
}

type inner struct {
	Blob  []byte `json:"blob"`
	Skip  []byte `json:"-"`
	Empty []byte `json:"empty,omitempty"`
	Name  string
}

type outer struct {
	inner
	List  []inner          `json:"list"`
	Map   map[string]any   `json:"map"`
	Ptr   *inner           `json:"ptr,omitempty"`
	Raw   json.RawMessage  `json:"raw"`
	Fixed [2]byte          `json:"fixed"`
	Keys  map[int][]byte   `json:"keys"`
	Any   any              `json:"any"`
	Nil   []byte           `json:"nil"`
	Deep  map[string][]any `json:"deep"`
	priv  []byte
}

func TestEncodeArgsFindsNestedBinary(t *testing.T) {
	v := outer{
		inner: inner{Blob: []byte("a"), Skip: []byte("no"), Name: "n"},
		List:  []inner{{Blob: []byte("b")}},
		Map:   map[string]any{"m": []byte("c")},
		Raw:   json.RawMessage(`{"x":1}`),
		Fixed: [2]byte{9, 9},
		Keys:  map[int][]byte{5: []byte("d")},
		Any:   []any{[]byte("e"), "s"},
		Deep:  map[string][]any{"z": {map[string]any{"q": []byte("f")}}},
		priv:  []byte("hidden"),
	}
	data, att, err := EncodeArgs("ev", v, []byte("top"))
	if err != nil {
		t.Fatal(err)
	}
	if len(att) != 7 {
		t.Fatalf("got %d attachments: %q\n%s", len(att), att, data)
	}
	// Decode back through the wire format and compare.
	p := &Packet{Type: PacketBinaryEvent, Data: data, Attachments: att}
	text, _ := encodeText(t, p)
	var d Decoder
	if _, err := d.Decode(engineio.TextMessage(text)); err != nil {
		t.Fatal(err)
	}
	var got *Packet
	for _, a := range att {
		if got, err = d.Decode(engineio.BinaryMessage(a)); err != nil {
			t.Fatal(err)
		}
	}
	name, args, err := got.Event()
	if err != nil || name != "ev" {
		t.Fatal(name, err)
	}
	var back struct {
		Blob  []byte            `json:"blob"`
		Name  string            `json:"Name"`
		List  []inner           `json:"list"`
		Map   map[string][]byte `json:"map"`
		Raw   json.RawMessage   `json:"raw"`
		Fixed [2]byte           `json:"fixed"`
		Keys  map[int][]byte    `json:"keys"`
		Nil   []byte            `json:"nil"`
		Skip  []byte            `json:"Skip"`
	}
	if err := json.Unmarshal(args[0], &back); err != nil {
		t.Fatalf("%v: %s", err, args[0])
	}
	if string(back.Blob) != "a" || back.Name != "n" || string(back.List[0].Blob) != "b" || string(back.Map["m"]) != "c" ||
		string(back.Raw) != `{"x":1}` || back.Fixed != [2]byte{9, 9} || string(back.Keys[5]) != "d" || back.Nil != nil || back.Skip != nil {
		t.Fatalf("round trip mismatch: %s", args[0])
	}
	if strings.Contains(string(args[0]), "empty") || strings.Contains(string(args[0]), "hidden") {
		t.Fatalf("omitted fields present: %s", args[0])
	}
	var top []byte
	if err := json.Unmarshal(args[1], &top); err != nil || string(top) != "top" {
		t.Fatalf("top = %s", args[1])
	}
}

func TestEncodeArgsPlainIsPlainJSON(t *testing.T) {
	data, att, err := EncodeArgs("msg", map[string]int{"a": 1}, struct {
		X string `json:"x"`
	}{"<&>"}, nil, 1.5)
	if err != nil || len(att) != 0 {
		t.Fatal(err, att)
	}
	if string(data) != `["msg",{"a":1},{"x":"<&>"},null,1.5]` {
		t.Fatalf("got %s", data)
	}
}

func TestEncodeArgsErrors(t *testing.T) {
	if _, _, err := EncodeArgs(func() {}); err == nil {
		t.Error("func argument: want error")
	}
	type cyc struct {
		Next any
		B    []byte
	}
	c := &cyc{}
	c.Next = c
	if _, _, err := EncodeArgs(c); err == nil {
		t.Error("cycle: want error")
	}
}

func TestEncodeArgsRawJSONIsAppendedVerbatim(t *testing.T) {
	// Deliberately not compact, so that any re-encoding would show.
	const raw = `{ "a" : [1, 2],  "b" : "<&>" }`
	data, att, err := EncodeArgs("ev", RawJSON(raw), RawJSON(nil), RawJSON(`7`))
	if err != nil || len(att) != 0 {
		t.Fatal(err, att)
	}
	if want := `["ev",` + raw + `,null,7]`; string(data) != want {
		t.Fatalf("got  %s\nwant %s", data, want)
	}
	// A json.RawMessage is still validated and compacted.
	data, _, err = EncodeArgs("ev", json.RawMessage(raw))
	if err != nil || string(data) != `["ev",{"a":[1,2],"b":"<&>"}]` {
		t.Fatalf("RawMessage: %s %v", data, err)
	}
	if _, _, err := EncodeArgs("ev", json.RawMessage(`{"a":`)); err == nil {
		t.Fatal("invalid RawMessage accepted")
	}
	// Nested, a RawJSON is encoded like a json.RawMessage (checked), and
	// is never taken for binary data although it is a []byte.
	data, att, err = EncodeArgs(map[string]any{"r": RawJSON(raw)}, []RawJSON{RawJSON(`1`)})
	if err != nil || len(att) != 0 {
		t.Fatal(err, att)
	}
	if string(data) != `[{"r":{"a":[1,2],"b":"<&>"}},[1]]` {
		t.Fatalf("nested: %s", data)
	}
	if _, _, err := EncodeArgs(map[string]any{"r": RawJSON(`{"a":`)}); err == nil {
		t.Fatal("invalid nested RawJSON accepted")
	}
	// Through a packet, as EmitWithAck sends it.
	p, err := EventPacket("/", NewID(3), "message:send", RawJSON(`{"id":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := p.Encode()
	if err != nil || len(msgs) != 1 || string(msgs[0].Data) != `23["message:send",{"id":"x"}]` {
		t.Fatalf("packet: %v %v", msgs, err)
	}
}

func TestEncodeArgsMatchesEncodingJSON(t *testing.T) {
	// Arguments are encoded one by one; the array must be what
	// encoding/json makes of them together (without HTML escaping).
	vals := []any{"msg", map[string]int{"b": 2, "a": 1}, []any{nil, true, "x\u2028y"}, 1e21, "\xff",
		json.RawMessage(` [1, 2] `), json.Number("12"), struct {
			A *int `json:"a,omitempty"`
			B any
		}{}, nil}
	data, _, err := EncodeArgs(vals...)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(vals); err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSuffix(buf.String(), "\n"); string(data) != want {
		t.Fatalf("got  %s\nwant %s", data, want)
	}
}
