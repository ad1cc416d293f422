package redis

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/storeop"
)

// Create inserts a session and its index entry, refusing a banned user in
// the same script.
func (s *Store) Create(ctx context.Context, ss sessiond.Session) error {
	k, ok := s.sessionOf(ss.ID)
	if !ok || !k.placed(ss.UserID) {
		return storeop.Wrap(engine, "create", errors.New("the session id is not placed in its user's slot (create sessions through sessiond.Manager)"))
	}
	v, err := encodeSession(ss)
	if err != nil {
		return storeop.Wrap(engine, "create", err)
	}
	idle, err := millis(ss.IdleExpiresAt)
	if err != nil {
		return storeop.Wrap(engine, "create", err)
	}
	u := s.userOf(ss.UserID)
	ctx, cancel := storeop.Bound(ctx, s.opts.OpTimeout)
	defer cancel()
	n, err := createScript.Exec(ctx, s.client, []string{k.key, u.record, u.bucket},
		[]string{v, strconv.FormatInt(idle, 10), indexMember(k.raw, ss.UserID)}).AsInt64()
	switch {
	case err != nil:
		return storeop.Wrap(engine, "create", err)
	case n == resultRefused:
		return sessiond.ErrUserBanned
	case n == resultConflict:
		return storeop.Wrap(engine, "create", errors.New("session id already exists"))
	}
	return nil
}

// Lookup reads a session, its idle expiry and its user record in one
// script: one round trip.
func (s *Store) Lookup(ctx context.Context, id string) (sessiond.Session, sessiond.User, error) {
	k, ok := s.sessionOf(id)
	if !ok {
		return sessiond.Session{}, sessiond.User{}, sessiond.ErrNotFound
	}
	ctx, cancel := storeop.Bound(ctx, s.opts.OpTimeout)
	defer cancel()
	vals, err := lookupScript.Exec(ctx, s.client, []string{k.key}, []string{k.base}).ToArray()
	if err != nil {
		return sessiond.Session{}, sessiond.User{}, storeop.Wrap(engine, "lookup", err)
	}
	if len(vals) == 0 {
		return sessiond.Session{}, sessiond.User{}, sessiond.ErrNotFound
	}
	ss, err := readSession(id, vals[0], vals[1])
	if err != nil {
		return sessiond.Session{}, sessiond.User{}, storeop.Wrap(engine, "lookup", err)
	}
	if len(vals) == 2 {
		return ss, sessiond.User{ID: ss.UserID, Status: sessiond.UserActive}, nil
	}
	fields, err := fieldValues(vals[2:])
	if err != nil {
		return sessiond.Session{}, sessiond.User{}, storeop.Wrap(engine, "lookup", err)
	}
	u, err := decodeUser(ss.UserID, fields)
	if err != nil {
		return sessiond.Session{}, sessiond.User{}, storeop.Wrap(engine, "lookup", err)
	}
	return ss, u, nil
}

// readSession decodes a script's session value and idle expiry.
func readSession(id string, value, idleExpires rueidis.RedisMessage) (sessiond.Session, error) {
	v, err := value.ToString()
	if err != nil {
		return sessiond.Session{}, err
	}
	exp, err := idleExpires.AsInt64()
	if err != nil {
		return sessiond.Session{}, err
	}
	return decodeSession(id, v, exp)
}

// fieldValues returns the values of an HMGET (nil stays "").
func fieldValues(vals []rueidis.RedisMessage) ([]string, error) {
	out := make([]string, len(vals))
	for i := range vals {
		if vals[i].IsNil() {
			continue
		}
		v, err := vals[i].ToString()
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// Touch moves the idle expiry (the key's TTL and its index score). It is
// not among the writes that invalidate a near cache: sliding expiry must
// not turn every request into an announcement.
func (s *Store) Touch(ctx context.Context, id string, lastSeen, idleExpires time.Time) error {
	k, ok := s.sessionOf(id)
	if !ok {
		return nil
	}
	seen, err := millis(lastSeen)
	if err != nil {
		return storeop.Wrap(engine, "touch", err)
	}
	idle, err := millis(idleExpires)
	if err != nil {
		return storeop.Wrap(engine, "touch", err)
	}
	ctx, cancel := storeop.Bound(ctx, s.opts.OpTimeout)
	defer cancel()
	err = touchScript.Exec(ctx, s.client, []string{k.key},
		[]string{k.base, strconv.FormatInt(seen, 10), strconv.FormatInt(idle, 10), k.raw}).Error()
	return storeop.Wrap(engine, "touch", err)
}

// ListUserSessions reads the user's index entries and their sessions in one
// script, dropping entries whose sessions are gone.
func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]sessiond.Session, error) {
	u := s.userOf(userID)
	ctx, cancel := storeop.Bound(ctx, s.opts.OpTimeout)
	defer cancel()
	vals, err := listScript.Exec(ctx, s.client, []string{u.bucket}, []string{u.base, userID}).ToArray()
	if err != nil {
		return nil, storeop.Wrap(engine, "list user sessions", err)
	}
	out := make([]sessiond.Session, 0, len(vals)/3)
	for i := 0; i+2 < len(vals); i += 3 {
		raw, err := vals[i].ToString()
		if err != nil {
			return nil, storeop.Wrap(engine, "list user sessions", err)
		}
		ss, err := readSession(sessionID(raw), vals[i+1], vals[i+2])
		if err != nil {
			return nil, storeop.Wrap(engine, "list user sessions", err)
		}
		if ss.UserID == userID { // an entry of a long user id names its SHA-1 only
			out = append(out, ss)
		}
	}
	return out, nil
}

// GetUser reads a user record.
func (s *Store) GetUser(ctx context.Context, id string) (sessiond.User, error) {
	u := s.userOf(id)
	ctx, cancel := storeop.Bound(ctx, s.opts.OpTimeout)
	defer cancel()
	vals, err := s.client.Do(ctx, s.client.B().Hmget().Key(u.record).Field(userFields...).Build()).ToArray()
	if err != nil {
		return sessiond.User{}, storeop.Wrap(engine, "get user", err)
	}
	if len(vals) == 0 || vals[0].IsNil() {
		return sessiond.User{}, sessiond.ErrNotFound
	}
	fields, err := fieldValues(vals)
	if err == nil {
		var user sessiond.User
		if user, err = decodeUser(id, fields); err == nil {
			return user, nil
		}
	}
	return sessiond.User{}, storeop.Wrap(engine, "get user", err)
}
