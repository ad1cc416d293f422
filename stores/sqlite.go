package stores

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/stores/sqlite"
)

// openSQLite opens the file a sqlite:// URL names, tuned by sqlite.Open:
//
//	sqlite:///abs/path/file.db   an absolute path
//	sqlite://relative/file.db    relative to the working directory
//
// with sessiond's parameters (sqlite.Options; defaults in brackets):
//
//	op_timeout      bound on every store call [2s]; must be positive
//	sweep_interval  how often expired records are deleted [1m];
//	                negative disables the sweeper
//	busy_timeout    how long a statement waits for another process's
//	                lock on the file [op_timeout]; must be positive
//	max_read_conns  concurrent readers [4]; must be positive
//
// Any other parameter is refused: the file is opened by the store, so
// there is no driver to hand it to, and a misspelt setting must not pass
// unnoticed.
func openSQLite(ctx context.Context, u *url.URL) (sessiond.Store, error) {
	path, opts, err := parseSQLiteURL(u)
	if err != nil {
		return nil, err
	}
	s, err := sqlite.Open(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// sqliteParams are the parameters a sqlite:// URL may carry.
var sqliteParams = []string{"op_timeout", "sweep_interval", "busy_timeout", "max_read_conns"}

// parseSQLiteURL returns the file path and the store's options of a
// sqlite:// URL.
func parseSQLiteURL(u *url.URL) (string, sqlite.Options, error) {
	var opts sqlite.Options // a store from Open owns its connections
	fail := func(format string, args ...any) (string, sqlite.Options, error) {
		return "", opts, fmt.Errorf("store URL: sqlite: "+format, args...)
	}
	if u.User != nil {
		return fail("a file URL takes no user or password")
	}
	// sqlite://rel/file.db parses as host "rel", path "/file.db".
	path := u.Host + u.Path
	if path == "" {
		return fail("no file path: want sqlite:///abs/path.db or sqlite://rel/path.db")
	}

	q := u.Query()
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(sqliteParams, name) {
			errs = append(errs, fmt.Errorf("unknown parameter %q (want one of %s)", name, strings.Join(sqliteParams, ", ")))
		}
	}
	// duration parses a parameter into dst; absent leaves the default.
	duration := func(name string, dst *time.Duration, positive bool) {
		if !q.Has(name) {
			return
		}
		d, err := time.ParseDuration(q.Get(name))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		case positive && d <= 0:
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		default:
			*dst = d
		}
	}
	duration("op_timeout", &opts.OpTimeout, true)
	duration("sweep_interval", &opts.SweepInterval, false)
	duration("busy_timeout", &opts.BusyTimeout, true)
	if q.Has("max_read_conns") {
		n, err := strconv.Atoi(q.Get("max_read_conns"))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("max_read_conns: %w", err))
		case n < 1:
			errs = append(errs, errors.New("max_read_conns must be positive"))
		default:
			opts.MaxReadConns = n
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fail("%w", err)
	}
	return path, opts, nil
}
