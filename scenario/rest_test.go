package scenario_test

// The rows of docs/PROTOCOL.md section 2 (REST), one test per route. Where the
// SDK refuses an input before any I/O (a non-UUID id, an empty content, …)
// the row's server answer cannot be reached through the SDK, and the test
// asserts the SDK's *ValidationError instead; COVERAGE.md lists those rows.

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	messaging "github.com/symbia-labs/messaging-go"
)

// Texts of the service.
const (
	textAuthRequired       = "Authentication required"
	textNotParticipantREST = "Not a participant in this conversation"
	textNotParticipantAck  = "Not a participant"
	textOrgForbidden       = "Not authorized for this organization"
)

// participantOf returns the participant with id user, or fails.
func participantOf(t *testing.T, c *messaging.Conversation, user string) messaging.Participant {
	t.Helper()
	i := slices.IndexFunc(c.Participants, func(p messaging.Participant) bool { return p.UserID == user })
	require.GreaterOrEqual(t, i, 0, "%s is not listed among the participants %+v", user, c.Participants)
	return c.Participants[i]
}

// ids returns the ids of messages, in order.
func ids(ms []messaging.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// Row: GET /health, GET /api/health → 200 {status:"ok", timestamp}.
func TestHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	h, err := e.alice.Client.Health(e.ctx)
	require.NoError(t, err)
	require.Equal(t, "ok", h.Status)
	require.False(t, h.Timestamp.IsZero(), "timestamp")

	// The SDK calls /api/health only; /health is checked with plain HTTP,
	// without credentials, as a load balancer would.
	for _, path := range []string{"/health", "/api/health"} {
		req, err := http.NewRequestWithContext(e.ctx, http.MethodGet, e.endpoint+path, nil)
		require.NoError(t, err)
		resp, err := e.hc.Do(req)
		require.NoError(t, err)
		var body struct {
			Status    string `json:"status"`
			Timestamp string `json:"timestamp"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		require.NoError(t, err, path)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Equal(t, "ok", body.Status, path)
		_, err = time.Parse(time.RFC3339, body.Timestamp)
		require.NoError(t, err, "%s timestamp", path)
	}
}

// Rows: GET /api/auth/me → 200 {user, organizations}; 401. Section 1: no
// valid credential → 401 "Authentication required", and the socket's
// CONNECT refused with the same text.
func TestAuthMe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	// newEnv read every principal from Me; check it again for one.
	me, err := e.bob.Client.Me(e.ctx)
	require.NoError(t, err)
	require.Equal(t, e.bob.ID, me.User.ID)
	require.Equal(t, messaging.UserTypeUser, me.User.Type)

	bad, err := messaging.NewClient(messaging.WithEndpoint(e.endpoint), messaging.WithHTTPClient(e.hc),
		messaging.WithToken("scenario-invalid-"+uuid.NewString()))
	require.NoError(t, err)
	_, err = bad.Me(e.ctx)
	apiError(t, err, http.StatusUnauthorized, textAuthRequired, messaging.ErrUnauthorized)
	_, err = bad.ListConversations(e.ctx)
	apiError(t, err, http.StatusUnauthorized, textAuthRequired, messaging.ErrUnauthorized)

	s, err := bad.NewSocket(messaging.WithReconnection(false))
	require.NoError(t, err)
	defer s.Close()
	err = s.Connect(e.callCtx())
	var ce *messaging.ConnectError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, textAuthRequired, ce.Message)
	require.ErrorIs(t, err, messaging.ErrUnauthorized)
}

// Rows: GET /api/conversations[?orgId=] → 200 ordered by updated_at desc;
// 403 org.
func TestListConversations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.alice, e.bob

	withBob := a.group(b)
	alone := a.private()
	time.Sleep(2 * time.Millisecond) // spacing, so that the update below is in a later millisecond
	_, err := a.Client.UpdateConversation(e.ctx, withBob, messaging.UpdateConversationParams{Name: "bumped"})
	require.NoError(t, err)

	list, err := a.Client.ListConversations(e.ctx)
	require.NoError(t, err)
	pos := map[string]int{}
	for i, c := range list {
		pos[c.ID] = i
		require.Nil(t, c.Participants, "the list carries no participants")
		if i > 0 {
			require.False(t, c.UpdatedAt.After(list[i-1].UpdatedAt), "ordered by updated_at desc: %s (%v) after %s (%v)",
				c.ID, c.UpdatedAt, list[i-1].ID, list[i-1].UpdatedAt)
		}
	}
	require.Contains(t, pos, withBob)
	require.Contains(t, pos, alone)
	require.Less(t, pos[withBob], pos[alone], "the conversation updated last comes first")

	bobs, err := b.Client.ListConversations(e.ctx)
	require.NoError(t, err)
	bobIDs := make([]string, len(bobs))
	for i, c := range bobs {
		bobIDs[i] = c.ID
	}
	require.Contains(t, bobIDs, withBob)
	require.NotContains(t, bobIDs, alone, "bob must not list alice's private conversation")

	// 403 org: an organisation alice is not a member of.
	if !a.Me.User.IsSuperAdmin {
		_, err = a.Client.ListConversations(e.ctx, messaging.WithOrgID(uuid.NewString()))
		apiError(t, err, http.StatusForbidden, textOrgForbidden, messaging.ErrForbidden)
	}

	// The organisation filter: that organisation's conversations and those
	// without one.
	orgs := a.orgs()
	if len(orgs) == 0 {
		t.Log("alice belongs to no organisation: the org filter's success is not checked")
		return
	}
	inOrg := a.create(messaging.CreateConversationParams{Type: messaging.ConversationPrivate, OrgID: orgs[0]}).ID
	filtered, err := a.Client.ListConversations(e.ctx, messaging.WithOrgID(orgs[0]))
	require.NoError(t, err)
	var got []string
	for _, c := range filtered {
		require.True(t, c.OrgID == "" || c.OrgID == orgs[0], "conversation %s of org %q listed under org %s", c.ID, c.OrgID, orgs[0])
		got = append(got, c.ID)
	}
	require.Contains(t, got, inOrg)
	require.Contains(t, got, alone)
}

// Rows: POST /api/conversations → 201 with participants; 400 "Invalid
// conversation type" and 400 "Group conversations require a name" (both
// refused by the SDK first); 403 org.
func TestCreateConversation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, ag := e.alice, e.bob, e.agent

	c := a.create(messaging.CreateConversationParams{
		Type:           messaging.ConversationGroup,
		Name:           "scenario group",
		Description:    "made by the scenario suite",
		Metadata:       map[string]any{"suite": "scenario"},
		ParticipantIDs: []string{b.ID},                               // the JS client's form
		Participants:   []messaging.NewParticipant{ag.participant()}, // the service's form
	})
	require.NoError(t, uuid.Validate(c.ID))
	require.Equal(t, messaging.ConversationGroup, c.Type)
	require.Equal(t, "scenario group", c.Name)
	require.Equal(t, "made by the scenario suite", c.Description)
	require.Equal(t, a.ID, c.CreatedBy)
	require.Equal(t, map[string]any{"suite": "scenario"}, c.Metadata)
	require.False(t, c.CreatedAt.IsZero())
	require.Len(t, c.Participants, 3)
	owner := participantOf(t, c, a.ID)
	require.Equal(t, messaging.RoleOwner, owner.Role)
	require.Equal(t, messaging.UserTypeUser, owner.UserType)
	require.Equal(t, c.ID, owner.ConversationID)
	pb := participantOf(t, c, b.ID)
	require.Equal(t, messaging.RoleMember, pb.Role)
	require.Equal(t, messaging.UserTypeUser, pb.UserType)
	pa := participantOf(t, c, ag.ID)
	require.Equal(t, messaging.RoleMember, pa.Role)
	require.Equal(t, messaging.UserTypeAgent, pa.UserType)

	// A private conversation needs no name.
	p := a.create(messaging.CreateConversationParams{Type: messaging.ConversationPrivate})
	require.Equal(t, messaging.ConversationPrivate, p.Type)
	require.Len(t, p.Participants, 1)
	require.Equal(t, messaging.RoleOwner, p.Participants[0].Role)

	// 400 "Invalid conversation type", 400 "Group conversations require a
	// name": the SDK refuses both before sending.
	_, err := a.Client.CreateConversation(e.ctx, messaging.CreateConversationParams{Type: "channel", Name: "x"})
	validationError(t, err, "params.Type")
	_, err = a.Client.CreateConversation(e.ctx, messaging.CreateConversationParams{Type: messaging.ConversationGroup})
	validationError(t, err, "params.Name")

	// 403 org, by the body's orgId and by the X-Org-Id header.
	if !a.Me.User.IsSuperAdmin {
		stranger := uuid.NewString()
		_, err = a.Client.CreateConversation(e.ctx, messaging.CreateConversationParams{Type: messaging.ConversationPrivate, OrgID: stranger})
		apiError(t, err, http.StatusForbidden, textOrgForbidden, messaging.ErrForbidden)
		_, err = a.Client.CreateConversation(e.ctx, messaging.CreateConversationParams{Type: messaging.ConversationPrivate},
			messaging.WithOrgID(stranger))
		apiError(t, err, http.StatusForbidden, textOrgForbidden, messaging.ErrForbidden)
	}
	if orgs := a.orgs(); len(orgs) > 0 {
		o := a.create(messaging.CreateConversationParams{Type: messaging.ConversationPrivate, OrgID: orgs[0]})
		require.Equal(t, orgs[0], o.OrgID)
	}
}

// Rows: GET /api/conversations/:id → 200 with participants; 403 not a
// participant, also for an unknown id; 404 (a non-UUID id, refused by the
// SDK first).
func TestGetConversation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, ag := e.alice, e.bob, e.agent
	id := a.group(b)

	for _, p := range []*principal{a, b} {
		c, err := p.Client.GetConversation(e.ctx, id)
		require.NoError(t, err, p.name)
		require.Equal(t, id, c.ID)
		require.Len(t, c.Participants, 2)
		require.Equal(t, messaging.RoleOwner, participantOf(t, c, a.ID).Role)
		require.Equal(t, messaging.RoleMember, participantOf(t, c, b.ID).Role)
	}

	_, err := ag.Client.GetConversation(e.ctx, id)
	apiError(t, err, http.StatusForbidden, textNotParticipantREST, messaging.ErrForbidden, messaging.ErrNotParticipant)
	// Membership is checked before existence: an unknown id reads 403 too.
	_, err = a.Client.GetConversation(e.ctx, uuid.NewString())
	apiError(t, err, http.StatusForbidden, textNotParticipantREST, messaging.ErrForbidden, messaging.ErrNotParticipant)
	// 404 "Conversation not found" is the service's answer to a non-UUID
	// id, which the SDK refuses before sending.
	_, err = a.Client.GetConversation(e.ctx, "not-a-uuid")
	validationError(t, err, "conversationID")
}

// Rows: PATCH /api/conversations/:id → 200 without participants; 403
// unless owner/admin; 404 (non-UUID, refused by the SDK; an unknown UUID
// reads 403).
func TestUpdateConversation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.alice, e.bob
	id := a.create(messaging.CreateConversationParams{Type: messaging.ConversationGroup, Name: "before",
		Metadata: map[string]any{"old": "x"}, Participants: []messaging.NewParticipant{b.participant()}}).ID

	u, err := a.Client.UpdateConversation(e.ctx, id, messaging.UpdateConversationParams{
		Name: "after", Description: "described", Metadata: map[string]any{"new": "y"},
	})
	require.NoError(t, err)
	require.Equal(t, id, u.ID)
	require.Equal(t, "after", u.Name)
	require.Equal(t, "described", u.Description)
	require.Equal(t, map[string]any{"new": "y"}, u.Metadata, "metadata is replaced, not merged")
	require.Nil(t, u.Participants, "PATCH returns no participants")

	got, err := b.Client.GetConversation(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, "after", got.Name)

	const text = "Not authorized to update this conversation"
	_, err = b.Client.UpdateConversation(e.ctx, id, messaging.UpdateConversationParams{Name: "bob's"})
	apiError(t, err, http.StatusForbidden, text, messaging.ErrForbidden)
	require.NotErrorIs(t, err, messaging.ErrNotParticipant, "bob is a participant, only not a manager")
	_, err = a.Client.UpdateConversation(e.ctx, uuid.NewString(), messaging.UpdateConversationParams{Name: "x"})
	apiError(t, err, http.StatusForbidden, text, messaging.ErrForbidden)
	_, err = a.Client.UpdateConversation(e.ctx, "not-a-uuid", messaging.UpdateConversationParams{Name: "x"})
	validationError(t, err, "conversationID")
}

// Rows: DELETE /api/conversations/:id → 204; 403 unless owner; 404
// (non-UUID, refused by the SDK; an unknown UUID reads 403).
func TestDeleteConversation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.alice, e.bob
	id := a.group(b)

	const text = "Only the owner can delete this conversation"
	err := b.Client.DeleteConversation(e.ctx, id)
	apiError(t, err, http.StatusForbidden, text, messaging.ErrForbidden)

	require.NoError(t, a.Client.DeleteConversation(e.ctx, id))
	_, err = a.Client.GetConversation(e.ctx, id)
	apiError(t, err, http.StatusForbidden, textNotParticipantREST, messaging.ErrNotParticipant)
	err = a.Client.DeleteConversation(e.ctx, id)
	apiError(t, err, http.StatusForbidden, text, messaging.ErrForbidden)
	err = a.Client.DeleteConversation(e.ctx, "not-a-uuid")
	validationError(t, err, "conversationID")
}

// Rows: POST /api/conversations/:id/join → 201 Participant; 404; 400
// "Cannot join a private conversation"; 403 org.
func TestJoinConversation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.alice, e.bob
	g := a.group()

	p, err := b.Client.JoinConversation(e.ctx, g)
	require.NoError(t, err)
	require.Equal(t, g, p.ConversationID)
	require.Equal(t, b.ID, p.UserID)
	require.Equal(t, messaging.UserTypeUser, p.UserType)
	require.Equal(t, messaging.RoleMember, p.Role)
	c, err := b.Client.GetConversation(e.ctx, g)
	require.NoError(t, err)
	participantOf(t, c, b.ID)

	_, err = b.Client.JoinConversation(e.ctx, a.private())
	apiError(t, err, http.StatusBadRequest, "Cannot join a private conversation", messaging.ErrInvalidArgument)
	_, err = b.Client.JoinConversation(e.ctx, uuid.NewString())
	apiError(t, err, http.StatusNotFound, "Conversation not found", messaging.ErrNotFound)
	_, err = b.Client.JoinConversation(e.ctx, "not-a-uuid")
	validationError(t, err, "conversationID")

	// 403 org: a group in an organisation of alice's that bob is not in.
	bobOrgs := b.orgs()
	i := slices.IndexFunc(a.orgs(), func(o string) bool { return !slices.Contains(bobOrgs, o) })
	if i < 0 || b.Me.User.IsSuperAdmin {
		t.Log("alice has no organisation that bob is not in: the 403 org row of join is not checked")
		return
	}
	og := a.create(messaging.CreateConversationParams{Type: messaging.ConversationGroup, Name: "org group", OrgID: a.orgs()[i]}).ID
	_, err = b.Client.JoinConversation(e.ctx, og)
	apiError(t, err, http.StatusForbidden, textOrgForbidden, messaging.ErrForbidden)
}

// Rows: POST /api/conversations/:id/leave → 204; 400 owner cannot leave;
// 404 not a participant.
func TestLeaveConversation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.alice, e.bob
	g := a.group(b)

	err := a.Client.LeaveConversation(e.ctx, g)
	apiError(t, err, http.StatusBadRequest, "Owner cannot leave the conversation. Transfer ownership or delete it.", messaging.ErrInvalidArgument)

	require.NoError(t, b.Client.LeaveConversation(e.ctx, g))
	_, err = b.Client.GetConversation(e.ctx, g)
	apiError(t, err, http.StatusForbidden, textNotParticipantREST, messaging.ErrNotParticipant)

	err = b.Client.LeaveConversation(e.ctx, g)
	apiError(t, err, http.StatusNotFound, textNotParticipantREST, messaging.ErrNotFound)
	require.NotErrorIs(t, err, messaging.ErrForbidden, "a 404 is not a 403, whatever its text")
	err = b.Client.LeaveConversation(e.ctx, "not-a-uuid")
	validationError(t, err, "conversationID")
}

// Rows: POST /api/conversations/:id/participants → 201 Participant (role
// member; adding again updates, no error); 400 "userId is required"
// (refused by the SDK first); 403 unless owner/admin.
func TestAddParticipant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, ag := e.alice, e.bob, e.agent
	g := a.group()

	p, err := a.Client.AddParticipant(e.ctx, g, b.ID, messaging.UserTypeUser)
	require.NoError(t, err)
	require.Equal(t, g, p.ConversationID)
	require.Equal(t, b.ID, p.UserID)
	require.Equal(t, messaging.UserTypeUser, p.UserType)
	require.Equal(t, messaging.RoleMember, p.Role)

	// Adding again is no error; the empty type means user.
	p, err = a.Client.AddParticipant(e.ctx, g, b.ID, "")
	require.NoError(t, err)
	require.Equal(t, b.ID, p.UserID)
	require.Equal(t, messaging.RoleMember, p.Role)

	p, err = a.Client.AddParticipant(e.ctx, g, ag.ID, messaging.UserTypeAgent)
	require.NoError(t, err)
	require.Equal(t, messaging.UserTypeAgent, p.UserType)

	c, err := a.Client.GetConversation(e.ctx, g)
	require.NoError(t, err)
	require.Len(t, c.Participants, 3, "re-adding bob made no second row")
	require.Equal(t, messaging.RoleOwner, participantOf(t, c, a.ID).Role)

	_, err = b.Client.AddParticipant(e.ctx, g, uuid.NewString(), messaging.UserTypeUser)
	apiError(t, err, http.StatusForbidden, "Not authorized to add participants", messaging.ErrForbidden)
	// 400 "userId is required": refused by the SDK.
	_, err = a.Client.AddParticipant(e.ctx, g, "", messaging.UserTypeUser)
	validationError(t, err, "userID")
	// A user type other than user/agent is a 500 on the service: refused
	// by the SDK.
	_, err = a.Client.AddParticipant(e.ctx, g, b.ID, "robot")
	validationError(t, err, "userType")
}

// Rows: DELETE /api/conversations/:id/participants/:userId → 204; 403
// unless owner/admin; 400 cannot remove owner; 404.
func TestRemoveParticipant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.alice, e.bob
	g := a.group(b)

	err := b.Client.RemoveParticipant(e.ctx, g, a.ID)
	apiError(t, err, http.StatusForbidden, "Not authorized to remove participants", messaging.ErrForbidden)
	err = a.Client.RemoveParticipant(e.ctx, g, a.ID)
	apiError(t, err, http.StatusBadRequest, "Cannot remove the owner", messaging.ErrInvalidArgument)

	require.NoError(t, a.Client.RemoveParticipant(e.ctx, g, b.ID))
	_, err = b.Client.GetConversation(e.ctx, g)
	apiError(t, err, http.StatusForbidden, textNotParticipantREST, messaging.ErrNotParticipant)

	err = a.Client.RemoveParticipant(e.ctx, g, b.ID)
	apiError(t, err, http.StatusNotFound, "Participant not found", messaging.ErrNotFound)
	// The service answers a non-UUID user id 404 before any lookup; the
	// SDK refuses it first.
	err = a.Client.RemoveParticipant(e.ctx, g, "agent:someone")
	validationError(t, err, "userID")
}

// Rows: GET /api/conversations/:id/messages → 200 in the three orderings
// (before: newest first; after: oldest first; neither: the oldest limit by
// sequence); 403 not a participant. Also: reading updates last_read_at.
func TestGetMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, ag := e.alice, e.bob, e.agent
	g := a.group(b)

	var sent []*messaging.Message
	for i, content := range []string{"one", "two", "three", "four"} {
		if i > 0 {
			// Spacing, not an assertion: the orderings are by created_at
			// (milliseconds), so the messages need distinct ones.
			time.Sleep(3 * time.Millisecond)
		}
		sent = append(sent, a.send(g, content))
	}
	for i := 1; i < len(sent); i++ {
		require.True(t, sent[i].CreatedAt.After(sent[i-1].CreatedAt), "created_at must grow: %v then %v",
			sent[i-1].CreatedAt, sent[i].CreatedAt)
		require.Greater(t, sent[i].Sequence, sent[i-1].Sequence)
	}
	m1, m2, m3, m4 := sent[0].ID, sent[1].ID, sent[2].ID, sent[3].ID

	c, err := a.Client.GetConversation(e.ctx, g)
	require.NoError(t, err)
	require.Nil(t, participantOf(t, c, b.ID).LastReadAt, "bob has not read yet")

	all, err := b.Client.GetMessages(e.ctx, g, messaging.GetMessagesParams{})
	require.NoError(t, err)
	require.Equal(t, []string{m1, m2, m3, m4}, ids(all), "neither: by sequence, oldest first")
	require.Equal(t, "one", all[0].Content)

	oldest, err := b.Client.GetMessages(e.ctx, g, messaging.GetMessagesParams{Limit: 3})
	require.NoError(t, err)
	require.Equal(t, []string{m1, m2, m3}, ids(oldest), "neither, limit 3: the oldest three")

	before, err := b.Client.GetMessages(e.ctx, g, messaging.GetMessagesParams{Before: sent[3].CreatedAt, Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []string{m3, m2}, ids(before), "before: strictly before, newest first")

	after, err := b.Client.GetMessages(e.ctx, g, messaging.GetMessagesParams{After: sent[0].CreatedAt, Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []string{m2, m3}, ids(after), "after: strictly after, oldest first")

	c, err = a.Client.GetConversation(e.ctx, g)
	require.NoError(t, err)
	require.NotNil(t, participantOf(t, c, b.ID).LastReadAt, "reading set bob's last_read_at")

	_, err = ag.Client.GetMessages(e.ctx, g, messaging.GetMessagesParams{})
	apiError(t, err, http.StatusForbidden, textNotParticipantREST, messaging.ErrForbidden, messaging.ErrNotParticipant)
	// With both bounds the service silently ignores after: the SDK refuses.
	_, err = b.Client.GetMessages(e.ctx, g, messaging.GetMessagesParams{Before: time.Now(), After: sent[0].CreatedAt})
	validationError(t, err, "params")
}

// Rows: POST /api/conversations/:id/messages → 201 Message, the client's id
// kept and a repeat answered with the stored message, an agent sender added
// instead of refused; 400 "Message content is required" and 400 "Use
// /control for stream events" (refused by the SDK first); 403 not a
// participant.
func TestSendMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, ag := e.alice, e.bob, e.agent
	g := a.group(b)

	first := a.send(g, "first")
	require.Equal(t, g, first.ConversationID)
	require.Equal(t, a.ID, first.SenderID)
	require.Equal(t, messaging.SenderUser, first.SenderType)
	require.Equal(t, messaging.ContentTypeText, first.ContentType, "default content type")
	require.Equal(t, messaging.PriorityNormal, first.Priority, "default priority")
	require.True(t, first.Interruptible, "interruptible by default")
	require.Nil(t, first.UpdatedAt)

	id, run := uuid.NewString(), uuid.NewString()
	m, err := b.Client.SendMessage(e.ctx, messaging.SendMessageParams{
		ConversationID: g, ID: id, Content: "**hello**", ContentType: "markdown", ReplyTo: first.ID,
		Metadata: map[string]any{"k": "v"}, RunID: run, TraceID: "trace-free-text", Priority: messaging.PriorityHigh,
		Interruptible: messaging.Bool(false), PreemptedBy: first.ID,
	})
	require.NoError(t, err)
	require.Equal(t, id, m.ID, "the client's id is kept")
	require.Equal(t, b.ID, m.SenderID)
	require.Equal(t, "**hello**", m.Content)
	require.Equal(t, "markdown", m.ContentType)
	require.Equal(t, first.ID, m.ReplyTo)
	require.Equal(t, map[string]any{"k": "v"}, m.Metadata)
	require.Equal(t, run, m.RunID)
	require.Equal(t, "trace-free-text", m.TraceID)
	require.Equal(t, messaging.PriorityHigh, m.Priority)
	require.False(t, m.Interruptible)
	require.Equal(t, first.ID, m.PreemptedBy)
	require.Greater(t, m.Sequence, first.Sequence)

	// Idempotent: the same id again returns the stored message, stores
	// nothing new.
	again, err := b.Client.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: g, ID: id, Content: "different"})
	require.NoError(t, err)
	require.Equal(t, id, again.ID)
	require.Equal(t, "**hello**", again.Content, "the repeat returns the original")
	require.Equal(t, m.Sequence, again.Sequence)
	require.NotNil(t, again.UpdatedAt, "the repeat touches updated_at (docs/PROTOCOL.md)")
	hist, err := a.Client.GetMessages(e.ctx, g, messaging.GetMessagesParams{})
	require.NoError(t, err)
	require.Equal(t, []string{first.ID, id}, ids(hist), "stored once")

	// 403: a user who is not a participant.
	p := a.private()
	_, err = b.Client.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: p, Content: "let me in"})
	apiError(t, err, http.StatusForbidden, textNotParticipantREST, messaging.ErrForbidden, messaging.ErrNotParticipant)

	// An agent that is not a participant is added instead.
	am, err := ag.Client.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: p, Content: "agent here"})
	require.NoError(t, err)
	require.Equal(t, ag.ID, am.SenderID)
	require.Equal(t, messaging.SenderAgent, am.SenderType)
	c, err := a.Client.GetConversation(e.ctx, p)
	require.NoError(t, err)
	pa := participantOf(t, c, ag.ID)
	require.Equal(t, messaging.RoleMember, pa.Role)
	require.Equal(t, messaging.UserTypeAgent, pa.UserType)

	// 400s the SDK refuses before sending.
	_, err = a.Client.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: g, Content: ""})
	validationError(t, err, "params.Content")
	_, err = a.Client.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: g, Content: "x", ContentType: messaging.ContentTypeEvent})
	validationError(t, err, "params.ContentType")
	// The service's 500s for non-UUID run ids and message ids, refused too.
	_, err = a.Client.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: g, Content: "x", RunID: "run-123"})
	validationError(t, err, "params.RunID")
	_, err = a.Client.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: g, Content: "x", ID: "my-id"})
	validationError(t, err, "params.ID")
	_, err = a.Client.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: "not-a-uuid", Content: "x"})
	validationError(t, err, "params.ConversationID")
}

// Rows: POST /api/conversations/:id/control → 201 Message (the stored
// control record); 400 "Control event is required" (refused by the SDK
// first); 403 not a participant; 403 "Not authorized to send control
// events".
func TestSendControl(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, ag := e.alice, e.bob, e.agent
	g := a.group(b, ag)

	run := uuid.NewString()
	rec, err := ag.Client.SendControl(e.ctx, g, messaging.ControlParams{
		Event: "pause", Reason: "user asked", RunID: run, TraceID: "trace-1",
		Target: &messaging.ControlTarget{PrincipalID: b.ID, PrincipalType: messaging.UserTypeUser},
	})
	require.NoError(t, err)
	require.True(t, rec.IsControl())
	require.Equal(t, messaging.ContentTypeEvent, rec.ContentType)
	require.Equal(t, string(messaging.StreamPause), rec.Content, "a short name is sent in full")
	require.Equal(t, messaging.PriorityHigh, rec.Priority)
	require.Equal(t, ag.ID, rec.SenderID)
	require.Equal(t, messaging.SenderAgent, rec.SenderType)
	require.Equal(t, g, rec.ConversationID)
	ctl, ok := rec.Metadata["control"].(map[string]any)
	require.True(t, ok, "metadata.control holds the payload: %v", rec.Metadata)
	require.Equal(t, "stream.pause", ctl["event"])
	require.Equal(t, "user asked", ctl["reason"])
	require.Equal(t, run, ctl["runId"])
	require.Equal(t, g, ctl["conversationId"])
	require.Equal(t, map[string]any{"principalId": b.ID, "principalType": "user"}, ctl["target"])

	// Every stream event, route and handoff included (the agent has
	// cap:messaging.route).
	for _, name := range []messaging.ControlEventName{messaging.StreamResume, messaging.StreamPreempt, messaging.StreamRoute,
		messaging.StreamHandoff, messaging.StreamCancel, messaging.StreamPriority} {
		r, err := ag.Client.SendControl(e.ctx, g, messaging.ControlParams{Event: name.Short()})
		require.NoError(t, err, name)
		require.Equal(t, string(name), r.Content)
	}

	// The record is in the history.
	hist, err := a.Client.GetMessages(e.ctx, g, messaging.GetMessagesParams{})
	require.NoError(t, err)
	require.Len(t, hist, 7)
	require.Equal(t, rec.ID, hist[0].ID)
	require.Equal(t, messaging.ContentTypeEvent, hist[0].ContentType)

	// 403 "Not authorized to send control events": a participant without
	// the capability.
	if a.can(capInterrupt) {
		t.Log("alice holds cap:messaging.interrupt: the capability row is not checked")
	} else {
		_, err = a.Client.SendControl(e.ctx, g, messaging.ControlParams{Event: "cancel"})
		apiError(t, err, http.StatusForbidden, "Not authorized to send control events", messaging.ErrForbidden)
		require.NotErrorIs(t, err, messaging.ErrNotParticipant)
	}
	// 403 not a participant: the agent's capabilities do not make it one,
	// and unlike a message, a control event does not add it.
	p := a.private()
	_, err = ag.Client.SendControl(e.ctx, p, messaging.ControlParams{Event: "pause"})
	apiError(t, err, http.StatusForbidden, textNotParticipantREST, messaging.ErrForbidden, messaging.ErrNotParticipant)

	// 400 "Control event is required", refused by the SDK, as are names
	// outside the seven and non-UUID run ids (a 500 on the service).
	_, err = ag.Client.SendControl(e.ctx, g, messaging.ControlParams{})
	validationError(t, err, "params.Event")
	_, err = ag.Client.SendControl(e.ctx, g, messaging.ControlParams{Event: "connect"})
	validationError(t, err, "params.Event")
	_, err = ag.Client.SendControl(e.ctx, g, messaging.ControlParams{Event: "pause", RunID: "run-1"})
	validationError(t, err, "params.RunID")
}

// Section 1: X-As-User-Id is honoured when the caller is an agent (or a
// super admin) and silently ignored for anyone else.
func TestImpersonation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, ag := e.alice, e.bob, e.agent
	g := a.group(b)

	m, err := ag.Client.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: g, Content: "on alice's behalf"},
		messaging.AsUser(a.ID))
	require.NoError(t, err)
	require.Equal(t, a.ID, m.SenderID)
	require.Equal(t, messaging.SenderUser, m.SenderType)
	c, err := a.Client.GetConversation(e.ctx, g)
	require.NoError(t, err)
	require.Len(t, c.Participants, 2, "the agent sent as alice: it was not added")

	if b.Me.User.IsSuperAdmin {
		t.Log("bob is a super admin: the refusal of his impersonation is not checked")
		return
	}
	m, err = b.Client.SendMessage(e.ctx, messaging.SendMessageParams{ConversationID: g, Content: "not on alice's behalf"},
		messaging.AsUser(a.ID))
	require.NoError(t, err)
	require.Equal(t, b.ID, m.SenderID, "a user's X-As-User-Id is ignored")
	_, err = b.Client.GetConversation(e.ctx, a.private(), messaging.AsUser(a.ID))
	apiError(t, err, http.StatusForbidden, textNotParticipantREST, messaging.ErrNotParticipant)
}
