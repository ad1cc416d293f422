// Package mysql is the sessiond.Store for MySQL 8 and MariaDB ≥ 10.6, on
// go-sql-driver/mysql:
//
//	mysql://user:pass@host:port/db?max_open_conns=20
//
// It creates and migrates its tables itself (InnoDB, utf8mb4; see
// schema.go), safely from several nodes starting at once, and deletes
// expired sessions in the background.
//
// URL parameters of the store (defaults in brackets):
//
//	max_open_conns     connections in the pool [10]
//	max_idle_conns     connections kept open while idle [max_open_conns]
//	conn_max_lifetime  retire a connection after this long [3m]
//	op_timeout         bound on one store call whose context has no
//	                   deadline, so a dead server answers an error rather
//	                   than hanging the request [2s]
//	sweep_interval     how often expired sessions are deleted; 0 or
//	                   negative disables the sweeper [1m]
//	socket             a Unix socket path, instead of host:port
//
// Every other parameter goes to the driver as in its DSN, for instance
// tls=true (or skip-verify, preferred), timeout [2s], readTimeout and
// writeTimeout [40s], collation [utf8mb4_bin], interpolateParams [true];
// unknown names are set as session variables on each connection.
// parseTime, loc (UTC) and clientFoundRows (false) are fixed: the store
// relies on them.
//
// Times are stored as UTC DATETIME(3) (the Manager works in milliseconds);
// ids as VARBINARY, so that user ids compare byte for byte: "Ａ", "A" and
// "a" are three users, whatever the server's collation; data, roles and
// attributes as BLOBs, so the JSON comes back byte for byte (MySQL's JSON
// type would reorder keys and reformat numbers).
package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/sweeper"
)

// Store is a MySQL- or MariaDB-backed sessiond.Store.
type Store struct {
	db        *sql.DB
	opTimeout time.Duration

	sweeper *sweeper.Sweeper
}

var (
	_ sessiond.Store          = (*Store)(nil)
	_ sessiond.APIKeyStore    = (*Store)(nil)
	_ sessiond.ExpiredSweeper = (*Store)(nil)
	_ sessiond.TokenLedger    = (*Store)(nil)
)

// Open connects to the database a mysql:// URL names (see the package
// documentation for its parameters), migrates the schema and starts the
// sweeper. The caller closes the store.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, opts, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	connector, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(opts.maxOpenConns)
	db.SetMaxIdleConns(opts.maxIdleConns)
	db.SetConnMaxLifetime(opts.connMaxLifetime)

	s := &Store{db: db, opTimeout: opts.opTimeout}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if opts.sweepInterval > 0 {
		s.sweeper = sweeper.Start(s, opts.sweepInterval)
	}
	return s, nil
}

// Close stops the sweeper and closes the pool.
func (s *Store) Close() error {
	s.sweeper.Stop()
	return s.db.Close()
}

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("mysql: ping: %w", err)
	}
	return nil
}

// bound gives a call without a deadline the store's op_timeout, so that a
// server that stopped answering fails requests closed in bounded time.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.opTimeout)
}

// errDeadlock is InnoDB's ER_LOCK_DEADLOCK. InnoDB has already rolled the
// victim back, and the MySQL manual's advice is to run it again.
const errDeadlock = 1213

// maxDeadlockRetries bounds the retries of a deadlock victim.
const maxDeadlockRetries = 3

// retry runs fn, again if InnoDB picked it as a deadlock victim. fn must be
// one statement or one whole transaction, so a retry repeats all of it.
func retry(fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		var me *mysqldriver.MySQLError
		if attempt == maxDeadlockRetries || !errors.As(err, &me) || me.Number != errDeadlock {
			return err
		}
	}
}

// exec runs one write statement, retried on deadlock.
func (s *Store) exec(ctx context.Context, query string, args ...any) (n int64, err error) {
	err = retry(func() error {
		res, err := s.db.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// inTx runs fn in a transaction, retried whole on deadlock.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	return retry(func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := fn(tx); err != nil {
			return err
		}
		return tx.Commit()
	})
}
