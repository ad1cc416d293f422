package server

import (
	"encoding/json"
	"net/http"

	"github.com/sessiond/sessiond"
)

// The {user_id} path parameter is handed to the manager as it is (PathValue
// has already unescaped it, so %FF arrives as a raw byte): the manager
// checks every user id before a store sees it, and refuses a bad one with
// invalid_request.

// GET /v1/users/{user_id}/sessions
func (s *server) listUserSessions(w http.ResponseWriter, r *http.Request) {
	list, err := s.m.ListUserSessions(r.Context(), r.PathValue("user_id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Sessions []SessionJSON `json:"sessions"`
	}{sessionViews(list)})
}

// DELETE /v1/users/{user_id}/sessions[?except={session_id}] logs a user out
// everywhere, or everywhere but one device.
func (s *server) revokeUserSessions(w http.ResponseWriter, r *http.Request) {
	n, err := s.m.RevokeUserSessions(r.Context(), r.PathValue("user_id"), r.URL.Query().Get("except"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.metrics.sessionsRevoked(n)
	writeJSON(w, http.StatusOK, struct {
		Revoked int `json:"revoked"`
	}{n})
}

// GET /v1/users/{user_id}
func (s *server) getUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.m.GetUser(r.Context(), r.PathValue("user_id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newUserView(u))
}

// putUserRequest is the whole record: PUT replaces it. Status has no
// default, so that a request that only meant to change roles can never lift
// a ban by leaving the status out.
type putUserRequest struct {
	Status     sessiond.UserStatus `json:"status"`
	Roles      []string            `json:"roles"`
	Attributes json.RawMessage     `json:"attributes"`
}

// PUT /v1/users/{user_id}. Banning revokes every session of the user in the
// same store step; the answer says how many.
func (s *server) putUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("user_id")
	var req putUserRequest
	if err := s.decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	u := sessiond.User{ID: id, Status: req.Status}.WithRoles(req.Roles...).WithAttributes(optionalObject(req.Attributes))
	revoked, err := s.m.PutUser(r.Context(), u)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.metrics.sessionsRevoked(revoked)
	// Read the record back rather than echo the request: the answer shows
	// what the store holds, normalised, with its update time.
	if u, err = s.m.GetUser(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	resp := struct {
		userView
		Revoked *int `json:"revoked,omitempty"`
	}{userView: newUserView(u)}
	if req.Status == sessiond.UserBanned {
		resp.Revoked = &revoked
	}
	writeJSON(w, http.StatusOK, resp)
}
