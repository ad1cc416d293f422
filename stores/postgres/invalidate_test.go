package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testserver"
	"github.com/sessiond/sessiond/nearcache"
	"github.com/sessiond/sessiond/stores/postgres"
)

// The near-cache tests share one server; each gets a database of its own.
func TestInvalidations(t *testing.T) {
	srv := testserver.Postgres(t)
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *testserver.PostgresServer, string)
	}{
		{"ChangesReachOtherNodes", testChangesReachOtherNodes},
		{"OnlyChangesAreAnnounced", testOnlyChangesAreAnnounced},
		{"KilledListenerFlushesAndBypasses", testKilledListener},
		{"HungListenerIsNoticed", testHungListener},
		{"SubscribeEnds", testSubscribeEnds},
		{"ListenerMadeWithThePoolsConfig", testListenerConfig},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, srv, srv.NewDatabase(t)) })
	}
}

// invalidation is a message as a near cache receives it: a session id or
// a user id.
type invalidation struct{ sessionID, userID string }

// tap is the store as one node opens it, with a window on the
// invalidations that node's near cache receives, so that a test waits for
// a message instead of sleeping.
type tap struct {
	*postgres.Store
	seen chan invalidation
}

func (p *tap) Subscribe(ctx context.Context, ready func(), invalidate func(sessionID, userID string)) error {
	return p.Store.Subscribe(ctx, ready, func(sessionID, userID string) {
		invalidate(sessionID, userID)
		select {
		case p.seen <- invalidation{sessionID, userID}:
		default: // a test that reads none of them
		}
	})
}

// node is one sessiond process: its own pool, store, near cache and
// manager. Entries live a minute, so only an invalidation can make a change
// show.
type node struct {
	tap   *tap
	cache *nearcache.Cache
	m     *sessiond.Manager
}

// newNode starts a node whose connections, the listening one included,
// carry application_name name.
func newNode(t testing.TB, url, name string, opts postgres.Options) *node {
	t.Helper()
	opts.SweepInterval = -1
	p := &tap{Store: open(t, with(url, "application_name="+name), opts), seen: make(chan invalidation, 1024)}
	c, err := nearcache.New(p, nearcache.Options{
		MaxStaleness: time.Minute,
		Logger:       slog.New(slog.DiscardHandler), // the outage tests drop the channel on purpose
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	waitHealthy(t, c, true)
	return &node{tap: p, cache: c, m: sessiond.NewManager(p, keys, sessiond.Config{Cache: c})}
}

func waitHealthy(t testing.TB, c *nearcache.Cache, want bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); c.Healthy() != want; {
		if time.Now().After(deadline) {
			t.Fatalf("near cache Healthy() still %v after 5s", !want)
		}
		time.Sleep(time.Millisecond)
	}
}

func (n *node) create(t testing.TB, userID string) (string, sessiond.Session) {
	t.Helper()
	tok, s, err := n.m.Create(t.Context(), sessiond.NewSession{UserID: userID})
	if err != nil {
		t.Fatal(err)
	}
	return tok, s
}

// cached validates tok twice and checks that the second answer came from
// the near cache, not the store.
func (n *node) cached(t testing.TB, tok string) {
	t.Helper()
	if _, _, err := n.m.Validate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	hits := n.cache.Stats().Hits.Load()
	if _, _, err := n.m.Validate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if n.cache.Stats().Hits.Load() != hits+1 {
		t.Fatal("the second validation did not come from the near cache")
	}
}

// await waits up to a second for the node's cache to receive want.
func (n *node) await(t testing.TB, want invalidation) {
	t.Helper()
	timeout := time.After(time.Second)
	for {
		select {
		case got := <-n.tap.seen:
			if got == want {
				return
			}
		case <-timeout:
			t.Fatalf("no invalidation %+v within 1s", want)
		}
	}
}

func mustInvalid(t testing.TB, n *node, tok, why string) error {
	t.Helper()
	_, _, err := n.m.Validate(t.Context(), tok)
	if !errors.Is(err, sessiond.ErrInvalidSession) {
		t.Fatalf("%s: Validate on the other node = %v, want ErrInvalidSession", why, err)
	}
	return err
}

// Two nodes, each with its own near cache: every change made on A is seen
// by B's next validation once the notification is in, though B's cache
// would otherwise serve its entries for a minute.
func testChangesReachOtherNodes(t *testing.T, _ *testserver.PostgresServer, url string) {
	a, b := newNode(t, url, "node-a", postgres.Options{}), newNode(t, url, "node-b", postgres.Options{})
	ctx := t.Context()

	tok, s := a.create(t, "alice")
	b.cached(t, tok)
	if _, err := a.m.PatchData(ctx, s.ID, []byte(`{"cart":["tea"]}`)); err != nil {
		t.Fatal(err)
	}
	b.await(t, invalidation{sessionID: s.ID})
	if got, _, err := b.m.Validate(ctx, tok); err != nil || string(got.Data()) != `{"cart":["tea"]}` {
		t.Fatalf("data patched on A, B validates %s, %v", got.Data(), err)
	}

	b.cached(t, tok)
	if _, err := a.m.PutUser(ctx, sessiond.User{ID: "alice", Status: sessiond.UserActive}.WithRoles("admin")); err != nil {
		t.Fatal(err)
	}
	b.await(t, invalidation{userID: "alice"})
	if _, u, err := b.m.Validate(ctx, tok); err != nil || !u.HasRole("admin") {
		t.Fatalf("role granted on A, B validates %v, %v", u.Roles(), err)
	}

	b.cached(t, tok)
	rotated, _, err := a.m.Rotate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	b.await(t, invalidation{sessionID: s.ID})
	if err := mustInvalid(t, b, tok, "rotated away on A"); !errors.Is(err, sessiond.ErrTokenRotated) {
		t.Fatalf("the old token on B = %v, want it recognised as rotated away", err)
	}
	b.cached(t, rotated)

	if _, err := a.m.PutUser(ctx, sessiond.User{ID: "alice", Status: sessiond.UserBanned}); err != nil {
		t.Fatal(err)
	}
	b.await(t, invalidation{userID: "alice"})
	mustInvalid(t, b, rotated, "banned on A")

	bob1, _ := a.create(t, "bob")
	bob2, _ := a.create(t, "bob")
	b.cached(t, bob1)
	b.cached(t, bob2)
	if _, err := a.m.RevokeUserSessions(ctx, "bob", ""); err != nil {
		t.Fatal(err)
	}
	b.await(t, invalidation{userID: "bob"})
	mustInvalid(t, b, bob1, "revoke-all on A")
	mustInvalid(t, b, bob2, "revoke-all on A")

	keep, kept := a.create(t, "carol")
	drop, _ := a.create(t, "carol")
	b.cached(t, keep)
	b.cached(t, drop)
	if _, err := a.m.RevokeUserSessions(ctx, "carol", kept.ID); err != nil {
		t.Fatal(err)
	}
	b.await(t, invalidation{userID: "carol"})
	mustInvalid(t, b, drop, "log out other devices on A")
	if _, _, err := b.m.Validate(ctx, keep); err != nil {
		t.Fatalf("the session kept by log-out-others: %v", err)
	}
	b.cached(t, keep)
	if err := a.m.RevokeSession(ctx, kept.ID); err != nil { // by its id, as an admin does
		t.Fatal(err)
	}
	b.await(t, invalidation{sessionID: kept.ID})
	mustInvalid(t, b, keep, "revoked by id on A")

	// Propagation: from the return of Revoke on A to B's first refusal.
	const n = 50
	took := make([]time.Duration, 0, n)
	for range n {
		tok, s := a.create(t, "dave")
		b.cached(t, tok)
		if err := a.m.Revoke(ctx, tok); err != nil {
			t.Fatal(err)
		}
		returned := time.Now()
		b.await(t, invalidation{sessionID: s.ID})
		mustInvalid(t, b, tok, "revoked on A")
		took = append(took, time.Since(returned))
	}
	p50, p99, worst := percentiles(took)
	t.Logf("revocation on A to refusal on B, %d revocations: p50 %v, p99 %v, max %v", n, p50, p99, worst)
}

func percentiles(d []time.Duration) (p50, p99, worst time.Duration) {
	slices.Sort(d)
	at := func(q float64) time.Duration { return d[int(math.Ceil(q*float64(len(d))))-1] }
	return at(0.50), at(0.99), d[len(d)-1]
}

// listenRaw listens on channel over a connection of the test's own.
func listenRaw(t testing.TB, url, channel string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(t.Context(), "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	return conn
}

// Each write that changes what a validation returns sends exactly one
// notification, with the documented payload, on the store's channel only;
// creations, touches and writes that change nothing (a lost
// compare-and-swap, an unknown id, a user with no sessions) send none.
// Notifications arrive in commit order, so a final "fence" proves that
// nothing else was sent before it.
func testOnlyChangesAreAnnounced(t *testing.T, _ *testserver.PostgresServer, url string) {
	ctx := t.Context()
	s := open(t, url, postgres.Options{SweepInterval: -1, NotifyChannel: "deployment_a"})
	other := open(t, url, noSweep) // the default channel
	listener := listenRaw(t, url, "deployment_a")
	m := sessiond.NewManager(s, keys, sessiond.Config{})

	// Another deployment's revocations are not this one's business.
	otherM := sessiond.NewManager(other, keys, sessiond.Config{})
	otherTok, _, err := otherM.Create(ctx, sessiond.NewSession{UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if err := otherM.Revoke(ctx, otherTok); err != nil {
		t.Fatal(err)
	}

	// A user id of the largest size (256 bytes), with quotes, a backslash
	// and emoji. The Manager's Create below checks it is a valid one.
	user := `o'brien "x" \ 😀; DROP TABLE users; --`
	user += strings.Repeat("é", (256-len(user))/2)
	silent := func() {
		t.Helper()
		_, s1, err := m.Create(ctx, sessiond.NewSession{UserID: user})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if err := s.Touch(ctx, s1.ID, now, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateData(ctx, s1.ID, s1.Version+7, []byte(`{}`)); !errors.Is(err, sessiond.ErrConflict) {
			t.Fatalf("UpdateData with a stale version: %v", err)
		}
		if _, err := s.Rotate(ctx, s1.ID, s1.Generation+1, [32]byte{1}, now, now); !errors.Is(err, sessiond.ErrConflict) {
			t.Fatalf("Rotate from a stale generation: %v", err)
		}
		unknown := "AAAAAAAAAAAAAAAAAAAAAA"
		if err := s.Delete(ctx, unknown); !errors.Is(err, sessiond.ErrNotFound) {
			t.Fatalf("Delete of an unknown id: %v", err)
		}
		if _, err := s.Rotate(ctx, unknown, 0, [32]byte{1}, now, now); !errors.Is(err, sessiond.ErrNotFound) {
			t.Fatalf("Rotate of an unknown id: %v", err)
		}
		if _, err := s.UpdateData(ctx, unknown, 1, []byte(`{}`)); !errors.Is(err, sessiond.ErrNotFound) {
			t.Fatalf("UpdateData of an unknown id: %v", err)
		}
		if n, err := s.DeleteUserSessions(ctx, "nobody", ""); err != nil || n != 0 {
			t.Fatalf("DeleteUserSessions of a user with no sessions = %d, %v", n, err)
		}
	}

	silent()
	_, s1, _ := m.Create(ctx, sessiond.NewSession{UserID: user})
	_, s2, _ := m.Create(ctx, sessiond.NewSession{UserID: user})
	if _, err := s.UpdateData(ctx, s1.ID, s1.Version, []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	silent()
	now := time.Now()
	if _, err := s.Rotate(ctx, s1.ID, s1.Generation, [32]byte{2}, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, s1.ID); err != nil {
		t.Fatal(err)
	}
	silent()
	if n, err := s.DeleteUserSessions(ctx, user, s2.ID); err != nil || n != 3 {
		t.Fatalf("DeleteUserSessions = %d, %v; want the 3 silent() sessions", n, err)
	}
	if _, err := s.PutUser(ctx, sessiond.User{ID: user, Status: sessiond.UserActive}.WithRoles("admin")); err != nil {
		t.Fatal(err)
	}
	silent()
	if n, err := s.PutUser(ctx, sessiond.User{ID: user, Status: sessiond.UserBanned}); err != nil || n != 2 {
		t.Fatalf("ban = %d, %v; want s2 and the last silent() session", n, err)
	}
	if _, _, err := m.Create(ctx, sessiond.NewSession{UserID: user}); !errors.Is(err, sessiond.ErrUserBanned) {
		t.Fatalf("Create for a banned user: %v", err)
	}
	if _, _, err := m.Create(ctx, sessiond.NewSession{UserID: "swept"}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteExpired(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("DeleteExpired = %d, %v; want 1", n, err)
	}
	if _, err := other.PutUser(ctx, sessiond.User{ID: user, Status: sessiond.UserActive}); err != nil {
		t.Fatal(err)
	}
	// The listener's own notification queues behind every write above.
	if _, err := listener.Exec(ctx, `SELECT pg_notify('deployment_a', 'fence')`); err != nil {
		t.Fatal(err)
	}

	want := []string{
		"s:" + s1.ID, // UpdateData
		"s:" + s1.ID, // Rotate: the stable id
		"s:" + s1.ID, // Delete
		"u:" + user,  // DeleteUserSessions
		"u:" + user,  // PutUser
		"u:" + user,  // PutUser, ban
		"fence",
	}
	var got []string
	for len(got) == 0 || got[len(got)-1] != "fence" {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		n, err := listener.WaitForNotification(wctx)
		cancel()
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		if n.Channel != "deployment_a" {
			t.Fatalf("notification on channel %q", n.Channel)
		}
		got = append(got, n.Payload)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("notifications:\n got %q\nwant %q", got, want)
	}
}

// listeners returns the connections to the database of url, with
// application name app, that listen (LISTEN is also their heartbeat, so it
// is always their last query).
func listeners(t testing.TB, admin *pgx.Conn, url, app string) []uint32 {
	t.Helper()
	rows, err := admin.Query(t.Context(), `
SELECT pid FROM pg_stat_activity
WHERE datname = $1 AND application_name = $2 AND query LIKE 'LISTEN %'`, dbName(t, url), app)
	if err != nil {
		t.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

func dbName(t testing.TB, url string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Database
}

// Killing a node's listening connection makes its cache flush and bypass
// itself: while the channel is down (new connections are refused, so it
// stays down), a revocation made elsewhere is seen at once, because every
// validation reads the store. The cache resubscribes by itself once it can.
func testKilledListener(t *testing.T, srv *testserver.PostgresServer, url string) {
	a, b := newNode(t, url, "node-a", postgres.Options{}), newNode(t, url, "node-b", postgres.Options{})
	admin := adminConn(t, srv.NewDatabase(t)) // not url's: its connections are refused below
	ctx := t.Context()
	allowConnections := func(allow bool) {
		t.Helper()
		sql := fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS %t", pgx.Identifier{dbName(t, url)}.Sanitize(), allow)
		if _, err := admin.Exec(context.Background(), sql); err != nil {
			t.Fatal(err)
		}
	}

	tok, _ := a.create(t, "frank") // both nodes' pools now hold an idle connection
	b.cached(t, tok)
	pids := listeners(t, admin, url, "node-b")
	if len(pids) != 1 {
		t.Fatalf("node-b has %d listening connections, want 1", len(pids))
	}
	allowConnections(false)
	t.Cleanup(func() { allowConnections(true) })
	var killed bool
	if err := admin.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pids[0]).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend = %v, %v", killed, err)
	}
	waitHealthy(t, b.cache, false)
	if !a.cache.Healthy() {
		t.Fatal("node A's cache went down with node B's channel")
	}

	hits := b.cache.Stats().Hits.Load()
	for range 2 {
		if _, _, err := b.m.Validate(ctx, tok); err != nil {
			t.Fatalf("validation with the channel down: %v", err)
		}
	}
	if err := a.m.Revoke(ctx, tok); err != nil {
		t.Fatal(err)
	}
	mustInvalid(t, b, tok, "revoked on A while B's channel is down")
	if b.cache.Stats().Hits.Load() != hits {
		t.Fatal("B's cache served a validation while its channel was down")
	}

	allowConnections(true)
	waitHealthy(t, b.cache, true)
	tok, s := a.create(t, "frank")
	b.cached(t, tok)
	if err := a.m.Revoke(ctx, tok); err != nil {
		t.Fatal(err)
	}
	b.await(t, invalidation{sessionID: s.ID})
	mustInvalid(t, b, tok, "revoked on A after B resubscribed")
}

// A listening connection whose server stops answering (SIGSTOP on its
// backend: a hung host or a half-open TCP connection looks the same) is
// noticed by the heartbeat within twice the op timeout; the cache flushes and
// resubscribes over a new connection.
func testHungListener(t *testing.T, _ *testserver.PostgresServer, url string) {
	if os.Getenv("SESSIOND_TEST_POSTGRES_URL") != "" {
		t.Skip("stopping a backend needs the server on this machine")
	}
	b := newNode(t, url, "node-b", postgres.Options{OpTimeout: 250 * time.Millisecond})
	admin := adminConn(t, url)
	pids := listeners(t, admin, url, "node-b")
	if len(pids) != 1 {
		t.Fatalf("node-b has %d listening connections, want 1", len(pids))
	}
	pid := int(pids[0])
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Skipf("cannot stop the backend: %v", err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
	stopped := time.Now()
	for b.cache.Stats().Flushes.Load() == 0 {
		if time.Since(stopped) > 5*time.Second {
			t.Fatal("the hung listening connection went unnoticed for 5s")
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("hung listener noticed after %v (OpTimeout 250ms)", time.Since(stopped).Round(time.Millisecond))
	waitHealthy(t, b.cache, true)
	syscall.Kill(pid, syscall.SIGCONT) // it finds its client gone and exits
	for deadline := time.Now().Add(5 * time.Second); ; {
		now := listeners(t, admin, url, "node-b")
		if len(now) == 1 && now[0] != pids[0] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("listening connections %v: want one new one in place of %d", now, pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Subscribe returns, and closes its connection, when its context ends,
// when something it cannot read arrives on the channel (the cache must
// then flush), and when the store is closed.
func testSubscribeEnds(t *testing.T, _ *testserver.PostgresServer, url string) {
	s, err := postgres.New(newPool(t, with(url, "application_name=subscriber")), noSweep)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	admin := adminConn(t, url)
	subscribe := func(ctx context.Context) chan error {
		t.Helper()
		ready, done := make(chan struct{}), make(chan error, 1)
		go func() { done <- s.Subscribe(ctx, func() { close(ready) }, func(string, string) {}) }()
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("Subscribe: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("Subscribe not ready after 5s")
		}
		return done
	}
	ended := func(done chan error) error {
		t.Helper()
		var err error
		select {
		case err = <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Subscribe still running 5s later")
		}
		for deadline := time.Now().Add(5 * time.Second); len(listeners(t, admin, url, "subscriber")) != 0; {
			if time.Now().After(deadline) {
				t.Fatal("the listening connection is still open 5s after Subscribe returned")
			}
			time.Sleep(10 * time.Millisecond)
		}
		return err
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := subscribe(ctx)
	cancel()
	if err := ended(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v", err)
	}

	for _, payload := range []string{"x:1", "s:", "u:", ""} {
		done = subscribe(t.Context())
		if _, err := admin.Exec(t.Context(), `SELECT pg_notify($1, $2)`, postgres.DefaultNotifyChannel, payload); err != nil {
			t.Fatal(err)
		}
		if err := ended(done); err == nil || !strings.Contains(err.Error(), "unknown payload") {
			t.Fatalf("after payload %q: %v", payload, err)
		}
	}

	done = subscribe(t.Context())
	s.Close()
	if err := ended(done); err == nil {
		t.Fatal("Subscribe returned nil when the store closed")
	}
}

// The listening connection is made with the application's pool
// configuration, hooks included (an application may set credentials in
// BeforeConnect, an IAM token say), but outside the pool: it takes none of
// the connections that requests need.
func testListenerConfig(t *testing.T, _ *testserver.PostgresServer, url string) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	var before, after atomic.Int32
	cfg.BeforeConnect = func(_ context.Context, cc *pgx.ConnConfig) error {
		before.Add(1)
		cc.RuntimeParams["application_name"] = "set-by-before-connect"
		return nil
	}
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		after.Add(1)
		_, err := conn.Exec(ctx, `SET statement_timeout = '5min'`)
		return err
	}
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s, err := postgres.New(pool, noSweep)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hooks := before.Load() // the migration's connection
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- s.Subscribe(ctx, func() { close(ready) }, func(string, string) {}) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Subscribe: %v", err)
	}
	if before.Load() != hooks+1 || after.Load() != hooks+1 {
		t.Fatalf("hooks ran %d/%d times for the listening connection, want once each", before.Load()-hooks, after.Load()-hooks)
	}
	if n := len(listeners(t, adminConn(t, url), url, "set-by-before-connect")); n != 1 {
		t.Fatalf("%d listening connections with the pool's hooks applied, want 1", n)
	}
	// The pool's one connection is still free for requests.
	if st := pool.Stat(); st.TotalConns() > 1 || st.AcquiredConns() != 0 {
		t.Fatalf("pool: %d connections, %d acquired", st.TotalConns(), st.AcquiredConns())
	}
	if _, _, err := s.Lookup(t.Context(), "AAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("Lookup with the subscription live: %v", err)
	}
}

// BenchmarkInvalidation measures how long another node's near cache keeps
// accepting a revoked session after the revoking call returned, next to
// the least it can be: the delivery of a bare NOTIFY to a bare LISTEN on
// the same server, in the same run.
//
//   - sessiond: Manager.Revoke on node A returns; node B's cache receives
//     the notification ("arrive") and B's next validation, a store read
//     now, refuses the token ("refused");
//   - pg-notify: SELECT pg_notify on one connection returns; the
//     notification reaches WaitForNotification on another.
func BenchmarkInvalidation(b *testing.B) {
	url := testserver.Postgres(b).URL
	b.Run("sessiond", func(b *testing.B) {
		na, nb := newNode(b, url, "node-a", postgres.Options{}), newNode(b, url, "node-b", postgres.Options{})
		var arrived, refused []time.Duration
		for b.Loop() {
			tok, s := na.create(b, "u")
			nb.cached(b, tok)
			if err := na.m.Revoke(b.Context(), tok); err != nil {
				b.Fatal(err)
			}
			returned := time.Now()
			nb.await(b, invalidation{sessionID: s.ID})
			arrived = append(arrived, time.Since(returned))
			mustInvalid(b, nb, tok, "revoked on A")
			refused = append(refused, time.Since(returned))
		}
		p50, _, _ := percentiles(arrived)
		b.ReportMetric(µs(p50), "arrive-p50-µs")
		report(b, "refused", refused)
	})
	b.Run("pg-notify", func(b *testing.B) {
		listener, sender := listenRaw(b, url, "bench"), adminConn(b, url)
		var took []time.Duration
		for b.Loop() {
			if _, err := sender.Exec(b.Context(), `SELECT pg_notify('bench', 'x')`); err != nil {
				b.Fatal(err)
			}
			returned := time.Now()
			if _, err := listener.WaitForNotification(b.Context()); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(returned))
		}
		report(b, "arrive", took)
	})
}

func report(b *testing.B, what string, d []time.Duration) {
	p50, p99, worst := percentiles(d)
	b.ReportMetric(µs(p50), what+"-p50-µs")
	b.ReportMetric(µs(p99), what+"-p99-µs")
	b.ReportMetric(µs(worst), what+"-max-µs")
}

func µs(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// BenchmarkNotifyCost sets what announcing a write costs it, in the same
// run on the same server, with one node listening:
//
//   - notify: Store.UpdateData, whose UPDATE calls pg_notify in its
//     RETURNING list;
//   - plain: the same compare-and-swap UPDATE ... RETURNING through pgx,
//     without pg_notify.
func BenchmarkNotifyCost(b *testing.B) {
	url := testserver.Postgres(b).URL
	s := open(b, url, noSweep)
	ctx := b.Context()
	listening, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.Subscribe(listening, func() {}, func(string, string) {})
	_, sess, err := sessiond.NewManager(s, keys, sessiond.Config{}).Create(ctx, sessiond.NewSession{UserID: "u"})
	if err != nil {
		b.Fatal(err)
	}
	data := []byte(`{"cart":{"tea":1},"theme":"dark"}`)
	version := sess.Version

	b.Run("notify", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.UpdateData(ctx, sess.ID, version, data); err != nil {
				b.Fatal(err)
			}
			version++
		}
	})
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	b.Run("plain", func(b *testing.B) {
		var got sessiond.Session
		var idleMS int64
		var raw, hash []byte
		var rotated pgtype.Timestamptz
		for b.Loop() {
			err := pool.QueryRow(ctx, `
UPDATE sessions SET data = $1, version = version + 1
WHERE id = $2 AND version = $3
RETURNING id, user_id, created_at, auth_time, last_seen_at, expires_at, idle_expires_at, idle_timeout_ms,
	client_ip, user_agent, data, version, generation, secret_hash, rotated_at`,
				data, sess.ID, version).Scan(&got.ID, &got.UserID, &got.CreatedAt, &got.AuthTime, &got.LastSeenAt, &got.ExpiresAt,
				&got.IdleExpiresAt, &idleMS, &got.Client.IP, &got.Client.UserAgent, &raw, &got.Version, &got.Generation, &hash, &rotated)
			if err != nil {
				b.Fatal(err)
			}
			version++
		}
	})
}
