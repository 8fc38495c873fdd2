package messagingtest

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/internal/socketio"
)

const socketPath = "/socket.io/"

// errAuthRequired refuses a missing or unknown credential with the
// service's CONNECT_ERROR {"message":"Authentication required"}.
var errAuthRequired = &socketio.AuthError{Message: "Authentication required"}

// socketLayer is the Socket.IO side of one run.
type socketLayer struct {
	s    *Server
	done <-chan struct{}
	sio  *socketio.Server
}

func newSocketLayer(s *Server, done <-chan struct{}, paused bool) *socketLayer {
	l := &socketLayer{s: s, done: done}
	l.sio = socketio.NewServer(socketio.ServerOptions{
		PingInterval: s.cfg.pingInterval,
		PingTimeout:  s.cfg.pingTimeout,
		Authenticate: l.authenticate,
		OnConnection: l.onConnection,
	})
	if paused {
		l.sio.PauseHeartbeats()
	}
	return l
}

func (l *socketLayer) ServeHTTP(w http.ResponseWriter, r *http.Request) { l.sio.ServeHTTP(w, r) }

// close closes every socket ("server shutting down") and waits for the
// handlers.
func (l *socketLayer) close() { l.sio.Close() }

func (l *socketLayer) dropAll() { l.sio.DropAll() }

// dropPrincipal drops the connection of every socket of the principal id.
// A socket is listed once its CONNECT was answered, so every connection
// the principal's clients know of is dropped.
func (l *socketLayer) dropPrincipal(id string) {
	for _, so := range l.sio.Sockets() {
		if c, ok := so.Principal().(*sockConn); ok && c.user.ID == id {
			so.DropConnection()
		}
	}
}

func (l *socketLayer) pauseHeartbeats(pause bool) {
	if pause {
		l.sio.PauseHeartbeats()
	} else {
		l.sio.ResumeHeartbeats()
	}
}

// authenticate accepts a socket whose credential is known. It also does
// the connection's room work, which the service does just after its CONNECT
// reply: joining the room of every conversation of the principal, so that
// every broadcast made once the client sees the connection reaches it.
func (l *socketLayer) authenticate(r *http.Request, auth json.RawMessage) (any, error) {
	p, ok := l.s.authenticateSocket(r, auth)
	if !ok {
		return nil, errAuthRequired
	}
	s := l.s
	c := &sockConn{l: l, user: p}
	s.hub.add(c)
	s.mu.Lock()
	s.conns++
	s.mu.Unlock()
	c.convs = s.store.conversationsOf(p.ID)
	s.cache.fill(p.ID, c.convs)
	for _, id := range c.convs {
		s.hub.join(c, roomOf(id))
	}
	return c, nil
}

// sockConn is one connected socket.
type sockConn struct {
	l     *socketLayer
	user  Principal
	convs []string // the conversations joined at connect time

	mu      sync.Mutex
	so      *socketio.ServerSocket // nil until the CONNECT reply was sent
	pending [][2]any               // emits made before that, in order
}

func (c *sockConn) emit(event string, payload []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.so == nil {
		c.pending = append(c.pending, [2]any{event, payload})
		return
	}
	_ = c.so.Emit(event, json.RawMessage(payload))
}

// onConnection attaches the socket, then tells the principal's rooms it is
// online, as the service does.
func (l *socketLayer) onConnection(so *socketio.ServerSocket) {
	c := so.Principal().(*sockConn)
	c.mu.Lock()
	c.so = so
	for _, e := range c.pending {
		_ = so.Emit(e[0].(string), json.RawMessage(e[1].([]byte)))
	}
	c.pending = nil
	c.mu.Unlock()
	so.OnDisconnect(c.onDisconnect)
	so.OnEvent(c.onEvent)
	for _, id := range c.convs {
		l.s.hub.toRoom(roomOf(id), c, messaging.EventParticipantOnline, c.participantEvent(marshal(id)))
	}
}

// onDisconnect tells the principal's rooms it went offline, forgets its
// cached participations and tells every other socket its presence is
// offline. The socket has left its rooms by then, so it is not told itself.
func (c *sockConn) onDisconnect(string) {
	s := c.l.s
	s.hub.remove(c)
	ids, ok := s.cache.known(c.user.ID)
	if !ok {
		ids = s.store.conversationsOf(c.user.ID)
	}
	for _, id := range ids {
		s.hub.toRoom(roomOf(id), nil, messaging.EventParticipantOffline, c.participantEvent(marshal(id)))
	}
	s.cache.invalidate(c.user.ID)
	s.hub.toAll(c, messaging.EventPresenceChanged, c.presence(json.RawMessage(`"offline"`)))
}

// participantEvent is the payload of participant:online/offline.
func (c *sockConn) participantEvent(convID json.RawMessage) []byte {
	var o ordered
	o.set("conversationId", convID)
	c.setIdentity(&o)
	return marshal(o)
}

// presence is the payload of presence:changed; status is sent as given
// (left out when undefined).
func (c *sockConn) presence(status json.RawMessage) []byte {
	var o ordered
	c.setIdentity(&o)
	o.set("status", status)
	return marshal(o)
}

// setIdentity adds who the socket is, as presence events say it: userId,
// userType and, for an agent with one, agentId.
func (c *sockConn) setIdentity(o *ordered) {
	o.set("userId", marshal(c.user.ID))
	o.set("userType", marshal(c.user.Type))
	if c.user.AgentID != "" {
		o.set("agentId", marshal(c.user.AgentID))
	}
}

// ack answers an event if the client asked for an answer.
func ack(a func(...any), v any) {
	if a != nil {
		a(json.RawMessage(marshal(v)))
	}
}

type ackResult struct {
	Success bool   `json:"success"`
	Error   string `json:"error,omitempty"`
}

func failed(text string) ackResult { return ackResult{Error: text} }

var succeeded = ackResult{Success: true}

// jsString is String(v) in JavaScript, for room names built with a
// template literal.
func jsString(v json.RawMessage) string {
	switch {
	case v == nil:
		return "undefined"
	case v[0] == '"':
		s, _ := asString(v)
		return s
	case v[0] == '{':
		return "[object Object]"
	case v[0] == '[':
		var items []json.RawMessage
		_ = json.Unmarshal(v, &items)
		parts := make([]string, len(items))
		for i, it := range items {
			if !isNullish(it) {
				parts[i] = jsString(it)
			}
		}
		return strings.Join(parts, ",")
	case v[0] == 'n' || v[0] == 't' || v[0] == 'f':
		return string(v)
	}
	return jsNumberString(string(v))
}

func arg(args []json.RawMessage, i int) json.RawMessage {
	if i < len(args) {
		return args[i]
	}
	return nil
}

// dataArg reads an object argument: ok is false for null or undefined (the
// handler's property access throws); other primitives read as an object
// without fields.
func dataArg(v json.RawMessage) (fields, bool) {
	if isNullish(v) {
		return nil, false
	}
	var f fields
	if v[0] == '{' {
		_ = json.Unmarshal(v, &f)
	}
	return f, true
}

// isParticipant is the socket side's cached participant check of a
// conversation id argument: strings go through the cache; undefined or null
// match no row; any other value fails the query.
func (c *sockConn) isParticipant(v json.RawMessage) (bool, error) {
	s := c.l.s
	if id, ok := asString(v); ok {
		return s.cache.isParticipant(id, c.user.ID)
	}
	text, null, ok := textParam(v)
	if null {
		return false, nil
	}
	if !ok {
		return false, errDB
	}
	return s.store.isParticipant(text, c.user.ID)
}

// onEvent handles one client event, on the connection's goroutine.
func (c *sockConn) onEvent(event string, args []json.RawMessage, a func(...any)) {
	sleep(c.l.s.currentLatency(), c.l.done)
	h := c.l.s.hub
	a0 := arg(args, 0)
	switch event {
	case messaging.EventJoinConversation:
		ok, err := c.isParticipant(a0)
		switch {
		case err != nil:
			ack(a, failed("Failed to join"))
		case !ok:
			ack(a, failed("Not a participant"))
		default:
			h.join(c, roomOf(jsString(a0)))
			ack(a, succeeded)
		}
	case messaging.EventLeaveConversation, messaging.EventUnwatchConversation:
		h.leave(c, roomOf(jsString(a0)))
	case messaging.EventMessageSend:
		c.sendMessage(a0, a)
	case messaging.EventControlSend:
		c.sendControl(a0, a)
	case messaging.EventMessageEdit:
		c.editMessage(a0, a)
	case messaging.EventMessageDelete:
		c.deleteMessage(a0, a)
	case messaging.EventTypingStart, messaging.EventTypingStop:
		if ok, err := c.isParticipant(a0); err != nil || !ok {
			return
		}
		name := messaging.EventTypingStarted
		if event == messaging.EventTypingStop {
			name = messaging.EventTypingStopped
		}
		var o ordered
		o.set("conversationId", a0)
		o.set("userId", marshal(c.user.ID))
		o.set("userType", marshal(c.user.Type))
		h.toRoom(roomOf(jsString(a0)), c, name, marshal(o))
	case messaging.EventPresenceUpdate:
		h.toAll(c, messaging.EventPresenceChanged, c.presence(a0))
	case messaging.EventWatchConversation:
		if !c.user.isAgent() || !c.user.hasEntitlement("cap:messaging.observe") {
			ack(a, failed("Observe capability required"))
			return
		}
		h.join(c, roomOf(jsString(a0)))
		ack(a, succeeded)
	case messaging.EventAnnouncePresence:
		if ok, err := c.isParticipant(a0); err == nil && ok {
			h.toRoom(roomOf(jsString(a0)), nil, messaging.EventParticipantOnline, c.participantEvent(a0))
		}
	}
	// Events the service does not handle get no answer, not even an ack.
}

// participantData reads the object argument of an event sent to a
// conversation (its conversationId) and checks the caller takes part in
// it. Otherwise it answers the ack itself, with fail or "Not a
// participant", and ok is false.
func (c *sockConn) participantData(data json.RawMessage, a func(...any), fail string) (d fields, convID string, ok bool) {
	d, ok = dataArg(data)
	if !ok {
		ack(a, failed(fail))
		return nil, "", false
	}
	conv := d.get("conversationId")
	ok, err := c.isParticipant(conv)
	if err != nil {
		ack(a, failed(fail))
		return nil, "", false
	}
	if !ok {
		ack(a, failed("Not a participant"))
		return nil, "", false
	}
	convID, _ = asString(conv)
	return d, convID, true
}

func (c *sockConn) sendMessage(data json.RawMessage, a func(...any)) {
	const fail = "Failed to send message"
	s := c.l.s
	d, convID, ok := c.participantData(data, a, fail)
	if !ok {
		return
	}
	row, _, err := s.store.createMessage(newMessageInput(convID, c.user, d))
	if err != nil {
		ack(a, failed(fail))
		return
	}
	s.hub.toRoom(roomOf(convID), nil, messaging.EventMessageNew, marshal(row))
	ack(a, struct {
		Success bool       `json:"success"`
		Message messageRow `json:"message"`
	}{true, row})
}

func (c *sockConn) sendControl(data json.RawMessage, a func(...any)) {
	const fail = "Failed to send control event"
	s := c.l.s
	d, convID, ok := c.participantData(data, a, fail)
	if !ok {
		return
	}
	event, _ := asString(d.get("event"))
	if !c.user.hasEntitlement(controlEntitlement(event)) {
		ack(a, failed("Not authorized to send control events"))
		return
	}
	row, err := s.sendControl(c.user, convID, d.get("event"), d)
	if err != nil {
		ack(a, failed(fail))
		return
	}
	ack(a, struct {
		Success bool       `json:"success"`
		Control messageRow `json:"control"`
	}{true, row})
}

// messageByArg looks a message up by an id argument: undefined or null
// finds nothing, a value that is not a UUID fails the query.
func (c *sockConn) messageByArg(v json.RawMessage) (messageRow, string, bool, error) {
	text, null, ok := textParam(v)
	if null {
		return messageRow{}, "", false, nil
	}
	if !ok {
		return messageRow{}, "", false, errDB
	}
	row, found, err := c.l.s.store.message(text)
	return row, text, found, err
}

// ownMessage looks up the message of an id argument that the caller is
// about to edit or delete (verb) and checks the caller sent it. Otherwise
// it answers the ack itself, with fail, "Message not found" or "Not
// authorized to <verb> this message", and ok is false.
func (c *sockConn) ownMessage(idArg json.RawMessage, a func(...any), fail, verb string) (orig messageRow, id string, ok bool) {
	orig, id, found, err := c.messageByArg(idArg)
	switch {
	case err != nil:
		ack(a, failed(fail))
	case !found:
		ack(a, failed("Message not found"))
	case orig.SenderID != c.user.ID:
		ack(a, failed("Not authorized to "+verb+" this message"))
	default:
		return orig, id, true
	}
	return messageRow{}, "", false
}

func (c *sockConn) editMessage(data json.RawMessage, a func(...any)) {
	const fail = "Failed to edit message"
	s := c.l.s
	d, ok := dataArg(data)
	if !ok {
		ack(a, failed(fail))
		return
	}
	orig, id, ok := c.ownMessage(d.get("messageId"), a, fail, "edit")
	if !ok {
		return
	}
	row, found, err := s.store.editMessage(id, d.get("content"))
	if err != nil {
		ack(a, failed(fail))
		return
	}
	var msg *messageRow
	if found {
		msg = &row
		s.hub.toRoom(roomOf(orig.ConversationID), nil, messaging.EventMessageUpdated, marshal(row))
	}
	ack(a, struct {
		Success bool        `json:"success"`
		Message *messageRow `json:"message"`
	}{true, msg})
}

func (c *sockConn) deleteMessage(idArg json.RawMessage, a func(...any)) {
	const fail = "Failed to delete message"
	s := c.l.s
	orig, id, ok := c.ownMessage(idArg, a, fail, "delete")
	if !ok {
		return
	}
	if err := s.store.deleteMessage(id); err != nil {
		ack(a, failed(fail))
		return
	}
	var o ordered
	o.set("id", idArg)
	o.set("conversationId", marshal(orig.ConversationID))
	s.hub.toRoom(roomOf(orig.ConversationID), nil, messaging.EventMessageDeleted, marshal(o))
	ack(a, succeeded)
}
