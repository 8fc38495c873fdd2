package messaging_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
)

// recordingHandler keeps the records whose message or attributes contain
// want.
type recordingHandler struct {
	want string
	mu   sync.Mutex
	got  []slog.Record
	seen chan struct{}
	once sync.Once
}

func newRecordingHandler(want string) *recordingHandler {
	return &recordingHandler{want: want, seen: make(chan struct{})}
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	match := strings.Contains(r.Message, h.want)
	r.Attrs(func(a slog.Attr) bool {
		match = match || strings.Contains(a.Value.String(), h.want)
		return true
	})
	if match {
		h.mu.Lock()
		h.got = append(h.got, r)
		h.mu.Unlock()
		h.once.Do(func() { close(h.seen) })
	}
	return nil
}

// panicOnMessage makes bob's socket (configured by opts) panic in its
// OnMessage handler, with no OnError handler, and makes alice send it a
// message.
func panicOnMessage(t *testing.T, opts ...messaging.SocketOption) {
	e := newEnv(t)
	alice := e.connect(aliceTok)
	bob := e.connect(bobTok, opts...)
	bob.OnMessage(func(*messaging.Message) { panic("handler-panic-7f3a") })
	send(t, alice, e.conv, "boom")
}

// TestSocket_UnhandledErrorReachesTheDefaultLogger: without WithLogger and
// without OnError, a panicking handler is reported to slog.Default() at
// warning level (the default logger discards everything).
func TestSocket_UnhandledErrorReachesTheDefaultLogger(t *testing.T) {
	h := newRecordingHandler("handler-panic-7f3a")
	prev := slog.Default()
	slog.SetDefault(slog.New(h))
	t.Cleanup(func() { slog.SetDefault(prev) })

	panicOnMessage(t)
	recv(t, h.seen)
	h.mu.Lock()
	defer h.mu.Unlock()
	require.NotEmpty(t, h.got)
	assert.GreaterOrEqual(t, h.got[0].Level, slog.LevelWarn)
}

// TestSocket_UnhandledErrorGoesToWithLogger: with WithLogger, the same
// error goes there, not to slog.Default().
func TestSocket_UnhandledErrorGoesToWithLogger(t *testing.T) {
	def := newRecordingHandler("handler-panic-7f3a")
	prev := slog.Default()
	slog.SetDefault(slog.New(def))
	t.Cleanup(func() { slog.SetDefault(prev) })

	mine := newRecordingHandler("handler-panic-7f3a")
	panicOnMessage(t, messaging.WithLogger(slog.New(mine)))
	recv(t, mine.seen)
	def.mu.Lock()
	defer def.mu.Unlock()
	assert.Empty(t, def.got, "the error also reached slog.Default()")
}

// TestSocket_RoomRefusalNamesTheConversation: a refused join or watch
// says which conversation, as REST errors name their path, and still
// unwraps to the *AckError with the service's text.
func TestSocket_RoomRefusalNamesTheConversation(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	carol := e.connect(carolTok)
	for name, call := range map[string]func(context.Context, string) error{
		"join":  carol.JoinConversation,
		"watch": carol.WatchConversation,
	} {
		err := call(ctx, e.conv)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), e.conv, name)
		var ae *messaging.AckError
		require.ErrorAs(t, err, &ae, name)
		assert.NotEmpty(t, ae.Message, name)
		assert.NotContains(t, ae.Message, e.conv, "%s: the service's text is kept as is", name)
	}
	err := carol.JoinConversation(ctx, e.conv)
	assert.ErrorIs(t, err, messaging.ErrNotParticipant)
	assert.Equal(t, "messaging: join:conversation "+e.conv+" refused: Not a participant", err.Error())
}

// TestSocket_ConnectionsDyingAtOnceAreReported: a server that breaks every
// connection right after it is made is reported once through OnError with
// ErrConnectionUnstable, after 5 such connections in a row.
func TestSocket_ConnectionsDyingAtOnceAreReported(t *testing.T) {
	e := newEnv(t)
	bob := e.socket(bobTok)
	errs, _ := collect(bob.OnError)
	var mu sync.Mutex
	connects := 0
	bob.OnConnect(func() {
		mu.Lock()
		connects++
		mu.Unlock()
		e.srv.DropConnectionsOf(bobID)
	})
	require.NoError(t, bob.Connect(testCtx(t)))
	err := recv(t, errs)
	require.ErrorIs(t, err, messaging.ErrConnectionUnstable)
	assert.Contains(t, err.Error(), "5 connections in a row")
	mu.Lock()
	assert.GreaterOrEqual(t, connects, 5)
	mu.Unlock()
}

// TestSocket_OneShortConnectionIsNotReported: a connection dropped soon
// after it was made, followed by one that lasts, reports nothing.
func TestSocket_OneShortConnectionIsNotReported(t *testing.T) {
	e := newEnv(t)
	alice := e.connect(aliceTok)
	bob := e.socket(bobTok)
	errs, _ := collect(bob.OnError)
	msgs, _ := collect(bob.OnMessage)
	reconnected := make(chan struct{}, 1)
	bob.OnReconnect(func() { reconnected <- struct{}{} })
	var once sync.Once
	bob.OnConnect(func() { once.Do(func() { e.srv.DropConnectionsOf(bobID) }) })
	require.NoError(t, bob.Connect(testCtx(t)))
	recv(t, reconnected)
	send(t, alice, e.conv, "after")
	assert.Equal(t, "after", recv(t, msgs).Content)
	empty(t, errs, "an error")
}
