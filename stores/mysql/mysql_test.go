package mysql

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

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

// openDB opens a *sql.DB the way an application does: sql.Open with a DSN
// of its own, here for the test server's mysql:// URL plus params (DSN
// parameters, e.g. "interpolateParams": "true"). The test closes it.
func openDB(t testing.TB, serverURL string, params map[string]string) *sql.DB {
	t.Helper()
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := mysqldriver.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net, cfg.Addr = "tcp", u.Host
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	dsn := cfg.FormatDSN()
	if len(params) > 0 {
		q := url.Values{}
		for k, v := range params {
			q.Set(k, v)
		}
		dsn += "?" + q.Encode()
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// recommended is the DSN the package documentation recommends.
var recommended = map[string]string{"interpolateParams": "true"}

func newStore(t testing.TB, db *sql.DB, opts Options) *Store {
	t.Helper()
	s, err := New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the shared suite twice in parallel on one server:
// through the recommended DSN, and through a DSN that sets everything the
// store must not depend on differently from the driver's defaults — time
// parsing into a zone with DST, the affected-rows count of matched rows,
// latin1, prepared statements, READ COMMITTED. This store's own checks run
// alongside.
func TestConformance(t *testing.T) {
	srv := testserver.MariaDB(t)
	db := openDB(t, srv.URL, recommended)
	s := newStore(t, db, Options{})
	other := map[string]string{
		"parseTime":              "true",
		"loc":                    "America/New_York",
		"clientFoundRows":        "true",
		"charset":                "latin1",
		isolationVariable(t, db): "'READ-COMMITTED'",
	}
	s2 := newStore(t, openDB(t, srv.URL, other), Options{})
	if s.createInTx || !s2.createInTx {
		t.Fatalf("createInTx = %v with the default isolation, %v under READ COMMITTED", s.createInTx, s2.createInTx)
	}
	t.Run("RecommendedDSN", func(t *testing.T) {
		t.Parallel()
		storetest.Run(t, s)
	})
	t.Run("AnyDSN", func(t *testing.T) {
		t.Parallel()
		storetest.Run(t, s2)
	})
	t.Run("BackgroundSweeper", func(t *testing.T) {
		t.Parallel()
		testSweeper(t, srv.URL)
	})
	t.Run("CreateRacingBan", func(t *testing.T) {
		t.Parallel()
		testCreateRacingBan(t, s)
	})
	t.Run("CreateRacingBanReadCommitted", func(t *testing.T) {
		t.Parallel()
		testCreateRacingBan(t, s2)
	})
	t.Run("TimesAreUTC", func(t *testing.T) {
		t.Parallel()
		testTimesAreUTC(t, s, s2)
	})
}

// isolationVariable is the name of the session's isolation level:
// transaction_isolation on MySQL and MariaDB ≥ 11.1, tx_isolation before.
func isolationVariable(t testing.TB, db *sql.DB) string {
	var level string
	if err := db.QueryRowContext(t.Context(), `SELECT @@SESSION.transaction_isolation`).Scan(&level); err != nil {
		return "tx_isolation"
	}
	return "transaction_isolation"
}

// The background sweeper deletes expired sessions by itself. This other
// store on the server also opens an already migrated database.
func testSweeper(t *testing.T, serverURL string) {
	s := newStore(t, openDB(t, serverURL, nil), Options{SweepInterval: 100 * time.Millisecond})
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

// A ban racing a stream of sign-ins leaves the user with no session: the
// banned check and the insert are atomic, so no insert lands after the
// ban's DELETE — at the default isolation and under READ COMMITTED.
func testCreateRacingBan(t *testing.T, s *Store) {
	m := sessiond.NewManager(s, keys, sessiond.Config{})
	ctx := t.Context()
	for round := range 5 {
		user := uniqueUser("racing-ban-" + strconv.Itoa(round))
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
		time.Sleep(time.Duration(10+10*round) * time.Millisecond)
		if _, err := m.PutUser(ctx, sessiond.User{ID: user, Status: sessiond.UserBanned}); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if list, err := s.ListUserSessions(ctx, user); err != nil || len(list) != 0 {
			t.Fatalf("round %d, after the ban: %d sessions, %v; want none", round, len(list), err)
		}
	}
}

// Times are stored as UTC wall clock, whatever the DSN's loc, so two
// applications with different DSNs on one database agree, and a DBA reads
// UTC in a SQL shell.
func testTimesAreUTC(t *testing.T, s, s2 *Store) {
	m := sessiond.NewManager(s2, keys, sessiond.Config{})
	_, created, err := m.Create(t.Context(), sessiond.NewSession{UserID: uniqueUser("utc")})
	if err != nil {
		t.Fatal(err)
	}
	var text string
	if err := s.db.QueryRowContext(t.Context(), `SELECT CAST(created_at AS CHAR) FROM sessions WHERE id = ?`, created.ID).Scan(&text); err != nil {
		t.Fatal(err)
	}
	if want := created.CreatedAt.UTC().Format(timeLayout); text != want {
		t.Fatalf("created_at stored as %s, want %s (UTC)", text, want)
	}
	got, _, err := s.Lookup(t.Context(), created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(created.CreatedAt) || got.CreatedAt.Location() != time.UTC || got.SecretHash != created.SecretHash {
		t.Fatalf("read through the other DSN: created %v, hash equal %v", got.CreatedAt, got.SecretHash == created.SecretHash)
	}
}

// Nodes starting together migrate a fresh database exactly once, under the
// GET_LOCK guard; opening a migrated database again changes nothing.
func TestConcurrentMigrations(t *testing.T) {
	srv := testserver.MariaDB(t)
	db := openDB(t, srv.URL, recommended)
	var wg sync.WaitGroup
	stores := make([]*Store, 5)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each node has a pool of its own.
			s, err := New(openDB(t, srv.URL, nil), Options{SweepInterval: -1})
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
	s := newStore(t, db, Options{})
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

// New refuses no pool; the zero Options get the defaults; Close closes the
// pool only when told to (an application's pool stays open).
func TestNewAndClose(t *testing.T) {
	if _, err := New(nil, Options{}); err == nil {
		t.Fatal("New(nil) succeeded")
	}
	srv := testserver.MariaDB(t)
	db := openDB(t, srv.URL, nil)
	s, err := New(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.opTimeout != 2*time.Second || s.sweeper == nil {
		t.Fatalf("zero Options: op timeout %s, sweeper %v", s.opTimeout, s.sweeper)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("Close closed the application's pool: %v", err)
	}
	s, err = New(db, Options{SweepInterval: -1, CloseClient: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.sweeper != nil {
		t.Fatal("a negative SweepInterval started a sweeper")
	}
	s.Close()
	if err := db.PingContext(t.Context()); err == nil {
		t.Fatal("Close with CloseClient left the pool open")
	}
}

// With the server down or hung, calls fail fast with a non-domain error
// (callers answer 503), even for a caller with no deadline or a long one;
// once it is back, the same Store works again by itself and nothing
// committed was lost.
func TestOutage(t *testing.T) {
	srv := testserver.MariaDB(t)
	const opTimeout = time.Second
	s := newStore(t, openDB(t, srv.URL, recommended), Options{OpTimeout: opTimeout})
	m := sessiond.NewManager(s, keys, sessiond.Config{})
	ctx := context.Background() // no deadline: the store's own bound applies
	long, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	tok, before, err := m.Create(ctx, sessiond.NewSession{UserID: "outage", Data: []byte(`{"cart":["tea"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Ping":   func() error { return s.Ping(ctx) },
		"Lookup": func() error { _, _, err := s.Lookup(long, before.ID); return err },
		"Create": func() error {
			_, _, err := m.Create(ctx, sessiond.NewSession{UserID: "outage"})
			return err
		},
		"Validate":      func() error { _, _, err := m.Validate(long, tok); return err },
		"RedeemToken":   func() error { _, err := s.RedeemToken(ctx, uniqueUser("ott"), time.Now().Add(time.Minute)); return err },
		"DeleteExpired": func() error { _, err := s.DeleteExpired(ctx, time.Now()); return err },
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
				if took > opTimeout+time.Second {
					t.Errorf("%s with the server %s took %s (op timeout %s)", name, state, took, opTimeout)
				}
				var domain *sessiond.Error
				if err == nil || errors.As(err, &domain) {
					t.Errorf("%s with the server %s = %v; want a store error, not a domain answer", name, state, err)
				} else if !strings.HasPrefix(err.Error(), "mysql: ") {
					t.Errorf("%s with the server %s = %v; want it wrapped as mysql: <op>: ...", name, state, err)
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
		if string(got.Data()) != `{"cart":["tea"]}` || !got.CreatedAt.Equal(before.CreatedAt) {
			t.Fatalf("session after the server %s = %+v", state, got)
		}
		if _, _, err := m.Create(ctx, sessiond.NewSession{UserID: "outage"}); err != nil {
			t.Fatalf("Create after the server %s: %v", state, err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}

	srv.Pause() // accepts connections, answers nothing: only the op timeout helps
	failFast("hung")
	srv.Resume()
	worksAgain("resumed")

	srv.Stop()
	failFast("stopped")
	srv.Start()
	worksAgain("restarted")
}
