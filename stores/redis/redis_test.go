package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testserver"
	"github.com/sessiond/sessiond/storetest"
)

func open(t testing.TB, url string) *Store {
	t.Helper()
	s, err := Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
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
	storetest.Run(t, open(t, testserver.Redis(t).URL))
}

// TestCluster runs on one three-master cluster: starting one costs a few
// seconds.
func TestCluster(t *testing.T) {
	c := testserver.RedisCluster(t)
	s := open(t, c.URL)
	if s.client.Mode() != "cluster" {
		t.Fatalf("mode = %s", s.client.Mode())
	}
	t.Run("Conformance", func(t *testing.T) { storetest.Run(t, s) })
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
		if _, err := m.PutUser(ctx, &sessiond.User{ID: u, Status: sessiond.UserActive}); err != nil {
			t.Fatal(err)
		}
		_, skey, _, _ := s.sessionKey(ss.ID)
		_, ukey, ikey := s.userKey(u)
		var slot int64 = -1
		for _, k := range []string{skey, ukey, ikey} {
			n, err := s.client.Do(ctx, s.client.B().Exists().Key(k).Build()).AsInt64()
			if err != nil || n != 1 {
				t.Fatalf("user %q: key %q exists = %d, %v", u, k, n, err)
			}
			got, err := s.client.Do(ctx, s.client.B().ClusterKeyslot().Key(k).Build()).AsInt64()
			if err != nil {
				t.Fatal(err)
			}
			if slot >= 0 && got != slot {
				t.Fatalf("user %q: key %q in slot %d, another key in %d", u, k, got, slot)
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
			_, k, _, _ := s.sessionKey(ss.ID)
			keys = append(keys, k)
		}
		var partial, seen atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
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
			}()
		}
		time.Sleep(20 * time.Millisecond)
		var revoked int
		var err error
		if banned {
			revoked, err = m.PutUser(ctx, &sessiond.User{ID: u, Status: sessiond.UserBanned})
		} else {
			revoked, err = m.RevokeUser(ctx, u, "")
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
		"Lookup": func() error { _, _, err := s.Lookup(ctx, ss.ID); return err },
		"Create": func() error { _, _, err := m.Create(ctx, sessiond.NewSession{UserID: "outage"}); return err },
		"Ping":   func() error { return s.Ping(ctx) },
		"Validate": func() error {
			_, _, err := m.Validate(ctx, tok)
			return err
		},
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		took := time.Since(start)
		t.Logf("%s with the server down: %v after %v", name, err, took.Round(time.Millisecond))
		if err == nil || sessiond.ErrorCode(err) != "" {
			t.Errorf("%s with the server down = %v, want a non-domain error", name, err)
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

// Placement is enforced by the store too, so that no caller can put a
// session where its user's revocation would not reach it.
func TestPlacement(t *testing.T) {
	s := open(t, testserver.Redis(t).URL)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	session := func(user string, placed bool) *sessiond.Session {
		for {
			_, id := testKeys.NewToken()
			if strings.HasPrefix(id, s.IDPrefix(user)) == placed {
				return &sessiond.Session{ID: id, UserID: user, CreatedAt: now, LastSeenAt: now,
					ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Hour), Data: json.RawMessage(`{}`), Version: 1}
			}
		}
	}
	if err := s.Create(ctx, session("u", false)); err == nil || sessiond.ErrorCode(err) != "" {
		t.Fatalf("Create of a misplaced id = %v", err)
	}
	ok := session("u", true)
	if err := s.Create(ctx, ok); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, ok); err == nil {
		t.Fatal("Create of an existing id succeeded")
	}
	if _, err := s.Rotate(ctx, ok.ID, session("u", false).ID, now, now.Add(time.Hour)); err == nil || sessiond.ErrorCode(err) != "" {
		t.Fatalf("Rotate to a misplaced id = %v", err)
	}
	for _, bad := range []string{"", "ab", strings.Repeat("A", 64), strings.Repeat("g", 64)} {
		if _, _, err := s.Lookup(ctx, bad); !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("Lookup(%q) = %v", bad, err)
		}
		if err := s.Delete(ctx, bad); !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("Delete(%q) = %v", bad, err)
		}
	}
}

// Stores with different prefixes share a server without seeing each other.
func TestPrefix(t *testing.T) {
	url := testserver.Redis(t).URL
	a, b := open(t, url+"?prefix=a:"), open(t, url+"?prefix=b:")
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
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url     string
		addrs   []string
		cluster bool
		prefix  string
		timeout time.Duration
		db      int
	}{
		{"redis://127.0.0.1:6380/2", []string{"127.0.0.1:6380"}, false, "sd:", 2 * time.Second, 2},
		{"redis://h", []string{"h:6379"}, false, "sd:", 2 * time.Second, 0},
		{"rediss://u:p%40ss@h:1/?prefix=app:sess:&timeout=500ms", []string{"h:1"}, false, "app:sess:", 500 * time.Millisecond, 0},
		{"redis+cluster://h1:1,h2,[::1]:3", []string{"h1:1", "h2:6379", "[::1]:3"}, true, "sd:", 2 * time.Second, 0},
		{"rediss+cluster://u:p@h1:1,h2:2/?pipeline_multiplex=1", []string{"h1:1", "h2:2"}, true, "sd:", 2 * time.Second, 0},
	} {
		opt, s, cluster, err := parseURL(tc.url)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if fmt.Sprint(opt.InitAddress) != fmt.Sprint(tc.addrs) || cluster != tc.cluster || s.prefix != tc.prefix || s.timeout != tc.timeout || opt.SelectDB != tc.db {
			t.Errorf("%s: addrs %v cluster %v prefix %q timeout %v db %d", tc.url, opt.InitAddress, cluster, s.prefix, s.timeout, opt.SelectDB)
		}
		if strings.HasPrefix(tc.url, "rediss") != (opt.TLSConfig != nil) {
			t.Errorf("%s: TLS %v", tc.url, opt.TLSConfig != nil)
		}
	}
	for _, bad := range []string{
		"redis", "http://h", "redis://h1,h2", "redis://h/?pool=3", "redis://h/?prefix={x}", "redis://h/?prefix=",
		"redis://h/?timeout=soon", "redis://h/?timeout=0s", "redis+cluster://h1,h2/3", "redis://h/x/y",
		"redis://h/?pipeline_multiplex=9",
	} {
		if _, _, _, err := parseURL(bad); err == nil {
			t.Errorf("parseURL(%q) succeeded", bad)
		}
	}
	// A password never appears in an error.
	if _, _, _, err := parseURL("redis://u:s3cret@h/?nope=1"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v", err)
	}
}

func TestCodec(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	in := &sessiond.Session{
		ID: strings.Repeat("ab", 32), UserID: "用户 \x00 {x}", CreatedAt: now, LastSeenAt: now.Add(time.Second),
		ExpiresAt: now.Add(366 * 24 * time.Hour), IdleExpiresAt: now.Add(time.Minute), IdleTimeout: 90 * time.Minute,
		Client: sessiond.Client{IP: "2001:db8::1", UserAgent: strings.Repeat("Mozilla ", 64)},
		Data:   json.RawMessage(`{"cart":{"sku":1}}`), Version: 1<<53 - 1,
	}
	v, err := encodeSession(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeSession(in.ID, v)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", out) != fmt.Sprintf("%+v", in) {
		t.Fatalf("round trip:\n%+v\n%+v", out, in)
	}
	for _, bad := range []string{"", strings.Repeat("\x01", headerLen), "\x02" + v[1:], v[:headerLen+3]} {
		if _, err := decodeSession(in.ID, bad); err == nil {
			t.Errorf("decoded %q", bad)
		}
	}
	if _, err := encodeSession(&sessiond.Session{CreatedAt: time.UnixMilli(-1)}); err == nil {
		t.Error("encoded a time before 1970")
	}
}

// The index lives as long as the user's latest session, follows touches,
// and goes with the last session.
func TestIndexTTL(t *testing.T) {
	s := open(t, testserver.Redis(t).URL)
	ctx := t.Context()
	m := sessiond.NewManager(s, testKeys, sessiond.Config{})
	_, _, index := s.userKey("ttl")
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
	if got := expireTime(index); got != long.IdleExpiresAt.UnixMilli() {
		t.Fatalf("index expires at %d, want the latest session's %d", got, long.IdleExpiresAt.UnixMilli())
	}
	_, skey, _, _ := s.sessionKey(short.ID)
	if got := expireTime(skey); got != short.IdleExpiresAt.UnixMilli() {
		t.Fatalf("session expires at %d, want its idle expiry %d", got, short.IdleExpiresAt.UnixMilli())
	}
	later := short.IdleExpiresAt.Add(2 * time.Hour)
	if err := s.Touch(ctx, short.ID, short.LastSeenAt.Add(time.Second), later); err != nil {
		t.Fatal(err)
	}
	if expireTime(skey) != later.UnixMilli() || expireTime(index) != later.UnixMilli() {
		t.Fatalf("after a touch: session %d, index %d, want %d", expireTime(skey), expireTime(index), later.UnixMilli())
	}
	if err := s.Delete(ctx, short.ID); err != nil {
		t.Fatal(err)
	}
	if got := expireTime(index); got != long.IdleExpiresAt.UnixMilli() {
		t.Fatalf("index expires at %d after the delete, want %d", got, long.IdleExpiresAt.UnixMilli())
	}
	if err := s.Delete(ctx, long.ID); err != nil {
		t.Fatal(err)
	}
	if got := expireTime(index); got != -2 {
		t.Fatalf("index of a user without sessions: PEXPIRETIME = %d, want -2 (no key)", got)
	}
}
