package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/sessiond/sessiond"
)

// secretKeyFile is the generated token key, in the data directory.
const secretKeyFile = "secret.key"

// loadKeyring returns the token keys: $SESSIOND_SECRET, or the file named
// by --secret-file, each comma-separated secrets with the current one first;
// without either, a key generated on first start into the data directory
// and reused afterwards, so that tokens survive restarts.
func loadKeyring(secretFile string, data *storeFlags, log *slog.Logger) (*sessiond.Keyring, error) {
	env := os.Getenv("SESSIOND_SECRET")
	switch {
	case env != "" && secretFile != "":
		return nil, errors.New("set either $SESSIOND_SECRET or --secret-file, not both")
	case env != "":
		return keyring("$SESSIOND_SECRET", env)
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
		if b, err = generateSecret(path); err == nil {
			log.Info("generated a token key", "path", path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	return keyring(path, string(b))
}

func keyring(source, secrets string) (*sessiond.Keyring, error) {
	kr, err := sessiond.NewKeyring(sessiond.ParseSecrets(secrets)...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return kr, nil
}

// generateSecret writes 32 random bytes, base64, to path with mode 0600.
func generateSecret(path string) ([]byte, error) {
	raw := make([]byte, 32)
	rand.Read(raw) // never fails (crypto/rand panics rather than return short)
	return createKeyFile(path, []byte(base64.StdEncoding.EncodeToString(raw)+"\n"))
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
