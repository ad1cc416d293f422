package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/sessiond/sessiond/internal/storeop"
)

// migrations are applied in order, each once, recorded in
// schema_migrations. Append only: a released migration never changes.
//
// DDL is not transactional in MySQL (each statement commits), so every
// statement is written to be re-runnable (IF [NOT] EXISTS, indexes inside
// CREATE TABLE, MODIFY to a fixed type): a migration cut off half-way
// completes on the next start.
//
// Every table names its engine, character set and collation rather than
// inheriting the server's defaults, which differ between MySQL 8 (utf8mb4)
// and many MariaDB installations (latin1). Since migration 2 every id and
// text the store keeps is binary (VARBINARY, BLOB), so neither those
// defaults nor the connection's character set can change a byte of it:
// user ids compare byte for byte ("Ａ", "A" and "a" are three users), and
// JSON comes back exactly as written (MySQL's JSON type would reorder keys
// and reformat numbers).
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

	// 2: stable session ids. The previous version's session ids were the
	// SHA-256 of the token, and it kept no hash of a secret: its rows
	// cannot become sessions of this version, whose tokens carry the id
	// and a credential. Nor could their tokens be validated (the token
	// format changed), so replacing the table signs nobody out who was not
	// signed out by the upgrade anyway. Users, API keys and redeemed
	// one-time tokens are kept. Nodes of the previous version must be
	// stopped first: they cannot write the new table.
	//
	// The session id is 22 characters of base64url, byte for byte. The
	// credential is the generation (a uint32), the SHA-256 of the current
	// token's secret part (never the token) and when it was last rotated
	// (NULL: never). The client's IP and user agent are binary too (the
	// Manager keeps them valid UTF-8). The user index holds created_at, so
	// a user's sessions come out in order without a sort.
	//
	// API key names become binary, like every other text, so that a
	// connection in latin1 or utf8mb3 stores an emoji in a name unchanged
	// (MODIFY keeps the bytes: utf8mb4 text becomes its UTF-8 encoding).
	2: {`
DROP TABLE IF EXISTS sessions`, `
CREATE TABLE IF NOT EXISTS sessions (
	id              VARBINARY(22)  NOT NULL,
	user_id         VARBINARY(256) NOT NULL,
	created_at      DATETIME(3)    NOT NULL,
	auth_time       DATETIME(3)    NOT NULL,
	last_seen_at    DATETIME(3)    NOT NULL,
	expires_at      DATETIME(3)    NOT NULL,
	idle_expires_at DATETIME(3)    NOT NULL,
	idle_timeout_ms BIGINT         NOT NULL,
	client_ip       VARBINARY(64)  NOT NULL DEFAULT '',
	user_agent      VARBINARY(512) NOT NULL DEFAULT '',
	data            LONGBLOB       NOT NULL,
	version         BIGINT         NOT NULL,
	generation      INT UNSIGNED   NOT NULL,
	secret_hash     BINARY(32)     NOT NULL,
	rotated_at      DATETIME(3)    NULL,
	PRIMARY KEY (id),
	INDEX sessions_user_id (user_id, created_at),
	INDEX sessions_idle_expires_at (idle_expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`, `
ALTER TABLE api_keys MODIFY name VARBINARY(1024) NOT NULL`,
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
		return storeop.Wrap(engine, "migrate", err)
	}
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(?, ?)`, migrateLock, int(migrateLockWait/time.Second)).Scan(&got); err != nil {
		return storeop.Wrap(engine, "migrate", err)
	}
	if got.Int64 != 1 {
		return storeop.Wrap(engine, "migrate", fmt.Errorf("another node held the %q lock for %s", migrateLock, migrateLockWait))
	}
	defer func() {
		// A fresh context: release even if ctx has ended. A release can
		// only fail with the connection, and the server releases the locks
		// of a connection it loses.
		rctx, cancel := storeop.Bound(context.Background(), s.opTimeout)
		defer cancel()
		conn.ExecContext(rctx, `DO RELEASE_LOCK(?)`, migrateLock)
	}()

	if _, err := conn.ExecContext(ctx, `
CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INT         NOT NULL PRIMARY KEY,
	applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`); err != nil {
		return storeop.Wrap(engine, "migrate", err)
	}
	// An application's database may hold a schema_migrations of another
	// tool's (golang-migrate and Rails use the name): its version numbers
	// would make this store skip its migrations, or run one that drops a
	// table of the application's. Refuse it.
	var columns sql.NullString
	if err := conn.QueryRowContext(ctx, `SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION)
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'schema_migrations'`).Scan(&columns); err != nil {
		return storeop.Wrap(engine, "migrate", err)
	}
	if columns.String != "version,applied_at" {
		return storeop.Wrap(engine, "migrate", fmt.Errorf("the database's schema_migrations table (columns %s) is not sessiond's: give sessiond a database of its own", columns.String))
	}
	var current int
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return storeop.Wrap(engine, "migrate", err)
	}
	for v := current + 1; v < len(migrations); v++ {
		op := fmt.Sprintf("migration %d", v)
		for _, stmt := range migrations[v] {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return storeop.Wrap(engine, op, err)
			}
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, v); err != nil {
			return storeop.Wrap(engine, op, err)
		}
	}
	return nil
}
