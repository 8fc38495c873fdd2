package messagingtest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// TestAuthMeShapes checks GET /api/auth/me against the shapes the service
// echoes from the identity service: organisation objects with id, name,
// slug and role; an agent's orgId apart from its organisations; API keys
// in an "API Key Org".
func TestAuthMeShapes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const orgC = "0c000000-0000-4000-8000-00000000000c"
	const daveID = "d0000000-0000-4000-8000-00000000000d"
	e.srv.AddUser("lone-agent", messagingtest.Principal{ID: "assistant:lone", Type: messaging.UserTypeAgent, OrgID: orgC})
	e.srv.AddUser("named", messagingtest.Principal{ID: daveID, Orgs: []string{orgA},
		Organizations: []messaging.Organization{{ID: orgB, Name: "Beta Corp", Slug: "beta"}, {ID: orgC, Name: "C", Slug: "c", Role: "viewer"}}})
	e.srv.AddUser("agent-in-two", messagingtest.Principal{ID: "assistant:two", Type: messaging.UserTypeAgent, OrgID: orgC, Orgs: []string{orgA, orgB}})
	e.srv.AddAPIKey("bare-key", messagingtest.Principal{ID: "api:k1"})
	e.srv.AddAPIKey("org-key", messagingtest.Principal{ID: "api:k2", OrgID: orgC})

	me := func(cred ...string) string {
		var r reply
		if len(cred) == 1 {
			r = e.do("GET", "/api/auth/me", cred[0], "")
		} else {
			r = e.do("GET", "/api/auth/me", "", "", cred...)
		}
		require.Equal(t, 200, r.status, r.body)
		return r.body
	}
	assert.JSONEq(t, `{"user":{"id":"assistant:lone","type":"agent","orgId":"`+orgC+`","organizations":[],"entitlements":[],"roles":[],"isSuperAdmin":false},"organizations":[]}`,
		me("lone-agent"), "an agent with an orgId and no organisations")
	assert.JSONEq(t, `{"user":{"id":"assistant:two","type":"agent","orgId":"`+orgC+`","organizations":[`+
		`{"id":"`+orgA+`","name":"`+orgA+`","slug":"`+orgA+`","role":"member"},{"id":"`+orgB+`","name":"`+orgB+`","slug":"`+orgB+`","role":"member"}],`+
		`"entitlements":[],"roles":[],"isSuperAdmin":false},"organizations":[`+
		`{"id":"`+orgA+`","name":"`+orgA+`","slug":"`+orgA+`","role":"member"},{"id":"`+orgB+`","name":"`+orgB+`","slug":"`+orgB+`","role":"member"}]}`,
		me("agent-in-two"), "an agent's orgId is not its first organisation")
	assert.JSONEq(t, `{"user":{"id":"`+daveID+`","type":"user","orgId":"`+orgA+`","organizations":[`+
		`{"id":"`+orgA+`","name":"`+orgA+`","slug":"`+orgA+`","role":"member"},{"id":"`+orgB+`","name":"Beta Corp","slug":"beta","role":"member"},{"id":"`+orgC+`","name":"C","slug":"c","role":"viewer"}],`+
		`"entitlements":[],"roles":[],"isSuperAdmin":false},"organizations":[`+
		`{"id":"`+orgA+`","name":"`+orgA+`","slug":"`+orgA+`","role":"member"},{"id":"`+orgB+`","name":"Beta Corp","slug":"beta","role":"member"},{"id":"`+orgC+`","name":"C","slug":"c","role":"viewer"}]}`,
		me("named"), "a user's organisations as given")
	assert.JSONEq(t, `{"user":{"id":"api:k1","type":"agent","organizations":[],"entitlements":[],"roles":[],"isSuperAdmin":false},"organizations":[]}`,
		me("X-API-Key", "bare-key"), "a key without an organisation")
	assert.JSONEq(t, `{"user":{"id":"api:k2","type":"agent","orgId":"`+orgC+`","organizations":[{"id":"`+orgC+`","name":"API Key Org","slug":"`+orgC+`","role":"admin"}],"entitlements":[],"roles":[],"isSuperAdmin":false},"organizations":[{"id":"`+orgC+`","name":"API Key Org","slug":"`+orgC+`","role":"admin"}]}`,
		me("X-API-Key", "org-key"))

	// The SDK reads these shapes.
	c, err := messaging.NewClient(messaging.WithEndpoint(e.srv.URL()), messaging.WithAPIKey("org-key"))
	require.NoError(t, err)
	got, err := c.Me(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []messaging.Organization{{ID: orgC, Name: "API Key Org", Slug: orgC, Role: "admin"}}, got.Organizations)

	// An agent is a member of its orgId: it may create conversations there.
	r := e.do("POST", "/api/conversations", "lone-agent", `{"type":"group","name":"n","orgId":"`+orgC+`"}`)
	assert.Equal(t, 201, r.status, r.body)
	r = e.do("POST", "/api/conversations", "lone-agent", `{"type":"group","name":"n","orgId":"`+orgA+`"}`)
	assert.Equal(t, 403, r.status, r.body)
}

func TestPrincipalOrgValidation(t *testing.T) {
	t.Parallel()
	srv := messagingtest.NewServer()
	defer srv.Close()
	assert.Panics(t, func() { srv.AddUser("u", messagingtest.Principal{ID: alice, OrgID: orgA}) }, "a user's orgId is its first organisation")
	assert.Panics(t, func() {
		srv.AddUser("u", messagingtest.Principal{ID: alice, Organizations: []messaging.Organization{{Name: "no id"}}})
	})
}
