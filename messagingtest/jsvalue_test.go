package messagingtest

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTruthy(t *testing.T) {
	for v, want := range map[string]bool{
		`null`: false, `false`: false, `0`: false, `-0`: false, `0.0`: false, `""`: false,
		`true`: true, `1`: true, `"0"`: true, `" "`: true, `{}`: true, `[]`: true, `-1e3`: true,
	} {
		assert.Equal(t, want, truthy(json.RawMessage(v)), v)
	}
	assert.False(t, truthy(nil))
}

func TestTextParam(t *testing.T) {
	for in, want := range map[string]string{
		`"x"`: "x", `5`: "5", `1.50`: "1.5", `1e21`: "1e+21", `true`: "true", `{"b":1, "a":2}`: `{"b":1,"a":2}`,
	} {
		got, null, ok := textParam(json.RawMessage(in))
		assert.True(t, ok, in)
		assert.False(t, null, in)
		assert.Equal(t, want, got, in)
	}
	_, null, ok := textParam(nil)
	assert.True(t, null && ok)
	_, _, ok = textParam(json.RawMessage(`[1]`))
	assert.False(t, ok)
	_, null, _ = orNull(json.RawMessage(`""`))
	assert.True(t, null, `"" || null is null`)
}

func TestParseUUID(t *testing.T) {
	const want = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
	for _, in := range []string{want, strings.ToUpper(want), "{" + want + "}", strings.ReplaceAll(want, "-", "")} {
		got, ok := parseUUID(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got)
	}
	for _, in := range []string{"", "run-123", want[:35], want + "0", "urn:uuid:" + want, "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"} {
		_, ok := parseUUID(in)
		assert.False(t, ok, in)
	}
	assert.True(t, isCanonicalUUID(strings.ToUpper(want)))
	assert.False(t, isCanonicalUUID(strings.ReplaceAll(want, "-", "")))
}

func TestBoolParam(t *testing.T) {
	for in, want := range map[string]bool{
		`true`: true, `false`: false, `"yes"`: true, `"t"`: true, `" TRUE "`: true, `"on"`: true,
		`"of"`: false, `"no"`: false, `"0"`: false, `1`: true, `0`: false, `"fals"`: false,
	} {
		got, ok := boolParam(json.RawMessage(in), true)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{`"o"`, `"maybe"`, `2`, `""`, `{}`} {
		_, ok := boolParam(json.RawMessage(in), true)
		assert.False(t, ok, in)
	}
	v, ok := boolParam(json.RawMessage(`null`), true)
	assert.True(t, v && ok)
}

func TestJSONBParam(t *testing.T) {
	for in, want := range map[string]string{
		`{"b":{"d":1,"c":2},"a":1.50}`: `{"a":1.50,"b":{"c":2,"d":1}}`,
		`null`:                         `{}`, `false`: `{}`, `""`: `{}`, `0`: `{}`,
		`"[1,2]"`: `[1,2]`, `5`: `5`, `true`: `true`,
	} {
		got, ok := jsonbParam(json.RawMessage(in))
		assert.True(t, ok, in)
		assert.Equal(t, want, string(got), in)
	}
	for _, in := range []string{`[1]`, `"x"`} {
		_, ok := jsonbParam(json.RawMessage(in))
		assert.False(t, ok, in)
	}
	got, ok := jsonbValue(json.RawMessage(`null`))
	assert.True(t, ok)
	assert.Equal(t, "null", string(got))
}

func TestJSParseInt(t *testing.T) {
	for in, want := range map[string]int64{"10": 10, " 7": 7, "10abc": 10, "-1": -1, "+3": 3, "3.9": 3, "1e3": 1} {
		got, ok := jsParseInt(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "abc", "-", " ", "0x10x"} {
		if in == "0x10x" {
			got, ok := jsParseInt(in)
			assert.True(t, ok)
			assert.Zero(t, got)
			continue
		}
		_, ok := jsParseInt(in)
		assert.False(t, ok, in)
	}
}

func TestJSDate(t *testing.T) {
	ms := time.Date(2026, 11, 21, 22, 45, 57, 434_000_000, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-11-21T22:45:57.434Z":      ms,
		"2026-11-21T22:45:57.434999Z":   ms,
		"2026-11-21T23:45:57.434+01:00": ms,
		"2026-11-21T22:45:57.434":       ms,
		"2026-11-21":                    time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC),
		"2026-11-21T22:45Z":             time.Date(2026, 11, 21, 22, 45, 0, 0, time.UTC),
		"Sat, 21 Nov 2026 22:45:57 GMT": time.Date(2026, 11, 21, 22, 45, 57, 0, time.UTC),
		"2026":                          time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		got, ok := jsDate(in)
		assert.True(t, ok, in)
		assert.True(t, want.Equal(got), "%s: %v", in, got)
	}
	for _, in := range []string{"garbage", "2026-13-01", "1700000000000", "2026-11-21T25:00Z"} {
		_, ok := jsDate(in)
		assert.False(t, ok, in)
	}
}

func TestJSONSyntaxMessage(t *testing.T) {
	msg := func(body string) string {
		var v any
		err := json.Unmarshal([]byte(body), &v)
		return jsonSyntaxMessage([]byte(body), err)
	}
	assert.Equal(t, "Unexpected end of JSON input", msg(`{"type":`))
	assert.Equal(t, "Unexpected end of JSON input", msg(``))
	assert.Equal(t, `Unexpected token 'x', "{"a":x}" is not valid JSON`, msg(`{"a":x}`))
	long := `{"content":"` + strings.Repeat("a", 40) + `",x}`
	assert.Equal(t, `Unexpected token 'x', ..."aaaaaaaa",x}"... is not valid JSON`, msg(long))
	assert.Equal(t, `Unexpected token '1', "12" is not valid JSON`, jsonSyntaxMessage([]byte(`12`), nil))
}

func TestJSStringAndCookies(t *testing.T) {
	for in, want := range map[string]string{`"a"`: "a", `5`: "5", `null`: "null", `{"a":1}`: "[object Object]", `[1,null,"b"]`: "1,,b", `true`: "true"} {
		assert.Equal(t, want, jsString(json.RawMessage(in)), in)
	}
	assert.Equal(t, "undefined", jsString(nil))
	assert.Equal(t, "abc", socketCookie("x=1; token=abc==; y=2", "token"), "cut at the second =")
	assert.Equal(t, "", socketCookie("token=", "token"))
	assert.Equal(t, "s", socketCookie("symbia_session=s", "symbia_session"))
}

// FuzzRESTBody sends arbitrary bodies to the routes that read one: the
// server must answer (never panic) with a status the service could give.
func FuzzRESTBody(f *testing.F) {
	for _, seed := range []string{
		`{"content":"hello"}`, `{"type":"group","name":"t","participants":[{"userId":"x"},null,"s"]}`,
		`{"event":"stream.pause","target":"a","metadata":{"control":1}}`, `{"content":5,"id":[1],"interruptible":"maybe"}`,
		`{"userId":"assistant:x","userType":null}`, `[`, `"x"`, `[]`, `{"metadata":"[1]"}`, ``,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		srv := NewUnstartedServer() // starts no goroutine
		srv.AddUser("t", Principal{ID: "11111111-1111-4111-8111-111111111111"})
		srv.AddUser("a", Principal{ID: "agent:x", Type: "agent", Entitlements: []string{"cap:messaging.interrupt"}})
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/api/conversations", strings.NewReader(`{"type":"group","name":"f"}`))
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set("Content-Type", "application/json")
		srv.serveREST(rec, req)
		require.Equal(t, 201, rec.Code)
		var conv struct {
			ID string `json:"id"`
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &conv))
		paths := []string{"/api/conversations", "/api/conversations/" + conv.ID, "/api/conversations/" + conv.ID + "/participants",
			"/api/conversations/" + conv.ID + "/messages", "/api/conversations/" + conv.ID + "/control"}
		for i, p := range paths {
			for _, tok := range []string{"t", "a"} {
				method := "POST"
				if i == 1 {
					method = "PATCH"
				}
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(method, p, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/json")
				srv.serveREST(rec, req)
				switch rec.Code {
				case 200, 201, 400, 403, 404, 500:
				default:
					t.Fatalf("%s %s: status %d", method, p, rec.Code)
				}
				if !json.Valid(rec.Body.Bytes()) {
					t.Fatalf("%s %s: invalid JSON answer %q", method, p, rec.Body.String())
				}
			}
		}
	})
}
