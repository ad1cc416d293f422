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
//     so one read): token check, the lookup script (session, its TTL, user
//     record), decoding, expiry;
//   - lookup: the store's Lookup alone;
//   - raw-get: a GET of the same session key (same bytes over the wire),
//     the floor of any Redis-backed session check.
func BenchmarkValidate(b *testing.B) {
	s := open(b, testserver.Redis(b).URL)
	ctx := b.Context()
	m := sessiond.NewManager(s, testKeys, sessiond.Config{})
	if _, err := m.PutUser(ctx, sessiond.User{ID: "user-42", Status: sessiond.UserActive}.WithRoles("customer", "beta")); err != nil {
		b.Fatal(err)
	}
	token, ss, err := m.Create(ctx, sessiond.NewSession{
		UserID: "user-42",
		Data:   []byte(`{"cart":{"tea":1},"theme":"dark"}`),
		Client: browser,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("manager", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, u, err := m.Validate(ctx, token); err != nil || !u.HasRole("beta") {
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
		k, _ := s.sessionOf(ss.ID)
		b.ReportAllocs()
		for b.Loop() {
			if v, err := s.client.Do(ctx, s.client.B().Get().Key(k.key).Build()).ToString(); err != nil || v == "" {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCreate: signing in, with a desktop browser's client details.
//
//   - manager: Manager.Create: a session id in the user's slot (no
//     drawing: its first byte is the user's), the token and its hash, the
//     packed value, and the create script (banned check, insert, index
//     entry, bucket TTL);
//   - store: the store's Create of a session already built;
//   - raw-write: what a raw client would send for the same record, in one
//     round trip: SET of the packed value with its TTL, ZADD of the index
//     entry, PEXPIREAT GT of the bucket.
//
// The ratio manager/raw-write is the cost of sessiond over a raw write.
func BenchmarkCreate(b *testing.B) {
	s := open(b, testserver.Redis(b).URL)
	ctx := b.Context()
	m := sessiond.NewManager(s, testKeys, sessiond.Config{})
	ns := sessiond.NewSession{Data: []byte(`{"cart":{}}`), Client: browser}
	// Two sessions per user, as in the memory figures.
	n := 0
	user := func() string { n++; return "user-" + strconv.Itoa(n/2) }
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
	b.Run("raw-write", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ss := placedSession(user(), string(ns.Data), ns.Client)
			v, _ := encodeSession(ss)
			k, _ := s.sessionOf(ss.ID)
			bucket := s.userOf(ss.UserID).bucket
			idle := ss.IdleExpiresAt.UnixMilli()
			for _, r := range s.client.DoMulti(ctx,
				s.client.B().Set().Key(k.key).Value(v).Pxat(ss.IdleExpiresAt).Build(),
				s.client.B().Zadd().Key(bucket).ScoreMember().ScoreMember(float64((idle+999)/1000), indexMember(k.raw, ss.UserID)).Build(),
				s.client.B().Pexpireat().Key(bucket).MillisecondsTimestamp(idle).Gt().Build(),
			) {
				if err := r.Error(); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
