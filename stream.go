package messaging

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// DefaultFlushInterval is how often, at most, a [Stream] edits its message
// unless StreamParams.FlushInterval says otherwise.
const DefaultFlushInterval = 100 * time.Millisecond

// StreamMetadataKey is the metadata key, set to true, that marks a
// message as streamed: its content grows by edits until the stream ends.
// Receivers read it to know that more is coming (see [ChunkAssembler]).
const StreamMetadataKey = "streaming"

// Stream tunables.
const (
	// typingRefresh is how often a stream repeats typing:start, so that
	// receivers that expire typing indicators (TypingTracker's default is
	// 5 s) keep showing it.
	typingRefresh = 3 * time.Second
	// typingTimeout bounds one typing emit.
	typingTimeout = 2 * time.Second
	// ioGrace is how long a send or an edit already under way may still
	// take once the stream's context has ended, so that the message's
	// stored content stays what Content reports.
	ioGrace = 5 * time.Second
)

// StreamParams describe a streamed message. Everything is optional.
type StreamParams struct {
	// ID is the message's id, a UUID; empty means a new random one.
	ID string
	// ContentType defaults to "text" on the service; "event" is refused.
	ContentType string
	// ReplyTo is the id (UUID) of the message the stream answers.
	ReplyTo string
	// Metadata is sent with the first chunk (the service's edits change
	// content only). StreamMetadataKey is added, set to true.
	Metadata map[string]any
	// Priority defaults to the run's priority.
	Priority Priority
	// FlushInterval is the shortest time between two sends of the
	// message (the first chunk, then each edit); zero means
	// DefaultFlushInterval.
	FlushInterval time.Duration
	// NoTyping turns the typing indicator off.
	NoTyping bool
	// Existing says that ID names a message the caller has already
	// created (e.g. a placeholder): the stream edits it from the first
	// chunk on instead of creating it. ContentType, ReplyTo, Metadata and
	// Priority are then unused (an edit changes the content only).
	Existing bool
}

// Stream is a message written piece by piece by an agent's [Run], as a
// model produces it: the first chunk creates the message, later chunks
// are appended and sent as edits of the whole content, at most once per
// flush interval. Make one with Run.Stream; it is an io.WriteCloser.
//
// Writes return at once (the text is buffered and sent by the stream's
// own goroutine), except while the run is paused: then they block until
// it resumes, and nothing is sent. When the run ends (a cancel, a
// preemption, a handoff, End) or the stream's context ends, writes fail
// with the run's cause (or the context's), nothing more is sent, and the
// message keeps what was sent before: Content, once Close has returned,
// is exactly what the service stores. While streaming, the stream shows
// the caller as typing in the conversation (see StreamParams.NoTyping),
// repeating typing:start every few seconds (not while paused), and sends
// typing:stop at the end, once no other stream of the same socket types
// in the conversation: receivers take the stop as the end of the
// sender's streams (see ChunkAssembler).
//
// Text is sent in whole UTF-8 characters: bytes of a character split
// across writes wait for the rest.
//
// Every method is safe for concurrent use.
type Stream struct {
	r        *Run
	ctx      context.Context
	id       string
	existing bool // the message exists: edit from the first chunk
	tmpl     SendMessageParams
	interval time.Duration
	typing   bool

	wake chan struct{} // capacity 1: something to look at
	done chan struct{} // closed when the goroutine has exited

	mu       sync.Mutex
	buf      []byte   // everything written
	sentLen  int      // bytes of buf the service has
	sent     string   // the content the service has
	msg      *Message // as last stored
	closing  bool
	err      error         // why the stream stopped, if not by Close
	progress chan struct{} // closed and replaced after each send
}

// Stream starts a streamed message in the run's conversation. It sends
// nothing yet: the first non-empty write creates the message, with the
// id of params.ID (or a new one), Interruptible true, the run's id and
// trace id, and StreamMetadataKey in its metadata.
//
// ctx bounds the stream: when it ends, writes fail with its cause and
// nothing more is sent (a send already under way may still take up to a
// few seconds to be acknowledged, so that Content stays exact). It may be
// the run's Context. The stream's goroutine ends with Close, with the run,
// or with ctx.
func (r *Run) Stream(ctx context.Context, params StreamParams) (*Stream, error) {
	if ctx == nil {
		return nil, invalid("ctx", "is nil")
	}
	if params.FlushInterval < 0 {
		return nil, invalid("params.FlushInterval", "must not be negative, got %v", params.FlushInterval)
	}
	if params.Existing && params.ID == "" {
		return nil, invalid("params.ID", "is required with params.Existing")
	}
	if params.ID == "" {
		id, err := uuid.NewRandom()
		if err != nil {
			return nil, fmt.Errorf("messaging: making a message id: %w", err)
		}
		params.ID = id.String()
	}
	meta := make(map[string]any, len(params.Metadata)+1)
	maps.Copy(meta, params.Metadata)
	meta[StreamMetadataKey] = true
	tmpl := SendMessageParams{
		ID:            params.ID,
		ContentType:   params.ContentType,
		ReplyTo:       params.ReplyTo,
		Metadata:      meta,
		Priority:      params.Priority,
		Interruptible: Bool(true),
	}
	if err := r.fill(&tmpl); err != nil {
		return nil, err
	}
	check := tmpl
	check.Content = "-"
	if err := check.validate(); err != nil {
		return nil, err
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	interval := params.FlushInterval
	if interval == 0 {
		interval = DefaultFlushInterval
	}
	st := &Stream{
		r:        r,
		ctx:      ctx,
		id:       params.ID,
		existing: params.Existing,
		tmpl:     tmpl,
		interval: interval,
		typing:   !params.NoTyping,
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		progress: make(chan struct{}),
	}
	go st.loop()
	return st, nil
}

// errStreamClosed is the error of a write after Close.
var errStreamClosed = fmt.Errorf("messaging: stream: %w", ErrClosed)

// ID returns the message's id.
func (st *Stream) ID() string { return st.id }

// Message returns the message as the service last stored it (a copy), or
// nil before the first chunk was sent.
func (st *Stream) Message() *Message {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.msg == nil {
		return nil
	}
	m := *st.msg
	return &m
}

// Content returns the text the service has: the content of the last send
// or edit it acknowledged.
func (st *Stream) Content() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.sent
}

// Write appends p to the message. It blocks while the run is paused, and
// fails with the run's cause once the run has ended, with the context's
// once the stream's context has ended, with the error of a failed send or
// edit, or with an error matching ErrClosed after Close.
func (st *Stream) Write(p []byte) (int, error) {
	if err := st.writable(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	st.mu.Lock()
	if err := st.stoppedLocked(); err != nil {
		st.mu.Unlock()
		return 0, err
	}
	st.buf = append(st.buf, p...)
	st.mu.Unlock()
	st.poke()
	return len(p), nil
}

// WriteString appends s to the message, as Write.
func (st *Stream) WriteString(s string) (int, error) {
	if err := st.writable(); err != nil {
		return 0, err
	}
	if s == "" {
		return 0, nil
	}
	st.mu.Lock()
	if err := st.stoppedLocked(); err != nil {
		st.mu.Unlock()
		return 0, err
	}
	st.buf = append(st.buf, s...)
	st.mu.Unlock()
	st.poke()
	return len(s), nil
}

// writable waits while the run is paused and says why the stream cannot
// take text, if it cannot.
func (st *Stream) writable() error {
	st.mu.Lock()
	err := st.stoppedLocked()
	st.mu.Unlock()
	if err != nil {
		return err
	}
	if err := st.r.Wait(st.ctx); err != nil {
		if st.ctx.Err() != nil {
			return context.Cause(st.ctx)
		}
		return err
	}
	if st.ctx.Err() != nil {
		return context.Cause(st.ctx)
	}
	return nil
}

func (st *Stream) stoppedLocked() error {
	switch {
	case st.err != nil:
		return st.err
	case st.closing:
		return errStreamClosed
	}
	return nil
}

func (st *Stream) poke() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// Flush waits until everything written before the call has been sent, at
// the pace of the flush interval, and returns nil; or until the stream
// stops (its error, as Write), or ctx ends. While the run is paused it
// waits for the resume.
func (st *Stream) Flush(ctx context.Context) error {
	if ctx == nil {
		return invalid("ctx", "is nil")
	}
	st.mu.Lock()
	target := completeRunes(st.buf)
	st.mu.Unlock()
	for {
		st.mu.Lock()
		sent, err, ch := st.sentLen, st.err, st.progress
		st.mu.Unlock()
		if sent >= target {
			return nil
		}
		if err != nil {
			return err
		}
		st.poke()
		select {
		case <-ch:
		case <-st.done:
			st.mu.Lock()
			sent, err = st.sentLen, st.err
			st.mu.Unlock()
			if sent >= target {
				return nil
			}
			if err == nil {
				err = errStreamClosed
			}
			return err
		case <-ctx.Done():
			return fmt.Errorf("messaging: stream flush: %w", ctx.Err())
		}
	}
}

// Close sends what is left (once the flush interval allows, and once the
// run is resumed if it is paused), stops the typing indicator and ends the
// stream's goroutine. It returns nil when the message holds everything
// written; otherwise why it does not: the run's cause when the run ended
// first (nothing more is sent after a cancel or a preemption), the
// context's, or the error of a failed send. A run or a context that ended
// before Close returned is its answer even when nothing was left to send.
// Nothing is sent for a stream never written to. Close is idempotent;
// later calls return the same.
func (st *Stream) Close() error {
	st.mu.Lock()
	st.closing = true
	st.mu.Unlock()
	st.poke()
	<-st.done
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err
}

// completeRunes returns the length of the longest prefix of b that does
// not end inside a UTF-8 sequence that more bytes could complete.
func completeRunes(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return len(b)
			}
			return i
		}
	}
	return len(b)
}

// next returns the content to send, if any differs from what was sent.
func (st *Stream) next() (content string, n int, closing, ok bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	closing = st.closing
	n = len(st.buf)
	if !closing {
		n = completeRunes(st.buf)
	}
	if n <= st.sentLen {
		return "", n, closing, false
	}
	content = strings.ToValidUTF8(string(st.buf[:n]), "\uFFFD")
	return content, n, closing, true
}

// stop records why the stream stopped, unless it has already.
func (st *Stream) stop(err error) {
	st.mu.Lock()
	if st.err == nil {
		st.err = err
	}
	st.mu.Unlock()
}

// stopIfEnded records the run's cause, or the context's, if either has
// ended.
func (st *Stream) stopIfEnded() {
	if state, _, cause := st.r.snapshot(); state.Ended() {
		st.stop(cause)
	} else if st.ctx.Err() != nil {
		st.stop(context.Cause(st.ctx))
	}
}

// loop is the stream's goroutine: it sends the message and its edits,
// keeps the typing indicator up, and exits when the stream is closed and
// sent, when the run ends or when the context ends.
func (st *Stream) loop() {
	defer close(st.done)
	typingOn := false
	var typingAt, lastSend time.Time
	var share *typingShare
	setTyping := func(on bool) {
		if !st.typing || (!on && !typingOn) {
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(st.ctx), typingTimeout)
		defer cancel()
		if share == nil {
			share = st.r.s.streams.enter(st.r.conv)
		}
		share.set(ctx, st.r.s, st.r.conv, typingOn, on)
		if on {
			typingAt = time.Now()
		} else {
			st.r.s.streams.leave(st.r.conv, share)
			share = nil
		}
		typingOn = on
	}
	defer setTyping(false)

	for {
		state, changed, cause := st.r.snapshot()
		switch {
		case state.Ended():
			st.stop(cause)
			return
		case st.ctx.Err() != nil:
			st.stop(context.Cause(st.ctx))
			return
		case state == RunPaused:
			// Nothing is sent while paused, not even typing: receivers
			// expire the indicator.
			select {
			case <-changed:
			case <-st.ctx.Done():
			}
			continue
		}
		if st.typing && (!typingOn || time.Since(typingAt) >= typingRefresh) {
			setTyping(true)
		}
		content, n, closing, ok := st.next()
		if !ok {
			if closing {
				// Everything is sent. A run or a context that ended
				// meanwhile is still Close's answer, as when this loop
				// notices it first.
				st.stopIfEnded()
				return
			}
			var refresh <-chan time.Time
			var t *time.Timer
			if typingOn {
				t = time.NewTimer(typingRefresh - time.Since(typingAt))
				refresh = t.C
			}
			select {
			case <-st.wake:
			case <-changed:
			case <-st.ctx.Done():
			case <-refresh:
			}
			if t != nil {
				t.Stop()
			}
			continue
		}
		if !lastSend.IsZero() {
			if wait := st.interval - time.Since(lastSend); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-changed:
				case <-st.ctx.Done():
				}
				t.Stop()
				continue
			}
		}
		// The typing emit above can take a while: a pause or an end that
		// came meanwhile stops this send.
		if st.r.State() != RunRunning || st.ctx.Err() != nil {
			continue
		}
		if h := st.r.issueHook; h != nil {
			h(content)
		}
		// Taken after the hook, so that the interval also holds between
		// the times the hook sees.
		lastSend = time.Now()
		if err := st.send(content, n); err != nil {
			st.stop(err)
			return
		}
	}
}

// send creates the message or edits it to content, the first n bytes of
// what was written.
func (st *Stream) send(content string, n int) error {
	ctx, release := st.ioContext()
	defer release()
	st.mu.Lock()
	first := st.msg == nil && !st.existing
	st.mu.Unlock()
	var m *Message
	var err error
	if first {
		p := st.tmpl
		p.Content = content
		m, err = st.r.s.SendMessage(ctx, p)
	} else {
		m, err = st.r.s.EditMessage(ctx, st.id, content)
	}
	if err != nil {
		if st.ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w (%w)", context.Cause(st.ctx), err)
		}
		return err
	}
	st.mu.Lock()
	st.sentLen, st.sent, st.msg = n, content, m
	close(st.progress)
	st.progress = make(chan struct{})
	st.mu.Unlock()
	return nil
}

// ioContext returns the context of one send or edit: it outlives the
// stream's context by ioGrace, so that a send under way when the run is
// stopped completes and Content stays what the service stores.
func (st *Stream) ioContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(st.ctx))
	var mu sync.Mutex
	var t *time.Timer
	released := false
	stop := context.AfterFunc(st.ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !released {
			t = time.AfterFunc(ioGrace, cancel)
		}
	})
	return ctx, func() {
		stop()
		mu.Lock()
		released = true
		if t != nil {
			t.Stop()
		}
		mu.Unlock()
		cancel()
	}
}
