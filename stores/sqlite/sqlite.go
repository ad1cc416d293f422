// Package sqlite is the embedded sessiond.Store: one file, no server. It is
// the server's default store, and it runs on any database/sql SQLite driver
// (SQLite ≥ 3.35, for RETURNING); Open uses modernc.org/sqlite, which is
// pure Go (no cgo).
//
// Two ways to build one:
//
//   - Open(ctx, path, opts) opens a file tuned for sessions: WAL, so that
//     validations (reads) never wait for writes; one connection for writes
//     and a pool of readers; the file created private (0600).
//   - New(db, opts) uses the application's own *sql.DB (see New for the
//     settings it should have).
//
// Either way the store's writes go to SQLite one at a time, in the order
// they came (SQLite has one writer per file, so they queue in Go instead of
// spinning on SQLITE_BUSY: writes.go), and every call is bounded by
// Options.OpTimeout. The store creates and migrates its own tables
// (schema.go) and deletes expired rows in the background
// (Options.SweepInterval).
//
// Besides the sessiond.Store contract the store keeps the server's API keys
// (CreateAPIKey, APIKeyByHash, ListAPIKeys, DeleteAPIKey), the one-time
// token ledger (RedeemToken) and sweeps on demand (DeleteExpired). It
// announces no invalidations: a near cache in front of it (package
// nearcache) cannot be kept coherent across processes, and refuses it.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/storeop"
	"github.com/sessiond/sessiond/internal/sweeper"
)

// engine names the store in wrapped errors ("sqlite: lookup: ...").
const engine = "sqlite"

// Defaults for the zero Options.
const (
	defaultSweepInterval = time.Minute
	defaultMaxReadConns  = 4
)

// migrateTimeout bounds the schema migration of New and Open, which may
// wait for another process migrating the same file.
const migrateTimeout = 30 * time.Second

// Options configure a Store. The zero value is safe: every field has a
// default.
type Options struct {
	// OpTimeout bounds every store call, whatever the caller's deadline, so
	// that a locked or stalled file answers an error quickly instead of
	// hanging the request: fail closed, fast (default 2s).
	OpTimeout time.Duration
	// SweepInterval is how often expired sessions and redeemed one-time
	// tokens are deleted (default 1 min; negative: never, for a program
	// that calls DeleteExpired itself).
	SweepInterval time.Duration
	// CloseClient makes Close close the *sql.DB given to New. Leave it
	// false for a database the application shares with its own queries.
	// A store from Open always closes what it opened.
	CloseClient bool

	// The rest apply to Open only: a *sql.DB given to New keeps the
	// application's settings.

	// BusyTimeout bounds how long a statement waits for a lock held by
	// another process using the same file (default: OpTimeout, as a call
	// cannot usefully wait longer).
	BusyTimeout time.Duration
	// MaxReadConns bounds concurrent readers (default 4).
	MaxReadConns int
}

// Store is an SQLite-backed sessiond.Store.
type Store struct {
	read   *sql.DB // validations and listings: concurrent readers under WAL
	write  *sql.DB // every write: one connection from Open, SQLite's one writer
	owned  bool    // Close closes read and write
	writes writeQueue

	opTimeout time.Duration
	sweeper   *sweeper.Sweeper
}

var _ sessiond.Store = (*Store)(nil)

// New returns a store on the application's own SQLite database: it
// migrates the schema and starts the sweeper. Close leaves db open unless
// opts.CloseClient is set.
//
// Every call of the store runs on db, reads and writes alike, so db should
// be set up the way Open sets up its own. With modernc.org/sqlite that is
// the DSN
//
//		file:/path/app.db?_pragma=busy_timeout(2000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate
//
//	  - journal_mode WAL, so that validations are not blocked by writes (with
//	    the default rollback journal a commit locks every reader out);
//	  - a busy_timeout on every connection (in the DSN: a one-off PRAGMA
//	    reaches one pooled connection only). The store queues its own writes,
//	    but the application's writes and other processes' meet them in
//	    SQLite's lock, and without a busy timeout the loser fails at once
//	    with "database is locked" instead of waiting its turn;
//	  - _txlock=immediate (or the driver's equivalent), so that a
//	    transaction takes the write lock when it starts, not halfway
//	    through, where SQLite cannot wait for it;
//	  - synchronous NORMAL: in WAL mode it is durable across process crashes
//	    (a power cut may lose the last transactions, never corrupt the file)
//	    and spares an fsync per write.
//
// Leave db more than one connection (database/sql's default is no limit):
// with one, every validation waits behind every write. Open keeps its
// readers in a pool apart from its writer for that reason.
func New(db *sql.DB, opts Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlite: New needs a *sql.DB")
	}
	return start(context.Background(), db, db, opts.CloseClient, opts)
}

// start migrates the schema (within ctx and migrateTimeout) and starts the
// sweeper; on failure it closes the databases if they are the store's to
// own.
func start(ctx context.Context, read, write *sql.DB, owned bool, opts Options) (*Store, error) {
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = storeop.DefaultTimeout
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = defaultSweepInterval
	}
	s := &Store{read: read, write: write, owned: owned, writes: make(writeQueue, 1), opTimeout: opts.OpTimeout}
	ctx, cancel := storeop.Bound(ctx, max(migrateTimeout, opts.OpTimeout))
	defer cancel()
	if err := s.migrate(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	if opts.SweepInterval > 0 {
		s.sweeper = sweeper.Start(s, opts.SweepInterval)
	}
	return s, nil
}

// Close stops the sweeper and closes the database if the store owns it
// (Open, or Options.CloseClient).
func (s *Store) Close() error {
	s.sweeper.Stop()
	return storeop.Wrap(engine, "close", s.closeDBs())
}

func (s *Store) closeDBs() error {
	if !s.owned {
		return nil
	}
	if s.read == s.write {
		return s.write.Close()
	}
	return errors.Join(s.read.Close(), s.write.Close())
}

// Ping checks that the file is readable (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	var one int
	return storeop.Wrap(engine, "ping", s.read.QueryRowContext(ctx, `SELECT 1`).Scan(&one))
}
