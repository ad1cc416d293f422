// Package nearcache keeps validated sessions and user records in process
// memory, kept coherent across nodes by the store's invalidations (Redis
// pub/sub, PostgreSQL LISTEN/NOTIFY). It is what makes a session check cost
// less than a JWT verification while a revocation still reaches every node.
// The Manager uses it (sessiond.Config.Cache); it is not a store.
//
// Three rules keep it safe:
//   - entries are dropped when any node announces a change (revoke, rotate,
//     data update, user change, revoke-all) — touches are never announced;
//   - every entry expires after MaxStaleness regardless, so a lost message
//     can never keep a revoked session alive longer than that;
//   - when the invalidation channel drops, the cache is flushed and bypassed
//     until the subscription is live again.
//
// A store read that was loading while an invalidation arrived is not cached
// (a generation counter tells), so a stale read can never be stored.
//
// Which stores get a cache: Redis, PostgreSQL and the in-process memory
// store announce invalidations. SQLite and MySQL do not, so New refuses
// them: every validation is one store read and a revocation is seen by the
// next request on every node — a staleness bound of zero, paid with a round
// trip.
package nearcache

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/sessiond/sessiond"
)

// Source is the capability a store needs for a near cache: it tells every
// node about the writes that change what a validation returns.
type Source interface {
	// Subscribe delivers invalidations published by any node, this one
	// included: a session id when one session was revoked, rotated or had
	// its data changed; a user id when the user's record changed or all (or
	// all but one) of the user's sessions were revoked. It calls ready once
	// the subscription is live, then blocks until ctx ends or the
	// subscription is lost, and returns why. Messages published while no
	// subscription was live are lost: a return means "anything may have
	// changed".
	Subscribe(ctx context.Context, ready func(), invalidate func(sessionID, userID string)) error
}

// clockResolution is how often the cache reads the time.
const clockResolution = time.Millisecond

// ErrNoInvalidations is returned by New for a store that does not announce
// invalidations: caching without them would serve revoked sessions on
// other nodes for up to MaxStaleness.
var ErrNoInvalidations = errors.New("nearcache: the store does not announce invalidations")

// Options configure the cache. The zero value is safe.
type Options struct {
	// MaxEntries bounds each of the session and user tables (default 100 000).
	MaxEntries int
	// MaxStaleness is the hard bound on how long an entry is served without
	// a reload (default 1s).
	MaxStaleness time.Duration
	Logger       *slog.Logger
}

// Cache is a near cache of sessions and users. Create it with New; stop it
// with Close.
type Cache struct {
	src  Source
	opts Options

	sessions *otter.Cache[string, *sessionEntry]
	// clock is read once per millisecond rather than on every hit: a
	// clock read was a tenth of a hit's time. It makes MaxStaleness exact
	// to within clockResolution.
	clock *otter.CoarseClock
	users *otter.Cache[string, *userEntry]

	// mu orders cache fills against invalidations: a fill stores its result
	// only if no invalidation happened since its load began (gen unchanged).
	mu      sync.Mutex
	gen     atomic.Uint64
	healthy atomic.Bool

	stats  Stats
	cancel context.CancelFunc
	done   chan struct{}
}

var _ sessiond.Cache = (*Cache)(nil)

// A session entry points at the entry of its user, so a hit is one cache
// read. Entries are never changed once made: a hit copies the records out
// of them, so what callers get is theirs. The user entry is marked stale when it leaves the user table for
// any reason (invalidation, eviction, expiry), which retires every session
// entry that was cached with it.
type sessionEntry struct {
	s    sessiond.Session
	user *userEntry
}

type userEntry struct {
	u      sessiond.User
	loaded int64 // the clock's nanoseconds
	stale  atomic.Bool
}

// Stats count cache outcomes (for metrics and benchmarks).
type Stats struct {
	Hits, Misses, Invalidations, Flushes atomic.Uint64
}

// New starts a cache fed by store's invalidations, or returns
// ErrNoInvalidations if the store announces none.
func New(store sessiond.Store, opts Options) (*Cache, error) {
	src, ok := store.(Source)
	if !ok {
		return nil, ErrNoInvalidations
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 100_000
	}
	if opts.MaxStaleness <= 0 {
		opts.MaxStaleness = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	clock := otter.NewCoarseClock(clockResolution)
	c := &Cache{
		src:   src,
		opts:  opts,
		clock: clock,
		sessions: otter.Must(&otter.Options[string, *sessionEntry]{
			MaximumSize: opts.MaxEntries,
			// A session entry lives no longer than its user entry, so a hit
			// needs no clock of its own.
			ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *sessionEntry]) time.Duration {
				return max(opts.MaxStaleness-time.Duration(clock.NowNano()-e.Value.user.loaded), 0)
			}),
			Clock: clock,
		}),
		users: otter.Must(&otter.Options[string, *userEntry]{
			MaximumSize:      opts.MaxEntries,
			ExpiryCalculator: otter.ExpiryWriting[string, *userEntry](opts.MaxStaleness),
			OnAtomicDeletion: func(e otter.DeletionEvent[string, *userEntry]) { e.Value.stale.Store(true) },
			Clock:            clock,
		}),
		done: make(chan struct{}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.subscribe(ctx)
	return c, nil
}

// subscribe keeps the invalidation subscription up, flushing and bypassing
// the cache whenever it is down.
func (c *Cache) subscribe(ctx context.Context) {
	defer close(c.done)
	backoff := 10 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := c.src.Subscribe(ctx, c.ready, c.invalidate)
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

func (c *Cache) ready() {
	c.mu.Lock()
	c.gen.Add(1)
	c.healthy.Store(true)
	c.mu.Unlock()
}

// flush empties the cache and stops using it until ready is called again.
func (c *Cache) flush() {
	c.mu.Lock()
	c.healthy.Store(false)
	c.gen.Add(1)
	c.sessions.InvalidateAll()
	c.users.InvalidateAll()
	c.mu.Unlock()
	c.stats.Flushes.Add(1)
}

// invalidate handles a message of the store's channel.
func (c *Cache) invalidate(sessionID, userID string) {
	c.Forget(sessionID, userID)
	c.stats.Invalidations.Add(1)
}

// Forget drops a session, or every session and the record of a user.
func (c *Cache) Forget(sessionID, userID string) {
	c.mu.Lock()
	c.gen.Add(1)
	if sessionID != "" {
		c.sessions.Invalidate(sessionID)
	}
	if userID != "" {
		// Removing the user's entry marks it stale, which retires every
		// session entry cached with it.
		c.users.Invalidate(userID)
	}
	c.mu.Unlock()
}

// Get returns a cached session and its user, if the cache is live and holds
// both. Records are values: the caller gets copies, and a hit allocates
// nothing.
func (c *Cache) Get(id string) (sessiond.Session, sessiond.User, bool) {
	if !c.healthy.Load() {
		return sessiond.Session{}, sessiond.User{}, false
	}
	// Quietly: without recording the read for otter's eviction policy,
	// which costs a read buffer and wakes its maintenance goroutine. Entries
	// live at most MaxStaleness (a second by default) whatever their use, so
	// which one is evicted first when the table is full barely matters.
	entry, ok := c.sessions.GetEntryQuietly(id)
	e := entry.Value
	if !ok || e.user.stale.Load() {
		c.stats.Misses.Add(1)
		return sessiond.Session{}, sessiond.User{}, false
	}
	c.stats.Hits.Add(1)
	return e.s, e.user.u, true
}

// Loading marks the start of a store read.
func (c *Cache) Loading() uint64 { return c.gen.Load() }

// Put caches a store read, unless an invalidation (or a flush) happened
// since Loading returned loading.
func (c *Cache) Put(loading uint64, s sessiond.Session, u sessiond.User) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.healthy.Load() || c.gen.Load() != loading {
		return
	}
	ue, ok := c.users.GetIfPresent(u.ID)
	if !ok || ue.stale.Load() {
		ue = &userEntry{u: u, loaded: c.clock.NowNano()}
		c.users.Set(u.ID, ue)
	}
	c.sessions.Set(s.ID, &sessionEntry{s: s, user: ue})
}

// Healthy reports whether the cache is in use (the subscription is live).
func (c *Cache) Healthy() bool { return c.healthy.Load() }

// Stats returns the cache's counters.
func (c *Cache) Stats() *Stats { return &c.stats }

// Close stops the subscription. The cache answers no more hits.
func (c *Cache) Close() {
	c.cancel()
	<-c.done
	c.clock.Stop()
}
