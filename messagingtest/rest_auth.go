package messagingtest

// REST routes under /api/auth: the caller's identity (GET /api/auth/me) and
// session (GET /api/auth/session). Routing is in rest.go.

import (
	"net/http"
)

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
