package sqlite_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/server/apikey"
	"github.com/sessiond/sessiond/stores/sqlite"
)

// previousSchema is the DDL of the version before the stable session id
// (git show f54405e:stores/sqlite/schema.go, migrations 1 and 2), as its
// migrate left a database: each migration recorded in schema_migrations.
const previousSchema = `
CREATE TABLE sessions (
	id              TEXT PRIMARY KEY,
	user_id         TEXT NOT NULL,
	created_at      INTEGER NOT NULL,
	last_seen_at    INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL,
	idle_expires_at INTEGER NOT NULL,
	idle_timeout_ms INTEGER NOT NULL,
	client_ip       TEXT NOT NULL DEFAULT '',
	user_agent      TEXT NOT NULL DEFAULT '',
	data            TEXT NOT NULL DEFAULT '{}',
	version         INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at);
CREATE TABLE users (
	id         TEXT PRIMARY KEY,
	status     TEXT NOT NULL,
	roles      TEXT NOT NULL DEFAULT '[]',
	attributes TEXT NOT NULL DEFAULT '{}',
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE api_keys (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	hash       TEXT NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
);
CREATE TABLE redeemed_tokens (
	id         TEXT PRIMARY KEY,
	expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX redeemed_tokens_expires_at ON redeemed_tokens (expires_at);
CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY);
INSERT INTO schema_migrations (version) VALUES (1), (2);`

// previousDB writes a database as the previous version left it: a user, an
// API key, a redeemed one-time token and a session (its id the SHA-256 of
// its token, in hex).
func previousDB(t *testing.T, path string, key apikey.Key) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UnixMilli()
	for _, stmt := range []struct {
		query string
		args  []any
	}{
		{previousSchema, nil},
		{`INSERT INTO users (id, status, roles, attributes, updated_at) VALUES (?, 'active', '["admin","customer"]', '{"plan":"pro"}', ?)`,
			[]any{"alice", now}},
		{`INSERT INTO api_keys (id, name, hash, created_at) VALUES (?, ?, ?, ?)`,
			[]any{key.ID, key.Name, key.Hash, key.CreatedAt.UnixMilli()}},
		{`INSERT INTO redeemed_tokens (id, expires_at) VALUES ('ott_used', ?)`, []any{now + time.Hour.Milliseconds()}},
		{`INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, idle_expires_at, idle_timeout_ms, client_ip, user_agent, data, version)
VALUES ('9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', 'alice', ?, ?, ?, ?, 1800000, '203.0.113.9', 'old browser', '{"cart":[1]}', 3)`,
			[]any{now, now, now + 30*24*time.Hour.Milliseconds(), now + 30*time.Minute.Milliseconds()}},
	} {
		if _, err := db.ExecContext(t.Context(), stmt.query, stmt.args...); err != nil {
			t.Fatal(err)
		}
	}
}

// A database of the previous version opens: its sessions end (their ids
// were hashes of tokens, from which no stable id can be made), its users,
// API keys and redeemed one-time tokens stay, and the store works.
func TestMigrateFromPrevious(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sessiond.db")
	_, key := apikey.New("deploy", time.Now())
	previousDB(t, path, key)

	for round := range 2 { // the second open finds nothing to migrate
		s, err := sqlite.Open(t.Context(), path, sqlite.Options{SweepInterval: -1})
		if err != nil {
			t.Fatalf("open %d: %v", round, err)
		}
		ctx := t.Context()
		u, err := s.GetUser(ctx, "alice")
		if err != nil || u.Status != sessiond.UserActive || !u.HasRole("admin") || !u.HasRole("customer") || string(u.Attributes()) != `{"plan":"pro"}` {
			t.Fatalf("open %d: the user did not survive: %+v %v, %v", round, u.Roles(), u, err)
		}
		got, err := s.APIKeyByHash(ctx, key.Hash)
		if err != nil || got != key {
			t.Fatalf("open %d: the API key did not survive: %+v, %v; want %+v", round, got, err, key)
		}
		if redeemed, err := s.RedeemToken(ctx, "ott_used", time.Now().Add(time.Hour)); err != nil || redeemed {
			t.Fatalf("open %d: a one-time token redeemed before the migration redeems again: %v, %v", round, redeemed, err)
		}

		m := sessiond.NewManager(s, keys(t), sessiond.Config{})
		if round == 0 {
			if list, err := s.ListUserSessions(ctx, "alice"); err != nil || len(list) != 0 {
				t.Fatalf("the previous version's sessions are still listed: %v, %v", list, err)
			}
		}
		tok, created, err := m.Create(ctx, sessiond.NewSession{UserID: "alice", Client: sessiond.Client{UserAgent: "new browser"}})
		if err != nil {
			t.Fatal(err)
		}
		sess, usr, err := m.Validate(ctx, tok)
		if err != nil || sess.ID != created.ID || !usr.HasRole("admin") {
			t.Fatalf("Validate after migration: %+v %+v, %v", sess, usr, err)
		}
		newTok, rotated, err := m.Rotate(ctx, tok)
		if err != nil || rotated.ID != created.ID || rotated.Generation != 1 {
			t.Fatalf("Rotate after migration: %+v, %v", rotated, err)
		}
		if _, _, err := m.Validate(ctx, tok); !errors.Is(err, sessiond.ErrTokenRotated) {
			t.Fatalf("the rotated-away token: %v, want ErrTokenRotated", err)
		}
		if _, _, err := m.Validate(ctx, newTok); err != nil {
			t.Fatal(err)
		}
		if list, err := m.ListUserSessions(ctx, "alice"); err != nil || len(list) != round+1 {
			t.Fatalf("open %d: %d sessions listed, %v; want %d", round, len(list), err, round+1)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version, old int
	if err := db.QueryRowContext(t.Context(), `SELECT MAX(version) FROM schema_migrations`).Scan(&version); err != nil || version != 3 {
		t.Fatalf("schema version %d, %v; want 3", version, err)
	}
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM sessions WHERE length(id) <> 22`).Scan(&old); err != nil || old != 0 {
		t.Fatalf("%d sessions of the previous version are left, %v", old, err)
	}
}

// A database migrated by a newer sessiond is refused, not misread.
func TestRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sessiond.db")
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), `INSERT INTO schema_migrations (version) VALUES (99)`); err != nil {
		t.Fatal(err)
	}
	if s, err := sqlite.Open(t.Context(), path, sqlite.Options{SweepInterval: -1}); err == nil {
		s.Close()
		t.Fatal("a schema newer than the store's was accepted")
	}
}
