package messaging

import (
	"strings"
	"sync"

	"github.com/symbia-labs/messaging-go/internal/emitter"
)

// Chunk is one step of a message's content as a receiver sees it grow: the
// chunk / complete view of a streamed reply, made from the service's
// message:new and message:updated events by a [ChunkAssembler].
type Chunk struct {
	MessageID      string
	ConversationID string
	SenderID       string
	// RunID is the run the message belongs to, if any.
	RunID string
	// Seq numbers the chunks of one message from 1, in order, the
	// completing chunk included.
	Seq int
	// Text is what this chunk adds to the content (empty for a chunk that
	// only completes the message), or, when Replaced is set, the whole new
	// content.
	Text string
	// Content is the whole content so far.
	Content string
	// Replaced says the content changed other than by growing (an edit
	// rewrote it): Text is then the whole content.
	Replaced bool
	// Complete says the message is not expected to change any more. See
	// ChunkAssembler for how completion is known.
	Complete bool
	// StoppedBy is, for a message completed because a control event ended
	// its run, that event (stream.cancel, stream.preempt, stream.handoff or
	// stream.route); empty otherwise.
	StoppedBy ControlEventName
}

// chunkMemory is how many completed messages a ChunkAssembler remembers,
// so that a late edit of one continues its numbering.
const chunkMemory = 1024

// ChunkAssembler turns the events of messages into ordered chunks for a
// function, the receiving side of a [Stream]. Feed it with Attach, or by
// hand with Message, TypingStopped, Control and Delete.
//
// The service's edits carry content only, so nothing on the wire says
// "this is the last edit". A ChunkAssembler decides with these rules,
// built on what the service does carry:
//
//   - a message without StreamMetadataKey in its metadata was not
//     streamed: it is one chunk, complete at once;
//   - a streamed message is complete when its sender stops typing in the
//     conversation (typing:stopped): a Stream stops typing only after its
//     final edit was acknowledged, and the service emits message:updated
//     to the room before that acknowledgement (messagingtest does, and so
//     does the service as far as observed), so the final content has
//     arrived by then; were it ever late, it would come as one more chunk,
//     Complete, its number following on;
//   - or when a control event ends its run: stream.cancel, stream.preempt,
//     stream.handoff or stream.route naming the message's run id, or a
//     cancel or a preemption without run id whose target is the sender
//     (Chunk.StoppedBy says which);
//   - or when the caller says so with Complete.
//
// Typing events reach everyone in the room except the typist, so a
// socket does not see its own streams complete by the second rule. The
// typing indicator belongs to a principal and a conversation, not to a
// message: a socket streaming two messages at once in one conversation
// stops typing when the last one ends, so both complete then (a stream
// ended by a control event completes at once by the third rule); two
// sockets of one principal streaming in one conversation can complete
// each other's messages early. A lost typing:stopped leaves a message
// open until another rule applies (or Delete).
//
// The function is called one call at a time, in order, on the goroutine
// that fed the event (with Attach, the socket's dispatcher goroutine),
// and may call the assembler's methods. Methods are safe for concurrent
// use.
type ChunkAssembler struct {
	out emitter.List[Chunk]

	mu   sync.Mutex
	open map[string]*chunkState // streamed messages not yet complete
	done map[string]*chunkState // completed messages, the last chunkMemory
	ring []string               // ids of done, oldest first
}

type chunkState struct {
	conv, sender, run string
	seq               int
	content           string
}

// NewChunkAssembler returns an assembler that passes every chunk to fn.
func NewChunkAssembler(fn func(Chunk)) *ChunkAssembler {
	a := &ChunkAssembler{open: make(map[string]*chunkState), done: make(map[string]*chunkState)}
	a.out.On(fn)
	return a
}

// Attach feeds the assembler with the socket's events: new and edited
// messages, typing stops, control events and deletions. It returns a
// function that detaches it.
func (a *ChunkAssembler) Attach(s *Socket) (detach func()) {
	offs := []func(){
		s.OnMessage(a.Message),
		s.OnMessageUpdate(a.Message),
		s.OnTypingStop(a.TypingStopped),
		s.OnControl("*", a.Control),
		s.OnMessageDelete(func(e MessageDeletedEvent) { a.Delete(e.ID) }),
	}
	return func() {
		for _, off := range offs {
			off()
		}
	}
}

// Message feeds a new or edited message (message:new or message:updated).
// Records of control events and activity records (IsActivity: not streamed
// text) are ignored, and so is an event that does not change the content
// (a repeated broadcast).
func (a *ChunkAssembler) Message(m *Message) {
	if m == nil || m.ID == "" || m.IsControl() || IsActivity(m) {
		return
	}
	a.mu.Lock()
	c, open := a.open[m.ID]
	if !open {
		c = a.done[m.ID]
	}
	if c == nil {
		c = &chunkState{conv: m.ConversationID, sender: m.SenderID, run: m.RunID}
		if streaming, _ := m.Metadata[StreamMetadataKey].(bool); streaming {
			a.open[m.ID] = c
			open = true
		} else {
			a.rememberLocked(m.ID, c)
		}
	}
	if c.seq > 0 && m.Content == c.content {
		a.mu.Unlock()
		return
	}
	ch := a.stepLocked(m.ID, c, m.Content)
	ch.Complete = !open
	start := a.out.Enqueue(ch)
	a.mu.Unlock()
	if start {
		drain(&a.out)
	}
}

// stepLocked makes the next chunk of c for content.
func (a *ChunkAssembler) stepLocked(id string, c *chunkState, content string) Chunk {
	ch := Chunk{MessageID: id, ConversationID: c.conv, SenderID: c.sender, RunID: c.run, Content: content}
	if strings.HasPrefix(content, c.content) {
		ch.Text = content[len(c.content):]
	} else {
		ch.Text, ch.Replaced = content, true
	}
	c.seq++
	ch.Seq = c.seq
	c.content = content
	return ch
}

// rememberLocked keeps a completed message's state, forgetting the oldest
// beyond chunkMemory.
func (a *ChunkAssembler) rememberLocked(id string, c *chunkState) {
	a.done[id] = c
	a.ring = append(a.ring, id)
	if len(a.ring) > chunkMemory {
		delete(a.done, a.ring[0])
		a.ring[0] = ""
		a.ring = a.ring[1:]
	}
}

// completeLocked completes open messages chosen by match and queues their
// completing chunks; it reports whether the caller must drain.
func (a *ChunkAssembler) completeLocked(match func(*chunkState) bool, by ControlEventName) bool {
	start := false
	for id, c := range a.open {
		if !match(c) {
			continue
		}
		delete(a.open, id)
		a.rememberLocked(id, c)
		c.seq++
		ch := Chunk{
			MessageID: id, ConversationID: c.conv, SenderID: c.sender, RunID: c.run,
			Seq: c.seq, Content: c.content, Complete: true, StoppedBy: by,
		}
		if a.out.Enqueue(ch) {
			start = true
		}
	}
	return start
}

func (a *ChunkAssembler) complete(match func(*chunkState) bool, by ControlEventName) {
	a.mu.Lock()
	start := a.completeLocked(match, by)
	a.mu.Unlock()
	if start {
		drain(&a.out)
	}
}

// TypingStopped feeds a typing:stopped event: the sender's streamed
// messages in that conversation are complete.
func (a *ChunkAssembler) TypingStopped(e TypingEvent) {
	a.complete(func(c *chunkState) bool {
		return c.sender == e.UserID && strings.EqualFold(c.conv, e.ConversationID)
	}, "")
}

// Control feeds a control event: one that ends a run completes the run's
// streamed messages (see ChunkAssembler).
func (a *ChunkAssembler) Control(e ControlEvent) {
	switch e.Event {
	case StreamCancel, StreamPreempt, StreamHandoff, StreamRoute:
	default:
		return
	}
	var match func(*chunkState) bool
	switch {
	case e.RunID != "":
		match = func(c *chunkState) bool { return c.run != "" && strings.EqualFold(c.run, e.RunID) }
	case e.Target != nil && (e.Event == StreamCancel || e.Event == StreamPreempt):
		match = func(c *chunkState) bool { return c.sender == e.Target.PrincipalID }
	default:
		return
	}
	a.complete(func(c *chunkState) bool {
		return strings.EqualFold(c.conv, e.ConversationID) && match(c)
	}, e.Event)
}

// Complete completes a streamed message now, as if its stream had ended.
// It does nothing for a message that is not open.
func (a *ChunkAssembler) Complete(messageID string) {
	a.complete(func(c *chunkState) bool { return a.open[messageID] == c }, "")
}

// Delete forgets a message (deleted, or no longer of interest) without a
// chunk.
func (a *ChunkAssembler) Delete(messageID string) {
	a.mu.Lock()
	delete(a.open, messageID)
	delete(a.done, messageID) // its id stays in the ring until it rolls out
	a.mu.Unlock()
}
