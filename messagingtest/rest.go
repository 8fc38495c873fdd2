package messagingtest

import (
	"encoding/json"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	messaging "github.com/symbia-labs/messaging-go"
)

// maxBody is the service's JSON body limit.
const maxBody = 12 << 20

type errorBody struct {
	Error string `json:"error"`
}

type messageBody struct {
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b := marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// notFoundHTML is Express's answer to a route it does not have.
func notFoundHTML(w http.ResponseWriter, r *http.Request) {
	body := "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>" +
		html.EscapeString("Cannot "+r.Method+" "+r.URL.EscapedPath()) +
		"</pre>\n</body>\n</html>\n"
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	_, _ = io.WriteString(w, body)
}

// request is one REST request on its way through a route.
type request struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	params map[string]string
	// body is the decoded JSON object; nil for an array body.
	body fields
	// hasBody is false when no JSON body was parsed (no JSON Content-Type,
	// or no body at all): the service's req.body is then undefined and
	// routes that read it fail with their 500.
	hasBody bool
	user    Principal
}

func (q *request) json(status int, v any) { writeJSON(q.w, status, v) }

func (q *request) fail(status int, text string) { q.json(status, errorBody{Error: text}) }

func (q *request) noContent() { q.w.WriteHeader(http.StatusNoContent) }

// needBody answers 500 with the route's failure text when no JSON body was
// parsed: the service's route throws reading a field of an undefined
// req.body. It reports whether there is a body.
func (q *request) needBody(failed string) bool {
	if !q.hasBody {
		q.fail(http.StatusInternalServerError, failed)
	}
	return q.hasBody
}

// userIDField reads the body's userId for the routes that add a
// participant, answering 500 (no body) or 400 (no userId) itself.
func (q *request) userIDField(failed string) (json.RawMessage, bool) {
	if !q.needBody(failed) {
		return nil, false
	}
	uid := q.body.get("userId")
	if !truthy(uid) {
		q.fail(http.StatusBadRequest, "userId is required")
		return nil, false
	}
	return uid, true
}

// query reads a query parameter as Express's simple parser does: repeated
// keys are joined with commas.
func (q *request) query(key string) string {
	return strings.Join(q.r.URL.Query()[key], ",")
}

// header reads a header as Node does: repeated values joined with ", ".
func (q *request) header(key string) string {
	return strings.Join(q.r.Header.Values(key), ", ")
}

// readBody is the service's JSON body parser: it reads bodies with a JSON
// Content-Type, up to 12 MB, objects and arrays only. It answers the
// request itself (400 or 413, {"message": …}) when it refuses the body.
func (q *request) readBody() bool {
	mt, _, _ := mime.ParseMediaType(q.r.Header.Get("Content-Type"))
	if mt != "application/json" {
		return true
	}
	// Like type-is's hasBody: a Content-Length (even 0) or a
	// Transfer-Encoding says there is a body.
	_, hasLen := q.r.Header["Content-Length"]
	if !hasLen && q.r.ContentLength <= 0 && len(q.r.TransferEncoding) == 0 {
		return true
	}
	if q.r.ContentLength > maxBody {
		q.json(http.StatusRequestEntityTooLarge, messageBody{Message: "request entity too large"})
		return false
	}
	b, err := io.ReadAll(io.LimitReader(q.r.Body, maxBody+1))
	if err != nil {
		q.json(http.StatusBadRequest, messageBody{Message: "request aborted"})
		return false
	}
	if len(b) > maxBody {
		q.json(http.StatusRequestEntityTooLarge, messageBody{Message: "request entity too large"})
		return false
	}
	q.hasBody = true
	if len(b) == 0 {
		q.body = fields{}
		return true
	}
	var v json.RawMessage
	if err := json.Unmarshal(b, &v); err != nil {
		q.json(http.StatusBadRequest, messageBody{Message: jsonSyntaxMessage(b, err)})
		return false
	}
	switch v[0] {
	case '{':
		_ = json.Unmarshal(v, &q.body)
	case '[':
	default:
		q.json(http.StatusBadRequest, messageBody{Message: jsonSyntaxMessage(b, nil)})
		return false
	}
	return true
}

// authKind says how a route authenticates.
type authKind int

const (
	authNone     authKind = iota // public
	authRequire                  // requireAuth: 401 without a credential; X-As-User-Id honoured
	authAdmin                    // requireAdmin: 401, then 403 "Admin access required"
	authOptional                 // the principal if any, never refused
)

type route struct {
	method  string
	path    []string // literal segments, or ":name"
	auth    authKind
	handle  func(*request)
	invalid map[string]string // 404 text for a parameter that is not a UUID
}

var (
	convParams  = map[string]string{"id": "Conversation not found", "userId": "Participant not found"}
	adminParams = map[string]string{"id": "Conversation not found", "userId": "User not found"}
)

func mkRoute(method, path string, auth authKind, h func(*request), invalid map[string]string) route {
	return route{method: method, path: strings.Split(strings.Trim(path, "/"), "/"), auth: auth, handle: h, invalid: invalid}
}

// routes, in the service's registration order.
var routes = []route{
	mkRoute("GET", "/health", authNone, (*request).health, nil),
	mkRoute("GET", "/api/auth/me", authOptional, (*request).me, nil),
	mkRoute("GET", "/api/health", authNone, (*request).health, nil),
	mkRoute("GET", "/api/stats", authNone, (*request).publicStats, nil),
	mkRoute("GET", "/api/conversations", authRequire, (*request).listConversations, convParams),
	mkRoute("POST", "/api/conversations", authRequire, (*request).createConversation, convParams),
	mkRoute("GET", "/api/conversations/:id", authRequire, (*request).getConversation, convParams),
	mkRoute("PATCH", "/api/conversations/:id", authRequire, (*request).updateConversation, convParams),
	mkRoute("DELETE", "/api/conversations/:id", authRequire, (*request).deleteConversation, convParams),
	mkRoute("POST", "/api/conversations/:id/join", authRequire, (*request).join, convParams),
	mkRoute("POST", "/api/conversations/:id/leave", authRequire, (*request).leave, convParams),
	mkRoute("POST", "/api/conversations/:id/participants", authRequire, (*request).addParticipant, convParams),
	mkRoute("DELETE", "/api/conversations/:id/participants/:userId", authRequire, (*request).removeParticipant, convParams),
	mkRoute("GET", "/api/conversations/:id/messages", authRequire, (*request).getMessages, convParams),
	mkRoute("POST", "/api/conversations/:id/messages", authRequire, (*request).postMessage, convParams),
	mkRoute("POST", "/api/conversations/:id/control", authRequire, (*request).postControl, convParams),
	mkRoute("GET", "/api/auth/session", authOptional, (*request).session, nil),
	mkRoute("GET", "/api/admin/conversations", authAdmin, (*request).adminList, adminParams),
	mkRoute("GET", "/api/admin/conversations/:id", authAdmin, (*request).adminGet, adminParams),
	mkRoute("DELETE", "/api/admin/conversations/:id", authAdmin, (*request).adminDelete, adminParams),
	mkRoute("GET", "/api/admin/users/:userId/conversations", authAdmin, (*request).adminUserConversations, adminParams),
	mkRoute("POST", "/api/admin/conversations/:id/participants", authAdmin, (*request).adminAddParticipant, adminParams),
	mkRoute("DELETE", "/api/admin/conversations/:id/participants/:userId", authAdmin, (*request).adminRemoveParticipant, adminParams),
	mkRoute("GET", "/api/admin/stats", authAdmin, (*request).adminStats, adminParams),
}

// match matches the path segments, case-insensitively for literals as
// Express does, and returns the decoded parameters.
func (rt *route) match(segs []string) (map[string]string, []string, bool) {
	if len(segs) != len(rt.path) {
		return nil, nil, false
	}
	var params map[string]string
	var order []string
	for i, p := range rt.path {
		if name, ok := strings.CutPrefix(p, ":"); ok {
			if segs[i] == "" {
				return nil, nil, false
			}
			v, err := url.PathUnescape(segs[i])
			if err != nil {
				v = segs[i]
			}
			if params == nil {
				params = make(map[string]string)
			}
			params[name] = v
			order = append(order, name)
			continue
		}
		if !strings.EqualFold(p, segs[i]) {
			return nil, nil, false
		}
	}
	return params, order, true
}

// serveREST answers one REST request.
func (s *Server) serveREST(w http.ResponseWriter, r *http.Request) {
	q := &request{s: s, w: w, r: r}
	w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
	if !q.readBody() {
		return
	}
	path := strings.TrimPrefix(r.URL.EscapedPath(), "/")
	path = strings.TrimSuffix(path, "/") // Express routes are not strict about one trailing slash
	segs := strings.Split(path, "/")
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	for i := range routes {
		rt := &routes[i]
		if rt.method != method {
			continue
		}
		params, order, ok := rt.match(segs)
		if !ok {
			continue
		}
		for _, name := range order {
			if !isCanonicalUUID(params[name]) {
				q.fail(http.StatusNotFound, rt.invalid[name])
				return
			}
		}
		q.params = params
		if !q.authorize(rt.auth) {
			return
		}
		rt.handle(q)
		return
	}
	notFoundHTML(w, r)
}

func (q *request) authorize(kind authKind) bool {
	if kind == authNone {
		return true
	}
	p, ok := q.s.authenticate(q.r)
	switch kind {
	case authOptional:
		q.user = p
		return true
	case authRequire:
		if !ok {
			q.fail(http.StatusUnauthorized, "Authentication required")
			return false
		}
		q.user = impersonate(p, q.header("X-As-User-Id"))
	case authAdmin:
		if !ok {
			q.fail(http.StatusUnauthorized, "Authentication required")
			return false
		}
		if !p.isAdmin() {
			q.fail(http.StatusForbidden, "Admin access required")
			return false
		}
		q.user = p
	}
	return true
}

// ---- public routes ----

type healthBody struct {
	Status    string `json:"status"`
	Timestamp jsTime `json:"timestamp"`
}

func (q *request) health() {
	q.json(http.StatusOK, healthBody{Status: "ok", Timestamp: jsTime(q.s.cfg.now())})
}

func (q *request) publicStats() {
	n := q.s.store.counts("", "")
	q.json(http.StatusOK, struct {
		TotalConversations int `json:"totalConversations"`
		TotalMessages      int `json:"totalMessages"`
		UniqueParticipants int `json:"uniqueParticipants"`
	}{n.conversations, n.messages, n.participants})
}

func (q *request) me() {
	if q.user.ID == "" {
		q.fail(http.StatusUnauthorized, "Authentication required")
		return
	}
	u := q.user.me()
	q.json(http.StatusOK, struct {
		User          meUser  `json:"user"`
		Organizations []meOrg `json:"organizations"`
	}{u, u.Organizations})
}

func (q *request) session() {
	if q.user.ID == "" {
		q.json(http.StatusOK, struct {
			Authenticated bool `json:"authenticated"`
		}{false})
		return
	}
	u := q.user.me()
	u.AgentID = ""
	q.json(http.StatusOK, struct {
		Authenticated bool   `json:"authenticated"`
		User          meUser `json:"user"`
	}{true, u})
}

// ---- conversations ----

// orgParam reads an organisation id from a request value; a value that is
// not a string matches no organisation.
func orgParam(v json.RawMessage) (id string, isString bool) {
	if s, ok := asString(v); ok {
		return s, true
	}
	s, _, _ := textParam(v)
	return s, false
}

func (q *request) listConversations() {
	orgID := q.query("orgId")
	if orgID == "" {
		orgID = q.header("X-Org-Id")
	}
	if orgID != "" && !q.user.isOrgMember(orgID) {
		q.fail(http.StatusForbidden, "Not authorized for this organization")
		return
	}
	q.json(http.StatusOK, q.s.store.listForUser(q.user.ID, orgID))
}

func (q *request) createConversation() {
	const failed = "Failed to create conversation"
	if !q.needBody(failed) {
		return
	}
	orgID, member := "", true
	if v := q.body.get("orgId"); truthy(v) {
		var isString bool
		orgID, isString = orgParam(v)
		member = isString && q.user.isOrgMember(orgID) || q.user.SuperAdmin
	} else if orgID = q.header("X-Org-Id"); orgID != "" {
		member = q.user.isOrgMember(orgID)
	}
	if !member {
		q.fail(http.StatusForbidden, "Not authorized for this organization")
		return
	}
	typ, _ := asString(q.body.get("type"))
	if typ != "private" && typ != "group" {
		q.fail(http.StatusBadRequest, "Invalid conversation type")
		return
	}
	if typ == "group" && !truthy(q.body.get("name")) {
		q.fail(http.StatusBadRequest, "Group conversations require a name")
		return
	}
	st := q.s.store
	conv, err := st.createConversation(conversationInput{
		typ: typ, name: q.body.get("name"), description: q.body.get("description"),
		orgID: orgID, createdBy: q.user.ID, metadata: q.body.get("metadata"),
	})
	if err == nil {
		_, err = st.addParticipant(conv.ID, q.user.ID, string(q.user.Type), "owner")
	}
	if err == nil {
		err = q.addListed(conv.ID, q.body.get("participants"))
	}
	if err != nil {
		q.fail(http.StatusInternalServerError, failed)
		return
	}
	ps, _ := st.participants(conv.ID)
	conv.Participants = &ps
	q.json(http.StatusCreated, conv)
}

// addListed adds the participants listed at creation: objects {userId,
// userType}; anything else (a bare string id) is skipped, and a null entry
// fails the request half-way, as on the service.
func (q *request) addListed(convID string, list json.RawMessage) error {
	if len(list) == 0 || list[0] != '[' {
		return nil
	}
	var entries []json.RawMessage
	if json.Unmarshal(list, &entries) != nil {
		return nil
	}
	for _, e := range entries {
		if string(e) == "null" {
			return errDB
		}
		var p fields
		if e[0] != '{' || json.Unmarshal(e, &p) != nil {
			continue
		}
		uid := p.get("userId")
		if !truthy(uid) {
			continue
		}
		if s, ok := asString(uid); ok && s == q.user.ID {
			continue
		}
		userID, _, ok := textParam(uid)
		userType, _, ok2 := textParam(p.get("userType"))
		if !truthy(p.get("userType")) {
			userType, ok2 = "user", true
		}
		if !ok || !ok2 {
			return errDB
		}
		if _, err := q.s.store.addParticipant(convID, userID, userType, "member"); err != nil {
			return err
		}
	}
	return nil
}

func (q *request) getConversation() {
	id := q.params["id"]
	ok, err := q.s.store.isParticipant(id, q.user.ID)
	if err != nil {
		q.fail(http.StatusInternalServerError, "Failed to get conversation")
		return
	}
	if !ok {
		q.fail(http.StatusForbidden, "Not a participant in this conversation")
		return
	}
	conv, found, _ := q.s.store.conversation(id)
	if !found {
		q.fail(http.StatusNotFound, "Conversation not found")
		return
	}
	ps, _ := q.s.store.participants(id)
	conv.Participants = &ps
	q.json(http.StatusOK, conv)
}

func isManager(role string) bool { return role == "owner" || role == "admin" }

func (q *request) updateConversation() {
	const failed = "Failed to update conversation"
	id := q.params["id"]
	if !q.needBody(failed) {
		return
	}
	role, _ := q.s.store.role(id, q.user.ID)
	if !isManager(role) {
		q.fail(http.StatusForbidden, "Not authorized to update this conversation")
		return
	}
	conv, found, err := q.s.store.updateConversation(id, conversationUpdate{
		name: q.body.get("name"), description: q.body.get("description"), metadata: q.body.get("metadata"),
	})
	switch {
	case err != nil:
		q.fail(http.StatusInternalServerError, failed)
	case !found:
		q.fail(http.StatusNotFound, "Conversation not found")
	default:
		q.json(http.StatusOK, conv)
	}
}

func (q *request) deleteConversation() {
	id := q.params["id"]
	role, _ := q.s.store.role(id, q.user.ID)
	if role != "owner" {
		q.fail(http.StatusForbidden, "Only the owner can delete this conversation")
		return
	}
	if ok, _ := q.s.store.deleteConversation(id); !ok {
		q.fail(http.StatusNotFound, "Conversation not found")
		return
	}
	q.noContent()
}

func (q *request) join() {
	id := q.params["id"]
	conv, found, _ := q.s.store.conversation(id)
	switch {
	case !found:
		q.fail(http.StatusNotFound, "Conversation not found")
		return
	case conv.Type == "private":
		q.fail(http.StatusBadRequest, "Cannot join a private conversation")
		return
	case conv.OrgID != nil && !q.user.isOrgMember(*conv.OrgID):
		q.fail(http.StatusForbidden, "Not authorized for this organization")
		return
	}
	p, err := q.s.store.addParticipant(id, q.user.ID, string(q.user.Type), "member")
	if err != nil {
		q.fail(http.StatusInternalServerError, "Failed to join conversation")
		return
	}
	q.json(http.StatusCreated, p)
}

func (q *request) leave() {
	id := q.params["id"]
	if role, _ := q.s.store.role(id, q.user.ID); role == "owner" {
		q.fail(http.StatusBadRequest, "Owner cannot leave the conversation. Transfer ownership or delete it.")
		return
	}
	if ok, _ := q.s.store.removeParticipant(id, q.user.ID); !ok {
		q.fail(http.StatusNotFound, "Not a participant in this conversation")
		return
	}
	q.noContent()
}

// participantType resolves the user type of an added participant: the
// given one, else "agent" for ids starting with "assistant:" or "agent:".
// ok is false where the service fails (a non-string id to inspect).
func participantType(userID, userType json.RawMessage) (string, bool) {
	if isNullish(userType) {
		s, ok := asString(userID)
		if !ok {
			return "", false
		}
		if strings.HasPrefix(s, "assistant:") || strings.HasPrefix(s, "agent:") {
			return "agent", true
		}
		return "user", true
	}
	t, _, ok := textParam(userType)
	return t, ok
}

func (q *request) addParticipant() {
	const failed = "Failed to add participant"
	id := q.params["id"]
	uid, ok := q.userIDField(failed)
	if !ok {
		return
	}
	if role, _ := q.s.store.role(id, q.user.ID); !isManager(role) {
		q.fail(http.StatusForbidden, "Not authorized to add participants")
		return
	}
	userType, ok := participantType(uid, q.body.get("userType"))
	userID, _, ok2 := textParam(uid)
	if !ok || !ok2 {
		q.fail(http.StatusInternalServerError, failed)
		return
	}
	p, err := q.s.store.addParticipant(id, userID, userType, "member")
	if err != nil {
		q.fail(http.StatusInternalServerError, failed)
		return
	}
	q.json(http.StatusCreated, p)
}

func (q *request) removeParticipant() {
	id, userID := q.params["id"], q.params["userId"]
	if role, _ := q.s.store.role(id, q.user.ID); !isManager(role) {
		q.fail(http.StatusForbidden, "Not authorized to remove participants")
		return
	}
	if role, _ := q.s.store.role(id, userID); role == "owner" {
		q.fail(http.StatusBadRequest, "Cannot remove the owner")
		return
	}
	if ok, _ := q.s.store.removeParticipant(id, userID); !ok {
		q.fail(http.StatusNotFound, "Participant not found")
		return
	}
	q.noContent()
}

// ---- messages ----

func (q *request) getMessages() {
	const failed = "Failed to get messages"
	id := q.params["id"]
	ok, _ := q.s.store.isParticipant(id, q.user.ID)
	if !ok {
		q.fail(http.StatusForbidden, "Not a participant in this conversation")
		return
	}
	hq := historyQuery{limit: 50}
	if l := q.query("limit"); l != "" {
		if n, ok := jsParseInt(l); ok && n != 0 {
			hq.limit = n
		}
	}
	// before wins over after; an unparsable date fails the query.
	bound := &hq.before
	v := q.query("before")
	if v == "" {
		bound, v = &hq.after, q.query("after")
	}
	if v != "" {
		t, ok := jsDate(v)
		if !ok {
			q.fail(http.StatusInternalServerError, failed)
			return
		}
		*bound = &t
	}
	rows, err := q.s.store.history(id, hq)
	if err != nil {
		q.fail(http.StatusInternalServerError, failed)
		return
	}
	q.s.store.updateLastRead(id, q.user.ID)
	q.json(http.StatusOK, rows)
}

// normalizePriority keeps the four known priorities; anything else is
// dropped (stored as normal).
func normalizePriority(v json.RawMessage) string {
	s, _ := asString(v)
	switch s {
	case "low", "normal", "high", "critical":
		return s
	}
	return ""
}

// newMessageInput is what both the REST route and the socket event hand to
// MessageModel.create: the request's fields, as sent by user to convID.
func newMessageInput(convID string, user Principal, d fields) messageInput {
	return messageInput{
		conversationID: convID, senderID: user.ID, senderType: string(user.Type),
		id: d.get("id"), content: d.get("content"), contentType: d.get("contentType"),
		replyTo: d.get("replyTo"), runID: d.get("runId"), traceID: d.get("traceId"),
		preemptedBy: d.get("preemptedBy"), priority: normalizePriority(d.get("priority")),
		interruptible: d.get("interruptible"), metadata: d.get("metadata"),
	}
}

func (q *request) postMessage() {
	const failed = "Failed to create message"
	id := q.params["id"]
	if !q.needBody(failed) {
		return
	}
	b := q.body
	if !truthy(b.get("content")) {
		q.fail(http.StatusBadRequest, "Message content is required")
		return
	}
	if ct, _ := asString(b.get("contentType")); ct == "event" {
		q.fail(http.StatusBadRequest, "Use /control for stream events")
		return
	}
	st := q.s.store
	ok, _ := st.isParticipant(id, q.user.ID)
	if !ok && q.user.isAgent() {
		_, err := st.addParticipant(id, q.user.ID, "agent", "member")
		ok = err == nil
	}
	if !ok {
		q.fail(http.StatusForbidden, "Not a participant in this conversation")
		return
	}
	msg, _, err := st.createMessage(newMessageInput(id, q.user, b))
	if err != nil {
		q.fail(http.StatusInternalServerError, failed)
		return
	}
	q.s.hub.toRoom(roomOf(id), nil, messaging.EventMessageNew, marshal(msg))
	q.json(http.StatusCreated, msg)
}

func (q *request) postControl() {
	const failed = "Failed to send control event"
	id := q.params["id"]
	if !q.needBody(failed) {
		return
	}
	event, ok := asString(q.body.get("event"))
	if !ok || event == "" {
		q.fail(http.StatusBadRequest, "Control event is required")
		return
	}
	if ok, _ := q.s.store.isParticipant(id, q.user.ID); !ok {
		q.fail(http.StatusForbidden, "Not a participant in this conversation")
		return
	}
	if !q.user.hasEntitlement(controlEntitlement(event)) {
		q.fail(http.StatusForbidden, "Not authorized to send control events")
		return
	}
	row, err := q.s.sendControl(q.user, id, json.RawMessage(marshal(event)), q.body)
	if err != nil {
		q.fail(http.StatusInternalServerError, failed)
		return
	}
	q.json(http.StatusCreated, row)
}

// ---- admin ----

func (q *request) orgAdminFails(orgID string) bool {
	if orgID != "" && !q.user.SuperAdmin && !q.user.isOrgAdmin(orgID) {
		q.fail(http.StatusForbidden, "Not authorized for this organization")
		return true
	}
	return false
}

// adminConversation fetches :id for the admin routes, answering 404 or 403
// itself.
func (q *request) adminConversation() (conversationRow, bool) {
	conv, found, _ := q.s.store.conversation(q.params["id"])
	if !found {
		q.fail(http.StatusNotFound, "Conversation not found")
		return conv, false
	}
	if conv.OrgID != nil && q.orgAdminFails(*conv.OrgID) {
		return conv, false
	}
	return conv, true
}

func (q *request) adminList() {
	orgID, typ := q.query("orgId"), q.query("type")
	if q.orgAdminFails(orgID) {
		return
	}
	limitS, offsetS := "50", "0"
	if v, ok := q.r.URL.Query()["limit"]; ok {
		limitS = strings.Join(v, ",")
	}
	if v, ok := q.r.URL.Query()["offset"]; ok {
		offsetS = strings.Join(v, ",")
	}
	limit, ok1 := jsParseInt(limitS)
	offset, ok2 := jsParseInt(offsetS)
	if !ok1 || !ok2 {
		q.fail(http.StatusInternalServerError, "Failed to list conversations")
		return
	}
	all := q.s.store.allConversations(orgID, typ)
	page := all[min(max(offset, 0), int64(len(all))):]
	if limit < 0 {
		page = nil
	} else if int64(len(page)) > limit {
		page = page[:limit]
	}
	if page == nil {
		page = []conversationListRow{}
	}
	q.json(http.StatusOK, struct {
		Conversations []conversationListRow `json:"conversations"`
		Total         int                   `json:"total"`
		Limit         int64                 `json:"limit"`
		Offset        int64                 `json:"offset"`
	}{page, len(all), limit, offset})
}

func (q *request) adminGet() {
	conv, ok := q.adminConversation()
	if !ok {
		return
	}
	ps, _ := q.s.store.participants(conv.ID)
	ms, _ := q.s.store.history(conv.ID, historyQuery{limit: 100})
	conv.Participants, conv.RecentMessages = &ps, &ms
	q.json(http.StatusOK, conv)
}

func (q *request) adminDelete() {
	if _, ok := q.adminConversation(); !ok {
		return
	}
	_, _ = q.s.store.deleteConversation(q.params["id"])
	q.noContent()
}

func (q *request) adminUserConversations() {
	q.json(http.StatusOK, q.s.store.listForUser(q.params["userId"], ""))
}

func (q *request) adminAddParticipant() {
	const failed = "Failed to add participant"
	uid, ok := q.userIDField(failed)
	if !ok {
		return
	}
	if _, ok := q.adminConversation(); !ok {
		return
	}
	userID, _, ok := textParam(uid)
	userType, role := "user", "member"
	ok2, ok3 := true, true
	if v := q.body.get("userType"); truthy(v) {
		userType, _, ok2 = textParam(v)
	}
	if v := q.body.get("role"); truthy(v) {
		role, _, ok3 = textParam(v)
	}
	if !ok || !ok2 || !ok3 {
		q.fail(http.StatusInternalServerError, failed)
		return
	}
	p, err := q.s.store.addParticipant(q.params["id"], userID, userType, role)
	if err != nil {
		q.fail(http.StatusInternalServerError, failed)
		return
	}
	q.json(http.StatusCreated, p)
}

func (q *request) adminRemoveParticipant() {
	if _, ok := q.adminConversation(); !ok {
		return
	}
	if ok, _ := q.s.store.removeParticipant(q.params["id"], q.params["userId"]); !ok {
		q.fail(http.StatusNotFound, "Participant not found")
		return
	}
	q.noContent()
}

func (q *request) adminStats() {
	orgID, typ := q.query("orgId"), q.query("type")
	if q.orgAdminFails(orgID) {
		return
	}
	n := q.s.store.counts(orgID, typ)
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	type filters struct {
		OrgID *string `json:"orgId"`
		Type  *string `json:"type"`
	}
	q.json(http.StatusOK, struct {
		TotalConversations     int     `json:"totalConversations"`
		TotalMessages          int     `json:"totalMessages"`
		UniqueParticipants     int     `json:"uniqueParticipants"`
		ActiveConversations24h int     `json:"activeConversations24h"`
		Filters                filters `json:"filters"`
	}{n.conversations, n.messages, n.participants, n.active24h, filters{opt(orgID), opt(typ)}})
}
