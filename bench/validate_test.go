// Package bench compares sessiond with its peers in one `go test -bench`
// run, so that the figures in BENCHMARKS.md are ratios measured on the same
// machine at the same time, never absolute claims. There are no timed
// assertions here: the numbers are read, not tested.
package bench

import (
	"crypto/ed25519"
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/nearcache"
	"github.com/sessiond/sessiond/stores/memory"
	"github.com/sessiond/sessiond/stores/sqlite"
)

var secret = []byte("benchmark secret of 32 bytes!!!!")

func newManager(b *testing.B, store sessiond.Store) *sessiond.Manager {
	return newCachedManager(b, store, nil)
}

func newCachedManager(b *testing.B, store sessiond.Store, cache sessiond.Cache) *sessiond.Manager {
	b.Helper()
	keys, err := sessiond.NewKeyring(secret)
	if err != nil {
		b.Fatal(err)
	}
	return sessiond.NewManager(store, keys, sessiond.Config{Cache: cache})
}

// liveSession creates a session like a signed-in user's: a user record with
// roles and a little data.
func liveSession(b *testing.B, m *sessiond.Manager) string {
	b.Helper()
	ctx := b.Context()
	if _, err := m.PutUser(ctx, sessiond.User{ID: "user-42", Status: sessiond.UserActive}.WithRoles("customer", "beta")); err != nil {
		b.Fatal(err)
	}
	token, _, err := m.Create(ctx, sessiond.NewSession{
		UserID: "user-42",
		Data:   []byte(`{"cart":{"tea":1},"theme":"dark"}`),
		Client: sessiond.Client{IP: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"},
	})
	if err != nil {
		b.Fatal(err)
	}
	return token
}

// sessionClaims is what a JWT used as a session token typically carries.
type sessionClaims struct {
	Roles []string `json:"roles"`
	jwt.RegisteredClaims
}

// BenchmarkValidate measures the check every authenticated request pays:
// token in, live session and roles out.
//
//   - memory, sqlite: Manager.Validate on a miss (shape, tag check, store
//     lookup of session and user, SHA-256 of the secret, expiry);
//   - nearcache: Manager.Validate on a hit (shape, cache lookup by the id,
//     SHA-256 of the secret compared in constant time, expiry) — no tag
//     check, no store;
//   - jwt-hs256: golang-jwt parsing and verifying an HS256 session-like
//     token with the validations a careful service enables;
//   - floor: SHA-256 of the token and one map lookup, the least any opaque
//     token check can cost.
func BenchmarkValidate(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		benchValidate(b, newManager(b, memory.New()))
	})
	b.Run("nearcache", func(b *testing.B) {
		// A cache hit never reaches the store, so the store behind it does
		// not matter; memory is the one that announces invalidations here.
		store := memory.New()
		cache, err := nearcache.New(store, nearcache.Options{MaxStaleness: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		defer cache.Close()
		for !cache.Healthy() {
			time.Sleep(time.Millisecond)
		}
		benchValidate(b, newCachedManager(b, store, cache))
	})
	b.Run("sqlite", func(b *testing.B) {
		store, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{SweepInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		defer store.Close()
		benchValidate(b, newManager(b, store))
	})
	b.Run("jwt-hs256", func(b *testing.B) {
		benchJWT(b, jwt.SigningMethodHS256, secret, secret)
	})
	b.Run("jwt-eddsa", func(b *testing.B) {
		pub, priv, _ := ed25519.GenerateKey(nil)
		benchJWT(b, jwt.SigningMethodEdDSA, priv, pub)
	})
	b.Run("floor", func(b *testing.B) {
		token, _, err := newManager(b, memory.New()).Create(b.Context(), sessiond.NewSession{UserID: "user-42"})
		if err != nil {
			b.Fatal(err)
		}
		sessions := map[[sha256.Size]byte]*sessiond.Session{sha256.Sum256([]byte(token)): {UserID: "user-42"}}
		buf := make([]byte, 0, 128) // as if read from the request
		b.ReportAllocs()
		for b.Loop() {
			buf = append(buf[:0], token...)
			if sessions[sha256.Sum256(buf)] == nil {
				b.Fatal("not found")
			}
		}
	})
}

// benchJWT verifies a session-like JWT the way a careful service does.
func benchJWT(b *testing.B, method jwt.SigningMethod, signKey, verifyKey any) {
	now := time.Now()
	token, err := jwt.NewWithClaims(method, sessionClaims{
		Roles: []string{"customer", "beta"},
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    "https://auth.example",
			Subject:   "user-42",
			Audience:  jwt.ClaimStrings{"shop"},
			ExpiresAt: jwt.NewNumericDate(now.Add(30 * time.Minute)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        "01J9Z3K5V8Q2W7X4Y6T1R0M3N5",
		},
	}).SignedString(signKey)
	if err != nil {
		b.Fatal(err)
	}
	parser := jwt.NewParser(
		jwt.WithAudience("shop"),
		jwt.WithIssuer("https://auth.example"),
		jwt.WithExpirationRequired(),
		jwt.WithValidMethods([]string{method.Alg()}),
	)
	key := func(*jwt.Token) (any, error) { return verifyKey, nil }
	b.ReportAllocs()
	for b.Loop() {
		var c sessionClaims
		if _, err := parser.ParseWithClaims(token, &c, key); err != nil || len(c.Roles) != 2 {
			b.Fatal(err)
		}
	}
}

func benchValidate(b *testing.B, m *sessiond.Manager) {
	token := liveSession(b, m)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, u, err := m.Validate(ctx, token); err != nil || !u.HasRole("beta") {
			b.Fatal(err)
		}
	}
}
