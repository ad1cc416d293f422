package webui

import (
	"testing"
	"time"
)

func TestPlural(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0 sessions"}, {1, "1 session"}, {2, "2 sessions"}} {
		if got := Plural(tc.n, "session", "sessions"); got != tc.want {
			t.Errorf("Plural(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestAgo(t *testing.T) {
	for _, tc := range []struct {
		ago  time.Duration
		want string
	}{
		{0, "just now"},
		{59 * time.Second, "just now"},
		{time.Minute, "1 minute ago"},
		{4*time.Minute + 30*time.Second, "4 minutes ago"},
		{70 * time.Minute, "1 hour ago"},
		{47 * time.Hour, "47 hours ago"},
		{49 * time.Hour, "2 days ago"},
	} {
		if got := Ago(time.Now().Add(-tc.ago)); got != tc.want {
			t.Errorf("Ago(now - %v) = %q, want %q", tc.ago, got, tc.want)
		}
	}
}
