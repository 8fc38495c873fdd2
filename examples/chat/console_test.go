package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
)

func TestConsoleKeys(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	c := &console{out: &out, keys: true, prompt: "> "}
	typeKeys := func(keys string) (lines []string, eof bool) {
		for _, k := range keys {
			line, enter, end := c.key(k)
			if enter {
				lines = append(lines, line)
			}
			if end {
				return lines, true
			}
		}
		return lines, false
	}
	lines, _ := typeKeys("helz\x7flo\r")
	assert.Equal(t, []string{"hello"}, lines, "backspace")
	lines, _ = typeKeys("junk\x15ok\n")
	assert.Equal(t, []string{"ok"}, lines, "Ctrl-U clears the line")
	lines, _ = typeKeys("a\x1b[Db\x1bOA\x1b[1;5Cc\tü\r")
	assert.Equal(t, []string{"abcü"}, lines, "escape sequences and control keys are ignored")
	_, eof := typeKeys("x\x04")
	assert.False(t, eof, "Ctrl-D ends only an empty line")
	_, eof = typeKeys("\x15\x04")
	assert.True(t, eof)
	assert.Contains(t, out.String(), "helz\b \blo\n> ", "the console echoes and edits")
}

func TestConsoleRedrawsTheTypedLine(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	c := &console{out: &out, keys: true}
	c.setPrompt("alice> ")
	for _, k := range "half typ" {
		c.key(k)
	}
	out.Reset()
	c.println("[10:00:00] bob: hi")
	assert.Equal(t, "\r\x1b[K[10:00:00] bob: hi\nalice> half typ", out.String())

	var plain strings.Builder
	(&console{out: &plain}).println("line")
	assert.Equal(t, "line\n", plain.String(), "line mode prints lines as they are")
}

// TestChatKeysKeepAHalfTypedLine types half a line, lets a message arrive,
// and finishes the line: the message is printed above the line, which is
// drawn again, and the whole line is sent.
func TestChatKeysKeepAHalfTypedLine(t *testing.T) {
	t.Parallel()
	srv, conv := demo(t)
	ctx := context.Background()
	client, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken("alice-token"))
	require.NoError(t, err)
	keys, typed := io.Pipe()
	t.Cleanup(func() { typed.Close() })
	alice := &terminal{keys: typed, screen: &screen{}, done: make(chan error, 1)}
	go func() {
		alice.done <- chat(ctx, client, conv, keys, alice.screen, options{history: 10, keys: true, names: demoNames()})
	}()
	alice.screen.waitFor(t, "alice> ")

	_, err = io.WriteString(typed, "half ty")
	require.NoError(t, err)
	alice.screen.waitFor(t, "alice> half ty")
	bob, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken("bob-token"))
	require.NoError(t, err)
	_, err = bob.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv, Content: "interrupting"})
	require.NoError(t, err)
	alice.screen.waitFor(t, "] bob: interrupting\nalice> half ty")

	_, err = io.WriteString(typed, "ped\r")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		msgs := srv.Messages(conv)
		return len(msgs) == 2 && msgs[1].Content == "half typed"
	}, 5*time.Second, 10*time.Millisecond)
	_, err = io.WriteString(typed, "\x04") // Ctrl-D
	require.NoError(t, err)
	require.NoError(t, alice.wait(t))
	assert.True(t, strings.HasSuffix(alice.screen.String(), "\n\r\x1b[K"), "the prompt is cleared at the end: %q", alice.screen.String())
}
