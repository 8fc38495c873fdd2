package messagingtest

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The real service is JavaScript over Postgres: it reads request fields with
// JavaScript truthiness and hands them to node-postgres, which turns them
// into SQL parameters. The helpers below reproduce the parts of that which
// change an answer. A json.RawMessage of nil stands for undefined (the field
// was absent).

// fields is a decoded JSON object; an absent key reads as undefined.
type fields map[string]json.RawMessage

// get returns the raw value of key, nil when absent. A nil fields (a body
// that is not an object) has no keys.
func (f fields) get(key string) json.RawMessage { return f[key] }

// isNullish reports undefined or null (JavaScript's ??).
func isNullish(v json.RawMessage) bool { return v == nil || string(v) == "null" }

// truthy reports JavaScript truthiness of a JSON value.
func truthy(v json.RawMessage) bool {
	if isNullish(v) {
		return false
	}
	switch v[0] {
	case 'f':
		return false // false
	case '"':
		return string(v) != `""`
	case '{', '[', 't':
		return true
	}
	f, err := strconv.ParseFloat(string(v), 64)
	return err == nil && f != 0
}

// asString returns the value when it is a JSON string.
func asString(v json.RawMessage) (string, bool) {
	if len(v) == 0 || v[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// jsNumberString formats a JSON number as JavaScript's String(n) does, for
// the usual cases.
func jsNumberString(raw string) string {
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil {
		return raw
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	return strings.Replace(strings.Replace(s, "e+0", "e+", 1), "e-0", "e-", 1)
}

// textParam is what node-postgres sends for a value bound to a text
// parameter: (text, isNull, ok). ok is false for values it would encode in a
// form the column cannot take (arrays become Postgres array literals, which
// this server does not try to model).
func textParam(v json.RawMessage) (string, bool, bool) {
	if isNullish(v) {
		return "", true, true
	}
	switch v[0] {
	case '"':
		s, _ := asString(v)
		return s, false, true
	case 't':
		return "true", false, true
	case 'f':
		return "false", false, true
	case '{':
		return string(compactJSON(v)), false, true
	case '[':
		return "", false, false
	}
	return jsNumberString(string(v)), false, true
}

// orNull applies JavaScript's `v || null` and then textParam: every falsy
// value becomes SQL NULL.
func orNull(v json.RawMessage) (string, bool, bool) {
	if !truthy(v) {
		return "", true, true
	}
	return textParam(v)
}

// parseUUID accepts what Postgres's uuid input accepts in practice (the
// canonical form in any case, with or without braces, or 32 bare hex
// digits) and returns the canonical lower-case form.
func parseUUID(s string) (string, bool) {
	if len(s) == 38 && s[0] == '{' && s[37] == '}' {
		s = s[1:37]
	}
	var hex []byte
	switch len(s) {
	case 36:
		for i := 0; i < 36; i++ {
			c := s[i]
			if i == 8 || i == 13 || i == 18 || i == 23 {
				if c != '-' {
					return "", false
				}
				continue
			}
			hex = append(hex, c)
		}
	case 32:
		hex = []byte(s)
	default:
		return "", false
	}
	for i, c := range hex {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			hex[i] = c + ('a' - 'A')
		default:
			return "", false
		}
	}
	h := string(hex)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], true
}

// isCanonicalUUID is the service's route guard for :id and :userId: the
// hyphenated 36-character form, any case.
func isCanonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, ok := parseUUID(s)
	return ok
}

// boolParam reads a value bound to a Postgres boolean parameter, after `??
// true`. Postgres accepts t/true/y/yes/on/1 and f/false/n/no/off/0 (any
// case, unique prefixes); anything else is an error.
func boolParam(v json.RawMessage, def bool) (bool, bool) {
	if isNullish(v) {
		return def, true
	}
	switch string(v) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	s, _, ok := textParam(v)
	if !ok {
		return false, false
	}
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "":
		return false, false
	case s == "1", strings.HasPrefix("true", s), strings.HasPrefix("yes", s), s == "on":
		return true, true
	case s == "0", strings.HasPrefix("false", s), strings.HasPrefix("no", s), len(s) >= 2 && strings.HasPrefix("off", s):
		return false, true
	}
	return false, false
}

// jsonbParam is the stored form of a value bound to a JSONB parameter after
// `v || {}`: objects are stored with their keys sorted (as the service's
// database returns them), falsy values become {}, strings are parsed as JSON
// text by the database (so "x" is an error), arrays are an error (node-postgres
// sends them as array literals).
func jsonbParam(v json.RawMessage) (json.RawMessage, bool) {
	if !truthy(v) {
		return json.RawMessage(`{}`), true
	}
	switch v[0] {
	case '[':
		return nil, false
	case '"':
		s, _ := asString(v)
		if !json.Valid([]byte(s)) {
			return nil, false
		}
		return normalizeJSON(json.RawMessage(s)), true
	}
	return normalizeJSON(v), true
}

// normalizeJSON re-encodes v with object keys sorted and numbers kept as
// written.
func normalizeJSON(v json.RawMessage) json.RawMessage {
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return compactJSON(v)
	}
	return marshal(x)
}

func compactJSON(v json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return v
	}
	return b.Bytes()
}

// marshal encodes v as JavaScript's JSON.stringify would: no HTML escaping.
func marshal(v any) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		panic("messagingtest: encoding a reply: " + err.Error())
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'})
}

// jsParseInt is parseInt(s, 10): leading white space, a sign, then digits;
// ok is false for NaN.
func jsParseInt(s string) (int64, bool) {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n == 0 {
		return 0, false
	}
	v, err := strconv.ParseInt(s[:n], 10, 64)
	if err != nil {
		v = math.MaxInt64
	}
	if neg {
		v = -v
	}
	return v, true
}

// jsDate parses s as JavaScript's new Date(s) does for the forms clients
// send: ISO 8601 (date-only is UTC; a date-time without an offset is local
// time, which is UTC on the service) and the HTTP date forms. ok is false
// for an Invalid Date.
func jsDate(s string) (time.Time, bool) {
	layouts := []string{
		"2006-01-02T15:04:05.999999999Z07:00",
		"2006-01-02T15:04Z07:00",
		"2006-01-02T15:04:05.999999999",
		"2006-01-02T15:04",
		"2006-01-02",
		"2006-01",
		"2006",
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC().Truncate(time.Millisecond), true
		}
	}
	if t, err := http.ParseTime(s); err == nil {
		return t.UTC(), true
	}
	return time.Time{}, false
}

// jsonSyntaxMessage imitates the message of the SyntaxError that Node's
// JSON.parse throws for body, which the service's error handler returns. err
// is the error of json.Unmarshal, or nil for a valid JSON value that is
// neither an object nor an array (the body parser's strict mode rejects its
// first character).
func jsonSyntaxMessage(body []byte, err error) string {
	offset := len(body) - len(bytes.TrimLeft(body, " \t\r\n"))
	if se, ok := err.(*json.SyntaxError); ok {
		if strings.Contains(se.Error(), "unexpected end") {
			return "Unexpected end of JSON input"
		}
		offset = int(se.Offset) - 1
	}
	if offset < 0 || offset >= len(body) {
		return "Unexpected end of JSON input"
	}
	r, _ := utf8.DecodeRune(body[offset:])
	if utf8.RuneCount(body) > 40 {
		lo, hi := max(offset-10, 0), min(offset+10, len(body))
		return "Unexpected token '" + string(r) + "', ...\"" + string(body[lo:hi]) + "\"... is not valid JSON"
	}
	return "Unexpected token '" + string(r) + "', \"" + string(body) + "\" is not valid JSON"
}
