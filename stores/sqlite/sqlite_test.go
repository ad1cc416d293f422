package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/stores/sqlite"
	"github.com/sessiond/sessiond/storetest"
)

// openFile opens a store on a fresh file, closed when the test ends.
func openFile(t *testing.T, opts sqlite.Options) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sessions.db")
	s, err := sqlite.Open(t.Context(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// appDB is an application's own database, set up as New's documentation
// asks: WAL, a busy timeout on every connection, immediate transactions.
func appDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	t.Parallel()
	s, _ := openFile(t, sqlite.Options{})
	storetest.Run(t, s)
}

// The suite once more on an application's own *sql.DB: one pool for reads
// and writes, several connections, writes serialised by SQLite's lock.
func TestConformanceNew(t *testing.T) {
	t.Parallel()
	s, err := sqlite.New(appDB(t, filepath.Join(t.TempDir(), "app.db")), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	storetest.Run(t, s)
}

// Several processes (here: stores) opening one file at once migrate it
// exactly once.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
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

// The file holds users' roles and API key hashes: only its owner reads it.
func TestFileIsPrivate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "sessions.db")
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := sessiond.NewManager(s, keys(t), sessiond.Config{}).Create(t.Context(), sessiond.NewSession{UserID: "u"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s: mode %o, want 600", filepath.Base(p), mode)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory: %v, %v; want mode 700", fi.Mode(), err)
	}
	// A path that looks like a URI's query or escape is a file name.
	odd := filepath.Join(t.TempDir(), "a?b#c%20d.db")
	s2, err := sqlite.Open(t.Context(), odd, sqlite.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if _, err := os.Stat(odd); err != nil {
		t.Fatalf("the file was not created under its own name: %v", err)
	}
}

func keys(t *testing.T) *sessiond.Keyring {
	t.Helper()
	k, err := sessiond.NewKeyring([]byte("sqlite test secret, 32 bytes or more"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// rawSession is a record written straight to the store, not through the
// Manager.
func rawSession(id, userID string, idleExpires time.Time) sessiond.Session {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return sessiond.Session{
		ID: id, UserID: userID, CreatedAt: now, AuthTime: now.Add(-time.Minute), LastSeenAt: now,
		ExpiresAt: now.Add(time.Hour), IdleExpiresAt: idleExpires, IdleTimeout: time.Minute,
		Client: sessiond.Client{IP: "192.0.2.1", UserAgent: "test"}, Version: 1,
		Generation: 7, SecretHash: [32]byte{0: 1, 31: 0xff},
	}.WithData(json.RawMessage(`{"a":1}`))
}

// Ids are stored and compared byte for byte (no case folding), the secret
// hash is a 32-byte BLOB, and every field comes back as it went in.
func TestStoredBytes(t *testing.T) {
	t.Parallel()
	db := appDB(t, filepath.Join(t.TempDir(), "app.db"))
	s, err := sqlite.New(db, sqlite.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	upper, lower := strings.Repeat("A", 22), strings.Repeat("a", 22)
	in := rawSession(upper, "Ü", time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond))
	if err := s.Create(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Lookup(ctx, lower); !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("Lookup(lower case) = %v, want ErrNotFound", err)
	}
	if err := s.Create(ctx, rawSession(lower, "ü", in.IdleExpiresAt)); err != nil {
		t.Fatal(err)
	}
	got, u, err := s.Lookup(ctx, upper)
	if err != nil {
		t.Fatal(err)
	}
	if got.Data() == nil || string(got.Data()) != `{"a":1}` {
		t.Fatalf("data = %s", got.Data())
	}
	if got.WithData(nil) != in.WithData(nil) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, in)
	}
	if u.ID != "Ü" || u.Status != sessiond.UserActive {
		t.Fatalf("default user = %+v", u)
	}
	if list, err := s.ListUserSessions(ctx, "ü"); err != nil || len(list) != 1 || list[0].ID != lower {
		t.Fatalf("ListUserSessions(ü) = %v, %v", list, err)
	}
	var typ string
	var n int
	if err := db.QueryRowContext(ctx, `SELECT typeof(secret_hash), length(secret_hash) FROM sessions WHERE id = ?`, upper).Scan(&typ, &n); err != nil || typ != "blob" || n != 32 {
		t.Fatalf("secret_hash is %s of %d bytes (%v), want a 32-byte blob", typ, n, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE rotated_at IS NULL`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("never-rotated sessions with rotated_at NULL: %d, %v", n, err)
	}
	// Rotation: a compare-and-swap on the generation.
	now := time.Now().UTC().Truncate(time.Millisecond)
	if _, err := s.Rotate(ctx, upper, 6, [32]byte{2}, now, now.Add(time.Hour)); !errors.Is(err, sessiond.ErrConflict) {
		t.Fatalf("Rotate(stale generation) = %v", err)
	}
	r, err := s.Rotate(ctx, upper, 7, [32]byte{2}, now, now.Add(time.Hour))
	if err != nil || r.Generation != 8 || r.SecretHash != [32]byte{2} || !r.RotatedAt.Equal(now) || !r.LastSeenAt.Equal(now) || !r.AuthTime.Equal(in.AuthTime) {
		t.Fatalf("Rotate = %+v, %v", r, err)
	}
	if _, err := s.Rotate(ctx, upper, 7, [32]byte{3}, now, now.Add(time.Hour)); !errors.Is(err, sessiond.ErrConflict) {
		t.Fatalf("second Rotate from 7 = %v, want ErrConflict", err)
	}
	if got, _, _ := s.Lookup(ctx, upper); got != r {
		t.Fatalf("after rotation Lookup = %+v, want %+v", got, r)
	}
}

// A call is bounded by OpTimeout whatever the caller's deadline: another
// process holding the write lock for good makes writes fail, quickly,
// while reads go on (WAL).
func TestOpTimeoutBoundsCalls(t *testing.T) {
	t.Parallel()
	s, path := openFile(t, sqlite.Options{OpTimeout: 200 * time.Millisecond, BusyTimeout: 30 * time.Second, SweepInterval: -1})
	ctx := context.Background() // no deadline of the caller's
	in := rawSession(strings.Repeat("b", 22), "u", time.Now().Add(time.Hour))
	if err := s.Create(ctx, in); err != nil {
		t.Fatal(err)
	}
	other := appDB(t, path)
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, `ROLLBACK`)

	start := time.Now()
	err = s.Touch(ctx, in.ID, time.Now(), time.Now().Add(time.Hour))
	if err == nil {
		t.Fatal("Touch succeeded while another process held the write lock")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("Touch took %v with OpTimeout 200ms", took)
	}
	if !strings.HasPrefix(err.Error(), "sqlite: touch: ") {
		t.Fatalf("error %q: want it wrapped as sqlite: touch: ...", err)
	}
	if _, _, err := s.Lookup(ctx, in.ID); err != nil {
		t.Fatalf("a read waited for another process's write: %v", err)
	}
}

// Errors that mean "the store could not answer" name the engine and the
// operation; domain errors pass through for errors.Is.
func TestErrorsWrapped(t *testing.T) {
	t.Parallel()
	s, _ := openFile(t, sqlite.Options{SweepInterval: -1})
	if _, _, err := s.Lookup(t.Context(), strings.Repeat("c", 22)); err != sessiond.ErrNotFound {
		t.Fatalf("Lookup(unknown) = %v, want ErrNotFound itself", err)
	}
	s.Close()
	_, _, err := s.Lookup(t.Context(), strings.Repeat("c", 22))
	if err == nil || !strings.HasPrefix(err.Error(), "sqlite: lookup: ") || errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("Lookup on a closed store = %v", err)
	}
}

// New uses the application's *sql.DB and leaves it open, unless told to
// close it.
func TestNew(t *testing.T) {
	t.Parallel()
	if _, err := sqlite.New(nil, sqlite.Options{}); err == nil {
		t.Fatal("New(nil) succeeded")
	}
	dir := t.TempDir()
	db := appDB(t, filepath.Join(dir, "app.db"))
	s, err := sqlite.New(db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("Close closed the application's database: %v", err)
	}
	s, err = sqlite.New(db, sqlite.Options{CloseClient: true, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(t.Context()); err == nil {
		t.Fatal("CloseClient: the database is still open")
	}
}

// The sweeper deletes expired sessions by itself.
func TestSweeper(t *testing.T) {
	t.Parallel()
	s, _ := openFile(t, sqlite.Options{SweepInterval: 20 * time.Millisecond})
	expired := rawSession(strings.Repeat("d", 22), "u", time.Now().Add(-time.Second))
	live := rawSession(strings.Repeat("e", 22), "u", time.Now().Add(time.Hour))
	for _, ss := range []sessiond.Session{expired, live} {
		if err := s.Create(t.Context(), ss); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, _, err := s.Lookup(t.Context(), expired.ID); errors.Is(err, sessiond.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not delete an expired session")
		}
	}
	if _, _, err := s.Lookup(t.Context(), live.ID); err != nil {
		t.Fatalf("the sweeper deleted a live session: %v", err)
	}
}
