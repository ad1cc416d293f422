package redis

import (
	"strconv"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testserver"
)

// The benchmarks put the store next to the rueidis client reading or
// writing the same bytes in the same run, so the figures are ratios to a
// raw Redis round trip, not absolute claims.

// BenchmarkValidate: the read every authenticated request pays.
//
//   - manager: Manager.Validate of a live session (touch interval default,
//     so one read): token check, the lookup script (session + user record),
//     decoding, expiry;
//   - lookup: the store's Lookup alone;
//   - raw-get: a GET of the same session key (same bytes over the wire),
//     the floor of any Redis-backed session check.
func BenchmarkValidate(b *testing.B) {
	s := open(b, testserver.Redis(b).URL)
	ctx := b.Context()
	m := sessiond.NewManager(s, testKeys, sessiond.Config{})
	if _, err := m.PutUser(ctx, &sessiond.User{ID: "user-42", Status: sessiond.UserActive, Roles: []string{"customer", "beta"}}); err != nil {
		b.Fatal(err)
	}
	token, ss, err := m.Create(ctx, sessiond.NewSession{
		UserID: "user-42",
		Data:   []byte(`{"cart":{"tea":1},"theme":"dark"}`),
		Client: sessiond.Client{IP: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("manager", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, u, err := m.Validate(ctx, token); err != nil || len(u.Roles) != 2 {
				b.Fatal(err)
			}
		}
	})
	b.Run("lookup", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := s.Lookup(ctx, ss.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-get", func(b *testing.B) {
		_, key, _, _ := s.sessionKey(ss.ID)
		b.ReportAllocs()
		for b.Loop() {
			if v, err := s.client.Do(ctx, s.client.B().Get().Key(key).Build()).ToString(); err != nil || v == "" {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCreate: signing in.
//
//   - manager: Manager.Create, which draws tokens until one lands in the
//     user's bucket (~256 draws: HMAC + SHA-256 each) and runs the create
//     script (banned check, insert, index);
//   - store: the store's Create of a session already placed;
//   - raw-set: a SET ... PXAT of the same bytes.
func BenchmarkCreate(b *testing.B) {
	s := open(b, testserver.Redis(b).URL)
	ctx := b.Context()
	m := sessiond.NewManager(s, testKeys, sessiond.Config{})
	ns := sessiond.NewSession{Data: []byte(`{"cart":{}}`), Client: sessiond.Client{IP: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"}}
	// A user per few sessions, as in life: the index stays small.
	n := 0
	user := func() string { n++; return "user-" + strconv.Itoa(n/4) }
	b.Run("manager", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ns.UserID = user()
			if _, _, err := m.Create(ctx, ns); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("store", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Create(ctx, placedSession(user(), string(ns.Data), ns.Client)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ss := placedSession(user(), string(ns.Data), ns.Client)
			v, _ := encodeSession(ss)
			_, key, _, _ := s.sessionKey(ss.ID)
			if err := s.client.Do(ctx, s.client.B().Set().Key(key).Value(v).Pxat(ss.IdleExpiresAt).Build()).Error(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
