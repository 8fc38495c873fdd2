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
