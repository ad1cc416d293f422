package postgres

import (
	"context"
	"fmt"
	"time"
)

// migrationLock is the pg_advisory_xact_lock key that serialises
// migrations: "sessiond" in ASCII. Nodes starting at once wait for each
// other, and each applies only what the one before it left undone.
const migrationLock int64 = 0x73657373696f6e64

// migrateTimeout bounds Open's migration, which may wait for another node's.
const migrateTimeout = 30 * time.Second

// migrations are applied in order, each once, recorded in schema_migrations.
// Append only: a released migration never changes.
//
// Choices worth knowing:
//   - ids are text COLLATE "C": equality is byte equality under any
//     deterministic collation anyway, and "C" makes the B-tree compare bytes
//     instead of calling the locale's strcoll. User ids are arbitrary UTF-8.
//   - data and attributes are bytea holding the JSON text exactly as the
//     Manager normalised it. jsonb would reorder keys, drop duplicates and
//     reject "\u0000", and both json and text reject invalid UTF-8 that Go's
//     JSON decoder lets through: a value the Manager accepted must never turn
//     into a store error (a 503) here. Operators can still query it with
//     convert_from(data, 'UTF8')::jsonb.
//   - the idle timeout is kept in milliseconds, like every time in sessiond.
//   - sessions_user_id is the per-user index; with created_at in it, a
//     user's sessions come out in order without a sort.
//   - sessions_idle_expires_at serves the sweeper; the idle expiry is never
//     later than the absolute one.
var migrations = []string{
	1: `
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
CREATE INDEX redeemed_tokens_expires_at ON redeemed_tokens (expires_at);`,
}

// migrate brings the schema up to date in one transaction that holds the
// migration lock, so that several nodes starting at once are safe: the lock
// is taken before anything else, even before schema_migrations is created,
// since two concurrent CREATE TABLE IF NOT EXISTS can still collide.
func (s *Store) migrate(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
)`); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	for v := current + 1; v < len(migrations); v++ {
		if _, err := tx.Exec(ctx, migrations[v]); err != nil {
			return fmt.Errorf("postgres: migration %d: %w", v, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, v); err != nil {
			return fmt.Errorf("postgres: migration %d: %w", v, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}
