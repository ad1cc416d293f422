package server

import (
	"encoding/json"
	"net/http"

	"github.com/sessiond/sessiond"
)

// userID returns the {user_id} path parameter, checked like any user id
// (PathValue has already unescaped it, so %FF arrives as a raw byte and is
// refused as invalid UTF-8).
func userID(r *http.Request) (string, error) {
	id := r.PathValue("user_id")
	return id, sessiond.ValidateUserID(id)
}

// GET /v1/users/{user_id}/sessions
func (s *server) listUserSessions(w http.ResponseWriter, r *http.Request) {
	id, err := userID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list, err := s.m.ListUser(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Sessions []*sessiond.Session `json:"sessions"`
	}{sessionViews(list)})
}

// DELETE /v1/users/{user_id}/sessions[?except={session_id}] logs a user out
// everywhere, or everywhere but one device.
func (s *server) revokeUserSessions(w http.ResponseWriter, r *http.Request) {
	id, err := userID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	n, err := s.m.RevokeUser(r.Context(), id, r.URL.Query().Get("except"))
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
	id, err := userID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.m.User(r.Context(), id)
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
	id, err := userID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req putUserRequest
	if err := s.decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	revoked, err := s.m.PutUser(r.Context(), &sessiond.User{
		ID: id, Status: req.Status, Roles: req.Roles, Attributes: optionalObject(req.Attributes),
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.metrics.sessionsRevoked(revoked)
	// Read the record back rather than echo the request: the answer shows
	// what the store holds, normalised, with its update time.
	u, err := s.m.User(r.Context(), id)
	if err != nil {
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
