package timeline_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"
	"github.com/symbia-labs/messaging-go/timeline"
)

// TestMain checks that no test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	aliceID  = "11111111-1111-4111-8111-111111111111"
	bobID    = "22222222-2222-4222-8222-222222222222"
	aliceTok = "alice-token"
	bobTok   = "bob-token"

	waitTimeout = 10 * time.Second
)

// env is a service with alice and bob, and a group conversation of both.
type env struct {
	t    *testing.T
	srv  *messagingtest.Server
	conv string
}

func newEnv(t *testing.T, opts ...messagingtest.Option) *env {
	t.Helper()
	srv := messagingtest.NewServer(opts...)
	t.Cleanup(srv.Close)
	srv.AddUser(aliceTok, messagingtest.Principal{ID: aliceID, Name: "Alice"})
	srv.AddUser(bobTok, messagingtest.Principal{ID: bobID, Name: "Bob"})
	e := &env{t: t, srv: srv}
	conv, err := e.client(aliceTok).CreateConversation(ctxFor(t), messaging.CreateConversationParams{
		Type: messaging.ConversationGroup, Name: "team", ParticipantIDs: []string{bobID}})
	require.NoError(t, err)
	e.conv = conv.ID
	return e
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func (e *env) client(token string) *messaging.Client {
	e.t.Helper()
	c, err := messaging.NewClient(messaging.WithEndpoint(e.srv.URL()), messaging.WithToken(token),
		messaging.WithHTTPClient(e.srv.Client()))
	require.NoError(e.t, err)
	return c
}

// socket makes a connected socket for token, closed at cleanup.
func (e *env) socket(token string, opts ...messaging.SocketOption) *messaging.Socket {
	e.t.Helper()
	all := []messaging.SocketOption{
		messaging.WithEndpoint(e.srv.URL()),
		messaging.WithHTTPClient(e.srv.Client()),
		messaging.WithToken(token),
		messaging.WithReconnectionDelay(10 * time.Millisecond),
		messaging.WithReconnectionDelayMax(50 * time.Millisecond),
		messaging.WithReconnectionAttempts(0),
	}
	s, err := messaging.NewSocket(append(all, opts...)...)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = s.Close() })
	require.NoError(e.t, s.Connect(ctxFor(e.t)))
	return s
}

// timeline makes alice's timeline on a new socket, closed at cleanup.
func (e *env) timeline(opts ...timeline.Option) (*timeline.Timeline, *messaging.Socket) {
	e.t.Helper()
	s := e.socket(aliceTok)
	return e.timelineOn(s, opts...), s
}

func (e *env) timelineOn(s *messaging.Socket, opts ...timeline.Option) *timeline.Timeline {
	e.t.Helper()
	tl, err := timeline.New(ctxFor(e.t), s, e.client(aliceTok), e.conv, opts...)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = tl.Close() })
	return tl
}

// send posts a message over REST.
func (e *env) send(token, content string) messaging.Message {
	e.t.Helper()
	m, err := e.client(token).SendMessage(ctxFor(e.t), messaging.SendMessageParams{ConversationID: e.conv, Content: content})
	require.NoError(e.t, err)
	return *m
}

// history returns the conversation's history over REST, oldest first.
func (e *env) history(token string) []messaging.Message {
	e.t.Helper()
	var out []messaging.Message
	for m, err := range e.client(token).Messages(ctxFor(e.t), e.conv) {
		require.NoError(e.t, err)
		if !m.IsControl() {
			out = append(out, m)
		}
	}
	slices.Reverse(out)
	return out
}

// recorder keeps every change of a timeline's feed.
type recorder struct {
	mu      sync.Mutex
	changes []timeline.Change
	signal  chan struct{}
}

func record(t *testing.T, tl *timeline.Timeline) *recorder {
	r := &recorder{signal: make(chan struct{}, 1)}
	off := tl.OnChange(func(c timeline.Change) {
		r.mu.Lock()
		r.changes = append(r.changes, c)
		r.mu.Unlock()
		select {
		case r.signal <- struct{}{}:
		default:
		}
	})
	t.Cleanup(off)
	return r
}

func (r *recorder) all() []timeline.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.changes)
}

// wait waits until some recorded change satisfies ok and returns it.
func (r *recorder) wait(t *testing.T, what string, ok func(timeline.Change) bool) timeline.Change {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		for _, c := range r.all() {
			if ok(c) {
				return c
			}
		}
		select {
		case <-r.signal:
		case <-deadline.C:
			t.Fatalf("no change: %s; got %v", what, r.all())
		}
	}
}

// contents lists the contents of entries.
func contents(es []timeline.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Message.Content
	}
	return out
}

// eventually polls cond until it holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, waitTimeout, 5*time.Millisecond, what)
}
