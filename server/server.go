// Package server is the sessiond JSON API: an http.Handler over a
// *sessiond.Manager that services in any language call to create, validate,
// rotate and revoke sessions, and to manage users.
//
//	h := server.New(server.Options{Manager: m, APIKeys: store})
//	http.ListenAndServe("127.0.0.1:7070", h)
//
// What it guarantees:
//
//   - Every /v1 route but /v1/auth (which checks the end user's session)
//     and /v1/tokens/public-keys needs an API key (Authorization: Bearer
//     sk_...); the key is looked up by its SHA-256, never compared byte by
//     byte, and there is no cache, so a revoked key is refused by the very
//     next request.
//   - Bad input gets a 4xx and a JSON error code, never a 5xx, a panic or a
//     hang: bodies are bounded, must be valid UTF-8 JSON without unknown
//     fields, and ids are checked before any store call.
//   - A store that cannot answer fails closed with 503 store_unavailable; the
//     cause is logged, never shown to the client.
//   - The API and the middleware (package sessionhttp) agree: one status
//     table (sessionhttp.ErrorStatus) answers the domain's errors, and one
//     credential parser (sessionhttp.TokenFrom) reads the token /v1/auth
//     checks. The API adds only codes of its own (invalid_json,
//     unauthorized, method_not_allowed, body_too_large, rate_limited,
//     internal_error) and one-time tokens' (token_invalid, token_expired,
//     token_used).
//   - Tokens and API keys are never logged; the request log carries the
//     session id (stable for the session's life, and no credential) and the
//     API key's id instead.
//   - GET /metrics (Prometheus; labels are route patterns, never ids) and
//     GET /openapi.json (the API's OpenAPI 3.1 document) need no API key:
//     keep the listener internal, or serve the metrics on an internal one
//     of their own (Options.Metrics).
package server

import (
	"cmp"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/server/assertion"
	"github.com/sessiond/sessiond/server/onetime"
)

// Defaults for Options.
const (
	DefaultMaxBodyBytes   = 1 << 20
	DefaultRequestTimeout = 10 * time.Second
)

// Options wire the API to its manager and key store.
type Options struct {
	// Manager is the session policy over the store. Its near cache, if it
	// has one (package nearcache), has its counters exported as metrics.
	Manager *sessiond.Manager
	// APIKeys holds the keys that may call /v1; usually the same store as
	// the manager's.
	APIKeys APIKeyStore
	// Logger receives one line per request and every store failure
	// (default slog.Default()).
	Logger *slog.Logger
	// MaxBodyBytes bounds request bodies (default 1 MiB); larger ones get
	// 413 body_too_large.
	MaxBodyBytes int64
	// RequestTimeout bounds each request, store calls included, so that a
	// store that stops answering fails closed with 503 instead of holding
	// connections open (default 10s).
	RequestTimeout time.Duration
	// Metrics, if set, receives the server's Prometheus metrics, and GET
	// /metrics is left out of the API: the caller serves the registry on an
	// internal listener (MetricsHandler), or not at all. If nil, the server
	// keeps a registry of its own (NewRegistry) and serves it at GET
	// /metrics without an API key.
	Metrics *prometheus.Registry

	// CookieName is the session cookie GET /v1/auth reads (default
	// sessionhttp.DefaultCookieName); the Authorization: Bearer header is
	// always read.
	CookieName string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client that /v1/auth counts invalid tokens against (default none:
	// the connection's address is the client).
	TrustedProxies []netip.Prefix
	// AuthFailureRate and AuthFailureBurst throttle invalid tokens at
	// /v1/auth per client address: AuthFailureBurst at once, refilled at
	// AuthFailureRate per second (defaults 1/s and 20).
	AuthFailureRate  float64
	AuthFailureBurst int
	// Assertions, when set, makes /v1/auth add X-Identity-Token and
	// publishes its keys at /.well-known/jwks.json.
	Assertions *assertion.Signer
	// Tokens, when set, serves the one-time token routes (/v1/tokens).
	Tokens *onetime.Issuer
}

// server holds the handlers' shared state.
type server struct {
	m       *sessiond.Manager
	keys    APIKeyStore
	log     *slog.Logger
	maxBody int64
	mux     *routeMux
	opts    Options // for the routes that read more of it
	metrics *metrics
	auth    *forwardAuth
}

// New returns the API handler. It panics if Manager or APIKeys is nil, a
// wiring mistake that must not reach production as an open API.
func New(opts Options) http.Handler {
	h, _ := newServer(opts)
	return h
}

// newServer returns the API handler and the server behind it, whose routes
// the tests read.
func newServer(opts Options) (http.Handler, *server) {
	if opts.Manager == nil || opts.APIKeys == nil {
		panic("server: Options.Manager and Options.APIKeys are required")
	}
	s := &server{
		m:       opts.Manager,
		keys:    opts.APIKeys,
		log:     cmp.Or(opts.Logger, slog.Default()),
		maxBody: cmp.Or(opts.MaxBodyBytes, DefaultMaxBodyBytes),
		mux:     newRouteMux(),
		opts:    opts,
		metrics: newMetrics(opts),
	}
	s.routes()
	api := s.logRequests(s.countRequests(s.recoverPanics(withTimeout(cmp.Or(opts.RequestTimeout, DefaultRequestTimeout), http.HandlerFunc(s.dispatch)))))
	// The forward-auth check runs once for every request a proxy guards, so
	// it takes a short path: no request log line (the proxy logs the
	// request; metrics still count it), no per-request timeout (its one
	// store read is bounded by the store's own timeout) and no second route
	// match.
	auth := s.countRoute(authRoute, s.recoverPanics(s.auth))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/auth" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			auth.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	}), s
}

func (s *server) routes() {
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)

	v1 := func(pattern string, h http.HandlerFunc) { s.mux.Handle(pattern, s.requireAPIKey(h)) }
	v1("POST /v1/sessions", s.createSession)
	v1("POST /v1/sessions/validate", s.validateSession)
	v1("POST /v1/sessions/rotate", s.rotateSession)
	v1("POST /v1/sessions/revoke", s.revokeSession)
	v1("GET /v1/sessions/{id}", s.getSession)
	v1("DELETE /v1/sessions/{id}", s.deleteSession)
	v1("PATCH /v1/sessions/{id}/data", s.patchSessionData)
	v1("GET /v1/users/{user_id}/sessions", s.listUserSessions)
	v1("DELETE /v1/users/{user_id}/sessions", s.revokeUserSessions)
	v1("GET /v1/users/{user_id}", s.getUser)
	v1("PUT /v1/users/{user_id}", s.putUser)
	s.authRoutes()
	s.opsRoutes()
}

// dispatch serves matched routes through the mux and answers the rest with
// the API's JSON errors instead of the mux's plain-text 404 and 405. A
// catch-all "/" pattern would hide the 405s (it matches every method), so
// the mux's own verdict is asked for and translated.
func (s *server) dispatch(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	noteRoute(r, pattern)
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	verdict := &discardWriter{header: http.Header{}}
	h.ServeHTTP(verdict, r)
	if verdict.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", verdict.header.Get("Allow"))
		writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method "+r.Method+" is not allowed here")
		return
	}
	writeError(w, http.StatusNotFound, sessiond.ErrNotFound.Code, "no such route")
}

// discardWriter records the status and headers of a response nobody reads.
type discardWriter struct {
	header http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(status int)      { d.status = status }
