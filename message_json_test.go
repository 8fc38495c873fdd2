package messaging

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/symbia-labs/messaging-go/internal/jsonscan"
)

// plainMessage is Message as encoding/json sees it without the method: the
// reference every decoding of Message is compared with.
type plainMessage Message

// decodePlain is json.Unmarshal into m as if Message had no UnmarshalJSON.
func decodePlain(b []byte, m *Message) error {
	type Message plainMessage // encoding/json names the struct in its errors
	return json.Unmarshal(b, (*Message)(m))
}

// rowSeeds are message rows: the real service's (docs/PROTOCOL.md), and
// variations on them, first those the fast path reads (fastRows of them),
// then those it leaves to encoding/json.
var rowSeeds = []string{
	benchRow,
	observedMessage,
	observedControl,
	// message:edit ack row: updated_at set.
	`{"id":"ab3bdbd3-362c-4a18-afde-5430a68075d4","conversation_id":"e0eed82d-ec4f-4818-9be1-9f1402a7f089","sender_id":"11111111-1111-4111-8111-111111111111","sender_type":"user","content":"edited","content_type":"text","reply_to":null,"org_id":null,"run_id":null,"trace_id":null,"sequence":1,"priority":"normal","interruptible":true,"preempted_by":null,"metadata":{},"created_at":"2026-11-21T22:29:04.545Z","updated_at":"2026-11-21T22:29:06.544Z","deleted_at":null}`,
	// Every field set, times with offsets.
	`{"id":"a","conversation_id":"c","sender_id":"s","sender_type":"bot","content":"x","content_type":"event","reply_to":"r","org_id":"o","run_id":"u","trace_id":"t","sequence":-9223372036854775808,"priority":"critical","interruptible":false,"preempted_by":"p","metadata":{"a":[1,2.5,"x",null,true,{}]},"created_at":"2026-11-21T22:29:04.545+02:00","updated_at":"2026-11-21T23:29:04Z","deleted_at":"2026-11-21T22:29:04.123456789-07:30"}`,
	// Escapes and Unicode.
	`{"id":"x","content":"line\nbreak \"quoted\" \\ \/ \b\f\r\t \u00e9\u20ac \uD83D\uDE00 \uD83D alone \uDE00 \u0000","sender_type":"\u0075ser"}`,
	"{\"id\":\"x\",\"content\":\"caf\xc3\xa9 \xff\xfe invalid \xed\xa0\x80 surrogate \xef\xbf\xbd\"}",
	// Whitespace everywhere.
	" \t\r\n{ \"id\" : \"x\" , \"sequence\" : 3 , \"metadata\" : { } , \"interruptible\" : true } \n",
	`{}`, `{ }`, `{"sequence":-0}`,
	// Nulls into every kind of field.
	`{"id":null,"sequence":null,"interruptible":null,"metadata":null,"created_at":null,"updated_at":null,"deleted_at":null}`,
	// Unknown keys, skipped.
	`{"id":"x","participants":[{"a":1}],"extra":{"b":[null,"}"]},"n":1.5e3,"t":true}`,
	// fastRows ends here.
	// Declined: duplicates, case variants, escaped keys.
	`{"id":"a","id":"b"}`,
	`{"metadata":{"a":1},"metadata":{"b":2}}`,
	`{"ID":"x","Conversation_ID":"c","SEQUENCE":2}`,
	`{"Id":"x","id":"y"}`,
	`{"id":"x","ſequence":5}`,  // ſ folds to S
	`{"\u0069d":"x"}`,          // an escaped key
	"{\"i\xffd\":\"x\"}",       // invalid UTF-8 in a key
	"{\"\u212aontent\":\"x\"}", // a Kelvin sign, which folds to k: no field, declined all the same
	`{"deleted_At":"2026-11-21T22:29:04.545Z","created_AT":null}`,
	// Declined: numbers and types encoding/json refuses or reads otherwise.
	`{"sequence":1.0}`, `{"sequence":1e2}`, `{"sequence":9223372036854775808}`, `{"sequence":"1"}`,
	`{"interruptible":"true"}`, `{"interruptible":1}`, `{"id":1}`, `{"id":true}`, `{"id":{}}`, `{"id":[]}`,
	`{"metadata":[]}`, `{"metadata":"x"}`, `{"metadata":1}`, `{"metadata":{"a":}}`,
	`{"created_at":"yesterday"}`, `{"created_at":1}`, `{"updated_at":"2026-11-21"}`, `{"updated_at":true}`,
	`{"created_at":"2026-11-21T22:29:04.545\u005a"}`, `{"deleted_at":"2026-11-21T22:29:04.545Z "}`,
	// Declined: invalid JSON and what is not an object.
	`{"id":"x"`, `{"id":"x",}`, `{"id":"x"}}`, `{"id":"x"} {}`, `{"id" "x"}`, `{id:"x"}`, `{"id":"x\q"}`, "{\"id\":\"a\nb\"}",
	`{"unknown":[1,}`, `{"unknown":tru}`, `{"sequence":01}`, `{"sequence":-}`,
	``, ` `, `null`, `[]`, `[{"id":"x"}]`, `"id"`, `1`, `true`, `{`, `}`,
}

func TestMessageUnmarshalMatchesEncodingJSON(t *testing.T) {
	for _, in := range rowSeeds {
		checkMessageDecoding(t, []byte(in), 0)
		checkMessageDecoding(t, []byte(in), 1)
	}
}

// FuzzMessageUnmarshal: Message.UnmarshalJSON decodes every input exactly
// as encoding/json would without the method: the same Message (also after
// an error, which may leave it partly filled), the same error text. preset
// odd starts from a Message that already holds values.
func FuzzMessageUnmarshal(f *testing.F) {
	for _, s := range rowSeeds {
		f.Add([]byte(s), uint8(0))
	}
	f.Add([]byte(benchRow), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, preset uint8) {
		checkMessageDecoding(t, in, preset)
	})
}

// presetMessage returns a fresh Message with values in every kind of field
// (fresh: decoding writes into its map and time pointers).
func presetMessage() Message {
	u := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	return Message{ID: "old", Content: "kept", Sequence: 7, Interruptible: true, Metadata: map[string]any{"old": "v"}, UpdatedAt: &u}
}

func checkMessageDecoding(t *testing.T, in []byte, preset uint8) {
	t.Helper()
	var want, got, viaJSON Message
	if preset%2 == 1 {
		want, got, viaJSON = presetMessage(), presetMessage(), presetMessage()
	}
	wantErr := decodePlain(in, &want)
	gotErr := got.UnmarshalJSON(in)
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("UnmarshalJSON(%q): error %v, encoding/json: %v", in, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("UnmarshalJSON(%q):\n got %#v\nwant %#v", in, got, want)
	}
	// Through encoding/json, which validates, then calls the method.
	jsonErr := json.Unmarshal(in, &viaJSON)
	if (jsonErr == nil) != (wantErr == nil) || jsonErr != nil && jsonErr.Error() != wantErr.Error() {
		t.Fatalf("json.Unmarshal(%q): error %v, without the method: %v", in, jsonErr, wantErr)
	}
	if !reflect.DeepEqual(viaJSON, want) {
		t.Fatalf("json.Unmarshal(%q):\n got %#v\nwant %#v", in, viaJSON, want)
	}
	// The dispatcher's decoding of message:new, against decodeObject's
	// (which message:new used before).
	if preset%2 == 0 {
		var ev, obj Message
		evErr := decodeMessage(in, &ev)
		objErr := wantObject(in)
		if objErr == nil {
			objErr = decodePlain(in, &obj)
		}
		if (evErr == nil) != (objErr == nil) || evErr != nil && evErr.Error() != objErr.Error() || !reflect.DeepEqual(ev, obj) {
			t.Fatalf("decodeMessage(%q) = %v, %#v\ndecodeObject: %v, %#v", in, evErr, ev, objErr, obj)
		}
	}
}

// TestMessageFastPath pins which inputs the fast path reads itself, so that
// a change that makes it decline everything (still correct, through the
// fallback) does not pass unnoticed.
func TestMessageFastPath(t *testing.T) {
	fastRows := 13
	if rowSeeds[fastRows] != `{"id":"a","id":"b"}` {
		t.Fatalf("rowSeeds changed: update fastRows (%d is %q)", fastRows, rowSeeds[fastRows])
	}
	for k, in := range rowSeeds {
		b := []byte(in)
		var m Message
		end, ok := m.readRow(b, jsonscan.SkipSpace(b, 0), 0)
		if reads := ok && jsonscan.SkipSpace(b, end) == len(b); reads != (k < fastRows) {
			t.Errorf("the fast path reads %q: %v, want %v", in, reads, k < fastRows)
		}
	}
	// A Message that holds values goes to encoding/json, which merges.
	m := presetMessage()
	if err := m.UnmarshalJSON([]byte(`{"id":"new","metadata":{"a":"b"}}`)); err != nil {
		t.Fatal(err)
	}
	if m.ID != "new" || m.Content != "kept" || m.Sequence != 7 || len(m.Metadata) != 2 || m.UpdatedAt == nil {
		t.Errorf("decoding into a filled Message: %+v", m)
	}
}

// TestMessageUnmarshalValues checks a few results by value, as a user sees
// them, beside the comparison with encoding/json.
func TestMessageUnmarshalValues(t *testing.T) {
	var m Message
	if err := m.UnmarshalJSON([]byte(benchRow)); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 11, 21, 22, 29, 4, 545e6, time.UTC)
	if m.ID != "ab3bdbd3-362c-4a18-afde-5430a68075d4" || m.SenderType != SenderUser || m.Sequence != 1 ||
		!m.Interruptible || m.Priority != PriorityNormal || !m.CreatedAt.Equal(created) || m.UpdatedAt != nil ||
		m.Metadata == nil || len(m.Metadata) != 0 || m.ReplyTo != "" {
		t.Errorf("benchRow decoded as %+v", m)
	}
	var c Message
	if err := c.UnmarshalJSON([]byte(observedControl)); err != nil {
		t.Fatal(err)
	}
	if ctl, _ := c.Metadata["control"].(map[string]any); ctl["event"] != "stream.pause" || !c.IsControl() {
		t.Errorf("control row decoded as %+v", c)
	}
	var e Message
	if err := e.UnmarshalJSON([]byte(`{"content":"a\nb \uD83D\uDE00 \uDE00"}`)); err != nil || e.Content != "a\nb 😀 \uFFFD" {
		t.Errorf("escapes: %q, %v", e.Content, err)
	}
	// encoding/json's error text names the struct and field, as before
	// Message had a method.
	var bad Message
	err := bad.UnmarshalJSON([]byte(`{"id":"x","sequence":"1"}`))
	if err == nil || !strings.Contains(err.Error(), "Go struct field Message.sequence of type int64") || bad.ID != "x" {
		t.Errorf("type error: %v (id %q)", err, bad.ID)
	}
}

// TestMessageFieldsCovered fails when Message gains a field the fast path
// does not know: isZero and readField must both learn it.
func TestMessageFieldsCovered(t *testing.T) {
	typ := reflect.TypeFor[Message]()
	if typ.NumField() != rowFields {
		t.Fatalf("Message has %d fields, the fast path knows %d", typ.NumField(), rowFields)
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if rowField([]byte(name)) < 0 {
			t.Errorf("field %s (%q) unknown to rowField", f.Name, name)
		}
		var m Message
		v := reflect.ValueOf(&m).Elem().Field(i)
		switch v.Kind() {
		case reflect.String:
			v.SetString("x")
		case reflect.Int64:
			v.SetInt(1)
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Map:
			v.Set(reflect.MakeMap(v.Type()))
		case reflect.Pointer:
			v.Set(reflect.New(v.Type().Elem()))
		case reflect.Struct:
			v.Set(reflect.ValueOf(time.Unix(0, 0).In(time.UTC)))
		default:
			t.Fatalf("field %s: kind %v not handled by this test", f.Name, v.Kind())
		}
		if m.isZero() {
			t.Errorf("isZero is true with %s set", f.Name)
		}
	}
	var zero Message
	if !zero.isZero() {
		t.Error("isZero is false for the zero Message")
	}
}

// TestMessageMarshalUnchanged: Message only gained a decoder; encoding is
// encoding/json's, field for field.
func TestMessageMarshalUnchanged(t *testing.T) {
	if _, ok := any(Message{}).(json.Marshaler); ok {
		t.Fatal("Message implements json.Marshaler")
	}
	if _, ok := any(&Message{}).(json.Marshaler); ok {
		t.Fatal("*Message implements json.Marshaler")
	}
	for _, in := range rowSeeds[:7] {
		var m Message
		if err := m.UnmarshalJSON([]byte(in)); err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(plainMessage(m))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("json.Marshal changed:\n%s\n%s", got, want)
		}
		var back Message
		if err := back.UnmarshalJSON(got); err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(back)
		if string(again) != string(got) {
			t.Fatalf("round trip:\n%s\n%s", got, again)
		}
	}
}

// TestMessageUnmarshalDepth: encoding/json refuses input nested deeper
// than 10,000 arrays and objects, counting from the top: a value the fast
// path skips, or metadata it hands to encoding/json on its own, must be
// counted from the row's top too.
func TestMessageUnmarshalDepth(t *testing.T) {
	nested := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, n := range []int{9998, 9999, 10000} {
		for _, in := range []string{
			`{"id":"x","extra":` + nested(n) + `}`,
			`{"id":"x","metadata":{"a":` + nested(n) + `}}`,
			`{"id":"x","metadata":{"a":` + nested(n-1) + `}}`,
		} {
			checkMessageDecoding(t, []byte(in), 0)
		}
	}
	var m Message
	if err := m.UnmarshalJSON([]byte(`{"id":"x","extra":` + nested(10000) + `}`)); err == nil {
		t.Error("10,001 levels accepted")
	}
	if err := m.UnmarshalJSON([]byte(`{"id":"x","extra":` + nested(9999) + `}`)); err != nil || m.ID != "x" {
		t.Errorf("10,000 levels: %v", err)
	}
}
