package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/server/assertion"
	"github.com/sessiond/sessiond/server/onetime"
	"github.com/sessiond/sessiond/sessionhttp"
	"github.com/sessiond/sessiond/stores"
)

// serveConfig is everything `sessiond serve` is told: its flags, each also
// read from $SESSIOND_<FLAG> and the config file (flags.go, config.go).
// It only holds settings; runServe (serve.go) builds the server from it.
type serveConfig struct {
	addr       string
	store      storeFlags
	cookieName string // read by /v1/auth
	secretFile string
	logLevel   slog.Level
	policy     sessiond.Config

	// The near cache.
	nearCache    bool
	maxStaleness time.Duration
	cacheSize    int

	// Forward auth (/v1/auth).
	trustedProxies prefixList
	failureRate    float64
	failureBurst   int

	// Identity assertions (X-Identity-Token).
	assertions        bool
	assertionAudience string
	assertionTTL      time.Duration

	// Where GET /metrics is served: on --addr (the default, meant for a
	// loopback address), on a listener of its own (--metrics-addr), or
	// nowhere (--metrics=false). The registry exists either way: the
	// console's counters read it.
	metrics     bool
	metricsAddr string
}

// command defines the flags of serve, bound to cfg. Every setting of
// sessiond is one of them, so the config file checks its names here.
func (cfg *serveConfig) command(stderr io.Writer) *command {
	c := newCommand("serve", "serve [flags]", stderr)
	d := sessiond.DefaultConfig()
	c.StringVar(&cfg.addr, "addr", "127.0.0.1:7070", "listen address, host:port")
	cfg.store.register(c)
	c.StringVar(&cfg.cookieName, "cookie-name", sessionhttp.DefaultCookieName, "session cookie read by /v1/auth (the Authorization: Bearer header is always read)")
	c.StringVar(&cfg.secretFile, "secret-file", "", "file of comma-separated token secrets, current first (instead of $SESSIOND_SECRET; default: generated into <data-dir>/secret.key)")
	c.DurationVar(&cfg.policy.IdleTimeout, "idle-timeout", d.IdleTimeout, "end sessions unused for this long")
	c.DurationVar(&cfg.policy.Lifetime, "lifetime", d.Lifetime, "end sessions this long after creation, however active")
	c.DurationVar(&cfg.policy.TouchInterval, "touch-interval", d.TouchInterval, "write a session's last use at most this often (at most half the idle timeout apart)")
	c.IntVar(&cfg.policy.MaxDataSize, "max-data-size", d.MaxDataSize, "largest session data, bytes of JSON")
	c.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "debug, info, warn or error")

	c.BoolVar(&cfg.nearCache, "near-cache", true, "cache validated sessions in process, kept coherent by the store's invalidations (used only with a store that announces them)")
	c.DurationVar(&cfg.maxStaleness, "near-cache-max-staleness", time.Second, "hard bound on how long a lost invalidation can go unnoticed")
	c.IntVar(&cfg.cacheSize, "near-cache-size", 100_000, "most sessions (and, separately, users) the near cache holds")

	c.Var(&cfg.trustedProxies, "trusted-proxies", "comma-separated CIDR prefixes or addresses of reverse proxies whose X-Forwarded-For names the client that /v1/auth rate-limits (default none)")
	c.Float64Var(&cfg.failureRate, "auth-failure-rate", server.DefaultAuthFailureRate, "invalid tokens per second a client address earns back at /v1/auth")
	c.IntVar(&cfg.failureBurst, "auth-failure-burst", server.DefaultAuthFailureBurst, "invalid tokens a client address may send at once before /v1/auth answers 429")

	c.BoolVar(&cfg.assertions, "identity-assertion", false, "/v1/auth adds X-Identity-Token, a JWT (EdDSA) verifiable with GET /.well-known/jwks.json")
	c.StringVar(&cfg.assertionAudience, "assertion-audience", "upstream", "aud claim of identity assertions")
	c.DurationVar(&cfg.assertionTTL, "assertion-ttl", assertion.MaxTTL, "lifetime of an identity assertion, 1s to 60s")

	c.BoolVar(&cfg.metrics, "metrics", true, "serve Prometheus metrics at GET /metrics, without an API key: never where the public can reach it")
	c.StringVar(&cfg.metricsAddr, "metrics-addr", "", "serve GET /metrics on this separate listener, host:port on an internal interface, instead of on --addr")

	c.secretSettings("secret", "token-key", "assertion-key")
	c.footer = `
environment:
  SESSIOND_SECRET  comma-separated token secrets (32+ bytes each, base64 or
                   text), current first; keep an old one after it until its
                   sessions have expired. Not a flag: command lines are visible
                   to every user of the machine.
  SESSIOND_TOKEN_KEY
                   comma-separated one-time token keys (32-byte Ed25519 seeds,
                   hex), current first (default: generated into
                   <data-dir>/paseto.key).
  SESSIOND_ASSERTION_KEY
                   comma-separated identity assertion keys (32-byte Ed25519
                   seeds, base64), current first (default: generated into
                   <data-dir>/assertion.key). Nodes sharing a store must share
                   all three keys.
`
	return c
}

// check refuses settings that parse but make no sense, as a usage error
// before anything is built.
func (cfg *serveConfig) check() error {
	p := cfg.policy
	switch {
	case p.IdleTimeout <= 0, p.Lifetime <= 0, p.TouchInterval <= 0:
		return errors.New("--idle-timeout, --lifetime and --touch-interval must be positive")
	case p.MaxDataSize <= 0:
		return errors.New("--max-data-size must be positive")
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("--idle-timeout, --lifetime: %v", err)
	}
	if err := (&http.Cookie{Name: cfg.cookieName, Value: "x"}).Valid(); err != nil {
		return fmt.Errorf("--cookie-name: %v", err)
	}
	switch {
	case cfg.maxStaleness <= 0:
		return errors.New("--near-cache-max-staleness must be positive")
	case cfg.cacheSize < 1:
		return errors.New("--near-cache-size must be at least 1")
	case !(cfg.failureRate > 0) || math.IsInf(cfg.failureRate, 0):
		return errors.New("--auth-failure-rate must be a positive number")
	case cfg.failureBurst < 1:
		return errors.New("--auth-failure-burst must be at least 1")
	case cfg.assertionTTL < time.Second || cfg.assertionTTL > assertion.MaxTTL:
		return fmt.Errorf("--assertion-ttl must be between 1s and %s", assertion.MaxTTL)
	case cfg.assertionAudience == "" || len(cfg.assertionAudience) > onetime.MaxFieldLen || !utf8.ValidString(cfg.assertionAudience):
		return fmt.Errorf("--assertion-audience must be 1 to %d bytes of UTF-8", onetime.MaxFieldLen)
	case !cfg.metrics && cfg.metricsAddr != "":
		return errors.New("--metrics-addr needs --metrics")
	}
	return nil
}

// storeFlags are --store and --data-dir, with --config (the file that may
// set them), shared by every command that touches the store, with the same
// defaults everywhere: `sessiond apikey create` and `sessiond serve`
// without flags use the same SQLite file, and with one --config the same
// store.
type storeFlags struct {
	url     string
	dataDir string
}

func (s *storeFlags) register(c *command) {
	c.StringVar(&s.url, "store", "", "store URL: memory://, sqlite:///path.db, redis://, postgres://, mysql:// (default sqlite://<data-dir>/sessiond.db)")
	c.StringVar(&s.dataDir, "data-dir", defaultDataDir(), "directory for the default SQLite store and the generated token key (created 0700)")
	c.defineConfig()
}

// defaultDataDir follows the XDG base directory spec: $XDG_DATA_HOME (if
// absolute) or ~/.local/share, then sessiond.
func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "sessiond")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "sessiond")
	}
	return ""
}

// ensureDataDir creates the data directory, readable by its owner only: it
// holds the token keys and the sessions.
func (s *storeFlags) ensureDataDir() (string, error) {
	if s.dataDir == "" {
		return "", errors.New("no data directory: set --data-dir or $HOME")
	}
	dir, err := filepath.Abs(s.dataDir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	return dir, nil
}

// storeURL returns --store, or the SQLite file in the data directory.
func (s *storeFlags) storeURL() (string, error) {
	if s.url != "" {
		return s.url, nil
	}
	dir, err := s.ensureDataDir()
	if err != nil {
		return "", err
	}
	return (&url.URL{Scheme: "sqlite", Path: filepath.ToSlash(filepath.Join(dir, "sessiond.db"))}).String(), nil
}

// openTimeout bounds connecting to the store and migrating its schema.
const openTimeout = 30 * time.Second

// openStore opens the store the flags name (stores.Open: the one place
// that parses store URLs).
func (s *storeFlags) openStore(ctx context.Context) (sessiond.Store, error) {
	u, err := s.storeURL()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	store, err := stores.Open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("opening the %s store: %w", scheme(u), err)
	}
	return store, nil
}

// apiKeys is the store as the home of the server's API keys; every store
// stores.Open returns is one.
func apiKeys(store sessiond.Store) (server.APIKeyStore, error) {
	keys, ok := store.(server.APIKeyStore)
	if !ok {
		return nil, fmt.Errorf("the %T store cannot hold API keys", store)
	}
	return keys, nil
}

// scheme is the only part of a store URL that is logged or printed: the
// rest may carry a password.
func scheme(storeURL string) string {
	if sch, _, ok := strings.Cut(storeURL, "://"); ok {
		return sch
	}
	return "unknown"
}

// prefixList is the value of --trusted-proxies: CIDR prefixes, or single
// addresses meaning just that address.
type prefixList []netip.Prefix

func (p *prefixList) String() string {
	s := make([]string, len(*p))
	for i, pr := range *p {
		s[i] = pr.String()
	}
	return strings.Join(s, ",")
}

// Set replaces the list, so that the command line wins over the
// environment instead of adding to it.
func (p *prefixList) Set(v string) error {
	var out prefixList
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if pr, err := netip.ParsePrefix(s); err == nil {
			if a := pr.Addr(); a.Is4In6() && pr.Bits() >= 96 {
				pr = netip.PrefixFrom(a.Unmap(), pr.Bits()-96) // clients are compared unmapped
			}
			out = append(out, pr.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return fmt.Errorf("%q is neither a CIDR prefix nor an IP address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	*p = out
	return nil
}

// loopback reports whether a listen address accepts local connections only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
