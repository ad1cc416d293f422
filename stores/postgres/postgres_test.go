package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testserver"
	"github.com/sessiond/sessiond/nearcache"
	"github.com/sessiond/sessiond/server/apikey"
	"github.com/sessiond/sessiond/stores/postgres"
	"github.com/sessiond/sessiond/storetest"
)

var keys, _ = sessiond.NewKeyring([]byte("postgres store test secret, 32 bytes or more"))

// newPool is the application's own pool on url, closed when the test ends.
func newPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// open returns a store on a pool of its own on url; both are closed when
// the test ends.
func open(t testing.TB, url string, opts postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.New(newPool(t, url), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// noSweep keeps a test's store from deleting anything behind its back.
var noSweep = postgres.Options{SweepInterval: -1}

// with adds query parameters to a URL.
func with(url, params string) string {
	if strings.Contains(url, "?") {
		return url + "&" + params
	}
	return url + "?" + params
}

func adminConn(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestConformance(t *testing.T) {
	s := open(t, testserver.Postgres(t).URL, postgres.Options{})
	t.Run("Store", func(t *testing.T) { storetest.Run(t, s) })
	t.Run("NearCache", func(t *testing.T) { storetest.RunCached(t, s) })
}

// The store's own tests share one server; each gets a database of its own.
func TestStore(t *testing.T) {
	srv := testserver.Postgres(t)
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, string)
	}{
		{"New", testNew},
		{"ConcurrentMigrations", testConcurrentMigrations},
		{"MigrationFromPreviousVersion", testMigrationFromPreviousVersion},
		{"TableHoldsNoToken", testTableHoldsNoToken},
		{"Sweeper", testSweeper},
		{"JSONKeptExactly", testJSONKeptExactly},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, srv.NewDatabase(t)) })
	}
}

// Several nodes starting at once on a fresh database migrate it exactly
// once, and opening a migrated database again changes nothing.
func testConcurrentMigrations(t *testing.T, url string) {
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			pool, err := pgxpool.New(t.Context(), url)
			if err != nil {
				t.Error(err)
				return
			}
			defer pool.Close()
			s, err := postgres.New(pool, noSweep)
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			if err := s.Ping(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	s := open(t, url, noSweep)
	if _, _, err := sessiond.NewManager(s, keys, sessiond.Config{}).Create(t.Context(), sessiond.NewSession{UserID: "u"}); err != nil {
		t.Fatal(err)
	}
	var rows, distinct, highest int
	if err := adminConn(t, url).QueryRow(t.Context(), `SELECT count(*), count(DISTINCT version), max(version) FROM schema_migrations`).
		Scan(&rows, &distinct, &highest); err != nil {
		t.Fatal(err)
	}
	if rows != highest || distinct != highest || highest < 2 {
		t.Fatalf("schema_migrations: %d rows, %d distinct, highest %d; want versions 1..n once each", rows, distinct, highest)
	}
}

// previousSchema is the schema the previous version left in a database, as
// `git show f54405e:stores/postgres/schema.go` (the version before stable
// session ids) created it: its migration 1 and the schema_migrations table
// that records it. It is frozen here, not taken from schema.go, so that the
// upgrade path is tested against what is really out there.
const previousSchema = `
CREATE TABLE schema_migrations (
	version    integer PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE sessions (
	id              text COLLATE "C" PRIMARY KEY,
	user_id         text COLLATE "C" NOT NULL,
	created_at      timestamptz NOT NULL,
	last_seen_at    timestamptz NOT NULL,
	expires_at      timestamptz NOT NULL,
	idle_expires_at timestamptz NOT NULL,
	idle_timeout_ms bigint NOT NULL,
	client_ip       text NOT NULL DEFAULT '',
	user_agent      text NOT NULL DEFAULT '',
	data            bytea NOT NULL,
	version         bigint NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id, created_at);
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at);
CREATE TABLE users (
	id         text COLLATE "C" PRIMARY KEY,
	status     text NOT NULL CHECK (status IN ('active', 'banned')),
	roles      text[] NOT NULL,
	attributes bytea NOT NULL,
	updated_at timestamptz NOT NULL
);
CREATE TABLE api_keys (
	id         text COLLATE "C" PRIMARY KEY,
	name       text NOT NULL,
	hash       text COLLATE "C" NOT NULL UNIQUE,
	created_at timestamptz NOT NULL
);
CREATE TABLE redeemed_tokens (
	id         text COLLATE "C" PRIMARY KEY,
	expires_at timestamptz NOT NULL
);
CREATE INDEX redeemed_tokens_expires_at ON redeemed_tokens (expires_at);
INSERT INTO schema_migrations (version) VALUES (1);`

// A database written by the previous version is migrated in place: its
// sessions (keyed by SHA-256 of tokens this version cannot read) are
// replaced, its users, API keys and redeemed one-time tokens kept, and the
// store works on it.
func testMigrationFromPreviousVersion(t *testing.T, url string) {
	admin := adminConn(t, url)
	ctx := t.Context()
	if _, err := admin.Exec(ctx, previousSchema); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	oldID := strings.Repeat("ab", 32) // the previous version's ids: SHA-256 of the token, in hex
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users VALUES ($1, 'active', $2, $3, $4)`, []any{"alice", []string{"admin", "customer"}, []byte(`{"plan":"pro"}`), now}},
		{`INSERT INTO users VALUES ($1, 'banned', '{}', '{}', $2)`, []any{"mallory", now}},
		{`INSERT INTO api_keys VALUES ('key_1', 'ci', $1, $2)`, []any{strings.Repeat("f", 64), now}},
		{`INSERT INTO redeemed_tokens VALUES ('ott_1', $1)`, []any{now.Add(time.Hour)}},
		{`INSERT INTO sessions VALUES ($1, 'alice', $2, $2, $3, $3, 1800000, '192.0.2.1', 'Mozilla/5.0', '{"cart":[]}', 1)`,
			[]any{oldID, now, now.Add(time.Hour)}},
	} {
		if _, err := admin.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}

	s := open(t, url, noSweep)

	u, err := s.GetUser(ctx, "alice")
	if err != nil || u.Status != sessiond.UserActive || !u.HasRole("admin") || len(u.Roles()) != 2 ||
		string(u.Attributes()) != `{"plan":"pro"}` || !u.UpdatedAt.Equal(now) {
		t.Fatalf("user after the migration = %+v %v %s, %v", u, u.Roles(), u.Attributes(), err)
	}
	k, err := s.APIKeyByHash(ctx, strings.Repeat("f", 64))
	if err != nil || k != (apikey.Key{ID: "key_1", Name: "ci", Hash: strings.Repeat("f", 64), CreatedAt: now}) {
		t.Fatalf("API key after the migration = %+v, %v", k, err)
	}
	if redeemed, err := s.RedeemToken(ctx, "ott_1", now.Add(time.Hour)); err != nil || redeemed {
		t.Fatalf("a one-time token redeemed before the migration redeems again: %v, %v", redeemed, err)
	}
	if _, _, err := s.Lookup(ctx, oldID); !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("Lookup(previous version's id) = %v, want ErrNotFound", err)
	}
	if list, err := s.ListUserSessions(ctx, "alice"); err != nil || len(list) != 0 {
		t.Fatalf("alice's sessions after the migration = %d, %v; want none", len(list), err)
	}

	// The store works on the migrated database, the kept records included.
	m := sessiond.NewManager(s, keys, sessiond.Config{})
	tok, created, err := m.Create(ctx, sessiond.NewSession{UserID: "alice", Data: []byte(`{"cart":["tea"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	got, usr, err := m.Validate(ctx, tok)
	if err != nil || got.ID != created.ID || !usr.HasRole("admin") || string(got.Data()) != `{"cart":["tea"]}` {
		t.Fatalf("Validate on the migrated database = %+v %+v, %v", got, usr, err)
	}
	rotated, _, err := m.Rotate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := m.Validate(ctx, rotated); err != nil || got.ID != created.ID || got.Generation != 1 {
		t.Fatalf("rotated session = %+v, %v", got, err)
	}
	if _, _, err := m.Create(ctx, sessiond.NewSession{UserID: "mallory"}); !errors.Is(err, sessiond.ErrUserBanned) {
		t.Fatalf("Create for the banned user kept by the migration = %v, want ErrUserBanned", err)
	}
	if keys, err := s.ListAPIKeys(ctx); err != nil || len(keys) != 1 {
		t.Fatalf("ListAPIKeys = %v, %v", keys, err)
	}

	// Opening it again changes nothing.
	open(t, url, noSweep)
	if got, _, err := m.Validate(ctx, rotated); err != nil || got.ID != created.ID {
		t.Fatalf("after a second open: %v", err)
	}
	var highest int
	if err := admin.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&highest); err != nil || highest != 2 {
		t.Fatalf("schema version %d, %v; want 2", highest, err)
	}
}

// What the sessions table holds is no usable token: the stable id, and only
// the SHA-256 of the token's secret part.
func testTableHoldsNoToken(t *testing.T, url string) {
	s := open(t, url, noSweep)
	m := sessiond.NewManager(s, keys, sessiond.Config{})
	tok, created, err := m.Create(t.Context(), sessiond.NewSession{UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	var id, dump string
	var hash []byte
	if err := adminConn(t, url).QueryRow(t.Context(), `SELECT id, secret_hash, row_to_json(s)::text FROM sessions s`).
		Scan(&id, &hash, &dump); err != nil {
		t.Fatal(err)
	}
	secret := tok[strings.Index(tok, created.ID)+len(created.ID):]
	if id != created.ID || len(id) != 22 || !bytes.Equal(hash, created.SecretHash[:]) {
		t.Fatalf("stored id %q, hash %x; want %q, %x", id, hash, created.ID, created.SecretHash)
	}
	if strings.Contains(dump, secret) || strings.Contains(dump, tok) {
		t.Fatalf("the table holds the token's secret part: %s", dump)
	}
}

// The pool is the application's: Close leaves it open unless the store was
// given it to own. Bad options are refused.
func testNew(t *testing.T, url string) {
	pool := newPool(t, url)
	s, err := postgres.New(pool, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := pool.Ping(t.Context()); err != nil {
		t.Fatalf("the application's pool after Store.Close: %v", err)
	}

	owned, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	s, err = postgres.New(owned, postgres.Options{CloseClient: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := owned.Ping(t.Context()); err == nil {
		t.Fatal("CloseClient: the pool is still open after Store.Close")
	}

	if _, err := postgres.New(nil, postgres.Options{}); err == nil {
		t.Error("New(nil pool) succeeded")
	}
	for _, bad := range []string{"a-b", `"x"`, "x\x00y", "ü", "sess.inv", strings.Repeat("a", 64)} {
		if _, err := postgres.New(pool, postgres.Options{NotifyChannel: bad}); err == nil || !strings.Contains(err.Error(), "NotifyChannel") {
			t.Errorf("NotifyChannel %q: %v", bad, err)
		}
	}
}

// A store outage fails closed, fast — whether the server is gone
// (connections refused) or hung (it accepts connections and answers
// nothing, so that only the store's own timeout helps) — and heals by
// itself: the same Store works again once the server is back, and no
// committed session is lost.
func TestOutage(t *testing.T) {
	srv := testserver.Postgres(t)
	if os.Getenv("SESSIOND_TEST_POSTGRES_URL") != "" {
		t.Skip("an outage test stops the server: it needs one of its own")
	}
	const opTimeout = time.Second
	s := open(t, srv.URL, postgres.Options{OpTimeout: opTimeout, SweepInterval: -1})
	m := sessiond.NewManager(s, keys, sessiond.Config{})
	// A caller with a long deadline of its own: the store's bound must win.
	ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
	defer cancel()
	tok, before, err := m.Create(ctx, sessiond.NewSession{UserID: "before-the-outage", Data: []byte(`{"cart":["tea"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Lookup":   func() error { _, _, err := s.Lookup(ctx, before.ID); return err },
		"Create":   func() error { _, _, err := m.Create(ctx, sessiond.NewSession{UserID: "during"}); return err },
		"Validate": func() error { _, _, err := m.Validate(ctx, tok); return err },
		"PutUser": func() error {
			_, err := m.PutUser(ctx, sessiond.User{ID: "during", Status: sessiond.UserBanned})
			return err
		},
		"Ping": func() error { return s.Ping(ctx) },
	}
	failFast := func(state string) {
		t.Helper()
		var wg sync.WaitGroup
		for name, call := range calls {
			wg.Go(func() {
				start := time.Now()
				err := call()
				took := time.Since(start)
				t.Logf("%s, server %s: %v after %v", name, state, err, took.Round(time.Millisecond))
				var domain *sessiond.Error
				if err == nil || errors.As(err, &domain) {
					t.Errorf("%s with the server %s = %v; want a store error, not a domain answer", name, state, err)
				}
				if took > opTimeout+time.Second {
					t.Errorf("%s with the server %s took %v; want an error within the op timeout (%v)", name, state, took, opTimeout)
				}
			})
		}
		wg.Wait()
	}
	worksAgain := func(state string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for s.Ping(ctx) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("the store did not recover within 10s of the server being %s", state)
			}
			time.Sleep(50 * time.Millisecond)
		}
		got, _, err := m.Validate(ctx, tok)
		if err != nil {
			t.Fatalf("session committed before the outage, server %s: %v", state, err)
		}
		if string(got.Data()) != `{"cart":["tea"]}` || !got.CreatedAt.Equal(before.CreatedAt) {
			t.Fatalf("session after the server %s = %+v %s", state, got, got.Data())
		}
		if _, _, err := m.Create(ctx, sessiond.NewSession{UserID: "after"}); err != nil {
			t.Fatalf("Create after the server %s: %v", state, err)
		}
	}

	thaw := freeze(t, srv.URL)
	failFast("hung")
	thaw()
	worksAgain("resumed")

	srv.Stop(t)
	failFast("stopped")
	srv.Start(t)
	worksAgain("restarted")
}

// freeze stops (SIGSTOP) the PostgreSQL server of url: the postmaster and
// every process it forked, so that it still accepts TCP connections (the
// kernel does) but answers nothing, like a hung host. It returns once every
// process is stopped, and returns the thaw.
func freeze(t *testing.T, url string) (thaw func()) {
	t.Helper()
	var backend int
	if err := adminConn(t, url).QueryRow(t.Context(), `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		t.Fatal(err)
	}
	postmaster := parentPID(t, backend)
	pids := []int{postmaster}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, stat := range stats {
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(stat)))
		if b, err := os.ReadFile(stat); err == nil && statField(b, 1) == strconv.Itoa(postmaster) {
			pids = append(pids, pid)
		}
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Skipf("cannot stop the server's process %d: %v", pid, err)
		}
	}
	thawed := false
	thaw = func() {
		if !thawed {
			thawed = true
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGCONT)
			}
		}
	}
	t.Cleanup(thaw)
	// SIGSTOP takes effect asynchronously: a process still running could
	// answer what the test expects to hang.
	for _, pid := range pids {
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil || statField(b, 0) == "T" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("process %d did not stop", pid)
			}
		}
	}
	return thaw
}

// parentPID reads the parent of pid from /proc.
func parentPID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Skipf("the server's processes are not visible here: %v", err)
	}
	ppid, err := strconv.Atoi(statField(b, 1))
	if err != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	return ppid
}

// statField returns a field of /proc/<pid>/stat counted after the command
// name (which is in parentheses and may hold spaces): 0 is the state, 1 the
// parent's pid.
func statField(stat []byte, i int) string {
	j := bytes.LastIndexByte(stat, ')')
	if j < 0 {
		return ""
	}
	fields := strings.Fields(string(stat[j+1:]))
	if i >= len(fields) {
		return ""
	}
	return fields[i]
}

// The background sweeper deletes expired sessions by itself.
func testSweeper(t *testing.T, url string) {
	s := open(t, url, postgres.Options{SweepInterval: 100 * time.Millisecond})
	m := sessiond.NewManager(s, keys, sessiond.Config{})
	_, short, err := m.Create(t.Context(), sessiond.NewSession{UserID: "u", IdleTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, long, err := m.Create(t.Context(), sessiond.NewSession{UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, err := s.Lookup(t.Context(), short.ID)
		if errors.Is(err, sessiond.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired session still stored after 5s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, _, err := s.Lookup(t.Context(), long.ID); err != nil {
		t.Fatalf("the sweeper took a live session: %v", err)
	}
}

// Session data and user attributes come back byte for byte, including what
// jsonb would rewrite or refuse (key order, duplicate keys, "\u0000") and
// invalid UTF-8 that Go's JSON decoder lets through: nothing the Manager
// accepts may become a store error.
func testJSONKeptExactly(t *testing.T, url string) {
	s := open(t, url, noSweep)
	m := sessiond.NewManager(s, keys, sessiond.Config{})
	ctx := t.Context()
	for _, data := range []string{
		`{"b":1,"a":2}`,
		`{"a":1,"a":2}`,
		`{"nul":"\u0000","n":12345678901234567890.5e-3}`,
	} {
		tok, _, err := m.Create(ctx, sessiond.NewSession{UserID: "u", Data: []byte(data)})
		if err != nil {
			t.Fatalf("Create(%q): %v", data, err)
		}
		got, _, err := m.Validate(ctx, tok)
		if err != nil || string(got.Data()) != data {
			t.Fatalf("data %q came back as %q, %v", data, got.Data(), err)
		}
		if _, err := m.PutUser(ctx, sessiond.User{ID: "u", Status: sessiond.UserActive}.WithAttributes([]byte(data))); err != nil {
			t.Fatalf("PutUser(attributes %q): %v", data, err)
		}
		if u, err := s.GetUser(ctx, "u"); err != nil || string(u.Attributes()) != data {
			t.Fatalf("attributes %q came back as %s, %v", data, u.Attributes(), err)
		}
	}
}

// The store's optional capabilities, with the signatures their users
// (nearcache, the server, server/onetime, the sweeper) ask for: a mismatch
// would make the conformance suite skip them, not fail.
var (
	_ nearcache.Source = (*postgres.Store)(nil)
	_ interface {
		CreateAPIKey(ctx context.Context, k apikey.Key) error
		APIKeyByHash(ctx context.Context, hash string) (apikey.Key, error)
		ListAPIKeys(ctx context.Context) ([]apikey.Key, error)
		DeleteAPIKey(ctx context.Context, id string) error
		RedeemToken(ctx context.Context, id string, expires time.Time) (bool, error)
		DeleteExpired(ctx context.Context, now time.Time) (int, error)
	} = (*postgres.Store)(nil)
)
