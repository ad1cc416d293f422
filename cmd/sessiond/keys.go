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

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/server/onetime"
)

// The key material of `sessiond serve`, read before anything is built so
// that a bad key stops the start at once, without a store opened:
//
//   - the session token secrets: $SESSIOND_SECRET, or the file named by
//     --secret-file, or else a secret generated on first start into the
//     data directory (secret.key) and reused afterwards, so that tokens
//     survive restarts;
//   - the one-time token keys (PASETO v4.public): $SESSIOND_TOKEN_KEY as
//     hex Ed25519 seeds, or <data-dir>/paseto.key;
//   - the identity assertion keys, with --identity-assertion only:
//     $SESSIOND_ASSERTION_KEY as base64 Ed25519 seeds, or
//     <data-dir>/assertion.key.
//
// Each is a comma-separated list, current key first, so keys rotate: put
// the new one first and keep the old one until what it signed has expired.
// Nodes that share a store must share all three, through the environment.
// Keys never appear in an error message, a log line or a flag (command
// lines are visible to every user of the machine).
const (
	secretEnv        = "SESSIOND_SECRET"
	secretKeyFile    = "secret.key"
	tokenKeyEnv      = "SESSIOND_TOKEN_KEY"
	tokenKeyFile     = "paseto.key"
	assertionKeyEnv  = "SESSIOND_ASSERTION_KEY"
	assertionKeyFile = "assertion.key"
)

// keyMaterial is every key serve signs or verifies with.
type keyMaterial struct {
	sessions   *sessiond.Keyring
	tokens     []paseto.V4AsymmetricSecretKey
	assertions []ed25519.PrivateKey // empty without --identity-assertion
}

// loadKeys reads (or generates) the keys cfg asks for.
func loadKeys(cfg *serveConfig, log *slog.Logger) (keyMaterial, error) {
	var k keyMaterial
	var err error
	if k.sessions, err = loadKeyring(cfg.secretFile, &cfg.store, log); err != nil {
		return k, err
	}
	if k.tokens, err = loadTokenKeys(&cfg.store, log); err != nil {
		return k, err
	}
	if cfg.assertions {
		if k.assertions, err = loadAssertionKeys(&cfg.store, log); err != nil {
			return k, err
		}
	}
	return k, nil
}

// loadKeyring returns the session token keys.
func loadKeyring(secretFile string, data *storeFlags, log *slog.Logger) (*sessiond.Keyring, error) {
	env := os.Getenv(secretEnv)
	switch {
	case env != "" && secretFile != "":
		return nil, errors.New("set either $SESSIOND_SECRET or --secret-file, not both")
	case env != "":
		return keyring("$"+secretEnv, env)
	case secretFile != "":
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return nil, fmt.Errorf("--secret-file: %w", err)
		}
		return keyring(secretFile, string(b))
	}
	dir, err := data.ensureDataDir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, secretKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		secret := make([]byte, 32)
		rand.Read(secret) // never fails (crypto/rand panics rather than return short)
		if b, err = createKeyFile(path, []byte(base64.StdEncoding.EncodeToString(secret)+"\n")); err == nil {
			log.Info("generated a token key", "path", path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	return keyring(path, string(b))
}

func keyring(source, secrets string) (*sessiond.Keyring, error) {
	kr, err := sessiond.NewKeyring(parseSecrets(secrets)...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return kr, nil
}

// parseSecrets reads a $SESSIOND_SECRET-style value: comma-separated
// secrets, current first. Each is base64 (standard or URL-safe, padded or
// not) or, if it does not decode to 32 bytes or more, taken as raw text;
// sessiond.NewKeyring refuses any shorter than 32 bytes.
func parseSecrets(v string) [][]byte {
	var out [][]byte
	for _, part := range splitList(v) {
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

// loadTokenKeys returns the keys of one-time tokens.
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

// loadAssertionKeys returns the keys of identity assertions.
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
		if seeds = splitList(v); len(seeds) == 0 {
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
	seeds = splitList(string(b))
	if len(seeds) == 0 {
		return "", nil, fmt.Errorf("%s: no key in the file", path)
	}
	return path, seeds, nil
}

// splitList reads a comma-separated list, current key first; spaces and
// line breaks around the entries do not count, empty entries are dropped.
func splitList(v string) []string {
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

// createKeyFile writes a new key file with mode 0600 and returns what path
// holds afterwards. The key is written to a temporary file and linked into
// place, so that a crash never leaves a half-written key, and of two
// processes starting at once the second one reads the first one's key
// instead of replacing it.
func createKeyFile(path string, b []byte) ([]byte, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600 already; Chmod states the intent.
	if err := errors.Join(tmp.Chmod(0o600), write(tmp, b), tmp.Sync(), tmp.Close()); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path)
	} else if err != nil {
		return nil, err
	}
	return b, nil
}

func write(f *os.File, b []byte) error {
	_, err := f.Write(b)
	return err
}
