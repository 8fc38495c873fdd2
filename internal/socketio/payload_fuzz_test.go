package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzPayloadValidation: the decoder refuses a payload as invalid exactly
// when json.Valid does, for every packet type, and splits an array payload
// into the elements encoding/json finds.
func FuzzPayloadValidation(f *testing.F) {
	for _, s := range wireSeeds {
		if i := strings.IndexAny(s, "[{\""); i >= 0 {
			f.Add(s[i:])
		}
	}
	for _, s := range []string{`["a",]`, `["a" "b"]`, `["a",{"b":[1,2}]`, `["\u12"]`, "[\"\x01\"]", `[01]`, `["a"]x`, `[] []`, `{"a":1}}`, `"x`, `[[[]]]`, ` ["a", 1 ] `} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		if payload == "" || payload[0] == '/' || isDigit(payload[0]) {
			return // not a payload: a namespace or an ack id
		}
		valid := json.Valid([]byte(payload))
		for _, typ := range []string{"0", "2", "3", "4", "51-", "61-"} {
			p, _, err := ParseText([]byte(typ + payload))
			invalid := err != nil && strings.HasSuffix(err.Error(), "invalid payload")
			if invalid == valid {
				t.Fatalf("ParseText(%q): %v; json.Valid(payload) = %v", typ+payload, err, valid)
			}
			if err != nil && !errors.Is(err, ErrParse) {
				t.Fatalf("ParseText(%q): %v does not match ErrParse", typ+payload, err)
			}
			if err != nil || (typ != "2" && typ != "3") {
				continue
			}
			args, err := p.Args()
			var want []json.RawMessage
			if jerr := json.Unmarshal([]byte(payload), &want); err != nil || jerr != nil || len(args) != len(want) {
				t.Fatalf("ParseText(%q).Args() = %q, %v; encoding/json: %q, %v", typ+payload, args, err, want, jerr)
			}
			for i := range args {
				if !bytes.Equal(args[i], want[i]) {
					t.Fatalf("ParseText(%q).Args()[%d] = %q, want %q", typ+payload, i, args[i], want[i])
				}
			}
		}
	})
}
