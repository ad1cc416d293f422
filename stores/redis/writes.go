package redis

// This file holds, and only holds, the writes that change what a validation
// returns (sessiond.Store lists them): UpdateData, Rotate, Delete,
// DeleteUserSessions and PutUser. A near cache in front of this store must
// hear of each, so each script publishes an invalidation in the same atomic
// step as its write (see invalidate.go). Touch is deliberately elsewhere: it
// does not invalidate.

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/sessiond/sessiond"
)

// UpdateData is a compare-and-swap on the version, in one script: it never
// recreates a session that is gone.
func (s *Store) UpdateData(ctx context.Context, id string, version int64, data json.RawMessage) (*sessiond.Session, error) {
	_, key, raw, ok := s.sessionKey(id)
	if !ok {
		return nil, sessiond.ErrNotFound
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := updateScript.Exec(ctx, s.client, []string{key},
		[]string{strconv.FormatInt(version, 10), string(data), s.channel(), sessionMessage(raw)}).ToMessage()
	if err != nil {
		return nil, wrap(err)
	}
	if res.IsInt64() {
		if n, _ := res.AsInt64(); n == resultConflict {
			return nil, sessiond.ErrConflict
		}
		return nil, sessiond.ErrNotFound
	}
	v, err := res.ToString()
	if err != nil {
		return nil, wrap(err)
	}
	return decodeSession(id, v)
}

// Rotate moves a session to newID, which must be placed in the same slot
// (the Manager draws it so), in one script.
func (s *Store) Rotate(ctx context.Context, oldID, newID string, lastSeen, idleExpires time.Time) (*sessiond.Session, error) {
	base, oldKey, oldRaw, ok := s.sessionKey(oldID)
	if !ok {
		return nil, sessiond.ErrNotFound
	}
	_, newKey, newRaw, ok := s.sessionKey(newID)
	if !ok || newID[:2] != oldID[:2] {
		return nil, s.misplaced(ctx, oldKey)
	}
	seen, err := packSeen(lastSeen, idleExpires)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := rotateScript.Exec(ctx, s.client, []string{oldKey, newKey},
		[]string{base, seen, strconv.FormatInt(idleExpires.UnixMilli(), 10), oldRaw, newRaw, s.channel(), sessionMessage(oldRaw)}).ToMessage()
	if err != nil {
		return nil, wrap(err)
	}
	if res.IsInt64() {
		if n, _ := res.AsInt64(); n == resultConflict {
			return nil, errors.New("redis: session id already exists")
		}
		return nil, sessiond.ErrNotFound
	}
	v, err := res.ToString()
	if err != nil {
		return nil, wrap(err)
	}
	return decodeSession(newID, v)
}

// misplaced answers a Rotate to an id outside the old session's slot: the
// old session being gone comes first (ErrNotFound, as for any Rotate of a
// gone id); otherwise the caller did not draw the id through IDPrefix.
func (s *Store) misplaced(ctx context.Context, oldKey string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := s.client.Do(ctx, s.client.B().Exists().Key(oldKey).Build()).AsInt64()
	switch {
	case err != nil:
		return wrap(err)
	case n == 0:
		return sessiond.ErrNotFound
	}
	return errors.New("redis: the new session id is not placed in the user's slot (rotate through sessiond.Manager)")
}

// Delete removes one session and its index entry.
func (s *Store) Delete(ctx context.Context, id string) error {
	base, key, raw, ok := s.sessionKey(id)
	if !ok {
		return sessiond.ErrNotFound
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := deleteScript.Exec(ctx, s.client, []string{key}, []string{base, raw, s.channel(), sessionMessage(raw)}).AsInt64()
	switch {
	case err != nil:
		return wrap(err)
	case n == resultRefused:
		return sessiond.ErrNotFound
	}
	return nil
}

// DeleteUserSessions deletes a user's sessions but exceptID in one script,
// on one node: the user's sessions share the index's hash slot.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	base, _, index := s.userKey(userID)
	except := ""
	if _, _, raw, ok := s.sessionKey(exceptID); ok {
		except = raw
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := revokeUserScript.Exec(ctx, s.client, []string{index}, []string{base, except, s.channel(), userMessage(userID)}).AsInt64()
	if err != nil {
		return 0, wrap(err)
	}
	return int(n), nil
}

// PutUser stores a user record; storing a banned one deletes the user's
// sessions in the same script.
func (s *Store) PutUser(ctx context.Context, u *sessiond.User) (int, error) {
	base, user, index := s.userKey(u.ID)
	status, roles, attrs, updated := encodeUser(u)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := putUserScript.Exec(ctx, s.client, []string{user, index},
		[]string{base, status, roles, attrs, updated, s.channel(), userMessage(u.ID)}).AsInt64()
	if err != nil {
		return 0, wrap(err)
	}
	return int(n), nil
}
