package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"aidanwoods.dev/go-paseto"

	"github.com/sessiond/sessiond/onetime"
)

// The signing keys of one-time tokens and identity assertions: each from
// its environment variable (Ed25519 seeds, comma-separated, current
// first), or else generated on first start into the data directory and
// reused afterwards, like the session token key (secret.go). Nodes that
// share a store must share these keys too, through the environment.
const (
	tokenKeyFile     = "paseto.key"
	tokenKeyEnv      = "SESSIOND_TOKEN_KEY"
	assertionKeyFile = "assertion.key"
	assertionKeyEnv  = "SESSIOND_ASSERTION_KEY"
)

// loadTokenKeys returns the PASETO v4.public keys of one-time tokens:
// $SESSIOND_TOKEN_KEY as hex seeds, or <data-dir>/paseto.key.
func loadTokenKeys(data *storeFlags, log *slog.Logger) ([]paseto.V4AsymmetricSecretKey, error) {
	source, seeds, err := loadSeeds(tokenKeyEnv, tokenKeyFile, hex.EncodeToString, data, log)
	if err != nil {
		return nil, err
	}
	keys := make([]paseto.V4AsymmetricSecretKey, 0, len(seeds))
	for i, s := range seeds {
		k, err := onetime.ParseSecretKey(s)
		if err != nil {
			// Not the parser's error: it may quote the key.
			return nil, fmt.Errorf("%s: key %d is not a 32-byte Ed25519 seed in hex (64 digits)", source, i+1)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// loadAssertionKeys returns the Ed25519 keys of identity assertions:
// $SESSIOND_ASSERTION_KEY as base64 seeds, or <data-dir>/assertion.key.
func loadAssertionKeys(data *storeFlags, log *slog.Logger) ([]ed25519.PrivateKey, error) {
	source, seeds, err := loadSeeds(assertionKeyEnv, assertionKeyFile, base64.StdEncoding.EncodeToString, data, log)
	if err != nil {
		return nil, err
	}
	keys := make([]ed25519.PrivateKey, 0, len(seeds))
	for i, s := range seeds {
		seed, ok := decodeBase64Seed(s)
		if !ok {
			return nil, fmt.Errorf("%s: key %d is not a 32-byte Ed25519 seed in base64", source, i+1)
		}
		keys = append(keys, ed25519.NewKeyFromSeed(seed))
	}
	return keys, nil
}

// loadSeeds returns the seeds of the environment variable env, or of the
// key file name in the data directory, generating it (one seed, written
// with encode) if it does not exist; and where they came from, for error
// messages that never quote a key.
func loadSeeds(env, name string, encode func([]byte) string, data *storeFlags, log *slog.Logger) (source string, seeds []string, err error) {
	if v := os.Getenv(env); v != "" {
		if seeds = splitSeeds(v); len(seeds) == 0 {
			return "", nil, fmt.Errorf("$%s holds no key", env)
		}
		return "$" + env, seeds, nil
	}
	dir, err := data.ensureDataDir()
	if err != nil {
		return "", nil, err
	}
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		seed := make([]byte, ed25519.SeedSize)
		rand.Read(seed) // never fails (crypto/rand panics rather than return short)
		if b, err = createKeyFile(path, []byte(encode(seed)+"\n")); err == nil {
			log.Info("generated a signing key", "path", path)
		}
	}
	if err != nil {
		return "", nil, fmt.Errorf("signing key: %w", err)
	}
	seeds = splitSeeds(string(b))
	if len(seeds) == 0 {
		return "", nil, fmt.Errorf("%s: no key in the file", path)
	}
	return path, seeds, nil
}

// splitSeeds reads a comma-separated list, current key first; spaces and
// line breaks around the entries do not count.
func splitSeeds(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// decodeBase64Seed accepts standard and URL-safe base64, padded or not.
func decodeBase64Seed(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.Strict().DecodeString(s); err == nil && len(b) == ed25519.SeedSize {
			return b, true
		}
	}
	return nil, false
}
