package messaging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logBuffer is a bytes.Buffer safe for concurrent use (by a logger).
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A handler that never returns must not hide the overflow it causes: the
// hook that queues the events logs it on its own goroutine, and OnError
// hears of it right after the blocked handler, ahead of the events queued.
func TestQueueOverflowReportedByTheProducer(t *testing.T) {
	var logs logBuffer
	s, err := NewSocket(WithEndpoint("http://127.0.0.1:1"), WithHandlerQueueSize(4),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	order := make(chan string, 100)
	blocked, release := make(chan struct{}), make(chan struct{})
	s.OnMessage(func(m *Message) {
		if m.Content == "1" {
			close(blocked)
			<-release
		}
		order <- m.Content
	})
	s.OnError(func(err error) { order <- err.Error() })
	s.start()
	t.Cleanup(func() { _ = s.Close() })
	feed := func(seq int64) {
		b, err := json.Marshal(unitMsg(seq))
		require.NoError(t, err)
		s.onEvent(EventMessageNew, []json.RawMessage{b})
	}
	feed(1)
	<-blocked
	for i := int64(2); i <= 10; i++ {
		feed(i)
	}
	assert.Contains(t, logs.String(), "handler queue full", "logged while the handler is still blocked")
	assert.Contains(t, logs.String(), "level=WARN")
	close(release)
	var got []string
	for range 3 {
		select {
		case v := <-order:
			got = append(got, v)
		case <-time.After(10 * time.Second):
			t.Fatal("timeout")
		}
	}
	assert.Equal(t, []string{"1", ErrSlowConsumer.Error(), "2"}, got)
}
