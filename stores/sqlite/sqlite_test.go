package sqlite_test

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/sessiond/sessiond/sqlite"
	"github.com/sessiond/sessiond/storetest"
)

func TestConformance(t *testing.T) {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "sessions.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	storetest.Run(t, s)
}

// Several processes (here: stores) opening one file at once migrate it
// exactly once.
func TestConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := sqlite.Open(t.Context(), path, sqlite.Options{SweepInterval: -1})
			if err != nil {
				t.Error(err)
				return
			}
			if err := s.Ping(t.Context()); err != nil {
				t.Error(err)
			}
			s.Close()
		}()
	}
	wg.Wait()
}

func TestOpenURL(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlite.OpenURL(t.Context(), "sqlite://"+filepath.Join(dir, "a.db")+"?sweep_interval=10s")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, bad := range []string{"sqlite://", "postgres://x", "sqlite:///x.db?sweep_interval=soon"} {
		if s, err := sqlite.OpenURL(t.Context(), bad); err == nil {
			s.Close()
			t.Errorf("OpenURL(%q) succeeded", bad)
		}
	}
}
