package messaging_test

// Tests against a scripted Socket.IO server, for what messagingtest cannot
// stage on demand: an acknowledgement lost after the server acted, an
// acknowledgement that never comes, malformed acknowledgements and events.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/internal/socketio"
)

const wireConv = "67ad9574-01de-49ff-b691-7755449bef84"

// script is a Socket.IO server whose answers the test writes.
type script struct {
	srv *httptest.Server
	sio *socketio.Server

	mu     sync.Mutex
	counts map[string]int // "event id" → times received
	conns  int
	got    chan string // "event id", each time one is received
}

type scriptHandler func(sc *script, so *socketio.ServerSocket, event, id string, n int, ack func(...any))

func newScript(t *testing.T, onConnect func(*socketio.ServerSocket), h scriptHandler) *script {
	t.Helper()
	sc := &script{counts: make(map[string]int), got: make(chan string, 1000)}
	sc.sio = socketio.NewServer(socketio.ServerOptions{
		OnConnection: func(so *socketio.ServerSocket) {
			sc.mu.Lock()
			sc.conns++
			sc.mu.Unlock()
			so.OnEvent(func(event string, args []json.RawMessage, ack func(...any)) {
				id := argID(args)
				sc.mu.Lock()
				sc.counts[event+" "+id]++
				n := sc.counts[event+" "+id]
				sc.mu.Unlock()
				sc.got <- event + " " + id
				if h != nil {
					h(sc, so, event, id, n, ack)
				}
			})
			if onConnect != nil {
				onConnect(so)
			}
		},
	})
	sc.srv = httptest.NewServer(sc.sio)
	t.Cleanup(func() {
		sc.sio.Close()
		sc.srv.Close()
	})
	return sc
}

// argID is the id an event names: a bare string argument, or the id,
// messageId or conversationId field of an object.
func argID(args []json.RawMessage) string {
	if len(args) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(args[0], &s) == nil {
		return s
	}
	var o struct{ ID, MessageID, ConversationID string }
	_ = json.Unmarshal(args[0], &o)
	switch {
	case o.ID != "":
		return o.ID
	case o.MessageID != "":
		return o.MessageID
	}
	return o.ConversationID
}

func (sc *script) count(key string) int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.counts[key]
}

func (sc *script) socket(t *testing.T, opts ...messaging.SocketOption) *messaging.Socket {
	t.Helper()
	all := []messaging.SocketOption{
		messaging.WithEndpoint(sc.srv.URL), messaging.WithToken("t"), messaging.WithBackfill(false),
		messaging.WithReconnectionDelay(10 * time.Millisecond), messaging.WithReconnectionDelayMax(50 * time.Millisecond),
	}
	s, err := messaging.NewSocket(append(all, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.Connect(testCtx(t)))
	return s
}

// row is a stored message as the service returns it.
func row(id, content string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"id":%q,"conversation_id":%q,"sender_id":%q,"sender_type":"user","content":%q,`+
		`"content_type":"text","sequence":1,"priority":"normal","interruptible":true,"metadata":{},`+
		`"created_at":"2026-11-21T22:45:57.434Z","updated_at":null,"deleted_at":null}`, id, wireConv, aliceID, content))
}

func ackJSON(s string) json.RawMessage { return json.RawMessage(s) }

func TestSocketSendLostAckIsSentAgainWithTheSameID(t *testing.T) {
	sc := newScript(t, nil, func(sc *script, so *socketio.ServerSocket, event, id string, n int, ack func(...any)) {
		switch {
		case event != messaging.EventMessageSend && event != messaging.EventMessageEdit:
		case n == 1:
			so.DropConnection() // processed, but the ack is lost
		default:
			ack(ackJSON(`{"success":true,"message":` + string(row(id, "stored")) + `}`))
		}
	})
	s := sc.socket(t)
	reconnects, _ := signals(s.OnReconnect)
	m, err := s.SendMessage(testCtx(t), messaging.SendMessageParams{ConversationID: wireConv, Content: "x"})
	require.NoError(t, err)
	assert.Equal(t, 2, sc.count(messaging.EventMessageSend+" "+m.ID), "sent twice, with one id")
	recv(t, reconnects)

	const msg = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	_, err = s.EditMessage(testCtx(t), msg, "new")
	require.NoError(t, err)
	assert.Equal(t, 2, sc.count(messaging.EventMessageEdit+" "+msg))
}

func TestSocketSendWithoutAckIsSentAgainAfterTheAckTimeout(t *testing.T) {
	sc := newScript(t, nil, func(sc *script, so *socketio.ServerSocket, event, id string, n int, ack func(...any)) {
		if event == messaging.EventMessageSend && n > 1 {
			ack(ackJSON(`{"success":true,"message":` + string(row(id, "stored")) + `}`))
		}
	})
	s := sc.socket(t, messaging.WithAckTimeout(100*time.Millisecond))
	m, err := s.SendMessage(testCtx(t), messaging.SendMessageParams{ConversationID: wireConv, Content: "x"})
	require.NoError(t, err)
	assert.Equal(t, 2, sc.count(messaging.EventMessageSend+" "+m.ID))
	assert.Equal(t, 1, sc.conns, "on the same connection")
}

func TestSocketControlIsNeverSentTwice(t *testing.T) {
	sc := newScript(t, nil, func(sc *script, so *socketio.ServerSocket, event, id string, n int, ack func(...any)) {
		switch event {
		case messaging.EventControlSend:
			if n == 1 {
				so.DropConnection()
			} // later: no answer at all
		case messaging.EventMessageSend:
			ack(ackJSON(`{"success":true,"message":` + string(row(id, "x")) + `}`))
		}
	})
	s := sc.socket(t, messaging.WithAckTimeout(200*time.Millisecond))
	ctx := testCtx(t)
	_, err := s.SendControl(ctx, wireConv, messaging.ControlParams{Event: "pause"})
	require.ErrorIs(t, err, messaging.ErrDeliveryUnknown, "the ack was lost to a disconnection")
	_, err = s.SendControl(ctx, wireConv, messaging.ControlParams{Event: "pause"})
	require.ErrorIs(t, err, messaging.ErrDeliveryUnknown, "no ack within the timeout")
	// A later call goes through; the control events were not repeated.
	_, err = s.SendMessage(ctx, messaging.SendMessageParams{ConversationID: wireConv, Content: "x"})
	require.NoError(t, err)
	assert.Equal(t, 2, sc.count(messaging.EventControlSend+" "+wireConv))
}

func TestSocketDeleteRepeatedAfterLostAck(t *testing.T) {
	sc := newScript(t, nil, func(sc *script, so *socketio.ServerSocket, event, id string, n int, ack func(...any)) {
		if event != messaging.EventMessageDelete {
			return
		}
		if n == 1 {
			so.DropConnection() // deleted, but the ack is lost
			return
		}
		ack(ackJSON(`{"success":false,"error":"Message not found"}`))
	})
	s := sc.socket(t)
	const msg = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	require.NoError(t, s.DeleteMessage(testCtx(t), msg), "gone by our own first attempt")
	assert.Equal(t, 2, sc.count(messaging.EventMessageDelete+" "+msg))
}

func TestSocketAcksAreDecodedStrictly(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ack     []any
		is      []error
		ackText string
	}{
		{"not an object", []any{ackJSON(`"yes"`)}, []error{messaging.ErrMalformed, messaging.ErrDeliveryUnknown}, ""},
		{"no arguments", nil, []error{messaging.ErrMalformed}, ""},
		{"success not a boolean", []any{ackJSON(`{"success":"true"}`)}, []error{messaging.ErrMalformed}, ""},
		{"no success", []any{ackJSON(`{"message":{}}`)}, []error{messaging.ErrMalformed}, ""},
		{"success without message", []any{ackJSON(`{"success":true}`)}, []error{messaging.ErrMalformed, messaging.ErrDeliveryUnknown}, ""},
		{"message not an object", []any{ackJSON(`{"success":true,"message":"hi"}`)}, []error{messaging.ErrMalformed, messaging.ErrDeliveryUnknown}, ""},
		{"message of wrong types", []any{ackJSON(`{"success":true,"message":{"id":"x","sequence":"one"}}`)}, []error{messaging.ErrMalformed, messaging.ErrDeliveryUnknown}, ""},
		{"message without id", []any{ackJSON(`{"success":true,"message":{"content":"x"}}`)}, []error{messaging.ErrMalformed}, ""},
		{"refused without text", []any{ackJSON(`{"success":false}`)}, nil, "unknown error"},
		{"refused", []any{ackJSON(`{"success":false,"error":"Not a participant"}`)}, []error{messaging.ErrNotParticipant, messaging.ErrForbidden}, "Not a participant"},
		{"refused, text in message", []any{ackJSON(`{"success":false,"message":"Failed to send message"}`)}, nil, "Failed to send message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := newScript(t, nil, func(sc *script, so *socketio.ServerSocket, event, id string, n int, ack func(...any)) {
				ack(tc.ack...)
			})
			s := sc.socket(t)
			_, err := s.SendMessage(testCtx(t), messaging.SendMessageParams{ConversationID: wireConv, Content: "x"})
			require.Error(t, err)
			for _, target := range tc.is {
				assert.ErrorIs(t, err, target)
			}
			if tc.ackText != "" {
				var ae *messaging.AckError
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, tc.ackText, ae.Message)
				assert.Equal(t, messaging.EventMessageSend, ae.Event)
				assert.NotErrorIs(t, err, messaging.ErrDeliveryUnknown, "a refusal stored nothing")
			}
			assert.True(t, s.Connected(), "the connection carries on")
		})
	}
}

func TestSocketCallInFlightEndsWithDeliveryUnknown(t *testing.T) {
	sc := newScript(t, nil, nil) // never answers
	t.Run("context", func(t *testing.T) {
		s := sc.socket(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := s.SendMessage(ctx, messaging.SendMessageParams{ConversationID: wireConv, Content: "x"})
			done <- err
		}()
		recv(t, sc.got) // the server has it
		cancel()
		err := recv(t, done)
		assert.ErrorIs(t, err, messaging.ErrDeliveryUnknown)
		assert.ErrorIs(t, err, context.Canceled)
	})
	t.Run("close", func(t *testing.T) {
		s := sc.socket(t)
		done := make(chan error, 1)
		go func() {
			_, err := s.SendMessage(context.Background(), messaging.SendMessageParams{ConversationID: wireConv, Content: "x"})
			done <- err
		}()
		recv(t, sc.got)
		require.NoError(t, s.Close())
		err := recv(t, done)
		assert.ErrorIs(t, err, messaging.ErrDeliveryUnknown)
		assert.ErrorIs(t, err, messaging.ErrClosed)
	})
}

func TestSocketMalformedAndUnknownEvents(t *testing.T) {
	sc := newScript(t, nil, func(sc *script, so *socketio.ServerSocket, event, id string, n int, ack func(...any)) {
		if event != messaging.EventAnnouncePresence {
			return
		}
		for _, e := range []struct{ name, payload string }{
			{messaging.EventMessageNew, `{"id":5}`},                                          // wrong type
			{messaging.EventMessageNew, `"hello"`},                                           // not an object
			{messaging.EventMessageUpdated, `{"content":"x"}`},                               // no id
			{messaging.EventTypingStarted, `{"conversationId":7}`},                           // wrong type
			{messaging.EventPresenceChanged, `null`},                                         // not an object
			{messaging.EventParticipantOnline, `{"conversationId":"c"}`},                     // no userId
			{messaging.EventMessageDeleted, `[]`},                                            // not an object
			{"something.new", `{"shape":"unknown"}`},                                         // unknown: ignored
			{"custom.event", `{"event":"custom.event","conversationId":"` + wireConv + `"}`}, // a control event
			{messaging.EventMessageNew, string(row("0c7f3d1e-2b4a-4c6d-9e8f-1a2b3c4d5e6f", "fine"))},
		} {
			_ = so.Emit(e.name, json.RawMessage(e.payload))
		}
	})
	s := sc.socket(t)
	errs, _ := collect(s.OnError)
	msgs, _ := collect(s.OnMessage)
	custom, _ := collect(func(h func(messaging.ControlEvent)) func() { return s.OnControl("custom.event", h) })
	require.NoError(t, s.AnnouncePresence(testCtx(t), wireConv)) // the script's cue

	assert.Equal(t, "fine", recv(t, msgs).Content) // sent last, handled last
	for range 7 {
		err := recv(t, errs)
		assert.ErrorIs(t, err, messaging.ErrMalformed)
	}
	empty(t, errs, "an unknown event was reported as an error")
	assert.Equal(t, messaging.ControlEventName("custom.event"), recv(t, custom).Event)
	assert.True(t, s.Connected())
}
