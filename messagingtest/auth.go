package messagingtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	messaging "github.com/symbia-labs/messaging-go"
)

// Principal is an identity the server accepts, as the identity service
// would describe it after checking a token or an API key.
type Principal struct {
	// ID is the principal's id: a user's UUID, or an agent's id (such as
	// "assistant:helper" or a UUID). Required.
	ID string
	// Type is messaging.UserTypeUser (the default when empty) or
	// messaging.UserTypeAgent.
	Type messaging.UserType
	// AgentID is an agent's own identifier (e.g. "agent:onboarding"),
	// reported in presence events. Agents only.
	AgentID string
	// Name and Email are reported by GET /api/auth/me.
	Name, Email string
	// Orgs are the organisations the principal is a member of; the first
	// is a user's current organisation (orgId). GET /api/auth/me describes
	// each as the identity service does, {id, name, slug, role}, with the
	// id as its name and slug.
	Orgs []string
	// AdminOrgs are organisations in which the principal is an
	// organisation admin (membership included). The admin routes use it.
	AdminOrgs []string
	// Organizations are further organisations of the principal, reported
	// as given (a Role of "" is "member"), after those of Orgs and
	// AdminOrgs: for names and slugs of one's own, or the "viewer" role.
	Organizations []messaging.Organization
	// OrgID is an agent's current organisation. The identity service
	// reports it apart from the agent's organisations: an agent may have an
	// OrgID and no Orgs at all, and is a member of its OrgID. When empty,
	// an agent's is its first organisation, as a user's always is (users
	// must leave it empty). For an API key (AddAPIKey), it or the first
	// organisation is the key's organisation.
	OrgID string
	// Entitlements are capabilities such as "cap:messaging.interrupt",
	// "cap:messaging.route", "cap:messaging.observe" or "messaging:admin".
	Entitlements []string
	// Roles are platform roles; "admin" opens the admin routes.
	Roles []string
	// SuperAdmin bypasses organisation and capability checks (not
	// participant checks) and may impersonate with X-As-User-Id.
	SuperAdmin bool
}

func (p Principal) isAgent() bool { return p.Type == messaging.UserTypeAgent }

func (p Principal) hasEntitlement(e string) bool {
	return p.SuperAdmin || slices.Contains(p.Entitlements, e)
}

// organizations lists the principal's organisations as the identity service
// does: {id, name, slug, role}.
func (p Principal) organizations() []messaging.Organization {
	orgs := make([]messaging.Organization, 0, len(p.Orgs)+len(p.AdminOrgs)+len(p.Organizations))
	for _, o := range p.Orgs {
		role := "member"
		if slices.Contains(p.AdminOrgs, o) {
			role = "admin"
		}
		orgs = append(orgs, messaging.Organization{ID: o, Name: o, Slug: o, Role: role})
	}
	for _, o := range p.AdminOrgs {
		if !slices.Contains(p.Orgs, o) {
			orgs = append(orgs, messaging.Organization{ID: o, Name: o, Slug: o, Role: "admin"})
		}
	}
	for _, o := range p.Organizations {
		if o.Role == "" {
			o.Role = "member"
		}
		orgs = append(orgs, o)
	}
	return orgs
}

// orgID is the principal's current organisation: an agent's own when it
// has one, else the first of its organisations.
func (p Principal) orgID() string {
	if p.isAgent() && p.OrgID != "" {
		return p.OrgID
	}
	if o := p.organizations(); len(o) > 0 {
		return o[0].ID
	}
	return ""
}

// isOrgMember is @symbia/auth's check.
func (p Principal) isOrgMember(orgID string) bool {
	if orgID == "" || p.SuperAdmin || p.orgID() == orgID {
		return true
	}
	return slices.ContainsFunc(p.organizations(), func(o messaging.Organization) bool { return o.ID == orgID })
}

// isOrgAdmin is @symbia/auth's check.
func (p Principal) isOrgAdmin(orgID string) bool {
	return p.SuperAdmin || slices.ContainsFunc(p.organizations(), func(o messaging.Organization) bool {
		return o.ID == orgID && o.Role == "admin"
	})
}

// isAdmin opens the admin routes.
func (p Principal) isAdmin() bool {
	return p.SuperAdmin || slices.Contains(p.Roles, "admin") ||
		slices.Contains(p.Entitlements, "messaging:admin") || slices.Contains(p.Entitlements, "collaborate:admin")
}

// meUser is the principal as GET /api/auth/me returns it.
type meUser struct {
	ID            string   `json:"id"`
	Email         string   `json:"email,omitempty"`
	Name          string   `json:"name,omitempty"`
	Type          string   `json:"type"`
	AgentID       string   `json:"agentId,omitempty"`
	OrgID         string   `json:"orgId,omitempty"`
	Organizations []meOrg  `json:"organizations"`
	Entitlements  []string `json:"entitlements"`
	Roles         []string `json:"roles"`
	IsSuperAdmin  bool     `json:"isSuperAdmin"`
}

// meOrg is an organisation as GET /api/auth/me returns it: every field
// present.
type meOrg struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Slug string `json:"slug"`
	Role string `json:"role"`
}

func (p Principal) me() meUser {
	orgs := p.organizations()
	me := make([]meOrg, len(orgs))
	for i, o := range orgs {
		me[i] = meOrg(o)
	}
	return meUser{
		ID: p.ID, Email: p.Email, Name: p.Name, Type: string(p.Type), AgentID: p.AgentID,
		OrgID: p.orgID(), Organizations: me,
		Entitlements: nonNil(p.Entitlements), Roles: nonNil(p.Roles), IsSuperAdmin: p.SuperAdmin,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (p Principal) clone() Principal {
	p.Orgs = slices.Clone(p.Orgs)
	p.AdminOrgs = slices.Clone(p.AdminOrgs)
	p.Entitlements = slices.Clone(p.Entitlements)
	p.Roles = slices.Clone(p.Roles)
	p.Organizations = slices.Clone(p.Organizations)
	return p
}

func (p Principal) check(what string) Principal {
	if p.ID == "" {
		panic("messagingtest: " + what + ": Principal.ID is empty")
	}
	if p.Type == "" {
		p.Type = messaging.UserTypeUser
	}
	if !p.Type.Valid() {
		panic(fmt.Sprintf("messagingtest: %s: Principal.Type %q is neither user nor agent", what, p.Type))
	}
	if p.OrgID != "" && !p.isAgent() && what == "AddUser" {
		panic("messagingtest: AddUser: Principal.OrgID is for agents; a user's current organisation is the first of its Orgs")
	}
	for _, o := range p.Organizations {
		if o.ID == "" {
			panic("messagingtest: " + what + ": an Organization without an ID")
		}
	}
	return p.clone()
}

// AddUser makes token a valid credential (Bearer header, socket auth
// token, or the token/symbia_session cookie) for p. Adding a token again
// replaces its principal. It panics on an empty token or an invalid p.
func (s *Server) AddUser(token string, p Principal) {
	if token == "" {
		panic("messagingtest: AddUser: empty token")
	}
	p = p.check("AddUser")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = p
}

// AddAPIKey makes key a valid API key (X-API-Key header or socket auth
// apiKey) for p. As the identity service describes keys, the principal is
// always an agent, never a super admin, and belongs to at most one
// organisation (p.OrgID, or else the first of its organisations) as its
// admin, named "API Key Org" with the organisation id as its slug. It
// panics on an empty key or an invalid p.
func (s *Server) AddAPIKey(key string, p Principal) {
	if key == "" {
		panic("messagingtest: AddAPIKey: empty key")
	}
	p = p.check("AddAPIKey")
	p.Type = messaging.UserTypeAgent
	p.SuperAdmin = false
	p.AgentID = ""
	orgID := p.orgID()
	p.Orgs, p.AdminOrgs, p.Organizations, p.OrgID = nil, nil, nil, orgID
	if orgID != "" {
		p.Organizations = []messaging.Organization{{ID: orgID, Name: "API Key Org", Slug: orgID, Role: "admin"}}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiKeys[key] = p
}

// RemoveCredential makes a token or API key invalid again.
func (s *Server) RemoveCredential(tokenOrKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, tokenOrKey)
	delete(s.apiKeys, tokenOrKey)
}

func (s *Server) byToken(tok string) (Principal, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.tokens[tok]
	return p, ok
}

func (s *Server) byAPIKey(key string) (Principal, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.apiKeys[key]
	return p, ok
}

// authenticate resolves a REST request's credential, in the service's
// order: Bearer token, X-API-Key, then the token or symbia_session cookie.
func (s *Server) authenticate(r *http.Request) (Principal, bool) {
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		if p, ok := s.byToken(h[len("Bearer "):]); ok {
			return p, true
		}
	}
	if k := r.Header.Get("X-Api-Key"); k != "" {
		if p, ok := s.byAPIKey(k); ok {
			return p, true
		}
	}
	name := "token"
	c, err := r.Cookie("token")
	if err != nil || c.Value == "" {
		name = "symbia_session"
		c, err = r.Cookie(name)
	}
	if err == nil && c.Value != "" {
		v, uerr := url.PathUnescape(c.Value)
		if uerr != nil {
			v = c.Value
		}
		return s.byToken(v)
	}
	return Principal{}, false
}

// impersonate applies X-As-User-Id: honoured for agents and super admins,
// silently ignored for everyone else. An id starting with "assistant:" or
// "agent:" makes the effective principal an agent.
func impersonate(p Principal, asUser string) Principal {
	if asUser == "" || !(p.isAgent() || p.SuperAdmin) {
		return p
	}
	p.ID = asUser
	p.Type = messaging.UserTypeUser
	if strings.HasPrefix(asUser, "assistant:") || strings.HasPrefix(asUser, "agent:") {
		p.Type = messaging.UserTypeAgent
	}
	return p
}

// authenticateSocket resolves a socket's credential as the service does:
// the CONNECT auth token (or the Authorization header with "Bearer "
// removed), then the auth apiKey (or the X-API-Key header), then one
// cookie, token before symbia_session.
func (s *Server) authenticateSocket(r *http.Request, auth json.RawMessage) (Principal, bool) {
	var a map[string]json.RawMessage
	_ = json.Unmarshal(auth, &a)
	token, ok := asString(a["token"])
	if !truthy(a["token"]) {
		token, ok = strings.Replace(r.Header.Get("Authorization"), "Bearer ", "", 1), true
	}
	if ok && token != "" {
		if p, found := s.byToken(token); found {
			return p, true
		}
	}
	key, ok := asString(a["apiKey"])
	if !truthy(a["apiKey"]) {
		key, ok = r.Header.Get("X-Api-Key"), true
	}
	if ok && key != "" {
		if p, found := s.byAPIKey(key); found {
			return p, true
		}
	}
	cookies := r.Header.Get("Cookie")
	v := socketCookie(cookies, "token")
	if v == "" {
		v = socketCookie(cookies, "symbia_session")
	}
	if v != "" {
		return s.byToken(v)
	}
	return Principal{}, false
}

// socketCookie is the socket server's own cookie reader: it splits each
// pair at every "=", so a value holding "=" is cut there.
func socketCookie(header, name string) string {
	for _, part := range strings.Split(header, ";") {
		kv := strings.Split(strings.TrimSpace(part), "=")
		if kv[0] == name && len(kv) > 1 && kv[1] != "" {
			return kv[1]
		}
	}
	return ""
}
