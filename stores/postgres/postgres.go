// Package postgres is the sessiond.Store on PostgreSQL ≥ 13, for
// deployments whose data already lives there. It speaks to the server with
// pgx v5 through a pgxpool.
//
// Open takes a postgres:// or postgresql:// URL. Every parameter pgx knows
// is handed to it, among them the pool's:
//
//	pool_max_conns            largest pool (default: 4 or the number of CPUs, whichever is more)
//	pool_min_conns            connections kept open (default 0)
//	pool_max_conn_lifetime    recycle connections after (default 1h)
//	pool_max_conn_idle_time   close idle connections after (default 30m)
//	pool_health_check_period  check idle connections every (default 1m)
//	connect_timeout           seconds per connection attempt (default: op_timeout)
//	default_query_exec_mode   exec or simple_protocol behind PgBouncer in
//	                          transaction mode (the store keeps no state on a
//	                          connection: its locks are transaction-scoped;
//	                          but see invalidate.go for the near cache)
//	sslmode, search_path, …   as in libpq
//
// and three of sessiond's own, removed before the URL reaches pgx (which
// would send unknown parameters to the server as settings):
//
//	op_timeout      bound on every store call, so that a dead or unreachable
//	                server answers an error quickly instead of hanging the
//	                request: fail closed, fast (default 2s; the caller's
//	                deadline applies if it is sooner)
//	sweep_interval  how often expired sessions and redeemed tokens are
//	                deleted (default 1m; negative disables the sweeper)
//	notify_channel  the LISTEN/NOTIFY channel of near-cache invalidations
//	                (default sessiond_invalidate; letters, digits and _, at
//	                most 63): channels are per database, not per schema, so
//	                deployments that share a database in different
//	                search_path schemas give each its own (see invalidate.go)
//
// The store creates and migrates its own tables (see schema.go), in the
// database and schema (search_path) the URL names. Several nodes may open
// the same database at once: migrations run under an advisory lock.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/sweeper"
)

// Defaults for sessiond's own URL parameters.
const (
	DefaultOpTimeout     = 2 * time.Second
	DefaultSweepInterval = time.Minute
	DefaultNotifyChannel = "sessiond_invalidate"
)

// Store is a PostgreSQL-backed sessiond.Store.
type Store struct {
	pool      *pgxpool.Pool
	opTimeout time.Duration
	channel   string // of invalidations

	stop     chan struct{} // closed by Close: ends Subscribe
	stopOnce sync.Once
	sweeper  *sweeper.Sweeper
}

var (
	_ sessiond.Store          = (*Store)(nil)
	_ sessiond.APIKeyStore    = (*Store)(nil)
	_ sessiond.ExpiredSweeper = (*Store)(nil)
	_ sessiond.TokenLedger    = (*Store)(nil)
)

// Open connects to the database a postgres:// URL names, migrates the
// schema and starts the sweeper. The caller closes the store.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	cfg, sweepEvery, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg.pool)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, opTimeout: cfg.opTimeout, channel: cfg.channel, stop: make(chan struct{})}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if sweepEvery > 0 {
		s.sweeper = sweeper.Start(s, sweepEvery)
	}
	return s, nil
}

type config struct {
	pool      *pgxpool.Config
	opTimeout time.Duration
	channel   string
}

// parseURL splits sessiond's parameters from pgx's. Errors never echo the
// URL: it may carry a password.
func parseURL(rawURL string) (config, time.Duration, error) {
	var cfg config
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return cfg, 0, errors.New("postgres: bad URL: want postgres://user:pass@host:port/db")
	}
	q := u.Query()
	duration := func(name string, def time.Duration) (time.Duration, error) {
		v := q.Get(name)
		q.Del(name)
		if v == "" {
			return def, nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("postgres: %s: %w", name, err)
		}
		return d, nil
	}
	if cfg.opTimeout, err = duration("op_timeout", DefaultOpTimeout); err != nil {
		return cfg, 0, err
	}
	if cfg.opTimeout <= 0 {
		return cfg, 0, errors.New("postgres: op_timeout must be positive")
	}
	sweepEvery, err := duration("sweep_interval", DefaultSweepInterval)
	if err != nil {
		return cfg, 0, err
	}
	if sweepEvery == 0 {
		sweepEvery = DefaultSweepInterval
	}
	cfg.channel = q.Get("notify_channel")
	q.Del("notify_channel")
	if cfg.channel == "" {
		cfg.channel = DefaultNotifyChannel
	}
	if !validChannel(cfg.channel) {
		return cfg, 0, errors.New("postgres: notify_channel: want 1 to 63 letters, digits or _")
	}
	u.RawQuery = q.Encode()
	if cfg.pool, err = pgxpool.ParseConfig(u.String()); err != nil {
		// pgx's message redacts the password.
		return cfg, 0, fmt.Errorf("postgres: %w", err)
	}
	if !q.Has("connect_timeout") {
		cfg.pool.ConnConfig.ConnectTimeout = cfg.opTimeout
	}
	return cfg, sweepEvery, nil
}

// bounded gives a call at most the store's op_timeout, so that an
// unreachable server turns into an error, not a hung request.
func (s *Store) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opTimeout)
}

// Ping checks that the server answers (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close stops the sweeper and closes the pool's connections.
func (s *Store) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	s.sweeper.Stop()
	s.pool.Close()
	return nil
}
