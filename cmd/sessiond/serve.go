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
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/nearcache"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/server/admin"
	"github.com/sessiond/sessiond/server/assertion"
	"github.com/sessiond/sessiond/server/onetime"
)

// shutdownTimeout bounds how long in-flight requests may take to finish
// after SIGTERM.
const shutdownTimeout = 30 * time.Second

// errExit is a failure already logged; the process exits with status 1.
var errExit = errors.New("failed")

// serve is `sessiond serve`: flags into one serveConfig, the keys it names,
// then runServe until SIGINT or SIGTERM.
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // a second signal kills the process at once
	if err := runServe(ctx, cfg, log); err != nil {
		log.Error("sessiond stopped", "err", err)
		return errExit
	}
	return nil
}

// runServe is the one wiring path of `sessiond serve` (in the spirit of
// benbjohnson/wtf's Main.Run): it builds, in this order and nowhere else,
//
//	store → near cache → manager → issuers (one-time tokens, identity
//	assertions) → metrics registry → JSON API → admin console
//
// then listens until ctx ends, and tears down what it built in reverse:
// the listeners stop (letting requests in flight finish, within
// shutdownTimeout), then the cache's subscription, then the store. Every
// part is always built, or explicitly left out with a log line saying why,
// so that no later part is handed a nil it does not expect.
func runServe(ctx context.Context, cfg serveConfig, log *slog.Logger) error {
	// The keys first: a bad key stops the start before the store is opened.
	keys, err := loadKeys(&cfg, log)
	if err != nil {
		return err
	}
	var built teardown
	defer func() { built.run() }()

	// 1. The store.
	store, err := cfg.store.openStore(ctx)
	if err != nil {
		return err
	}
	built.push(func() {
		if err := store.Close(); err != nil {
			log.Warn("closing the store", "err", err)
		}
	})
	keyStore, err := apiKeys(store)
	if err != nil {
		return err
	}

	// 2. The near cache, where the store announces invalidations: without
	// them, caching would serve a session revoked on another node for up to
	// the staleness bound.
	var cache *nearcache.Cache
	switch {
	case !cfg.nearCache:
		log.Info("near cache off")
	default:
		cache, err = nearcache.New(store, nearcache.Options{MaxEntries: cfg.cacheSize, MaxStaleness: cfg.maxStaleness, Logger: log})
		switch {
		case errors.Is(err, nearcache.ErrNoInvalidations):
			log.Info("near cache off: the store announces no invalidations")
		case err != nil:
			return err
		default:
			built.push(cache.Close)
			log.Info("near cache on", "max_staleness", cfg.maxStaleness.String(), "size", cfg.cacheSize)
		}
	}

	// 3. The manager. The console shares it with the API (same store, same
	// cache), so what it bans or revokes reaches every node like an API
	// call does.
	policy := cfg.policy
	if cache != nil {
		policy.Cache = cache
	}
	manager := sessiond.NewManager(store, keys.sessions, policy)

	// 4. The issuers. The store records redeemed single-use tokens, so that
	// each is redeemed once across every node sharing it; a store without
	// that capability gets an issuer of reusable tokens only.
	ledger, ok := store.(onetime.Ledger)
	if !ok {
		log.Warn("the store cannot redeem single-use tokens: POST /v1/tokens refuses single_use")
	}
	tokens, err := onetime.NewIssuer(ledger, keys.tokens...)
	if err != nil {
		return err
	}
	var assertions *assertion.Signer
	if cfg.assertions {
		if assertions, err = assertion.NewSigner(assertion.Options{Audience: cfg.assertionAudience, TTL: cfg.assertionTTL}, keys.assertions...); err != nil {
			return err
		}
		log.Info("identity assertions on", "audience", cfg.assertionAudience, "ttl", cfg.assertionTTL.String())
	}

	// 5. The metrics registry, always: the API counts into it and the
	// console reads its counters, whether or where it is served.
	metrics := server.NewRegistry()

	// 6. The JSON API.
	api := server.New(server.Options{
		Manager:          manager,
		APIKeys:          keyStore,
		Logger:           log,
		Metrics:          metrics,
		CookieName:       cfg.cookieName,
		TrustedProxies:   cfg.trustedProxies,
		AuthFailureRate:  cfg.failureRate,
		AuthFailureBurst: cfg.failureBurst,
		Assertions:       assertions,
		Tokens:           tokens,
	})

	// 7. The admin console.
	console := admin.New(admin.Options{
		Manager: manager,
		APIKeys: keyStore,
		Logger:  log,
		Stats:   adminStats(metrics, cache),
	})

	// Serving. GET /metrics needs no API key (scrapers rarely carry one),
	// so it belongs on an internal interface: on the API's listener while
	// that is loopback (the default), else on a listener of its own, or
	// nowhere.
	mux := http.NewServeMux()
	mux.Handle("/admin/", console)
	mux.Handle("/", api)
	switch {
	case !cfg.metrics:
	case cfg.metricsAddr == "":
		if !loopback(cfg.addr) {
			log.Warn("GET /metrics is served without an API key on a non-loopback address; serve it on an internal one with --metrics-addr, or turn it off with --metrics=false", "addr", cfg.addr)
		}
		mux.Handle("GET /metrics", server.MetricsHandler(metrics))
	default:
		metricsMux := http.NewServeMux()
		metricsMux.Handle("GET /metrics", server.MetricsHandler(metrics))
		srv, err := listen(cfg.metricsAddr, metricsMux, log)
		if err != nil {
			return err
		}
		// Scrapes are short and carry nothing worth finishing: close at once.
		built.push(func() { srv.Close() })
		log.Info("metrics listening", "addr", srv.Addr)
	}
	srv, err := listen(cfg.addr, mux, log)
	if err != nil {
		return err
	}
	storeURL, _ := cfg.store.storeURL()
	log.Info("sessiond listening",
		"addr", srv.Addr,
		"store", scheme(storeURL), // never the URL: it may carry a password
		"version", version(),
		"cookie_name", cfg.cookieName,
		"idle_timeout", cfg.policy.IdleTimeout.String(),
		"lifetime", cfg.policy.Lifetime.String())

	select {
	case err := <-srv.stopped:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("requests still running after %s: %w", shutdownTimeout, err)
	}
	built.run() // before the last log line: the store is closed when it says so
	log.Info("sessiond stopped")
	return nil
}

// teardown is what runServe built, to be stopped in reverse order of
// construction: a later part may use an earlier one until it is stopped
// itself.
type teardown []func()

func (t *teardown) push(stop func()) { *t = append(*t, stop) }

// run stops everything pushed, last first, once.
func (t *teardown) run() {
	for i := len(*t) - 1; i >= 0; i-- {
		(*t)[i]()
	}
	*t = nil
}

// listener is an HTTP server serving on its own goroutine.
type listener struct {
	*http.Server
	stopped chan error // receives why Serve returned, unless it was Shutdown or Close
}

// listen starts serving h on addr. Slow or endless clients must not hold
// connections: every phase of a request is bounded (the handlers bound
// their own store calls).
func listen(addr string, h http.Handler, log *slog.Logger) (*listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	l := &listener{
		Server: &http.Server{
			Addr:              ln.Addr().String(),
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		stopped: make(chan error, 1),
	}
	go func() {
		if err := l.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("a listener stopped", "addr", l.Addr, "err", err)
			l.stopped <- err
		}
	}()
	return l, nil
}

// adminStats feeds the console's live counters from what the server
// already measures: the validation counter of the metrics registry and the
// near cache's hit and miss counts (cache is nil without a near cache).
// The rate is over the time between two looks at the dashboard.
func adminStats(reg prometheus.Gatherer, cache *nearcache.Cache) func() admin.Stats {
	var (
		mu        sync.Mutex
		lastCount float64
		lastAt    time.Time
		rate      float64
	)
	return func() admin.Stats {
		st := admin.Stats{ActiveSessions: -1, CacheHitRatio: -1}
		if cache != nil {
			hits, misses := cache.Stats().Hits.Load(), cache.Stats().Misses.Load()
			st.CacheHitRatio = 0
			if hits+misses > 0 {
				st.CacheHitRatio = float64(hits) / float64(hits+misses)
			}
		}
		count := counterSum(reg, "sessiond_validations_total")
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if elapsed := now.Sub(lastAt).Seconds(); !lastAt.IsZero() && elapsed > 0 {
			rate = (count - lastCount) / elapsed
		}
		lastCount, lastAt = count, now
		st.ValidationsPerSecond = rate
		return st
	}
}

// counterSum adds up every series of a counter family.
func counterSum(reg prometheus.Gatherer, name string) float64 {
	families, err := reg.Gather()
	if err != nil {
		return 0
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
