package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"

	"github.com/sessiond/sessiond/internal/storeop"
)

// migrations are applied in order, each once, recorded in schema_migrations.
// Append only: a released migration never changes.
//
// Times are Unix milliseconds (the Manager's precision); ids and hashes are
// compared byte for byte (TEXT columns keep SQLite's BINARY collation).
var migrations = []string{
	1: `
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
);`,
	2: `
CREATE TABLE redeemed_tokens (
	id         TEXT PRIMARY KEY,
	expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX redeemed_tokens_expires_at ON redeemed_tokens (expires_at);`,
	// 3: the stable session id. A session's id was the SHA-256 of its
	// token; it is now 16 random bytes (22 characters of base64url) chosen
	// at creation and kept through every rotation, with the credential
	// beside it: the generation, the SHA-256 of the current token's secret
	// part (never the token) and when it last rotated. The old ids cannot
	// be turned into new ones (nothing stored leads back to a token), so
	// the sessions of the previous version end and their holders sign in
	// again; users, API keys and redeemed one-time tokens stay.
	3: `
DROP TABLE sessions;
CREATE TABLE sessions (
	id              TEXT PRIMARY KEY CHECK (length(id) = 22),
	user_id         TEXT NOT NULL,
	created_at      INTEGER NOT NULL,
	auth_time       INTEGER NOT NULL,
	last_seen_at    INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL,
	idle_expires_at INTEGER NOT NULL,
	idle_timeout_ms INTEGER NOT NULL,
	client_ip       TEXT NOT NULL DEFAULT '',
	user_agent      TEXT NOT NULL DEFAULT '',
	data            TEXT NOT NULL DEFAULT '{}',
	version         INTEGER NOT NULL,
	generation      INTEGER NOT NULL,
	secret_hash     BLOB NOT NULL CHECK (typeof(secret_hash) = 'blob' AND length(secret_hash) = 32),
	rotated_at      INTEGER
) WITHOUT ROWID;
CREATE INDEX sessions_user_id ON sessions (user_id, created_at);
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at);`,
}

// minVersion is the oldest SQLite the store's SQL runs on (RETURNING came
// in 3.35.0); it matters for a *sql.DB given to New, whose driver may link
// an older library.
const minVersion = 3_035_000

// migrate brings the schema up to date in one write transaction, so a crash
// leaves the previous version whole, and two processes opening one file
// migrate one after the other. It runs on a connection of its own with an
// explicit BEGIN IMMEDIATE, which takes the write lock up front whatever
// the DSN of a *sql.DB given to New says.
func (s *Store) migrate(ctx context.Context) (err error) {
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return storeop.Wrap(engine, "migrate", err)
	}
	defer conn.Close()
	var text string
	if err := conn.QueryRowContext(ctx, `SELECT sqlite_version()`).Scan(&text); err != nil {
		return storeop.Wrap(engine, "migrate", err)
	}
	var major, minor, patch int
	fmt.Sscanf(text, "%d.%d.%d", &major, &minor, &patch)
	if version := major*1_000_000 + minor*1_000 + patch; version < minVersion {
		return fmt.Errorf("sqlite: SQLite %s is older than 3.35.0 (RETURNING); upgrade the driver", text)
	}

	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return storeop.Wrap(engine, "migrate", err)
	}
	defer func() {
		if err == nil {
			return
		}
		// The caller's ctx may be what failed: roll back regardless. If
		// even that fails, the connection's state is unknown; drop it
		// rather than hand it back to the pool mid-transaction.
		if _, rbErr := conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`); rbErr != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
		return storeop.Wrap(engine, "migrate", err)
	}
	var current int
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return storeop.Wrap(engine, "migrate", err)
	}
	if current >= len(migrations) {
		return fmt.Errorf("sqlite: the database's schema (version %d) is newer than this sessiond's (%d)", current, len(migrations)-1)
	}
	for v := current + 1; v < len(migrations); v++ {
		if _, err := conn.ExecContext(ctx, migrations[v]); err != nil {
			return storeop.Wrap(engine, fmt.Sprintf("migration %d", v), err)
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, v); err != nil {
			return storeop.Wrap(engine, fmt.Sprintf("migration %d", v), err)
		}
	}
	_, err = conn.ExecContext(ctx, `COMMIT`)
	return storeop.Wrap(engine, "migrate", err)
}
