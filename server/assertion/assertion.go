// Package assertion signs identity assertions for upstream services: short
// JWTs (EdDSA, at most 60 s) that /v1/auth adds as X-Identity-Token, so an
// upstream behind the proxy can check who the caller is without trusting a
// plain header. Keys are published as a JWKS; a retiring key stays published
// until the last assertion it signed has expired.
//
// Signing uses github.com/golang-jwt/jwt/v5; nothing here is hand-rolled.
package assertion

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond"
)

// MaxTTL bounds an assertion's lifetime: it is a hand-off for one request,
// not a session.
const MaxTTL = 60 * time.Second

// Options name the assertions.
type Options struct {
	Issuer   string        // iss, default "sessiond"
	Audience string        // aud, default "upstream"
	TTL      time.Duration // default and maximum 60s
	Now      func() time.Time
}

type key struct {
	id         string
	priv       ed25519.PrivateKey
	pub        ed25519.PublicKey
	publishTil time.Time // zero for the signing key
}

// Signer signs assertions with its current key and publishes current and
// retiring public keys.
type Signer struct {
	opts Options
	mu   sync.RWMutex
	keys []key // keys[0] signs
}

// NewSigner returns a Signer. The first key signs; the others are retiring
// keys, published for one TTL (they may have signed assertions just before
// this process started).
func NewSigner(opts Options, keys ...ed25519.PrivateKey) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("assertion: at least one key is needed")
	}
	if opts.Issuer == "" {
		opts.Issuer = "sessiond"
	}
	if opts.Audience == "" {
		opts.Audience = "upstream"
	}
	if opts.TTL <= 0 || opts.TTL > MaxTTL {
		opts.TTL = MaxTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Signer{opts: opts}
	until := opts.Now().Add(opts.TTL)
	for i, k := range keys {
		kk := newKey(k)
		if i > 0 {
			kk.publishTil = until
		}
		s.keys = append(s.keys, kk)
	}
	return s, nil
}

func newKey(priv ed25519.PrivateKey) key {
	pub := priv.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	return key{id: base64.RawURLEncoding.EncodeToString(sum[:12]), priv: priv, pub: pub}
}

// Rotate makes priv the signing key; the previous one stays published until
// the assertions it signed have expired.
func (s *Signer) Rotate(priv ed25519.PrivateKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.keys[0]
	old.publishTil = s.opts.Now().Add(s.opts.TTL)
	s.keys = append([]key{newKey(priv), old}, s.keys[1:]...)
}

// Claims are an assertion's claims.
type Claims struct {
	jwt.RegisteredClaims
	SessionID string   `json:"sid"`
	Roles     []string `json:"roles"`
}

// Sign returns an assertion for a validated session and its user.
func (s *Signer) Sign(sess sessiond.Session, u sessiond.User) (string, error) {
	s.mu.RLock()
	k := s.keys[0]
	s.mu.RUnlock()
	now := s.opts.Now()
	jti := make([]byte, 12)
	rand.Read(jti)
	roles := u.Roles()
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.opts.Issuer,
			Subject:   sess.UserID,
			Audience:  jwt.ClaimStrings{s.opts.Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.opts.TTL)),
			ID:        base64.RawURLEncoding.EncodeToString(jti),
		},
		SessionID: sess.ID,
		Roles:     roles,
	})
	t.Header["kid"] = k.id
	return t.SignedString(k.priv)
}

// JWK is one public key of a JWKS (RFC 8037: OKP / Ed25519).
type JWK struct {
	KeyType   string `json:"kty"`
	Curve     string `json:"crv"`
	X         string `json:"x"`
	KeyID     string `json:"kid"`
	Algorithm string `json:"alg"`
	Use       string `json:"use"`
}

// JWKS is what /.well-known/jwks.json serves.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// PublicKeys returns the signing key and the retiring keys still in use.
func (s *Signer) PublicKeys() JWKS {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	live := s.keys[:1]
	for _, k := range s.keys[1:] {
		if now.Before(k.publishTil) {
			live = append(live, k)
		}
	}
	s.keys = live // forget keys whose last assertion has expired
	out := JWKS{Keys: make([]JWK, 0, len(live))}
	for _, k := range live {
		out.Keys = append(out.Keys, JWK{KeyType: "OKP", Curve: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.pub), KeyID: k.id, Algorithm: "EdDSA", Use: "sig"})
	}
	return out
}
