// Package mysql is the sessiond.Store for MySQL 8 and MariaDB ≥ 10.6, on
// go-sql-driver/mysql, through the application's own *sql.DB:
//
//	db, err := sql.Open("mysql", "app:secret@tcp(db:3306)/sessiond?interpolateParams=true")
//	...
//	store, err := mysql.New(db, mysql.Options{})
//
// (stores.Open builds the pool from a mysql:// URL instead, and closes it
// with the store.)
//
// # What the store asks of the DSN
//
// Nothing that would change how the application's own queries behave. The
// store works the same whatever these settings are, so an application does
// not have to change them for it:
//
//   - parseTime and loc: times are written and read as UTC text (see
//     times.go), never as time.Time values the driver would convert;
//   - charset and collation: ids, user agents, API key names and JSON are
//     binary columns (VARBINARY, BLOB), stored and compared byte for byte
//     (the one text column, a user's status, holds ASCII words);
//   - clientFoundRows: no statement depends on how an unchanged row is
//     counted;
//   - transaction_isolation: the ban check of Create is atomic with the
//     insert under InnoDB's default REPEATABLE READ; if the connections read
//     committed (or uncommitted), New notices and Create runs in a
//     transaction of its own at REPEATABLE READ (three more round trips:
//     set the level, begin, commit). New asks one connection: a level set
//     on some connections only, after New, goes unnoticed.
//
// Recommended: interpolateParams=true (one round trip per statement instead
// of two, prepare then execute; safe with utf8mb4 and latin1, refused by
// the driver for charsets whose escaping is ambiguous), and a strict
// sql_mode (the servers' default), so that nothing is silently truncated.
// Timeouts need no setting: every store call carries a deadline of the
// store's own (Options.OpTimeout), which the driver honours by closing the
// connection.
//
// # Tables
//
// The store creates and migrates its tables itself (InnoDB; see schema.go),
// safely from several nodes starting at once, and deletes expired sessions
// in the background. They live in the DSN's database and have plain names —
// sessions, users, api_keys, redeemed_tokens, schema_migrations — so give
// sessiond a database of its own (a second *sql.DB whose DSN names it) rather
// than the application's, whose tables may have the same names. New refuses
// a schema_migrations table that is not its own (another migration tool's).
package mysql

import (
	"context"
	"database/sql"
	"errors"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/storeop"
	"github.com/sessiond/sessiond/internal/sweeper"
)

// engine names the store in wrapped errors ("mysql: lookup: ...").
const engine = "mysql"

// defaultSweepInterval is how often expired records are deleted when
// Options.SweepInterval is zero.
const defaultSweepInterval = time.Minute

// Options configure a Store. The zero value is safe: every field has a
// default.
type Options struct {
	// OpTimeout bounds every store call, whatever the caller's deadline, so
	// that a dead, unreachable or frozen server answers an error quickly
	// instead of hanging the request: fail closed, fast (default 2s).
	OpTimeout time.Duration
	// SweepInterval is how often expired sessions and redeemed one-time
	// tokens are deleted (default 1 min; negative: never, for a program
	// that calls DeleteExpired itself).
	SweepInterval time.Duration
	// CloseClient makes Close close the *sql.DB too. Leave it false for a
	// pool the application shares with its own queries.
	CloseClient bool
}

// Store is a MySQL- or MariaDB-backed sessiond.Store. Besides the contract
// it has the optional capabilities: the server's API keys, the one-time
// token ledger (RedeemToken) and sweeping (DeleteExpired). It announces no
// invalidations, so no near cache sits in front of it.
type Store struct {
	db        *sql.DB
	opTimeout time.Duration
	closeDB   bool
	// createInTx: the connections read committed, so Create runs in a
	// REPEATABLE READ transaction of its own (see Create).
	createInTx bool

	sweeper *sweeper.Sweeper
}

var _ sessiond.Store = (*Store)(nil)

// migrateTimeout bounds New's migration: waiting for another node's
// migration (migrateLockWait) and then running its own DDL.
const migrateTimeout = 2 * migrateLockWait

// New returns a store on db: it migrates the schema, notes the
// connections' isolation level and starts the sweeper. The pool stays the
// application's: Close leaves it open unless opts.CloseClient is set.
func New(db *sql.DB, opts Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("mysql: New needs a *sql.DB")
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = storeop.DefaultTimeout
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = defaultSweepInterval
	}
	s := &Store{db: db, opTimeout: opts.OpTimeout, closeDB: opts.CloseClient}
	ctx, cancel := storeop.Bound(context.Background(), max(migrateTimeout, opts.OpTimeout))
	defer cancel()
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	committed, err := s.readsCommitted(ctx)
	if err != nil {
		return nil, storeop.Wrap(engine, "isolation level", err)
	}
	s.createInTx = committed
	if opts.SweepInterval > 0 {
		s.sweeper = sweeper.Start(s, opts.SweepInterval)
	}
	return s, nil
}

// Close stops the sweeper, and closes the pool if the store was given it
// to own (Options.CloseClient).
func (s *Store) Close() error {
	s.sweeper.Stop()
	if s.closeDB {
		return s.db.Close()
	}
	return nil
}

// Ping checks that the server answers (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	return storeop.Wrap(engine, "ping", s.db.PingContext(ctx))
}

// readsCommitted reports whether the pool's connections run at READ
// COMMITTED or READ UNCOMMITTED, where InnoDB takes no gap locks: set in
// the DSN (transaction_isolation) or as the server's default.
func (s *Store) readsCommitted(ctx context.Context) (bool, error) {
	var level string
	err := s.db.QueryRowContext(ctx, `SELECT @@SESSION.transaction_isolation`).Scan(&level)
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) && me.Number == errUnknownSystemVariable {
		// MariaDB before 11.1 knows the variable by its older name only.
		err = s.db.QueryRowContext(ctx, `SELECT @@SESSION.tx_isolation`).Scan(&level)
	}
	return level == "READ-COMMITTED" || level == "READ-UNCOMMITTED", err
}

// Server error numbers the store acts on.
const (
	// errDeadlock is InnoDB's ER_LOCK_DEADLOCK. InnoDB has already rolled
	// the victim back, and the MySQL manual's advice is to run it again.
	errDeadlock = 1213
	// errDuplicateKey is ER_DUP_ENTRY.
	errDuplicateKey = 1062
	// errUnknownSystemVariable is ER_UNKNOWN_SYSTEM_VARIABLE.
	errUnknownSystemVariable = 1193
)

// isServerError reports whether err is the server's error number n.
func isServerError(err error, n uint16) bool {
	var me *mysqldriver.MySQLError
	return errors.As(err, &me) && me.Number == n
}

// maxDeadlockRetries bounds the retries of a deadlock victim.
const maxDeadlockRetries = 3

// retry runs fn, again if InnoDB picked it as a deadlock victim. fn must be
// one statement or one whole transaction, so a retry repeats all of it.
func retry(fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		if attempt == maxDeadlockRetries || !isServerError(err, errDeadlock) {
			return err
		}
	}
}

// exec runs one write statement, retried on deadlock, and returns the
// number of rows it changed (or deleted, or inserted).
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

// inTx runs fn in a transaction (opts may be nil), retried whole on
// deadlock.
func (s *Store) inTx(ctx context.Context, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
	return retry(func() error {
		tx, err := s.db.BeginTx(ctx, opts)
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
