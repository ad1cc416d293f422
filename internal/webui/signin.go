package webui

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"time"
)

// ClientIP is the connection's address, which failed sign-ins are counted
// against (OWASP: Authentication Cheat Sheet, protect against automated
// attacks). It trusts no forwarding header, which any client could write:
// behind a reverse proxy every client shares the proxy's address, and so
// its budget.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Throttled answers a sign-in the rate limiter refused for wait: it sets
// Retry-After in whole seconds, rounded up, and returns the sentence the
// sign-in form shows with its 429.
func Throttled(w http.ResponseWriter, wait time.Duration) string {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return "Too many failed attempts. Try again in " + Plural(secs, "second", "seconds") + "."
}
