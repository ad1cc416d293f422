package stores

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/stores/sqlite"
)

func TestSQLiteURL(t *testing.T) {
	for raw, want := range map[string]struct {
		path string
		opts sqlite.Options
	}{
		"sqlite:///var/lib/sessiond/sessions.db": {path: "/var/lib/sessiond/sessions.db"},
		"sqlite://data/sessions.db":              {path: "data/sessions.db"},
		"sqlite://sessions.db":                   {path: "sessions.db"},
		"sqlite:///with%20space.db":              {path: "/with space.db"},
		"sqlite:///s.db?op_timeout=500ms&sweep_interval=10s&busy_timeout=3s&max_read_conns=8": {path: "/s.db", opts: sqlite.Options{
			OpTimeout: 500 * time.Millisecond, SweepInterval: 10 * time.Second, BusyTimeout: 3 * time.Second, MaxReadConns: 8}},
		"sqlite:///s.db?sweep_interval=-1s": {path: "/s.db", opts: sqlite.Options{SweepInterval: -time.Second}},
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		path, opts, err := parseSQLiteURL(u)
		if err != nil || path != want.path || opts != want.opts {
			t.Errorf("%s: %q %+v, %v; want %q %+v", raw, path, opts, err, want.path, want.opts)
		}
	}
}

func TestSQLiteURLRefuses(t *testing.T) {
	for _, bad := range []string{
		"sqlite://",
		"sqlite:///",
		"sqlite://u:secret@/x.db",
		"sqlite:///x.db?sweep_interval=soon",
		"sqlite:///x.db?op_timeout=0s",
		"sqlite:///x.db?busy_timeout=-1s",
		"sqlite:///x.db?max_read_conns=0",
		"sqlite:///x.db?max_read_conns=many",
		"sqlite:///x.db?sweep_intervall=1m", // misspelt
		"sqlite:///x.db?_pragma=journal_mode(DELETE)",
	} {
		if bad == "sqlite:///" {
			// "/" is a path, but a directory: Open fails, not the parser.
			if s, err := Open(t.Context(), bad); err == nil || s != nil {
				t.Errorf("Open(%q) = %v, %v; want an error and no store", bad, s, err)
			}
			continue
		}
		u, _ := url.Parse(bad)
		if _, _, err := parseSQLiteURL(u); err == nil || !strings.HasPrefix(err.Error(), "store URL: sqlite: ") || strings.Contains(err.Error(), "secret") {
			t.Errorf("parseSQLiteURL(%q) = %v; want a store URL error that shows no password", bad, err)
		}
		if s, err := Open(t.Context(), bad); err == nil || s != nil {
			t.Errorf("Open(%q) = %v, %v; want an error and no store", bad, s, err)
		}
	}
}

func TestOpenSQLite(t *testing.T) {
	dir := t.TempDir()
	abs := filepath.Join(dir, "abs.db")
	s, err := Open(t.Context(), "sqlite://"+abs+"?sweep_interval=10s")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatal(err)
	}

	t.Chdir(dir)
	s, err = Open(t.Context(), "sqlite://data/rel.db")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(filepath.Join(dir, "data", "rel.db")); err != nil {
		t.Fatalf("a relative path is not relative to the working directory: %v", err)
	}
}
