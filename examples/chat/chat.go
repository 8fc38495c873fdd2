package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	messaging "github.com/symbia-labs/messaging-go"
)

// displayNameKey is the message metadata key under which this chat sends its
// user's name, so that the other side can show names instead of ids. It is
// a convention of this example, not of the service.
const displayNameKey = "displayName"

// options tune a chat session.
type options struct {
	// history is how many earlier messages to show on arrival.
	history int
	// keys says that in delivers keys as they are typed (a terminal in
	// cbreak mode): the chat echoes and edits the line itself, and redraws
	// it below what arrives while it is typed.
	keys bool
	// names are display names known beforehand, by principal id (the demo
	// users').
	names map[string]string
}

// nameScan is how many of the latest messages are read on arrival to learn
// the names of the participants: the service knows no one's name but the
// caller's (GET /api/auth/me), so the chat learns the others' from the
// display names their messages carry.
const nameScan = 200

// chat runs one chat session of the client's user in a conversation: every
// line read from in becomes a message (or a /command), and what the
// conversation's other members do is written to out. It returns nil when in
// ends, on /quit, or when ctx ends; an error if the session cannot start or
// the socket gives up.
func chat(ctx context.Context, client *messaging.Client, conversationID string, in io.Reader, out io.Writer, opt options) error {
	s := &session{
		client:  client,
		conv:    conversationID,
		con:     &console{out: out, keys: opt.keys},
		names:   map[string]string{},
		members: map[string]bool{},
		typing:  map[string]bool{},
		mine:    map[string]bool{},
		gaveUp:  make(chan error, 1),
	}
	for id, n := range opt.names {
		s.names[id] = n
	}
	return s.run(ctx, in, opt)
}

// session is the state of one chat.
type session struct {
	client *messaging.Client
	socket *messaging.Socket
	conv   string
	me     messaging.User
	myName string

	con *console

	mu      sync.Mutex
	names   map[string]string // principal id → display name
	members map[string]bool   // participants of the conversation, as far as seen
	typing  map[string]bool   // who is shown typing, until a message or a stop
	mine    map[string]bool   // ids of the messages this session sent

	gaveUp chan error // the socket stopped trying to reconnect
}

func (s *session) run(ctx context.Context, in io.Reader, opt options) error {
	me, err := s.client.Me(ctx)
	if err != nil {
		return fmt.Errorf("who am I: %w", err)
	}
	s.me = me.User
	s.myName = firstNonEmpty(me.User.Name, me.User.Email, short(me.User.ID))
	s.names[me.User.ID] = s.myName

	conv, err := s.enter(ctx)
	if err != nil {
		return err
	}
	for _, p := range conv.Participants {
		s.members[p.UserID] = true
	}

	if s.socket, err = s.client.NewSocket(); err != nil {
		return err
	}
	defer s.socket.Close()
	s.listen()
	if err := s.socket.Connect(ctx); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if err := s.socket.JoinConversation(ctx, s.conv); err != nil {
		return fmt.Errorf("join the conversation's room: %w", err)
	}
	if err := s.showHistory(ctx, opt.history); err != nil {
		return err
	}
	s.printf("* connected as %s to %q (%s); type a message and press Enter, /help for commands", s.myName, conv.Name, conv.ID)
	s.con.setPrompt(s.myName + "> ")
	defer s.con.finish()

	lines := make(chan string)
	readErr := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() { readErr <- s.con.readLines(in, lines, done) }()

	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-s.gaveUp:
			return err
		case err := <-readErr:
			return err // nil at the end of the input
		case line := <-lines:
			quit, err := s.handle(ctx, line)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.printf("! %v", err)
			}
			if quit {
				return nil
			}
		}
	}
}

// enter returns the conversation, joining it first (over REST) when the
// caller is not a participant yet, which the service allows for groups.
func (s *session) enter(ctx context.Context) (*messaging.Conversation, error) {
	conv, err := s.client.GetConversation(ctx, s.conv)
	if errors.Is(err, messaging.ErrNotParticipant) {
		if _, jerr := s.client.JoinConversation(ctx, s.conv); jerr != nil {
			return nil, fmt.Errorf("conversation %s: not a participant, and joining failed: %w", s.conv, jerr)
		}
		s.printf("* joined conversation %s", s.conv)
		conv, err = s.client.GetConversation(ctx, s.conv)
	}
	if err != nil {
		return nil, fmt.Errorf("conversation %s: %w", s.conv, err)
	}
	return conv, nil
}

// handle acts on one line of input; it reports whether to quit.
func (s *session) handle(ctx context.Context, line string) (quit bool, err error) {
	line = strings.TrimRight(line, "\r")
	if strings.TrimSpace(line) == "" {
		return false, nil
	}
	if cmd, ok := strings.CutPrefix(line, "/"); ok && !strings.HasPrefix(cmd, "/") {
		return s.command(ctx, strings.Fields(cmd))
	}
	line = strings.TrimPrefix(line, "/") // "//text" sends "/text"

	// A line-based terminal delivers a line only when Enter is pressed, so
	// the chat cannot see keystrokes: it shows the others it is typing for
	// the time the send takes, as a streaming agent does.
	if err := s.socket.StartTyping(ctx, s.conv); err != nil {
		return false, err
	}
	id := uuid.NewString()
	s.mu.Lock()
	s.mine[id] = true
	s.mu.Unlock()
	_, err = s.socket.SendMessage(ctx, messaging.SendMessageParams{
		ConversationID: s.conv,
		ID:             id,
		Content:        line,
		Metadata:       map[string]any{displayNameKey: s.myName},
	})
	if stopErr := s.socket.StopTyping(ctx, s.conv); err == nil {
		err = stopErr
	}
	return false, err
}

const help = `commands:
  /presence online|away|busy|offline   set your presence
  /history [n]                          show the last n messages (default 10)
  /quit                                 leave (Ctrl-D or Ctrl-C work too)
  //text                                send a line that starts with "/"`

func (s *session) command(ctx context.Context, args []string) (quit bool, err error) {
	if len(args) == 0 {
		args = []string{"help"}
	}
	switch args[0] {
	case "quit", "exit":
		return true, nil
	case "presence":
		if len(args) != 2 {
			return false, errors.New("usage: /presence online|away|busy|offline")
		}
		st := messaging.PresenceStatus(args[1])
		if !st.Valid() {
			return false, fmt.Errorf("unknown presence %q: use online, away, busy or offline", args[1])
		}
		if err := s.socket.UpdatePresence(ctx, st); err != nil {
			return false, err
		}
		s.printf("* you are %s", st)
	case "history":
		n := 10
		if len(args) == 2 {
			if _, err := fmt.Sscan(args[1], &n); err != nil || n <= 0 {
				return false, errors.New("usage: /history [n], n > 0")
			}
		}
		return false, s.showHistory(ctx, n)
	case "help":
		s.printf("%s", help)
	default:
		s.printf("! unknown command /%s", args[0])
		s.printf("%s", help)
	}
	return false, nil
}

// showHistory prints the last n messages, oldest first. It reads at least
// the last nameScan messages, to learn the names of their senders.
func (s *session) showHistory(ctx context.Context, n int) error {
	var last []messaging.Message
	read := 0
	for m, err := range s.client.Messages(ctx, s.conv, messaging.WithPageSize(max(n, 50)), messaging.WithoutControl()) {
		if err != nil {
			return fmt.Errorf("history: %w", err)
		}
		s.learn(&m)
		if len(last) < n {
			last = append(last, m)
		}
		if read++; read >= max(n, nameScan) {
			break
		}
	}
	if n <= 0 {
		return nil
	}
	if len(last) == 0 {
		s.printf("* no messages yet")
		return nil
	}
	slices.Reverse(last)
	s.printf("* the last %d message(s):", len(last))
	for i := range last {
		s.printf("%s", s.format(&last[i], true))
	}
	return nil
}

// listen registers the handlers that print what others do. They run on
// the socket's dispatcher goroutine, one at a time.
func (s *session) listen() {
	s.socket.OnMessage(func(m *messaging.Message) {
		if m.ConversationID != s.conv || messaging.IsActivity(m) {
			return // activity records are shown by OnActivity below
		}
		s.learn(m)
		s.mu.Lock()
		mine := s.mine[m.ID]
		delete(s.mine, m.ID)
		delete(s.typing, m.SenderID)
		s.mu.Unlock()
		if !mine { // the terminal shows what was typed here already
			s.printf("%s", s.format(m, false))
		}
	})
	s.socket.OnMessageUpdate(func(m *messaging.Message) {
		if m.ConversationID == s.conv && !messaging.IsActivity(m) {
			s.printf("* %s edited a message: %s", s.name(m.SenderID), m.Content)
		}
	})
	// What an agent is doing: its tool calls, tasks and status, carried by
	// activity records that it edits as it works.
	s.socket.OnActivity(func(e messaging.ActivityEvent) {
		if e.Record.ConversationID == s.conv {
			s.printf("* %s", s.activity(e.Type, e.Record))
		}
	})
	s.socket.OnMessageDelete(func(e messaging.MessageDeletedEvent) {
		if e.ConversationID == s.conv {
			s.printf("* a message was deleted")
		}
	})
	s.socket.OnTypingStart(func(e messaging.TypingEvent) {
		if e.ConversationID != s.conv {
			return
		}
		s.mu.Lock()
		already := s.typing[e.UserID]
		s.typing[e.UserID] = true
		s.mu.Unlock()
		if !already {
			s.printf("* %s is typing…", s.name(e.UserID))
		}
	})
	s.socket.OnTypingStop(func(e messaging.TypingEvent) {
		if e.ConversationID != s.conv {
			return
		}
		s.mu.Lock()
		shown := s.typing[e.UserID]
		delete(s.typing, e.UserID)
		s.mu.Unlock()
		if shown { // no message came since: say it stopped
			s.printf("* %s stopped typing", s.name(e.UserID))
		}
	})
	s.socket.OnParticipantOnline(func(e messaging.ParticipantEvent) {
		if e.ConversationID == s.conv && e.UserID != s.me.ID {
			s.member(e.UserID)
			s.printf("* %s is online", s.name(e.UserID))
		}
	})
	s.socket.OnParticipantOffline(func(e messaging.ParticipantEvent) {
		if e.ConversationID == s.conv && e.UserID != s.me.ID {
			s.mu.Lock()
			delete(s.typing, e.UserID)
			s.mu.Unlock()
			s.printf("* %s went offline", s.name(e.UserID))
		}
	})
	s.socket.OnPresence(func(e messaging.PresenceEvent) {
		// The service sends presence to every socket it serves; show only
		// the members of this conversation. A disconnect also sends
		// participant:offline, shown above.
		s.mu.Lock()
		member := s.members[e.UserID]
		s.mu.Unlock()
		if member && e.Status != messaging.PresenceOffline {
			s.printf("* %s is %s", s.name(e.UserID), e.Status)
		}
	})
	s.socket.OnControl("*", func(e messaging.ControlEvent) {
		if e.ConversationID != s.conv {
			return
		}
		line := "* control " + string(e.Event)
		if e.Target != nil {
			line += " for " + s.name(e.Target.PrincipalID)
		}
		if e.Reason != "" {
			line += ": " + e.Reason
		}
		s.printf("%s", line)
	})
	s.socket.OnStateChange(func(c messaging.StateChange) {
		switch {
		case c.Current == messaging.StateReconnecting:
			s.printf("* connection lost (%s), reconnecting…", c.Reason)
		case c.Current == messaging.StateConnected && c.Previous == messaging.StateReconnecting:
			s.printf("* reconnected")
		case c.Current == messaging.StateDisconnected && c.Previous != messaging.StateConnecting:
			err := c.Err
			if err == nil {
				err = errors.New(c.Reason)
			}
			select {
			case s.gaveUp <- fmt.Errorf("disconnected: %w", err):
			default:
			}
		}
	})
	s.socket.OnError(func(err error) {
		s.printf("! %v", err)
	})
}

// learn records the sender of a message as a member, and its name if the
// message carries one.
func (s *session) learn(m *messaging.Message) {
	s.member(m.SenderID)
	if n, ok := m.Metadata[displayNameKey].(string); ok && n != "" && m.SenderID != s.me.ID {
		s.mu.Lock()
		s.names[m.SenderID] = n
		s.mu.Unlock()
	}
}

func (s *session) member(id string) {
	s.mu.Lock()
	s.members[id] = true
	s.mu.Unlock()
}

// name returns a principal's display name: one known beforehand or
// carried by its messages; else an id that is not a UUID, such as an
// agent's "assistant:helper", as it is; else the start of the id.
func (s *session) name(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.names[id]; ok {
		return n
	}
	if uuid.Validate(id) != nil {
		return id
	}
	return short(id)
}

// format renders a message as a line of the chat.
func (s *session) format(m *messaging.Message, past bool) string {
	at := m.CreatedAt.Local().Format(time.TimeOnly)
	if past && time.Since(m.CreatedAt) > 12*time.Hour {
		at = m.CreatedAt.Local().Format(time.DateTime)
	}
	if r, err := messaging.DecodeActivity(m); err == nil {
		// An activity record in the history: its latest state.
		return fmt.Sprintf("[%s] %s", at, s.activity("", r))
	}
	who := s.name(m.SenderID)
	if m.SenderType == messaging.SenderAgent {
		who += " (agent)"
	}
	return fmt.Sprintf("[%s] %s: %s", at, who, m.Content)
}

// activity renders what an activity record says, e.g. "agent: searching
// flights… 75 %". typ is the event, or "" for a record read from history.
func (s *session) activity(typ messaging.ActivityEventType, r messaging.ActivityRecord) string {
	who := s.name(r.SenderID)
	what := firstNonEmpty(r.Message, r.Name)
	pct := fmt.Sprintf("%.0f %%", 100*r.Progress)
	if r.Kind == messaging.ActivityAgentStatus {
		line := who + " is " + r.Status
		if r.CurrentTask != "" {
			line += ": " + r.CurrentTask
		}
		if r.State.Final() {
			return who + " is done"
		}
		return line + " (" + pct + ")"
	}
	switch {
	case r.State == messaging.ActivityCompleted:
		line := who + ": " + r.Name + " done"
		if len(r.Result) > 0 {
			line += ": " + string(r.Result)
		}
		return line
	case r.State.Final():
		line := fmt.Sprintf("%s: %s %s", who, r.Name, r.State)
		if r.Error != nil {
			line += ": " + firstNonEmpty(r.Error.Message, r.Error.Code)
			if r.Error.Retryable {
				line += " (retryable)"
			}
		}
		return line
	case typ == messaging.ToolCallStart || typ == messaging.AgentTaskStart:
		return who + ": " + r.Name + " started"
	}
	return who + ": " + what + " " + pct
}

// printf writes one line, above the line being typed; handlers and the
// input loop share the console.
func (s *session) printf(format string, args ...any) {
	s.con.println(fmt.Sprintf(format, args...))
}

// short abbreviates an id for display.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
