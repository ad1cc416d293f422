package stores

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/storeop"
	"github.com/sessiond/sessiond/stores/redis"
)

// Redis URLs:
//
//	redis://[user:pass@]host:port[/db][?options]
//	rediss://...                                  (TLS)
//	redis+cluster://[user:pass@]h1:p1,h2:p2,...[?options]
//	rediss+cluster://...                          (TLS)
//
// A redis:// URL that names a node of a cluster also works, as a cluster.
// A port left out is 6379. Options (query parameters):
//
//	prefix=sd:            key prefix, without { or } (redis.Options.KeyPrefix)
//	op_timeout=2s         bound on every call, whatever the caller's
//	                      deadline (redis.Options.OpTimeout); the previous
//	                      version's name, timeout=, is read too
//	dial_timeout=2s       connecting (default: op_timeout)
//	write_timeout=3s      a connection that gets no answer for this long is
//	                      closed and redialled (rueidis ConnWriteTimeout)
//	pipeline_multiplex=n  2^n pipelined connections per node (rueidis's
//	                      default otherwise)
//	db=, client_name=, protocol=2, client_cache=0, max_retries=0, skip_verify=
//	                      passed to rueidis.ParseURL (max_retries=0 stops
//	                      rueidis retrying reads on a broken connection,
//	                      which it does within the timeout otherwise)
//
// Unknown parameters are refused: a misspelt timeout must not be ignored.
// (An IPv6 literal cannot be one of several cluster hosts: net/url refuses
// such a host list before it gets here. A single one, [::1]:7000, works.)

// redisWriteTimeout is rueidis's ConnWriteTimeout unless the URL sets
// write_timeout: a connection silent for that long is redialled.
const redisWriteTimeout = 3 * time.Second

// rueidisParams are the query parameters handed to rueidis.ParseURL.
var rueidisParams = map[string]bool{
	"db": true, "dial_timeout": true, "write_timeout": true, "client_name": true,
	"protocol": true, "client_cache": true, "max_retries": true, "skip_verify": true,
}

// redisURL is what a store URL says.
type redisURL struct {
	client  rueidis.ClientOption
	store   redis.Options
	cluster bool
}

func openRedis(ctx context.Context, u *url.URL) (sessiond.Store, error) {
	r, err := parseRedisURL(u)
	if err != nil {
		return nil, err
	}
	client, err := rueidis.NewClient(r.client)
	if err != nil {
		return nil, storeop.Wrap("redis", "connect", err)
	}
	if r.cluster && client.Mode() != rueidis.ClientModeCluster {
		client.Close()
		return nil, errors.New("redis: a redis+cluster URL names a server that is not in cluster mode")
	}
	store, err := redis.New(client, r.store)
	if err != nil {
		client.Close()
		return nil, err
	}
	if err := store.Ping(ctx); err != nil {
		store.Close()
		return nil, err
	}
	return store, nil
}

// parseRedisURL splits a store URL into rueidis's options and the store's.
// Errors never echo the URL: it may carry a password.
func parseRedisURL(u *url.URL) (redisURL, error) {
	r := redisURL{store: redis.Options{CloseClient: true}}
	scheme, cluster := strings.CutSuffix(u.Scheme, "+cluster")
	r.cluster = cluster
	if scheme != "redis" && scheme != "rediss" {
		return r, fmt.Errorf("store URL: redis: unknown scheme %q (redis, rediss, redis+cluster, rediss+cluster)", u.Scheme)
	}
	hosts := strings.Split(u.Host, ",")
	if len(hosts) > 1 && !cluster {
		return r, errors.New("store URL: redis: several hosts need redis+cluster://")
	}
	q := u.Query()
	passed, multiplex, err := r.readQuery(q)
	if err != nil {
		return r, err
	}
	rest := *u
	rest.Scheme, rest.Host, rest.RawQuery = scheme, redisHostPort(hosts[0]), passed.Encode()
	if rest.Path == "/" {
		rest.Path = "" // rueidis reads "/" as an empty database number
	}
	if r.client, err = rueidis.ParseURL(rest.String()); err != nil {
		return r, fmt.Errorf("store URL: %w", err) // "redis: ...", without the URL
	}
	if cluster {
		if err := r.useCluster(hosts); err != nil {
			return r, err
		}
	}
	r.setTimeouts(q, multiplex)
	return r, nil
}

// useCluster connects to every host of a cluster URL.
func (r *redisURL) useCluster(hosts []string) error {
	if r.client.SelectDB != 0 {
		return errors.New("store URL: redis: a cluster has database 0 only")
	}
	r.client.InitAddress = r.client.InitAddress[:0]
	for _, h := range hosts {
		r.client.InitAddress = append(r.client.InitAddress, redisHostPort(h))
	}
	if r.client.TLSConfig != nil {
		r.client.TLSConfig.ServerName = "" // each node is verified under its own name
	}
	return nil
}

// setTimeouts gives rueidis the store's defaults where the URL sets none: a
// dial bounded by the store's timeout, and a connection that stays silent
// redialled.
func (r *redisURL) setTimeouts(q url.Values, multiplex int) {
	if !q.Has("dial_timeout") {
		r.client.Dialer.Timeout = r.store.OpTimeout
		if r.client.Dialer.Timeout == 0 {
			r.client.Dialer.Timeout = storeop.DefaultTimeout
		}
	}
	if !q.Has("write_timeout") {
		r.client.ConnWriteTimeout = redisWriteTimeout
	}
	if multiplex >= 0 {
		r.client.PipelineMultiplex = multiplex
	}
}

// readQuery reads the store's own parameters into r.store and returns the
// ones for rueidis, and pipeline_multiplex (-1 if not given).
func (r *redisURL) readQuery(q url.Values) (passed url.Values, multiplex int, err error) {
	passed, multiplex = url.Values{}, -1
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch {
		case k == "prefix":
			if v == "" || strings.ContainsAny(v, "{}") {
				return nil, 0, errors.New("store URL: redis: prefix must be non-empty and without { or }")
			}
			r.store.KeyPrefix = v
		case k == "op_timeout" || k == "timeout":
			if r.store.OpTimeout, err = time.ParseDuration(v); err != nil || r.store.OpTimeout <= 0 {
				return nil, 0, fmt.Errorf("store URL: redis: %s %q: want a positive duration", k, v)
			}
		case k == "pipeline_multiplex":
			if multiplex, err = strconv.Atoi(v); err != nil || multiplex < 0 || multiplex > rueidis.MaxPipelineMultiplex {
				return nil, 0, fmt.Errorf("store URL: redis: pipeline_multiplex %q: want 0-%d", v, rueidis.MaxPipelineMultiplex)
			}
		case rueidisParams[k]:
			passed[k] = vs
		default:
			return nil, 0, fmt.Errorf("store URL: redis: unknown parameter %q", k)
		}
	}
	return passed, multiplex, nil
}

// redisHostPort adds Redis's port to a host that has none.
func redisHostPort(host string) string {
	if _, _, err := net.SplitHostPort(host); err != nil {
		return net.JoinHostPort(strings.Trim(host, "[]"), "6379")
	}
	return host
}
