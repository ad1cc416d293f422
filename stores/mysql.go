package stores

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/storeop"
	"github.com/sessiond/sessiond/stores/mysql"
)

// openMySQL opens mysql://user:pass@host:port/db: a *sql.DB made from it,
// and the store on that pool, which closes the pool with itself.
//
// sessiond's own parameters (defaults in brackets), taken out before the
// rest reaches the driver:
//
//	max_open_conns     connections in the pool [10]
//	max_idle_conns     connections kept open while idle [max_open_conns]
//	conn_max_lifetime  retire a connection after this long [3m]
//	op_timeout         bound on every store call, and on dialling [2s];
//	                   must be positive
//	sweep_interval     how often expired records are deleted [1m];
//	                   negative disables the sweeper
//	socket             a Unix socket path, instead of host:port
//
// Every other parameter goes to go-sql-driver/mysql as in its DSN, for
// instance tls=true (or skip-verify, preferred), timeout [op_timeout],
// readTimeout, interpolateParams [true]; unknown names are set as session
// variables on each connection. The store depends on none of them (see
// package stores/mysql).
func openMySQL(ctx context.Context, u *url.URL) (sessiond.Store, error) {
	cfg, pool, opts, err := parseMySQLURL(u)
	if err != nil {
		return nil, err
	}
	connector, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("store URL: mysql: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(pool.maxOpen)
	db.SetMaxIdleConns(pool.maxIdle)
	db.SetConnMaxLifetime(pool.maxLifetime)
	// A wrong address or password fails here, within op_timeout and the
	// caller's deadline, rather than in the migration's longer wait.
	pctx, cancel := storeop.Bound(ctx, opts.OpTimeout)
	err = db.PingContext(pctx)
	cancel()
	if err != nil {
		db.Close()
		return nil, storeop.Wrap("mysql", "connect", err) // the driver's messages never show the password
	}
	s, err := mysql.New(db, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// mysqlPool is how openMySQL sizes the *sql.DB. Idle connections equal
// open ones by default, so a burst does not end in a wave of reconnects;
// connections retire before the 5-minute idle cut that many proxies and
// middleboxes apply (go-sql-driver's advice).
type mysqlPool struct {
	maxOpen, maxIdle int
	maxLifetime      time.Duration
}

// parseMySQLURL splits sessiond's parameters from the driver's. Errors
// never echo the URL: it may carry a password.
func parseMySQLURL(u *url.URL) (*mysqldriver.Config, mysqlPool, mysql.Options, error) {
	pool := mysqlPool{maxOpen: 10, maxIdle: -1, maxLifetime: 3 * time.Minute}
	opts := mysql.Options{CloseClient: true}
	fail := func(format string, args ...any) (*mysqldriver.Config, mysqlPool, mysql.Options, error) {
		return nil, pool, opts, fmt.Errorf("store URL: mysql: "+format, args...)
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" || strings.Contains(db, "/") {
		return fail("the URL must name one database: mysql://user:pass@host:port/db")
	}

	q := u.Query()
	var errs []error
	// take removes a parameter of sessiond's from q and parses it; absent
	// leaves dst as it is.
	take := func(name string, parse func(string) error) {
		if q.Has(name) {
			if err := parse(q.Get(name)); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
			q.Del(name)
		}
	}
	integer := func(dst *int) func(string) error {
		return func(v string) (err error) { *dst, err = strconv.Atoi(v); return err }
	}
	duration := func(dst *time.Duration) func(string) error {
		return func(v string) (err error) { *dst, err = time.ParseDuration(v); return err }
	}
	take("max_open_conns", integer(&pool.maxOpen))
	take("max_idle_conns", integer(&pool.maxIdle))
	take("conn_max_lifetime", duration(&pool.maxLifetime))
	take("sweep_interval", duration(&opts.SweepInterval))
	opTimeoutGiven := q.Has("op_timeout")
	take("op_timeout", duration(&opts.OpTimeout))
	if err := errors.Join(errs...); err != nil {
		return fail("%w", err)
	}
	if pool.maxOpen < 1 || (opTimeoutGiven && opts.OpTimeout <= 0) {
		return fail("max_open_conns and op_timeout must be positive")
	}
	if pool.maxIdle < 0 {
		pool.maxIdle = pool.maxOpen
	}

	base := mysqldriver.NewConfig()
	base.User = u.User.Username()
	base.Passwd, _ = u.User.Password()
	base.Net, base.Addr = "tcp", u.Host
	switch {
	case u.Hostname() == "":
		base.Addr = "127.0.0.1:3306"
	case u.Port() == "":
		base.Addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	if sock := q.Get("socket"); sock != "" {
		base.Net, base.Addr = "unix", sock
	}
	q.Del("socket")
	base.DBName = db
	// Dialling is bounded like every store call, so a dead server answers
	// an error quickly (every call carries a deadline anyway).
	base.Timeout = storeop.DefaultTimeout
	if opts.OpTimeout > 0 {
		base.Timeout = opts.OpTimeout
	}
	// Placeholders are filled in by the driver, so a statement is one round
	// trip instead of prepare, execute and close.
	base.InterpolateParams = true

	// The driver parses its own parameters, after ours so that they may
	// override the defaults above.
	dsn := base.FormatDSN()
	if len(q) > 0 {
		sep := "?"
		if strings.Contains(dsn[strings.LastIndex(dsn, "/"):], "?") {
			sep = "&"
		}
		dsn += sep + q.Encode()
	}
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return fail("%w", err)
	}
	return cfg, pool, opts, nil
}
