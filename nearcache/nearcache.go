// Package nearcache keeps validated sessions and user records in process
// memory, in front of a store that announces invalidations (Redis pub/sub,
// PostgreSQL LISTEN/NOTIFY). It is what makes a session check cost less than
// a JWT verification while a revocation still reaches every node at once.
//
// Three rules keep it safe:
//   - entries are dropped when any node announces a change (revoke, rotate,
//     data update, user change, revoke-all) — touches are never announced;
//   - every entry expires after MaxStaleness regardless, so a lost message
//     can never keep a revoked session alive longer than that;
//   - when the invalidation channel drops, the cache is flushed and bypassed
//     until the subscription is live again.
//
// A lookup that was loading while an invalidation arrived is not cached (a
// generation counter tells), so a stale read can never be stored.
//
// Which stores get a cache: Redis (pub/sub from inside the write scripts),
// PostgreSQL (NOTIFY in the same statement as the write) and the in-process
// memory store. SQLite and MySQL announce nothing, so New returns them
// uncached: every validation is one store read and a revocation is seen by
// the next request on every node — a staleness bound of zero, paid with a
// round trip.
package nearcache

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/sessiond/sessiond"
)

// Options configure the cache. The zero value is safe.
type Options struct {
	// MaxEntries bounds each of the session and user tables (default 100 000).
	MaxEntries int
	// MaxStaleness is the hard bound on how long an entry is served without
	// a reload (default 1s).
	MaxStaleness time.Duration
	Logger       *slog.Logger
}

// Store is a sessiond.Store with a near cache in front of another one.
type Store struct {
	sessiond.Store
	inv  sessiond.Invalidator
	opts Options

	sessions *otter.Cache[sessiond.IDHash, sessionEntry]
	users    *otter.Cache[string, *userEntry]

	// mu orders cache fills against invalidations: a fill stores its result
	// only if no invalidation happened since its load began (gen unchanged).
	mu      sync.Mutex
	gen     atomic.Uint64
	healthy atomic.Bool

	stats  Stats
	cancel context.CancelFunc
	done   chan struct{}
}

// A session entry points at the entry of its user, so a hit is one cache
// read. The user entry is marked stale when it leaves the user table for
// any reason (invalidation, eviction, expiry), which retires every session
// entry that was cached with it.
type sessionEntry struct {
	s    *sessiond.Session
	user *userEntry
}

type userEntry struct {
	u      *sessiond.User
	loaded time.Time
	stale  atomic.Bool
}

// Stats count cache outcomes (for metrics and benchmarks).
type Stats struct {
	Hits, Misses, Invalidations, Flushes atomic.Uint64
}

// New wraps store. It returns store itself, uncached, if the store cannot
// announce invalidations: caching without them would serve revoked
// sessions for up to MaxStaleness on other nodes.
func New(store sessiond.Store, opts Options) sessiond.Store {
	inv, ok := store.(sessiond.Invalidator)
	if !ok {
		return store
	}
	return newStore(store, inv, opts)
}

func newStore(store sessiond.Store, inv sessiond.Invalidator, opts Options) *Store {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 100_000
	}
	if opts.MaxStaleness <= 0 {
		opts.MaxStaleness = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Store{
		Store: store,
		inv:   inv,
		opts:  opts,
		sessions: otter.Must(&otter.Options[sessiond.IDHash, sessionEntry]{
			MaximumSize: opts.MaxEntries,
			// A session entry lives no longer than its user entry, so a hit
			// needs no clock of its own.
			ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[sessiond.IDHash, sessionEntry]) time.Duration {
				return max(opts.MaxStaleness-time.Since(e.Value.user.loaded), 0)
			}),
		}),
		users: otter.Must(&otter.Options[string, *userEntry]{
			MaximumSize:      opts.MaxEntries,
			ExpiryCalculator: otter.ExpiryWriting[string, *userEntry](opts.MaxStaleness),
			OnAtomicDeletion: func(e otter.DeletionEvent[string, *userEntry]) { e.Value.stale.Store(true) },
		}),
		done: make(chan struct{}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.subscribe(ctx)
	return c
}

// subscribe keeps the invalidation subscription up, flushing and bypassing
// the cache whenever it is down.
func (c *Store) subscribe(ctx context.Context) {
	defer close(c.done)
	backoff := 10 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := c.inv.Subscribe(ctx, c.ready, c.invalidate)
		c.flush()
		if ctx.Err() != nil {
			return
		}
		c.opts.Logger.Warn("nearcache: invalidation channel lost; cache bypassed until it is back", "err", err)
		if time.Since(start) > 10*time.Second {
			backoff = 10 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}

func (c *Store) ready() {
	c.mu.Lock()
	c.gen.Add(1)
	c.healthy.Store(true)
	c.mu.Unlock()
}

// flush empties the cache and stops using it until ready is called again.
func (c *Store) flush() {
	c.mu.Lock()
	c.healthy.Store(false)
	c.gen.Add(1)
	c.sessions.InvalidateAll()
	c.users.InvalidateAll()
	c.mu.Unlock()
	c.stats.Flushes.Add(1)
}

func (c *Store) invalidate(inv sessiond.Invalidation) {
	c.drop(inv)
	c.stats.Invalidations.Add(1)
}

func (c *Store) drop(inv sessiond.Invalidation) {
	c.mu.Lock()
	c.gen.Add(1)
	if inv.SessionID != "" {
		if h, ok := sessiond.ParseIDHash(inv.SessionID); ok {
			c.sessions.Invalidate(h)
		}
	}
	if inv.UserID != "" {
		// Removing the user's entry marks it stale, which retires every
		// session entry cached with it.
		c.users.Invalidate(inv.UserID)
	}
	c.mu.Unlock()
}

// Healthy reports whether the cache is in use (the subscription is live).
func (c *Store) Healthy() bool { return c.healthy.Load() }

// Stats returns the cache's counters.
func (c *Store) Stats() *Stats { return &c.stats }

// Cached returns a cached session and its user, if the cache is live and
// holds both. They are the cache's own records, not copies — the Manager
// treats them as read-only — so a hit allocates nothing.
func (c *Store) Cached(h sessiond.IDHash) (*sessiond.Session, *sessiond.User, bool) {
	if !c.healthy.Load() {
		return nil, nil, false
	}
	se, ok := c.sessions.GetIfPresent(h)
	if !ok || se.user.stale.Load() {
		return nil, nil, false
	}
	c.stats.Hits.Add(1)
	return se.s, se.user.u, true
}

// Lookup serves from the cache when it can, else from the store, filling
// the cache unless an invalidation raced the load.
func (c *Store) Lookup(ctx context.Context, id string) (*sessiond.Session, *sessiond.User, error) {
	if h, ok := sessiond.ParseIDHash(id); ok {
		if s, u, ok := c.Cached(h); ok {
			return s.Clone(), u.Clone(), nil
		}
	}
	c.stats.Misses.Add(1)
	gen := c.gen.Load()
	s, u, err := c.Store.Lookup(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	c.fill(gen, s.Clone(), u.Clone())
	return s, u, nil
}

func (c *Store) fill(gen uint64, s *sessiond.Session, u *sessiond.User) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.healthy.Load() || c.gen.Load() != gen {
		return
	}
	ue, ok := c.users.GetIfPresent(u.ID)
	if !ok || ue.stale.Load() {
		ue = &userEntry{u: u, loaded: time.Now()}
		c.users.Set(u.ID, ue)
	}
	if h, ok := sessiond.ParseIDHash(s.ID); ok {
		c.sessions.Set(h, sessionEntry{s: s, user: ue})
	}
}

// The writes below drop local entries at once, without waiting for the
// store's announcement to come back.

// Touch drops the local entry rather than updating it, so that an entry is
// never served longer than MaxStaleness after it was read from the store.
// Other nodes learn nothing: touches are not news.
func (c *Store) Touch(ctx context.Context, id string, lastSeen, idleExpires time.Time) error {
	defer c.drop(sessiond.Invalidation{SessionID: id})
	return c.Store.Touch(ctx, id, lastSeen, idleExpires)
}

func (c *Store) UpdateData(ctx context.Context, id string, version int64, data json.RawMessage) (*sessiond.Session, error) {
	defer c.invalidate(sessiond.Invalidation{SessionID: id})
	return c.Store.UpdateData(ctx, id, version, data)
}

func (c *Store) Rotate(ctx context.Context, oldID, newID string, lastSeen, idleExpires time.Time) (*sessiond.Session, error) {
	defer c.invalidate(sessiond.Invalidation{SessionID: oldID})
	return c.Store.Rotate(ctx, oldID, newID, lastSeen, idleExpires)
}

func (c *Store) Delete(ctx context.Context, id string) error {
	defer c.invalidate(sessiond.Invalidation{SessionID: id})
	return c.Store.Delete(ctx, id)
}

func (c *Store) DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	defer c.invalidate(sessiond.Invalidation{UserID: userID})
	return c.Store.DeleteUserSessions(ctx, userID, exceptID)
}

func (c *Store) PutUser(ctx context.Context, u *sessiond.User) (int, error) {
	defer c.invalidate(sessiond.Invalidation{UserID: u.ID})
	return c.Store.PutUser(ctx, u)
}

// Close stops the subscription and closes the wrapped store.
func (c *Store) Close() error {
	c.cancel()
	<-c.done
	return c.Store.Close()
}

// The optional capabilities of the wrapped store pass through.

func (c *Store) IDPrefix(userID string) string {
	if p, ok := c.Store.(sessiond.SessionPlacer); ok {
		return p.IDPrefix(userID)
	}
	return ""
}

func (c *Store) RedeemToken(ctx context.Context, id string, expires time.Time) error {
	l, ok := c.Store.(sessiond.TokenLedger)
	if !ok {
		return errors.New("nearcache: the store has no token ledger")
	}
	return l.RedeemToken(ctx, id, expires)
}

func (c *Store) apiKeys() (sessiond.APIKeyStore, error) {
	k, ok := c.Store.(sessiond.APIKeyStore)
	if !ok {
		return nil, errors.New("nearcache: the store holds no API keys")
	}
	return k, nil
}

func (c *Store) CreateAPIKey(ctx context.Context, k *sessiond.APIKey) error {
	ks, err := c.apiKeys()
	if err != nil {
		return err
	}
	return ks.CreateAPIKey(ctx, k)
}

func (c *Store) APIKeyByHash(ctx context.Context, hash string) (*sessiond.APIKey, error) {
	ks, err := c.apiKeys()
	if err != nil {
		return nil, err
	}
	return ks.APIKeyByHash(ctx, hash)
}

func (c *Store) ListAPIKeys(ctx context.Context) ([]*sessiond.APIKey, error) {
	ks, err := c.apiKeys()
	if err != nil {
		return nil, err
	}
	return ks.ListAPIKeys(ctx)
}

func (c *Store) DeleteAPIKey(ctx context.Context, id string) error {
	ks, err := c.apiKeys()
	if err != nil {
		return err
	}
	return ks.DeleteAPIKey(ctx, id)
}

func (c *Store) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	if sw, ok := c.Store.(sessiond.ExpiredSweeper); ok {
		return sw.DeleteExpired(ctx, now)
	}
	return 0, nil
}

var (
	_ sessiond.Store          = (*Store)(nil)
	_ sessiond.SessionCache   = (*Store)(nil)
	_ sessiond.SessionPlacer  = (*Store)(nil)
	_ sessiond.TokenLedger    = (*Store)(nil)
	_ sessiond.APIKeyStore    = (*Store)(nil)
	_ sessiond.ExpiredSweeper = (*Store)(nil)
)
