package admin

import "net/http"

// refusalPages shows the refusals that sessionhttp's middleware answers by
// itself, before any console handler runs — a cross-origin POST (403) and a
// store that cannot validate the admin cookie (503) — as the console's HTML
// error page instead of the library's JSON: an operator should read "the
// store is unavailable", not a JSON document.
//
// The middleware is given a refusalWriter. If it lets the request through,
// markPassed hands the console's handlers the real ResponseWriter, so only
// the middleware's own answers ever pass through the refusalWriter.
func (c *console) refusalPages(middleware http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		middleware.ServeHTTP(&refusalWriter{ResponseWriter: w, page: func(status int) {
			c.renderError(w, r, status, refusalMessage(status))
		}}, r)
	})
}

// markPassed unwraps the refusalWriter for next: the request got through
// the middleware.
func markPassed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rw, ok := w.(*refusalWriter); ok {
			w = rw.ResponseWriter
		}
		next.ServeHTTP(w, r)
	})
}

// refusalWriter replaces a response of the middleware by the error page for
// its status. Headers the middleware set (a cleared cookie, Vary) are kept;
// its JSON body is dropped.
type refusalWriter struct {
	http.ResponseWriter
	page    func(status int)
	refused bool
}

func (w *refusalWriter) WriteHeader(status int) {
	w.refused = true
	w.page(status)
}

func (w *refusalWriter) Write(b []byte) (int, error) {
	if !w.refused {
		return w.ResponseWriter.Write(b)
	}
	return len(b), nil
}

func refusalMessage(status int) string {
	switch status {
	case http.StatusForbidden:
		return "This form was sent from another site, so it was refused. Use the console's own pages."
	case http.StatusServiceUnavailable:
		return "The session store is unavailable. Please try again in a moment."
	}
	return http.StatusText(status)
}
