package sessionhttp

import (
	"net/http"
	"strings"
)

// TokenFrom returns the session token a request carries, and whether it
// came from an Authorization header rather than the cookie called
// cookieName. It is the one credential parser of sessiond: the middleware
// and the server's forward auth both read requests through it, so they can
// never disagree about which credential a request holds.
//
//   - An "Authorization: Bearer <token>" header wins (the scheme is
//     case-insensitive, RFC 7235): a client sets it on purpose for this
//     request, while a browser attaches cookies to every request on its own.
//     The cookie is then not read at all, so a request is never half
//     cookie, half bearer.
//   - Otherwise the cookie's value is the token.
//   - A header with an empty token, another scheme, or an empty cookie (what
//     a logout leaves behind) is no credential.
//
// The token is returned as sent; only Manager.Validate says whether it is
// any good. Never log it.
func TokenFrom(r *http.Request, cookieName string) (token string, bearer bool) {
	if scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		// RFC 7235 allows more than one space after the scheme.
		if token := strings.TrimSpace(rest); token != "" {
			return token, true
		}
	}
	if c, err := r.Cookie(cookieName); err == nil && c.Value != "" {
		return c.Value, false
	}
	return "", false
}
