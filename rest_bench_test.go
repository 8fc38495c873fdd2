package messaging

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"
)

// BenchmarkREST compares Client.SendMessage with a bare net/http call that
// does the same job: the same JSON body (with a fresh message id), the same
// headers, the answer read and decoded into a Message. Both use the same
// http.Client against the same httptest server, which answers 201 with a
// message row. The difference is the SDK's own cost: validation, the retry
// loop, headers, logging hooks, error wrapping.
func BenchmarkREST(b *testing.B) {
	row := []byte(benchRow)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(row)
	}))
	defer srv.Close()
	hc := srv.Client()
	ctx := context.Background()
	conv := benchParams.ConversationID
	url := srv.URL + "/api/conversations/" + conv + "/messages"

	b.Run("sdk", func(b *testing.B) {
		c, err := NewClient(WithEndpoint(srv.URL), WithToken("bench-token"), WithHTTPClient(hc))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.SendMessage(ctx, benchParams); err != nil {
				b.Fatal(err)
			}
		}
	})

	// The same work by hand: marshal the body with a fresh id, POST it,
	// read and decode the answer.
	b.Run("nethttp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			body, err := json.Marshal(struct {
				ID      string `json:"id"`
				Content string `json:"content"`
			}{uuid.NewString(), benchParams.Content})
			if err != nil {
				b.Fatal(err)
			}
			if err := bareSend(ctx, hc, url, body); err != nil {
				b.Fatal(err)
			}
		}
	})

	// A bare call with a body encoded once, for scale: the HTTP round trip
	// and the typed decoding alone.
	b.Run("nethttp-preencoded", func(b *testing.B) {
		body := []byte(`{"id":"5b0e6a1c-3f7d-4c2a-9e8b-1d2f3a4b5c6d","content":"` + benchParams.Content + `"}`)
		b.ReportAllocs()
		for b.Loop() {
			if err := bareSend(ctx, hc, url, body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func bareSend(ctx context.Context, hc *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer bench-token")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var m Message
	return json.Unmarshal(data, &m)
}
