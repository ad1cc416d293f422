package sessionhttp

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/sessiond/sessiond"
)

// client describes the device of r for the session record (shown on a
// "your devices" page). The IP is the connection's unless TrustProxyHeaders
// is set: X-Forwarded-For is whatever the client wrote, except for the last
// entry, which the nearest proxy appended.
func (s *Sessions) client(r *http.Request) sessiond.Client {
	ip := r.RemoteAddr
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	if s.opts.TrustProxyHeaders {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if a, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil {
				ip = a.String()
			}
		}
	}
	return sessiond.Client{IP: ip, UserAgent: r.UserAgent()}
}
