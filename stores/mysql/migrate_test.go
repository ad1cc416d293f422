package mysql

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testserver"
	"github.com/sessiond/sessiond/storetest"
)

// previousSchema is what the previous version of this store created
// (git show f54405e:stores/mysql/schema.go: schema_migrations and migration
// 1), copied here so that the test keeps checking the upgrade from what was
// released, whatever becomes of schema.go.
var previousSchema = []string{`
CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INT         NOT NULL PRIMARY KEY,
	applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`, `
CREATE TABLE IF NOT EXISTS sessions (
	id              VARBINARY(64)  NOT NULL,
	user_id         VARBINARY(256) NOT NULL,
	created_at      DATETIME(3)    NOT NULL,
	last_seen_at    DATETIME(3)    NOT NULL,
	expires_at      DATETIME(3)    NOT NULL,
	idle_expires_at DATETIME(3)    NOT NULL,
	idle_timeout_ms BIGINT         NOT NULL,
	client_ip       VARCHAR(64)    NOT NULL DEFAULT '',
	user_agent      VARCHAR(512)   NOT NULL DEFAULT '',
	data            LONGBLOB       NOT NULL,
	version         BIGINT         NOT NULL,
	PRIMARY KEY (id),
	INDEX sessions_user_id (user_id),
	INDEX sessions_idle_expires_at (idle_expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`, `
CREATE TABLE IF NOT EXISTS users (
	id         VARBINARY(256) NOT NULL,
	status     VARCHAR(16)    NOT NULL,
	roles      BLOB           NOT NULL,
	attributes MEDIUMBLOB     NOT NULL,
	updated_at DATETIME(3)    NOT NULL,
	PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`, `
CREATE TABLE IF NOT EXISTS api_keys (
	id         VARBINARY(128) NOT NULL,
	name       VARCHAR(1024)  NOT NULL,
	hash       VARBINARY(128) NOT NULL,
	created_at DATETIME(3)    NOT NULL,
	PRIMARY KEY (id),
	UNIQUE INDEX api_keys_hash (hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`, `
CREATE TABLE IF NOT EXISTS redeemed_tokens (
	id         VARBINARY(255) NOT NULL,
	expires_at DATETIME(3)    NOT NULL,
	PRIMARY KEY (id),
	INDEX redeemed_tokens_expires_at (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	`INSERT INTO schema_migrations (version) VALUES (1)`,
}

// A database written by the previous version — a user, an API key, a
// redeemed one-time token and a session (its id the SHA-256 of its token)
// — is migrated by New: the user, the key and the ledger entry survive
// byte for byte, the old session is gone (no token of the previous version
// could validate), and the store passes the conformance suite.
func TestMigrateFromPreviousVersion(t *testing.T) {
	srv := testserver.MariaDB(t)
	// The previous version's connections: utf8mb4, binary collation.
	old := openDB(t, srv.URL, map[string]string{"collation": "utf8mb4_bin"})
	ctx := t.Context()
	for _, stmt := range previousSchema {
		if _, err := old.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("previous schema: %v\n%s", err, stmt)
		}
	}
	const (
		user    = "alice-ü-😀"
		keyName = "ci ключ 😀"
		ottID   = "ott:previous-version"
	)
	keyHash := strings.Repeat("ab", 32)
	oldSessionID := hex.EncodeToString(func() []byte { h := sha256.Sum256([]byte("a previous token")); return h[:] }())
	for _, w := range []struct {
		query string
		args  []any
	}{
		{`INSERT INTO users (id, status, roles, attributes, updated_at) VALUES (?, 'active', '["admin","customer"]', '{"plan":"pro"}', '2025-01-02 03:04:05.678')`, []any{user}},
		{`INSERT INTO api_keys (id, name, hash, created_at) VALUES ('key_0123456789ab', ?, ?, '2025-01-02 03:04:05.678')`, []any{keyName, keyHash}},
		{`INSERT INTO redeemed_tokens (id, expires_at) VALUES (?, ?)`, []any{ottID, dbTime(time.Now().Add(time.Hour))}},
		{`INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, idle_expires_at, idle_timeout_ms, client_ip, user_agent, data, version)
VALUES (?, ?, '2025-01-02 03:04:05.678', '2025-01-02 03:04:05.678', '2099-01-01 00:00:00', '2099-01-01 00:00:00', 1800000, '192.0.2.1', 'Mozilla/5.0', '{"cart":[]}', 1)`, []any{oldSessionID, user}},
	} {
		if _, err := old.ExecContext(ctx, w.query, w.args...); err != nil {
			t.Fatalf("previous data: %v", err)
		}
	}

	s := newStore(t, openDB(t, srv.URL, recommended), Options{})

	var versions []int
	rows, err := s.db.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		rows.Scan(&v)
		versions = append(versions, v)
	}
	rows.Close()
	if len(versions) != len(migrations)-1 || versions[len(versions)-1] != len(migrations)-1 {
		t.Fatalf("schema_migrations after the upgrade = %v", versions)
	}

	u, err := s.GetUser(ctx, user)
	if err != nil {
		t.Fatalf("the previous version's user: %v", err)
	}
	want := time.Date(2025, 1, 2, 3, 4, 5, 678e6, time.UTC)
	if u.Status != sessiond.UserActive || !u.HasRole("admin") || len(u.Roles()) != 2 || string(u.Attributes()) != `{"plan":"pro"}` || !u.UpdatedAt.Equal(want) {
		t.Fatalf("user after the upgrade = %+v %v %s", u, u.Roles(), u.Attributes())
	}
	k, err := s.APIKeyByHash(ctx, keyHash)
	if err != nil {
		t.Fatalf("the previous version's API key: %v", err)
	}
	if k.ID != "key_0123456789ab" || k.Name != keyName || !k.CreatedAt.Equal(want) {
		t.Fatalf("API key after the upgrade = %+v", k)
	}
	if redeemed, err := s.RedeemToken(ctx, ottID, time.Now().Add(time.Hour)); err != nil || redeemed {
		t.Fatalf("a token redeemed before the upgrade: RedeemToken = %v, %v; want false (already redeemed)", redeemed, err)
	}
	if list, err := s.ListUserSessions(ctx, user); err != nil || len(list) != 0 {
		t.Fatalf("the previous version's session after the upgrade: %d, %v; want gone", len(list), err)
	}

	// The new table's shape: the credential columns, byte-exact ids.
	type column struct{ name, typ string }
	for _, c := range []column{
		{"id", "varbinary(22)"}, {"generation", "int(10) unsigned"}, {"secret_hash", "binary(32)"},
		{"rotated_at", "datetime(3)"}, {"auth_time", "datetime(3)"}, {"user_agent", "varbinary(512)"},
	} {
		var typ string
		err := s.db.QueryRowContext(ctx, `SELECT COLUMN_TYPE FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'sessions' AND COLUMN_NAME = ?`, c.name).Scan(&typ)
		if err != nil || strings.ReplaceAll(typ, "int(10)", "int") != strings.ReplaceAll(c.typ, "int(10)", "int") {
			t.Errorf("sessions.%s: %q, %v; want %s", c.name, typ, err, c.typ)
		}
	}

	// The user's record still governs new sessions.
	m := sessiond.NewManager(s, keys, sessiond.Config{})
	tok, created, err := m.Create(ctx, sessiond.NewSession{UserID: user, Data: json.RawMessage(`{"cart":["tea"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	got, gotUser, err := m.Validate(ctx, tok)
	if err != nil || got.ID != created.ID || !gotUser.HasRole("admin") {
		t.Fatalf("Validate after the upgrade = %+v, %v, %v", got, gotUser.Roles(), err)
	}
	newTok, rotated, err := m.Rotate(ctx, tok)
	if err != nil || rotated.ID != created.ID || rotated.Generation != 1 {
		t.Fatalf("Rotate after the upgrade = %+v, %v", rotated, err)
	}
	if _, _, err := m.Validate(ctx, tok); !errors.Is(err, sessiond.ErrTokenRotated) {
		t.Fatalf("the rotated-away token: %v, want ErrTokenRotated", err)
	}
	if _, _, err := m.Validate(ctx, newTok); err != nil {
		t.Fatalf("the new token: %v", err)
	}

	storetest.Run(t, s)
}

// A database that holds another migration tool's schema_migrations (here
// golang-migrate's, at its version 1) is refused before any DDL: run
// blindly, migration 2 would drop the application's own sessions table.
func TestRefusesForeignSchemaMigrations(t *testing.T) {
	srv := testserver.MariaDB(t)
	db := openDB(t, srv.URL, recommended)
	ctx := t.Context()
	for _, stmt := range []string{
		`CREATE TABLE schema_migrations (version BIGINT NOT NULL PRIMARY KEY, dirty BOOLEAN NOT NULL)`,
		`INSERT INTO schema_migrations VALUES (1, FALSE)`,
		`CREATE TABLE sessions (id INT PRIMARY KEY, note TEXT)`,
		`INSERT INTO sessions VALUES (1, 'the application''s own')`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	s, err := New(db, Options{})
	if err == nil {
		s.Close()
		t.Fatal("New adopted another tool's schema_migrations")
	}
	if !strings.Contains(err.Error(), "not sessiond's") {
		t.Fatalf("New = %v; want it to name the foreign schema_migrations", err)
	}
	var note string
	if err := db.QueryRowContext(ctx, `SELECT note FROM sessions WHERE id = 1`).Scan(&note); err != nil || note != "the application's own" {
		t.Fatalf("the application's sessions table: %q, %v", note, err)
	}
}
