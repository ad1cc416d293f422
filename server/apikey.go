package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond"
)

// APIKeyPrefix starts every API key, so that secret scanners recognise a
// leaked one and the server refuses anything else without a store call.
const APIKeyPrefix = "sk_"

// Limits on API keys. A real key is 46 bytes; anything much longer is not
// worth hashing.
const (
	maxAPIKeyLen     = 128
	MaxAPIKeyNameLen = 64
)

// NewAPIKey returns a new API key and the record to store for it. The key
// is 256 bits from crypto/rand; the record keeps only its SHA-256, so a dump
// of the store yields no usable key. The caller shows the key once and
// stores the record with APIKeyStore.CreateAPIKey.
func NewAPIKey(name string, now time.Time) (key string, rec *sessiond.APIKey) {
	key = APIKeyPrefix + base64.RawURLEncoding.EncodeToString(randomBytes(32))
	return key, &sessiond.APIKey{
		ID:        "key_" + hex.EncodeToString(randomBytes(6)),
		Name:      name,
		Hash:      hashAPIKey(key),
		CreatedAt: now.UTC().Truncate(time.Millisecond),
	}
}

// ValidateAPIKeyName accepts 1 to MaxAPIKeyNameLen bytes of UTF-8 without
// control characters, so that `sessiond apikey list` prints one key per line.
func ValidateAPIKeyName(name string) error {
	switch {
	case name == "":
		return errors.New("an API key needs a name")
	case len(name) > MaxAPIKeyNameLen:
		return fmt.Errorf("an API key name is at most %d bytes", MaxAPIKeyNameLen)
	case !utf8.ValidString(name):
		return errors.New("an API key name must be UTF-8")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return errors.New("an API key name must not contain control characters")
		}
	}
	return nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return b
}

// hashAPIKey is what the store keeps and looks keys up by. A plain SHA-256
// suffices (no salt, no slow hash): the key is 256 random bits, not a
// password, so there is nothing to brute-force.
func hashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// requireAPIKey admits requests that carry a stored API key as a bearer
// token (RFC 6750). The key is looked up by its hash, so no secret is ever
// compared byte by byte. Nothing is cached: a revoked key is refused by the
// very next request, at the cost of one indexed read per call. A store that
// cannot answer fails closed (503).
func (s *server) requireAPIKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := bearer(r)
		if !ok {
			unauthorized(w, `Bearer realm="sessiond"`, "an API key is required: Authorization: Bearer <key>")
			return
		}
		if !strings.HasPrefix(key, APIKeyPrefix) || len(key) > maxAPIKeyLen {
			unauthorized(w, `Bearer realm="sessiond", error="invalid_token"`, "the API key is not valid")
			return
		}
		k, err := s.keys.APIKeyByHash(r.Context(), hashAPIKey(key))
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

// bearer returns the token of an "Authorization: Bearer <token>" header; the
// scheme is case-insensitive (RFC 7235).
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}

func unauthorized(w http.ResponseWriter, challenge, message string) {
	w.Header().Set("WWW-Authenticate", challenge)
	writeError(w, http.StatusUnauthorized, CodeUnauthorized, message)
}
