package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/admin"
	"github.com/sessiond/sessiond/server"
)

// serveConfig is what `sessiond serve` is told.
type serveConfig struct {
	addr       string
	store      storeFlags
	cookieName string // read by /v1/auth
	auth       authFlags
	metrics    metricsFlags
	secretFile string
	logLevel   slog.Level
	policy     sessiond.Config
}

// shutdownTimeout bounds how long in-flight requests may take to finish
// after SIGTERM.
const shutdownTimeout = 30 * time.Second

func serve(args []string, stderr io.Writer) error {
	var cfg serveConfig
	c := cfg.command(stderr)
	if err := c.parse(args); err != nil {
		return err
	}
	if err := c.noArgs(); err != nil {
		return err
	}
	if err := cfg.check(); err != nil {
		return c.usageError("%v", err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	if err := listenAndServe(cfg, log); err != nil {
		log.Error("sessiond stopped", "err", err)
		return errExit
	}
	return nil
}

// command defines the flags of serve, bound to cfg. Every setting of
// sessiond is one of them, so the config file checks its names here.
func (cfg *serveConfig) command(stderr io.Writer) *command {
	c := newCommand("serve", "serve [flags]", stderr)
	c.StringVar(&cfg.addr, "addr", "127.0.0.1:7070", "listen address, host:port")
	cfg.store.register(c)
	c.StringVar(&cfg.cookieName, "cookie-name", server.DefaultCookieName, "session cookie read by /v1/auth (the Authorization: Bearer header is always read)")
	c.StringVar(&cfg.secretFile, "secret-file", "", "file of comma-separated token secrets, current first (instead of $SESSIOND_SECRET; default: generated into <data-dir>/secret.key)")
	c.DurationVar(&cfg.policy.IdleTimeout, "idle-timeout", sessiond.DefaultIdleTimeout, "end sessions unused for this long")
	c.DurationVar(&cfg.policy.Lifetime, "lifetime", sessiond.DefaultLifetime, "end sessions this long after creation, however active")
	c.DurationVar(&cfg.policy.TouchInterval, "touch-interval", sessiond.DefaultTouchInterval, "write a session's last use at most this often")
	c.IntVar(&cfg.policy.MaxDataSize, "max-data-size", sessiond.DefaultMaxDataSize, "largest session data, bytes of JSON")
	c.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "debug, info, warn or error")
	cfg.auth.register(c)
	cfg.metrics.register(c)
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

// errExit is a failure already logged; the process exits with status 1.
var errExit = errors.New("failed")

func (cfg *serveConfig) check() error {
	p := cfg.policy
	switch {
	case p.IdleTimeout <= 0, p.Lifetime <= 0, p.TouchInterval <= 0:
		return errors.New("--idle-timeout, --lifetime and --touch-interval must be positive")
	case p.Lifetime > sessiond.MaxLifetime:
		return fmt.Errorf("--lifetime must be at most %s", sessiond.MaxLifetime)
	case p.MaxDataSize <= 0:
		return errors.New("--max-data-size must be positive")
	}
	if err := (&http.Cookie{Name: cfg.cookieName, Value: "x"}).Valid(); err != nil {
		return fmt.Errorf("--cookie-name: %v", err)
	}
	if err := cfg.metrics.check(); err != nil {
		return err
	}
	return cfg.auth.check()
}

// listenAndServe serves until SIGINT or SIGTERM, then stops accepting connections, lets
// the requests in flight finish (within shutdownTimeout) and closes the
// store.
func listenAndServe(cfg serveConfig, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	keys, err := loadKeyring(cfg.secretFile, &cfg.store, log)
	if err != nil {
		return err
	}
	signing, err := cfg.auth.loadKeys(&cfg.store, log)
	if err != nil {
		return err
	}
	store, apiKeys, err := cfg.store.openKeys(ctx)
	if err != nil {
		return err
	}
	store = cfg.auth.cache(store, log)
	defer store.Close()
	apiConfig, err := signing.apply(server.Config{
		Manager:    sessiond.NewManager(store, keys, cfg.policy),
		APIKeys:    apiKeys,
		Logger:     log,
		CookieName: cfg.cookieName,
	}, store)
	if err != nil {
		return err
	}
	var stopMetrics func()
	if apiConfig.Metrics, stopMetrics, err = cfg.metrics.start(cfg.addr, log); err != nil {
		return err
	}
	defer stopMetrics()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	// The console shares the API's manager (same store, same near cache), so
	// what it bans or revokes reaches every node like an API call does.
	mux := http.NewServeMux()
	mux.Handle("/admin/", admin.New(admin.Config{
		Manager: apiConfig.Manager,
		APIKeys: apiKeys,
		Logger:  log,
		Stats:   adminStats(apiConfig.Metrics, store),
	}))
	mux.Handle("/", server.New(apiConfig))
	srv := &http.Server{
		Handler: mux,
		// Slow or endless clients must not hold connections: bound every
		// phase of a request (the handler bounds its own store calls).
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	storeURL, _ := cfg.store.storeURL()
	log.Info("sessiond listening",
		"addr", ln.Addr().String(),
		"store", scheme(storeURL), // never the URL: it may carry a password
		"version", version(),
		"cookie_name", cfg.cookieName,
		"idle_timeout", cfg.policy.IdleTimeout.String(),
		"lifetime", cfg.policy.Lifetime.String())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	stop() // a second signal kills the process at once
	log.Info("shutting down", "timeout", shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("requests still running after %s: %w", shutdownTimeout, err)
	}
	log.Info("sessiond stopped")
	return nil
}
