package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/onetime"
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
	token, expires, err := s.cfg.Tokens.Issue(onetime.Request{
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
	if !sessiond.ValidName(req.Purpose, 64) {
		s.fail(w, r, badRequest(CodeInvalidRequest, "purpose must be 1-64 characters of letters, digits and _.:-"))
		return
	}
	if len(req.Audience) > onetime.MaxFieldLen {
		s.fail(w, r, badRequest(CodeInvalidRequest, fmt.Sprintf("audience is longer than %d bytes", onetime.MaxFieldLen)))
		return
	}
	redeemed, err := s.cfg.Tokens.Verify(r.Context(), req.Token, req.Purpose, req.Audience)
	if err != nil {
		s.failToken(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, redeemed)
}

// failToken answers a refused token with 401 token_invalid or
// token_expired; a reused one is 409 token_used, and a ledger that cannot
// answer 503, as for every other route.
func (s *server) failToken(w http.ResponseWriter, r *http.Request, err error) {
	var de *sessiond.Error
	if errors.As(err, &de) && (de.Code == onetime.CodeTokenInvalid || de.Code == onetime.CodeTokenExpired) {
		writeError(w, http.StatusUnauthorized, de.Code, de.Message)
		return
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
	}{s.cfg.Tokens.PublicKeys()}, tokenKeysMaxAge)
}
