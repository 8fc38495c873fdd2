package messagingtest

// REST routes for conversations and their participants: list, create, get,
// update, delete, join, leave, add and remove participants.

import (
	"encoding/json"
	"net/http"
	"strings"
)

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
