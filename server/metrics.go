package server

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/nearcache"
)

// unmatchedRoute is the route label of requests no route matched (the JSON
// 404 and 405 answers): the raw path is never a label, as it may carry a
// user id and has no bound.
const unmatchedRoute = "unmatched"

// Results of sessiond_validations_total.
const (
	validationValid   = "valid"   // a live session
	validationInvalid = "invalid" // refused: malformed, forged, unknown, expired, revoked, banned
	validationError   = "error"   // the store could not answer (the request failed closed)
)

// metrics are the server's Prometheus metrics. Every label value comes from
// a small fixed set (route patterns, status codes, validation results): a
// token, an API key, a session id or a user id is never a label, as labels
// are kept and shown in clear by every monitoring system, and an unbounded
// label set exhausts the memory of the scraper.
type metrics struct {
	// served is the registry GET /metrics serves; nil when the metrics
	// went to the caller's Options.Metrics, which the caller serves.
	served *prometheus.Registry

	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	storeErrors *prometheus.CounterVec
	validations *prometheus.CounterVec
	created     prometheus.Counter
	revoked     prometheus.Counter
	limited     prometheus.Counter
}

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors, as GET /metrics serves it. Pass one as Options.Metrics to
// serve the metrics on a listener of their own (see MetricsHandler).
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// MetricsHandler serves reg in the Prometheus exposition format. It needs
// no API key, as scrapers rarely carry one: serve it only where the public
// cannot reach it (an internal interface or port), as the figures describe
// the traffic and the health of the deployment.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// A collector that fails (e.g. /proc unreadable) must not hide the
		// other metrics.
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// newMetrics registers the server's metrics with opts.Metrics, or with a
// registry of its own. It panics if they are registered there already: one
// registry per server, a wiring mistake otherwise.
func newMetrics(opts Options) *metrics {
	reg := opts.Metrics
	if reg == nil {
		reg = NewRegistry()
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_http_requests_total",
			Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sessiond_http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by route pattern.",
			// A validation served from memory takes microseconds, one that
			// waits for a struggling store up to the request timeout.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_store_errors_total",
			Help: "Requests that failed closed with 503 store_unavailable, by route pattern.",
		}, []string{"route"}),
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_validations_total",
			Help: "Session validations (POST /v1/sessions/validate and GET /v1/auth), by result: valid, invalid or error (store unavailable).",
		}, []string{"result"}),
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessiond_sessions_created_total",
			Help: "Sessions created.",
		}),
		revoked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessiond_sessions_revoked_total",
			Help: "Sessions revoked: logouts, deletions by id, revoke-all calls and bans (each revoked session counts).",
		}),
		limited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessiond_rate_limited_total",
			Help: "Requests refused with 429 rate_limited.",
		}),
	}
	// Every result exists from the start, so that a ratio such as
	// invalid/total is defined before the first refusal.
	for _, result := range []string{validationValid, validationInvalid, validationError} {
		m.validations.WithLabelValues(result)
	}
	reg.MustRegister(m.requests, m.duration, m.storeErrors, m.validations, m.created, m.revoked, m.limited)
	if nc, ok := opts.Manager.Config().Cache.(cacheCounters); ok {
		registerNearCache(reg, nc)
	}
	if opts.Metrics == nil {
		m.served = reg
	}
	return m
}

// cacheCounters is what the metrics read of the manager's near cache
// (*nearcache.Cache): a cache without them is simply not measured.
type cacheCounters interface {
	Stats() *nearcache.Stats
	Healthy() bool
}

// registerNearCache exposes the near cache's counters. They are read from
// the cache's own atomics at scrape time, so the cache pays nothing extra.
func registerNearCache(reg prometheus.Registerer, nc cacheCounters) {
	st := nc.Stats()
	counter := func(name, help string, read func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(read()) })
	}
	reg.MustRegister(
		counter("sessiond_nearcache_hits_total", "Near-cache lookups served from memory.", st.Hits.Load),
		counter("sessiond_nearcache_misses_total", "Near-cache lookups that read the store.", st.Misses.Load),
		counter("sessiond_nearcache_invalidations_total", "Invalidation messages received from other nodes and this one.", st.Invalidations.Load),
		counter("sessiond_nearcache_flushes_total", "Times the near cache was emptied because its invalidation channel dropped.", st.Flushes.Load),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sessiond_nearcache_healthy",
			Help: "1 while the invalidation channel is live and the near cache in use, 0 while it is bypassed.",
		}, func() float64 {
			if nc.Healthy() {
				return 1
			}
			return 0
		}),
	)
}

// countRequests feeds the request metrics. It runs inside logRequests,
// whose request info carries the route pattern the mux matched, and
// outside recoverPanics, so that a recovered panic counts as the 500 it is
// answered with.
func (s *server) countRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := infoOf(r).route
		if route == "" {
			route = unmatchedRoute
		}
		s.count(r, route, sw.status(), start)
	})
}

// countRoute is countRequests for a handler whose route is known up front.
func (s *server) countRoute(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		s.count(r, route, sw.status(), start)
	})
}

func (s *server) count(r *http.Request, route string, status int, start time.Time) {
	s.metrics.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	s.metrics.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	// Every 503 of the API is store_unavailable (fail and readyz are its
	// only sources). One answered to a client that has gone away says
	// nothing about the store.
	if status == http.StatusServiceUnavailable && r.Context().Err() == nil {
		s.metrics.storeErrors.WithLabelValues(route).Inc()
	}
}

// validation counts one session validation by the error Manager.Validate
// returned: nil is valid, a domain error (session_invalid, ...) invalid,
// anything else means the store could not answer.
func (m *metrics) validation(err error) {
	result := validationValid
	var de *sessiond.Error
	switch {
	case errors.As(err, &de):
		result = validationInvalid
	case err != nil:
		result = validationError
	}
	m.validations.WithLabelValues(result).Inc()
}

// sessionCreated counts one new session.
func (m *metrics) sessionCreated() { m.created.Inc() }

// sessionsRevoked counts n revoked sessions.
func (m *metrics) sessionsRevoked(n int) { m.revoked.Add(float64(n)) }

// rateLimited counts one request refused with 429 rate_limited.
func (m *metrics) rateLimited() { m.limited.Inc() }
