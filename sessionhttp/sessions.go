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

// state is what Handler puts in the request's context. Login, Logout,
// Rotate, UpdateData and PatchData change it, so FromContext reflects them
// for the rest of the request; like the request, it belongs to the
// goroutine serving it. It holds values and FromContext returns copies of
// them, so nothing a handler does to what it got reaches this state, the
// Manager's near cache, or another request.
type state struct {
	token   string // never logged
	bearer  bool   // the token came from an Authorization header
	live    bool   // session and user hold a validated session
	session sessiond.Session
	user    sessiond.User
}

type contextKey struct{}

// Handler loads the session the request carries into its context and calls
// next:
//
//   - no token, or a malformed, forged, expired, revoked or rotated-away
//     one: next runs anonymously, and a stale cookie is cleared;
//   - the store cannot answer: 503 store_unavailable, never anonymous (fail
//     closed: a bypass of a ban or a revocation must not be one outage away);
//   - an unsafe method (POST, PUT, ...) not authenticated by a bearer header,
//     sent cross-site by a browser: 403 forbidden. This covers cookie
//     requests (CSRF) and anonymous ones too, so that a login form cannot be
//     submitted from another site (login CSRF).
//
// The credential is read by TokenFrom: a bearer header, when present, is
// the only credential read.
func (s *Sessions) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &state{}
		st.token, st.bearer = TokenFrom(r, s.opts.CookieName)
		if !st.bearer {
			// A browser attaches cookies to cross-site requests by itself,
			// never an Authorization header: only the former need the check.
			if err := s.opts.CrossOrigin.Check(r); err != nil {
				writeError(w, http.StatusForbidden, CodeForbidden, "cross-origin request refused")
				return
			}
			// The response depends on the cookie, whether it is there or
			// not: shared caches must not mix responses of different users.
			w.Header().Add("Vary", "Cookie")
		}
		if st.token != "" {
			sess, user, err := s.m.Validate(r.Context(), st.token)
			switch {
			case err == nil:
				st.session, st.user, st.live = sess, user, true
			case errors.Is(err, sessiond.ErrInvalidSession):
				if !st.bearer {
					s.clearCookie(w)
				}
			default:
				s.Error(w, r, err)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), contextKey{}, st)))
	})
}

// FromContext returns the request's live session and its user's record, or
// ok == false for an anonymous request (or one that did not pass through
// Handler).
//
// Both are values, the caller's own copies: assigning their fields, editing
// the slice Roles returned or the bytes Data returned changes nothing that
// Require, RequireRole, a later FromContext or another request sees. To
// change the session, call UpdateData or PatchData; to change the user,
// Manager.PutUser.
func FromContext(ctx context.Context) (session sessiond.Session, user sessiond.User, ok bool) {
	st, _ := ctx.Value(contextKey{}).(*state)
	if st == nil || !st.live {
		return sessiond.Session{}, sessiond.User{}, false
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
