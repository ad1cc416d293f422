package mysql

import (
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testserver"
)

// benchSession signs a user in the way an application would: a user record
// with roles, a little data, client details.
func benchSession(b *testing.B, m *sessiond.Manager) (string, sessiond.Session) {
	b.Helper()
	ctx := b.Context()
	if _, err := m.PutUser(ctx, sessiond.User{ID: "user-42", Status: sessiond.UserActive}.WithRoles("customer", "beta")); err != nil {
		b.Fatal(err)
	}
	tok, s, err := m.Create(ctx, sessiond.NewSession{
		UserID: "user-42",
		Data:   []byte(`{"cart":{"tea":1},"theme":"dark"}`),
		Client: sessiond.Client{IP: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"},
	})
	if err != nil {
		b.Fatal(err)
	}
	return tok, s
}

// BenchmarkValidate sets an uncached validation through the store next to
// the least a database/sql program can do for it, on the same pool (the
// recommended DSN: interpolateParams=true):
//
//   - raw-select: a primary-key SELECT of the session row, its columns
//     scanned as bytes (no parsing);
//   - lookup: Store.Lookup, the row joined with its user record;
//   - validate: Manager.Validate (tag check, SHA-256, Lookup, expiry; the
//     default touch interval makes it one read).
func BenchmarkValidate(b *testing.B) {
	srv := testserver.MariaDB(b)
	s := newStore(b, openDB(b, srv.URL, recommended), Options{})
	m := sessiond.NewManager(s, keys, sessiond.Config{})
	tok, sess := benchSession(b, m)
	ctx := b.Context()

	b.Run("raw-select", func(b *testing.B) {
		cols := make([][]byte, 15)
		dest := make([]any, len(cols))
		for i := range cols {
			dest[i] = &cols[i]
		}
		for b.Loop() {
			if err := s.db.QueryRowContext(ctx, `SELECT `+insertColumns+` FROM sessions WHERE id = ?`, sess.ID).Scan(dest...); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("lookup", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := s.Lookup(ctx, sess.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("validate", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := m.Validate(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCreate sets Manager.Create (token, validation, the INSERT …
// SELECT with its banned check) next to a plain INSERT of a row of the same
// size.
func BenchmarkCreate(b *testing.B) {
	srv := testserver.MariaDB(b)
	s := newStore(b, openDB(b, srv.URL, recommended), Options{})
	m := sessiond.NewManager(s, keys, sessiond.Config{})
	_, sess := benchSession(b, m)
	ctx := b.Context()

	b.Run("raw-insert", func(b *testing.B) {
		id := make([]byte, 16)
		for b.Loop() {
			rand.Read(id)
			sess.ID = base64.RawURLEncoding.EncodeToString(id)
			if _, err := s.db.ExecContext(ctx, `INSERT INTO sessions (`+insertColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				sessionArgs(sess)...); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("create", func(b *testing.B) {
		ns := sessiond.NewSession{UserID: sess.UserID, Data: sess.Data(), Client: sess.Client}
		for b.Loop() {
			if _, _, err := m.Create(ctx, ns); err != nil {
				b.Fatal(err)
			}
		}
	})
}
