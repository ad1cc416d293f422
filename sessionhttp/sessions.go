// Package sessionhttp is net/http middleware over a *sessiond.Manager: it
// loads the session a request carries (a cookie, or an Authorization: Bearer
// header) into the request's context, and gives handlers Login, Logout,
// Renew, atomic data updates, and Require / RequireRole guards.
//
// Protecting a route:
//
//	sessions := sessionhttp.New(manager, sessionhttp.Options{})
//	mux.Handle("GET /account", sessions.Require(accountPage))
//	http.ListenAndServe(addr, sessions.Handler(mux))
//
// What it guarantees, following OWASP's Session Management Cheat Sheet:
//
//   - The cookie is HttpOnly (no script reads it), Secure, SameSite=Lax,
//     Path=/ with no Domain, and named with the __Host- prefix so that the
//     browser enforces those last three even against a sibling subdomain.
//   - Roles and bans are read from the user record on every request, so a
//     change is seen by the very next request.
//   - Login revokes the session the request carried before; Renew rotates the
//     token on privilege change; Logout revokes on the server, so a replayed
//     cookie is refused afterwards.
//   - Unsafe requests that a browser could send cross-site are refused with
//     http.CrossOriginProtection (CSRF defence).
//   - A store that cannot answer fails closed: 503, never anonymous.
//   - Tokens are never logged.
package sessionhttp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/sessiond/sessiond"
)

// DefaultCookieName carries the __Host- prefix: browsers accept such a
// cookie only if it is Secure, has Path=/ and no Domain, so a sibling
// subdomain can neither read nor overwrite it (OWASP: cookie prefixes).
const DefaultCookieName = "__Host-session"

// Options configure Sessions. The zero value is the secure default.
type Options struct {
	// CookieName names the session cookie (default DefaultCookieName).
	CookieName string

	// Insecure is for development over plain http://localhost only: it
	// drops the Secure attribute and the __Host-/__Secure- prefix, which
	// browsers refuse without Secure. Over a real network an insecure cookie
	// travels in clear text and anyone on the path can steal the session.
	Insecure bool

	// Persistent makes the cookie outlive the browser session, until the
	// session's absolute expiry. By default the cookie is a browser-session
	// cookie, as OWASP recommends; the server enforces the idle and absolute
	// expiry either way.
	Persistent bool

	// SameSite defaults to http.SameSiteLaxMode: the cookie is not sent on
	// cross-site sub-requests and POSTs, yet following a link to the site
	// keeps the user signed in.
	SameSite http.SameSite

	// TrustProxyHeaders takes the client IP recorded at login from the last
	// X-Forwarded-For entry — the one the nearest proxy added — instead of
	// the connection's address. Enable it only behind a proxy that sets the
	// header, or clients can claim any address.
	TrustProxyHeaders bool

	// CrossOrigin refuses cross-site unsafe requests. Nil means
	// http.NewCrossOriginProtection(); pass your own to add trusted origins
	// or bypass patterns.
	CrossOrigin *http.CrossOriginProtection

	// LoginURL, when set, makes Require and RequireRole redirect browsers
	// (requests that accept text/html) without a session to it with 303 See
	// Other; other clients get 401 JSON either way.
	LoginURL string

	// ErrorLog receives store failures (default slog.Default()).
	ErrorLog *slog.Logger
}

// Sessions is the middleware and the helpers handlers call. Create it with
// New; it is safe for concurrent use.
type Sessions struct {
	m      *sessiond.Manager
	opts   Options
	cookie http.Cookie // the template every Set-Cookie starts from
}

// New returns Sessions over m. It panics if the cookie name is not a valid
// cookie name, a programming error like a bad http.ServeMux pattern.
func New(m *sessiond.Manager, o Options) *Sessions {
	if o.CookieName == "" {
		o.CookieName = DefaultCookieName
	}
	if o.Insecure {
		o.CookieName = strings.TrimPrefix(o.CookieName, "__Host-")
		o.CookieName = strings.TrimPrefix(o.CookieName, "__Secure-")
	}
	if o.SameSite == 0 || o.SameSite == http.SameSiteDefaultMode {
		o.SameSite = http.SameSiteLaxMode
	}
	if o.CrossOrigin == nil {
		o.CrossOrigin = http.NewCrossOriginProtection()
	}
	if o.ErrorLog == nil {
		o.ErrorLog = slog.Default()
	}
	s := &Sessions{m: m, opts: o, cookie: http.Cookie{
		Name:     o.CookieName,
		Path:     "/",
		HttpOnly: true,
		Secure:   !o.Insecure,
		SameSite: o.SameSite,
	}}
	probe := s.cookie
	probe.Value = "x"
	if err := probe.Valid(); err != nil {
		panic("sessionhttp: " + err.Error())
	}
	return s
}

// source says where a request's token came from. It matters for CSRF: a
// browser attaches cookies to cross-site requests by itself, but never an
// Authorization header.
type source uint8

const (
	fromNone source = iota
	fromCookie
	fromBearer
)

// state is what Handler puts in the request's context. Login, Logout, Renew,
// Update and Patch change it in place, so FromContext reflects them for the
// rest of the request; like the request, it belongs to the goroutine
// serving it.
type state struct {
	token   string // never logged
	source  source
	session *sessiond.Session
	user    *sessiond.User
}

type contextKey struct{}

// Handler loads the session the request carries into its context and calls
// next:
//
//   - no token, or a malformed, forged, expired or revoked one: next runs
//     anonymously, and a stale cookie is cleared;
//   - the store cannot answer: 503 store_unavailable, never anonymous (fail
//     closed: a bypass of a ban or a revocation must not be one outage away);
//   - an unsafe method (POST, PUT, ...) not authenticated by a bearer header,
//     sent cross-site by a browser: 403 forbidden. This covers cookie
//     requests (CSRF) and anonymous ones too, so that a login form cannot be
//     submitted from another site (login CSRF).
//
// A bearer header, when present, is the only credential read: the cookie is
// ignored, so a request is never half cookie, half bearer.
func (s *Sessions) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &state{}
		st.token, st.source = s.credential(r)
		if st.source != fromBearer {
			if err := s.opts.CrossOrigin.Check(r); err != nil {
				writeError(w, http.StatusForbidden, CodeForbidden, "cross-origin request refused")
				return
			}
		}
		if st.source == fromCookie {
			// Responses differ by cookie: shared caches must not mix them.
			w.Header().Add("Vary", "Cookie")
		}
		if st.token != "" {
			sess, user, err := s.m.Validate(r.Context(), st.token)
			switch {
			case err == nil:
				st.session, st.user = sess, user
			case errors.Is(err, sessiond.ErrInvalidSession):
				if st.source == fromCookie {
					s.clearCookie(w)
				}
			default:
				s.opts.ErrorLog.ErrorContext(r.Context(), "sessionhttp: session store unavailable", "err", err)
				writeError(w, http.StatusServiceUnavailable, sessiond.CodeStoreUnavailable, "the session store is unavailable")
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), contextKey{}, st)))
	})
}

// credential returns the bearer token if the request has one, else the
// cookie's value.
func (s *Sessions) credential(r *http.Request) (string, source) {
	if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(token), fromBearer
	}
	if c, err := r.Cookie(s.opts.CookieName); err == nil {
		return c.Value, fromCookie
	}
	return "", fromNone
}

// FromContext returns the request's live session and its user's record, or
// ok == false for an anonymous request (or one that did not pass through
// Handler).
func FromContext(ctx context.Context) (session *sessiond.Session, user *sessiond.User, ok bool) {
	st, _ := ctx.Value(contextKey{}).(*state)
	if st == nil || st.session == nil {
		return nil, nil, false
	}
	return st.session, st.user, true
}

// errNoHandler reports a request that did not pass through Handler: the
// helpers refuse it rather than run without the CSRF check.
var errNoHandler = errors.New("sessionhttp: the request did not pass through Sessions.Handler")

func stateOf(r *http.Request) (*state, error) {
	st, _ := r.Context().Value(contextKey{}).(*state)
	if st == nil {
		return nil, errNoHandler
	}
	return st, nil
}
