package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migrations are applied in order, each once, recorded in
// schema_migrations. Append only: a released migration never changes.
//
// DDL is not transactional in MySQL (each statement commits), so every
// statement is written to be re-runnable (IF NOT EXISTS, indexes inside
// CREATE TABLE): a migration cut off half-way completes on the next start.
//
// Every table names its engine, character set and collation rather than
// inheriting the server's defaults, which differ between MySQL 8 (utf8mb4)
// and many MariaDB installations (latin1).
var migrations = [][]string{
	1: {`
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
	},
}

// migrateLock is the server-wide advisory lock that serialises migrations
// of nodes starting together; migrateLockWait is how long a node waits for
// another's migration before giving up.
const (
	migrateLock     = "sessiond_migrate"
	migrateLockWait = 30 * time.Second
)

func (s *Store) migrate(ctx context.Context) error {
	// GET_LOCK belongs to a connection: hold one for the whole migration.
	// If the node dies, the server drops the connection and the lock.
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("mysql: migrate: %w", err)
	}
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(?, ?)`, migrateLock, int(migrateLockWait/time.Second)).Scan(&got); err != nil {
		return fmt.Errorf("mysql: migrate: %w", err)
	}
	if got.Int64 != 1 {
		return fmt.Errorf("mysql: migrate: another node held the %q lock for %s", migrateLock, migrateLockWait)
	}
	defer func() {
		// A fresh context: release even if ctx has ended. A release can
		// only fail with the connection, and the server releases the locks
		// of a connection it loses.
		rctx, cancel := context.WithTimeout(context.Background(), defaultOpTimeout)
		defer cancel()
		conn.ExecContext(rctx, `DO RELEASE_LOCK(?)`, migrateLock)
	}()

	if _, err := conn.ExecContext(ctx, `
CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INT         NOT NULL PRIMARY KEY,
	applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`); err != nil {
		return fmt.Errorf("mysql: migrate: %w", err)
	}
	var current int
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("mysql: migrate: %w", err)
	}
	for v := current + 1; v < len(migrations); v++ {
		for _, stmt := range migrations[v] {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("mysql: migration %d: %w", v, err)
			}
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, v); err != nil {
			return fmt.Errorf("mysql: migration %d: %w", v, err)
		}
	}
	return nil
}
