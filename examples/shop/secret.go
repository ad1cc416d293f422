package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sessiond/sessiond"
)

// loadSecrets returns the keys that sign session tokens: SESSIOND_SECRET
// (comma-separated, current first, as for the sessiond server) if set, else
// the key file in the data directory, created with a fresh random key on
// first run. Persisting the key is what keeps users signed in across
// restarts; a key made up at every start would log everybody out.
func loadSecrets(getenv func(string) string, dataDir string) ([][]byte, error) {
	if v := getenv("SESSIOND_SECRET"); v != "" {
		secrets := sessiond.ParseSecrets(v)
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
	secrets := sessiond.ParseSecrets(string(b))
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
