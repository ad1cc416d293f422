package server

import (
	"encoding/json"
	"net/http"

	"github.com/sessiond/sessiond"
)

type createRequest struct {
	UserID      string          `json:"user_id"`
	Data        json.RawMessage `json:"data"`
	TTL         *string         `json:"ttl"`
	IdleTimeout *string         `json:"idle_timeout"`
	Client      *struct {
		IP        string `json:"ip"`
		UserAgent string `json:"user_agent"`
	} `json:"client"`
}

// tokenResponse carries a token: it is shown once, to the caller that asked
// for it, and never logged.
type tokenResponse struct {
	Token   string      `json:"token"`
	Session SessionJSON `json:"session"`
}

type sessionResponse struct {
	Session SessionJSON `json:"session"`
}

// POST /v1/sessions
func (s *server) createSession(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if err := s.decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	ns := sessiond.NewSession{UserID: req.UserID, Data: optionalObject(req.Data)}
	var err error
	if ns.Lifetime, err = parseDuration("ttl", req.TTL); err != nil {
		s.fail(w, r, err)
		return
	}
	if ns.IdleTimeout, err = parseDuration("idle_timeout", req.IdleTimeout); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Client != nil {
		ns.Client = sessiond.Client{IP: req.Client.IP, UserAgent: req.Client.UserAgent}
	}
	token, sess, err := s.m.Create(r.Context(), ns)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.metrics.sessionCreated()
	noteSession(r, sess.ID)
	writeJSON(w, http.StatusCreated, tokenResponse{token, NewSessionJSON(sess)})
}

type tokenRequest struct {
	Token string `json:"token"`
}

// decodeToken reads {"token"}. An empty or missing token is not a request
// error: it is a malformed token, refused like any other invalid one.
func (s *server) decodeToken(w http.ResponseWriter, r *http.Request) (string, error) {
	var req tokenRequest
	if err := s.decode(w, r, &req); err != nil {
		return "", err
	}
	return req.Token, nil
}

// POST /v1/sessions/validate
func (s *server) validateSession(w http.ResponseWriter, r *http.Request) {
	token, err := s.decodeToken(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sess, user, err := s.m.Validate(r.Context(), token)
	s.metrics.validation(err)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	noteSession(r, sess.ID)
	writeJSON(w, http.StatusOK, struct {
		Session SessionJSON `json:"session"`
		User    userView    `json:"user"`
	}{NewSessionJSON(sess), newUserView(user)})
}

// POST /v1/sessions/rotate gives the session a new token; the id stays
// the same, and the old token is dead when the answer is sent.
func (s *server) rotateSession(w http.ResponseWriter, r *http.Request) {
	token, err := s.decodeToken(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	newToken, sess, err := s.m.Rotate(r.Context(), token)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	noteSession(r, sess.ID)
	writeJSON(w, http.StatusOK, tokenResponse{newToken, NewSessionJSON(sess)})
}

// POST /v1/sessions/revoke
func (s *server) revokeSession(w http.ResponseWriter, r *http.Request) {
	token, err := s.decodeToken(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.m.Revoke(r.Context(), token); err != nil {
		s.fail(w, r, err)
		return
	}
	// The log line carries no session id here: the API does not take the
	// token apart, and a revoked session cannot be read back.
	s.metrics.sessionsRevoked(1)
	w.WriteHeader(http.StatusNoContent)
}

// GET /v1/sessions/{id}
func (s *server) getSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	sess, err := s.m.GetSession(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	noteSession(r, id)
	writeJSON(w, http.StatusOK, sessionResponse{NewSessionJSON(sess)})
}

// DELETE /v1/sessions/{id}
func (s *server) deleteSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.m.RevokeSession(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	s.metrics.sessionsRevoked(1)
	noteSession(r, id)
	w.WriteHeader(http.StatusNoContent)
}

// PATCH /v1/sessions/{id}/data takes an RFC 7396 JSON Merge Patch, applied
// atomically: concurrent patches never lose each other's changes.
func (s *server) patchSessionData(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	patch, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !json.Valid(patch) {
		s.fail(w, r, invalidJSON("the request body is not valid JSON"))
		return
	}
	sess, err := s.m.PatchData(r.Context(), id, patch)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	noteSession(r, id)
	writeJSON(w, http.StatusOK, sessionResponse{NewSessionJSON(sess)})
}
