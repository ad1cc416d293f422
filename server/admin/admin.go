// Package admin is sessiond's web console, served under /admin/: an
// operator signs in with an API key, looks a user up, sees their live
// sessions and devices, revokes one or all of them, bans or unbans the user
// and edits their roles, and watches the server's live counters.
//
//	mux.Handle("/admin/", admin.New(admin.Options{Manager: m, APIKeys: keys}))
//
// It is built on the library it administers: the console's own sign-in is a
// sessiond session handled by sessionhttp (cookie __Host-sessiond-admin,
// distinct from the applications' session cookie), so it gets the same
// guarantees — HttpOnly, Secure, SameSite=Lax cookie, a fresh token at
// sign-in, server-side logout, and cross-origin POSTs refused (CSRF).
//
// The pages are server-rendered html/template with one stylesheet and no
// script, and the Content-Security-Policy forbids scripts altogether, so an
// injected <script> would not run (OWASP: XSS defence in depth). Every
// response is no-store and may not be framed (OWASP: clickjacking).
package admin

import (
	"cmp"
	"context"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/ratelimit"
	"github.com/sessiond/sessiond/internal/webui"
	"github.com/sessiond/sessiond/server/apikey"
	"github.com/sessiond/sessiond/sessionhttp"
)

// APIKeys finds the server's API keys by their hash: what the console
// needs of the key store (server.APIKeyStore has it, and every store the
// server opens).
type APIKeys interface {
	// APIKeyByHash returns the key whose hash (apikey.Hash) is hash, or
	// sessiond.ErrNotFound.
	APIKeyByHash(ctx context.Context, hash string) (apikey.Key, error)
}

// Options wire the console to the server's manager and key store.
type Options struct {
	// Manager is the server's manager: the console manages the sessions
	// and users of its store, and keeps its own sign-ins there too.
	Manager *sessiond.Manager
	// APIKeys holds the keys an operator may sign in with.
	APIKeys APIKeys
	// Stats, if set, supplies the live counters the dashboard shows.
	Stats func() Stats
	// Logger receives store failures and an audit line per sign-in and per
	// change made (default slog.Default()). Never a token or an API key.
	Logger *slog.Logger
	// Insecure is for development over plain http:// on a non-loopback
	// address: the cookie loses its Secure attribute and __Host- prefix
	// (see sessionhttp.Options.Insecure). Browsers accept the secure cookie
	// over http://localhost and http://127.0.0.1 without it.
	Insecure bool
}

// Stats are the server's live counters.
type Stats struct {
	// ActiveSessions is the number of live sessions, or -1 if the store
	// cannot count them cheaply.
	ActiveSessions int64
	// ValidationsPerSecond is the recent validation rate.
	ValidationsPerSecond float64
	// CacheHitRatio is the near cache's hit ratio in [0, 1], or -1 when
	// there is no near cache.
	CacheHitRatio float64
}

// CookieName is the console's session cookie. It differs from the
// applications' cookie (__Host-session), so signing in to the console
// neither replaces nor reveals an application session in the same browser.
const CookieName = "__Host-sessiond-admin"

const (
	// requestTimeout bounds each request, store calls included, so that a
	// store that stops answering gives a 503 page instead of a hung tab.
	requestTimeout = 10 * time.Second
	// maxBodyBytes bounds request bodies: the console's forms are a few
	// short fields.
	maxBodyBytes = 16 << 10
)

// console holds the handlers' shared state.
type console struct {
	m        *sessiond.Manager
	keys     APIKeys
	stats    func() Stats
	log      *slog.Logger
	sessions *sessionhttp.Sessions
	// attempts throttles failed sign-ins per client address (OWASP:
	// Authentication Cheat Sheet, protect against automated attacks).
	attempts *ratelimit.Limiter
	pages    map[string]*template.Template
}

// Failed sign-ins allowed per client address: a burst of 10, then one every
// 6 seconds. An API key has 256 random bits, so this is not what stops a
// guesser; it keeps the form from being a free oracle and the store from
// taking a lookup per request of a flood.
const (
	attemptBurst   = 10
	attemptRate    = 1.0 / 6
	attemptClients = 10_000
)

// New returns the console's handler, which serves everything under /admin/.
// It panics if Manager or APIKeys is nil, a wiring mistake that must not
// reach production as an open console.
func New(opts Options) http.Handler {
	if opts.Manager == nil || opts.APIKeys == nil {
		panic("admin: Options.Manager and Options.APIKeys are required")
	}
	log := cmp.Or(opts.Logger, slog.Default())
	c := &console{
		m:     opts.Manager,
		keys:  opts.APIKeys,
		stats: opts.Stats,
		log:   log,
		sessions: sessionhttp.New(opts.Manager, sessionhttp.Options{
			CookieName: CookieName,
			LoginURL:   "/admin/login",
			Insecure:   opts.Insecure,
			ErrorLog:   log,
		}),
		attempts: ratelimit.New(attemptRate, attemptBurst, attemptClients),
		pages:    mustParsePages(),
	}
	// The stylesheet needs no session: serving it outside the middleware
	// spares a store read per page view, and keeps the 503 page styled
	// while the store is down.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/static/style.css", stylesheet)
	mux.Handle("/admin/", c.refusalPages(c.sessions.Handler(markPassed(c.routes()))))
	return securityHeaders(http.MaxBytesHandler(withTimeout(mux), maxBodyBytes))
}

// routes are the pages behind the session middleware.
func (c *console) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/login", c.loginForm)
	mux.HandleFunc("POST /admin/login", c.login)
	mux.HandleFunc("POST /admin/logout", c.logout)

	mux.Handle("GET /admin/{$}", c.adminOnly(c.dashboard))
	mux.Handle("GET /admin/stats", c.adminOnly(c.statsPage))
	mux.Handle("GET /admin/users", c.adminOnly(c.findUser))
	mux.Handle("GET /admin/users/{user_id}", c.adminOnly(c.userPage))
	mux.Handle("POST /admin/users/{user_id}/sessions/{id}/revoke", c.adminOnly(c.revokeSession))
	mux.Handle("POST /admin/users/{user_id}/sessions/revoke-all", c.adminOnly(c.revokeAll))
	mux.Handle("POST /admin/users/{user_id}/ban", c.adminOnly(c.setStatus(sessiond.UserBanned)))
	mux.Handle("POST /admin/users/{user_id}/unban", c.adminOnly(c.setStatus(sessiond.UserActive)))
	mux.Handle("POST /admin/users/{user_id}/roles", c.adminOnly(c.setRoles))

	mux.HandleFunc("/admin/", c.notFound)
	return mux
}

// securityHeaders sets what every response carries: webui's headers for a
// UI without script (a CSP without scripts, frames or foreign form
// targets; nosniff; Referrer-Policy same-origin), and two more than the
// shop sends. No-store on every response, not only on pages, because they
// all show user data that no cache may keep and hand to the next user of a
// shared computer; and X-Frame-Options for browsers that predate the CSP's
// frame-ancestors, the clickjacking defence for a page of buttons that ban
// people (OWASP).
func securityHeaders(next http.Handler) http.Handler {
	return webui.SecurityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	}))
}

func withTimeout(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
