package stores

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/storeop"
	"github.com/sessiond/sessiond/stores/postgres"
)

// openPostgres opens a postgres:// or postgresql:// URL: a pgx pool made
// from it, and the store on that pool, which closes the pool with itself.
//
// Every parameter pgx knows is handed to it, among them the pool's:
//
//	pool_max_conns            largest pool (default: 4 or the number of CPUs, whichever is more)
//	pool_min_conns            connections kept open (default 0)
//	pool_max_conn_lifetime    recycle connections after (default 1h)
//	pool_max_conn_idle_time   close idle connections after (default 30m)
//	pool_health_check_period  check idle connections every (default 1m)
//	connect_timeout           seconds per connection attempt (default: op_timeout)
//	default_query_exec_mode   exec or simple_protocol behind PgBouncer in
//	                          transaction mode (then without the near cache:
//	                          see stores/postgres/invalidate.go)
//	sslmode, search_path, …   as in libpq
//
// and three of sessiond's own (postgres.Options), taken out before the URL
// reaches pgx, which would send unknown parameters to the server as
// settings:
//
//	op_timeout      bound on every store call (default 2s; must be positive)
//	sweep_interval  how often expired records are deleted (default 1m;
//	                negative disables the sweeper)
//	notify_channel  the LISTEN/NOTIFY channel of near-cache invalidations
//	                (default sessiond_invalidate)
func openPostgres(ctx context.Context, u *url.URL) (sessiond.Store, error) {
	cfg, opts, err := parsePostgresURL(u)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err) // pgx's messages never show the password
	}
	s, err := postgres.New(pool, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// parsePostgresURL splits sessiond's parameters from pgx's. Errors never
// echo the URL: it may carry a password.
func parsePostgresURL(u *url.URL) (*pgxpool.Config, postgres.Options, error) {
	opts := postgres.Options{CloseClient: true}
	q := u.Query()
	// duration takes a parameter out of q; absent is zero (the default).
	duration := func(name string) (d time.Duration, given bool, err error) {
		v := q.Get(name)
		given = q.Has(name)
		q.Del(name)
		if v == "" {
			return 0, given, nil
		}
		if d, err = time.ParseDuration(v); err != nil {
			return 0, given, fmt.Errorf("store URL: postgres: %s: %w", name, err)
		}
		return d, given, nil
	}
	var given bool
	var err error
	if opts.OpTimeout, given, err = duration("op_timeout"); err != nil {
		return nil, opts, err
	}
	if given && opts.OpTimeout <= 0 {
		return nil, opts, errors.New("store URL: postgres: op_timeout must be positive")
	}
	if opts.SweepInterval, _, err = duration("sweep_interval"); err != nil {
		return nil, opts, err
	}
	opts.NotifyChannel = q.Get("notify_channel")
	q.Del("notify_channel")

	pgxURL := *u // the caller's URL stays as it was
	pgxURL.RawQuery = q.Encode()
	cfg, err := pgxpool.ParseConfig(pgxURL.String())
	if err != nil {
		return nil, opts, fmt.Errorf("store URL: %w", err) // pgx's message redacts the password
	}
	if !q.Has("connect_timeout") {
		cfg.ConnConfig.ConnectTimeout = cmp.Or(opts.OpTimeout, storeop.DefaultTimeout)
	}
	return cfg, opts, nil
}
