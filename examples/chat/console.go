package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// console is the chat's terminal. In line mode the terminal edits and
// echoes the line being typed and hands it over at Enter, so the chat
// cannot tell what is on the screen: a message that arrives while a line
// is half typed splits it. In key mode (the terminal in cbreak mode: no
// line editing, no echo) the console edits and echoes the line itself, so
// it can print what arrives above the line being typed and draw the
// prompt and the typed text again below it.
type console struct {
	mu     sync.Mutex
	out    io.Writer
	keys   bool
	prompt string
	line   []rune

	esc int // where in an escape sequence the input is: 0 none, 1 after ESC, 2 in a CSI
}

// println prints one line of output, above the line being typed.
func (c *console) println(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.keys {
		fmt.Fprintln(c.out, text)
		return
	}
	// Return to the start of the line, clear it, print, and draw the
	// prompt and what was typed again.
	fmt.Fprintf(c.out, "\r\x1b[K%s\n%s%s", text, c.prompt, string(c.line))
}

// setPrompt sets the prompt and draws it (key mode).
func (c *console) setPrompt(p string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prompt = p
	if c.keys {
		fmt.Fprintf(c.out, "\r\x1b[K%s%s", c.prompt, string(c.line))
	}
}

// finish clears the prompt line (key mode), so that the shell's prompt
// does not follow the chat's.
func (c *console) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys {
		fmt.Fprint(c.out, "\r\x1b[K")
	}
}

// readLines sends the lines read from in to lines until in ends or done is
// closed, and returns the read error (nil at the end of the input, or at
// Ctrl-D on an empty line in key mode).
func (c *console) readLines(in io.Reader, lines chan<- string, done <-chan struct{}) error {
	send := func(l string) bool {
		select {
		case lines <- l:
			return true
		case <-done:
			return false
		}
	}
	if !c.keys {
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if !send(sc.Text()) {
				return nil
			}
		}
		return sc.Err()
	}
	r := bufio.NewReader(in)
	for {
		k, _, err := r.ReadRune()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		line, enter, eof := c.key(k)
		switch {
		case eof:
			return nil
		case enter && !send(line):
			return nil
		}
	}
}

// key edits the line with one key; it returns the line when the key is
// Enter, and eof for Ctrl-D on an empty line.
func (c *console) key(k rune) (line string, enter, eof bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.esc == 1: // ESC x, or ESC [ starting a CSI sequence
		c.esc = 0
		if k == '[' || k == 'O' {
			c.esc = 2
		}
	case c.esc == 2: // parameters, then a final byte
		if k >= 0x40 && k <= 0x7e {
			c.esc = 0
		}
	case k == 0x1b:
		c.esc = 1 // arrows and other keys: not supported, ignored
	case k == '\r' || k == '\n':
		line = string(c.line)
		c.line = c.line[:0]
		fmt.Fprintf(c.out, "\n%s", c.prompt)
		return line, true, false
	case k == 0x7f || k == 0x08: // backspace
		if n := len(c.line); n > 0 {
			c.line = c.line[:n-1]
			fmt.Fprint(c.out, "\b \b")
		}
	case k == 0x15: // Ctrl-U: clear the line
		c.line = c.line[:0]
		fmt.Fprintf(c.out, "\r\x1b[K%s", c.prompt)
	case k == 0x04: // Ctrl-D
		if len(c.line) == 0 {
			fmt.Fprintln(c.out)
			return "", false, true
		}
	case k == utf8.RuneError || unicode.IsControl(k):
		// ignored
	default:
		c.line = append(c.line, k)
		fmt.Fprint(c.out, string(k))
	}
	return "", false, false
}

// cbreak puts the terminal on stdin in cbreak mode (keys are delivered as
// typed, without echo; Ctrl-C still interrupts) with stty, and returns the
// function that restores it. It reports false when stdin is not a
// terminal or stty is not available (Windows): the chat then reads lines.
func cbreak() (restore func(), ok bool) {
	stty := func(args ...string) ([]byte, error) {
		cmd := exec.Command("stty", args...)
		cmd.Stdin = os.Stdin
		return cmd.Output()
	}
	saved, err := stty("-g")
	if err != nil {
		return nil, false
	}
	if _, err := stty("-icanon", "-echo", "min", "1", "time", "0"); err != nil {
		return nil, false
	}
	return func() { _, _ = stty(strings.TrimSpace(string(saved))) }, true
}
