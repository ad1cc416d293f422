package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/server/apikey"
	"github.com/sessiond/sessiond/sessionhttp"
)

// APIKeyStore keeps the API keys that may call /v1: a capability of the
// SQL, Redis and memory stores, which hold them beside the sessions so
// that every node sharing a store shares its keys. Only the keys' SHA-256
// is kept (apikey.Key).
type APIKeyStore interface {
	// CreateAPIKey stores a new key.
	CreateAPIKey(ctx context.Context, k apikey.Key) error
	// APIKeyByHash returns the key whose hash is hash, or
	// sessiond.ErrNotFound.
	APIKeyByHash(ctx context.Context, hash string) (apikey.Key, error)
	// ListAPIKeys returns every key, oldest first.
	ListAPIKeys(ctx context.Context) ([]apikey.Key, error)
	// DeleteAPIKey removes a key by id, or returns sessiond.ErrNotFound.
	DeleteAPIKey(ctx context.Context, id string) error
}

// requireAPIKey admits requests that carry a stored API key as a bearer
// token (RFC 6750). The key is looked up by its hash, so no secret is ever
// compared byte by byte. Nothing is cached: a revoked key is refused by the
// very next request, at the cost of one indexed read per call. A store that
// cannot answer fails closed (503).
func (s *server) requireAPIKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The one credential parser; no cookie name, so only the
		// Authorization header counts.
		key, bearer := sessionhttp.TokenFrom(r, "")
		if !bearer {
			unauthorized(w, `Bearer realm="sessiond"`, "an API key is required: Authorization: Bearer <key>")
			return
		}
		if !strings.HasPrefix(key, apikey.Prefix) || len(key) > apikey.MaxLen {
			unauthorized(w, `Bearer realm="sessiond", error="invalid_token"`, "the API key is not valid")
			return
		}
		k, err := s.keys.APIKeyByHash(r.Context(), apikey.Hash(key))
		if errors.Is(err, sessiond.ErrNotFound) {
			unauthorized(w, `Bearer realm="sessiond", error="invalid_token"`, "the API key is not valid")
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		noteAPIKey(r, k.ID)
		next.ServeHTTP(w, r)
	})
}

func unauthorized(w http.ResponseWriter, challenge, message string) {
	w.Header().Set("WWW-Authenticate", challenge)
	writeError(w, http.StatusUnauthorized, CodeUnauthorized, message)
}
