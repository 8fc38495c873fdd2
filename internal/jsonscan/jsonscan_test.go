package jsonscan

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// validCases are inputs whose validity json.Valid decides; each test
// compares with it rather than with a hand-written answer, and a few
// answers are pinned below so that the comparison cannot be vacuous.
var validCases = []string{
	``, ` `, `{}`, `[]`, ` { } `, `[ ]`, `{"a":1}`, `{"a" : [1, 2.5e-3, -0, true, false, null, "x"]}`,
	`{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a"}`, `{"a":}`, `{:1}`, `{1:1}`, `[1 2]`, `{"a":1 "b":2}`,
	`[}`, `{]`, `[[]`, `[]]`, `{}}`, `{}{}`, `[] []`, `1 2`, `"a" "b"`,
	`0`, `-0`, `01`, `-01`, `1.`, `.5`, `1.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`, `-`, `+1`, `1.5e3.2`, `0x10`, `- 1`,
	`123456789012345678901234567890`, `1e999999`,
	`true`, `false`, `null`, `tru`, `nul`, `True`, `NULL`, `truex`, `true1`, `nullnull`,
	`""`, `"a"`, `"\""`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\u0041"`, `"\u00e9"`, `"\uD83D\uDE00"`, `"\uDE00"`,
	`"\u12"`, `"\u12G4"`, `"\x"`, `"\'"`, `"\`, `"abc`, `"a"b"`, "\"\x00\"", "\"\x1f\"", "\"\x7f\"", "\"\t\"",
	"\"\xff\"", "\"\xc3\xa9\"", "\"\xed\xa0\x80\"", "\xef\xbb\xbf{}", "{}\x00", "\u00a0{}", "{}\f",
	"\t\r\n[\t\r\n1\t\r\n,\t\r\n2\t\r\n]\t\r\n",
	`[{"a":[{"b":{"c":[]}}]}]`, `{"a":{"b":{"c":{}}}`, `[[[[[[[[[[]]]]]]]]]]`,
	`{"a":1,"a":2}`, `{"":""}`,
}

func TestValidMatchesEncodingJSON(t *testing.T) {
	for _, in := range validCases {
		if got, want := Valid([]byte(in)), json.Valid([]byte(in)); got != want {
			t.Errorf("Valid(%q) = %v, json.Valid says %v", in, got, want)
		}
	}
	// Pinned answers, in case json.Valid were ever wrong in the same way.
	for in, want := range map[string]bool{`{"a":[1,2]}`: true, `[1,]`: false, `01`: false, `"\uD83D"`: true, "\"\x01\"": false} {
		if got := Valid([]byte(in)); got != want {
			t.Errorf("Valid(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestValidDepth: encoding/json accepts MaxDepth nested containers and
// refuses one more; deep input must not exhaust the stack.
func TestValidDepth(t *testing.T) {
	// nested returns n levels of containers around 1: arrays, objects, or
	// both in turn.
	nested := func(n int, shape string) []byte {
		var open, closing []byte
		for i := 0; i < n; i++ {
			if shape == "array" || shape == "mixed" && i%2 == 0 {
				open = append(open, '[')
				closing = append(closing, ']')
			} else {
				open = append(open, `{"k":`...)
				closing = append(closing, '}')
			}
		}
		slices.Reverse(closing)
		return append(append(open, '1'), closing...)
	}
	for _, n := range []int{63, 64, 65, 256, 257, MaxDepth - 1, MaxDepth, MaxDepth + 1, 5 * MaxDepth} {
		for _, shape := range []string{"array", "object", "mixed"} {
			in := nested(n, shape)
			want := json.Valid(in)
			if want != (n <= MaxDepth) {
				t.Fatalf("%d levels (%s): json.Valid = %v; its limit moved", n, shape, want)
			}
			if got := Valid(in); got != want {
				t.Errorf("%d levels (%s): Valid = %v, json.Valid = %v", n, shape, got, want)
			}
			// As an array element, it has one level less to use.
			arr := append(append([]byte("["), in...), ']')
			if _, ok := SplitArray(nil, arr); ok != (n < MaxDepth) {
				t.Errorf("SplitArray of %d+1 levels (%s): %v", n, shape, ok)
			}
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, s := range validCases {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want := json.Valid(in)
		if got := Valid(in); got != want {
			t.Fatalf("Valid(%q) = %v, json.Valid says %v", in, got, want)
		}
		// Skip from any value start agrees with Valid on the rest.
		i := SkipSpace(in, 0)
		if end, ok := Skip(in, i, 0); ok && SkipSpace(in, end) == len(in) != want {
			t.Fatalf("Skip(%q) = %d, %v; json.Valid says %v", in, end, ok, want)
		}
	})
}

// unquoteCases: string literals (quotes included) and what json.Unmarshal
// into a string gives for each.
var unquoteCases = []struct{ lit, want string }{
	{`""`, ""},
	{`"plain ascii"`, "plain ascii"},
	{`"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t"},
	{`"\u0000\u001f\u0041\u00e9\u20AC\uFFFD"`, "\x00\x1fAé€\uFFFD"},
	{`"\uD83D\uDE00"`, "😀"},            // a pair
	{`"\ud83d\ude00x"`, "😀x"},          // lower-case hex
	{`"\uD83D"`, "\uFFFD"},             // lone high
	{`"\uDE00"`, "\uFFFD"},             // lone low
	{`"\uDE00\uD83D"`, "\uFFFD\uFFFD"}, // reversed
	{`"\uD83D\uD83D\uDE00"`, "\uFFFD😀"},
	{`"\uD83Dx\uDE00"`, "\uFFFDx\uFFFD"},
	{`"\uD83D\n"`, "\uFFFD\n"},
	{`"\uD83D\u0041"`, "\uFFFDA"},
	{"\"caf\xc3\xa9\"", "café"},
	{"\"\xff\xfe\"", "\uFFFD\uFFFD"},
	{"\"\xed\xa0\x80\"", "\uFFFD\uFFFD\uFFFD"}, // a surrogate in UTF-8
	{"\"\xc0\xaf\"", "\uFFFD\uFFFD"},           // overlong
	{"\"\xe2\x82\"", "\uFFFD\uFFFD"},           // truncated
	{"\"\xef\xbf\xbd\"", "\uFFFD"},             // U+FFFD itself
	{"\"a\xffb\\n\xc3\xa9\"", "a\uFFFDb\né"},
	{"\"\x7f\"", "\x7f"},
}

func TestUnquote(t *testing.T) {
	for _, c := range unquoteCases {
		var viaJSON string
		if err := json.Unmarshal([]byte(c.lit), &viaJSON); err != nil {
			t.Fatalf("json.Unmarshal(%q): %v", c.lit, err)
		}
		if viaJSON != c.want {
			t.Fatalf("json.Unmarshal(%q) = %q; the table says %q", c.lit, viaJSON, c.want)
		}
		s, end, ok := String([]byte(c.lit), 0)
		if !ok || end != len(c.lit) || s != c.want {
			t.Errorf("String(%q) = %q, %d, %v; want %q", c.lit, s, end, ok, c.want)
		}
	}
}

func TestScanStringRefuses(t *testing.T) {
	for _, lit := range []string{`"`, `"abc`, `"\`, `"\"`, `"\x"`, `"\u12"`, `"\u12G4"`, `"\'"`, "\"\x00\"", "\"a\nb\"", "\"\x1f\""} {
		if end, _, ok := ScanString([]byte(lit), 0); ok {
			t.Errorf("ScanString(%q) accepted it (end %d)", lit, end)
		}
	}
}

func TestScanStringVerbatim(t *testing.T) {
	for lit, want := range map[string]bool{
		`"abc"`: true, "\"caf\xc3\xa9\"": true, `"a\nb"`: false, "\"\xff\"": false, `"\u0041"`: false, `""`: true,
	} {
		end, verbatim, ok := ScanString([]byte(lit), 0)
		if !ok || end != len(lit) || verbatim != want {
			t.Errorf("ScanString(%q) = %d, verbatim %v, %v; want verbatim %v", lit, end, verbatim, ok, want)
		}
	}
}

// TestScanStringEveryPosition puts each kind of byte the word-at-a-time
// scan must stop at (or must not) at every position of the first words,
// beside bytes that could fool it (0x20, 0x7f, 0x80, 0xff, and bytes one
// off from the quote and the backslash).
func TestScanStringEveryPosition(t *testing.T) {
	for _, special := range []string{`"`, `\`, `\n`, `\u00e9`, "\x00", "\x1f", "\x0a", "\x80", "\xff", "\xc3\xa9", " ", "\x7f", "!", "#", "[", "]"} {
		for _, filler := range []byte{'a', ' ', 0x7f, 0x21, 0x23, 0x5b, 0x5d, 0xc3} {
			for pos := 0; pos < 20; pos++ {
				body := append(bytes.Repeat([]byte{filler}, pos), special...)
				body = append(body, bytes.Repeat([]byte{filler}, 20-pos)...)
				lit := append(append([]byte(`"`), body...), '"')
				end, _, ok := ScanString(lit, 0)
				if whole := ok && end == len(lit); whole != json.Valid(lit) {
					t.Fatalf("ScanString(%q) = %d, %v; json.Valid says %v", lit, end, ok, json.Valid(lit))
				}
				if !ok {
					continue
				}
				var want string
				if err := json.Unmarshal(lit[:end], &want); err != nil {
					t.Fatal(err)
				}
				if got, _, _ := String(lit, 0); got != want {
					t.Fatalf("String(%q) = %q, want %q", lit, got, want)
				}
			}
		}
	}
}

func FuzzString(f *testing.F) {
	for _, c := range unquoteCases {
		f.Add(c.lit[1 : len(c.lit)-1])
	}
	f.Add(`\u`)
	f.Add(`\uD800\u`)
	f.Fuzz(func(t *testing.T, body string) {
		lit := []byte(`"` + body + `"`)
		end, verbatim, ok := ScanString(lit, 0)
		if whole := ok && end == len(lit); whole != json.Valid(lit) {
			t.Fatalf("ScanString(%q) = %d, %v; json.Valid says %v", lit, end, ok, json.Valid(lit))
		}
		if !ok {
			return
		}
		lit = lit[:end] // a quote in body ends the literal early
		var want string
		if err := json.Unmarshal(lit, &want); err != nil {
			t.Fatalf("json.Unmarshal(%q): %v", lit, err)
		}
		got, _, _ := String(lit, 0)
		if got != want {
			t.Fatalf("String(%q) = %q, json.Unmarshal gives %q", lit, got, want)
		}
		if verbatim && string(lit[1:len(lit)-1]) != want {
			t.Fatalf("ScanString(%q) says verbatim, but the value is %q", lit, want)
		}
		if u := AppendUnquote([]byte("prefix"), lit); string(u) != "prefix"+want {
			t.Fatalf("AppendUnquote kept no prefix: %q", u)
		}
	})
}

func FuzzSplitArray(f *testing.F) {
	for _, s := range validCases {
		f.Add([]byte(s))
	}
	f.Add([]byte(`["message:new",{"id":"x","a":[1,{"b":"]"}]},"\"]",  2 ,null]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, ok := SplitArray(nil, in)
		var want []json.RawMessage
		wantOK := json.Valid(in) && bytes.TrimLeft(in, " \t\r\n")[0] == '['
		if wantOK {
			if err := json.Unmarshal(in, &want); err != nil {
				t.Fatalf("json.Unmarshal(%q) into []json.RawMessage: %v", in, err)
			}
		}
		if ok != wantOK {
			t.Fatalf("SplitArray(%q) = %v, json.Unmarshal into []json.RawMessage: %v", in, ok, wantOK)
		}
		if !ok {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("SplitArray(%q): %d elements, want %d", in, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) || cap(got[i]) != len(got[i]) {
				t.Fatalf("SplitArray(%q)[%d] = %q (cap %d), want %q", in, i, got[i], cap(got[i]), want[i])
			}
		}
	})
}

func TestSplitArray(t *testing.T) {
	in := []byte(` [ "a" , {"b":[1,"]"]} ,2,[] ] `)
	got, ok := SplitArray(nil, in)
	want := []string{`"a"`, `{"b":[1,"]"]}`, `2`, `[]`}
	if !ok || len(got) != len(want) {
		t.Fatalf("SplitArray = %q, %v", got, ok)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("element %d = %q, want %q", i, got[i], want[i])
		}
	}
	_ = append(got[0], "XX"...)
	if string(in) != ` [ "a" , {"b":[1,"]"]} ,2,[] ] ` {
		t.Errorf("appending to an element overwrote the input: %q", in)
	}
	for _, bad := range []string{`{}`, `"[]"`, `[1,]`, `[1] x`, ``, `[`} {
		if _, ok := SplitArray(nil, []byte(bad)); ok {
			t.Errorf("SplitArray(%q) accepted it", bad)
		}
	}
	if got, ok := SplitArray(nil, []byte(" [ ] ")); !ok || len(got) != 0 {
		t.Errorf("SplitArray([ ]) = %q, %v", got, ok)
	}
}

func TestInt64(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"-0", 0, true}, {"7", 7, true}, {"-42", -42, true},
		{"9223372036854775807", 1<<63 - 1, true}, {"-9223372036854775808", -1 << 63, true},
		{"9223372036854775808", 0, false}, {"-9223372036854775809", 0, false}, {"99999999999999999999", 0, false},
		{"1.0", 0, false}, {"1e3", 0, false}, {"1E3", 0, false}, {"01", 0, false}, {"-", 0, false}, {"", 0, false}, {"x", 0, false},
	} {
		v, end, ok := Int64([]byte(c.in), 0)
		if ok != c.ok || ok && (v != c.want || end != len(c.in)) {
			t.Errorf("Int64(%q) = %d, %d, %v; want %d, %v", c.in, v, end, ok, c.want, c.ok)
		}
	}
	// Delimiters end the number.
	if v, end, ok := Int64([]byte("12,"), 0); !ok || v != 12 || end != 2 {
		t.Errorf("Int64(12,) = %d, %d, %v", v, end, ok)
	}
}

func FuzzInt64(f *testing.F) {
	for _, s := range []string{"0", "-0", "1", "-1", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "1.5", "1e2", "00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		v, end, ok := Int64([]byte(in), 0)
		var want int64
		err := json.Unmarshal([]byte(in), &want)
		if ok && end == len(in) {
			if err != nil || v != want {
				t.Fatalf("Int64(%q) = %d; json.Unmarshal: %d, %v", in, v, want, err)
			}
		} else if err == nil && strings.TrimSpace(in) == in && in != "null" {
			t.Fatalf("Int64(%q) refused (end %d) what json.Unmarshal reads as %d", in, end, want)
		}
	})
}

// benchRow is a message row as the service sends it (docs/PROTOCOL.md).
const benchRow = `{"id":"ab3bdbd3-362c-4a18-afde-5430a68075d4","conversation_id":"e0eed82d-ec4f-4818-9be1-9f1402a7f089","sender_id":"11111111-1111-4111-8111-111111111111","sender_type":"user","content":"Hello from the benchmark: a chat message of ordinary length, about one hundred bytes.","content_type":"text","reply_to":null,"org_id":null,"run_id":null,"trace_id":null,"sequence":1,"priority":"normal","interruptible":true,"preempted_by":null,"metadata":{},"created_at":"2026-11-21T22:29:04.545Z","updated_at":null,"deleted_at":null}`

// BenchmarkValid and BenchmarkValidEncodingJSON: validating a message row,
// here and with json.Valid.
func BenchmarkValid(b *testing.B) {
	row := []byte(benchRow)
	b.SetBytes(int64(len(row)))
	for b.Loop() {
		if !Valid(row) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkValidEncodingJSON(b *testing.B) {
	row := []byte(benchRow)
	b.SetBytes(int64(len(row)))
	for b.Loop() {
		if !json.Valid(row) {
			b.Fatal("invalid")
		}
	}
}
