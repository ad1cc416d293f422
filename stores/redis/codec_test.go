package redis

import (
	"crypto/sha256"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// User agents of the browsers most sessions come from.
const (
	chromeUA  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	safariUA  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	firefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"
	macUA     = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15"
	androidUA = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36"
	edgeUA    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
)

func TestUserAgentPacking(t *testing.T) {
	for _, ua := range []string{chromeUA, safariUA, firefoxUA, macUA, androidUA, edgeUA, "", "curl/8.5.0", "Ünïcode \xff\x80 agent", "\x00\x7f\x80"} {
		p := appendUserAgent(nil, ua)
		got, err := unpackUserAgent(p)
		if err != nil || got != ua {
			t.Fatalf("%q: round trip %q, %v", ua, got, err)
		}
		t.Logf("%3d bytes -> %3d: %.60s", len(ua), len(p), ua)
	}
	if n := len(appendUserAgent(nil, chromeUA)); n > 10 {
		t.Errorf("a desktop Chrome user agent packs into %d bytes, want at most 10", n)
	}
	for range 1000 {
		b := make([]byte, rand.IntN(40))
		for i := range b {
			b[i] = byte(rand.IntN(256))
		}
		if got, err := unpackUserAgent(appendUserAgent(nil, string(b))); err != nil || got != string(b) {
			t.Fatalf("%q: round trip %q, %v", b, got, err)
		}
	}
	for _, bad := range []string{"\xff", "a\xff", "\xfe"} {
		if _, err := unpackUserAgent([]byte(bad)); err == nil {
			t.Errorf("unpacked %q", bad)
		}
	}
}

func TestCodec(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	full := sessiond.Session{
		ID: "AAAAAAAAAAAAAAAAAAAAAA", UserID: "用户 \x00 {x}", CreatedAt: now, AuthTime: now.Add(-time.Hour),
		LastSeenAt: now.Add(time.Second), ExpiresAt: now.Add(366 * 24 * time.Hour), IdleExpiresAt: now.Add(time.Minute),
		IdleTimeout: 90 * time.Minute, Version: 1<<53 - 1, Generation: 1<<32 - 1, SecretHash: sha256.Sum256([]byte("x")),
		RotatedAt: now.Add(-time.Millisecond),
		Client:    sessiond.Client{IP: "2001:db8::1", UserAgent: strings.Repeat("Mozilla ", 64)},
	}.WithData(json.RawMessage(`{"cart":{"sku":1}}`))
	for _, ip := range []string{"", "203.0.113.7", "2001:db8::1", "::ffff:192.0.2.1", "fe80::1%eth0", "2001:DB8::1", "unknown", "1.2.3.4:80", strings.Repeat("9", 300)} {
		in := full
		in.Client.IP = ip
		v, err := encodeSession(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := decodeSession(in.ID, v, in.IdleExpiresAt.UnixMilli())
		if err != nil {
			t.Fatalf("ip %q: %v", ip, err)
		}
		if show(out) != show(in) {
			t.Fatalf("round trip:\n%s\n%s", show(out), show(in))
		}
	}
	odd := full
	odd.ExpiresAt, odd.IdleTimeout, odd.AuthTime = now.Add(-1500*time.Millisecond), 1500*time.Millisecond, now.Add(time.Millisecond)
	v, _ := encodeSession(odd)
	if out, err := decodeSession(odd.ID, v, odd.IdleExpiresAt.UnixMilli()); err != nil || show(out) != show(odd) {
		t.Fatalf("durations of no whole seconds, an expiry before creation:\n%s\n%s, %v", show(out), show(odd), err)
	}
	plain := sessiond.Session{ID: full.ID, UserID: "u", CreatedAt: now, AuthTime: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Minute), Version: 1}
	v, _ = encodeSession(plain)
	if out, err := decodeSession(plain.ID, v, plain.IdleExpiresAt.UnixMilli()); err != nil || show(out) != show(plain) || !out.RotatedAt.IsZero() {
		t.Fatalf("plain session: %s, %v", show(out), err)
	}
	good, _ := encodeSession(full)
	for _, bad := range []string{"", "\x02", "\x01" + good[1:], good[:offVarints+3], good[:offVarints+40], good[:len(good)-len(full.Data())-2]} {
		if _, err := decodeSession(full.ID, bad, 1); err == nil {
			t.Errorf("decoded %q", bad)
		}
	}
	for _, s := range []sessiond.Session{{CreatedAt: time.UnixMilli(-1)}, {CreatedAt: now, Version: -1}, {CreatedAt: now, Version: 1 << 53}, {CreatedAt: now, IdleTimeout: -1}} {
		if _, err := encodeSession(s); err == nil {
			t.Errorf("encoded %+v", s)
		}
	}
}
