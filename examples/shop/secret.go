package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// loadSecrets returns the keys that sign session tokens: SESSIOND_SECRET
// (comma-separated, current first, as for the sessiond server) if set, else
// the key file in the data directory, created with a fresh random key on
// first run. Persisting the key is what keeps users signed in across
// restarts; a key made up at every start would log everybody out.
func loadSecrets(getenv func(string) string, dataDir string) ([][]byte, error) {
	if v := getenv("SESSIOND_SECRET"); v != "" {
		secrets := parseSecrets(v)
		if len(secrets) == 0 {
			return nil, errors.New("SESSIOND_SECRET holds no secret")
		}
		return secrets, nil
	}
	if dataDir == "" {
		return nil, errors.New("set SESSIOND_SECRET (there is no data directory for a key file)")
	}
	path := filepath.Join(dataDir, "secret.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b, err = createKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	secrets := parseSecrets(string(b))
	if len(secrets) == 0 {
		return nil, fmt.Errorf("session key: %s is empty", path)
	}
	return secrets, nil
}

// createKeyFile writes 32 random bytes, base64, readable by the owner only.
// The key is written to a temporary file and then hard-linked into place,
// which fails if the name exists: two shops started at once agree on one
// complete key, never on a half-written file.
func createKeyFile(path string) ([]byte, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	key := []byte(base64.StdEncoding.EncodeToString(raw) + "\n")
	tmp, err := os.CreateTemp(dir, ".secret-*") // mode 0600
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(key)
	if err = errors.Join(err, tmp.Sync(), tmp.Close()); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path)
	} else if err != nil {
		return nil, err
	}
	return key, nil
}

// parseSecrets splits a SESSIOND_SECRET-style value: comma-separated
// secrets, current first. Each is base64 (standard or URL-safe, padded or
// not) if it decodes to 32 bytes or more, else used as raw text; the
// keyring refuses any shorter than 32 bytes.
func parseSecrets(v string) [][]byte {
	var out [][]byte
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, decodeSecret(part))
		}
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
