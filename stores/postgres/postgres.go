// Package postgres is the sessiond.Store on PostgreSQL ≥ 13, for
// deployments whose data already lives there. It speaks to the server with
// pgx v5 through the application's own *pgxpool.Pool:
//
//	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	...
//	store, err := postgres.New(pool, postgres.Options{})
//
// (stores.Open builds the pool from a postgres:// URL instead, and closes it
// with the store.)
//
// The store creates and migrates its own tables (see schema.go) in the
// database and schema (search_path) the pool's connections use. Several
// nodes may start on the same database at once: migrations run under an
// advisory lock. The store keeps no state on a pooled connection (its locks
// are transaction-scoped), so a pool behind PgBouncer in transaction mode
// works, with the near cache off (see invalidate.go).
package postgres

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/storeop"
	"github.com/sessiond/sessiond/internal/sweeper"
)

// engine names the store in wrapped errors ("postgres: lookup: ...").
const engine = "postgres"

// DefaultNotifyChannel is the LISTEN/NOTIFY channel of near-cache
// invalidations when Options.NotifyChannel is empty.
const DefaultNotifyChannel = "sessiond_invalidate"

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
	// NotifyChannel is the LISTEN/NOTIFY channel of near-cache
	// invalidations (default DefaultNotifyChannel; letters, digits and _,
	// at most 63). Channels are per database, not per schema, so
	// deployments that share a database in different search_path schemas
	// give each its own (see invalidate.go).
	NotifyChannel string
	// CloseClient makes Close close the pool too. Leave it false for a pool
	// the application shares with its own queries.
	CloseClient bool
}

// Store is a PostgreSQL-backed sessiond.Store. Besides the contract it has
// the optional capabilities: invalidations for a near cache (Subscribe),
// the server's API keys, the one-time token ledger (RedeemToken) and
// sweeping (DeleteExpired).
type Store struct {
	pool      *pgxpool.Pool
	opTimeout time.Duration
	channel   string // of invalidations
	ownPool   bool   // Close closes the pool

	stop     chan struct{} // closed by Close: ends Subscribe
	stopOnce sync.Once
	sweeper  *sweeper.Sweeper
}

var _ sessiond.Store = (*Store)(nil)

// migrateTimeout bounds New's migration, which may wait for another
// node's (several nodes starting at once).
const migrateTimeout = 30 * time.Second

// New returns a store on pool: it migrates the schema and starts the
// sweeper. The pool stays the application's: Close leaves it open unless
// opts.CloseClient is set.
func New(pool *pgxpool.Pool, opts Options) (*Store, error) {
	if pool == nil {
		return nil, errors.New("postgres: New needs a pool")
	}
	if opts.NotifyChannel == "" {
		opts.NotifyChannel = DefaultNotifyChannel
	}
	if !validChannel(opts.NotifyChannel) {
		return nil, errors.New("postgres: NotifyChannel: want 1 to 63 letters, digits or _")
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = storeop.DefaultTimeout
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = defaultSweepInterval
	}
	s := &Store{
		pool:      pool,
		opTimeout: opts.OpTimeout,
		channel:   opts.NotifyChannel,
		ownPool:   opts.CloseClient,
		stop:      make(chan struct{}),
	}
	ctx, cancel := storeop.Bound(context.Background(), max(migrateTimeout, opts.OpTimeout))
	defer cancel()
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	if opts.SweepInterval > 0 {
		s.sweeper = sweeper.Start(s, opts.SweepInterval)
	}
	return s, nil
}

// Ping checks that the server answers (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	return storeop.Wrap(engine, "ping", s.pool.Ping(ctx))
}

// Close stops the sweeper and any subscription, and closes the pool if the
// store was given it to own (Options.CloseClient).
func (s *Store) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	s.sweeper.Stop()
	if s.ownPool {
		s.pool.Close()
	}
	return nil
}
