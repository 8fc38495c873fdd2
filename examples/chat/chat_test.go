package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// screen is a terminal's output, read while the chat writes it.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor waits until the screen shows want.
func (s *screen) waitFor(t *testing.T, want string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(s.String(), want) },
		5*time.Second, 10*time.Millisecond, "the screen never showed %q; it shows:\n%s", want, s)
}

// terminal is one running chat: what it is typed, what it shows, and how it
// ended.
type terminal struct {
	keys   *io.PipeWriter
	screen *screen
	done   chan error
}

func (tm *terminal) typeLine(t *testing.T, line string) {
	t.Helper()
	_, err := io.WriteString(tm.keys, line+"\n")
	require.NoError(t, err)
}

func (tm *terminal) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-tm.done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("the chat did not end")
		return nil
	}
}

func startChat(t *testing.T, ctx context.Context, endpoint, token, conversationID string) *terminal {
	t.Helper()
	client, err := messaging.NewClient(messaging.WithEndpoint(endpoint), messaging.WithToken(token))
	require.NoError(t, err)
	r, w := io.Pipe()
	tm := &terminal{keys: w, screen: &screen{}, done: make(chan error, 1)}
	go func() { tm.done <- chat(ctx, client, conversationID, r, tm.screen, options{history: 10}) }()
	t.Cleanup(func() { w.Close() })
	return tm
}

func demo(t *testing.T) (*messagingtest.Server, string) {
	t.Helper()
	srv, conv, err := startDemo(context.Background(), "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return srv, conv
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestChatTwoTerminals(t *testing.T) {
	t.Parallel()
	srv, conv := demo(t)
	ctx := context.Background()

	alice := startChat(t, ctx, srv.URL(), "alice-token", conv)
	alice.screen.waitFor(t, `* connected as alice to "demo chat"`)
	alice.typeLine(t, "hello before bob arrives")
	require.Eventually(t, func() bool { return len(srv.Messages(conv)) == 1 }, 5*time.Second, 10*time.Millisecond)

	bob := startChat(t, ctx, srv.URL(), "bob-token", conv)
	bob.screen.waitFor(t, "* connected as bob")
	assert.Contains(t, bob.screen.String(), "alice: hello before bob arrives", "history on arrival")
	alice.screen.waitFor(t, "* b0b00000 is online") // no name seen yet: the start of the id

	alice.typeLine(t, "hi bob")
	bob.screen.waitFor(t, "* alice is typing…")
	bob.screen.waitFor(t, "] alice: hi bob")
	assert.NotContains(t, alice.screen.String(), "alice: hi bob", "one's own lines are not echoed")

	bob.typeLine(t, "hi alice")
	alice.screen.waitFor(t, "] bob: hi alice") // the name travels in the message's metadata

	bob.typeLine(t, "/presence away")
	bob.screen.waitFor(t, "* you are away")
	alice.screen.waitFor(t, "* bob is away")

	bob.typeLine(t, "//slash")
	alice.screen.waitFor(t, "] bob: /slash")

	bob.typeLine(t, "/nonsense")
	bob.screen.waitFor(t, "/presence online|away|busy|offline")
	bob.typeLine(t, "/presence sleepy")
	bob.screen.waitFor(t, `! unknown presence "sleepy"`)

	bob.typeLine(t, "/quit")
	require.NoError(t, bob.wait(t))
	alice.screen.waitFor(t, "* bob went offline")

	alice.keys.Close() // Ctrl-D
	require.NoError(t, alice.wait(t))
}

func TestChatJoinsGroupConversation(t *testing.T) {
	t.Parallel()
	srv, conv := demo(t)
	srv.AddUser("dave-token", messagingtest.Principal{ID: "da5e0000-0000-4000-8000-000000000004", Name: "dave"})
	dave := startChat(t, context.Background(), srv.URL(), "dave-token", conv)
	dave.screen.waitFor(t, "* joined conversation "+conv)
	dave.screen.waitFor(t, "* connected as dave")
	dave.keys.Close()
	require.NoError(t, dave.wait(t))
}

func TestChatEndsWithContext(t *testing.T) {
	t.Parallel()
	srv, conv := demo(t)
	ctx, cancel := context.WithCancel(context.Background())
	alice := startChat(t, ctx, srv.URL(), "alice-token", conv)
	alice.screen.waitFor(t, "* connected as alice")
	cancel() // Ctrl-C
	require.NoError(t, alice.wait(t))
}

func TestChatRefusedToken(t *testing.T) {
	t.Parallel()
	srv, conv := demo(t)
	nobody := startChat(t, context.Background(), srv.URL(), "wrong", conv)
	err := nobody.wait(t)
	require.ErrorIs(t, err, messaging.ErrUnauthorized)
}

func TestRunServeCreatesDemo(t *testing.T) {
	t.Parallel()
	var out screen
	err := run(context.Background(), config{history: 10}, strings.NewReader("hello\n"), &out)
	require.NoError(t, err)
	assert.Contains(t, out.String(), "Started an in-process test service at http://127.0.0.1:")
	assert.Contains(t, out.String(), "go run ./examples/chat -endpoint http://127.0.0.1:")
	assert.Contains(t, out.String(), "* connected as alice")
}

func TestRunServeAndEndpointExclusive(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), config{serve: "127.0.0.1:0", endpoint: "http://x", endpointSet: true}, strings.NewReader(""), io.Discard)
	require.ErrorContains(t, err, "exclude each other")
}

// What a person sees of an agent at work: its tool call, how far it is,
// and how it ended.
func TestChatShowsActivity(t *testing.T) {
	srv, conv := demo(t)
	ctx := context.Background()
	alice := startChat(t, ctx, srv.URL(), "alice-token", conv)
	alice.screen.waitFor(t, "* connected as alice")

	agent, err := messaging.NewSocket(messaging.WithEndpoint(srv.URL()), messaging.WithToken("bob-token"))
	require.NoError(t, err)
	defer agent.Close()
	require.NoError(t, agent.Connect(ctx))
	run, err := agent.Run(ctx, conv, "", messaging.WithRunPrincipal(demoUsers[1].id))
	require.NoError(t, err)
	defer run.End()
	require.NoError(t, run.SetStatus(ctx, messaging.AgentStatus{Status: "active", CurrentTask: "planning a trip", Progress: 0.1}))
	alice.screen.waitFor(t, "* b0b00000 is active: planning a trip (10 %)")
	call, err := run.StartToolCall(ctx, messaging.ToolCallParams{Name: "flight_search"})
	require.NoError(t, err)
	alice.screen.waitFor(t, "* b0b00000: flight_search started")
	require.NoError(t, call.Progress(ctx, 0.75, "searching flights…"))
	alice.screen.waitFor(t, "* b0b00000: searching flights… 75 %")
	require.NoError(t, call.Complete(ctx, map[string]int{"flights_found": 25}))
	alice.screen.waitFor(t, `* b0b00000: flight_search done: {"flights_found":25}`)
	task, err := run.StartTask(ctx, messaging.TaskParams{Name: "hotel_search"})
	require.NoError(t, err)
	require.NoError(t, task.Fail(ctx, messaging.ActivityError{Code: "UNAVAILABLE", Message: "hotels are down", Retryable: true}))
	alice.screen.waitFor(t, "* b0b00000: hotel_search failed: hotels are down (retryable)")
	assert.NotContains(t, alice.screen.String(), `"kind"`, "no raw JSON on the screen")

	alice.typeLine(t, "/history 5")
	alice.screen.waitFor(t, `] b0b00000: flight_search done: {"flights_found":25}`)
	alice.keys.Close()
	require.NoError(t, alice.wait(t))
}

func TestChatUnknownCommand(t *testing.T) {
	t.Parallel()
	srv, conv := demo(t)
	alice := startChat(t, context.Background(), srv.URL(), "alice-token", conv)
	alice.screen.waitFor(t, "* connected as alice")
	alice.typeLine(t, "/nonsense")
	alice.screen.waitFor(t, "! unknown command /nonsense\ncommands:")
	alice.typeLine(t, "/help")
	require.Eventually(t, func() bool { return strings.Count(alice.screen.String(), "commands:") == 2 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, 1, strings.Count(alice.screen.String(), "unknown command"), "/help is a command")
	alice.keys.Close()
	require.NoError(t, alice.wait(t))
}

// TestChatNamesBeforeTheySpeak: people show by name before they say
// anything in this session: the demo users' names are known, and others'
// are learnt from the latest messages, beyond those shown.
func TestChatNamesBeforeTheySpeak(t *testing.T) {
	t.Parallel()
	srv, conv := demo(t)
	ctx := context.Background()
	// Bob spoke once, long ago: 30 messages back, beyond the 10 shown.
	bob := startChat(t, ctx, srv.URL(), "bob-token", conv)
	bob.screen.waitFor(t, "* connected as bob")
	bob.typeLine(t, "an old message")
	require.Eventually(t, func() bool { return len(srv.Messages(conv)) == 1 }, 5*time.Second, 10*time.Millisecond)
	bob.typeLine(t, "/quit")
	require.NoError(t, bob.wait(t))
	alice, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken("alice-token"))
	require.NoError(t, err)
	for i := range 30 {
		_, err := alice.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv, Content: fmt.Sprint("filler ", i)})
		require.NoError(t, err)
	}

	// A chat without the demo names learns bob's from his old message.
	a := startChat(t, ctx, srv.URL(), "alice-token", conv)
	a.screen.waitFor(t, "* connected as alice")
	assert.NotContains(t, a.screen.String(), "an old message", "only the last 10 are shown")
	bob = startChat(t, ctx, srv.URL(), "bob-token", conv)
	a.screen.waitFor(t, "* bob is online")

	// Carol never spoke: with the demo names (run with a demo token), she
	// shows by name.
	var out screen
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, config{endpoint: srv.URL(), endpointSet: true, token: "alice-token", conversation: conv, history: 10}, r, &out)
	}()
	out.waitFor(t, "* connected as alice")
	carol := startChat(t, ctx, srv.URL(), "carol-token", conv)
	out.waitFor(t, "* carol is online")
	assert.NotContains(t, out.String(), "ca201000")

	for _, tm := range []*terminal{a, bob, carol} {
		tm.keys.Close()
		require.NoError(t, tm.wait(t))
	}
	w.Close()
	require.NoError(t, <-done)
}

func TestChatAgentIDsAsNames(t *testing.T) {
	t.Parallel()
	srv, conv := demo(t)
	srv.AddUser("helper-token", messagingtest.Principal{ID: "assistant:helper", Type: messaging.UserTypeAgent})
	ctx := context.Background()
	alice := startChat(t, ctx, srv.URL(), "alice-token", conv)
	alice.screen.waitFor(t, "* connected as alice")
	helper, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken("helper-token"))
	require.NoError(t, err)
	_, err = helper.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv, Content: "hello, I am an agent"}) // joins it
	require.NoError(t, err)
	alice.screen.waitFor(t, "] assistant:helper (agent): hello, I am an agent")
	alice.keys.Close()
	require.NoError(t, alice.wait(t))
}
