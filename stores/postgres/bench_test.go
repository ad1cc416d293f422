package postgres_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testserver"
)

// BenchmarkValidate sets what an uncached validation through the store
// costs next to the least any PostgreSQL-backed session check can cost, in
// the same run on the same server:
//
//   - sessiond: Manager.Validate on a live session with the default touch
//     interval and no near cache, so one read: the tag check, the one query
//     that joins the session with its user's record, and SHA-256 of the
//     token's secret part against the stored hash;
//   - pgx-select: a raw pgx primary-key SELECT of the same session row
//     (no user record), scanned into Go values.
func BenchmarkValidate(b *testing.B) {
	plain := testserver.Postgres(b).URL
	m := sessiond.NewManager(open(b, plain, noSweep), keys, sessiond.Config{})
	ctx := b.Context()
	if _, err := m.PutUser(ctx, sessiond.User{ID: "user-42", Status: sessiond.UserActive}.WithRoles("customer", "beta")); err != nil {
		b.Fatal(err)
	}
	tok, sess, err := m.Create(ctx, sessiond.NewSession{
		UserID: "user-42",
		Data:   []byte(`{"cart":{"tea":1},"theme":"dark"}`),
		Client: sessiond.Client{IP: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"},
	})
	if err != nil {
		b.Fatal(err)
	}

	b.Run("sessiond", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := m.Validate(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})

	pool, err := pgxpool.New(ctx, plain)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	b.Run("pgx-select", func(b *testing.B) {
		b.ReportAllocs()
		var (
			id, user, ip, ua                  string
			created, auth, seen, exp, idleExp time.Time
			idleMS, version                   int64
			generation                        uint32
			data, hash                        []byte
			rotated                           pgtype.Timestamptz
		)
		for b.Loop() {
			err := pool.QueryRow(ctx, `
SELECT id, user_id, created_at, auth_time, last_seen_at, expires_at, idle_expires_at, idle_timeout_ms,
	client_ip, user_agent, data, version, generation, secret_hash, rotated_at
FROM sessions WHERE id = $1`, sess.ID).Scan(&id, &user, &created, &auth, &seen, &exp, &idleExp, &idleMS,
				&ip, &ua, &data, &version, &generation, &hash, &rotated)
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCreate measures Manager.Create: a token, and one round trip
// that takes the user's shared lock and inserts the session unless the
// user is banned.
func BenchmarkCreate(b *testing.B) {
	m := sessiond.NewManager(open(b, testserver.Postgres(b).URL, noSweep), keys, sessiond.Config{})
	ctx := b.Context()
	data := json.RawMessage(`{"cart":{"tea":1},"theme":"dark"}`)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		_, _, err := m.Create(ctx, sessiond.NewSession{
			UserID: fmt.Sprint("user-", i%1000),
			Data:   data,
			Client: sessiond.Client{IP: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
