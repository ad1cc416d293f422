package webui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestFormError(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		limit      int64
		status     int
	}{
		{"too large", "roles=" + strings.Repeat("x", 100), 16, http.StatusRequestEntityTooLarge},
		{"malformed", "roles=%zz", 1 << 10, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var status int
			var message string
			h := http.MaxBytesHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				err := r.ParseForm()
				if err == nil {
					t.Fatal("the form parsed")
				}
				status, message = FormError(err)
			}), tc.limit)
			req := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			h.ServeHTTP(httptest.NewRecorder(), req)
			if status != tc.status || message == "" {
				t.Errorf("FormError: %d %q, want %d and a sentence", status, message, tc.status)
			}
		})
	}
}
