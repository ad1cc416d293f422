package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testserver"
)

// A session created while a ban is being committed must not survive the
// ban (it would come back to life on unban). Here the ban is held open
// half-way — user row written, lock held, not committed — while Create
// runs: Create must wait for it and then refuse, which a lone
// INSERT ... WHERE NOT EXISTS under READ COMMITTED would not do (its
// snapshot predates the ban's commit).
func TestCreateWaitsForConcurrentBan(t *testing.T) {
	url := testserver.Postgres(t).URL
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s, err := New(pool, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	const user = `user "with" quotes: 😀`

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	ban, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer ban.Rollback(context.Background())
	if _, err := ban.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, userLockClass, user); err != nil {
		t.Fatal(err)
	}
	if _, err := ban.Exec(ctx, upsertUser, user, "banned", []string{}, []byte("{}"), time.Now()); err != nil {
		t.Fatal(err)
	}

	m := sessiond.NewManager(s, testKeys(t), sessiond.Config{})
	created := make(chan error, 1)
	go func() {
		_, _, err := m.Create(ctx, sessiond.NewSession{UserID: user})
		created <- err
	}()
	select {
	case err := <-created:
		t.Fatalf("Create did not wait for the ban in progress: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := ban.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, user); err != nil {
		t.Fatal(err)
	}
	if err := ban.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-created; !errors.Is(err, sessiond.ErrUserBanned) {
		t.Fatalf("Create racing a ban = %v, want ErrUserBanned", err)
	}
	if list, err := s.ListUserSessions(ctx, user); err != nil || len(list) != 0 {
		t.Fatalf("sessions of the banned user: %d, %v", len(list), err)
	}
}

func testKeys(t *testing.T) *sessiond.Keyring {
	kr, err := sessiond.NewKeyring([]byte("postgres store test secret, 32 bytes or more"))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}
