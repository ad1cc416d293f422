package webui

import "net/http"

// ContentSecurityPolicy allows the page's own stylesheet, images and form
// targets and nothing else: no script at all, so an injected <script> would
// not run (OWASP: XSS defence in depth, and it keeps the HttpOnly cookie's
// promise), no framing by any site (OWASP: clickjacking), and no <base> to
// redirect relative links.
const ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// SecurityHeaders sets the headers every response of a UI without script
// carries: the ContentSecurityPolicy; nosniff, so that a browser never runs
// a response as another type than it is served as; and Referrer-Policy
// same-origin, which keeps ids in URLs from leaking to other sites yet
// still lets a same-origin POST carry its Origin header, which the CSRF
// check reads.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}
