package main

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/ratelimit"
	"github.com/sessiond/sessiond/internal/webui"
	"github.com/sessiond/sessiond/nearcache"
	"github.com/sessiond/sessiond/sessionhttp"
)

// config is what the shop is built from; run fills it from flags and the
// environment, tests fill it directly.
type config struct {
	Store        sessiond.Store
	Secrets      [][]byte // token keys, current first
	DemoPassword string
	Log          *slog.Logger
}

// app is the shop: the session manager and middleware, the users'
// passwords, and the pages.
type app struct {
	manager  *sessiond.Manager
	cache    *nearcache.Cache // nil: the store announces no invalidations
	sessions *sessionhttp.Sessions
	accounts *accounts
	// attempts throttles password guessing per client and user (OWASP:
	// Authentication Cheat Sheet, protect against automated attacks).
	attempts *ratelimit.Limiter
	pages    map[string]*template.Template
	log      *slog.Logger
}

// Failed password checks allowed per client and user: a burst of 10, then
// one every 6 seconds.
const (
	attemptBurst = 10
	attemptRate  = 1.0 / 6
)

func newApp(ctx context.Context, cfg config) (*app, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	keys, err := sessiond.NewKeyring(cfg.Secrets...)
	if err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	// The near cache answers session checks from memory, where the store
	// tells every node about its writes (Redis, PostgreSQL, memory). SQLite,
	// the shop's default, does not: then every check reads the store, and
	// a ban is seen by the next request all the same.
	var policy sessiond.Config
	cache, err := nearcache.New(cfg.Store, nearcache.Options{Logger: cfg.Log})
	switch {
	case err == nil:
		policy.Cache = cache
	case !errors.Is(err, nearcache.ErrNoInvalidations):
		return nil, err
	}
	manager := sessiond.NewManager(cfg.Store, keys, policy)
	a := &app{
		manager: manager,
		cache:   cache,
		// The zero Options are the secure defaults: the __Host-session
		// cookie, HttpOnly, Secure, SameSite=Lax, Path=/, and
		// cross-origin protection of unsafe methods. LoginURL sends
		// browsers without a session to the sign-in page; API clients get
		// 401 JSON.
		sessions: sessionhttp.New(manager, sessionhttp.Options{LoginURL: "/login", ErrorLog: cfg.Log}),
		accounts: newAccounts(cfg.DemoPassword),
		attempts: ratelimit.New(attemptRate, attemptBurst, 0),
		pages:    pages,
		log:      cfg.Log,
	}
	if err := a.seedUsers(ctx, cfg.Store); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// Close stops the near cache, if there is one; the store is the caller's.
func (a *app) Close() {
	if a.cache != nil {
		a.cache.Close()
	}
}

// seedUsers writes the demo users' sessiond records (status and roles) if
// they are absent, and only then, so that a ban or a role change made on
// the admin page survives a restart. It asks the store itself: the
// Manager's GetUser answers "active, no roles" for a user without a record,
// which cannot tell an absent record from an emptied one.
func (a *app) seedUsers(ctx context.Context, store sessiond.Store) error {
	for _, u := range demoUsers {
		_, err := store.GetUser(ctx, u.ID)
		if err == nil {
			continue
		}
		if !errors.Is(err, sessiond.ErrNotFound) {
			return err
		}
		rec := sessiond.User{ID: u.ID, Status: sessiond.UserActive}.WithRoles(u.Role)
		if _, err := a.manager.PutUser(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

// Handler routes the shop's pages. Every request goes through the session
// middleware, which loads the session (roles and status read fresh from the
// store) and refuses cross-site unsafe requests.
func (a *app) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.catalogue)
	mux.HandleFunc("GET /static/style.css", stylesheet)
	mux.HandleFunc("GET /", a.notFound)

	mux.HandleFunc("GET /login", a.loginForm)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.logout)

	mux.Handle("GET /cart", a.signedIn(a.cartPage))
	mux.Handle("POST /cart/add", a.signedIn(a.addToCart))
	mux.Handle("POST /checkout", a.signedIn(a.checkout))

	mux.Handle("GET /account/sessions", a.signedIn(a.devices))
	mux.Handle("POST /account/sessions/{id}/revoke", a.signedIn(a.revokeDevice))
	mux.Handle("POST /account/sessions/revoke-others", a.signedIn(a.revokeOtherDevices))
	mux.Handle("POST /account/password", a.signedIn(a.changePassword))

	mux.Handle("GET /admin/users", a.adminOnly(a.adminUsers))
	mux.Handle("POST /admin/users/{user}/ban", a.adminOnly(a.setStatus(sessiond.UserBanned)))
	mux.Handle("POST /admin/users/{user}/unban", a.adminOnly(a.setStatus(sessiond.UserActive)))
	mux.Handle("POST /admin/users/{user}/role", a.adminOnly(a.setRole))

	// The shop runs no script at all, so its Content-Security-Policy
	// forbids every script: an injected <script> would not run (OWASP: XSS
	// defence in depth, and it keeps the HttpOnly cookie's promise).
	return webui.SecurityHeaders(http.MaxBytesHandler(a.sessions.Handler(mux), maxBodyBytes))
}

// signedIn lets only requests with a live session through: browsers
// without one are redirected to /login, API clients get 401 JSON.
func (a *app) signedIn(h http.HandlerFunc) http.Handler {
	return a.sessions.Require(h)
}

// adminOnly is signedIn plus the admin role, read from the user record on
// this very request. A signed-in browser without the role gets an HTML 403
// page; other clients get sessionhttp's 403 JSON.
func (a *app) adminOnly(h http.HandlerFunc) http.Handler {
	guarded := a.sessions.RequireRole(roleAdmin, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, user, ok := sessionhttp.FromContext(r.Context()); ok && !user.HasRole(roleAdmin) && wantsHTML(r) {
			a.renderError(w, r, http.StatusForbidden, "This page is for administrators.")
			return
		}
		guarded.ServeHTTP(w, r)
	})
}

// current returns the request's session and user; handlers behind
// signedIn always have them. They are the handler's own copies.
func current(r *http.Request) (sessiond.Session, sessiond.User) {
	s, u, _ := sessionhttp.FromContext(r.Context())
	return s, u
}

// maxBodyBytes bounds request bodies: the shop's forms are a few short
// fields.
const maxBodyBytes = 16 << 10
