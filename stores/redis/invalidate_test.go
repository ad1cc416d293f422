package redis

import (
	"context"
	"encoding/base64"
	"errors"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testserver"
	"github.com/sessiond/sessiond/nearcache"
)

// The near cache's guarantee rests on the store, so these tests run it on
// real servers: two Managers, each with its own near cache over its own
// Store and client, on one Redis (or one cluster), are two sessiond nodes.
// (storetest.RunCached, in redis_test.go, runs the conformance suite
// through a cache.)

// listen subscribes a connection of its own to the store's channel and
// returns every message it hears, undecoded.
func listen(t *testing.T, s *Store) <-chan string {
	t.Helper()
	conn, _ := s.client.Dedicate()
	ctx, cancel := context.WithCancel(context.Background())
	msgs := make(chan string, 1024)
	ready := make(chan struct{})
	var once sync.Once
	done := make(chan struct{})
	go func() {
		defer close(done)
		hook := rueidis.WithOnSubscriptionHook(ctx, func(rueidis.PubSubSubscription) { once.Do(func() { close(ready) }) })
		conn.Receive(hook, conn.B().Subscribe().Channel(s.channel).Build(), func(m rueidis.PubSubMessage) { msgs <- m.Message })
	}()
	t.Cleanup(func() { cancel(); <-done; conn.Close() })
	select {
	case <-ready:
	case <-done:
		t.Fatal("SUBSCRIBE failed")
	case <-time.After(5 * time.Second):
		t.Fatal("SUBSCRIBE not confirmed in 5s")
	}
	return msgs
}

func next(t *testing.T, msgs <-chan string) string {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message in 5s")
		return ""
	}
}

func raw(id string) string {
	b, _ := base64.RawURLEncoding.DecodeString(id)
	return string(b)
}

// unknownID is a well-formed session id of no session.
func unknownID(user string) string {
	return placedSession(user, "", sessiond.Client{}).ID
}

// TestAnnouncements listens to the channel while every kind of write runs:
// creations, touches and writes that change nothing publish nothing, and
// each write that changes what a validation returns publishes exactly its
// message. Pub/sub keeps order on a connection, so a stray message from
// the silent writes would arrive before the first expected one.
func TestAnnouncements(t *testing.T) {
	s := open(t, testserver.Redis(t).URL)
	ctx := t.Context()
	msgs := listen(t, s)
	every := sessiond.NewManager(s, testKeys, sessiond.Config{TouchInterval: time.Nanosecond}) // every validation touches
	user := "用户 {tag} 😀"

	// Silent: 20 creations, 20 validations that each touch, 20 direct
	// touches, and writes refused or without effect.
	var tok string
	var ss sessiond.Session
	for range 20 {
		var err error
		if tok, ss, err = every.Create(ctx, sessiond.NewSession{UserID: user}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := every.Validate(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := s.Touch(ctx, ss.ID, time.Now(), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	gone := unknownID(user)
	if _, err := s.UpdateData(ctx, ss.ID, ss.Version+7, []byte(`{}`)); !errors.Is(err, sessiond.ErrConflict) {
		t.Fatalf("stale UpdateData = %v", err)
	}
	if _, err := s.Rotate(ctx, ss.ID, ss.Generation+1, [32]byte{}, time.Now(), time.Now().Add(time.Hour)); !errors.Is(err, sessiond.ErrConflict) {
		t.Fatalf("Rotate from a stale generation = %v", err)
	}
	if _, err := s.UpdateData(ctx, gone, 1, []byte(`{}`)); !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("UpdateData of a gone session = %v", err)
	}
	if err := s.Delete(ctx, gone); !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("Delete of a gone session = %v", err)
	}
	if _, err := s.Rotate(ctx, gone, 0, [32]byte{}, time.Now(), time.Now().Add(time.Hour)); !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("Rotate of a gone session = %v", err)
	}
	if n, err := s.DeleteUserSessions(ctx, "nobody", ""); err != nil || n != 0 {
		t.Fatalf("DeleteUserSessions of a user without sessions = %d, %v", n, err)
	}

	// Announced, each with its message, in order.
	if _, err := every.PatchData(ctx, ss.ID, []byte(`{"cart":1}`)); err != nil {
		t.Fatal(err)
	}
	if got := next(t, msgs); got != "s"+raw(ss.ID) {
		t.Fatalf("after 20 creations, 40 touches and 6 refused writes, the first message is %q; want UpdateData's", got)
	}
	_, rotated, err := every.Rotate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if got := next(t, msgs); got != "s"+raw(ss.ID) || rotated.ID != ss.ID {
		t.Fatalf("Rotate published %q, want the session's id (which rotation keeps)", got)
	}
	if err := every.RevokeSession(ctx, rotated.ID); err != nil {
		t.Fatal(err)
	}
	if got := next(t, msgs); got != "s"+raw(rotated.ID) {
		t.Fatalf("Delete published %q", got)
	}
	if n, err := every.RevokeUserSessions(ctx, user, ""); err != nil || n != 19 {
		t.Fatalf("RevokeUserSessions = %d, %v", n, err)
	}
	if got := next(t, msgs); got != "u"+user {
		t.Fatalf("DeleteUserSessions published %q", got)
	}
	if _, err := every.PutUser(ctx, sessiond.User{ID: user, Status: sessiond.UserBanned}); err != nil {
		t.Fatal(err)
	}
	if got := next(t, msgs); got != "u"+user {
		t.Fatalf("PutUser published %q", got)
	}
	select {
	case m := <-msgs:
		t.Fatalf("unexpected message %q", m)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestAnnouncementRefused runs the store as an ACL user without channels
// (the default for users created on Redis 7): the writes that must announce
// fail whole, changing nothing, rather than leave other nodes' caches stale.
func TestAnnouncementRefused(t *testing.T) {
	srv := testserver.Redis(t)
	if srv.Addr == "" {
		t.Skip("SESSIOND_TEST_REDIS_URL names a server whose users this test may not change")
	}
	admin := open(t, srv.URL)
	ctx := t.Context()
	if err := admin.client.Do(ctx, admin.client.B().Arbitrary("ACL", "SETUSER", "nochannels", "on", ">secret", "~*", "+@all", "resetchannels").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, connect(t, srv.URL, nil, func(o *rueidis.ClientOption) { o.Username, o.Password = "nochannels", "secret" }), Options{})
	m := sessiond.NewManager(s, testKeys, sessiond.Config{})
	_, ss, err := m.Create(ctx, sessiond.NewSession{UserID: "u"}) // announces nothing
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, ss.ID); err == nil || !strings.Contains(err.Error(), "publish to the channel") {
		t.Fatalf("Delete without the channel = %v, want a refused PUBLISH", err)
	}
	if _, err := s.PutUser(ctx, sessiond.User{ID: "u", Status: sessiond.UserBanned}); err == nil {
		t.Fatal("PutUser without the channel succeeded")
	}
	if _, u, err := s.Lookup(ctx, ss.ID); err != nil || u.Status != sessiond.UserActive {
		t.Fatalf("after the refused writes: %+v, %v; want the session and its user untouched", u, err)
	}
	if err := s.Subscribe(ctx, func() { t.Error("subscribed without the channel") }, func(string, string) {}); err == nil {
		t.Fatal("Subscribe without the channel succeeded")
	}
}

// TestSubscribe checks the store's side of the contract: ready once
// subscribed, decoded invalidations, a return when ctx ends, and an error
// (so that the cache flushes) on a message it cannot read.
func TestSubscribe(t *testing.T) {
	s := open(t, testserver.Redis(t).URL)
	ctx, cancel := context.WithCancel(t.Context())
	invs := make(chan invalidation, 16)
	done := subscribe(t, ctx, s, func(sid, uid string) { invs <- invalidation{sid, uid} })
	m := sessiond.NewManager(s, testKeys, sessiond.Config{})
	tok, ss, err := m.Create(ctx, sessiond.NewSession{UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Revoke(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := m.PutUser(ctx, sessiond.User{ID: strings.Repeat("é", 128), Status: sessiond.UserActive}); err != nil {
		t.Fatal(err)
	}
	// The previous version's session message is ignored, not an error.
	if err := s.client.Do(ctx, s.client.B().Publish().Channel(s.channel).Message("s"+strings.Repeat("\x07", 32)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.RevokeUserSessions(ctx, "u2", ""); err != nil { // nothing to revoke: silent
		t.Fatal(err)
	}
	if _, err := m.PutUser(ctx, sessiond.User{ID: "u3", Status: sessiond.UserActive}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []invalidation{{sessionID: ss.ID}, {userID: strings.Repeat("é", 128)}, {userID: "u3"}} {
		if got := <-invs; got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe after ctx ended = %v", err)
	}

	for _, bad := range []string{"", "x", "s" + strings.Repeat("a", 15), "s" + strings.Repeat("a", 17), "u", "u" + strings.Repeat("x", maxUserIDLen+1)} {
		done := subscribe(t, t.Context(), s, func(string, string) {})
		if err := s.client.Do(t.Context(), s.client.B().Publish().Channel(s.channel).Message(bad).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err == nil || errors.Is(err, context.Canceled) {
				t.Fatalf("message %q: Subscribe = %v, want an error", bad, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("message %q went unnoticed", bad)
		}
	}
}

type invalidation struct{ sessionID, userID string }

// subscribe runs s.Subscribe until it returns, once it is ready.
func subscribe(t *testing.T, ctx context.Context, s *Store, fn func(sessionID, userID string)) <-chan error {
	t.Helper()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- s.Subscribe(ctx, func() { close(ready) }, fn) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Subscribe: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Subscribe not ready in 5s")
	}
	return done
}

// node is one sessiond process: its own client, store, near cache and
// manager.
type node struct {
	cache *nearcache.Cache
	m     *sessiond.Manager
}

// newNode opens a store (on a server's URL, or a cluster's nodes) with a
// near cache whose entries outlive the test, so that only an invalidation
// can explain a fresh answer.
func newNode(t *testing.T, url string, nodes []string, edit func(*rueidis.ClientOption), staleness time.Duration) *node {
	t.Helper()
	s := newStore(t, connect(t, url, nodes, edit), Options{})
	c, err := nearcache.New(s, nearcache.Options{MaxStaleness: staleness})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // before the client closes: cleanups run last-in first-out
	waitFor(t, 5*time.Second, "cache healthy", c.Healthy)
	return &node{cache: c, m: sessiond.NewManager(s, testKeys, sessiond.Config{Cache: c})}
}

// waitFor polls cond until it holds and returns how long that took.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(50 * time.Microsecond)
	}
	return time.Since(start)
}

// cached validates tok on n until the answer comes from n's cache: the
// second validation, unless an invalidation of another session raced the
// first one's fill.
func (n *node) cached(t *testing.T, tok string) {
	t.Helper()
	for range 3 {
		before := n.cache.Stats().Hits.Load()
		if _, _, err := n.m.Validate(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		if n.cache.Stats().Hits.Load() > before {
			return
		}
	}
	t.Fatal("three validations and no cache hit")
}

func (n *node) refuses(t *testing.T, tok string) bool {
	t.Helper()
	_, _, err := n.m.Validate(t.Context(), tok)
	if err != nil && !errors.Is(err, sessiond.ErrInvalidSession) {
		t.Fatal(err)
	}
	return err != nil
}

// propagation bounds how long a change on one node may take to reach
// another's next validation: one pub/sub hop takes well under a
// millisecond, so a second means the message was lost.
const propagation = time.Second

// testTwoNodes makes every kind of change on a while b serves the session
// from its cache; b sees each by its next validations.
func testTwoNodes(t *testing.T, a, b *node, user string) {
	ctx := t.Context()
	see := func(what string, cond func() bool) {
		t.Helper()
		took := waitFor(t, propagation, what+" seen on the other node", cond)
		t.Logf("%-12s seen on the other node after %v", what, took)
	}
	tok, ss, err := a.m.Create(ctx, sessiond.NewSession{UserID: user})
	if err != nil {
		t.Fatal(err)
	}
	b.cached(t, tok)

	if _, err := a.m.PutUser(ctx, sessiond.User{ID: user, Status: sessiond.UserActive}.WithRoles("admin")); err != nil {
		t.Fatal(err)
	}
	see("role change", func() bool { _, u, err := b.m.Validate(ctx, tok); return err == nil && u.HasRole("admin") })

	b.cached(t, tok)
	if _, err := a.m.PatchData(ctx, ss.ID, []byte(`{"cart":{"tea":2}}`)); err != nil {
		t.Fatal(err)
	}
	see("data patch", func() bool {
		s, _, err := b.m.Validate(ctx, tok)
		return err == nil && string(s.Data()) == `{"cart":{"tea":2}}`
	})

	b.cached(t, tok)
	rotated, _, err := a.m.Rotate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	see("rotation", func() bool { return b.refuses(t, tok) })

	b.cached(t, rotated)
	if err := a.m.Revoke(ctx, rotated); err != nil {
		t.Fatal(err)
	}
	see("revocation", func() bool { return b.refuses(t, rotated) })

	var toks []string
	for range 3 {
		tok, _, err := a.m.Create(ctx, sessiond.NewSession{UserID: user})
		if err != nil {
			t.Fatal(err)
		}
		b.cached(t, tok)
		toks = append(toks, tok)
	}
	if _, err := a.m.RevokeUserSessions(ctx, user, ""); err != nil {
		t.Fatal(err)
	}
	see("revoke-all", func() bool { return b.refuses(t, toks[0]) && b.refuses(t, toks[1]) && b.refuses(t, toks[2]) })

	tok, _, err = a.m.Create(ctx, sessiond.NewSession{UserID: user})
	if err != nil {
		t.Fatal(err)
	}
	b.cached(t, tok)
	if _, err := a.m.PutUser(ctx, sessiond.User{ID: user, Status: sessiond.UserBanned}); err != nil {
		t.Fatal(err)
	}
	see("ban", func() bool { return b.refuses(t, tok) })
}

// measurePropagation revokes n sessions on a that b serves from its cache,
// and logs the time from the revocation's return to b's first refusal. It
// asserts only the correctness bound: figures are for the report.
func measurePropagation(t *testing.T, a, b *node, user string, n int) {
	ctx := t.Context()
	var took []time.Duration
	atOnce := 0
	for range n {
		tok, _, err := a.m.Create(ctx, sessiond.NewSession{UserID: user})
		if err != nil {
			t.Fatal(err)
		}
		b.cached(t, tok)
		if err := a.m.Revoke(ctx, tok); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		tries := 0
		for ; !b.refuses(t, tok); tries++ {
			if time.Since(start) > propagation {
				t.Fatalf("revoked on one node, still valid on the other after %v", propagation)
			}
			runtime.Gosched() // spin: time.Sleep has about a millisecond of granularity
		}
		took = append(took, time.Since(start))
		if tries == 0 {
			atOnce++
		}
	}
	slices.Sort(took)
	t.Logf("%d revocations, revoke returned -> other node's first refusal: p50 %v, p90 %v, p99 %v, max %v; refused by the first validation after the return: %d/%d",
		n, took[n/2], took[n*9/10], took[n*99/100], took[n-1], atOnce, n)
}

func TestTwoNodes(t *testing.T) {
	url := testserver.Redis(t).URL
	a, b := newNode(t, url, nil, nil, time.Hour), newNode(t, url, nil, nil, time.Hour)
	testTwoNodes(t, a, b, "alice")
	measurePropagation(t, a, b, "bob", 100)
}

// TestChannelLoss kills the node's subscription (CLIENT KILL TYPE pubsub,
// as a failover or a proxy restart would): the cache is flushed and
// bypassed at once, and resubscribes by itself. Then, with SUBSCRIBE denied
// by an ACL so that the outage lasts, a revocation made meanwhile is seen
// by the very next validation. Both protocols: rueidis runs a RESP2
// subscription on a connection of its own, which it would redial quietly.
func TestChannelLoss(t *testing.T) {
	t.Run("RESP3", func(t *testing.T) { testChannelLoss(t, nil) })
	t.Run("RESP2", func(t *testing.T) {
		testChannelLoss(t, func(o *rueidis.ClientOption) { o.AlwaysRESP2, o.DisableCache = true, true })
	})
}

func testChannelLoss(t *testing.T, edit func(*rueidis.ClientOption)) {
	url := testserver.Redis(t).URL
	b := newNode(t, url, nil, edit, time.Hour)
	s := newStore(t, connect(t, url, nil, edit), Options{})
	a := sessiond.NewManager(s, testKeys, sessiond.Config{}) // the writer: a node without a cache
	ctx := t.Context()
	do := func(args ...string) int64 {
		t.Helper()
		n, err := s.client.Do(ctx, s.client.B().Arbitrary(args...).Build()).ToAny()
		if err != nil {
			t.Fatal(err)
		}
		i, _ := n.(int64)
		return i
	}
	kill := func() {
		t.Helper()
		if n := do("CLIENT", "KILL", "TYPE", "pubsub"); n != 1 {
			t.Fatalf("CLIENT KILL TYPE pubsub killed %d connections, want the cache's 1", n)
		}
	}

	tok, _, err := a.Create(ctx, sessiond.NewSession{UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	var bypassed, back []time.Duration
	for range 5 {
		b.cached(t, tok)
		flushes := b.cache.Stats().Flushes.Load()
		start := time.Now()
		kill()
		waitFor(t, 5*time.Second, "flush after the kill", func() bool { return b.cache.Stats().Flushes.Load() > flushes })
		bypassed = append(bypassed, time.Since(start))
		waitFor(t, 5*time.Second, "resubscribed", b.cache.Healthy)
		back = append(back, time.Since(start))
		misses := b.cache.Stats().Misses.Load()
		if _, _, err := b.m.Validate(ctx, tok); err != nil || b.cache.Stats().Misses.Load() != misses+1 {
			t.Fatalf("after a resubscription the cache must start empty: %v", err)
		}
	}
	t.Logf("CLIENT KILL -> cache flushed and bypassed: %v; -> resubscribed and in use again: %v", bypassed, back)

	do("ACL", "SETUSER", "default", "-subscribe")
	t.Cleanup(func() {
		s.client.Do(context.Background(), s.client.B().Arbitrary("ACL", "SETUSER", "default", "+subscribe").Build())
	})
	b.cached(t, tok)
	flushes := b.cache.Stats().Flushes.Load()
	kill()
	// Every return of Subscribe flushes: a second flush is a refused
	// SUBSCRIBE, which must return an error, not hang.
	waitFor(t, 5*time.Second, "a refused SUBSCRIBE after the kill", func() bool { return b.cache.Stats().Flushes.Load() >= flushes+2 })
	if b.cache.Healthy() {
		t.Fatal("in use again while SUBSCRIBE is refused")
	}
	hits := b.cache.Stats().Hits.Load()
	for range 3 {
		if _, _, err := b.m.Validate(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if b.cache.Stats().Hits.Load() != hits {
		t.Fatal("the cache answered while its channel was down")
	}
	if err := a.Revoke(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if !b.refuses(t, tok) {
		t.Fatal("a revocation made while the channel was down was not seen by the next validation")
	}
	do("ACL", "SETUSER", "default", "+subscribe")
	took := waitFor(t, 5*time.Second, "resubscribed once SUBSCRIBE is allowed again", b.cache.Healthy)
	t.Logf("SUBSCRIBE allowed again -> cache in use again: %v (the cache's retry backoff, at most 1s)", took)
	tok2, _, err := a.Create(ctx, sessiond.NewSession{UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	b.cached(t, tok2)
}

// TestSilentChannel freezes the server (SIGSTOP): no connection closes,
// but the keep-alive PING of the subscription's connection goes
// unanswered, so the cache is bypassed within about a second plus
// write_timeout, and back once the server is.
func TestSilentChannel(t *testing.T) {
	srv := testserver.Redis(t)
	if srv.Addr == "" {
		t.Skip("SESSIOND_TEST_REDIS_URL names a server this test may not freeze")
	}
	const writeTimeout = 500 * time.Millisecond
	b := newNode(t, srv.URL, nil, func(o *rueidis.ClientOption) { o.ConnWriteTimeout = writeTimeout }, time.Hour)
	pid := serverPID(t, open(t, srv.URL))
	flushes := b.cache.Stats().Flushes.Load()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	defer resume()
	took := waitFor(t, 10*time.Second, "frozen server noticed", func() bool { return b.cache.Stats().Flushes.Load() > flushes })
	resume()
	t.Logf("server frozen -> cache flushed and bypassed: %v (keep-alive 1s + ConnWriteTimeout %v)", took, writeTimeout)
	took = waitFor(t, 10*time.Second, "resubscribed after the thaw", b.cache.Healthy)
	t.Logf("server thawed -> cache in use again: %v", took)
}

// TestClusterNearCache runs the two-node test on a three-master cluster,
// with the user's slot on another master than the one the subscriber of
// node b is connected to: the message crosses the cluster bus. Then that
// master is shut down, and b's cache is bypassed.
func TestClusterNearCache(t *testing.T) {
	c := testserver.RedisCluster(t)
	b := newNode(t, "", c.Addrs, nil, time.Hour)
	s := openCluster(t, c)
	ctx := t.Context()
	var subNode string
	for addr, n := range s.client.Nodes() {
		subs, err := n.Do(ctx, n.B().PubsubNumsub().Channel(s.channel).Build()).ToArray()
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := subs[1].AsInt64(); c == 1 {
			subNode = addr
		}
	}
	if subNode == "" {
		t.Fatal("no node holds the cache's subscription")
	}
	a := newNode(t, "", c.Addrs, nil, time.Hour)
	elsewhere := func(prefix string) string {
		node := s.client.Nodes()[subNode]
		for i := range 1000 {
			user := prefix + strconv.Itoa(i)
			err := node.Do(ctx, node.B().Exists().Key(s.userOf(user).bucket).Build()).Error()
			if rerr, ok := rueidis.IsRedisErr(err); ok {
				if _, moved := rerr.IsMoved(); moved {
					return user
				}
			}
		}
		t.Fatalf("no user of 1000 has its slot off %s", subNode)
		return ""
	}
	t.Logf("node b subscribes on %s; the users' slots are on other masters", subNode)
	testTwoNodes(t, a, b, elsewhere("alice-"))
	measurePropagation(t, a, b, elsewhere("bob-"), 100)

	node := s.client.Nodes()[subNode]
	flushes := b.cache.Stats().Flushes.Load()
	start := time.Now()
	node.Do(ctx, node.B().Shutdown().Nosave().Build()) // answers nothing: the connection just closes
	waitFor(t, 5*time.Second, "subscribed master's death noticed", func() bool { return b.cache.Stats().Flushes.Load() > flushes })
	t.Logf("subscribed master shut down -> cache flushed and bypassed: %v", time.Since(start))
}
