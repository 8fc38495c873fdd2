package messaging_test

// Tests of the Socket against messagingtest, the in-memory service. Each
// test checks what another client receives (or must not receive). They are
// in the external test package because messagingtest imports messaging.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// TestMain checks, after all tests of the package (the internal ones too),
// that no goroutine is left behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	aliceID = "11111111-1111-4111-8111-111111111111"
	bobID   = "22222222-2222-4222-8222-222222222222"
	carolID = "33333333-3333-4333-8333-333333333333"
	agentID = "44444444-4444-4444-8444-444444444444"

	aliceTok = "alice-token-S3CR3T"
	bobTok   = "bob-token-S3CR3T"
	carolTok = "carol-token-S3CR3T"
	agentTok = "agent-token-S3CR3T"
)

// waitTimeout bounds every wait for an event: generous, since a wait only
// lasts that long when the test fails.
const waitTimeout = 15 * time.Second

// env is a service with alice, bob, carol and an agent (all capabilities),
// and a group conversation of alice (owner), bob and the agent.
type env struct {
	t    testing.TB
	srv  *messagingtest.Server
	conv string
}

func newEnv(t testing.TB, opts ...messagingtest.Option) *env {
	t.Helper()
	srv := messagingtest.NewServer(opts...)
	t.Cleanup(srv.Close)
	srv.AddUser(aliceTok, messagingtest.Principal{ID: aliceID, Name: "Alice"})
	srv.AddUser(bobTok, messagingtest.Principal{ID: bobID})
	srv.AddUser(carolTok, messagingtest.Principal{ID: carolID})
	srv.AddUser(agentTok, messagingtest.Principal{ID: agentID, Type: messaging.UserTypeAgent, AgentID: "agent:helper",
		Entitlements: []string{"cap:messaging.interrupt", "cap:messaging.route", "cap:messaging.observe"}})
	e := &env{t: t, srv: srv}
	e.conv = e.group(aliceTok, bobID, agentID)
	return e
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func (e *env) client(token string) *messaging.Client {
	e.t.Helper()
	c, err := messaging.NewClient(messaging.WithEndpoint(e.srv.URL()), messaging.WithToken(token),
		messaging.WithHTTPClient(e.srv.Client()))
	require.NoError(e.t, err)
	return c
}

// group creates a group conversation owned by owner with members.
func (e *env) group(owner string, members ...string) string {
	e.t.Helper()
	c, err := e.client(owner).CreateConversation(testCtx(e.t), messaging.CreateConversationParams{
		Type: messaging.ConversationGroup, Name: "g", ParticipantIDs: members})
	require.NoError(e.t, err)
	return c.ID
}

// fastReconnect are the socket options of the tests: quick reconnections,
// without limit.
func (e *env) fastReconnect() []messaging.SocketOption {
	return []messaging.SocketOption{
		messaging.WithEndpoint(e.srv.URL()),
		messaging.WithHTTPClient(e.srv.Client()),
		messaging.WithReconnectionDelay(20 * time.Millisecond),
		messaging.WithReconnectionDelayMax(200 * time.Millisecond),
		messaging.WithReconnectionAttempts(0),
	}
}

// socket makes a socket for token (not connected); Close runs at cleanup.
func (e *env) socket(token string, opts ...messaging.SocketOption) *messaging.Socket {
	e.t.Helper()
	all := append(e.fastReconnect(), messaging.WithToken(token))
	s, err := messaging.NewSocket(append(all, opts...)...)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = s.Close() })
	return s
}

// connect makes a socket and connects it.
func (e *env) connect(token string, opts ...messaging.SocketOption) *messaging.Socket {
	e.t.Helper()
	s := e.socket(token, opts...)
	require.NoError(e.t, s.Connect(testCtx(e.t)))
	return s
}

// collect registers a handler that forwards every value to the returned
// channel.
func collect[T any](on func(func(T)) func()) (<-chan T, func()) {
	ch := make(chan T, 100_000)
	off := on(func(v T) { ch <- v })
	return ch, off
}

// signals forwards every call of a func() handler.
func signals(on func(func()) func()) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 100_000)
	off := on(func() { ch <- struct{}{} })
	return ch, off
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		var zero T
		t.Fatalf("timed out waiting for a %T", zero)
		return zero
	}
}

// recvWhere skips values until one satisfies ok.
func recvWhere[T any](t *testing.T, ch <-chan T, ok func(T) bool) T {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case v := <-ch:
			if ok(v) {
				return v
			}
		case <-deadline:
			var zero T
			t.Fatalf("timed out waiting for a matching %T", zero)
			return zero
		}
	}
}

// empty asserts nothing is waiting in ch. Call it after a barrier: an
// event that the server sends after the one that must not come.
func empty[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s: got %+v", what, v)
	default:
	}
}

// send sends content to conv over s and returns the stored message.
func send(t *testing.T, s *messaging.Socket, conv, content string) *messaging.Message {
	t.Helper()
	m, err := s.SendMessage(testCtx(t), messaging.SendMessageParams{ConversationID: conv, Content: content})
	require.NoError(t, err)
	return m
}

// byContent waits for the message with this content.
func byContent(t *testing.T, ch <-chan *messaging.Message, content string) *messaging.Message {
	t.Helper()
	return recvWhere(t, ch, func(m *messaging.Message) bool { return m.Content == content })
}

func TestSocketSendMessageReachesOthersAndSender(t *testing.T) {
	e := newEnv(t)
	alice := e.socket(aliceTok)
	bob := e.socket(bobTok)
	// Handlers registered before Connect.
	aliceMsgs, _ := collect(alice.OnMessage)
	bobMsgs, _ := collect(bob.OnMessage)
	ctx := testCtx(t)
	require.NoError(t, alice.Connect(ctx))
	require.NoError(t, bob.Connect(ctx))
	assert.True(t, alice.Connected())
	assert.Equal(t, messaging.StateConnected, alice.State())

	m, err := alice.SendMessage(ctx, messaging.SendMessageParams{
		ConversationID: e.conv, Content: "hello", Priority: messaging.PriorityHigh,
		Metadata: map[string]any{"k": "v"}, TraceID: "trace-1",
	})
	require.NoError(t, err)
	assert.Len(t, m.ID, 36, "the socket makes a UUID")
	assert.Equal(t, aliceID, m.SenderID)
	assert.Equal(t, "hello", m.Content)
	assert.Equal(t, messaging.PriorityHigh, m.Priority)
	assert.Equal(t, "trace-1", m.TraceID)

	got := recv(t, bobMsgs)
	assert.Equal(t, m.ID, got.ID)
	assert.Equal(t, "hello", got.Content)
	assert.Equal(t, map[string]any{"k": "v"}, got.Metadata)
	own := recv(t, aliceMsgs)
	assert.Equal(t, m.ID, own.ID, "the sender receives its own message too")

	// A given id is kept.
	const id = "0b6a6c1e-3f43-4c1b-9a57-6f1d2f3c4b5a"
	m2, err := bob.SendMessage(ctx, messaging.SendMessageParams{ConversationID: e.conv, ID: id, Content: "with id"})
	require.NoError(t, err)
	assert.Equal(t, id, m2.ID)
	assert.Equal(t, id, recv(t, aliceMsgs).ID)
}

func TestSocketRepeatedIDReachesOnMessageOnce(t *testing.T) {
	e := newEnv(t)
	alice := e.connect(aliceTok)
	bob := e.connect(bobTok)
	bobMsgs, _ := collect(bob.OnMessage)
	ctx := testCtx(t)
	p := messaging.SendMessageParams{ConversationID: e.conv, ID: "5d9f3a2b-8c4e-4f6a-9b1d-2e3f4a5b6c7d", Content: "first"}
	first, err := alice.SendMessage(ctx, p)
	require.NoError(t, err)
	p.Content = "second"
	again, err := alice.SendMessage(ctx, p) // the service answers with the stored message and broadcasts it again
	require.NoError(t, err)
	assert.Equal(t, "first", again.Content)
	assert.Equal(t, first.ID, again.ID)
	send(t, alice, e.conv, "barrier")

	assert.Equal(t, "first", recv(t, bobMsgs).Content)
	assert.Equal(t, "barrier", recv(t, bobMsgs).Content, "the repeat of the same id is dropped")
	assert.Equal(t, int64(2), e.srv.Stats().MessagesStored)
}

func TestSocketSendIsCheckedLikeREST(t *testing.T) {
	e := newEnv(t)
	s := e.socket(aliceTok) // not even connected: the checks come first
	ctx := testCtx(t)
	for _, tc := range []struct {
		name  string
		p     messaging.SendMessageParams
		field string
	}{
		{"empty content", messaging.SendMessageParams{ConversationID: e.conv}, "params.Content"},
		{"event content type", messaging.SendMessageParams{ConversationID: e.conv, Content: "x", ContentType: "event"}, "params.ContentType"},
		{"bad conversation", messaging.SendMessageParams{ConversationID: "c-1", Content: "x"}, "params.ConversationID"},
		{"bad run id", messaging.SendMessageParams{ConversationID: e.conv, Content: "x", RunID: "run-123"}, "params.RunID"},
		{"bad id", messaging.SendMessageParams{ConversationID: e.conv, Content: "x", ID: "my-id"}, "params.ID"},
		{"bad priority", messaging.SendMessageParams{ConversationID: e.conv, Content: "x", Priority: "urgent"}, "params.Priority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.SendMessage(ctx, tc.p)
			require.ErrorIs(t, err, messaging.ErrInvalidArgument)
			var ve *messaging.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tc.field, ve.Field)
		})
	}
	_, err := s.EditMessage(ctx, e.conv, "")
	assert.ErrorIs(t, err, messaging.ErrInvalidArgument)
	_, err = s.EditMessage(ctx, "nope", "x")
	assert.ErrorIs(t, err, messaging.ErrInvalidArgument)
	assert.ErrorIs(t, s.DeleteMessage(ctx, "nope"), messaging.ErrInvalidArgument)
	_, err = s.SendControl(ctx, e.conv, messaging.ControlParams{Event: "explode"})
	assert.ErrorIs(t, err, messaging.ErrInvalidArgument)
	assert.ErrorIs(t, s.UpdatePresence(ctx, "sleeping"), messaging.ErrInvalidArgument)
	for name, call := range map[string]func(context.Context, string) error{
		"Join": s.JoinConversation, "Leave": s.LeaveConversation, "Watch": s.WatchConversation,
		"Unwatch": s.UnwatchConversation, "StartTyping": s.StartTyping, "StopTyping": s.StopTyping,
		"Announce": s.AnnouncePresence,
	} {
		assert.ErrorIs(t, call(ctx, "not-a-uuid"), messaging.ErrInvalidArgument, name)
	}
	assert.Zero(t, e.srv.Stats().Connections, "nothing reached the server")
}

func TestSocketCallsBeforeConnectFail(t *testing.T) {
	e := newEnv(t)
	s := e.socket(aliceTok)
	ctx := testCtx(t)
	_, err := s.SendMessage(ctx, messaging.SendMessageParams{ConversationID: e.conv, Content: "x"})
	assert.ErrorIs(t, err, messaging.ErrNotConnected)
	assert.NotErrorIs(t, err, messaging.ErrDeliveryUnknown)
	assert.ErrorIs(t, s.JoinConversation(ctx, e.conv), messaging.ErrNotConnected)
	assert.ErrorIs(t, s.StartTyping(ctx, e.conv), messaging.ErrNotConnected)
	assert.Equal(t, messaging.StateDisconnected, s.State())
}

func TestSocketEditAndDelete(t *testing.T) {
	e := newEnv(t)
	alice := e.connect(aliceTok)
	bob := e.connect(bobTok)
	updates, _ := collect(bob.OnMessageUpdate)
	deletes, _ := collect(bob.OnMessageDelete)
	ctx := testCtx(t)

	m := send(t, alice, e.conv, "draft")
	edited, err := alice.EditMessage(ctx, m.ID, "final")
	require.NoError(t, err)
	assert.Equal(t, "final", edited.Content)
	require.NotNil(t, edited.UpdatedAt)
	up := recv(t, updates)
	assert.Equal(t, m.ID, up.ID)
	assert.Equal(t, "final", up.Content)

	_, err = bob.EditMessage(ctx, m.ID, "hijack")
	var ae *messaging.AckError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "Not authorized to edit this message", ae.Message)
	assert.ErrorIs(t, err, messaging.ErrForbidden)
	assert.ErrorIs(t, bob.DeleteMessage(ctx, m.ID), messaging.ErrForbidden)

	require.NoError(t, alice.DeleteMessage(ctx, m.ID))
	del := recv(t, deletes)
	assert.Equal(t, messaging.MessageDeletedEvent{ID: m.ID, ConversationID: e.conv}, del)

	err = alice.DeleteMessage(ctx, m.ID)
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "Message not found", ae.Message)
	assert.ErrorIs(t, err, messaging.ErrNotFound)
	_, err = alice.EditMessage(ctx, m.ID, "again")
	assert.ErrorIs(t, err, messaging.ErrNotFound)
}

func TestSocketJoinConversation(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	carol := e.connect(carolTok)
	carolMsgs, _ := collect(carol.OnMessage)

	err := carol.JoinConversation(ctx, e.conv)
	var ae *messaging.AckError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "Not a participant", ae.Message)
	assert.ErrorIs(t, err, messaging.ErrNotParticipant)
	assert.ErrorIs(t, err, messaging.ErrForbidden)

	// Added after connecting: the service does not put carol's socket in
	// the room until she joins.
	_, err = e.client(aliceTok).AddParticipant(ctx, e.conv, carolID, messaging.UserTypeUser)
	require.NoError(t, err)
	alice := e.connect(aliceTok)
	aliceMsgs, _ := collect(alice.OnMessage)
	send(t, alice, e.conv, "before join")
	byContent(t, aliceMsgs, "before join")
	require.NoError(t, carol.JoinConversation(ctx, e.conv))
	send(t, alice, e.conv, "after join")
	assert.Equal(t, "after join", recv(t, carolMsgs).Content, "nothing from before the join")
}

func TestSocketTypingReachesOthersOnly(t *testing.T) {
	e := newEnv(t)
	alice := e.connect(aliceTok)
	bob := e.connect(bobTok)
	aliceStart, _ := collect(alice.OnTypingStart)
	aliceStop, _ := collect(alice.OnTypingStop)
	aliceMsgs, _ := collect(alice.OnMessage)
	bobStart, _ := collect(bob.OnTypingStart)
	bobStop, _ := collect(bob.OnTypingStop)
	ctx := testCtx(t)

	require.NoError(t, alice.StartTyping(ctx, e.conv))
	assert.Equal(t, messaging.TypingEvent{ConversationID: e.conv, UserID: aliceID, UserType: messaging.UserTypeUser}, recv(t, bobStart))
	require.NoError(t, alice.StopTyping(ctx, e.conv))
	assert.Equal(t, aliceID, recv(t, bobStop).UserID)

	// The server handles alice's events in order, so her own typing
	// events, were they sent to her, would arrive before this message.
	send(t, alice, e.conv, "barrier")
	byContent(t, aliceMsgs, "barrier")
	empty(t, aliceStart, "alice received her own typing:started")
	empty(t, aliceStop, "alice received her own typing:stopped")
}

func TestSocketPresence(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	// Alice's reconnections wait for the gate: her token source blocks.
	gate := make(chan struct{})
	var calls atomic.Int32
	alice := e.socket(aliceTok, messaging.WithTokenSource(func(ctx context.Context) (string, error) {
		if calls.Add(1) > 1 {
			select {
			case <-gate:
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		return aliceTok, nil
	}))
	// Set before connecting: announced when the connection is up.
	require.NoError(t, alice.UpdatePresence(ctx, messaging.PresenceBusy))
	bob := e.connect(bobTok)
	presence, _ := collect(bob.OnPresence)
	require.NoError(t, alice.Connect(ctx))
	p := recvWhere(t, presence, func(p messaging.PresenceEvent) bool { return p.UserID == aliceID })
	assert.Equal(t, messaging.PresenceEvent{UserID: aliceID, UserType: messaging.UserTypeUser, Status: messaging.PresenceBusy}, p)

	require.NoError(t, alice.UpdatePresence(ctx, messaging.PresenceAway))
	assert.Equal(t, messaging.PresenceAway, recv(t, presence).Status)

	// The status is announced again after a reconnection: the service
	// announced "offline" when the connection dropped.
	bobBack, _ := signals(bob.OnReconnect)
	e.srv.DropConnections()
	recv(t, bobBack)
	close(gate)
	recvWhere(t, presence, func(p messaging.PresenceEvent) bool {
		return p.UserID == aliceID && p.Status == messaging.PresenceAway
	})
}

func TestSocketControlEvents(t *testing.T) {
	e := newEnv(t)
	agent := e.connect(agentTok)
	bob := e.connect(bobTok)
	short, _ := collect(func(h func(messaging.ControlEvent)) func() { return bob.OnControl("pause", h) })
	full, _ := collect(func(h func(messaging.ControlEvent)) func() { return bob.OnControl("stream.pause", h) })
	all, _ := collect(func(h func(messaging.ControlEvent)) func() { return bob.OnControl("*", h) })
	resume, _ := collect(func(h func(messaging.ControlEvent)) func() { return bob.OnControl("resume", h) })
	bobMsgs, _ := collect(bob.OnMessage)
	ctx := testCtx(t)

	row, err := agent.SendControl(ctx, e.conv, messaging.ControlParams{
		Event: "pause", Reason: "user asked",
		Target: &messaging.ControlTarget{PrincipalID: bobID, PrincipalType: messaging.UserTypeUser},
	})
	require.NoError(t, err)
	assert.Equal(t, "stream.pause", row.Content, "short names are sent in full")
	assert.True(t, row.IsControl())

	for _, ch := range []<-chan messaging.ControlEvent{short, full, all} {
		ev := recv(t, ch)
		assert.Equal(t, messaging.StreamPause, ev.Event)
		assert.Equal(t, e.conv, ev.ConversationID)
		assert.Equal(t, "user asked", ev.Reason)
		require.NotNil(t, ev.Target)
		assert.Equal(t, bobID, ev.Target.PrincipalID)
		assert.False(t, ev.EffectiveAt.IsZero())
	}

	// The service broadcasts any name; "*" and exact-name handlers get it.
	odd, _ := collect(func(h func(messaging.ControlEvent)) func() { return bob.OnControl("anything.goes", h) })
	postControl(t, e, agentTok, `{"event":"anything.goes","reason":"r"}`)
	assert.Equal(t, messaging.ControlEventName("anything.goes"), recv(t, odd).Event)
	assert.Equal(t, messaging.ControlEventName("anything.goes"), recv(t, all).Event)
	// A short name sent as is (as the JS client does) reaches the
	// listeners of the full name.
	postControl(t, e, agentTok, `{"event":"pause"}`)
	assert.Equal(t, messaging.StreamPause, recv(t, full).Event)
	assert.Equal(t, messaging.StreamPause, recv(t, all).Event)

	// Control records are not messages.
	send(t, agent, e.conv, "barrier")
	assert.Equal(t, "barrier", recv(t, bobMsgs).Content)
	empty(t, resume, "a resume handler received a pause")

	// Capabilities are the server's to check.
	alice := e.connect(aliceTok)
	_, err = alice.SendControl(ctx, e.conv, messaging.ControlParams{Event: "cancel"})
	var ae *messaging.AckError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "Not authorized to send control events", ae.Message)
	assert.ErrorIs(t, err, messaging.ErrForbidden)
}

// postControl sends a control event over REST as given, unchecked.
func postControl(t *testing.T, e *env, token, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL()+"/api/conversations/"+e.conv+"/control", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
}

func TestSocketMalformedEventGoesToOnErrorAndConnectionCarriesOn(t *testing.T) {
	e := newEnv(t)
	agent := e.connect(agentTok)
	bob := e.connect(bobTok)
	errs, _ := collect(bob.OnError)
	all, _ := collect(func(h func(messaging.ControlEvent)) func() { return bob.OnControl("*", h) })
	bobMsgs, _ := collect(bob.OnMessage)

	// A control event whose target is a number cannot be read.
	postControl(t, e, agentTok, `{"event":"stream.pause","target":42}`)
	err := recv(t, errs)
	assert.ErrorIs(t, err, messaging.ErrMalformed)
	assert.Contains(t, err.Error(), "stream.pause")

	send(t, agent, e.conv, "still here")
	assert.Equal(t, "still here", recv(t, bobMsgs).Content)
	empty(t, all, "a malformed control event reached a handler")
	assert.True(t, bob.Connected())
}

func TestSocketParticipantOnlineOffline(t *testing.T) {
	e := newEnv(t)
	bob := e.connect(bobTok)
	online, _ := collect(bob.OnParticipantOnline)
	offline, _ := collect(bob.OnParticipantOffline)
	alice := e.connect(aliceTok)
	aliceOnline, _ := collect(alice.OnParticipantOnline)

	ev := recvWhere(t, online, func(p messaging.ParticipantEvent) bool { return p.UserID == aliceID })
	assert.Equal(t, messaging.ParticipantEvent{ConversationID: e.conv, UserID: aliceID, UserType: messaging.UserTypeUser}, ev)

	require.NoError(t, alice.AnnouncePresence(testCtx(t), e.conv))
	recvWhere(t, online, func(p messaging.ParticipantEvent) bool { return p.UserID == aliceID })
	recvWhere(t, aliceOnline, func(p messaging.ParticipantEvent) bool { return p.UserID == aliceID }) // announce includes the sender

	require.NoError(t, alice.Close())
	ev = recvWhere(t, offline, func(p messaging.ParticipantEvent) bool { return p.UserID == aliceID })
	assert.Equal(t, e.conv, ev.ConversationID)

	agent := e.connect(agentTok)
	ev = recvWhere(t, online, func(p messaging.ParticipantEvent) bool { return p.UserID == agentID })
	assert.Equal(t, "agent:helper", ev.AgentID)
	_ = agent
}

func TestSocketWatchConversation(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	private := e.group(aliceTok, bobID) // the agent is not a participant
	agent := e.connect(agentTok)
	agentMsgs, _ := collect(agent.OnMessage)
	alice := e.connect(aliceTok)

	require.NoError(t, agent.WatchConversation(ctx, private))
	send(t, alice, private, "observed")
	assert.Equal(t, "observed", byContent(t, agentMsgs, "observed").Content)

	// Watching survives a reconnection.
	reconnected, _ := signals(agent.OnReconnect)
	e.srv.DropConnections()
	recv(t, reconnected)
	send(t, alice, private, "observed again")
	byContent(t, agentMsgs, "observed again")

	require.NoError(t, agent.UnwatchConversation(ctx, private))
	send(t, alice, private, "unobserved")
	send(t, alice, e.conv, "barrier") // the agent is a participant here
	assert.Equal(t, "barrier", recvWhere(t, agentMsgs, func(m *messaging.Message) bool {
		require.NotEqual(t, "unobserved", m.Content)
		return m.Content == "barrier"
	}).Content)

	err := alice.WatchConversation(ctx, private)
	var ae *messaging.AckError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "Observe capability required", ae.Message)
	assert.ErrorIs(t, err, messaging.ErrForbidden)
}

func TestSocketLeaveConversationLastsAcrossReconnects(t *testing.T) {
	e := newEnv(t)
	other := e.group(aliceTok, bobID)
	alice := e.connect(aliceTok)
	bob := e.connect(bobTok)
	bobMsgs, _ := collect(bob.OnMessage)
	ctx := testCtx(t)

	require.NoError(t, bob.LeaveConversation(ctx, e.conv))
	send(t, alice, e.conv, "left")
	send(t, alice, other, "barrier 1")
	assert.Equal(t, "barrier 1", recv(t, bobMsgs).Content)

	// The service joins bob's socket to all his conversations when it
	// reconnects; the socket leaves this one again.
	reconnected, _ := signals(bob.OnReconnect)
	e.srv.DropConnections()
	recv(t, reconnected)
	send(t, alice, e.conv, "still left")
	send(t, alice, other, "barrier 2")
	assert.Equal(t, "barrier 2", recvWhere(t, bobMsgs, func(m *messaging.Message) bool {
		require.NotEqual(t, "still left", m.Content)
		return m.Content == "barrier 2"
	}).Content)

	require.NoError(t, bob.JoinConversation(ctx, e.conv))
	send(t, alice, e.conv, "back")
	assert.Equal(t, "back", recv(t, bobMsgs).Content)
}

func TestSocketUnsubscribe(t *testing.T) {
	e := newEnv(t)
	alice := e.connect(aliceTok)
	bob := e.connect(bobTok)
	var calls atomic.Int32
	off := bob.OnMessage(func(*messaging.Message) { calls.Add(1) })
	keep, _ := collect(bob.OnMessage)

	send(t, alice, e.conv, "one")
	recv(t, keep)
	off()
	off() // idempotent
	send(t, alice, e.conv, "two")
	recv(t, keep)
	assert.Equal(t, int32(1), calls.Load())

	// Every On method returns a working off, also for nil handlers.
	bob.OnMessage(nil)()
	bob.OnControl("", func(messaging.ControlEvent) {})()
	bob.OnConnect(nil)()
}

func TestSocketHandlerMaySendAndWaitForItsAck(t *testing.T) {
	e := newEnv(t)
	alice := e.connect(aliceTok)
	bob := e.connect(bobTok)
	aliceMsgs, _ := collect(alice.OnMessage)
	replied := make(chan error, 1)
	bob.OnMessage(func(m *messaging.Message) {
		if m.SenderID != aliceID {
			return
		}
		// On the dispatcher goroutine: the ack bypasses the handler queue.
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_, err := bob.SendMessage(ctx, messaging.SendMessageParams{ConversationID: m.ConversationID, Content: "re: " + m.Content})
		if err == nil {
			err = bob.JoinConversation(ctx, m.ConversationID)
		}
		replied <- err
	})
	send(t, alice, e.conv, "ping")
	require.NoError(t, recv(t, replied))
	byContent(t, aliceMsgs, "re: ping")
}

func TestSocketSlowHandlerDoesNotStopTheHeartbeat(t *testing.T) {
	// Pings every 100 ms, 200 ms to answer: a read loop that waited for
	// the handler would miss twenty.
	e := newEnv(t, messagingtest.WithHeartbeat(100*time.Millisecond, 200*time.Millisecond))
	alice := e.connect(aliceTok)
	bob := e.connect(bobTok)
	disconnects, _ := collect(bob.OnDisconnect)
	var order []string
	var mu sync.Mutex
	done := make(chan struct{})
	bob.OnMessage(func(m *messaging.Message) {
		mu.Lock()
		order = append(order, m.Content)
		mu.Unlock()
		switch m.Content {
		case "slow":
			time.Sleep(2 * time.Second)
		case "last":
			close(done)
		}
	})
	send(t, alice, e.conv, "slow")
	for i := range 5 {
		send(t, alice, e.conv, fmt.Sprint("during ", i))
	}
	send(t, alice, e.conv, "last")
	recv(t, done)
	assert.True(t, bob.Connected())
	empty(t, disconnects, "the slow handler cost the connection")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"slow", "during 0", "during 1", "during 2", "during 3", "during 4", "last"}, order)
	assert.Equal(t, int64(2), e.srv.Stats().Connections, "nobody reconnected")
}

func TestSocketRetryInIsTheDelayDrawn(t *testing.T) {
	e := newEnv(t)
	const delay = 400 * time.Millisecond
	bob := e.socket(bobTok, messaging.WithReconnectionDelay(delay), messaging.WithReconnectionDelayMax(time.Second))
	states, _ := collect(bob.OnStateChange)
	attempts, _ := collect(bob.OnReconnecting)
	require.NoError(t, bob.Connect(testCtx(t)))
	recvWhere(t, states, func(c messaging.StateChange) bool { return c.Current == messaging.StateConnected })

	e.srv.DropConnections()
	sc := recvWhere(t, states, func(c messaging.StateChange) bool { return c.Current == messaging.StateReconnecting })
	changed := time.Now()
	assert.Equal(t, 1, recv(t, attempts))
	waited := time.Since(changed)
	// The drawn delay: the nominal one ±50 %, and not the nominal one
	// itself (a deviation of 0 has a chance of about one in 10⁸).
	assert.NotEqual(t, delay, sc.RetryIn)
	assert.GreaterOrEqual(t, sc.RetryIn, delay/2)
	assert.LessOrEqual(t, sc.RetryIn, delay*3/2)
	// Both handlers run late; the attempt cannot come much earlier.
	assert.Greater(t, waited, sc.RetryIn-100*time.Millisecond, "attempt after %v, RetryIn %v", waited, sc.RetryIn)
}

func TestSocketReconnectRejoinsRooms(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	bob := e.connect(bobTok)
	// Bob is added after connecting: only his JoinConversation puts his
	// socket in the room, and only the rejoin keeps it there.
	late := e.group(aliceTok)
	_, err := e.client(aliceTok).AddParticipant(ctx, late, bobID, messaging.UserTypeUser)
	require.NoError(t, err)
	require.NoError(t, bob.JoinConversation(ctx, late))

	states, _ := collect(bob.OnStateChange)
	disconnects, _ := collect(bob.OnDisconnect)
	attempts, _ := collect(bob.OnReconnecting)
	connects, _ := signals(bob.OnConnect)
	reconnects, _ := signals(bob.OnReconnect)
	bobMsgs, _ := collect(bob.OnMessage)
	alice := e.connect(aliceTok)

	e.srv.DropConnections()
	assert.Equal(t, messaging.ReasonTransportClose, recv(t, disconnects))
	assert.Equal(t, 1, recv(t, attempts))
	recv(t, connects)
	recv(t, reconnects)
	sc := recv(t, states)
	// The delay socketio drew: the configured 20 ms ±50 % jitter.
	assert.GreaterOrEqual(t, sc.RetryIn, 10*time.Millisecond)
	assert.LessOrEqual(t, sc.RetryIn, 30*time.Millisecond)
	assert.Equal(t, messaging.StateChange{Previous: messaging.StateConnected, Current: messaging.StateReconnecting,
		Reason: messaging.ReasonTransportClose, Err: sc.Err, RetryIn: sc.RetryIn}, sc)
	require.Error(t, sc.Err)
	sc = recv(t, states)
	assert.Equal(t, messaging.StateChange{Previous: messaging.StateReconnecting, Current: messaging.StateConnected}, sc)

	send(t, alice, late, "after the drop")
	assert.Equal(t, "after the drop", recv(t, bobMsgs).Content)
}

func TestSocketHandlerPanicIsRecovered(t *testing.T) {
	e := newEnv(t)
	alice := e.connect(aliceTok)
	bob := e.connect(bobTok)
	errs, _ := collect(bob.OnError)
	bob.OnMessage(func(m *messaging.Message) {
		if m.Content == "boom" {
			panic("handler bug")
		}
	})
	msgs, _ := collect(bob.OnMessage)
	send(t, alice, e.conv, "boom")
	err := recv(t, errs)
	assert.Contains(t, err.Error(), "handler bug")
	assert.Equal(t, "boom", recv(t, msgs).Content, "the other handlers still ran")
	send(t, alice, e.conv, "after")
	assert.Equal(t, "after", recv(t, msgs).Content)
}

func TestSocketCloseFromHandlerAndCallsAfterClose(t *testing.T) {
	e := newEnv(t)
	alice := e.connect(aliceTok)
	bob := e.connect(bobTok)
	closed := make(chan error, 1)
	states, _ := collect(bob.OnStateChange)
	disconnects, _ := collect(bob.OnDisconnect)
	bob.OnMessage(func(*messaging.Message) { closed <- bob.Close() })
	send(t, alice, e.conv, "close yourself")
	require.NoError(t, recv(t, closed))
	assert.Equal(t, messaging.StateClosed, bob.State())
	assert.Equal(t, messaging.ReasonClientDisconnect, recv(t, disconnects))
	sc := recvWhere(t, states, func(c messaging.StateChange) bool { return c.Current == messaging.StateClosed })
	assert.Equal(t, messaging.StateConnected, sc.Previous)
	require.NoError(t, bob.Close(), "idempotent")

	ctx := testCtx(t)
	_, err := bob.SendMessage(ctx, messaging.SendMessageParams{ConversationID: e.conv, Content: "x"})
	assert.ErrorIs(t, err, messaging.ErrClosed)
	assert.NotErrorIs(t, err, messaging.ErrDeliveryUnknown)
	_, err = bob.EditMessage(ctx, e.conv, "x")
	assert.ErrorIs(t, err, messaging.ErrClosed)
	assert.ErrorIs(t, bob.DeleteMessage(ctx, e.conv), messaging.ErrClosed)
	_, err = bob.SendControl(ctx, e.conv, messaging.ControlParams{Event: "pause"})
	assert.ErrorIs(t, err, messaging.ErrClosed)
	assert.ErrorIs(t, bob.Connect(ctx), messaging.ErrClosed)
	assert.ErrorIs(t, bob.UpdatePresence(ctx, messaging.PresenceBusy), messaging.ErrClosed)
	for name, call := range map[string]func(context.Context, string) error{
		"Join": bob.JoinConversation, "Leave": bob.LeaveConversation, "Watch": bob.WatchConversation,
		"Unwatch": bob.UnwatchConversation, "StartTyping": bob.StartTyping, "StopTyping": bob.StopTyping,
		"Announce": bob.AnnouncePresence,
	} {
		assert.ErrorIs(t, call(ctx, e.conv), messaging.ErrClosed, name)
	}
}

func TestSocketRefusedCredentials(t *testing.T) {
	e := newEnv(t)
	var handled []error
	s := e.socket("wrong-token", messaging.WithErrorHandler(func(err error) { handled = append(handled, err) }))
	errs, _ := collect(s.OnError)
	err := s.Connect(testCtx(t))
	var ce *messaging.ConnectError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "Authentication required", ce.Message)
	assert.ErrorIs(t, err, messaging.ErrUnauthorized)
	assert.Equal(t, messaging.StateDisconnected, s.State())
	assert.ErrorAs(t, recv(t, errs), &ce)
	require.Len(t, handled, 1, "the error handler sees the failed call")
	assert.NotContains(t, err.Error(), "wrong-token")

	// New credentials, and Connect again.
	s.SetToken(aliceTok)
	require.NoError(t, s.Connect(testCtx(t)))
	assert.True(t, s.Connected())
}

func TestSocketConnectErrorCarriesContext(t *testing.T) {
	e := newEnv(t)
	s := e.socket(aliceTok)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Connect(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, messaging.StateDisconnected, s.State())
	require.NoError(t, s.Connect(testCtx(t)))
}

func TestSocketFromClientInheritsItsSettings(t *testing.T) {
	e := newEnv(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := messaging.NewClient(messaging.WithEndpoint(e.srv.URL()), messaging.WithToken("stale"),
		messaging.WithHTTPClient(e.srv.Client()), messaging.WithLogger(logger))
	require.NoError(t, err)
	c.SetToken(aliceTok) // current values are inherited
	s, err := c.NewSocket(messaging.WithReconnectionDelay(20 * time.Millisecond))
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Connect(testCtx(t)))
	m := send(t, s, e.conv, "from a client's socket")
	assert.Equal(t, aliceID, m.SenderID)
	assert.Equal(t, fmt.Sprintf("messaging.Socket(%s, connected)", e.srv.URL()), s.String())
	require.NoError(t, s.Close())
	assert.NotEmpty(t, logs.String(), "the client's logger is used")
	assert.NotContains(t, logs.String(), aliceTok)

	var nilClient *messaging.Client
	_, err = nilClient.NewSocket()
	assert.Error(t, err)
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func TestSocketOptionsAreValidated(t *testing.T) {
	for _, tc := range []struct {
		opt    messaging.SocketOption
		option string
	}{
		{messaging.WithReconnectionAttempts(-1), "WithReconnectionAttempts"},
		{messaging.WithReconnectionDelay(0), "WithReconnectionDelay"},
		{messaging.WithReconnectionDelayMax(-time.Second), "WithReconnectionDelayMax"},
		{messaging.WithAckTimeout(0), "WithAckTimeout"},
		{messaging.WithConnectTimeout(-1), "WithConnectTimeout"},
		{messaging.WithHandlerQueueSize(0), "WithHandlerQueueSize"},
		{messaging.WithTokenSource(nil), "WithTokenSource"},
		{messaging.WithHandshakeHeader(http.Header{"Authorization": {"Bearer x"}}), "WithHandshakeHeader"},
		{messaging.WithHandshakeHeader(http.Header{"X-Api-Key": {"k"}}), "WithHandshakeHeader"},
		{messaging.WithHandshakeHeader(http.Header{"X-Trace": {"a\r\nb"}}), "WithHandshakeHeader"},
		{messaging.WithLogger(nil), "WithLogger"},
		{messaging.WithEndpoint("ftp://x"), "endpoint"},
	} {
		t.Run(tc.option, func(t *testing.T) {
			_, err := messaging.NewSocket(tc.opt)
			require.ErrorIs(t, err, messaging.ErrInvalidArgument)
			var ve *messaging.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tc.option, ve.Field)
		})
	}
	// Combined: the maximum delay below the first one.
	_, err := messaging.NewSocket(messaging.WithReconnectionDelay(2*time.Second), messaging.WithReconnectionDelayMax(time.Second))
	var ve *messaging.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "WithReconnectionDelayMax", ve.Field)

	s, err := messaging.NewSocket(messaging.WithEndpoint("http://localhost:1"), messaging.WithReconnectionAttempts(0),
		messaging.WithHandshakeHeader(http.Header{"X-Trace": {"t"}}), messaging.WithBackfill(false), nil)
	require.NoError(t, err)
	assert.Equal(t, messaging.StateDisconnected, s.State())
	require.NoError(t, s.Close())
	assert.Equal(t, "messaging.Socket(http://localhost:1, closed)", s.String())
}

func TestSocketStateString(t *testing.T) {
	for st, want := range map[messaging.State]string{
		messaging.StateDisconnected: "disconnected", messaging.StateConnecting: "connecting",
		messaging.StateConnected: "connected", messaging.StateReconnecting: "reconnecting",
		messaging.StateClosed: "closed", messaging.State(42): "State(42)",
	} {
		assert.Equal(t, want, st.String())
	}
}

// recordingTransport records every request the socket makes.
type recordingTransport struct {
	mu   sync.Mutex
	reqs []*http.Request
	rt   http.RoundTripper
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Clone(context.Background()))
	r.mu.Unlock()
	return r.rt.RoundTrip(req)
}

func TestSocketCredentialsTravelOnlyInTheConnectPacket(t *testing.T) {
	e := newEnv(t)
	rec := &recordingTransport{rt: e.srv.Client().Transport}
	s := e.socket(aliceTok, messaging.WithHTTPClient(&http.Client{Transport: rec}),
		messaging.WithHandshakeHeader(http.Header{"X-Trace": {"t-1"}}), messaging.WithUserAgent("ua/1"))
	require.NoError(t, s.Connect(testCtx(t)))
	require.NoError(t, s.JoinConversation(testCtx(t), e.conv)) // also reads the history over REST
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var sawHandshake bool
	for _, r := range rec.reqs {
		assert.NotContains(t, r.URL.String(), aliceTok)
		if strings.HasPrefix(r.URL.Path, "/socket.io/") {
			sawHandshake = true
			assert.Empty(t, r.Header.Get("Authorization"), "the handshake carries no credentials")
			assert.Equal(t, "t-1", r.Header.Get("X-Trace"))
			assert.Equal(t, "ua/1", r.Header.Get("User-Agent"))
		}
	}
	assert.True(t, sawHandshake)
}

func TestSocketEndpointPathPrefix(t *testing.T) {
	e := newEnv(t)
	rec := &recordingTransport{rt: e.srv.Client().Transport}
	s, err := messaging.NewSocket(messaging.WithEndpoint(e.srv.URL()+"/messaging"), messaging.WithToken(aliceTok),
		messaging.WithHTTPClient(&http.Client{Transport: rec}), messaging.WithReconnection(false))
	require.NoError(t, err)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.Connect(ctx) // the fake serves no prefix: only the path asked for matters
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.NotEmpty(t, rec.reqs)
	assert.Equal(t, "/messaging/socket.io/", rec.reqs[0].URL.Path)
}

func TestSocketErrorHandlerSeesFailedCalls(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var seen []error
	s := e.connect(carolTok, messaging.WithErrorHandler(func(err error) {
		mu.Lock()
		seen = append(seen, err)
		mu.Unlock()
	}))
	err := s.JoinConversation(testCtx(t), e.conv)
	require.Error(t, err)
	_, err2 := s.SendMessage(testCtx(t), messaging.SendMessageParams{ConversationID: e.conv})
	require.Error(t, err2)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 2)
	assert.True(t, errors.Is(seen[0], messaging.ErrNotParticipant))
	assert.True(t, errors.Is(seen[1], messaging.ErrInvalidArgument))
}
