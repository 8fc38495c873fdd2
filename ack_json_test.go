package messaging

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// ackSeeds are acknowledgements as the service sends them (docs/PROTOCOL.md),
// and variations that the one-pass reading must leave to the generic path.
var ackSeeds = []string{
	`{"success":true,"message":` + benchRow + `}`,
	`{"success":true,"message":` + observedMessage + `}`,
	`{"success":true,"control":` + observedControl + `}`,
	`{"success":true}`,
	`{"success":false,"error":"Not a participant"}`,
	`{"success":false,"message":"Failed"}`,
	` {"error":"","success":true,"message":` + benchRow + `,"control":null} `,
	`{"message":` + benchRow + `,"success":true,"extra":[1,{"a":"}"}]}`,
	// Left to the generic path.
	`{"success":true,"message":` + benchRow + `,"message":` + observedMessage + `}`,
	`{"success":true,"success":true,"message":` + benchRow + `}`,
	`{"Success":true,"message":` + benchRow + `}`,
	`{"success":true,"Message":` + benchRow + `}`,
	`{"success":true,"CONTROL":` + observedControl + `}`,
	`{"success":true,"message":` + benchRow + `,"MESSAGE":` + observedMessage + `}`,
	`{"success":true,"SUCCESS":false,"message":` + benchRow + `}`,
	`{"success":true,"\u006dessage":` + benchRow + `}`,
	`{"success":true,"meſsage":` + benchRow + `}`,
	`{"success":"true","message":` + benchRow + `}`,
	`{"success":1}`, `{"success":null}`, `{}`, `{"message":` + benchRow + `}`,
	`{"success":true,"message":"row"}`, `{"success":true,"message":[]}`, `{"success":true,"message":null}`,
	`{"success":true,"message":{"id":"x","sequence":"1"}}`,
	`{"success":true,"message":{"id":"x","ID":"y"}}`,
	`{"success":true,"message":{"content":"no id"}}`,
	`{"success":true,"message":{"id":"x"},}`, `{"success":true} x`, `{"success":true`, `[{"success":true}]`,
	`"ok"`, `null`, ``, `{"success":tru}`,
}

// FuzzDecodeAck: decodeAck (one pass when it can) agrees with
// decodeAckGeneric on every input: the same error, and the same rows with
// the same errors.
func FuzzDecodeAck(f *testing.F) {
	for _, s := range ackSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkAckDecoding(t, in)
	})
}

func TestDecodeAckMatchesGeneric(t *testing.T) {
	for _, in := range ackSeeds {
		checkAckDecoding(t, []byte(in))
	}
}

func checkAckDecoding(t *testing.T, in []byte) {
	t.Helper()
	args := []json.RawMessage{in}
	got, gotErr := decodeAck(EventMessageSend, args)
	want, wantErr := decodeAckGeneric(EventMessageSend, args)
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("decodeAck(%q): %v; generic: %v", in, gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	for _, control := range []bool{false, true} {
		m1, err1 := got.row(EventMessageSend, control)
		m2, err2 := want.row(EventMessageSend, control)
		if (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() {
			t.Fatalf("decodeAck(%q) row (control %v): %v; generic: %v", in, control, err1, err2)
		}
		if !reflect.DeepEqual(m1, m2) {
			t.Fatalf("decodeAck(%q) row (control %v):\n got %#v\nwant %#v", in, control, m1, m2)
		}
	}
}

// TestReadSuccessAck pins which acks are read in one pass.
func TestReadSuccessAck(t *testing.T) {
	for _, in := range ackSeeds[:8] {
		body, ok := readSuccessAck(json.RawMessage(in))
		if wantOK := in != ackSeeds[4] && in != ackSeeds[5]; ok != wantOK {
			t.Errorf("readSuccessAck(%q) = %v, want %v", in, ok, wantOK)
			continue
		}
		if ok && body.msg == nil && body.ctl == nil && in != `{"success":true}` {
			t.Errorf("readSuccessAck(%q): no rows", in)
		}
	}
	for _, in := range ackSeeds[8:] {
		if _, ok := readSuccessAck(json.RawMessage(in)); ok && in != `{"success":true,"message":null}` && in != `{"success":true,"message":{"content":"no id"}}` {
			t.Errorf("readSuccessAck(%q) read it; the generic path must", in)
		}
	}
	body, ok := readSuccessAck(json.RawMessage(ackSeeds[2]))
	if !ok || body.msg != nil || body.ctl == nil || body.ctl.ID != "b4705320-21b4-43b9-b4eb-8cece048fad4" || !body.ctl.IsControl() {
		t.Errorf("control ack: %v %+v", ok, body)
	}
}

// TestDecodeAckDepth: the rows of an ack sit two levels down, which
// encoding/json's nesting limit counts.
func TestDecodeAckDepth(t *testing.T) {
	nested := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, n := range []int{9997, 9998, 9999} {
		for _, in := range []string{
			`{"success":true,"message":{"id":"x","extra":` + nested(n) + `}}`,
			`{"success":true,"message":{"id":"x","metadata":{"a":` + nested(n-1) + `}}}`,
			`{"success":true,"extra":` + nested(n+1) + `,"message":{"id":"x"}}`,
		} {
			checkAckDecoding(t, []byte(in))
		}
	}
}
