package sessionhttp

import (
	"net/http"
	"strings"

	"github.com/sessiond/sessiond"
)

// Require lets only requests with a live session through to next. Others get
// 401 session_invalid as JSON, or, if Options.LoginURL is set and the client
// accepts HTML, a 303 redirect to the login page.
func (s *Sessions) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := FromContext(r.Context()); !ok {
			s.unauthenticated(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// RequireRole is Require plus a role check: a signed-in user without role
// gets 403 forbidden. The roles are those of the user record read with the
// session on this very request (or the near cache, which PutUser
// invalidates), so granting or withdrawing a role (Manager.PutUser) takes
// effect on the user's next request. A handler cannot grant itself one:
// what FromContext hands out is a copy.
func (s *Sessions) RequireRole(role string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, user, ok := FromContext(r.Context())
		if !ok {
			s.unauthenticated(w, r)
			return
		}
		if !user.HasRole(role) {
			writeError(w, http.StatusForbidden, CodeForbidden, "this needs the role "+role)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Sessions) unauthenticated(w http.ResponseWriter, r *http.Request) {
	if s.opts.LoginURL != "" && strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Redirect(w, r, s.opts.LoginURL, http.StatusSeeOther)
		return
	}
	// RFC 9110 requires a challenge with every 401.
	w.Header().Set("WWW-Authenticate", "Bearer")
	writeError(w, http.StatusUnauthorized, sessiond.ErrInvalidSession.Code, "sign in first")
}
