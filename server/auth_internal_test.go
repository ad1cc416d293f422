package server

import (
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
)

// X-Forwarded-For is believed only from trusted proxies and only as far as
// trusted proxies wrote it: the client can never choose its own bucket.
func TestClientAddresses(t *testing.T) {
	c := clientAddresses{trusted: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("fd00::/8"),
	}}
	for _, tc := range []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct client", "198.51.100.7:4000", nil, "198.51.100.7"},
		{"untrusted peer's header ignored", "198.51.100.7:4000", []string{"203.0.113.9"}, "198.51.100.7"},
		{"trusted proxy, client appended", "10.0.0.1:4000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"client-sent entries left of the client ignored", "10.0.0.1:4000", []string{"203.0.113.9, 198.51.100.7"}, "198.51.100.7"},
		{"chain of trusted proxies", "10.0.0.1:4000", []string{"203.0.113.9, 198.51.100.7, 10.0.0.2"}, "198.51.100.7"},
		{"several header lines, in order", "10.0.0.1:4000", []string{"203.0.113.9", "198.51.100.7"}, "198.51.100.7"},
		{"entry with a port", "10.0.0.1:4000", []string{"198.51.100.7:5555"}, "198.51.100.7"},
		{"all hops trusted", "10.0.0.1:4000", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3"},
		{"garbage stops at the last trusted hop", "10.0.0.1:4000", []string{"198.51.100.7, not-an-address"}, "10.0.0.1"},
		{"no header from a trusted proxy", "10.0.0.1:4000", nil, "10.0.0.1"},
		{"IPv4-mapped peer", "[::ffff:198.51.100.7]:4000", nil, "198.51.100.7"},
		{"IPv6 counted per /64", "[2001:db8:1:2:3:4:5:6]:4000", nil, "2001:db8:1:2::/64"},
		{"IPv6 behind an IPv6 proxy", "[fd00::1]:4000", []string{"2001:db8:1:2::9"}, "2001:db8:1:2::/64"},
		{"not an IP connection", "@", nil, "@"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/auth", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := c.of(r); got != tc.want {
				t.Errorf("client %q, want %q", got, tc.want)
			}
		})
	}
}

// X-User-Id survives proxies byte for byte, and decodes back to the id.
func TestUserIDHeader(t *testing.T) {
	for id, want := range map[string]string{
		"alice":             "alice",
		"a@example.com":     "a@example.com",
		"42":                "42",
		" admin":            "%20admin",
		"admin ":            "admin%20",
		"100%":              "100%25",
		"zoë":               "zo%C3%AB",
		`a"b,c;d\e`:         `a"b,c;d\e`,
		"%20admin":          "%2520admin",
		"\u00a0admin\u00a0": "%C2%A0admin%C2%A0",
	} {
		got := userIDHeader(id)
		if got != want {
			t.Errorf("userIDHeader(%q) = %q, want %q", id, got, want)
		}
		if back, err := url.PathUnescape(got); err != nil || back != id {
			t.Errorf("%q does not decode back to %q: %q, %v", got, id, back, err)
		}
	}
}
