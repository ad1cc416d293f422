package sessiond

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config is the Manager's policy. The zero value of each field means its
// default (see DefaultConfig), so Config{} is safe.
type Config struct {
	// IdleTimeout ends a session that has not been used for this long
	// (default 30 min, OWASP's range for an ordinary application).
	IdleTimeout time.Duration
	// Lifetime ends a session this long after creation, however active
	// (default 30 days). The JSON API calls a per-session lifetime "ttl".
	Lifetime time.Duration
	// TouchInterval throttles sliding expiry (default 1 min): see Validate.
	TouchInterval time.Duration
	// MaxDataSize bounds a session's data in bytes of compact JSON
	// (default 64 KiB).
	MaxDataSize int
	// Cache, if set, answers validations from process memory (package
	// nearcache). Nil means every validation reads the store.
	Cache Cache
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// maxLifetime bounds lifetimes and idle timeouts, configured or per session.
const maxLifetime = 366 * 24 * time.Hour

// DefaultConfig returns the policy that the zero Config stands for.
func DefaultConfig() Config {
	return Config{
		IdleTimeout:   30 * time.Minute,
		Lifetime:      30 * 24 * time.Hour,
		TouchInterval: time.Minute,
		MaxDataSize:   64 << 10,
		Now:           time.Now,
	}
}

// Validate reports a setting out of range (zero values are fine: they mean
// the default).
func (c Config) Validate() error {
	switch {
	case c.IdleTimeout < 0 || c.Lifetime < 0 || c.TouchInterval < 0 || c.MaxDataSize < 0:
		return errors.New("durations and sizes must not be negative")
	case c.IdleTimeout > maxLifetime || c.Lifetime > maxLifetime:
		return fmt.Errorf("idle timeout and lifetime must be at most %s", maxLifetime)
	case c.IdleTimeout != 0 && c.IdleTimeout < time.Second || c.Lifetime != 0 && c.Lifetime < time.Second:
		return errors.New("idle timeout and lifetime must be at least 1s")
	}
	return nil
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.Lifetime <= 0 {
		c.Lifetime = d.Lifetime
	}
	if c.TouchInterval <= 0 {
		c.TouchInterval = d.TouchInterval
	}
	if c.MaxDataSize <= 0 {
		c.MaxDataSize = d.MaxDataSize
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	return c
}

// Manager applies the session policy on top of a Store, with an optional
// near cache in front of it. It is safe for concurrent use; one per process
// is the intended use.
type Manager struct {
	store Store
	keys  *Keyring
	cache Cache // nil: none
	cfg   Config

	touching sync.Map // session ids with a touch in flight: one writer at a time
}

// NewManager returns a Manager for store, tagging tokens with keys.
func NewManager(store Store, keys *Keyring, cfg Config) *Manager {
	cfg = cfg.withDefaults()
	return &Manager{store: store, keys: keys, cache: cfg.Cache, cfg: cfg}
}

// Config returns the effective policy (defaults filled in).
func (m *Manager) Config() Config { return m.cfg }

// Ping reports whether the store is reachable.
func (m *Manager) Ping(ctx context.Context) error { return m.store.Ping(ctx) }

// NewSession describes a session to create.
type NewSession struct {
	UserID string
	// Data is the initial data, a JSON object (empty means {}).
	Data json.RawMessage
	// Lifetime and IdleTimeout override the manager's policy when non-zero
	// (1s to 366 days).
	Lifetime    time.Duration
	IdleTimeout time.Duration
	Client      Client
}

// Create starts a session (signing in: a new session every time, never an
// old one reused — OWASP's defence against session fixation) and returns its
// token, which the caller hands to the client and never stores.
func (m *Manager) Create(ctx context.Context, ns NewSession) (token string, s Session, err error) {
	if err := checkUserID(ns.UserID); err != nil {
		return "", Session{}, err
	}
	data, err := m.checkData(ns.Data)
	if err != nil {
		return "", Session{}, err
	}
	lifetime, idle := m.cfg.Lifetime, m.cfg.IdleTimeout
	if ns.Lifetime != 0 {
		lifetime = ns.Lifetime
	}
	if ns.IdleTimeout != 0 {
		idle = ns.IdleTimeout
	}
	if lifetime < time.Second || lifetime > maxLifetime || idle < time.Second || idle > maxLifetime {
		return "", Session{}, invalidRequest("ttl and idle_timeout must be between 1s and %s", maxLifetime)
	}
	now := m.now()
	s = Session{
		ID:          newSessionID(ns.UserID),
		UserID:      ns.UserID,
		CreatedAt:   now,
		AuthTime:    now,
		LastSeenAt:  now,
		ExpiresAt:   now.Add(lifetime),
		IdleTimeout: idle,
		Client:      cleanClient(ns.Client),
		Version:     1,
	}.WithData(data)
	s.IdleExpiresAt = m.idleExpiry(s, now)
	token, s.SecretHash = m.keys.issue(s.ID, 0)
	if err := m.store.Create(ctx, s); err != nil {
		return "", Session{}, err
	}
	return token, s, nil
}

// ErrTokenRotated is returned, joined with ErrInvalidSession, for a genuine
// token of a live session that was rotated away: a request that was in
// flight during the rotation, or a copy in someone else's hands.
var ErrTokenRotated = errors.New("sessiond: the token was rotated away")

// Validate checks a token and returns its live session and user, and slides
// the session's idle expiry. Every refusal is ErrInvalidSession; any other
// error means the store could not answer (fail closed).
//
// The hot path reads top to bottom: the token's shape (length, prefix, key);
// its session id, cut out of the token; the near cache; the token's tag
// (HMAC), only on a miss, so forged tokens never reach the store; one store
// read. Either way the token must prove possession: the SHA-256 of its
// secret part must match the session's.
//
// Sliding: a session is written back ("touched") when
// min(TouchInterval, IdleTimeout/2) has passed since it was last touched,
// and a touch moves its idle expiry to now + IdleTimeout + that same
// throttle. So steady-state validation writes at most once per
// TouchInterval for the default timeouts, and a session used more often
// than its idle timeout never expires before its lifetime, whatever the
// idle timeout (1s or more): an unused session ends between IdleTimeout
// and IdleTimeout plus the throttle after its last use.
func (m *Manager) Validate(ctx context.Context, token string) (Session, User, error) {
	t, ok := m.keys.parse(token)
	if !ok {
		return Session{}, User{}, ErrInvalidSession
	}
	var s Session
	var u User
	hit := false
	if m.cache != nil {
		s, u, hit = m.cache.Get(t.id)
	}
	if !hit {
		if _, ok := t.verify(); !ok {
			return Session{}, User{}, ErrInvalidSession
		}
		var err error
		if s, u, err = m.lookup(ctx, t.id); errors.Is(err, ErrNotFound) {
			return Session{}, User{}, ErrInvalidSession
		} else if err != nil {
			return Session{}, User{}, err
		}
	}
	if err := m.check(ctx, t, &s, &u); err != nil {
		return Session{}, User{}, err
	}
	return s, u, nil
}

// lookup reads a session and its user from the store and offers them to the
// cache.
func (m *Manager) lookup(ctx context.Context, id string) (Session, User, error) {
	var loading uint64
	if m.cache != nil {
		loading = m.cache.Loading()
	}
	s, u, err := m.store.Lookup(ctx, id)
	if err != nil {
		return Session{}, User{}, err
	}
	if u.Status == "" {
		u.Status = UserActive
	}
	if m.cache != nil {
		m.cache.Put(loading, s, u)
	}
	return s, u, nil
}

// check applies the policy to a session read from the store or the cache:
// possession, expiry, the user's status, and the throttled slide of the idle
// expiry (which updates *s). The records are the caller's own copies.
func (m *Manager) check(ctx context.Context, t parsedToken, s *Session, u *User) error {
	if !t.proves(s) {
		return m.refuse(t, *s)
	}
	now := m.cfg.Now()
	if s.Expired(now) || u.Banned() {
		return ErrInvalidSession
	}
	if now.Sub(s.LastSeenAt) >= m.touchThrottle(*s) {
		// Concurrent requests of one session would all touch; the first
		// does, the others go on.
		if _, busy := m.touching.LoadOrStore(s.ID, struct{}{}); !busy {
			*s = m.touch(ctx, *s)
			m.touching.Delete(s.ID)
		}
	}
	return nil
}

// refuse tells a rotated-away token of the session from a token that was
// never issued: only the former carries a valid tag for this id and an
// older generation.
func (m *Manager) refuse(t parsedToken, s Session) error {
	if gen, ok := t.verify(); ok && gen < s.Generation {
		return errors.Join(ErrInvalidSession, ErrTokenRotated)
	}
	return ErrInvalidSession
}

// touch slides the idle expiry. A failed touch does not fail the request:
// the read that proved the session live has already succeeded, and the next
// request will try again.
func (m *Manager) touch(ctx context.Context, s Session) Session {
	now := m.now()
	idle := m.idleExpiry(s, now)
	err := m.store.Touch(ctx, s.ID, now, idle)
	m.forget(s.ID, "") // served again only once re-read: no entry outlives its staleness bound
	if err != nil {
		return s
	}
	s.LastSeenAt, s.IdleExpiresAt = now, idle
	return s
}

// touchThrottle is how long after its last touch a session is touched
// again: the touch interval, or half the idle timeout if that is shorter.
func (m *Manager) touchThrottle(s Session) time.Duration {
	return min(m.cfg.TouchInterval, m.idleTimeout(s)/2)
}

// idleExpiry is when a session touched at now ends if unused. The throttle
// is added so that a use that did not touch still leaves a full idle
// timeout ahead of it.
func (m *Manager) idleExpiry(s Session, now time.Time) time.Time {
	return minTime(now.Add(m.idleTimeout(s)+m.touchThrottle(s)), s.ExpiresAt)
}

func (m *Manager) idleTimeout(s Session) time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return m.cfg.IdleTimeout
}

// Rotate issues a new token for the session of token: same id, same data,
// same auth time; the old token is dead when Rotate returns. Rotate on
// privilege change (OWASP: session fixation).
func (m *Manager) Rotate(ctx context.Context, token string) (newToken string, s Session, err error) {
	old, _, err := m.Validate(ctx, token)
	if err != nil {
		return "", Session{}, err
	}
	if old.Generation >= maxGeneration {
		return "", Session{}, invalidRequest("the session was rotated too often; sign in again")
	}
	newToken, hash := m.keys.issue(old.ID, old.Generation+1)
	now := m.now()
	s, err = m.store.Rotate(ctx, old.ID, old.Generation, hash, now, m.idleExpiry(old, now))
	m.forget(old.ID, "")
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
		return "", Session{}, ErrInvalidSession // revoked, or rotated by a concurrent request
	}
	if err != nil {
		return "", Session{}, err
	}
	return newToken, s, nil
}

// Revoke ends the session of token (logout). Revoking a session that is
// already gone is not an error; a malformed, forged or rotated-away token
// is.
func (m *Manager) Revoke(ctx context.Context, token string) error {
	t, ok := m.keys.parse(token)
	if !ok {
		return ErrInvalidSession
	}
	if _, ok := t.verify(); !ok {
		return ErrInvalidSession
	}
	s, _, err := m.store.Lookup(ctx, t.id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !t.proves(&s) {
		return m.refuse(t, s)
	}
	return m.RevokeSession(ctx, s.ID)
}

// RevokeSession ends one session by id, or returns ErrNotFound.
func (m *Manager) RevokeSession(ctx context.Context, id string) error {
	if !validSessionID(id) {
		return ErrNotFound
	}
	err := m.store.Delete(ctx, id)
	m.forget(id, "")
	return err
}

// GetSession returns a live session by id, or ErrNotFound. It does not
// slide the idle expiry: looking at a session is not using it.
func (m *Manager) GetSession(ctx context.Context, id string) (Session, error) {
	if !validSessionID(id) {
		return Session{}, ErrNotFound
	}
	s, _, err := m.store.Lookup(ctx, id)
	if err != nil {
		return Session{}, err
	}
	if s.Expired(m.cfg.Now()) {
		return Session{}, ErrNotFound
	}
	return s, nil
}

// ListUserSessions returns a user's live sessions, oldest first.
func (m *Manager) ListUserSessions(ctx context.Context, userID string) ([]Session, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	all, err := m.store.ListUserSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	now := m.cfg.Now()
	live := slices.DeleteFunc(all, func(s Session) bool { return s.Expired(now) })
	slices.SortFunc(live, func(a, b Session) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return live, nil
}

// RevokeUserSessions ends every session of a user except exceptID (may be
// empty: "log out everywhere"; the current session's id: "log out other
// devices").
func (m *Manager) RevokeUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	if err := checkUserID(userID); err != nil {
		return 0, err
	}
	if exceptID != "" && !validSessionID(exceptID) {
		return 0, invalidRequest("except must be a session id")
	}
	n, err := m.store.DeleteUserSessions(ctx, userID, exceptID)
	m.forget("", userID)
	return n, err
}

// maxUpdateAttempts bounds the compare-and-swap loop. Contention that loses
// this many times in a row is pathological; the caller gets ErrConflict.
const maxUpdateAttempts = 100

// UpdateData changes a session's data atomically: fn receives the current
// data and returns the new data; if another writer got in between, fn runs
// again on the fresh data. Concurrent updates therefore never lose each
// other's writes, and an update racing a revocation fails with ErrNotFound
// instead of recreating the session.
func (m *Manager) UpdateData(ctx context.Context, id string, fn func(data json.RawMessage) (json.RawMessage, error)) (Session, error) {
	if !validSessionID(id) {
		return Session{}, ErrNotFound
	}
	for attempt := 0; ; attempt++ {
		s, err := m.GetSession(ctx, id)
		if err != nil {
			return Session{}, err
		}
		data, err := fn(s.Data())
		if err != nil {
			return Session{}, err
		}
		if data, err = m.checkData(data); err != nil {
			return Session{}, err
		}
		updated, err := m.store.UpdateData(ctx, id, s.Version, data)
		m.forget(id, "")
		if !errors.Is(err, ErrConflict) {
			return updated, err
		}
		if attempt+1 >= maxUpdateAttempts {
			return Session{}, err
		}
		// Back off a little, with jitter, so that writers stop colliding.
		backoff := time.Duration(rand.Int64N(int64(time.Millisecond) * int64(min(attempt+1, 10))))
		select {
		case <-ctx.Done():
			return Session{}, ctx.Err()
		case <-time.After(backoff):
		}
	}
}

// PatchData applies an RFC 7396 JSON Merge Patch to a session's data,
// atomically (see UpdateData).
func (m *Manager) PatchData(ctx context.Context, id string, patch json.RawMessage) (Session, error) {
	if _, err := mergePatch(nil, patch); err != nil {
		return Session{}, err
	}
	return m.UpdateData(ctx, id, func(data json.RawMessage) (json.RawMessage, error) {
		return mergePatch(data, patch)
	})
}

// GetUser returns a user's record; a user without one is active with no
// roles.
func (m *Manager) GetUser(ctx context.Context, id string) (User, error) {
	if err := checkUserID(id); err != nil {
		return User{}, err
	}
	u, err := m.store.GetUser(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return User{ID: id, Status: UserActive}, nil
	}
	return u, err
}

// PutUser stores a user's record. Banning revokes every session of the user
// in the same step and refuses new ones until the user is active again.
func (m *Manager) PutUser(ctx context.Context, u User) (revoked int, err error) {
	if u, err = checkUser(u); err != nil {
		return 0, err
	}
	u.UpdatedAt = m.now()
	n, err := m.store.PutUser(ctx, u)
	m.forget("", u.ID)
	return n, err
}

// forget drops what this node's cache holds after one of its writes
// (other nodes learn of it from the store).
func (m *Manager) forget(sessionID, userID string) {
	if m.cache != nil {
		m.cache.Forget(sessionID, userID)
	}
}

// now is the clock as stores keep it: UTC, to the millisecond.
func (m *Manager) now() time.Time { return m.cfg.Now().UTC().Truncate(time.Millisecond) }

func (m *Manager) checkData(data json.RawMessage) (json.RawMessage, error) {
	if len(data) > m.cfg.MaxDataSize*2 { // don't even parse absurd input
		return nil, ErrDataTooLarge
	}
	data, err := normalizeData(data)
	if err != nil {
		return nil, err
	}
	if len(data) > m.cfg.MaxDataSize {
		return nil, ErrDataTooLarge
	}
	return data, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
