package messagingtest

// The REST side of the fake service: request helpers, the route table,
// routing and authorization, and the public health and stats routes. The
// other routes are in rest_auth.go, rest_conversations.go,
// rest_messages.go and rest_admin.go.

import (
	"encoding/json"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
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
