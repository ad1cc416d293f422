package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testserver"
	"github.com/sessiond/sessiond/postgres"
	"github.com/sessiond/sessiond/storetest"
)

var keys, _ = sessiond.NewKeyring([]byte("postgres store test secret, 32 bytes or more"))

func open(t testing.TB, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// with adds query parameters to a URL.
func with(url, params string) string {
	if strings.Contains(url, "?") {
		return url + "&" + params
	}
	return url + "?" + params
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open(t, testserver.Postgres(t).URL))
}

// Several nodes starting at once on a fresh database migrate it exactly
// once, and opening a migrated database again changes nothing.
func TestConcurrentMigrations(t *testing.T) {
	plain := testserver.Postgres(t).URL
	url := with(plain, "sweep_interval=-1s")
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			s, err := postgres.Open(t.Context(), url)
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			if err := s.Ping(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	s := open(t, url)
	if _, _, err := sessiond.NewManager(s, keys, sessiond.Config{}).Create(t.Context(), sessiond.NewSession{UserID: "u"}); err != nil {
		t.Fatal(err)
	}

	conn, err := pgx.Connect(t.Context(), plain)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var rows, distinct, highest int
	if err := conn.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT version), max(version) FROM schema_migrations`).
		Scan(&rows, &distinct, &highest); err != nil {
		t.Fatal(err)
	}
	if rows != highest || distinct != highest || highest < 1 {
		t.Fatalf("schema_migrations: %d rows, %d distinct, highest %d; want versions 1..n once each", rows, distinct, highest)
	}
}

// A store outage fails closed, fast, and heals by itself: the same Store
// works again once the server is back, and no committed session is lost.
func TestOutage(t *testing.T) {
	srv := testserver.Postgres(t)
	s := open(t, srv.URL)
	m := sessiond.NewManager(s, keys, sessiond.Config{})
	ctx := t.Context()
	tok, sess, err := m.Create(ctx, sessiond.NewSession{UserID: "before-the-outage", Data: []byte(`{"cart":["tea"]}`)})
	if err != nil {
		t.Fatal(err)
	}

	srv.Stop(t)
	for name, call := range map[string]func() error{
		"Lookup":   func() error { _, _, err := s.Lookup(ctx, sess.ID); return err },
		"Create":   func() error { _, _, err := m.Create(ctx, sessiond.NewSession{UserID: "during"}); return err },
		"Validate": func() error { _, _, err := m.Validate(ctx, tok); return err },
		"Ping":     func() error { return s.Ping(ctx) },
	} {
		start := time.Now()
		err := call()
		took := time.Since(start)
		if err == nil || sessiond.ErrorCode(err) != "" {
			t.Errorf("%s with the server down = %v; want a non-domain error (store unavailable)", name, err)
		}
		if took > 3*time.Second {
			t.Errorf("%s with the server down took %v; want an error within 3s", name, took)
		}
	}

	srv.Start(t)
	deadline := time.Now().Add(10 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the store did not recover within 10s of the server's return")
		}
		time.Sleep(50 * time.Millisecond)
	}
	got, _, err := m.Validate(ctx, tok)
	if err != nil {
		t.Fatalf("session committed before the outage: %v", err)
	}
	if string(got.Data) != `{"cart":["tea"]}` {
		t.Fatalf("data after the outage = %s", got.Data)
	}
	if _, _, err := m.Create(ctx, sessiond.NewSession{UserID: "after"}); err != nil {
		t.Fatalf("Create after the outage: %v", err)
	}
}

// The background sweeper deletes expired sessions by itself.
func TestSweeper(t *testing.T) {
	s := open(t, with(testserver.Postgres(t).URL, "sweep_interval=100ms"))
	m := sessiond.NewManager(s, keys, sessiond.Config{})
	_, short, err := m.Create(t.Context(), sessiond.NewSession{UserID: "u", IdleTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, long, err := m.Create(t.Context(), sessiond.NewSession{UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, err := s.Lookup(t.Context(), short.ID)
		if errors.Is(err, sessiond.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired session still stored after 5s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, _, err := s.Lookup(t.Context(), long.ID); err != nil {
		t.Fatalf("the sweeper took a live session: %v", err)
	}
}

func TestOpenURL(t *testing.T) {
	for _, bad := range []string{
		"mysql://u:secret@127.0.0.1/db",
		"postgres://u:secret@127.0.0.1/db?op_timeout=soon",
		"postgres://u:secret@127.0.0.1/db?op_timeout=0s",
		"postgres://u:secret@127.0.0.1/db?sweep_interval=often",
		"postgres://u:secret@127.0.0.1/db?pool_max_conns=none",
		"postgres://u:secret@127.0.0.1:1/db?connect_timeout=1", // nobody listens
	} {
		s, err := postgres.Open(t.Context(), bad)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", bad)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q): the error shows the password: %v", bad, err)
		}
	}
	// sessiond's own parameters are taken out before pgx sees the URL (the
	// server would refuse them as unknown settings), pgx's are honoured.
	url := testserver.Postgres(t).URL
	for _, u := range []string{
		with(url, "sweep_interval=10s&op_timeout=1s&pool_max_conns=3&application_name=sessiond-test"),
		strings.Replace(url, "postgres://", "postgresql://", 1),
	} {
		s := open(t, u)
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
	}
}

// Session data and user attributes come back byte for byte, including what
// jsonb would rewrite or refuse (key order, duplicate keys, "\u0000") and
// invalid UTF-8 that Go's JSON decoder lets through: nothing the Manager
// accepts may become a store error.
func TestJSONKeptExactly(t *testing.T) {
	s := open(t, testserver.Postgres(t).URL)
	m := sessiond.NewManager(s, keys, sessiond.Config{})
	ctx := t.Context()
	for _, data := range []string{
		`{"b":1,"a":2}`,
		`{"a":1,"a":2}`,
		`{"nul":"\u0000","n":12345678901234567890.5e-3}`,
	} {
		tok, _, err := m.Create(ctx, sessiond.NewSession{UserID: "u", Data: []byte(data)})
		if err != nil {
			t.Fatalf("Create(%q): %v", data, err)
		}
		got, _, err := m.Validate(ctx, tok)
		if err != nil || string(got.Data) != data {
			t.Fatalf("data %q came back as %q, %v", data, got.Data, err)
		}
		if _, err := m.PutUser(ctx, &sessiond.User{ID: "u", Status: sessiond.UserActive, Attributes: []byte(data)}); err != nil {
			t.Fatalf("PutUser(attributes %q): %v", data, err)
		}
		if u, err := s.GetUser(ctx, "u"); err != nil || string(u.Attributes) != data {
			t.Fatalf("attributes %q came back as %+v, %v", data, u, err)
		}
	}
}
