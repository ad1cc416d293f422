package webui

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestClientIP(t *testing.T) {
	for addr, want := range map[string]string{
		"198.51.100.4:51234": "198.51.100.4",
		"[2001:db8::7]:443":  "2001:db8::7",
		"not an address":     "not an address",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = addr
		r.Header.Set("X-Forwarded-For", "203.0.113.9") // never trusted
		if got := ClientIP(r); got != want {
			t.Errorf("ClientIP(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestThrottled(t *testing.T) {
	for _, tc := range []struct {
		wait       time.Duration
		retryAfter string
		says       string
	}{
		{5500 * time.Millisecond, "6", "Too many failed attempts. Try again in 6 seconds."},
		{time.Millisecond, "1", "Too many failed attempts. Try again in 1 second."},
	} {
		w := httptest.NewRecorder()
		if got := Throttled(w, tc.wait); got != tc.says {
			t.Errorf("Throttled(%v) says %q, want %q", tc.wait, got, tc.says)
		}
		if got := w.Header().Get("Retry-After"); got != tc.retryAfter {
			t.Errorf("Throttled(%v): Retry-After %q, want %q", tc.wait, got, tc.retryAfter)
		}
	}
}
