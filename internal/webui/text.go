package webui

import (
	"fmt"
	"time"
)

// Plural counts n things: "1 session", "2 sessions".
func Plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Ago says how long ago t was, coarsely: a list of devices needs "which one
// is stale", not seconds; pages show the exact time on hover.
func Ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return Plural(int(d/time.Minute), "minute", "minutes") + " ago"
	case d < 48*time.Hour:
		return Plural(int(d/time.Hour), "hour", "hours") + " ago"
	default:
		return Plural(int(d/(24*time.Hour)), "day", "days") + " ago"
	}
}
