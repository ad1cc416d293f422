package server

import (
	"cmp"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/ratelimit"
	"github.com/sessiond/sessiond/server/assertion"
	"github.com/sessiond/sessiond/sessionhttp"
)

// Defaults of the forward-auth settings in Options. The default cookie is
// sessionhttp.DefaultCookieName, the middleware's: an application that
// uses both reads one cookie.
const (
	DefaultAuthFailureRate  = 1.0
	DefaultAuthFailureBurst = 20
)

// The identity headers of a 200 from /v1/auth, which a reverse proxy copies
// onto the request it forwards (replacing whatever the client sent under
// those names). All five are always present, empty when there is no value
// (no roles; no assertion without Options.Assertions): proxies differ in
// what they do with a header missing from the answer — Caddy 2.6 forwards
// the literal text of its placeholder — but all of them copy an empty one.
const (
	// HeaderSessionID is the session's id: stable through rotations, so an
	// upstream may key per-device state on it, and no credential.
	HeaderSessionID = "X-Session-Id"
	HeaderUserID    = "X-User-Id"
	HeaderUserRoles = "X-User-Roles"
	// HeaderAuthTime is when the user last proved who they are (RFC 3339,
	// UTC), so that an upstream can demand a recent sign-in before a
	// sensitive action (OWASP: re-authenticate for sensitive features).
	HeaderAuthTime      = "X-Auth-Time"
	HeaderIdentityToken = "X-Identity-Token"
)

// authRoutes registers the routes a reverse proxy and other services call
// without an API key (forward auth and the public keys), and the API-key
// routes of one-time tokens.
func (s *server) authRoutes() {
	s.auth = newForwardAuth(s)
	s.mux.Handle(authRoute, s.auth) // served by New's short path; registered for the route table

	if s.opts.Assertions != nil {
		s.mux.HandleFunc("GET /.well-known/jwks.json", s.jwks)
	}
	if s.opts.Tokens != nil {
		s.mux.HandleFunc("GET /v1/tokens/public-keys", s.tokenPublicKeys)
		s.mux.Handle("POST /v1/tokens", s.requireAPIKey(http.HandlerFunc(s.issueToken)))
		s.mux.Handle("POST /v1/tokens/verify", s.requireAPIKey(http.HandlerFunc(s.verifyToken)))
	}
}

// authRoute is the forward-auth pattern.
const authRoute = "GET /v1/auth"

// forwardAuth is GET (and HEAD) /v1/auth: a reverse proxy (nginx
// auth_request, Caddy forward_auth, Traefik ForwardAuth) sends it the
// headers of each request it guards and forwards the request only on a 200,
// copying the identity headers of the answer onto it. It needs no API key:
// what it checks is the end user's credential.
type forwardAuth struct {
	s        *server
	cookie   string
	clients  clientAddresses
	failures *ratelimit.Limiter
	signer   *assertion.Signer
}

func newForwardAuth(s *server) *forwardAuth {
	return &forwardAuth{
		s:       s,
		cookie:  cmp.Or(s.opts.CookieName, sessionhttp.DefaultCookieName),
		clients: clientAddresses{trusted: s.opts.TrustedProxies},
		failures: ratelimit.New(
			cmp.Or(s.opts.AuthFailureRate, DefaultAuthFailureRate),
			cmp.Or(s.opts.AuthFailureBurst, DefaultAuthFailureBurst), 0),
		signer: s.opts.Assertions,
	}
}

// ServeHTTP answers 200 with the identity headers, 401 session_invalid,
// 429 rate_limited or 503 store_unavailable. Nothing but a validated
// session gets a 200: every failure, the store's included, fails closed.
//
// Invalid tokens are counted per client address, and an address that has
// sent more than the burst is refused with 429 for every call, a valid token
// included, until its bucket refills: the refusal comes before any
// validation, so a flood from one address costs neither the store nor the
// CPU of the check (OWASP: Authentication, throttle guessing). Requests
// without any credential are refused but not counted: anonymous page loads
// through a proxy are normal, and they make nobody guess anything.
func (a *forwardAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	client := a.clients.of(r)
	if blocked, wait := a.failures.Blocked(client); blocked {
		a.s.metrics.rateLimited()
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
		writeError(w, http.StatusTooManyRequests, CodeRateLimited, "too many invalid session tokens from this address; retry later")
		return
	}
	token, viaBearer := sessionhttp.TokenFrom(r, a.cookie)
	if token == "" {
		refuseSession(w, false)
		return
	}
	sess, user, err := a.s.m.Validate(r.Context(), token)
	a.s.metrics.validation(err)
	if errors.Is(err, sessiond.ErrInvalidSession) {
		a.failures.Spend(client)
		refuseSession(w, viaBearer)
		return
	}
	if err != nil {
		a.s.fail(w, r, err)
		return
	}
	noteSession(r, sess.ID)
	h := w.Header()
	h.Set(HeaderSessionID, sess.ID)
	h.Set(HeaderUserID, userIDHeader(sess.UserID))
	h.Set(HeaderUserRoles, strings.Join(user.Roles(), ","))
	h.Set(HeaderAuthTime, sess.AuthTime.UTC().Format(time.RFC3339))
	var idToken string
	if a.signer != nil {
		var err error
		if idToken, err = a.signer.Sign(sess, user); err != nil {
			a.s.log.ErrorContext(r.Context(), "server: signing an identity assertion", "err", err)
			writeError(w, http.StatusInternalServerError, CodeInternal, "the identity assertion could not be signed")
			return
		}
	}
	h.Set(HeaderIdentityToken, idToken)
	// The answer names a user: no cache between sessiond and the proxy may
	// keep it for another request.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// refuseSession answers 401 session_invalid. A bearer client is told how
// to authenticate (RFC 6750 §3); a browser is not, as it has no use for a
// challenge it cannot answer.
func refuseSession(w http.ResponseWriter, viaBearer bool) {
	if viaBearer {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sessiond", error="invalid_token"`)
	}
	writeError(w, http.StatusUnauthorized, sessiond.ErrInvalidSession.Code, sessiond.ErrInvalidSession.Message)
}

// userIDHeader renders a user id for X-User-Id. A user id is any UTF-8
// without control characters, but a header value is not: proxies trim
// leading and trailing spaces and may mangle bytes outside ASCII, which
// could make " admin" arrive as "admin". So bytes outside visible ASCII,
// and '%' itself, are percent-encoded (RFC 3986): the encoding is
// reversible (decodeURIComponent, url.PathUnescape) and leaves ordinary ids
// such as "alice", "42" or "a@example.com" as they are. The identity
// assertion's "sub" carries the id unencoded.
func userIDHeader(id string) string {
	if !strings.ContainsFunc(id, needsEscape) {
		return id
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		if needsEscape(rune(c)) {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func needsEscape(c rune) bool { return c <= ' ' || c >= 0x7f || c == '%' }

// jwksMaxAge is how long verifiers may cache the published keys. A new key
// signs at once after a restart, so verifiers refetch on an unknown "kid";
// a retiring key stays published for an assertion's lifetime (60 s at
// most), which this bound matches.
const jwksMaxAge = time.Minute

// GET /.well-known/jwks.json: the keys that verify X-Identity-Token.
func (s *server) jwks(w http.ResponseWriter, r *http.Request) {
	writePublicJSON(w, s.opts.Assertions.PublicKeys(), jwksMaxAge)
}

// writePublicJSON answers v, a public document (keys) that caches may keep
// for maxAge, unlike every other answer of the API.
func writePublicJSON(w http.ResponseWriter, v any, maxAge time.Duration) {
	b, err := json.Marshal(v)
	if err != nil {
		writeJSON(w, http.StatusOK, v) // fails the same way: 500 internal_error
		return
	}
	setHeaders(w)
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(maxAge.Seconds())))
	w.WriteHeader(http.StatusOK)
	w.Write(append(b, '\n'))
}
