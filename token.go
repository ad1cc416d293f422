package sessiond

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
	"sync"
)

// A token is a split token:
//
//	"sess_" key-id "_" session-id credential
//
// The session id (22 characters, base64url of 16 bytes) is public: it is the
// session's stable id. The credential (55 characters, base64url of a 2-byte
// generation, 32 random bytes and a 7-byte tag) is the secret: the store
// keeps only its SHA-256 (55 bytes: one SHA-256 block, on the hot path), so a dump of the store, a log line or an
// X-Session-Id header yields no usable token.
//
// The 256 random bits are what proves possession (OWASP asks for at least
// 64 bits of entropy). The tag is a truncated HMAC-SHA256 under a server key
// over the id, the generation and the random part: it lets a node refuse
// malformed and forged tokens without a store round trip, and it proves that
// a token of an older generation was issued by us — an old token of the
// session, not a forgery made from its public id. The prefix lets secret
// scanners recognise leaked tokens.
const (
	tokenPrefix  = "sess_"
	keyIDLen     = 6 // hex of 3 bytes
	idLen        = 16
	randomLen    = 32
	genLen       = 2 // rotations: at most maxGeneration, then the user signs in again
	tagLen       = 7 // 56 bits: a forgery costs 2^56 requests on average
	credLen      = genLen + randomLen + tagLen
	idTextLen    = 22 // base64url of idLen bytes
	credTextLen  = 55 // base64url of credLen bytes
	idStart      = len(tokenPrefix) + keyIDLen + 1
	credStart    = idStart + idTextLen
	tokenLen     = credStart + credTextLen // 89
	shardLen     = 1                       // bytes of an id derived from its user (see Store)
	keyIDLabel   = "sessiond key id\x00"
	minSecretLen = 32
)

// maxGeneration is the most rotations a session takes.
const maxGeneration = 1<<(8*genLen) - 1

var (
	b64      = base64.RawURLEncoding.Strict()
	tagLabel = []byte("sessiond token v2\x00") // what the tag is computed over before the token's parts
)

// Keyring holds the HMAC keys that tag tokens. It signs new tokens with its
// first key and verifies with any, so keys rotate without signing everybody
// out: put the new key first, keep the old one until the sessions it signed
// have ended.
type Keyring struct {
	keys []key
}

type key struct {
	id   string     // public; travels in the token so verification picks the right key
	macs *sync.Pool // of keyed HMAC-SHA256 states: hmac.New costs as much as the check
}

// NewKeyring builds a keyring from secrets of at least 32 bytes each, the
// first being the current signing key. A key's id is derived from its
// secret, so the same secrets give the same ids on every node.
func NewKeyring(secrets ...[]byte) (*Keyring, error) {
	if len(secrets) == 0 {
		return nil, errors.New("sessiond: a keyring needs at least one key")
	}
	kr := &Keyring{}
	for _, s := range secrets {
		if len(s) < minSecretLen {
			return nil, errors.New("sessiond: a token key needs at least 32 bytes of secret")
		}
		secret := append([]byte(nil), s...)
		sum := sha256.Sum256(append([]byte(keyIDLabel), secret...))
		kr.keys = append(kr.keys, key{
			id:   hex.EncodeToString(sum[:keyIDLen/2]),
			macs: &sync.Pool{New: func() any { return &mac{h: hmac.New(sha256.New, secret)} }},
		})
	}
	return kr, nil
}

// mac is a pooled keyed HMAC state with room for its sum, so that a check
// allocates nothing.
type mac struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

func (k *key) tag(id []byte, genAndRandom []byte) (tag [tagLen]byte) {
	m := k.macs.Get().(*mac)
	m.h.Reset()
	m.h.Write(tagLabel)
	m.h.Write(id)
	m.h.Write(genAndRandom)
	copy(tag[:], m.h.Sum(m.sum[:0]))
	k.macs.Put(m)
	return tag
}

// issue returns a fresh token for session id at generation gen, and the
// hash the store keeps of its credential.
func (kr *Keyring) issue(id string, gen uint32) (token string, secretHash [32]byte) {
	var random [randomLen]byte
	rand.Read(random[:]) // never fails (crypto/rand panics rather than return short)
	return kr.issueWith(id, gen, &random)
}

// issueWith is issue with the random part given (tests make tokens that are
// the same in every process).
func (kr *Keyring) issueWith(id string, gen uint32, random *[randomLen]byte) (token string, secretHash [32]byte) {
	k := &kr.keys[0]
	var rawID [idLen]byte
	if n, err := b64.Decode(rawID[:], []byte(id)); err != nil || n != idLen {
		panic("sessiond: issue: malformed session id") // ids come from newSessionID
	}
	var cred [credLen]byte
	binary.BigEndian.PutUint16(cred[:genLen], uint16(gen)) // the Manager keeps gen <= maxGeneration
	copy(cred[genLen:genLen+randomLen], random[:])
	tag := k.tag(rawID[:], cred[:genLen+randomLen])
	copy(cred[genLen+randomLen:], tag[:])

	var buf [tokenLen]byte
	n := copy(buf[:], tokenPrefix)
	n += copy(buf[n:], k.id)
	buf[n] = '_'
	n += copy(buf[n+1:], id) + 1
	b64.Encode(buf[n:], cred[:])
	return string(buf[:]), sha256.Sum256(buf[credStart:])
}

// parsedToken is a token whose shape is right: a known key, the right
// length. Nothing about it is verified yet.
type parsedToken struct {
	key *key
	id  string // the session id: a substring of the token, no copy
	raw string // the whole token
}

// parse checks what costs nothing to check — the length, the prefix, a
// known key id — and cuts out the session id.
func (kr *Keyring) parse(token string) (parsedToken, bool) {
	if len(token) != tokenLen || !strings.HasPrefix(token, tokenPrefix) || token[idStart-1] != '_' {
		return parsedToken{}, false
	}
	kid := token[len(tokenPrefix) : idStart-1]
	for i := range kr.keys {
		if kr.keys[i].id == kid {
			return parsedToken{key: &kr.keys[i], id: token[idStart:credStart], raw: token}, true
		}
	}
	return parsedToken{}, false
}

// proves reports whether the token is the session's current token: the hash
// of its credential matches, compared in constant time. No decoding and no
// HMAC: a match is proof of possession on its own.
func (t parsedToken) proves(s *Session) bool {
	var buf [credTextLen]byte
	sum := sha256.Sum256(buf[:copy(buf[:], t.raw[credStart:])])
	return subtle.ConstantTimeCompare(sum[:], s.SecretHash[:]) == 1
}

// verify decodes the id and the credential (canonical base64 only) and
// checks the tag in constant time. It returns the token's generation.
func (t parsedToken) verify() (gen uint32, ok bool) {
	var src [credTextLen]byte // decode from the stack, not a heap copy
	var rawID [idLen]byte
	var cred [credLen]byte
	if n, err := b64.Decode(rawID[:], src[:copy(src[:], t.id)]); err != nil || n != idLen {
		return 0, false
	}
	if n, err := b64.Decode(cred[:], src[:copy(src[:], t.raw[credStart:])]); err != nil || n != credLen {
		return 0, false
	}
	tag := t.key.tag(rawID[:], cred[:genLen+randomLen])
	if !hmac.Equal(tag[:], cred[genLen+randomLen:]) {
		return 0, false
	}
	return uint32(binary.BigEndian.Uint16(cred[:genLen])), true
}

// newSessionID returns a fresh session id. Its first byte is that of
// SHA-256(userID), so that a sharded store keeps a user's sessions together
// and still finds a session by its id alone (see Store); a guest session's
// is random. The rest is random: ids are unique, not secret.
func newSessionID(userID string) string {
	var raw [idLen]byte
	rand.Read(raw[:])
	if userID != "" {
		sum := sha256.Sum256([]byte(userID))
		copy(raw[:shardLen], sum[:shardLen])
	}
	return b64.EncodeToString(raw[:])
}

// validSessionID reports whether id has the shape of a session id:
// canonical base64url of 16 bytes.
func validSessionID(id string) bool {
	if len(id) != idTextLen {
		return false
	}
	var raw [idLen]byte
	var src [idTextLen]byte
	n, err := b64.Decode(raw[:], src[:copy(src[:], id)])
	return err == nil && n == idLen
}
