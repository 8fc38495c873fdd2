package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// noIOClient fails the test on any request.
func noIOClient(t *testing.T) *Client {
	t.Helper()
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("request sent: %s %s", r.Method, r.URL)
		return nil, errors.New("no I/O expected")
	})}
	c, err := NewClient(WithEndpoint("http://messaging.test"), WithHTTPClient(hc))
	require.NoError(t, err)
	return c
}

// noIOSocket is a socket that was never connected: a call that gets past
// validation fails with ErrNotConnected, never with a *ValidationError.
func noIOSocket(t *testing.T) *Socket {
	t.Helper()
	s, err := NewSocket(WithEndpoint("http://messaging.test"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func requireValidation(t *testing.T, err error, field string) {
	t.Helper()
	require.ErrorIs(t, err, ErrInvalidArgument)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve, "%v", err)
	assert.Equal(t, field, ve.Field, "%v", err)
}

// badMetadata are values encoding/json cannot encode.
func badMetadata() map[string]map[string]any {
	cycle := map[string]any{}
	cycle["self"] = cycle
	return map[string]map[string]any{
		"NaN":      {"score": math.NaN()},
		"infinity": {"score": math.Inf(1)},
		"func":     {"f": func() {}},
		"chan":     {"c": make(chan int)},
		"cycle":    cycle,
		"nested":   {"a": []any{map[string]any{"x": math.NaN()}}},
	}
}

// TestMetadataThatCannotBeEncoded: every call taking metadata, on both
// paths, refuses it with a *ValidationError naming params.Metadata, before
// any I/O.
func TestMetadataThatCannotBeEncoded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, s := noIOClient(t), noIOSocket(t)
	for name, md := range badMetadata() {
		t.Run(name, func(t *testing.T) {
			_, err := c.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: "x", Metadata: md})
			requireValidation(t, err, "params.Metadata")
			_, err = s.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: "x", Metadata: md})
			requireValidation(t, err, "params.Metadata")
			_, err = c.CreateConversation(ctx, CreateConversationParams{Type: ConversationPrivate, Metadata: md})
			requireValidation(t, err, "params.Metadata")
			_, err = c.UpdateConversation(ctx, convID, UpdateConversationParams{Metadata: md})
			requireValidation(t, err, "params.Metadata")
			_, err = c.SendControl(ctx, convID, ControlParams{Event: "pause", Metadata: md})
			requireValidation(t, err, "params.Metadata")
			_, err = s.SendControl(ctx, convID, ControlParams{Event: "pause", Metadata: md})
			requireValidation(t, err, "params.Metadata")
		})
	}
}

// TestInvalidUTF8IsRefused: text that encoding/json would silently alter
// (each bad byte becomes U+FFFD) is refused on both paths, naming the
// field; valid text, U+FFFD itself included, passes.
func TestInvalidUTF8IsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, s := noIOClient(t), noIOSocket(t)
	bad := map[string]string{
		"bad byte":       "caf\xe9",
		"lone surrogate": "a\xed\xa0\x80b", // U+D800 as WTF-8: what a lone "\ud800" becomes in bytes
		"truncated rune": "ok \xe2\x82",
	}
	for name, text := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := c.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: text})
			requireValidation(t, err, "params.Content")
			_, err = s.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: text})
			requireValidation(t, err, "params.Content")
			_, err = c.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: "x", Metadata: map[string]any{"k": []any{text}}})
			requireValidation(t, err, `params.Metadata["k"][0]`)
			_, err = s.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: "x", Metadata: map[string]any{text: 1}})
			requireValidation(t, err, "params.Metadata key")
			_, err = c.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: "x", TraceID: text})
			requireValidation(t, err, "params.TraceID")
			_, err = c.CreateConversation(ctx, CreateConversationParams{Type: ConversationGroup, Name: text})
			requireValidation(t, err, "params.Name")
			_, err = c.UpdateConversation(ctx, convID, UpdateConversationParams{Description: text})
			requireValidation(t, err, "params.Description")
			_, err = c.SendControl(ctx, convID, ControlParams{Event: "pause", Reason: text})
			requireValidation(t, err, "params.Reason")
			assert.ErrorContains(t, validateSocketContent("content", text), "UTF-8")
		})
	}
	for _, ok := range []string{"\uFFFD", "日本語 😀", `\ud800`} {
		p := SendMessageParams{ConversationID: convID, Content: ok, Metadata: map[string]any{"k": ok}}
		require.NoError(t, p.validate(), "%q", ok)
		require.NoError(t, p.validateREST(), "%q", ok)
		require.NoError(t, validateSocketContent("content", ok))
	}
}

// TestUpdateWithNothingToUpdate: a PATCH that would change nothing is
// refused before any I/O.
func TestUpdateWithNothingToUpdate(t *testing.T) {
	t.Parallel()
	c := noIOClient(t)
	for _, p := range []UpdateConversationParams{{}, {Metadata: map[string]any{}}} {
		_, err := c.UpdateConversation(context.Background(), convID, p)
		requireValidation(t, err, "params")
		assert.ErrorContains(t, err, "nothing to update")
	}
}

// TestContentSizeByPath: each path refuses content it cannot carry with a
// *ValidationError naming params.Content, before any I/O; content the REST
// path carries but a socket packet cannot goes through REST.
func TestContentSizeByPath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, s := noIOClient(t), noIOSocket(t)

	tooBigForREST := strings.Repeat("a", MaxRESTBodySize)
	_, err := c.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: tooBigForREST})
	requireValidation(t, err, "params.Content")
	assert.ErrorContains(t, err, "MaxRESTBodySize")

	// Over the socket's packet, well under REST's body limit.
	mid := strings.Repeat("a", MaxSocketPacketSize)
	_, err = s.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: mid})
	requireValidation(t, err, "params.Content")
	p := SendMessageParams{ConversationID: convID, Content: mid}
	require.NoError(t, p.validateREST())

	// Under the packet limit in bytes, over it once JSON escapes it.
	escaped := strings.Repeat("<", MaxSocketPacketSize/3)
	_, err = s.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: escaped})
	requireValidation(t, err, "params.Content")
	requireValidation(t, validateSocketContent("content", escaped), "content")

	// Big metadata is named as such.
	_, err = s.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: "x", Metadata: map[string]any{"blob": mid}})
	requireValidation(t, err, "params.Metadata")

	// Just under the socket's limit passes validation (and then finds the
	// socket not connected).
	fits := strings.Repeat("a", MaxSocketPacketSize-socketPacketOverhead-200)
	_, err = s.SendMessage(ctx, SendMessageParams{ConversationID: convID, Content: fits})
	require.ErrorIs(t, err, ErrNotConnected)
	require.NoError(t, validateSocketContent("content", fits))

	// Other bodies over REST's limit are refused too.
	_, err = c.UpdateConversation(ctx, convID, UpdateConversationParams{Description: tooBigForREST})
	requireValidation(t, err, "params")
}

// TestJSONStringLenBoundsEncoding: the cheap estimate never undercounts.
func TestJSONStringLenBoundsEncoding(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "a", `"\`, "<>&", "\x00\x1f\n\t", "\u2028\u2029", "日本", "\uFFFD"} {
		b, err := jsonMarshal(s)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, jsonStringLen(s), len(b), "%q", s)
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
