package redis

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// Create inserts a session whose id the store placed (see IDPrefix),
// refusing a banned user in the same script.
func (s *Store) Create(ctx context.Context, ss *sessiond.Session) error {
	_, key, raw, ok := s.sessionKey(ss.ID)
	if !ok || !placed(ss.UserID, ss.ID) {
		return errors.New("redis: the session id is not placed in its user's slot (create sessions through sessiond.Manager)")
	}
	v, err := encodeSession(ss)
	if err != nil {
		return err
	}
	idle, err := millis(ss.IdleExpiresAt)
	if err != nil {
		return err
	}
	_, user, index := s.userKey(ss.UserID)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := createScript.Exec(ctx, s.client, []string{key, user, index}, []string{v, strconv.FormatInt(idle, 10), raw}).AsInt64()
	switch {
	case err != nil:
		return wrap(err)
	case n == resultRefused:
		return sessiond.ErrUserBanned
	case n == resultConflict:
		return errors.New("redis: session id already exists")
	}
	return nil
}

// Lookup reads a session and its user record in one script.
func (s *Store) Lookup(ctx context.Context, id string) (*sessiond.Session, *sessiond.User, error) {
	base, key, _, ok := s.sessionKey(id)
	if !ok {
		return nil, nil, sessiond.ErrNotFound
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	vals, err := lookupScript.Exec(ctx, s.client, []string{key}, []string{base}).AsStrSlice()
	if err != nil {
		return nil, nil, wrap(err)
	}
	if len(vals) == 0 {
		return nil, nil, sessiond.ErrNotFound
	}
	ss, err := decodeSession(id, vals[0])
	if err != nil {
		return nil, nil, err
	}
	if len(vals) == 1 {
		return ss, sessiond.DefaultUser(ss.UserID), nil
	}
	u, err := decodeUser(ss.UserID, vals[1:])
	return ss, u, err
}

// Touch moves the idle expiry (the key's TTL and its index score). It is
// not among the writes that invalidate a near cache: sliding expiry must
// not turn every request into an announcement.
func (s *Store) Touch(ctx context.Context, id string, lastSeen, idleExpires time.Time) error {
	base, key, raw, ok := s.sessionKey(id)
	if !ok {
		return nil
	}
	seen, err := packSeen(lastSeen, idleExpires)
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	err = touchScript.Exec(ctx, s.client, []string{key}, []string{base, seen, strconv.FormatInt(idleExpires.UnixMilli(), 10), raw}).Error()
	if err != nil {
		return wrap(err)
	}
	return nil
}

// ListUserSessions reads the user's index and its sessions in one script,
// dropping entries whose sessions expired.
func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]*sessiond.Session, error) {
	base, _, index := s.userKey(userID)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	vals, err := listScript.Exec(ctx, s.client, []string{index}, []string{base}).AsStrSlice()
	if err != nil {
		return nil, wrap(err)
	}
	out := make([]*sessiond.Session, 0, len(vals)/2)
	for i := 0; i+1 < len(vals); i += 2 {
		ss, err := decodeSession(hex.EncodeToString([]byte(vals[i])), vals[i+1])
		if err != nil {
			return nil, err
		}
		out = append(out, ss)
	}
	return out, nil
}

// GetUser reads a user record.
func (s *Store) GetUser(ctx context.Context, id string) (*sessiond.User, error) {
	_, user, _ := s.userKey(id)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	vals, err := s.client.Do(ctx, s.client.B().Hmget().Key(user).Field(userFields...).Build()).ToArray()
	if err != nil {
		return nil, wrap(err)
	}
	fields, err := present(vals)
	if err != nil {
		return nil, err
	}
	if fields == nil {
		return nil, sessiond.ErrNotFound
	}
	return decodeUser(id, fields)
}

// present returns the values of an HMGET, or nil if the hash is missing.
func present(vals []rueidis.RedisMessage) ([]string, error) {
	out := make([]string, len(vals))
	for i := range vals {
		if vals[i].IsNil() {
			return nil, nil
		}
		v, err := vals[i].ToString()
		if err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		out[i] = v
	}
	return out, nil
}
