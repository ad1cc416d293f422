package assertion_test

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/server/assertion"
)

func newKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// verify checks a token the way an upstream would: with another JOSE
// library (lestrrat-go/jwx), given only the published JWKS.
func verify(t *testing.T, s *assertion.Signer, token string) (jwt.Token, error) {
	t.Helper()
	raw, _ := json.Marshal(s.PublicKeys())
	set, err := jwk.Parse(raw)
	if err != nil {
		t.Fatalf("JWKS does not parse: %v\n%s", err, raw)
	}
	return jwt.Parse([]byte(token), jwt.WithKeySet(set, jws.WithRequireKid(true)), jwt.WithAudience("app"), jwt.WithIssuer("sessiond"), jwt.WithValidate(true))
}

func TestAssertionVerifiesWithAnotherLibrary(t *testing.T) {
	s, err := assertion.NewSigner(assertion.Options{Audience: "app", TTL: 30 * time.Second}, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	sess := sessiond.Session{ID: "AAECAwQFBgcICQoLDA0ODw", UserID: "alice"}
	tok, err := s.Sign(sess, sessiond.User{ID: "alice"}.WithRoles("admin", "customer"))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := verify(t, s, tok)
	if err != nil {
		t.Fatalf("jwx refused our assertion: %v", err)
	}
	sub, _ := parsed.Subject()
	exp, _ := parsed.Expiration()
	iat, _ := parsed.IssuedAt()
	jti, _ := parsed.JwtID()
	var sid string
	var roles []any
	parsed.Get("sid", &sid)
	parsed.Get("roles", &roles)
	if sub != "alice" || sid != sess.ID || len(roles) != 2 || jti == "" {
		t.Fatalf("claims sub=%q sid=%q roles=%v jti=%q", sub, sid, roles, jti)
	}
	if d := exp.Sub(iat); d > assertion.MaxTTL || d <= 0 {
		t.Fatalf("lifetime %v", d)
	}
}

func TestRetiringKeyPublishedUntilItsLastAssertionExpires(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	s, _ := assertion.NewSigner(assertion.Options{Audience: "app", TTL: 60 * time.Second, Now: clock}, newKey(t))
	old, _ := s.Sign(sessiond.Session{ID: "s", UserID: "u"}, sessiond.User{ID: "u"})
	s.Rotate(newKey(t))
	if n := len(s.PublicKeys().Keys); n != 2 {
		t.Fatalf("%d keys after rotation, want 2", n)
	}
	if _, err := verify(t, s, old); err != nil {
		t.Fatalf("assertion of the retiring key: %v", err)
	}
	now = now.Add(61 * time.Second)
	if n := len(s.PublicKeys().Keys); n != 1 {
		t.Fatalf("%d keys once the retiring key's assertions expired, want 1", n)
	}
}

func TestTTLCappedAt60s(t *testing.T) {
	s, _ := assertion.NewSigner(assertion.Options{Audience: "app", TTL: time.Hour}, newKey(t))
	tok, _ := s.Sign(sessiond.Session{ID: "s", UserID: "u"}, sessiond.User{ID: "u"})
	parsed, err := verify(t, s, tok)
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := parsed.Expiration()
	iat, _ := parsed.IssuedAt()
	if exp.Sub(iat) > 60*time.Second {
		t.Fatalf("lifetime %v exceeds 60s", exp.Sub(iat))
	}
}
