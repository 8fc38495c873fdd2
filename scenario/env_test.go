package scenario_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// The environment variables that point the suite at an external server.
const (
	envEndpoint   = "MESSAGING_TEST_ENDPOINT"
	envTokenAlice = "MESSAGING_TEST_TOKEN_ALICE"
	envTokenBob   = "MESSAGING_TEST_TOKEN_BOB"
	envTokenAgent = "MESSAGING_TEST_TOKEN_AGENT"
)

// The capabilities the agent must hold.
const (
	capInterrupt = "cap:messaging.interrupt"
	capRoute     = "cap:messaging.route"
	capObserve   = "cap:messaging.observe"
)

// Timeouts. Every wait for an event is bounded by eventTimeout; every call
// by callTimeout (the SDK's own ack timeout is 20 s).
const (
	eventTimeout = 5 * time.Second
	callTimeout  = 15 * time.Second
)

// env is one scenario's world: three principals with their REST clients,
// backed by a fresh messagingtest server or by the external server.
type env struct {
	t *testing.T
	// srv is the in-memory server, nil against an external server.
	srv *messagingtest.Server
	// ctx bounds the scenario's calls.
	ctx context.Context
	// endpoint and hc are the server's base URL and the HTTP client every
	// Client and Socket of the scenario uses.
	endpoint string
	hc       *http.Client

	alice, bob, agent *principal
}

// principal is one of the three identities of the suite.
type principal struct {
	e      *env
	name   string
	ID     string
	Type   messaging.UserType
	Me     *messaging.Me
	Client *messaging.Client
	// token is the principal's credential, for the few requests the SDK
	// cannot make (an older client's wire form).
	token string
}

// newEnv returns the scenario's environment. Against messagingtest it
// starts a server of its own with three principals under random ids (so no
// scenario can depend on fixed ids); against an external server it reads
// the tokens from the environment. Either way the principals' ids come from
// GET /api/auth/me.
func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx}

	var endpoint string
	var hc *http.Client
	tokens := map[string]string{}
	if ep := os.Getenv(envEndpoint); ep != "" {
		var missing []string
		for _, v := range []string{envTokenAlice, envTokenBob, envTokenAgent} {
			if os.Getenv(v) == "" {
				missing = append(missing, v)
			}
		}
		if len(missing) > 0 {
			t.Fatalf("%s is set but %s %s not: the scenario suite needs a token for alice, bob and the agent",
				envEndpoint, strings.Join(missing, " and "), map[bool]string{true: "is", false: "are"}[len(missing) == 1])
		}
		endpoint = ep
		tokens["alice"], tokens["bob"], tokens["agent"] = os.Getenv(envTokenAlice), os.Getenv(envTokenBob), os.Getenv(envTokenAgent)
		// A transport of our own, so that its idle connections can be
		// closed and goleak sees no reader goroutines left behind.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		t.Cleanup(tr.CloseIdleConnections)
		hc = &http.Client{Transport: tr}
	} else {
		srv := messagingtest.NewServer()
		t.Cleanup(srv.Close)
		e.srv = srv
		endpoint, hc = srv.URL(), srv.Client()
		for _, name := range []string{"alice", "bob", "agent"} {
			tokens[name] = name + "-" + uuid.NewString()
		}
		srv.AddUser(tokens["alice"], messagingtest.Principal{ID: uuid.NewString(), Name: "Alice", Orgs: []string{uuid.NewString()}})
		srv.AddUser(tokens["bob"], messagingtest.Principal{ID: uuid.NewString(), Name: "Bob"})
		srv.AddUser(tokens["agent"], messagingtest.Principal{ID: uuid.NewString(), Type: messaging.UserTypeAgent,
			AgentID: "agent:scenario", Name: "Scenario agent", Entitlements: []string{capInterrupt, capRoute, capObserve}})
	}

	e.endpoint, e.hc = endpoint, hc
	mk := func(name string) *principal {
		c, err := messaging.NewClient(messaging.WithEndpoint(endpoint), messaging.WithToken(tokens[name]), messaging.WithHTTPClient(hc))
		require.NoError(t, err)
		me, err := c.Me(ctx)
		require.NoError(t, err, "GET /api/auth/me as %s", name)
		require.NotEmpty(t, me.User.ID, "GET /api/auth/me as %s returned no id", name)
		return &principal{e: e, name: name, ID: me.User.ID, Type: me.User.Type, Me: me, Client: c, token: tokens[name]}
	}
	e.alice, e.bob, e.agent = mk("alice"), mk("bob"), mk("agent")

	ids := []string{e.alice.ID, e.bob.ID, e.agent.ID}
	slices.Sort(ids)
	require.Len(t, slices.Compact(ids), 3, "alice, bob and the agent must be three different principals")
	for _, p := range []*principal{e.alice, e.bob} {
		require.Equal(t, messaging.UserTypeUser, p.Type, "%s must be a user (%s)", p.name, p.ID)
		// Several rows (e.g. the socket's message:send, RemoveParticipant)
		// need principal ids that are UUIDs, as user ids are.
		require.NoError(t, uuid.Validate(p.ID), "%s's id must be a UUID", p.name)
	}
	require.Equal(t, messaging.UserTypeAgent, e.agent.Type, "the agent must be an agent (%s)", e.agent.ID)
	for _, c := range []string{capInterrupt, capRoute, capObserve} {
		require.True(t, e.agent.can(c), "the agent must have %s (it has %v)", c, e.agent.Me.User.Entitlements)
	}
	return e
}

// can reports whether the principal holds a capability (super admins hold
// every one).
func (p *principal) can(capability string) bool {
	return p.Me.User.IsSuperAdmin || slices.Contains(p.Me.User.Entitlements, capability)
}

// orgs returns the ids of the organisations the principal belongs to.
func (p *principal) orgs() []string {
	var out []string
	if p.Me.User.OrgID != "" {
		out = append(out, p.Me.User.OrgID)
	}
	for _, o := range append(p.Me.User.Organizations, p.Me.Organizations...) {
		if o.ID != "" && !slices.Contains(out, o.ID) {
			out = append(out, o.ID)
		}
	}
	return out
}

// participant names the principal as a participant of a new conversation.
func (p *principal) participant() messaging.NewParticipant {
	return messaging.NewParticipant{UserID: p.ID, UserType: p.Type}
}

// create creates a conversation owned by p and deletes it when the test
// ends (a conversation whose deletion fails, e.g. already deleted, is left).
func (p *principal) create(params messaging.CreateConversationParams, opts ...messaging.RequestOption) *messaging.Conversation {
	t := p.e.t
	t.Helper()
	c, err := p.Client.CreateConversation(p.e.ctx, params, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		_ = p.Client.DeleteConversation(ctx, c.ID)
	})
	return c
}

// group creates a group conversation owned by p with the members, and
// returns its id.
func (p *principal) group(members ...*principal) string {
	p.e.t.Helper()
	params := messaging.CreateConversationParams{Type: messaging.ConversationGroup, Name: "scenario " + p.e.t.Name()}
	for _, m := range members {
		params.Participants = append(params.Participants, m.participant())
	}
	return p.create(params).ID
}

// private creates a private conversation owned by p with the members, and
// returns its id.
func (p *principal) private(members ...*principal) string {
	p.e.t.Helper()
	params := messaging.CreateConversationParams{Type: messaging.ConversationPrivate}
	for _, m := range members {
		params.Participants = append(params.Participants, m.participant())
	}
	return p.create(params).ID
}

// send posts a text message over REST.
func (p *principal) send(conversationID, content string) *messaging.Message {
	p.e.t.Helper()
	m, err := p.Client.SendMessage(p.e.ctx, messaging.SendMessageParams{ConversationID: conversationID, Content: content})
	require.NoError(p.e.t, err)
	return m
}

// socket is a connected Socket of a principal with a recorder of every
// event it receives.
type socket struct {
	*messaging.Socket
	*recorder
	p *principal
}

// connect makes and connects a socket for p, closed when the test ends,
// then joins the conversations given. The service joins a new socket to the
// rooms of its conversations by itself, but after answering the CONNECT (see
// messagingtest's documentation): an acknowledged join is the way to know
// the socket is in a room. Scenarios about the service's own joins pass
// none.
//
// Backfill is off: the scenarios assert what the server sends, and backfill
// would fetch over REST what a room did not receive.
func (p *principal) connect(conversations ...string) *socket {
	t := p.e.t
	t.Helper()
	s, err := p.Client.NewSocket(messaging.WithBackfill(false))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	r := newRecorder(p.name)
	r.attach(s)
	// Runs before the Close above: nothing may have gone wrong outside the
	// calls (a malformed event, a panic, a failed rejoin).
	t.Cleanup(func() {
		for _, ev := range r.snapshot() {
			if ev.Kind == kindError {
				t.Errorf("%s's socket reported %v", p.name, ev.Err)
			}
		}
	})
	ctx := p.e.callCtx()
	require.NoError(t, s.Connect(ctx), "%s's socket", p.name)
	for _, id := range conversations {
		require.NoError(t, s.JoinConversation(ctx, id), "%s joins %s", p.name, id)
	}
	return &socket{Socket: s, recorder: r, p: p}
}

// callCtx bounds one call.
func (e *env) callCtx() context.Context {
	ctx, cancel := context.WithTimeout(e.ctx, callTimeout)
	e.t.Cleanup(cancel)
	return ctx
}

// apiError asserts that err is an *APIError with the status and the
// service's text, and that it matches each of the sentinels.
func apiError(t *testing.T, err error, status int, text string, sentinels ...error) {
	t.Helper()
	var ae *messaging.APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, status, ae.StatusCode, "status of %v", err)
	require.Equal(t, text, ae.Message, "text of %v", err)
	for _, s := range sentinels {
		require.ErrorIs(t, err, s)
	}
}

// ackError asserts that err is an *AckError for event with the service's
// text, matching each of the sentinels.
func ackError(t *testing.T, err error, event, text string, sentinels ...error) {
	t.Helper()
	var ae *messaging.AckError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, event, ae.Event, "event of %v", err)
	require.Equal(t, text, ae.Message, "text of %v", err)
	for _, s := range sentinels {
		require.ErrorIs(t, err, s)
	}
}

// validationError asserts that err is the SDK's refusal of field before any
// I/O. It stands for rows whose server error the SDK does not let a caller
// reach.
func validationError(t *testing.T, err error, field string) {
	t.Helper()
	var ve *messaging.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, field, ve.Field, "field of %v", err)
	require.ErrorIs(t, err, messaging.ErrInvalidArgument)
	var ae *messaging.APIError
	require.False(t, errors.As(err, &ae), "a validation error must not come from the server: %v", err)
}
