package sessionhttp

import (
	"net/http"

	"github.com/sessiond/sessiond"
)

// setCookie hands the client a new token. Cache-Control: no-store keeps the
// response, and with it the Set-Cookie header, out of every cache (OWASP:
// a cached Set-Cookie would hand one user's session to the next).
func (s *Sessions) setCookie(w http.ResponseWriter, token string, sess sessiond.Session) {
	c := s.cookie
	c.Value = token
	if s.opts.Persistent {
		c.Expires = sess.ExpiresAt
		c.MaxAge = max(1, int(sess.ExpiresAt.Sub(sess.LastSeenAt).Seconds()))
	}
	w.Header().Set("Cache-Control", "no-store")
	http.SetCookie(w, &c)
}

// clearCookie tells the browser to drop the cookie now (Max-Age=-1 is
// written as Max-Age=0, which every browser honours).
func (s *Sessions) clearCookie(w http.ResponseWriter) {
	c := s.cookie
	c.MaxAge = -1
	w.Header().Set("Cache-Control", "no-store")
	http.SetCookie(w, &c)
}
