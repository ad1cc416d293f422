package sessiond

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
	"sync"
)

// Token layout: "sess_" + key id + "_" + base64url(32 random bytes || 8-byte tag).
//
// The 256 random bits are the secret (OWASP asks for at least 64 bits of
// entropy). The tag is a truncated HMAC-SHA256 under a server key; it lets a
// node reject malformed and forged tokens without touching the store, so
// guessing attacks cost the attacker a round trip and the store nothing.
// The prefix lets secret scanners recognise leaked tokens.
const (
	TokenPrefix = "sess_"
	randomLen   = 32
	tagLen      = 8
	// MaxTokenLen bounds what is parsed at all; real tokens are ~70 bytes.
	MaxTokenLen = 128
)

var b64 = base64.RawURLEncoding.Strict()

// Key is one HMAC key of a Keyring. ID is short and public; it travels in
// the token so that verification picks the right key after a rotation.
type Key struct {
	ID     string
	Secret []byte

	macs *sync.Pool // of keyed HMAC-SHA256 states: hmac.New costs as much as the check
}

// Keyring signs new tokens with its first key and verifies with any key, so
// keys rotate without logging everybody out: put the new key first, keep the
// old one until the sessions it signed have expired.
type Keyring struct {
	keys []Key
}

// ErrWeakKey is returned for secrets shorter than 32 bytes.
var ErrWeakKey = errors.New("sessiond: a token key needs at least 32 bytes of secret")

// NewKeyring builds a keyring from secrets, the first being the current
// signing key. A key's id is derived from its secret, so the same secrets
// give the same ids on every node.
func NewKeyring(secrets ...[]byte) (*Keyring, error) {
	if len(secrets) == 0 {
		return nil, errors.New("sessiond: a keyring needs at least one key")
	}
	kr := &Keyring{}
	for _, s := range secrets {
		if len(s) < 32 {
			return nil, ErrWeakKey
		}
		sum := sha256.Sum256(append([]byte("sessiond key id\x00"), s...))
		secret := append([]byte(nil), s...)
		kr.keys = append(kr.keys, Key{
			ID:     hex.EncodeToString(sum[:3]),
			Secret: secret,
			macs:   &sync.Pool{New: func() any { return hmac.New(sha256.New, secret) }},
		})
	}
	return kr, nil
}

// ParseSecrets splits a SESSIOND_SECRET-style value: comma-separated secrets,
// current first. Each is base64 (standard or URL-safe, padded or not) or, if
// it does not decode to 32 bytes or more, used as raw text.
func ParseSecrets(v string) [][]byte {
	var out [][]byte
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		out = append(out, decodeSecret(part))
	}
	return out
}

func decodeSecret(s string) []byte {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) >= 32 {
			return b
		}
	}
	return []byte(s)
}

// CurrentKeyID is the id of the signing key.
func (kr *Keyring) CurrentKeyID() string { return kr.keys[0].ID }

func (kr *Keyring) tag(k Key, random []byte) []byte {
	m := k.macs.Get().(hash.Hash)
	defer k.macs.Put(m)
	m.Reset()
	m.Write([]byte("sessiond token v1\x00"))
	m.Write([]byte(k.ID))
	m.Write(random)
	var sum [sha256.Size]byte
	return m.Sum(sum[:0])[:tagLen]
}

// NewToken returns a fresh token and its session id.
func (kr *Keyring) NewToken() (token, id string) {
	return kr.NewTokenWithIDPrefix("")
}

// NewTokenWithIDPrefix draws tokens until the session id starts with the
// lowercase hex prefix (see SessionPlacer). Each draw is 32 fresh random
// bytes; the ids that do not fit are thrown away without being encoded.
func (kr *Keyring) NewTokenWithIDPrefix(prefix string) (token, id string) {
	k := kr.keys[0]
	head := TokenPrefix + k.ID + "_"
	buf := make([]byte, len(head)+b64.EncodedLen(randomLen+tagLen))
	copy(buf, head)
	var raw [randomLen + tagLen]byte
	var hexSum [2 * sha256.Size]byte
	for {
		rand.Read(raw[:randomLen]) // never fails (crypto/rand panics rather than return short)
		copy(raw[randomLen:], kr.tag(k, raw[:randomLen]))
		b64.Encode(buf[len(head):], raw[:])
		sum := sha256.Sum256(buf)
		n := (len(prefix) + 1) / 2
		hex.Encode(hexSum[:2*n], sum[:n])
		if string(hexSum[:len(prefix)]) == prefix {
			token = string(buf)
			return token, hex.EncodeToString(sum[:])
		}
	}
}

// Verify checks a token's shape and tag in constant time with respect to the
// secret and returns its session id. Any failure is ErrInvalidSession.
func (kr *Keyring) Verify(token string) (id string, err error) {
	if len(token) > MaxTokenLen || !strings.HasPrefix(token, TokenPrefix) {
		return "", ErrInvalidSession
	}
	kid, body, ok := strings.Cut(token[len(TokenPrefix):], "_")
	if !ok {
		return "", ErrInvalidSession
	}
	raw, err := b64.DecodeString(body)
	if err != nil || len(raw) != randomLen+tagLen {
		return "", ErrInvalidSession
	}
	for _, k := range kr.keys {
		if k.ID == kid && hmac.Equal(kr.tag(k, raw[:randomLen]), raw[randomLen:]) {
			return SessionID(token), nil
		}
	}
	return "", ErrInvalidSession
}

// SessionID is the id stored for a token: hex SHA-256, so a dump of the store
// (or a log line, or an admin page) yields no usable token.
func SessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ValidSessionID reports whether s has the shape of a session id.
func ValidSessionID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
