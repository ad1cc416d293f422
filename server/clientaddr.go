package server

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientAddresses tells which client a request comes from, for counting
// invalid tokens per client.
//
// X-Forwarded-For is written by whoever sends the request, so it is only
// believed from a trusted proxy, and only as far as it was written by
// trusted proxies: the list is read from the right (each proxy appends the
// address it saw), and the first entry that is not a trusted proxy is the
// client. Entries further left came from the client and are ignored, so a
// client cannot pick the address it is counted under.
type clientAddresses struct {
	trusted []netip.Prefix
}

// of returns the key a request's failures are counted under: the client's
// address, or its /64 for IPv6, since one subscriber usually holds a whole
// /64 and could otherwise spend a fresh budget on every address of it.
func (c clientAddresses) of(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		// Not an IP connection (a Unix socket): one client.
		return r.RemoteAddr
	}
	addr := ap.Addr().Unmap().WithZone("")
	if c.trusts(addr) {
		addr = c.forwardedFor(r, addr)
	}
	if addr.Is6() {
		return netip.PrefixFrom(addr, 64).Masked().String()
	}
	return addr.String()
}

// forwardedFor walks X-Forwarded-For (every header line, in order) from the
// right while the hops are trusted proxies. An entry that is not an address
// stops the walk at the last trusted hop: a proxy that forwards garbage is
// misconfigured, and garbage must not choose the bucket.
func (c clientAddresses) forwardedFor(r *http.Request, proxy netip.Addr) netip.Addr {
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	addr := proxy
	for i := len(hops) - 1; i >= 0 && c.trusts(addr); i-- {
		hop, ok := parseHop(strings.TrimSpace(hops[i]))
		if !ok {
			break
		}
		addr = hop
	}
	return addr
}

// parseHop reads one X-Forwarded-For entry: an address, or an address with
// a port as some proxies write it ("192.0.2.1:1234", "[2001:db8::1]:1234").
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

func (c clientAddresses) trusts(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
