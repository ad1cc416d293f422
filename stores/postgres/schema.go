package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/storeop"
)

// migrationLock is the pg_advisory_xact_lock key that serialises
// migrations: "sessiond" in ASCII. Nodes starting at once wait for each
// other, and each applies only what the one before it left undone.
const migrationLock int64 = 0x73657373696f6e64

// migrations are applied in order, each once, recorded in schema_migrations.
// Append only: a released migration never changes.
//
// Choices worth knowing:
//   - ids are text COLLATE "C": equality is byte equality under any
//     deterministic collation anyway, and "C" makes the B-tree compare bytes
//     instead of calling the locale's strcoll. Session ids are 22
//     characters of base64url (ASCII); user ids are arbitrary UTF-8.
//   - data and attributes are bytea holding the JSON text exactly as the
//     Manager normalised it. jsonb would reorder keys, drop duplicates and
//     reject "\u0000", and both json and text reject invalid UTF-8 that Go's
//     JSON decoder lets through: a value the Manager accepted must never turn
//     into a store error (a 503) here. Operators can still query it with
//     convert_from(data, 'UTF8')::jsonb.
//   - the credential is the generation (a uint32: bigint, checked), the
//     SHA-256 of the current token's secret part (never the token) and
//     when it was last rotated (NULL: never).
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

	// 2: stable session ids. The previous version's session ids were the
	// SHA-256 of the token, and it kept no hash of a secret: its rows
	// cannot become sessions of this version, whose tokens carry the id
	// and a credential. Nor could their tokens be validated (the token
	// format changed), so replacing the table signs nobody out who was not
	// signed out by the upgrade anyway. Users, API keys and redeemed
	// one-time tokens are kept.
	2: `
DROP TABLE sessions;
CREATE TABLE sessions (
	id              text COLLATE "C" PRIMARY KEY,
	user_id         text COLLATE "C" NOT NULL,
	created_at      timestamptz NOT NULL,
	auth_time       timestamptz NOT NULL,
	last_seen_at    timestamptz NOT NULL,
	expires_at      timestamptz NOT NULL,
	idle_expires_at timestamptz NOT NULL,
	idle_timeout_ms bigint NOT NULL,
	client_ip       text NOT NULL DEFAULT '',
	user_agent      text NOT NULL DEFAULT '',
	data            bytea NOT NULL,
	version         bigint NOT NULL,
	generation      bigint NOT NULL CHECK (generation BETWEEN 0 AND 4294967295),
	secret_hash     bytea NOT NULL CHECK (octet_length(secret_hash) = 32),
	rotated_at      timestamptz
);
CREATE INDEX sessions_user_id ON sessions (user_id, created_at);
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at);`,
}

// migrate brings the schema up to date in one transaction that holds the
// migration lock, so that several nodes starting at once are safe: the lock
// is taken before anything else, even before schema_migrations is created,
// since two concurrent CREATE TABLE IF NOT EXISTS can still collide. A
// failed migration rolls back whole: the schema is at one version or the
// next, never half-way.
func (s *Store) migrate(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
)`); err != nil {
			return err
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return err
		}
		for v := current + 1; v < len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, v); err != nil {
				return err
			}
		}
		return nil
	})
	return storeop.Wrap(engine, "migrate", err)
}
