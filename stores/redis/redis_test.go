package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testserver"
	"github.com/sessiond/sessiond/server/apikey"
	"github.com/sessiond/sessiond/storetest"
)

// connect returns a rueidis client on a test server's URL (standalone) or
// on a cluster's nodes, closed when the test ends. edit may change the
// options first.
func connect(t testing.TB, url string, nodes []string, edit func(*rueidis.ClientOption)) rueidis.Client {
	t.Helper()
	var opt rueidis.ClientOption
	if nodes != nil {
		opt.InitAddress = nodes
	} else {
		var err error
		if opt, err = rueidis.ParseURL(url); err != nil {
			t.Fatal(err)
		}
	}
	if edit != nil {
		edit(&opt)
	}
	client, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return client
}

// open returns a store on a standalone test server.
func open(t testing.TB, url string) *Store {
	t.Helper()
	return newStore(t, connect(t, url, nil, nil), Options{})
}

// openCluster returns a store on a test cluster.
func openCluster(t testing.TB, c *testserver.RedisClusterServer) *Store {
	t.Helper()
	return newStore(t, connect(t, "", c.Addrs, nil), Options{})
}

func newStore(t testing.TB, client rueidis.Client, opts Options) *Store {
	t.Helper()
	s, err := New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var testKeys = func() *sessiond.Keyring {
	kr, err := sessiond.NewKeyring([]byte("redis store tests, a secret of 32 bytes or more"))
	if err != nil {
		panic(err)
	}
	return kr
}()

func TestConformance(t *testing.T) {
	s := open(t, testserver.Redis(t).URL)
	t.Run("Store", func(t *testing.T) { storetest.Run(t, s) })
	t.Run("Cached", func(t *testing.T) { storetest.RunCached(t, s) })
}

// TestCluster runs on one three-master cluster: starting one costs a few
// seconds.
func TestCluster(t *testing.T) {
	s := openCluster(t, testserver.RedisCluster(t))
	if s.client.Mode() != rueidis.ClientModeCluster {
		t.Fatalf("mode = %s", s.client.Mode())
	}
	t.Run("Conformance", func(t *testing.T) { storetest.Run(t, s) })
	t.Run("ConformanceCached", func(t *testing.T) { storetest.RunCached(t, s) })
	t.Run("UserKeysShareOneSlot", func(t *testing.T) { testOneSlot(t, s) })
	t.Run("RevokeAllIsAtomic", func(t *testing.T) { testAtomicRevoke(t, s) })
}

// testOneSlot checks with CLUSTER KEYSLOT that every key of a user lands
// in one slot, and that users spread over the cluster's nodes.
func testOneSlot(t *testing.T, s *Store) {
	ctx := t.Context()
	m := sessiond.NewManager(s, testKeys, sessiond.Config{})
	slots := map[int64]bool{}
	for _, u := range []string{"alice", "{tag}", "}{", "用户-😀", `x'y"z`, "user:1:sessions", strings.Repeat("é", 128)} {
		_, ss, err := m.Create(ctx, sessiond.NewSession{UserID: u})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.PutUser(ctx, sessiond.User{ID: u, Status: sessiond.UserActive}); err != nil {
			t.Fatal(err)
		}
		k, _ := s.sessionOf(ss.ID)
		keys := s.userOf(u)
		var slot int64 = -1
		for _, key := range []string{k.key, keys.record, keys.bucket} {
			n, err := s.client.Do(ctx, s.client.B().Exists().Key(key).Build()).AsInt64()
			if err != nil || n != 1 {
				t.Fatalf("user %q: key %q exists = %d, %v", u, key, n, err)
			}
			got, err := s.client.Do(ctx, s.client.B().ClusterKeyslot().Key(key).Build()).AsInt64()
			if err != nil {
				t.Fatal(err)
			}
			if slot >= 0 && got != slot {
				t.Fatalf("user %q: key %q in slot %d, another key in %d", u, key, got, slot)
			}
			slot = got
		}
		slots[slot] = true
	}
	if len(slots) < 2 {
		t.Fatalf("all users in one slot: %v", slots)
	}
}

// testAtomicRevoke watches a user's session keys with EXISTS (one command
// over keys of one slot, so one instant of the node) while the user's
// sessions are revoked and then the user banned: a watcher sees all of them
// or none, never a part.
func testAtomicRevoke(t *testing.T, s *Store) {
	ctx := t.Context()
	m := sessiond.NewManager(s, testKeys, sessiond.Config{})
	for _, banned := range []bool{false, true} {
		u := fmt.Sprintf("atomic-%v-%d", banned, time.Now().UnixNano())
		const n = 40
		var keys []string
		for range n {
			_, ss, err := m.Create(ctx, sessiond.NewSession{UserID: u})
			if err != nil {
				t.Fatal(err)
			}
			k, _ := s.sessionOf(ss.ID)
			keys = append(keys, k.key)
		}
		var partial, seen atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					got, err := s.client.Do(ctx, s.client.B().Exists().Key(keys...).Build()).AsInt64()
					if err != nil {
						t.Error(err)
						return
					}
					seen.Add(1)
					if got != 0 && got != n {
						partial.Add(1)
					}
				}
			})
		}
		time.Sleep(20 * time.Millisecond)
		var revoked int
		var err error
		if banned {
			revoked, err = m.PutUser(ctx, sessiond.User{ID: u, Status: sessiond.UserBanned})
		} else {
			revoked, err = m.RevokeUserSessions(ctx, u, "")
		}
		time.Sleep(20 * time.Millisecond)
		close(stop)
		wg.Wait()
		if err != nil || revoked != n {
			t.Fatalf("banned=%v: revoked %d, %v; want %d", banned, revoked, err, n)
		}
		if partial.Load() != 0 {
			t.Fatalf("banned=%v: %d of %d observations saw a partly revoked user", banned, partial.Load(), seen.Load())
		}
		if seen.Load() == 0 {
			t.Fatal("no observation")
		}
	}
}

// domain reports whether err is one of sessiond's domain errors.
func domain(err error) bool {
	var e *sessiond.Error
	return errors.As(err, &e)
}

// TestOutage stops the server under a live Store: calls fail fast with a
// non-domain error (callers answer 503), and once the server is back the
// same Store works again by itself. The test server keeps no data across a
// restart (no RDB, no AOF), so the session created before is gone: that
// is the server's configuration, not the store's doing.
func TestOutage(t *testing.T) {
	srv := testserver.Redis(t)
	s := open(t, srv.URL)
	m := sessiond.NewManager(s, testKeys, sessiond.Config{})
	ctx := context.Background() // no deadline: the store's own timeout must bound every call
	tok, ss, err := m.Create(ctx, sessiond.NewSession{UserID: "outage"})
	if err != nil {
		t.Fatal(err)
	}

	srv.Stop(t)
	calls := map[string]func() error{
		"Lookup":   func() error { _, _, err := s.Lookup(ctx, ss.ID); return err },
		"Create":   func() error { _, _, err := m.Create(ctx, sessiond.NewSession{UserID: "outage"}); return err },
		"Ping":     func() error { return s.Ping(ctx) },
		"Validate": func() error { _, _, err := m.Validate(ctx, tok); return err },
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		took := time.Since(start)
		t.Logf("%s with the server down: %v after %v", name, err, took.Round(time.Millisecond))
		if err == nil || domain(err) || !strings.HasPrefix(err.Error(), "redis: ") {
			t.Errorf("%s with the server down = %v, want a wrapped non-domain error", name, err)
		}
		if took > 3*time.Second {
			t.Errorf("%s took %v with the server down, want under 3s", name, took)
		}
	}

	srv.Start(t)
	deadline := time.Now().Add(10 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the store did not reconnect within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	tok2, _, err := m.Create(ctx, sessiond.NewSession{UserID: "outage"})
	if err != nil {
		t.Fatalf("Create after restart: %v", err)
	}
	if _, _, err := m.Validate(ctx, tok2); err != nil {
		t.Fatalf("Validate after restart: %v", err)
	}
	if _, _, err := m.Validate(ctx, tok); !errors.Is(err, sessiond.ErrInvalidSession) {
		t.Fatalf("the session from before the restart (non-persistent server): %v", err)
	}
}

// serverPID reads the process id of the server a store talks to.
func serverPID(t *testing.T, s *Store) int {
	t.Helper()
	info, err := s.client.Do(t.Context(), s.client.B().Info().Section("server").Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	_, pidText, _ := strings.Cut(info, "process_id:")
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(pidText, "\n", 2)[0]))
	if err != nil {
		t.Fatalf("process_id: %v", err)
	}
	return pid
}

// TestOpTimeout freezes the server (SIGSTOP: connections stay open, nothing
// answers) and calls the store with a caller's deadline far away, as an
// API request with a long deadline would: every call still fails within
// the store's own OpTimeout, so the caller answers 503 at once instead of
// waiting for its own deadline.
func TestOpTimeout(t *testing.T) {
	srv := testserver.Redis(t)
	if srv.Addr == "" {
		t.Skip("SESSIOND_TEST_REDIS_URL names a server this test may not freeze")
	}
	const timeout = 300 * time.Millisecond
	s := newStore(t, connect(t, srv.URL, nil, func(o *rueidis.ClientOption) { o.DisableRetry = true }), Options{OpTimeout: timeout})
	m := sessiond.NewManager(s, testKeys, sessiond.Config{})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, ss, err := m.Create(ctx, sessiond.NewSession{UserID: "frozen"})
	if err != nil {
		t.Fatal(err)
	}
	pid := serverPID(t, s)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)
	calls := map[string]func() error{
		"Lookup":             func() error { _, _, err := s.Lookup(ctx, ss.ID); return err },
		"Create":             func() error { _, _, err := m.Create(ctx, sessiond.NewSession{UserID: "frozen"}); return err },
		"Ping":               func() error { return s.Ping(ctx) },
		"GetUser":            func() error { _, err := s.GetUser(ctx, "frozen"); return err },
		"DeleteUserSessions": func() error { _, err := s.DeleteUserSessions(ctx, "frozen", ""); return err },
		"APIKeyByHash":       func() error { _, err := s.APIKeyByHash(ctx, "x"); return err },
		"RedeemToken":        func() error { _, err := s.RedeemToken(ctx, "x", time.Now().Add(time.Hour)); return err },
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		took := time.Since(start)
		if err == nil || domain(err) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s on a frozen server = %v, want the store's deadline", name, err)
		}
		if took > timeout+time.Second {
			t.Errorf("%s took %v on a frozen server, want about OpTimeout (%v)", name, took, timeout)
		}
	}
}

// Placement is enforced by the store too, so that no caller can put a
// session where its user's revocation would not reach it.
func TestPlacement(t *testing.T) {
	s := open(t, testserver.Redis(t).URL)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	session := func(user string, placed bool) sessiond.Session {
		raw := make([]byte, 16)
		copy(raw, fmt.Sprint(time.Now().UnixNano()))
		sum := sha256.Sum256([]byte(user))
		raw[0] = sum[0]
		if !placed {
			raw[0]++
		}
		return sessiond.Session{ID: sessionID(string(raw)), UserID: user, CreatedAt: now, AuthTime: now, LastSeenAt: now,
			ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Hour), Version: 1}
	}
	if err := s.Create(ctx, session("u", false)); err == nil || domain(err) {
		t.Fatalf("Create of a misplaced id = %v", err)
	}
	ok := session("u", true)
	if err := s.Create(ctx, ok); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, ok); err == nil || domain(err) {
		t.Fatalf("Create of an existing id = %v", err)
	}
	for _, bad := range []string{"", "ab", strings.Repeat("A", 21), strings.Repeat("A", 23), strings.Repeat("!", 22), ok.ID[:21] + "B", strings.Repeat("ab", 32)} {
		if _, _, err := s.Lookup(ctx, bad); !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("Lookup(%q) = %v", bad, err)
		}
		if err := s.Delete(ctx, bad); !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("Delete(%q) = %v", bad, err)
		}
		if _, err := s.Rotate(ctx, bad, 0, [32]byte{}, now, now.Add(time.Hour)); !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("Rotate(%q) = %v", bad, err)
		}
		if _, err := s.UpdateData(ctx, bad, 1, []byte(`{}`)); !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("UpdateData(%q) = %v", bad, err)
		}
		if err := s.Touch(ctx, bad, now, now.Add(time.Hour)); err != nil {
			t.Errorf("Touch(%q) = %v", bad, err)
		}
	}
}

// Stores with different prefixes share a server without seeing each other.
func TestKeyPrefix(t *testing.T) {
	srv := testserver.Redis(t)
	client := connect(t, srv.URL, nil, nil)
	a, b := newStore(t, client, Options{KeyPrefix: "a:"}), newStore(t, client, Options{KeyPrefix: "b:"})
	_, ss, err := sessiond.NewManager(a, testKeys, sessiond.Config{}).Create(t.Context(), sessiond.NewSession{UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Lookup(t.Context(), ss.ID); !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("another prefix sees the session: %v", err)
	}
	if _, _, err := a.Lookup(t.Context(), ss.ID); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"{x}", "a{", "}"} {
		if _, err := New(client, Options{KeyPrefix: bad}); err == nil {
			t.Errorf("New with prefix %q succeeded", bad)
		}
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New without a client succeeded")
	}
}

// Close leaves the application's client open unless told otherwise.
func TestCloseClient(t *testing.T) {
	url := testserver.Redis(t).URL
	client := connect(t, url, nil, nil)
	newStore(t, client, Options{}).Close()
	if err := client.Do(t.Context(), client.B().Ping().Build()).Error(); err != nil {
		t.Fatalf("the client after Close without CloseClient: %v", err)
	}
	newStore(t, client, Options{CloseClient: true}).Close()
	if err := client.Do(t.Context(), client.B().Ping().Build()).Error(); !errors.Is(err, rueidis.ErrClosing) {
		t.Fatalf("the client after Close with CloseClient: %v", err)
	}
}

// TestPreviousVersion writes a user record, an API key and a session the
// way the previous version did, with raw commands: the user record and the
// API key are read where they are; the session (id = SHA-256 of its token)
// is simply not found, and its key is left to expire by its TTL.
func TestPreviousVersion(t *testing.T) {
	s := open(t, testserver.Redis(t).URL)
	ctx := t.Context()
	do := func(args ...string) {
		t.Helper()
		if err := s.client.Do(ctx, s.client.B().Arbitrary(args[0]).Args(args[1:]...).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	// The previous version's user key: sd:{<first byte of SHA-256(user id),
	// hex>}:u:<user id>, a hash s, r, a, t.
	user := "legacy-用户"
	sum := sha256.Sum256([]byte(user))
	tag := hex.EncodeToString(sum[:1])
	updated := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	do("HSET", "sd:{"+tag+"}:u:"+user, "s", "active", "r", "admin,support", "a", `{"team":"ops"}`, "t", strconv.FormatInt(updated.UnixMilli(), 10))
	// Its session: sd:{ab}:s:<32 raw bytes> and index sd:{ab}:i:<user id>.
	oldID := strings.Repeat("\x07", 32)
	do("SET", "sd:{"+tag+"}:s:"+oldID, "\x01old", "PX", "60000")
	do("ZADD", "sd:{"+tag+"}:i:"+user, "9999999999999", oldID)
	// An API key: sd:{k}:key:<hash> and sd:{k}:keys.
	do("SET", "sd:{k}:key:abc123", `{"id":"key_1","name":"deploy","created_at":1700000000000}`)
	do("HSET", "sd:{k}:keys", "key_1", "abc123")

	u, err := s.GetUser(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != sessiond.UserActive || !u.HasRole("admin") || !u.HasRole("support") || string(u.Attributes()) != `{"team":"ops"}` || !u.UpdatedAt.Equal(updated) {
		t.Fatalf("the previous version's user record read as %+v %s", u, u.Attributes())
	}
	m := sessiond.NewManager(s, testKeys, sessiond.Config{})
	tok, _, err := m.Create(ctx, sessiond.NewSession{UserID: user})
	if err != nil {
		t.Fatal(err)
	}
	if _, v, err := m.Validate(ctx, tok); err != nil || !v.HasRole("admin") {
		t.Fatalf("a new session of the user: %+v, %v", v, err)
	}
	list, err := m.ListUserSessions(ctx, user)
	if err != nil || len(list) != 1 {
		t.Fatalf("the user's sessions: %d, %v; want the new one only", len(list), err)
	}
	k, err := s.APIKeyByHash(ctx, "abc123")
	if err != nil || k != (apikey.Key{ID: "key_1", Name: "deploy", Hash: "abc123", CreatedAt: time.UnixMilli(1700000000000).UTC()}) {
		t.Fatalf("the previous version's API key: %+v, %v", k, err)
	}
	// Banning the user writes the same record, in the same format.
	if n, err := m.PutUser(ctx, u.WithRoles("admin")); err != nil || n != 0 {
		t.Fatal(n, err)
	}
	got, err := s.client.Do(ctx, s.client.B().Hget().Key("sd:{"+tag+"}:u:"+user).Field("r").Build()).ToString()
	if err != nil || got != "admin" {
		t.Fatalf("the record after PutUser: r = %q, %v", got, err)
	}
	ttl, err := s.client.Do(ctx, s.client.B().Pttl().Key("sd:{"+tag+"}:s:"+oldID).Build()).AsInt64()
	if err != nil || ttl <= 0 {
		t.Fatalf("the previous version's session key: PTTL %d, %v; want it left to expire", ttl, err)
	}
}

// show prints every field of a session, its data as Data returns it.
func show(s sessiond.Session) string { return fmt.Sprintf("%+v", s.WithData(s.Data())) }

// fullSession is a session with every field set and multi-byte varints.
func fullSession(t *testing.T, user string) sessiond.Session {
	now := time.Now().UTC().Truncate(time.Millisecond)
	raw := make([]byte, 16)
	copy(raw[1:], fmt.Sprint(time.Now().UnixNano()))
	sum := sha256.Sum256([]byte(user))
	raw[0] = sum[0]
	return sessiond.Session{
		ID: sessionID(string(raw)), UserID: user, CreatedAt: now, AuthTime: now.Add(-time.Hour),
		LastSeenAt: now.Add(3 * time.Second), ExpiresAt: now.Add(366 * 24 * time.Hour), IdleExpiresAt: now.Add(2 * time.Hour),
		IdleTimeout: 90 * time.Minute, Version: 300, Generation: 200, SecretHash: sha256.Sum256([]byte("secret")),
		RotatedAt: now.Add(time.Second),
		Client:    sessiond.Client{IP: "2001:db8::1", UserAgent: chromeUA + " ü"},
	}.WithData(json.RawMessage(`{"cart":{"sku":1},"s":"` + strings.Repeat("x", 200) + `"}`))
}

// TestScriptsRewrite checks the fields the Lua scripts rewrite in the packed
// value (codec.go), where a varint growing by a byte moves everything
// after it: each write changes exactly its fields.
func TestScriptsRewrite(t *testing.T) {
	s := open(t, testserver.Redis(t).URL)
	ctx := t.Context()
	want := fullSession(t, "rewrite")
	if err := s.Create(ctx, want); err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		got, _, err := s.Lookup(ctx, want.ID)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if show(got) != show(want) {
			t.Fatalf("%s:\n got %s\nwant %s", what, show(got), show(want))
		}
		list, err := s.ListUserSessions(ctx, want.UserID)
		if err != nil || len(list) != 1 || show(list[0]) != show(got) {
			t.Fatalf("%s: ListUserSessions = %+v, %v", what, list, err)
		}
	}
	check("created")

	// Touch: last seen moves from 3 s (one byte) to days (five bytes) after
	// creation, and back before it (negative).
	for _, d := range []time.Duration{50 * 24 * time.Hour, -time.Minute, 0} {
		want.LastSeenAt, want.IdleExpiresAt = want.CreatedAt.Add(d), want.IdleExpiresAt.Add(time.Minute)
		if err := s.Touch(ctx, want.ID, want.LastSeenAt, want.IdleExpiresAt); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("touched at created%+v", d))
	}

	// UpdateData: the version crosses 16383 → 16384 (two bytes to three).
	want.Version = 16383
	v, _ := encodeSession(want)
	k, _ := s.sessionOf(want.ID)
	if err := s.client.Do(ctx, s.client.B().Set().Key(k.key).Value(v).Keepttl().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{`{"a":1}`, `{}`, `{"long":"` + strings.Repeat("y", 500) + `"}`} {
		got, err := s.UpdateData(ctx, want.ID, want.Version, json.RawMessage(data))
		if err != nil {
			t.Fatal(err)
		}
		want.Version++
		want = want.WithData(json.RawMessage(data))
		if show(got) != show(want) {
			t.Fatalf("UpdateData returned\n%s\nwant\n%s", show(got), show(want))
		}
		check("updated to " + data[:min(len(data), 10)])
	}

	// Rotate: the generation crosses 127 → 128 and the rotation time
	// grows.
	want.Generation = 127
	v, _ = encodeSession(want)
	if err := s.client.Do(ctx, s.client.B().Set().Key(k.key).Value(v).Keepttl().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		at := want.CreatedAt.Add(time.Duration(i*40) * 24 * time.Hour)
		hash := sha256.Sum256([]byte{byte(i)})
		got, err := s.Rotate(ctx, want.ID, want.Generation, hash, at, at.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want.Generation++
		want.SecretHash, want.RotatedAt, want.LastSeenAt, want.IdleExpiresAt = hash, at, at, at.Add(time.Hour)
		if show(got) != show(want) {
			t.Fatalf("Rotate returned\n%s\nwant\n%s", show(got), show(want))
		}
		check(fmt.Sprint("rotation ", i))
	}
	if _, err := s.Rotate(ctx, want.ID, want.Generation-1, [32]byte{}, want.CreatedAt, want.IdleExpiresAt); !errors.Is(err, sessiond.ErrConflict) {
		t.Fatalf("Rotate from a stale generation = %v", err)
	}
	check("refused rotation")
}

// The index bucket lives as long as its latest session, follows touches,
// and goes with the last session.
func TestIndexTTL(t *testing.T) {
	s := open(t, testserver.Redis(t).URL)
	ctx := t.Context()
	m := sessiond.NewManager(s, testKeys, sessiond.Config{})
	bucket := s.userOf("ttl").bucket
	expireTime := func(key string) int64 {
		t.Helper()
		n, err := s.client.Do(ctx, s.client.B().Pexpiretime().Key(key).Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	_, short, err := m.Create(ctx, sessiond.NewSession{UserID: "ttl", IdleTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	_, long, err := m.Create(ctx, sessiond.NewSession{UserID: "ttl", IdleTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got := expireTime(bucket); got != long.IdleExpiresAt.UnixMilli() {
		t.Fatalf("bucket expires at %d, want the latest session's %d", got, long.IdleExpiresAt.UnixMilli())
	}
	k, _ := s.sessionOf(short.ID)
	if got := expireTime(k.key); got != short.IdleExpiresAt.UnixMilli() {
		t.Fatalf("session expires at %d, want its idle expiry %d", got, short.IdleExpiresAt.UnixMilli())
	}
	later := short.IdleExpiresAt.Add(2 * time.Hour)
	if err := s.Touch(ctx, short.ID, short.LastSeenAt.Add(time.Second), later); err != nil {
		t.Fatal(err)
	}
	if expireTime(k.key) != later.UnixMilli() || expireTime(bucket) != later.UnixMilli() {
		t.Fatalf("after a touch: session %d, bucket %d, want %d", expireTime(k.key), expireTime(bucket), later.UnixMilli())
	}
	score, err := s.client.Do(ctx, s.client.B().Zscore().Key(bucket).Member(k.raw+"ttl").Build()).AsFloat64()
	if err != nil || int64(score) != (later.UnixMilli()+999)/1000 {
		t.Fatalf("index score after a touch = %v, %v; want %d", score, err, (later.UnixMilli()+999)/1000)
	}
	if err := s.Delete(ctx, short.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, long.ID); err != nil {
		t.Fatal(err)
	}
	if got := expireTime(bucket); got != -2 {
		t.Fatalf("bucket without sessions: PEXPIRETIME = %d, want -2 (no key)", got)
	}
}

// Expired entries leave the bucket on its next write, and a user's list
// drops entries whose session is gone.
func TestIndexTrim(t *testing.T) {
	s := open(t, testserver.Redis(t).URL)
	ctx := t.Context()
	m := sessiond.NewManager(s, testKeys, sessiond.Config{})
	_, ss, err := m.Create(ctx, sessiond.NewSession{UserID: "trim"})
	if err != nil {
		t.Fatal(err)
	}
	bucket := s.userOf("trim").bucket
	k, _ := s.sessionOf(ss.ID)
	// An entry of a session that expired a while ago, and one whose key
	// went without its entry (an eviction).
	if err := s.client.Do(ctx, s.client.B().Zadd().Key(bucket).ScoreMember().ScoreMember(1, "\x00expired-expired-trim").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if err := s.client.Do(ctx, s.client.B().Del().Key(k.key).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if list, err := m.ListUserSessions(ctx, "trim"); err != nil || len(list) != 0 {
		t.Fatalf("list = %v, %v", list, err)
	}
	if n, err := s.client.Do(ctx, s.client.B().Exists().Key(bucket).Build()).AsInt64(); err != nil || n != 0 {
		t.Fatalf("the bucket after its last entries went: exists = %d, %v", n, err)
	}
}

// A long user id (an e-mail address, a federated subject) is held in its
// index entries by its SHA-1, so that its bucket stays a listpack; an entry
// is never trusted on its own: revoking a user deletes only sessions whose
// record names that user.
func TestLongUserIDs(t *testing.T) {
	s := open(t, testserver.Redis(t).URL)
	ctx := t.Context()
	m := sessiond.NewManager(s, testKeys, sessiond.Config{})
	long := strings.Repeat("long-user-id.", 19) + "x" // 248 bytes
	tok, ss, err := m.Create(ctx, sessiond.NewSession{UserID: long})
	if err != nil {
		t.Fatal(err)
	}
	bucket := s.userOf(long).bucket
	if enc, err := s.client.Do(ctx, s.client.B().ObjectEncoding().Key(bucket).Build()).ToString(); err != nil || enc != "listpack" {
		t.Fatalf("the bucket of a long user id: %s, %v; want a listpack", enc, err)
	}
	if list, err := m.ListUserSessions(ctx, long); err != nil || len(list) != 1 || list[0].ID != ss.ID {
		t.Fatalf("list = %v, %v", list, err)
	}
	// Another user's session whose index entry names the long user (as a
	// SHA-1 collision would): neither listed nor revoked with it.
	other := placedSession(long, "", sessiond.Client{})
	other.UserID = "someone-else"
	v, _ := encodeSession(other)
	k, _ := s.sessionOf(other.ID)
	if err := s.client.Do(ctx, s.client.B().Set().Key(k.key).Value(v).Px(time.Hour).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if err := s.client.Do(ctx, s.client.B().Zadd().Key(bucket).ScoreMember().ScoreMember(4e9, indexMember(k.raw, long)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if list, err := m.ListUserSessions(ctx, long); err != nil || len(list) != 1 || list[0].ID != ss.ID {
		t.Fatalf("list with a foreign entry = %v, %v", list, err)
	}
	if n, err := m.RevokeUserSessions(ctx, long, ""); err != nil || n != 1 {
		t.Fatalf("revoked %d, %v; want 1", n, err)
	}
	if _, _, err := m.Validate(ctx, tok); !errors.Is(err, sessiond.ErrInvalidSession) {
		t.Fatalf("the long user's session after the revocation: %v", err)
	}
	if _, _, err := s.Lookup(ctx, other.ID); err != nil {
		t.Fatalf("the other user's session after the revocation: %v", err)
	}
}
