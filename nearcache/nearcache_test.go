package nearcache_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/nearcache"
	"github.com/sessiond/sessiond/stores/memory"
	"github.com/sessiond/sessiond/storetest"
)

var keys, _ = sessiond.NewKeyring([]byte("nearcache test secret, at least 32 bytes"))

func TestConformanceThroughTheCache(t *testing.T) { storetest.RunCached(t, memory.New()) }

func TestStoresWithoutInvalidationsGetNoCache(t *testing.T) {
	if _, err := nearcache.New(silentStore{memory.New()}, nearcache.Options{}); !errors.Is(err, nearcache.ErrNoInvalidations) {
		t.Fatalf("New(a store that announces nothing) = %v, want ErrNoInvalidations", err)
	}
}

// silentStore is a store that announces nothing (as SQLite and MySQL).
type silentStore struct{ sessiond.Store }

// bus is the shared store, seen by several nodes. Its invalidation channel
// can be cut (as a killed pub/sub connection would be) or made to lose
// messages.
type bus struct {
	*memory.Store
	lookups atomic.Int64
	lose    atomic.Bool
	mu      sync.Mutex
	cut     chan struct{}
}

func newBus() *bus { return &bus{Store: memory.New(), cut: make(chan struct{})} }

// kill drops the live subscriptions, as CLIENT KILL would.
func (b *bus) kill() {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.cut)
	b.cut = make(chan struct{})
}

func (b *bus) Lookup(ctx context.Context, id string) (sessiond.Session, sessiond.User, error) {
	b.lookups.Add(1)
	return b.Store.Lookup(ctx, id)
}

func (b *bus) Subscribe(ctx context.Context, ready func(), invalidate func(sessionID, userID string)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.mu.Lock()
	cut := b.cut
	b.mu.Unlock()
	go func() {
		select {
		case <-cut:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := b.Store.Subscribe(ctx, ready, func(sessionID, userID string) {
		if !b.lose.Load() {
			invalidate(sessionID, userID)
		}
	})
	if errors.Is(err, context.Canceled) {
		return errors.New("connection killed")
	}
	return err
}

// node is one sessiond process: its own near cache and manager.
type node struct {
	cache *nearcache.Cache
	m     *sessiond.Manager
}

func newNode(t *testing.T, b *bus, staleness time.Duration) *node {
	c, err := nearcache.New(b, nearcache.Options{MaxStaleness: staleness})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	waitHealthy(t, c)
	return &node{cache: c, m: sessiond.NewManager(b, keys, sessiond.Config{Cache: c})}
}

func waitHealthy(t *testing.T, c *nearcache.Cache) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !c.Healthy(); {
		if time.Now().After(deadline) {
			t.Fatal("cache never became healthy")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRevocationReachesOtherNodes(t *testing.T) {
	b := newBus()
	a, n2 := newNode(t, b, time.Minute), newNode(t, b, time.Minute)
	tok, s, _ := a.m.Create(t.Context(), sessiond.NewSession{UserID: "alice"})
	for range 3 {
		if _, _, err := n2.m.Validate(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := n2.cache.Stats().Hits.Load(); got != 2 {
		t.Fatalf("%d hits, want 2 (one miss, then hits)", got)
	}
	if _, err := a.m.PutUser(t.Context(), sessiond.User{ID: "alice", Status: sessiond.UserActive}.WithRoles("admin")); err != nil {
		t.Fatal(err)
	}
	if _, u, _ := n2.m.Validate(t.Context(), tok); !u.HasRole("admin") {
		t.Fatal("a role change on one node was not seen by the next request on another")
	}
	if _, err := a.m.PatchData(t.Context(), s.ID, []byte(`{"cart":1}`)); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := n2.m.Validate(t.Context(), tok); string(got.Data()) != `{"cart":1}` {
		t.Fatalf("data update not seen: %s", got.Data())
	}
	if err := a.m.Revoke(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n2.m.Validate(t.Context(), tok); !errors.Is(err, sessiond.ErrInvalidSession) {
		t.Fatalf("revoked on node A, still valid on node B: %v", err)
	}
	tok2, _, _ := a.m.Create(t.Context(), sessiond.NewSession{UserID: "bob"})
	n2.m.Validate(t.Context(), tok2)
	a.m.RevokeUserSessions(t.Context(), "bob", "")
	if _, _, err := n2.m.Validate(t.Context(), tok2); !errors.Is(err, sessiond.ErrInvalidSession) {
		t.Fatalf("revoke-all not seen: %v", err)
	}
}

func TestSteadyStateHitsTheCache(t *testing.T) {
	b := newBus()
	n := newNode(t, b, time.Minute)
	tok, _, _ := n.m.Create(t.Context(), sessiond.NewSession{UserID: "u"})
	for range 1000 {
		if _, _, err := n.m.Validate(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.lookups.Load(); got != 1 {
		t.Fatalf("%d store reads for 1000 validations, want 1", got)
	}
}

func TestLostMessageBoundedByStaleness(t *testing.T) {
	b := newBus()
	const staleness = 300 * time.Millisecond
	a, n2 := newNode(t, b, staleness), newNode(t, b, staleness)
	tok, _, _ := a.m.Create(t.Context(), sessiond.NewSession{UserID: "u"})
	n2.m.Validate(t.Context(), tok)
	b.lose.Store(true)
	revoked := time.Now()
	a.m.Revoke(t.Context(), tok)
	for {
		_, _, err := n2.m.Validate(t.Context(), tok)
		if errors.Is(err, sessiond.ErrInvalidSession) {
			break
		}
		if time.Since(revoked) > staleness+100*time.Millisecond {
			t.Fatalf("a revoked session lived %v with the message lost; bound is %v", time.Since(revoked), staleness)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDroppedChannelFlushesAndBypasses(t *testing.T) {
	b := newBus()
	n := newNode(t, b, time.Minute)
	tok, _, _ := n.m.Create(t.Context(), sessiond.NewSession{UserID: "u"})
	n.m.Validate(t.Context(), tok)
	b.lose.Store(true) // messages sent while the channel is going down are lost
	b.kill()
	for deadline := time.Now().Add(2 * time.Second); n.cache.Healthy() || n.cache.Stats().Flushes.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("cache did not notice the dropped channel")
		}
		time.Sleep(time.Millisecond)
	}
	b.lose.Store(false)
	waitHealthy(t, n.cache) // it resubscribes by itself
	before := b.lookups.Load()
	n.m.Validate(t.Context(), tok)
	if b.lookups.Load() != before+1 {
		t.Fatal("after a drop the cache must start empty")
	}
}

// gatedStore holds a Lookup mid-flight so that an invalidation can land
// during the load.
type gatedStore struct {
	*bus
	gate chan chan struct{}
}

func (g *gatedStore) Lookup(ctx context.Context, id string) (sessiond.Session, sessiond.User, error) {
	s, u, err := g.bus.Lookup(ctx, id)
	select {
	case release := <-g.gate:
		<-release
	default:
	}
	return s, u, err
}

func TestLoadRacingInvalidationIsNotCached(t *testing.T) {
	b := newBus()
	g := &gatedStore{bus: b, gate: make(chan chan struct{}, 1)}
	c, err := nearcache.New(g, nearcache.Options{MaxStaleness: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	waitHealthy(t, c)
	m := sessiond.NewManager(g, keys, sessiond.Config{Cache: c})
	other := sessiond.NewManager(b, keys, sessiond.Config{}) // a node without this cache
	tok, s, _ := other.Create(t.Context(), sessiond.NewSession{UserID: "u"})

	release := make(chan struct{})
	g.gate <- release
	done := make(chan error)
	go func() { _, _, err := m.Validate(t.Context(), tok); done <- err }()
	for len(g.gate) != 0 { // the load has read the live session and is held
		time.Sleep(time.Millisecond)
	}
	other.RevokeSession(t.Context(), s.ID) // the invalidation lands mid-load
	close(release)
	<-done
	if _, _, err := m.Validate(t.Context(), tok); !errors.Is(err, sessiond.ErrInvalidSession) {
		t.Fatalf("the stale load was cached: %v", err)
	}
}
