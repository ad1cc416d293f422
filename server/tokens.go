package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/server/onetime"
)

// One-time tokens (PASETO v4.public, package onetime): short-lived and
// purpose-bound, for what a session cannot do — a password-reset link, a
// download link for another server, a hand-off between services.

type issueRequest struct {
	Purpose  string          `json:"purpose"`
	Subject  string          `json:"subject"`
	Audience string          `json:"audience"`
	TTL      *string         `json:"ttl"`
	Claims   json.RawMessage `json:"claims"`
	// SingleUse defaults to true: a caller who forgets it gets a token
	// that fails loudly on a second use, not a reset link that silently
	// works twice.
	SingleUse *bool `json:"single_use"`
}

// POST /v1/tokens
func (s *server) issueToken(w http.ResponseWriter, r *http.Request) {
	var req issueRequest
	if err := s.decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	ttl, err := parseDuration("ttl", req.TTL)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	token, expires, err := s.opts.Tokens.Issue(onetime.Request{
		Purpose:   req.Purpose,
		Subject:   req.Subject,
		Audience:  req.Audience,
		TTL:       ttl,
		Claims:    optionalObject(req.Claims),
		SingleUse: req.SingleUse == nil || *req.SingleUse,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}{token, expires})
}

type verifyRequest struct {
	Token    string `json:"token"`
	Purpose  string `json:"purpose"`
	Audience string `json:"audience"`
}

// POST /v1/tokens/verify checks a token for a purpose (and audience) and,
// if it is single-use, redeems it: of concurrent calls with one token,
// exactly one gets a 200, on every node sharing the store.
func (s *server) verifyToken(w http.ResponseWriter, r *http.Request) {
	var req verifyRequest
	if err := s.decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	// A purpose that no token can carry is a mistake of the caller, not a
	// token that fails to match.
	if err := onetime.CheckPurpose(req.Purpose); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(req.Audience) > onetime.MaxFieldLen {
		s.fail(w, r, invalidRequest(fmt.Sprintf("audience is longer than %d bytes", onetime.MaxFieldLen)))
		return
	}
	redeemed, err := s.opts.Tokens.Verify(r.Context(), req.Token, req.Purpose, req.Audience)
	if err != nil {
		s.failToken(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, redeemed)
}

// failToken answers a refused token with 401 token_invalid or
// token_expired; a reused one is 409 token_used, and a ledger that cannot
// answer 503, as for every other route. These codes are onetime's, not the
// session table's (sessionhttp.ErrorStatus), so they are answered here.
func (s *server) failToken(w http.ResponseWriter, r *http.Request, err error) {
	var e *sessiond.Error
	if errors.As(err, &e) {
		switch e.Code {
		case onetime.ErrInvalid.Code, onetime.ErrExpired.Code:
			writeError(w, http.StatusUnauthorized, e.Code, e.Message)
			return
		case onetime.ErrTokenUsed.Code:
			writeError(w, http.StatusConflict, e.Code, e.Message)
			return
		}
	}
	s.fail(w, r, err)
}

// tokenKeysMaxAge is how long verifiers may cache the public keys; they
// refetch on a token whose key id they do not know.
const tokenKeysMaxAge = time.Minute

// GET /v1/tokens/public-keys: PASERK k4.public keys, current first, so
// that other services verify tokens offline.
func (s *server) tokenPublicKeys(w http.ResponseWriter, r *http.Request) {
	writePublicJSON(w, struct {
		Keys []onetime.PublicKey `json:"keys"`
	}{s.opts.Tokens.PublicKeys()}, tokenKeysMaxAge)
}
