package mysql

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
)

// options are the URL parameters that belong to the store, not the driver.
type options struct {
	maxOpenConns    int
	maxIdleConns    int
	connMaxLifetime time.Duration
	opTimeout       time.Duration
	sweepInterval   time.Duration
}

// Defaults. Idle connections equal to open ones, so a burst does not end
// in a wave of reconnects; connections retire before the 5-minute idle cut
// that many proxies and middleboxes apply (go-sql-driver's advice).
const (
	defaultMaxOpenConns    = 10
	defaultConnMaxLifetime = 3 * time.Minute
	defaultOpTimeout       = 2 * time.Second
	defaultSweepInterval   = time.Minute

	// defaultDialTimeout bounds connecting, so a dead server answers an
	// error quickly.
	defaultDialTimeout = 2 * time.Second
	// defaultIOTimeout is the driver's last line against a silent peer;
	// every call also carries a context deadline (op_timeout). It exceeds
	// the migration lock wait, which is one long read.
	defaultIOTimeout = migrateLockWait + 10*time.Second
)

// parseURL turns a mysql:// URL into the driver's configuration and the
// store's options. The store's parameters are removed; every other
// parameter goes to go-sql-driver/mysql as in its DSN (tls=true,
// collation, ...; unknown names are session variables).
func parseURL(raw string) (*mysqldriver.Config, options, error) {
	opts := options{
		maxOpenConns:    defaultMaxOpenConns,
		maxIdleConns:    -1, // = maxOpenConns unless set
		connMaxLifetime: defaultConnMaxLifetime,
		opTimeout:       defaultOpTimeout,
		sweepInterval:   defaultSweepInterval,
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url's error quotes the URL, password included: say less.
		return nil, opts, fmt.Errorf("mysql: malformed URL (want mysql://user:pass@host:port/db)")
	}
	if u.Scheme != "mysql" {
		return nil, opts, fmt.Errorf("mysql: URL scheme %q: want mysql://user:pass@host:port/db", u.Scheme)
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" || strings.Contains(db, "/") {
		return nil, opts, fmt.Errorf("mysql: URL must name one database: mysql://user:pass@host:port/db")
	}

	q := u.Query()
	if err := takeInt(q, "max_open_conns", &opts.maxOpenConns); err != nil {
		return nil, opts, err
	}
	if err := takeInt(q, "max_idle_conns", &opts.maxIdleConns); err != nil {
		return nil, opts, err
	}
	if opts.maxIdleConns < 0 {
		opts.maxIdleConns = opts.maxOpenConns
	}
	for name, d := range map[string]*time.Duration{
		"conn_max_lifetime": &opts.connMaxLifetime,
		"op_timeout":        &opts.opTimeout,
		"sweep_interval":    &opts.sweepInterval,
	} {
		if err := takeDuration(q, name, d); err != nil {
			return nil, opts, err
		}
	}
	if opts.maxOpenConns < 1 || opts.opTimeout <= 0 {
		return nil, opts, fmt.Errorf("mysql: max_open_conns and op_timeout must be positive")
	}

	base := mysqldriver.NewConfig()
	base.User = u.User.Username()
	base.Passwd, _ = u.User.Password()
	base.Net, base.Addr = "tcp", u.Host
	if u.Port() == "" {
		base.Addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	if u.Hostname() == "" {
		base.Addr = "127.0.0.1:3306"
	}
	if sock := q.Get("socket"); sock != "" {
		base.Net, base.Addr = "unix", sock
		q.Del("socket")
	}
	base.DBName = db
	base.Timeout = defaultDialTimeout
	base.ReadTimeout, base.WriteTimeout = defaultIOTimeout, defaultIOTimeout
	// utf8mb4 with a binary collation, named in the handshake (no extra
	// round trip): text compares byte for byte, as ids must.
	base.Collation = "utf8mb4_bin"
	// Placeholders are filled in by the driver, so a statement is one round
	// trip instead of prepare + execute. Safe with utf8mb4 (the driver
	// refuses it for multi-byte charsets whose escaping is ambiguous).
	base.InterpolateParams = true

	// The driver parses its own parameters, after ours so they may override
	// the defaults above.
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
		return nil, opts, fmt.Errorf("mysql: URL parameters: %w", err)
	}
	// What the store's code relies on is not negotiable: times are UTC
	// DATETIME(3) values, and RowsAffected counts changed rows, not matched
	// ones (RedeemToken tells "inserted" from "already there" by it).
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.ClientFoundRows = false
	if err := cfg.Apply(mysqldriver.TimeTruncate(time.Millisecond)); err != nil {
		return nil, opts, err
	}
	return cfg, opts, nil
}

func takeInt(q url.Values, name string, dst *int) error {
	if !q.Has(name) {
		return nil
	}
	v, err := strconv.Atoi(q.Get(name))
	if err != nil {
		return fmt.Errorf("mysql: %s: want an integer", name)
	}
	*dst = v
	q.Del(name)
	return nil
}

func takeDuration(q url.Values, name string, dst *time.Duration) error {
	if !q.Has(name) {
		return nil
	}
	v, err := time.ParseDuration(q.Get(name))
	if err != nil {
		return fmt.Errorf("mysql: %s: want a duration such as 30s", name)
	}
	*dst = v
	q.Del(name)
	return nil
}
