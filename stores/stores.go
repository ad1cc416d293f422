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
// It is the one place that imports every store package; programs that want
// only one store import that package directly and keep their binary small.
package stores

import (
	"context"
	"fmt"
	"strings"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memory"
	"github.com/sessiond/sessiond/mysql"
	"github.com/sessiond/sessiond/postgres"
	"github.com/sessiond/sessiond/redis"
	"github.com/sessiond/sessiond/sqlite"
)

// Open returns the store a URL names. The caller closes it.
func Open(ctx context.Context, url string) (sessiond.Store, error) {
	scheme, _, ok := strings.Cut(url, "://")
	if !ok {
		return nil, fmt.Errorf("store URL: want scheme://..., e.g. sqlite://sessiond.db")
	}
	switch scheme {
	case "memory":
		return memory.New(), nil
	case "sqlite":
		return open(sqlite.OpenURL(ctx, url))
	case "redis", "rediss", "redis+cluster", "rediss+cluster":
		return open(redis.Open(ctx, url))
	case "mysql":
		return open(mysql.Open(ctx, url))
	case "postgres", "postgresql":
		return open(postgres.Open(ctx, url))
	}
	// The URL itself is not echoed: it may carry a password.
	return nil, fmt.Errorf("store URL: unknown scheme %q (memory, sqlite, redis, rediss, redis+cluster, postgres, mysql)", scheme)
}

// open returns a store, or a nil interface (never a nil pointer wrapped in a
// non-nil interface) with the error.
func open[S sessiond.Store](s S, err error) (sessiond.Store, error) {
	if err != nil {
		return nil, err
	}
	return s, nil
}
