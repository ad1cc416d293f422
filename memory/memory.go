// Package memory is an in-process sessiond.Store for tests and single-process
// programs. Everything is lost when the process exits.
package memory

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/sessiond/sessiond"
)

// Store keeps sessions, users and API keys in maps behind one mutex, which
// makes every operation trivially atomic.
type Store struct {
	mu       sync.Mutex
	sessions map[string]*sessiond.Session
	byUser   map[string]map[string]struct{}
	users    map[string]*sessiond.User
	apiKeys  map[string]*sessiond.APIKey // by id
	redeemed map[string]time.Time        // one-time token id -> expiry

	subMu sync.Mutex
	subs  map[*subscriber]struct{}
}

type subscriber struct{ fn func(sessiond.Invalidation) }

var (
	_ sessiond.Store          = (*Store)(nil)
	_ sessiond.APIKeyStore    = (*Store)(nil)
	_ sessiond.ExpiredSweeper = (*Store)(nil)
	_ sessiond.TokenLedger    = (*Store)(nil)
	_ sessiond.Invalidator    = (*Store)(nil)
)

// Subscribe delivers invalidations synchronously: when a write returns,
// every subscriber has seen it.
func (m *Store) Subscribe(ctx context.Context, ready func(), fn func(sessiond.Invalidation)) error {
	sub := &subscriber{fn: fn}
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

func (m *Store) publish(inv sessiond.Invalidation) {
	m.subMu.Lock()
	defer m.subMu.Unlock()
	for sub := range m.subs {
		sub.fn(inv)
	}
}

// New returns an empty store.
func New() *Store {
	return &Store{
		sessions: map[string]*sessiond.Session{},
		byUser:   map[string]map[string]struct{}{},
		users:    map[string]*sessiond.User{},
		apiKeys:  map[string]*sessiond.APIKey{},
		redeemed: map[string]time.Time{},
		subs:     map[*subscriber]struct{}{},
	}
}

func (m *Store) Create(_ context.Context, s *sessiond.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if u := m.users[s.UserID]; u != nil && u.Status == sessiond.UserBanned {
		return sessiond.ErrUserBanned
	}
	m.put(s.Clone())
	return nil
}

func (m *Store) put(s *sessiond.Session) {
	m.sessions[s.ID] = s
	idx := m.byUser[s.UserID]
	if idx == nil {
		idx = map[string]struct{}{}
		m.byUser[s.UserID] = idx
	}
	idx[s.ID] = struct{}{}
}

func (m *Store) remove(s *sessiond.Session) {
	delete(m.sessions, s.ID)
	if idx := m.byUser[s.UserID]; idx != nil {
		delete(idx, s.ID)
		if len(idx) == 0 {
			delete(m.byUser, s.UserID)
		}
	}
}

func (m *Store) Lookup(_ context.Context, id string) (*sessiond.Session, *sessiond.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[id]
	if s == nil {
		return nil, nil, sessiond.ErrNotFound
	}
	u := m.users[s.UserID]
	if u == nil {
		return s.Clone(), sessiond.DefaultUser(s.UserID), nil
	}
	return s.Clone(), u.Clone(), nil
}

func (m *Store) Touch(_ context.Context, id string, lastSeen, idleExpires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.sessions[id]; s != nil {
		s.LastSeenAt, s.IdleExpiresAt = lastSeen, idleExpires
	}
	return nil
}

func (m *Store) UpdateData(_ context.Context, id string, version int64, data json.RawMessage) (*sessiond.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[id]
	switch {
	case s == nil:
		return nil, sessiond.ErrNotFound
	case s.Version != version:
		return nil, sessiond.ErrConflict
	}
	s.Data = append(json.RawMessage(nil), data...)
	s.Version++
	defer m.publish(sessiond.Invalidation{SessionID: id})
	return s.Clone(), nil
}

func (m *Store) Rotate(_ context.Context, oldID, newID string, lastSeen, idleExpires time.Time) (*sessiond.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[oldID]
	if s == nil {
		return nil, sessiond.ErrNotFound
	}
	m.remove(s)
	s.ID, s.LastSeenAt, s.IdleExpiresAt = newID, lastSeen, idleExpires
	m.put(s)
	defer m.publish(sessiond.Invalidation{SessionID: oldID})
	return s.Clone(), nil
}

func (m *Store) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[id]
	if s == nil {
		return sessiond.ErrNotFound
	}
	m.remove(s)
	defer m.publish(sessiond.Invalidation{SessionID: id})
	return nil
}

func (m *Store) DeleteUserSessions(_ context.Context, userID, exceptID string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	defer m.publish(sessiond.Invalidation{UserID: userID})
	return m.deleteUserSessions(userID, exceptID), nil
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

func (m *Store) ListUserSessions(_ context.Context, userID string) ([]*sessiond.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*sessiond.Session, 0, len(m.byUser[userID]))
	for id := range m.byUser[userID] {
		out = append(out, m.sessions[id].Clone())
	}
	return out, nil
}

func (m *Store) GetUser(_ context.Context, id string) (*sessiond.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.users[id]
	if u == nil {
		return nil, sessiond.ErrNotFound
	}
	return u.Clone(), nil
}

func (m *Store) PutUser(_ context.Context, u *sessiond.User) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users[u.ID] = u.Clone()
	defer m.publish(sessiond.Invalidation{UserID: u.ID})
	if u.Status == sessiond.UserBanned {
		return m.deleteUserSessions(u.ID, ""), nil
	}
	return 0, nil
}

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

func (m *Store) CreateAPIKey(_ context.Context, k *sessiond.APIKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := *k
	m.apiKeys[k.ID] = &c
	return nil
}

func (m *Store) APIKeyByHash(_ context.Context, hash string) (*sessiond.APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range m.apiKeys {
		if k.Hash == hash {
			c := *k
			return &c, nil
		}
	}
	return nil, sessiond.ErrNotFound
}

func (m *Store) ListAPIKeys(context.Context) ([]*sessiond.APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*sessiond.APIKey, 0, len(m.apiKeys))
	for _, k := range m.apiKeys {
		c := *k
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

func (m *Store) DeleteAPIKey(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.apiKeys[id] == nil {
		return sessiond.ErrNotFound
	}
	delete(m.apiKeys, id)
	return nil
}

func (m *Store) RedeemToken(_ context.Context, id string, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if exp, ok := m.redeemed[id]; ok && time.Now().Before(exp) {
		return sessiond.ErrTokenUsed
	}
	m.redeemed[id] = expires
	return nil
}

func (m *Store) Ping(context.Context) error { return nil }
func (m *Store) Close() error               { return nil }
