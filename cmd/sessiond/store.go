package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/stores"
)

// storeFlags are --store and --data-dir, with --config (the file that may
// set them), shared by every command that touches the store, with the same
// defaults everywhere: `sessiond apikey create` and `sessiond serve`
// without flags use the same SQLite file, and with one --config the same
// store.
type storeFlags struct {
	url     string
	dataDir string
}

func (s *storeFlags) register(c *command) {
	c.StringVar(&s.url, "store", "", "store URL: memory://, sqlite:///path.db, redis://, postgres://, mysql:// (default sqlite://<data-dir>/sessiond.db)")
	c.StringVar(&s.dataDir, "data-dir", defaultDataDir(), "directory for the default SQLite store and the generated token key (created 0700)")
	c.defineConfig()
}

// defaultDataDir follows the XDG base directory spec: $XDG_DATA_HOME (if
// absolute) or ~/.local/share, then sessiond.
func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "sessiond")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "sessiond")
	}
	return ""
}

// ensureDataDir creates the data directory, readable by its owner only: it
// holds the token key and the sessions.
func (s *storeFlags) ensureDataDir() (string, error) {
	if s.dataDir == "" {
		return "", errors.New("no data directory: set --data-dir or $HOME")
	}
	dir, err := filepath.Abs(s.dataDir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	return dir, nil
}

// storeURL returns --store, or the SQLite file in the data directory.
func (s *storeFlags) storeURL() (string, error) {
	if s.url != "" {
		return s.url, nil
	}
	dir, err := s.ensureDataDir()
	if err != nil {
		return "", err
	}
	return (&url.URL{Scheme: "sqlite", Path: filepath.ToSlash(filepath.Join(dir, "sessiond.db"))}).String(), nil
}

// openTimeout bounds connecting to the store and migrating its schema.
const openTimeout = 30 * time.Second

func (s *storeFlags) open(ctx context.Context) (sessiond.Store, error) {
	u, err := s.storeURL()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	store, err := stores.Open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("opening the %s store: %w", scheme(u), err)
	}
	return store, nil
}

// openKeys opens the store as the home of the API keys.
func (s *storeFlags) openKeys(ctx context.Context) (sessiond.Store, sessiond.APIKeyStore, error) {
	store, err := s.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	keys, ok := store.(sessiond.APIKeyStore)
	if !ok {
		store.Close()
		return nil, nil, fmt.Errorf("the %s store cannot hold API keys", scheme(s.url))
	}
	return store, keys, nil
}

// scheme is the only part of a store URL that is logged or printed: the
// rest may carry a password.
func scheme(storeURL string) string {
	if sch, _, ok := strings.Cut(storeURL, "://"); ok {
		return sch
	}
	return "unknown"
}
