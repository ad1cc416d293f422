package sqlite

import (
	"context"
	"fmt"
)

// migrations are applied in order, each once, recorded in schema_migrations.
// Append only: a released migration never changes.
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
}

func (s *Store) migrate(ctx context.Context) error {
	// _txlock=immediate: the transaction takes the write lock up front, so
	// two processes opening the same file migrate one after the other.
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	for v := current + 1; v < len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("sqlite: migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, v); err != nil {
			return fmt.Errorf("sqlite: migration %d: %w", v, err)
		}
	}
	return tx.Commit()
}
