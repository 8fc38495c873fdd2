package scenario_test

// The rows of docs/PROTOCOL.md section 4 (Socket.IO events): every client event
// with its acknowledgement and errors, every server event with who receives
// it and who must not.
//
// "Must not receive" is asserted with a barrier: after the action, a second
// action whose event the recipient must receive, on the same connection;
// the forbidden event, had it been sent, would have arrived first. Where
// the action is a fire-and-forget event of another socket (typing,
// presence, leave), the barrier waits first for a witness: an event proving
// the server handled the action, or an acknowledged call on the same
// connection (the server handles one connection's events in order).
//
// Events that depend on a principal rather than a conversation
// (presence:changed, participant:online/offline at connect and disconnect)
// are tested in scenarios that do not run in parallel: against a shared
// server, another scenario's socket of the same principal would send them
// too.

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	messaging "github.com/symbia-labs/messaging-go"
)

// Server event kinds, short.
const (
	kNew     = messaging.EventMessageNew
	kUpdated = messaging.EventMessageUpdated
	kDeleted = messaging.EventMessageDeleted
	kTyping  = messaging.EventTypingStarted
	kStopped = messaging.EventTypingStopped
	kPres    = messaging.EventPresenceChanged
	kOnline  = messaging.EventParticipantOnline
	kOffline = messaging.EventParticipantOffline
)

// Rows: join:conversation → {success}; error "Not a participant". Rooms are
// fixed at connect: a user added over REST afterwards receives nothing
// until join:conversation; one removed keeps receiving.
func TestSocketJoinConversation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.alice, e.bob
	known := a.group(b) // bob is in it when his socket connects
	later := a.group()
	bs := b.connect(known)

	_, err := a.Client.AddParticipant(e.ctx, later, b.ID, messaging.UserTypeUser)
	require.NoError(t, err)
	lost := a.send(later, "before bob joins the room")
	barrier := a.send(known, "barrier")
	bs.absentBefore(t, match{Kind: kNew, Conv: later}, match{Kind: kNew, ID: barrier.ID})
	require.Equal(t, 0, bs.count(match{ID: lost.ID}))

	require.NoError(t, bs.JoinConversation(e.ctx, later))
	m := a.send(later, "after bob joined the room")
	bs.waitEvent(t, match{Kind: kNew, ID: m.ID})

	// A participant removed over REST stays in the room (until the
	// service's participant cache expires, its socket may even send).
	require.NoError(t, a.Client.RemoveParticipant(e.ctx, later, b.ID))
	m = a.send(later, "after bob was removed")
	bs.waitEvent(t, match{Kind: kNew, ID: m.ID})

	err = bs.JoinConversation(e.ctx, a.private())
	ackError(t, err, messaging.EventJoinConversation, textNotParticipantAck, messaging.ErrNotParticipant, messaging.ErrForbidden)
	err = bs.JoinConversation(e.ctx, uuid.NewString())
	ackError(t, err, messaging.EventJoinConversation, textNotParticipantAck, messaging.ErrNotParticipant)
	// The service's "Failed to join" for a non-UUID id: refused by the SDK.
	err = bs.JoinConversation(e.ctx, "not-a-uuid")
	validationError(t, err, "conversationID")
}

// Row: leave:conversation → no ack; the socket leaves the room only (still
// a participant).
func TestSocketLeaveConversation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.alice, e.bob
	left, stay := a.group(b), a.group(b)
	as := a.connect(left)
	bs := b.connect(left, stay)

	require.NoError(t, bs.LeaveConversation(e.ctx, left))
	// No ack: an acknowledged call on the same connection proves the server
	// handled the leave.
	require.NoError(t, bs.JoinConversation(e.ctx, stay))
	m := a.send(left, "after bob left the room")
	barrier := a.send(stay, "barrier")
	bs.absentBefore(t, match{Kind: kNew, Conv: left}, match{Kind: kNew, ID: barrier.ID})
	as.waitEvent(t, match{Kind: kNew, ID: m.ID})

	_, err := b.Client.GetConversation(e.ctx, left)
	require.NoError(t, err, "bob is still a participant")

	require.NoError(t, bs.JoinConversation(e.ctx, left))
	m = a.send(left, "after bob came back")
	bs.waitEvent(t, match{Kind: kNew, ID: m.ID})
}

// Rows: message:send → {success, message}; errors ("Not a participant";
// the rest refused by the SDK first). message:new → the room, sender
// included, also for REST sends; not to sockets outside the room. A
// repeated id is acknowledged with the stored message.
func TestSocketSendMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, ag := e.alice, e.bob, e.agent
	g := a.group(b)
	agents := a.group(ag) // where the agent is, for its barrier
	as := a.connect(g)
	bs := b.connect(g)
	ags := ag.connect(agents)

	run := uuid.NewString()
	m, err := as.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: g, Content: "over the socket",
		RunID: run, TraceID: "trace-s", Priority: messaging.PriorityLow, Metadata: map[string]any{"via": "socket"}})
	require.NoError(t, err)
	require.NoError(t, uuid.Validate(m.ID), "the SDK makes a UUID")
	require.Equal(t, g, m.ConversationID)
	require.Equal(t, a.ID, m.SenderID)
	require.Equal(t, messaging.SenderUser, m.SenderType)
	require.Equal(t, "over the socket", m.Content)
	require.Equal(t, run, m.RunID)
	require.Equal(t, "trace-s", m.TraceID)
	require.Equal(t, messaging.PriorityLow, m.Priority)
	require.Equal(t, map[string]any{"via": "socket"}, m.Metadata)

	got := as.waitEvent(t, match{Kind: kNew, ID: m.ID}) // the sender too
	require.Equal(t, "over the socket", got.Message.Content)
	got = bs.waitEvent(t, match{Kind: kNew, ID: m.ID})
	require.Equal(t, a.ID, got.Message.SenderID)
	require.Equal(t, m.Sequence, got.Message.Sequence)

	// A REST send is broadcast the same way, to its sender's socket too.
	r := b.send(g, "over REST")
	as.waitEvent(t, match{Kind: kNew, ID: r.ID})
	bs.waitEvent(t, match{Kind: kNew, ID: r.ID})

	// Not to a socket outside the room.
	barrier := a.send(agents, "barrier")
	ags.absentBefore(t, match{Kind: kNew, Conv: g}, match{Kind: kNew, ID: barrier.ID})

	// The same id again: the stored message is acknowledged, nothing new
	// is stored. The service broadcasts message:new again; the SDK
	// delivers each message once.
	id := uuid.NewString()
	first, err := bs.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: g, ID: id, Content: "first"})
	require.NoError(t, err)
	as.waitEvent(t, match{Kind: kNew, ID: id})
	var stats0 int64
	if e.srv != nil {
		stats0 = e.srv.Stats().EventsBroadcast
	}
	second, err := bs.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: g, ID: id, Content: "second"})
	require.NoError(t, err)
	require.Equal(t, id, second.ID)
	require.Equal(t, "first", second.Content, "the repeat is answered with the stored message")
	require.Equal(t, first.Sequence, second.Sequence)
	require.NotNil(t, second.UpdatedAt, "the repeat touches updated_at (docs/PROTOCOL.md)")
	if e.srv != nil {
		require.Equal(t, stats0+1, e.srv.Stats().EventsBroadcast, "the repeat is broadcast again")
	}
	barrier = b.send(g, "barrier 2")
	as.waitEvent(t, match{Kind: kNew, ID: barrier.ID})
	require.Equal(t, 1, as.count(match{Kind: kNew, ID: id}), "OnMessage drops the repeated broadcast")
	hist, err := a.Client.GetMessages(e.ctx, g, messaging.GetMessagesParams{})
	require.NoError(t, err)
	require.Equal(t, []string{m.ID, r.ID, id, barrier.ID}, ids(hist))

	// Refused: not a participant.
	_, err = bs.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: a.private(), Content: "let me in"})
	ackError(t, err, messaging.EventMessageSend, textNotParticipantAck, messaging.ErrNotParticipant, messaging.ErrForbidden)
	// The socket path accepts empty content and content type "event", and
	// answers a non-UUID run id with "Failed to send message": the SDK
	// applies the REST rules instead.
	_, err = as.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: g, Content: ""})
	validationError(t, err, "params.Content")
	_, err = as.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: g, Content: "x", ContentType: messaging.ContentTypeEvent})
	validationError(t, err, "params.ContentType")
	_, err = as.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: g, Content: "x", RunID: "run-123"})
	validationError(t, err, "params.RunID")
}

// Rows: message:edit → {success, message}; errors "Message not found",
// "Not authorized to edit this message". message:updated → the room,
// sender included.
func TestSocketEditMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.alice, e.bob
	g := a.group(b)
	as := a.connect(g)
	bs := b.connect(g)
	m := a.send(g, "draft")

	u, err := as.EditMessage(e.ctx, m.ID, "final")
	require.NoError(t, err)
	require.Equal(t, m.ID, u.ID)
	require.Equal(t, "final", u.Content)
	require.NotNil(t, u.UpdatedAt, "an edited message has updated_at")
	for _, s := range []*socket{as, bs} {
		got := s.waitEvent(t, match{Kind: kUpdated, ID: m.ID})
		require.Equal(t, "final", got.Message.Content, s.who)
		require.Equal(t, g, got.Conv)
	}
	hist, err := b.Client.GetMessages(e.ctx, g, messaging.GetMessagesParams{})
	require.NoError(t, err)
	require.Equal(t, "final", hist[0].Content)

	_, err = bs.EditMessage(e.ctx, m.ID, "bob's words")
	ackError(t, err, messaging.EventMessageEdit, "Not authorized to edit this message", messaging.ErrForbidden)
	_, err = as.EditMessage(e.ctx, uuid.NewString(), "ghost")
	ackError(t, err, messaging.EventMessageEdit, "Message not found", messaging.ErrNotFound)
	// "Failed to edit message" (non-UUID id, missing content): refused by
	// the SDK.
	_, err = as.EditMessage(e.ctx, m.ID, "")
	validationError(t, err, "content")
	_, err = as.EditMessage(e.ctx, "not-a-uuid", "x")
	validationError(t, err, "messageID")
}

// Rows: message:delete → {success}; only the sender ("Not authorized to
// delete this message"), "Message not found" (also once deleted).
// message:deleted → the room. Soft-deleted messages are never listed.
func TestSocketDeleteMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.alice, e.bob
	g := a.group(b)
	as := a.connect(g)
	bs := b.connect(g)
	keep := a.send(g, "keep")
	doomed := a.send(g, "doomed")

	err := bs.DeleteMessage(e.ctx, doomed.ID)
	ackError(t, err, messaging.EventMessageDelete, "Not authorized to delete this message", messaging.ErrForbidden)

	require.NoError(t, as.DeleteMessage(e.ctx, doomed.ID))
	for _, s := range []*socket{as, bs} {
		got := s.waitEvent(t, match{Kind: kDeleted, ID: doomed.ID})
		require.Equal(t, g, got.Conv, s.who)
	}
	hist, err := b.Client.GetMessages(e.ctx, g, messaging.GetMessagesParams{})
	require.NoError(t, err)
	require.Equal(t, []string{keep.ID}, ids(hist), "a deleted message is not listed")

	err = as.DeleteMessage(e.ctx, doomed.ID)
	ackError(t, err, messaging.EventMessageDelete, "Message not found", messaging.ErrNotFound)
	err = as.DeleteMessage(e.ctx, uuid.NewString())
	ackError(t, err, messaging.EventMessageDelete, "Message not found", messaging.ErrNotFound)
	err = as.DeleteMessage(e.ctx, "not-a-uuid")
	validationError(t, err, "messageID")
}

// Rows: control:send → {success, control}; errors "Not a participant",
// "Not authorized to send control events" (a missing event refused by the
// SDK). The control event is broadcast under its own name to the room,
// sender included, and a short name sent as "pause" arrives as
// "stream.pause"; REST /control broadcasts the same.
func TestSocketControl(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, ag := e.alice, e.bob, e.agent
	g := a.group(b, ag)
	as := a.connect(g)
	bs := b.connect(g)
	ags := ag.connect(g)
	all := []*socket{as, bs, ags}

	// A handler registered under the short name sees the full one.
	short := make(chan messaging.ControlEvent, 4)
	off := bs.OnControl("pause", func(c messaging.ControlEvent) { short <- c })
	defer off()

	run := uuid.NewString()
	rec, err := ags.SendControl(e.ctx, g, messaging.ControlParams{Event: "pause", Reason: "user asked", RunID: run,
		TraceID: "trace-c", Target: &messaging.ControlTarget{PrincipalID: b.ID, PrincipalType: messaging.UserTypeUser}})
	require.NoError(t, err)
	require.True(t, rec.IsControl())
	require.Equal(t, string(messaging.StreamPause), rec.Content)
	require.Equal(t, ag.ID, rec.SenderID)
	require.Equal(t, messaging.PriorityHigh, rec.Priority)

	for _, s := range all { // the sender included
		got := s.waitEvent(t, match{Kind: kindControl, Conv: g, Name: messaging.StreamPause})
		c := got.Control
		require.Equal(t, "user asked", c.Reason, s.who)
		require.Equal(t, run, c.RunID, s.who)
		require.Equal(t, "trace-c", c.TraceID, s.who)
		require.Equal(t, &messaging.ControlTarget{PrincipalID: b.ID, PrincipalType: messaging.UserTypeUser}, c.Target, s.who)
		require.False(t, c.EffectiveAt.IsZero(), s.who)
	}
	select {
	case c := <-short:
		require.Equal(t, messaging.StreamPause, c.Event)
	case <-time.After(eventTimeout):
		t.Fatal("the handler of the short name \"pause\" did not run")
	}
	// Control records are not broadcast as messages: OnMessage saw none
	// before the next real message.
	barrier := a.send(g, "barrier")
	bs.absentBefore(t, match{Kind: kNew, Conv: g}, match{Kind: kNew, ID: barrier.ID})

	// REST /control broadcasts the same; a target given as a bare string
	// arrives as one.
	_, err = ag.Client.SendControl(e.ctx, g, messaging.ControlParams{Event: "stream.resume",
		Target: &messaging.ControlTarget{PrincipalID: "assistant:someone"}})
	require.NoError(t, err)
	for _, s := range all {
		got := s.waitEvent(t, match{Kind: kindControl, Conv: g, Name: messaging.StreamResume})
		require.Equal(t, &messaging.ControlTarget{PrincipalID: "assistant:someone"}, got.Control.Target, s.who)
	}
	// An older client sends the short name as is (the SDK cannot: it sends
	// names in full). The service broadcasts it as "pause"; the SDK hands it
	// to the handlers of "stream.pause" under the full name.
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.endpoint+"/api/conversations/"+g+"/control",
		strings.NewReader(`{"event":"pause","reason":"old client"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+ag.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.hc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	for _, s := range all {
		got := s.waitEvent(t, match{Kind: kindControl, Conv: g, Name: messaging.StreamPause, Reason: "old client"})
		require.Equal(t, messaging.StreamPause, got.Control.Event, s.who)
	}
	select {
	case c := <-short:
		require.Equal(t, "old client", c.Reason)
		require.Equal(t, messaging.StreamPause, c.Event)
	case <-time.After(eventTimeout):
		t.Fatal("the handler of the short name \"pause\" did not see the short broadcast")
	}

	// route and handoff need cap:messaging.route, which the agent has.
	_, err = ags.SendControl(e.ctx, g, messaging.ControlParams{Event: "handoff",
		Target: &messaging.ControlTarget{PrincipalID: b.ID, PrincipalType: messaging.UserTypeUser}})
	require.NoError(t, err)
	bs.waitEvent(t, match{Kind: kindControl, Conv: g, Name: messaging.StreamHandoff})

	if a.can(capInterrupt) {
		t.Log("alice holds cap:messaging.interrupt: the capability row is not checked")
	} else {
		_, err = as.SendControl(e.ctx, g, messaging.ControlParams{Event: "cancel"})
		ackError(t, err, messaging.EventControlSend, "Not authorized to send control events", messaging.ErrForbidden)
	}
	_, err = ags.SendControl(e.ctx, a.private(), messaging.ControlParams{Event: "pause"})
	ackError(t, err, messaging.EventControlSend, textNotParticipantAck, messaging.ErrNotParticipant, messaging.ErrForbidden)
	// "Failed to send control event" (missing event), and the service's
	// reserved or unknown names, non-UUID run ids: refused by the SDK.
	_, err = ags.SendControl(e.ctx, g, messaging.ControlParams{})
	validationError(t, err, "params.Event")
	_, err = ags.SendControl(e.ctx, g, messaging.ControlParams{Event: "disconnect"})
	validationError(t, err, "params.Event")
	_, err = ags.SendControl(e.ctx, g, messaging.ControlParams{Event: "pause", RunID: "run-1"})
	validationError(t, err, "params.RunID")
}

// Rows: typing:start, typing:stop → no ack; typing:started, typing:stopped
// → the room except the sender. A non-participant's typing is dropped.
func TestSocketTyping(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, ag := e.alice, e.bob, e.agent
	g := a.group(b)
	agents := a.group(ag)
	as := a.connect(g)
	bs := b.connect(g)
	ags := ag.connect(agents)

	require.NoError(t, as.StartTyping(e.ctx, g))
	got := bs.waitEvent(t, match{Kind: kTyping, Conv: g, User: a.ID})
	require.Equal(t, messaging.UserTypeUser, got.UserType)
	// The typist is not told: bob's typing, after the server handled
	// alice's (bob saw it), reaches alice, alone.
	require.NoError(t, bs.StartTyping(e.ctx, g))
	as.absentBefore(t, match{Kind: kTyping, Conv: g, User: a.ID}, match{Kind: kTyping, Conv: g, User: b.ID})

	// Outside the room, nothing.
	barrier := a.send(agents, "barrier")
	ags.absentBefore(t, match{Conv: g}, match{Kind: kNew, ID: barrier.ID})

	// A non-participant's typing is dropped: the agent types in g; its
	// acknowledged join that follows proves the server handled it.
	require.NoError(t, ags.StartTyping(e.ctx, g))
	require.NoError(t, ags.JoinConversation(e.ctx, agents))

	require.NoError(t, as.StopTyping(e.ctx, g))
	i, got := bs.wait(t, match{Kind: kStopped, Conv: g, User: a.ID})
	require.Equal(t, messaging.UserTypeUser, got.UserType)
	bs.noneBefore(t, i, match{Kind: kTyping, Conv: g, User: ag.ID})
	require.NoError(t, bs.StopTyping(e.ctx, g))
	as.absentBefore(t, match{Kind: kStopped, Conv: g, User: a.ID}, match{Kind: kStopped, Conv: g, User: b.ID})
}

// Rows: watch:conversation → {success} for an agent with
// cap:messaging.observe, refused "Observe capability required" otherwise;
// unwatch:conversation → no ack.
func TestSocketWatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, ag := e.alice, e.bob, e.agent
	g := a.group(b) // the agent is not a participant
	agents := a.group(ag)
	ags := ag.connect(agents)
	bs := b.connect(g)

	require.NoError(t, ags.WatchConversation(e.ctx, g))
	m := a.send(g, "observed")
	got := ags.waitEvent(t, match{Kind: kNew, ID: m.ID})
	require.Equal(t, "observed", got.Message.Content)
	_, err := e.agent.Client.GetConversation(e.ctx, g)
	require.ErrorIs(t, err, messaging.ErrNotParticipant, "watching does not make the agent a participant")

	if b.Me.User.IsSuperAdmin || b.can(capObserve) {
		t.Log("bob holds cap:messaging.observe: the refusal is not checked")
	} else {
		err = bs.WatchConversation(e.ctx, a.private())
		ackError(t, err, messaging.EventWatchConversation, "Observe capability required", messaging.ErrForbidden)
		require.NotErrorIs(t, err, messaging.ErrNotParticipant)
		// A user is refused even where it participates.
		err = bs.WatchConversation(e.ctx, g)
		ackError(t, err, messaging.EventWatchConversation, "Observe capability required", messaging.ErrForbidden)
	}

	require.NoError(t, ags.UnwatchConversation(e.ctx, g))
	// No ack: an acknowledged call proves the server handled it.
	require.NoError(t, ags.JoinConversation(e.ctx, agents))
	m = a.send(g, "no longer observed")
	barrier := a.send(agents, "barrier")
	ags.absentBefore(t, match{ID: m.ID}, match{Kind: kNew, ID: barrier.ID})
	bs.waitEvent(t, match{Kind: kNew, ID: m.ID})
}

// Rows: presence:update → no ack; presence:changed → every other socket on
// the server, not the sender, "offline" also on disconnect. Not parallel:
// presence is not scoped to a conversation.
func TestSocketPresence(t *testing.T) {
	e := newEnv(t)
	a, b, ag := e.alice, e.bob, e.agent
	g := a.group(b)
	agents := a.group(ag) // the agent shares no conversation with bob
	as := a.connect(g)
	bs := b.connect(g)
	ags := ag.connect(agents)

	require.NoError(t, as.UpdatePresence(e.ctx, messaging.PresenceAway))
	got := bs.waitEvent(t, match{Kind: kPres, User: a.ID, Status: messaging.PresenceAway})
	require.Equal(t, messaging.UserTypeUser, got.UserType)
	ags.waitEvent(t, match{Kind: kPres, User: a.ID, Status: messaging.PresenceAway})
	// Not the sender: bob's change, made after the server handled alice's,
	// reaches alice alone.
	require.NoError(t, bs.UpdatePresence(e.ctx, messaging.PresenceBusy))
	as.absentBefore(t, match{Kind: kPres, User: a.ID, Status: messaging.PresenceAway}, match{Kind: kPres, User: b.ID, Status: messaging.PresenceBusy})
	// Every other socket, beyond any conversation: the agent shares none
	// with bob.
	ags.waitEvent(t, match{Kind: kPres, User: b.ID, Status: messaging.PresenceBusy})

	require.NoError(t, ags.UpdatePresence(e.ctx, messaging.PresenceOnline))
	got = bs.waitEvent(t, match{Kind: kPres, User: ag.ID, Status: messaging.PresenceOnline})
	require.Equal(t, messaging.UserTypeAgent, got.UserType)
	if id := ag.Me.User.AgentID; id != "" {
		require.Equal(t, id, got.AgentID, "an agent's presence carries its agentId")
	}

	// "offline" on disconnect.
	require.NoError(t, as.Close())
	bs.waitEvent(t, match{Kind: kPres, User: a.ID, Status: messaging.PresenceOffline})
	ags.waitEvent(t, match{Kind: kPres, User: a.ID, Status: messaging.PresenceOffline})
}

// Rows: participant:online → the conversation's room when a participant
// connects (not to itself) and on announce:presence (the sender included);
// participant:offline → the room when a participant disconnects. Not
// parallel: a connection of any socket of the principal sends them.
func TestSocketParticipantOnlineOffline(t *testing.T) {
	e := newEnv(t)
	a, b, ag := e.alice, e.bob, e.agent
	g := a.group(b, ag)
	elsewhere := a.group() // alice only: bob and the agent are not in it
	as := a.connect(g, elsewhere)

	// bob connects: alice is told, in g only.
	bs := b.connect() // no explicit join: the service's own
	got := as.waitEvent(t, match{Kind: kOnline, Conv: g, User: b.ID})
	require.Equal(t, messaging.UserTypeUser, got.UserType)
	// announce:presence reaches the room, the sender included; bob, who
	// receives it, was not told of his own connection before.
	require.NoError(t, as.AnnouncePresence(e.ctx, g))
	as.waitEvent(t, match{Kind: kOnline, Conv: g, User: a.ID})
	bs.absentBefore(t, match{Kind: kOnline, Conv: g, User: b.ID}, match{Kind: kOnline, Conv: g, User: a.ID})
	// Only the rooms of bob's conversations.
	as.absentBefore(t, match{Kind: kOnline, User: b.ID, Conv: elsewhere}, match{Kind: kOnline, Conv: g, User: a.ID})

	// The agent connects: participant:online with its type (and agentId).
	ags := ag.connect()
	got = as.waitEvent(t, match{Kind: kOnline, Conv: g, User: ag.ID})
	require.Equal(t, messaging.UserTypeAgent, got.UserType)
	if id := ag.Me.User.AgentID; id != "" {
		require.Equal(t, id, got.AgentID)
	}
	bs.waitEvent(t, match{Kind: kOnline, Conv: g, User: ag.ID})

	// bob disconnects: the room is told.
	require.NoError(t, bs.Close())
	got = as.waitEvent(t, match{Kind: kOffline, Conv: g, User: b.ID})
	require.Equal(t, messaging.UserTypeUser, got.UserType)
	ags.waitEvent(t, match{Kind: kOffline, Conv: g, User: b.ID})
	// Only the rooms of bob's conversations: a barrier in elsewhere.
	require.NoError(t, as.AnnouncePresence(e.ctx, elsewhere))
	as.absentBefore(t, match{Kind: kOffline, Conv: elsewhere, User: b.ID}, match{Kind: kOnline, Conv: elsewhere, User: a.ID})

}
