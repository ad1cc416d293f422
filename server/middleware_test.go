package server

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A panic in a handler (a bug) becomes a logged 500 internal_error and never
// takes the process down.
func TestRecoverPanics(t *testing.T) {
	var logs bytes.Buffer
	s := &server{log: slog.New(slog.NewJSONHandler(&logs, nil))}
	h := s.logRequests(s.recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noteRoute(r, "GET /boom")
		panic("boom")
	})))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/boom", nil))
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), `"code":"internal_error"`) {
		t.Errorf("%d %s", w.Code, w.Body)
	}
	out := logs.String()
	if !strings.Contains(out, `"panic":"boom"`) || !strings.Contains(out, "middleware_test.go") || !strings.Contains(out, `"status":500`) {
		t.Errorf("the panic was not logged with its stack and status:\n%s", out)
	}
}

// http.ErrAbortHandler keeps its meaning: the server aborts the response.
func TestRecoverPanicsAbort(t *testing.T) {
	s := &server{log: slog.New(slog.DiscardHandler)}
	h := s.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Errorf("recovered %v", p)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}
