package sessiond

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Defaults follow OWASP's Session Management Cheat Sheet: a short idle
// timeout for an ordinary application and an absolute lifetime after which
// the user signs in again whatever they do.
const (
	DefaultIdleTimeout   = 30 * time.Minute
	DefaultLifetime      = 30 * 24 * time.Hour
	DefaultTouchInterval = time.Minute
	DefaultMaxDataSize   = 64 << 10

	// MaxUserIDLen bounds user ids (bytes of UTF-8).
	MaxUserIDLen = 256
	// MaxLifetime bounds per-session overrides.
	MaxLifetime = 366 * 24 * time.Hour
)

// Config is the Manager's policy. The zero value of each field means its
// default, so Config{} is safe.
type Config struct {
	// IdleTimeout ends a session that has not been used for this long.
	IdleTimeout time.Duration
	// Lifetime ends a session this long after creation, however active.
	Lifetime time.Duration
	// TouchInterval throttles sliding expiry: a validation writes to the
	// store only if the session was last touched at least this long ago, so
	// steady-state validation is a single read.
	TouchInterval time.Duration
	// MaxDataSize bounds a session's data in bytes of compact JSON.
	MaxDataSize int
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// Manager applies the session policy on top of a Store. It is safe for
// concurrent use; one per process is the intended use.
type Manager struct {
	store Store
	keys  *Keyring
	cfg   Config

	touching sync.Map // session ids with a touch in flight: one writer at a time
}

// NewManager returns a Manager for store, signing tokens with keys.
func NewManager(store Store, keys *Keyring, cfg Config) *Manager {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = DefaultLifetime
	}
	if cfg.TouchInterval <= 0 {
		cfg.TouchInterval = DefaultTouchInterval
	}
	if cfg.MaxDataSize <= 0 {
		cfg.MaxDataSize = DefaultMaxDataSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Manager{store: store, keys: keys, cfg: cfg}
}

// Store returns the manager's store.
func (m *Manager) Store() Store { return m.store }

// Config returns the effective policy (defaults filled in).
func (m *Manager) Config() Config { return m.cfg }

// NewSession describes a session to create.
type NewSession struct {
	UserID string
	// Data is the initial data, a JSON object (empty means {}).
	Data json.RawMessage
	// Lifetime and IdleTimeout override the manager's policy when non-zero.
	Lifetime    time.Duration
	IdleTimeout time.Duration
	Client      Client
}

// Create starts a session and returns its token, which the caller hands to
// the client and never stores.
func (m *Manager) Create(ctx context.Context, ns NewSession) (token string, s *Session, err error) {
	if err := ValidateUserID(ns.UserID); err != nil {
		return "", nil, err
	}
	data, err := m.checkData(ns.Data)
	if err != nil {
		return "", nil, err
	}
	lifetime, idle := m.cfg.Lifetime, m.cfg.IdleTimeout
	if ns.Lifetime != 0 {
		lifetime = ns.Lifetime
	}
	if ns.IdleTimeout != 0 {
		idle = ns.IdleTimeout
	}
	if lifetime < time.Second || lifetime > MaxLifetime || idle < time.Second || idle > MaxLifetime {
		return "", nil, Errorf(CodeInvalidInput, "ttl and idle_timeout must be between 1s and %s", MaxLifetime)
	}
	now := m.cfg.Now().UTC().Truncate(time.Millisecond)
	token, id := m.newToken(ns.UserID)
	s = &Session{
		ID:          id,
		UserID:      ns.UserID,
		CreatedAt:   now,
		LastSeenAt:  now,
		ExpiresAt:   now.Add(lifetime),
		IdleTimeout: idle,
		Client:      cleanClient(ns.Client),
		Data:        data,
		Version:     1,
	}
	s.IdleExpiresAt = m.idleExpiry(s, now)
	if err := m.store.Create(ctx, s); err != nil {
		return "", nil, err
	}
	return token, s, nil
}

// newToken draws a token whose id the store accepts for userID (see
// SessionPlacer); most stores accept any.
func (m *Manager) newToken(userID string) (token, id string) {
	if placer, ok := m.store.(SessionPlacer); ok {
		return m.keys.NewTokenWithIDPrefix(placer.IDPrefix(userID))
	}
	return m.keys.NewToken()
}

// Validate checks a token and returns its live session and user. Malformed
// and forged tokens are refused before the store is asked. Every refusal is
// ErrInvalidSession; other errors mean the store could not answer.
//
// The hot path reads top to bottom: the token's shape; its id (SHA-256);
// a near-cache hit, if the store has a cache; the token's tag (HMAC); one
// store read.
//
// The records returned may be shared with a near cache: treat them as
// read-only (Clone them to change them).
func (m *Manager) Validate(ctx context.Context, token string) (*Session, *User, error) {
	k, body, ok := m.keys.shape(token)
	if !ok {
		return nil, nil, ErrInvalidSession
	}
	h := hashToken(token)
	if c, ok := m.store.(SessionCache); ok {
		// A hit proves the token genuine without the tag: only the token
		// that created a session hashes to its id.
		if s, u, hit := c.Cached(h); hit {
			return m.check(ctx, s, u)
		}
	}
	if !m.keys.tagMatches(k, body) {
		return nil, nil, ErrInvalidSession
	}
	return m.ValidateID(ctx, h.String())
}

// ValidateID is Validate for a session id already derived from a verified
// token.
func (m *Manager) ValidateID(ctx context.Context, id string) (*Session, *User, error) {
	s, u, err := m.store.Lookup(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, ErrInvalidSession
	}
	if err != nil {
		return nil, nil, err
	}
	return m.check(ctx, s, u)
}

// check applies the policy to a session read from the store or a cache:
// expiry, the user's status, and the throttled slide of the idle expiry.
func (m *Manager) check(ctx context.Context, s *Session, u *User) (*Session, *User, error) {
	now := m.cfg.Now()
	if s.Expired(now) || u.Status == UserBanned {
		return nil, nil, ErrInvalidSession
	}
	if now.Sub(s.LastSeenAt) >= m.cfg.TouchInterval {
		// Concurrent requests of one session (or hits on one cached copy)
		// would all touch; the first does, the others go on.
		if _, busy := m.touching.LoadOrStore(s.ID, struct{}{}); !busy {
			id := s.ID
			s = m.touch(ctx, s, now)
			m.touching.Delete(id)
		}
	}
	return s, u, nil
}

// touch slides the idle expiry. A failed touch does not fail the request:
// the read that proved the session live has already succeeded, and the next
// request will try again.
func (m *Manager) touch(ctx context.Context, s *Session, now time.Time) *Session {
	now = now.UTC().Truncate(time.Millisecond)
	idle := m.idleExpiry(s, now)
	if m.store.Touch(ctx, s.ID, now, idle) != nil {
		return s
	}
	touched := *s // s may be shared with a cache
	touched.LastSeenAt, touched.IdleExpiresAt = now, idle
	return &touched
}

func (m *Manager) idleExpiry(s *Session, now time.Time) time.Time {
	idle := s.IdleTimeout
	if idle <= 0 {
		idle = m.cfg.IdleTimeout
	}
	return minTime(now.Add(idle), s.ExpiresAt)
}

// Rotate issues a new token for the session of token, keeping its data and
// creation time; the old token is dead when Rotate returns. Rotate on login
// and on privilege change (OWASP: session fixation).
func (m *Manager) Rotate(ctx context.Context, token string) (newToken string, s *Session, err error) {
	old, _, err := m.Validate(ctx, token)
	if err != nil {
		return "", nil, err
	}
	newToken, newID := m.newToken(old.UserID)
	now := m.cfg.Now().UTC().Truncate(time.Millisecond)
	s, err = m.store.Rotate(ctx, old.ID, newID, now, m.idleExpiry(old, now))
	if errors.Is(err, ErrNotFound) {
		return "", nil, ErrInvalidSession
	}
	if err != nil {
		return "", nil, err
	}
	return newToken, s, nil
}

// Revoke ends the session of token (logout). Revoking a session that is
// already gone is not an error; a malformed or forged token is.
func (m *Manager) Revoke(ctx context.Context, token string) error {
	id, err := m.keys.Verify(token)
	if err != nil {
		return err
	}
	if err := m.store.Delete(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// RevokeID ends one session by id, or returns ErrNotFound.
func (m *Manager) RevokeID(ctx context.Context, id string) error {
	if !ValidSessionID(id) {
		return ErrNotFound
	}
	return m.store.Delete(ctx, id)
}

// Get returns a live session by id, or ErrNotFound. It does not slide the
// idle expiry: looking at a session is not using it.
func (m *Manager) Get(ctx context.Context, id string) (*Session, error) {
	if !ValidSessionID(id) {
		return nil, ErrNotFound
	}
	s, _, err := m.store.Lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	if s.Expired(m.cfg.Now()) {
		return nil, ErrNotFound
	}
	return s, nil
}

// ListUser returns a user's live sessions, oldest first.
func (m *Manager) ListUser(ctx context.Context, userID string) ([]*Session, error) {
	if err := ValidateUserID(userID); err != nil {
		return nil, err
	}
	all, err := m.store.ListUserSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	now := m.cfg.Now()
	live := all[:0]
	for _, s := range all {
		if !s.Expired(now) {
			live = append(live, s)
		}
	}
	slices.SortFunc(live, func(a, b *Session) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return live, nil
}

// RevokeUser ends every session of a user except exceptID (may be empty:
// "log out everywhere"; the current session's id: "log out other devices").
func (m *Manager) RevokeUser(ctx context.Context, userID, exceptID string) (int, error) {
	if err := ValidateUserID(userID); err != nil {
		return 0, err
	}
	if exceptID != "" && !ValidSessionID(exceptID) {
		return 0, Errorf(CodeInvalidInput, "except must be a session id")
	}
	return m.store.DeleteUserSessions(ctx, userID, exceptID)
}

// maxUpdateAttempts bounds the compare-and-swap loop. Contention that loses
// this many times in a row is pathological; the caller gets ErrConflict.
const maxUpdateAttempts = 100

// Update changes a session's data atomically: fn receives the current data
// and returns the new data; if another writer got in between, fn runs again
// on the fresh data. Concurrent updates therefore never lose each other's
// writes, and an update racing a revocation fails with ErrNotFound instead of
// recreating the session.
func (m *Manager) Update(ctx context.Context, id string, fn func(data json.RawMessage) (json.RawMessage, error)) (*Session, error) {
	if !ValidSessionID(id) {
		return nil, ErrNotFound
	}
	for attempt := 0; ; attempt++ {
		s, err := m.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		data, err := fn(s.Data)
		if err != nil {
			return nil, err
		}
		if data, err = m.checkData(data); err != nil {
			return nil, err
		}
		updated, err := m.store.UpdateData(ctx, id, s.Version, data)
		if !errors.Is(err, ErrConflict) {
			return updated, err
		}
		if attempt+1 >= maxUpdateAttempts {
			return nil, err
		}
		// Back off a little, with jitter, so that writers stop colliding.
		backoff := time.Duration(rand.Int64N(int64(time.Millisecond) * int64(min(attempt+1, 10))))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
	}
}

// PatchData applies an RFC 7396 JSON Merge Patch to a session's data,
// atomically (see Update).
func (m *Manager) PatchData(ctx context.Context, id string, patch json.RawMessage) (*Session, error) {
	if _, err := MergePatch(nil, patch); err != nil {
		return nil, err
	}
	return m.Update(ctx, id, func(data json.RawMessage) (json.RawMessage, error) {
		return MergePatch(data, patch)
	})
}

// User returns a user's record, or DefaultUser if none is stored.
func (m *Manager) User(ctx context.Context, id string) (*User, error) {
	if err := ValidateUserID(id); err != nil {
		return nil, err
	}
	u, err := m.store.GetUser(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return DefaultUser(id), nil
	}
	return u, err
}

// PutUser stores a user's record. Banning revokes every session of the user
// in the same step and refuses new ones until the user is active again.
func (m *Manager) PutUser(ctx context.Context, u *User) (revoked int, err error) {
	if err := ValidateUser(u); err != nil {
		return 0, err
	}
	u = u.Clone()
	u.UpdatedAt = m.cfg.Now().UTC().Truncate(time.Millisecond)
	if u.Roles == nil {
		u.Roles = []string{}
	}
	if len(u.Attributes) == 0 {
		u.Attributes = json.RawMessage("{}")
	}
	return m.store.PutUser(ctx, u)
}

func (m *Manager) checkData(data json.RawMessage) (json.RawMessage, error) {
	if len(data) > m.cfg.MaxDataSize*2 { // don't even parse absurd input
		return nil, ErrDataTooLarge
	}
	data, err := NormalizeData(data)
	if err != nil {
		return nil, err
	}
	if len(data) > m.cfg.MaxDataSize {
		return nil, ErrDataTooLarge
	}
	return data, nil
}

// ValidateUserID accepts non-empty UTF-8 ids of at most MaxUserIDLen bytes
// without control characters.
func ValidateUserID(id string) error {
	switch {
	case id == "":
		return Errorf(CodeInvalidInput, "user_id is required")
	case len(id) > MaxUserIDLen:
		return Errorf(CodeInvalidInput, "user_id is longer than %d bytes", MaxUserIDLen)
	case !utf8.ValidString(id):
		return Errorf(CodeInvalidInput, "user_id is not valid UTF-8")
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return Errorf(CodeInvalidInput, "user_id contains a control character")
		}
	}
	return nil
}

// Limits on user records.
const (
	MaxRoles          = 64
	MaxRoleLen        = 64
	MaxAttributesSize = 16 << 10
)

// ValidateUser checks a user record before it is stored.
func ValidateUser(u *User) error {
	if err := ValidateUserID(u.ID); err != nil {
		return err
	}
	if u.Status != UserActive && u.Status != UserBanned {
		return Errorf(CodeInvalidInput, "status must be %q or %q", UserActive, UserBanned)
	}
	if len(u.Roles) > MaxRoles {
		return Errorf(CodeInvalidInput, "at most %d roles", MaxRoles)
	}
	for _, r := range u.Roles {
		if !ValidName(r, MaxRoleLen) {
			return Errorf(CodeInvalidInput, "role %q: roles are 1-%d characters of letters, digits and _.:-", r, MaxRoleLen)
		}
	}
	if len(u.Attributes) > MaxAttributesSize {
		return Errorf(CodeInvalidInput, "attributes exceed %d bytes", MaxAttributesSize)
	}
	if len(u.Attributes) > 0 {
		a, err := NormalizeData(u.Attributes)
		if err != nil {
			return Errorf(CodeInvalidInput, "attributes must be a JSON object")
		}
		u.Attributes = a
	}
	return nil
}

// ValidName reports whether s is 1 to max characters of letters, digits and
// _.:- — what roles and token purposes are made of, safe to put in a
// comma-separated header.
func ValidName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// Limits on client details, which come from request headers: they are
// truncated, not refused, so an odd user agent never blocks a sign-in.
const (
	maxClientIPLen = 64
	maxUserAgent   = 512
)

func cleanClient(c Client) Client {
	return Client{IP: clip(c.IP, maxClientIPLen), UserAgent: clip(c.UserAgent, maxUserAgent)}
}

// clip truncates s to n bytes and drops invalid UTF-8 and control
// characters (a NUL is refused by PostgreSQL text, and has no place in a
// user agent shown on an admin page).
func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
