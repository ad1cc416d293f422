// Package memory is an in-process sessiond.Store for tests and
// single-process programs. Everything is lost when the process exits.
package memory

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/server/apikey"
)

// Store keeps sessions, users and API keys in maps behind one mutex, which
// makes every operation trivially atomic. Records are values, so nothing
// stored is shared with a caller.
type Store struct {
	mu       sync.Mutex
	sessions map[string]sessiond.Session
	byUser   map[string]map[string]struct{}
	users    map[string]sessiond.User
	apiKeys  map[string]apikey.Key // by id
	redeemed map[string]time.Time  // one-time token id -> expiry

	subMu sync.Mutex
	subs  map[*subscriber]struct{}
}

type subscriber struct {
	invalidate func(sessionID, userID string)
}

var _ sessiond.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		sessions: map[string]sessiond.Session{},
		byUser:   map[string]map[string]struct{}{},
		users:    map[string]sessiond.User{},
		apiKeys:  map[string]apikey.Key{},
		redeemed: map[string]time.Time{},
		subs:     map[*subscriber]struct{}{},
	}
}

// Subscribe delivers invalidations synchronously: when a write returns,
// every subscriber has seen it.
func (m *Store) Subscribe(ctx context.Context, ready func(), invalidate func(sessionID, userID string)) error {
	sub := &subscriber{invalidate: invalidate}
	m.subMu.Lock()
	m.subs[sub] = struct{}{}
	m.subMu.Unlock()
	ready()
	<-ctx.Done()
	m.subMu.Lock()
	delete(m.subs, sub)
	m.subMu.Unlock()
	return ctx.Err()
}

func (m *Store) publish(sessionID, userID string) {
	m.subMu.Lock()
	defer m.subMu.Unlock()
	for sub := range m.subs {
		sub.invalidate(sessionID, userID)
	}
}

func (m *Store) Create(_ context.Context, s sessiond.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if u, ok := m.users[s.UserID]; ok && u.Banned() {
		return sessiond.ErrUserBanned
	}
	m.put(s)
	return nil
}

func (m *Store) put(s sessiond.Session) {
	m.sessions[s.ID] = s
	idx := m.byUser[s.UserID]
	if idx == nil {
		idx = map[string]struct{}{}
		m.byUser[s.UserID] = idx
	}
	idx[s.ID] = struct{}{}
}

func (m *Store) remove(s sessiond.Session) {
	delete(m.sessions, s.ID)
	if idx := m.byUser[s.UserID]; idx != nil {
		delete(idx, s.ID)
		if len(idx) == 0 {
			delete(m.byUser, s.UserID)
		}
	}
}

func (m *Store) Lookup(_ context.Context, id string) (sessiond.Session, sessiond.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return sessiond.Session{}, sessiond.User{}, sessiond.ErrNotFound
	}
	u, ok := m.users[s.UserID]
	if !ok {
		u = sessiond.User{ID: s.UserID, Status: sessiond.UserActive}
	}
	return s, u, nil
}

func (m *Store) Touch(_ context.Context, id string, lastSeen, idleExpires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.sessions[id]; ok {
		s.LastSeenAt, s.IdleExpiresAt = lastSeen, idleExpires
		m.sessions[id] = s
	}
	return nil
}

func (m *Store) UpdateData(_ context.Context, id string, version int64, data json.RawMessage) (sessiond.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	switch {
	case !ok:
		return sessiond.Session{}, sessiond.ErrNotFound
	case s.Version != version:
		return sessiond.Session{}, sessiond.ErrConflict
	}
	s = s.WithData(data)
	s.Version++
	m.sessions[id] = s
	m.publish(id, "")
	return s, nil
}

func (m *Store) Rotate(_ context.Context, id string, from uint32, secretHash [32]byte, now, idleExpires time.Time) (sessiond.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	switch {
	case !ok:
		return sessiond.Session{}, sessiond.ErrNotFound
	case s.Generation != from:
		return sessiond.Session{}, sessiond.ErrConflict
	}
	s.Generation, s.SecretHash, s.RotatedAt = from+1, secretHash, now
	s.LastSeenAt, s.IdleExpiresAt = now, idleExpires
	m.sessions[id] = s
	m.publish(id, "")
	return s, nil
}

func (m *Store) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return sessiond.ErrNotFound
	}
	m.remove(s)
	m.publish(id, "")
	return nil
}

func (m *Store) DeleteUserSessions(_ context.Context, userID, exceptID string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.deleteUserSessions(userID, exceptID)
	m.publish("", userID)
	return n, nil
}

func (m *Store) deleteUserSessions(userID, exceptID string) int {
	n := 0
	for id := range m.byUser[userID] {
		if id != exceptID {
			m.remove(m.sessions[id])
			n++
		}
	}
	return n
}

func (m *Store) ListUserSessions(_ context.Context, userID string) ([]sessiond.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]sessiond.Session, 0, len(m.byUser[userID]))
	for id := range m.byUser[userID] {
		out = append(out, m.sessions[id])
	}
	return out, nil
}

func (m *Store) GetUser(_ context.Context, id string) (sessiond.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[id]
	if !ok {
		return sessiond.User{}, sessiond.ErrNotFound
	}
	return u, nil
}

func (m *Store) PutUser(_ context.Context, u sessiond.User) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users[u.ID] = u
	n := 0
	if u.Banned() {
		n = m.deleteUserSessions(u.ID, "")
	}
	m.publish("", u.ID)
	return n, nil
}

// DeleteExpired removes expired sessions and redeemed one-time tokens. The
// memory store has no sweeper of its own; tests call this.
func (m *Store) DeleteExpired(_ context.Context, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.sessions {
		if s.Expired(now) {
			m.remove(s)
			n++
		}
	}
	for id, exp := range m.redeemed {
		if !now.Before(exp) {
			delete(m.redeemed, id)
		}
	}
	return n, nil
}

func (m *Store) CreateAPIKey(_ context.Context, k apikey.Key) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.apiKeys[k.ID] = k
	return nil
}

func (m *Store) APIKeyByHash(_ context.Context, hash string) (apikey.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range m.apiKeys {
		if k.Hash == hash {
			return k, nil
		}
	}
	return apikey.Key{}, sessiond.ErrNotFound
}

func (m *Store) ListAPIKeys(context.Context) ([]apikey.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]apikey.Key, 0, len(m.apiKeys))
	for _, k := range m.apiKeys {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b apikey.Key) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

func (m *Store) DeleteAPIKey(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.apiKeys[id]; !ok {
		return sessiond.ErrNotFound
	}
	delete(m.apiKeys, id)
	return nil
}

// RedeemToken records a one-time token id as used until expires. It
// reports whether this call redeemed it (false: it already was).
func (m *Store) RedeemToken(_ context.Context, id string, expires time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if exp, ok := m.redeemed[id]; ok && time.Now().Before(exp) {
		return false, nil
	}
	m.redeemed[id] = expires
	return true, nil
}

func (m *Store) Ping(context.Context) error { return nil }
func (m *Store) Close() error               { return nil }
