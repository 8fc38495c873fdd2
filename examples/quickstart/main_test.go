package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/symbia-labs/messaging-go/messagingtest"
)

func TestQuickstartEmbedded(t *testing.T) {
	defer goleak.VerifyNone(t)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), config{wait: 5 * time.Second}, &out))
	for _, want := range []string{
		"started an in-process test service",
		`bob   ← message:new        #1 from alice: "Hi Bob! This one went over REST."`,
		"alice ← typing:started     bob is typing…",
		`alice ← message:new        #2 from bob: "Hi Alice! This one went over the socket."`,
		"alice ← presence:changed   bob is busy",
		`bob   ← stream.pause       for bob, reason "quickstart says wait"`,
		"bob   ← stream.resume      for bob",
		"alice ← presence:changed   bob is offline",
		"Done in",
	} {
		assert.Contains(t, out.String(), want)
	}
}

// A real service is any URL given; messagingtest stands in for it.
func realService(t *testing.T, aliceCaps ...string) string {
	t.Helper()
	srv := messagingtest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddUser("alice", messagingtest.Principal{ID: aliceID, Entitlements: aliceCaps})
	srv.AddUser("bob", messagingtest.Principal{ID: bobID})
	return srv.URL()
}

func TestQuickstartRealServiceFailures(t *testing.T) {
	url := realService(t)
	for _, tc := range []struct {
		name string
		cfg  config
		want string
	}{
		{"no tokens", config{endpoint: url}, "needs two tokens"},
		{"alice refused", config{endpoint: url, token: "nope", peerToken: "bob"}, "alice's token was refused by " + url + " (check -token or MESSAGING_SERVICE_TOKEN)"},
		{"bob refused", config{endpoint: url, token: "alice", peerToken: "nope"}, "bob's token was refused"},
		{"same user twice", config{endpoint: url, token: "alice", peerToken: "alice"}, "same principal"},
		{"no capability", config{endpoint: url, token: "alice", peerToken: "bob"}, "needs cap:messaging.interrupt"},
		{"unreachable", config{endpoint: "http://127.0.0.1:1", token: "a", peerToken: "b"}, "alice could not reach http://127.0.0.1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.wait = 5 * time.Second
			var out bytes.Buffer
			err := run(context.Background(), tc.cfg, &out)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, out.String(), "Done")
		})
	}
}

func TestQuickstartRealService(t *testing.T) {
	url := realService(t, "cap:messaging.interrupt")
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), config{endpoint: url, token: "alice", peerToken: "bob", wait: 5 * time.Second}, &out))
	assert.True(t, strings.HasPrefix(out.String(), "Using the service at "+url), out.String())
	assert.Contains(t, out.String(), "Done in")
}
