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

	label []byte     // what the tag is computed over before the random part
	macs  *sync.Pool // of keyed HMAC-SHA256 states: hmac.New costs as much as the check
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
		id := hex.EncodeToString(sum[:3])
		kr.keys = append(kr.keys, Key{
			ID:     id,
			Secret: secret,
			label:  []byte("sessiond token v1\x00" + id),
			macs:   &sync.Pool{New: func() any { return &mac{h: hmac.New(sha256.New, secret)} }},
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

// mac is a pooled keyed HMAC state with room for its sum, so that a check
// allocates nothing.
type mac struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

func (kr *Keyring) tag(k *Key, random []byte) (tag [tagLen]byte) {
	m := k.macs.Get().(*mac)
	m.h.Reset()
	m.h.Write(k.label)
	m.h.Write(random)
	copy(tag[:], m.h.Sum(m.sum[:0]))
	k.macs.Put(m)
	return tag
}

// NewToken returns a fresh token and its session id.
func (kr *Keyring) NewToken() (token, id string) {
	return kr.NewTokenWithIDPrefix("")
}

// NewTokenWithIDPrefix draws tokens until the session id starts with the
// lowercase hex prefix (see SessionPlacer). Each draw is 32 fresh random
// bytes; the ids that do not fit are thrown away without being encoded.
func (kr *Keyring) NewTokenWithIDPrefix(prefix string) (token, id string) {
	k := &kr.keys[0]
	head := TokenPrefix + k.ID + "_"
	buf := make([]byte, len(head)+b64.EncodedLen(randomLen+tagLen))
	copy(buf, head)
	var raw [randomLen + tagLen]byte
	var hexSum [2 * sha256.Size]byte
	for {
		rand.Read(raw[:randomLen]) // never fails (crypto/rand panics rather than return short)
		tag := kr.tag(k, raw[:randomLen])
		copy(raw[randomLen:], tag[:])
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

// Verify checks a token's shape and tag and returns its session id. Any
// failure is ErrInvalidSession.
func (kr *Keyring) Verify(token string) (id string, err error) {
	k, body, ok := kr.shape(token)
	if !ok || !kr.tagMatches(k, body) {
		return "", ErrInvalidSession
	}
	return SessionID(token), nil
}

// shape checks what costs nothing to check — the prefix, a known key id,
// the length — and returns the key and the base64 body.
func (kr *Keyring) shape(token string) (k *Key, body string, ok bool) {
	if len(token) > MaxTokenLen || !strings.HasPrefix(token, TokenPrefix) {
		return nil, "", false
	}
	kid, body, found := strings.Cut(token[len(TokenPrefix):], "_")
	if !found || len(body) != b64.EncodedLen(randomLen+tagLen) {
		return nil, "", false
	}
	for i := range kr.keys {
		if kr.keys[i].ID == kid {
			return &kr.keys[i], body, true
		}
	}
	return nil, "", false
}

// tagMatches decodes the body (canonical base64 only) and compares its tag
// in constant time.
func (kr *Keyring) tagMatches(k *Key, body string) bool {
	var src [2 * (randomLen + tagLen)]byte // decode from the stack, not a heap copy
	var raw [randomLen + tagLen]byte
	if n, err := b64.Decode(raw[:], src[:copy(src[:], body)]); err != nil || n != len(raw) {
		return false
	}
	tag := kr.tag(k, raw[:randomLen])
	return hmac.Equal(tag[:], raw[randomLen:])
}

// IDHash is a session id in its raw form: the SHA-256 of the token.
type IDHash [sha256.Size]byte

// String is the session id: lowercase hex.
func (h IDHash) String() string {
	var id [2 * sha256.Size]byte
	hex.Encode(id[:], h[:])
	return string(id[:])
}

// ParseIDHash reads a session id.
func ParseIDHash(id string) (h IDHash, ok bool) {
	if len(id) != 2*len(h) {
		return h, false
	}
	_, err := hex.Decode(h[:], []byte(id))
	return h, err == nil
}

// hashToken is the raw session id of a token, hashed from the stack.
func hashToken(token string) IDHash {
	var buf [MaxTokenLen]byte
	if len(token) <= len(buf) {
		return sha256.Sum256(buf[:copy(buf[:], token)])
	}
	return sha256.Sum256([]byte(token))
}

// SessionID is the id stored for a token: hex SHA-256, so a dump of the store
// (or a log line, or an admin page) yields no usable token.
func SessionID(token string) string { return hashToken(token).String() }

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
