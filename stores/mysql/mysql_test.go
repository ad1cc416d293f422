package mysql

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testserver"
	"github.com/sessiond/sessiond/storetest"
)

var keys = func() *sessiond.Keyring {
	kr, err := sessiond.NewKeyring([]byte("mysql store test secret, 32 bytes or more"))
	if err != nil {
		panic(err)
	}
	return kr
}()

// uniqueUser names a user no earlier run has used, for servers that
// outlive a run (SESSIOND_TEST_MYSQL_URL).
func uniqueUser(name string) string {
	return name + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

// withParam adds a query parameter to a store URL.
func withParam(t testing.TB, raw, name, value string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func open(t testing.TB, url string) *Store {
	t.Helper()
	s, err := Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the shared suite, and this store's own checks in
// parallel with it on the same server.
func TestConformance(t *testing.T) {
	srv := testserver.MariaDB(t)
	s := open(t, srv.URL)
	storetest.Run(t, s)
	t.Run("BackgroundSweeper", func(t *testing.T) {
		t.Parallel()
		testSweeper(t, srv.URL)
	})
	t.Run("CreateRacingBan", func(t *testing.T) {
		t.Parallel()
		testCreateRacingBan(t, s)
	})
}

// The background sweeper deletes expired sessions by itself. This second
// store on the server also opens an already migrated database.
func testSweeper(t *testing.T, storeURL string) {
	s := open(t, withParam(t, storeURL, "sweep_interval", "100ms"))
	m := sessiond.NewManager(s, keys, sessiond.Config{})
	user := uniqueUser("sweep")
	_, short, err := m.Create(t.Context(), sessiond.NewSession{UserID: user, IdleTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		list, err := s.ListUserSessions(t.Context(), user)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s, idle for 1s, still stored after 5s", short.ID)
		}
	}
}

// Nodes starting together migrate a fresh database exactly once, under the
// GET_LOCK guard; opening a migrated database again changes nothing.
func TestConcurrentMigrations(t *testing.T) {
	srv := testserver.MariaDB(t)
	var wg sync.WaitGroup
	stores := make([]*Store, 5)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(t.Context(), withParam(t, srv.URL, "sweep_interval", "0"))
			if err != nil {
				t.Error(err)
				return
			}
			stores[i] = s
		}()
	}
	wg.Wait()
	for _, s := range stores {
		if s != nil {
			defer s.Close()
		}
	}
	if t.Failed() {
		return
	}
	s := open(t, srv.URL)
	var rows, latest int
	if err := s.db.QueryRowContext(t.Context(), `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&rows, &latest); err != nil {
		t.Fatal(err)
	}
	if rows != len(migrations)-1 || latest != len(migrations)-1 {
		t.Fatalf("schema_migrations: %d rows, latest %d; want each of %d migrations once", rows, latest, len(migrations)-1)
	}
	for _, s := range stores {
		if err := s.Ping(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// With the server down or hung, calls fail fast with a non-domain error
// (callers answer 503); once it is back, the same Store works again by
// itself and nothing committed was lost.
func TestOutage(t *testing.T) {
	srv := testserver.MariaDB(t)
	s := open(t, srv.URL)
	m := sessiond.NewManager(s, keys, sessiond.Config{})
	ctx := context.Background() // no deadline: the store's own bound applies
	tok, before, err := m.Create(ctx, sessiond.NewSession{UserID: "outage", Data: []byte(`{"cart":["tea"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Ping":   func() error { return s.Ping(ctx) },
		"Lookup": func() error { _, _, err := s.Lookup(ctx, before.ID); return err },
		"Create": func() error {
			_, _, err := m.Create(ctx, sessiond.NewSession{UserID: "outage"})
			return err
		},
		"Validate": func() error { _, _, err := m.Validate(ctx, tok); return err },
	}
	failFast := func(state string) {
		var wg sync.WaitGroup
		for name, call := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				err := call()
				took := time.Since(start)
				t.Logf("%s, server %s: %v after %s", name, state, err, took)
				if took > 3*time.Second {
					t.Errorf("%s with the server %s took %s", name, state, took)
				}
				if err == nil || sessiond.ErrorCode(err) != "" {
					t.Errorf("%s with the server %s = %v; want a store error, not a domain answer", name, state, err)
				}
			}()
		}
		wg.Wait()
	}
	worksAgain := func(state string) {
		t.Helper()
		got, _, err := m.Validate(ctx, tok)
		if err != nil {
			t.Fatalf("Validate after the server %s: %v", state, err)
		}
		if string(got.Data) != `{"cart":["tea"]}` || !got.CreatedAt.Equal(before.CreatedAt) {
			t.Fatalf("session after the server %s = %+v", state, got)
		}
		if _, _, err := m.Create(ctx, sessiond.NewSession{UserID: "outage"}); err != nil {
			t.Fatalf("Create after the server %s: %v", state, err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}

	srv.Pause() // accepts connections, answers nothing: only the op_timeout helps
	failFast("hung")
	srv.Resume()
	worksAgain("resumed")

	srv.Stop()
	failFast("stopped")
	srv.Start()
	worksAgain("restarted")
}

// A ban racing a stream of sign-ins leaves the user with no session: the
// banned check and the insert are one statement, so no insert lands after
// the ban's DELETE.
func testCreateRacingBan(t *testing.T, s *Store) {
	m := sessiond.NewManager(s, keys, sessiond.Config{})
	ctx := t.Context()
	user := uniqueUser("racing-ban")
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, _, err := m.Create(ctx, sessiond.NewSession{UserID: user})
				if errors.Is(err, sessiond.ErrUserBanned) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := m.PutUser(ctx, &sessiond.User{ID: user, Status: sessiond.UserBanned}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if list, err := s.ListUserSessions(ctx, user); err != nil || len(list) != 0 {
		t.Fatalf("after the ban: %d sessions, %v; want none", len(list), err)
	}
}
