package messagingtest

// REST routes under /api/admin: every conversation, a user's conversations,
// participants and stats, for admins.

import (
	"net/http"
	"strings"
)

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
