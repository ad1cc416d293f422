// Package apikey is a sessiond server's API key: how one is made and
// hashed, and the record the stores keep of it — only the SHA-256 of the
// key, never the key. It depends on the standard library alone, so a store
// can keep the server's keys (every node sharing a store shares its keys)
// without importing the server.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Key is a stored API key.
type Key struct {
	ID   string
	Name string
	// Hash is the hex SHA-256 of the key. Keys are looked up by it, so no
	// secret is ever compared byte by byte.
	Hash      string
	CreatedAt time.Time
}

// Prefix starts every API key, so that secret scanners recognise a leaked
// one and the server refuses anything else without a store call.
const Prefix = "sk_"

// Limits. A real key is 46 bytes; anything much longer is not worth
// hashing.
const (
	MaxLen     = 128
	MaxNameLen = 64
)

// New returns a new API key and the record to store for it. The key is 256
// bits from crypto/rand; the record keeps only its SHA-256, so a dump of
// the store yields no usable key. The caller shows the key once.
func New(name string, now time.Time) (key string, rec Key) {
	key = Prefix + base64.RawURLEncoding.EncodeToString(randomBytes(32))
	return key, Key{
		ID:        "key_" + hex.EncodeToString(randomBytes(6)),
		Name:      name,
		Hash:      Hash(key),
		CreatedAt: now.UTC().Truncate(time.Millisecond),
	}
}

// Hash is what the store keeps and looks keys up by. A plain SHA-256
// suffices (no salt, no slow hash): the key is 256 random bits, not a
// password, so there is nothing to brute-force (OWASP: Password Storage
// concerns low-entropy secrets).
func Hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// ValidateName accepts 1 to MaxNameLen bytes of UTF-8 without control
// characters, so that `sessiond apikey list` prints one key per line.
func ValidateName(name string) error {
	switch {
	case name == "":
		return errors.New("an API key needs a name")
	case len(name) > MaxNameLen:
		return fmt.Errorf("an API key name is at most %d bytes", MaxNameLen)
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
