package server

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"
)

// requestInfo collects what the request log line reports beyond the
// request itself. Handlers fill it in through noteSession and noteAPIKey;
// only ids go in, never a token or a key.
type requestInfo struct {
	route     string
	sessionID string
	apiKeyID  string
}

type infoKey struct{}

func infoOf(r *http.Request) *requestInfo {
	info, _ := r.Context().Value(infoKey{}).(*requestInfo)
	if info == nil {
		return &requestInfo{} // outside logRequests: noted, then dropped
	}
	return info
}

// noteRoute records the mux pattern that matched. It is noted rather than
// read from r.Pattern afterwards because the mux sets Pattern on the
// request it is handed, a copy made below the logging middleware.
func noteRoute(r *http.Request, pattern string) { infoOf(r).route = pattern }

// noteSession records the id (the SHA-256 of the token, safe to log) of the
// session a request dealt with.
func noteSession(r *http.Request, id string) { infoOf(r).sessionID = id }

// noteAPIKey records the id of the API key that authenticated a request.
func noteAPIKey(r *http.Request, id string) { infoOf(r).apiKeyID = id }

// logRequests writes one line per request: method, route pattern (not the
// path, which may hold a user id of any length), status, duration, and the
// session and API key ids when known.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("route", info.route),
			slog.Int("status", sw.status()),
			slog.Duration("duration", time.Since(start)),
		}
		if info.sessionID != "" {
			attrs = append(attrs, slog.String("session_id", info.sessionID))
		}
		if info.apiKeyID != "" {
			attrs = append(attrs, slog.String("api_key_id", info.apiKeyID))
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}

// recoverPanics turns a panic (a bug: handlers do not panic on any input)
// into 500 internal_error, so that one bad request cannot take the process
// down, and logs it with its stack. http.ErrAbortHandler keeps its meaning.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.ErrorContext(r.Context(), "server: panic", "route", infoOf(r).route, "panic", p, "stack", string(debug.Stack()))
			if sw, ok := w.(*statusWriter); !ok || sw.code == 0 {
				writeError(w, http.StatusInternalServerError, CodeInternal, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// withTimeout bounds a request's context, and so every store call made for
// it.
func withTimeout(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// statusWriter remembers the status code sent.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
