// Package stores opens a sessiond.Store from a URL, the way the server's
// --store flag and the demo shop name them:
//
//	memory://
//	sqlite:///abs/path/file.db   sqlite://relative/file.db
//	redis://host:port/db         rediss://host:port/db
//	redis+cluster://h1:p1,h2:p2
//	postgres://user:pass@host:port/db
//	mysql://user:pass@host:port/db
//
// It is the one place that parses store URLs: each store package takes the
// application's own client (a *pgxpool.Pool, a *sql.DB, a rueidis.Client)
// and typed options; this package builds both from a URL. It imports every
// store package; programs that want only one store import that package
// directly and keep their binary small.
package stores

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/stores/memory"
)

// Open returns the store a URL names. Closing it also closes the client it
// made.
func Open(ctx context.Context, rawURL string) (sessiond.Store, error) {
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, fmt.Errorf("store URL: want scheme://..., e.g. sqlite://sessiond.db")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// The URL itself is not echoed: it may carry a password.
		return nil, fmt.Errorf("store URL: cannot parse the %s URL", scheme)
	}
	switch scheme {
	case "memory":
		return memory.New(), nil
	case "sqlite":
		return openSQLite(ctx, u)
	case "redis", "rediss", "redis+cluster", "rediss+cluster":
		return openRedis(ctx, u)
	case "mysql":
		return openMySQL(ctx, u)
	case "postgres", "postgresql":
		return openPostgres(ctx, u)
	}
	return nil, fmt.Errorf("store URL: unknown scheme %q (memory, sqlite, redis, rediss, redis+cluster, postgres, mysql)", scheme)
}
