// Package redis is the shared sessiond.Store on Redis ≥ 7, standalone or
// Redis Cluster, through github.com/redis/rueidis (pipelined, so one
// connection or a few serve any number of concurrent calls).
//
// # URLs
//
//	redis://[user:pass@]host:port[/db][?options]
//	rediss://...                                  (TLS)
//	redis+cluster://[user:pass@]h1:p1,h2:p2,...[?options]
//	rediss+cluster://...                          (TLS)
//
// A redis:// URL that names a node of a cluster also works, as a cluster.
// Options (query parameters):
//
//	prefix=sd:            key prefix, without { or } (default "sd:")
//	timeout=2s            bound on every call whose context has no deadline,
//	                      so a dead server answers an error, never a hang
//	dial_timeout=2s       connecting (default: timeout)
//	write_timeout=3s      a connection that gets no answer for this long is
//	                      closed and redialled (rueidis ConnWriteTimeout)
//	pipeline_multiplex=n  2^n pipelined connections per node (default 2 on a
//	                      single server, 0 on a cluster: rueidis defaults)
//	db=, client_name=, protocol=2, client_cache=0, max_retries=0, skip_verify=
//	                      passed to rueidis.ParseURL (max_retries=0 stops
//	                      rueidis retrying reads on a broken connection,
//	                      which it does within the timeout otherwise)
//
// # Keys
//
// A user's keys all carry the hash tag of the user's bucket, the first two
// hex digits of SHA-256(user id), so that one Lua script can revoke all of a
// user's sessions atomically even on a cluster. A session must still be
// found by its id alone; so the store asks the Manager, through
// sessiond.SessionPlacer, for ids that begin with the user's bucket (256
// draws on average, on creation and rotation only). With the default
// prefix:
//
//	sd:{ab}:s:<id>        a session: a packed string (see codec.go) whose TTL
//	                      is its idle expiry; <id> is the 32 raw bytes of the
//	                      session id, not its 64 hex digits, to halve the
//	                      bytes every session costs in the key and the index
//	sd:{ab}:u:<user id>   a user record (hash; no TTL)
//	sd:{ab}:i:<user id>   the user's sessions: a sorted set of raw ids scored
//	                      by idle expiry (ms), trimmed on every write to it,
//	                      with the TTL of its latest session
//	sd:{k}:key:<hash>     an API key's record; sd:{k}:keys lists them
//	sd:t:<id>             a redeemed one-time token, until it expires
//
// Redis expires sessions by itself, so there is no sweeper. Sessions last
// across a Redis restart only if the server persists (AOF or RDB): without
// persistence a restart signs everyone out, which fails closed.
package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// Store is a Redis-backed sessiond.Store.
type Store struct {
	client  rueidis.Client
	prefix  string
	timeout time.Duration
}

var (
	_ sessiond.Store         = (*Store)(nil)
	_ sessiond.APIKeyStore   = (*Store)(nil)
	_ sessiond.TokenLedger   = (*Store)(nil)
	_ sessiond.SessionPlacer = (*Store)(nil)
)

// Defaults of the URL options.
const (
	DefaultPrefix       = "sd:"
	DefaultTimeout      = 2 * time.Second
	DefaultWriteTimeout = 3 * time.Second
)

// Open connects to the server or cluster a URL names (see the package
// doc).
func Open(ctx context.Context, rawURL string) (*Store, error) {
	opt, s, cluster, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("redis: connect: %w", err)
	}
	s.client = client
	if cluster && client.Mode() != rueidis.ClientModeCluster {
		client.Close()
		return nil, errors.New("redis: a redis+cluster URL names a server that is not in cluster mode")
	}
	if err := s.Ping(ctx); err != nil {
		client.Close()
		return nil, err
	}
	return s, nil
}

// rueidisParams are the query parameters handed to rueidis.ParseURL.
var rueidisParams = map[string]bool{
	"db": true, "dial_timeout": true, "write_timeout": true, "client_name": true,
	"protocol": true, "client_cache": true, "max_retries": true, "skip_verify": true,
}

// parseURL splits a store URL into rueidis options and the store's own.
// Unknown parameters are refused: a misspelt timeout must not be ignored.
func parseURL(raw string) (opt rueidis.ClientOption, s *Store, cluster bool, err error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return opt, nil, false, errors.New("redis: URL needs a scheme")
	}
	switch scheme {
	case "redis", "rediss":
	case "redis+cluster", "rediss+cluster":
		cluster = true
		scheme = strings.TrimSuffix(scheme, "+cluster")
	default:
		return opt, nil, false, fmt.Errorf("redis: unknown scheme %q (redis, rediss, redis+cluster, rediss+cluster)", scheme)
	}
	// The host list of a cluster URL is no URL host (and IPv6 literals in
	// it upset net/url), so cut it out by hand and give rueidis the first.
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hostList := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hostList = authority[:i+1], authority[i+1:]
	}
	hosts := strings.Split(hostList, ",")
	if !cluster && len(hosts) > 1 {
		return opt, nil, false, errors.New("redis: several hosts need redis+cluster://")
	}
	u, err := url.Parse(scheme + "://" + userinfo + hosts[0] + tail)
	if err != nil {
		// The URL may carry a password: never echo it.
		return opt, nil, false, errors.New("redis: malformed URL")
	}
	s = &Store{prefix: DefaultPrefix, timeout: DefaultTimeout}
	q := u.Query()
	passed := url.Values{}
	multiplex := -1
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch {
		case k == "prefix":
			if v == "" || strings.ContainsAny(v, "{}") {
				return opt, nil, false, errors.New("redis: prefix must be non-empty and without { or }")
			}
			s.prefix = v
		case k == "timeout":
			if s.timeout, err = time.ParseDuration(v); err != nil || s.timeout <= 0 {
				return opt, nil, false, fmt.Errorf("redis: timeout %q: want a positive duration", v)
			}
		case k == "pipeline_multiplex":
			if multiplex, err = strconv.Atoi(v); err != nil || multiplex < 0 || multiplex > rueidis.MaxPipelineMultiplex {
				return opt, nil, false, fmt.Errorf("redis: pipeline_multiplex %q: want 0-%d", v, rueidis.MaxPipelineMultiplex)
			}
		case rueidisParams[k]:
			passed[k] = vs
		default:
			return opt, nil, false, fmt.Errorf("redis: unknown URL parameter %q", k)
		}
	}
	u.RawQuery = passed.Encode()
	if u.Path == "/" {
		u.Path = "" // rueidis reads "/" as an empty database number
	}
	if opt, err = rueidis.ParseURL(u.String()); err != nil {
		return opt, nil, false, err // "redis: ...", without the URL
	}
	if cluster {
		if opt.SelectDB != 0 {
			return opt, nil, false, errors.New("redis: a cluster has database 0 only")
		}
		opt.InitAddress = opt.InitAddress[:0]
		for _, h := range hosts {
			if _, _, err := net.SplitHostPort(h); err != nil {
				h = net.JoinHostPort(strings.Trim(h, "[]"), "6379")
			}
			opt.InitAddress = append(opt.InitAddress, h)
		}
		if opt.TLSConfig != nil {
			opt.TLSConfig.ServerName = "" // each node is verified under its own name
		}
	}
	if !q.Has("dial_timeout") {
		opt.Dialer.Timeout = s.timeout
	}
	if !q.Has("write_timeout") {
		opt.ConnWriteTimeout = DefaultWriteTimeout
	}
	if multiplex >= 0 {
		opt.PipelineMultiplex = multiplex
	}
	return opt, s, cluster, nil
}

// Close closes the connections; calls in flight finish first.
func (s *Store) Close() error {
	s.client.Close()
	return nil
}

// Ping checks every node (on a cluster, a node that is down leaves some
// users without sessions, so the store is not ready).
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	for _, node := range s.client.Nodes() {
		if err := node.Do(ctx, node.B().Ping().Build()).Error(); err != nil {
			return fmt.Errorf("redis: ping: %w", err)
		}
	}
	return nil
}

// bound gives ctx the store's timeout unless it already has a deadline, so
// that no call waits for a dead server for long: callers fail closed
// within the timeout instead of piling up.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.timeout)
}

// IDPrefix places a session in its user's hash slot: the Manager only
// creates sessions whose id begins with the user's bucket.
func (s *Store) IDPrefix(userID string) string { return bucket(userID) }

// placed reports whether a session id was drawn for its user's bucket.
func placed(userID, id string) bool { return len(id) >= 2 && id[:2] == bucket(userID) }

// bucket is the hash tag of a user's keys: 8 bits of SHA-256(user id), as
// two hex digits. 256 tags spread users over every node of a cluster
// (16384 slots, but a cluster rarely has more than a few dozen nodes).
func bucket(userID string) string {
	sum := sha256.Sum256([]byte(userID))
	return hex.EncodeToString(sum[:1])
}

// base is the tagged start of every key of one bucket: "sd:{ab}".
func (s *Store) base(tag string) string { return s.prefix + "{" + tag + "}" }

// sessionKey returns the key and raw id of a session id, or false if id is
// not one (then no such session can exist).
func (s *Store) sessionKey(id string) (base, key, raw string, ok bool) {
	if !sessiond.ValidSessionID(id) {
		return "", "", "", false
	}
	b, _ := hex.DecodeString(id)
	base = s.base(id[:2])
	return base, base + ":s:" + string(b), string(b), true
}

func (s *Store) userKey(userID string) (base, user, index string) {
	base = s.base(bucket(userID))
	return base, base + ":u:" + userID, base + ":i:" + userID
}

func wrap(err error) error { return fmt.Errorf("redis: %w", err) }
