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
	"strconv"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/storeop"
)

// UpdateData is a compare-and-swap on the version, in one script: it never
// recreates a session that is gone.
func (s *Store) UpdateData(ctx context.Context, id string, version int64, data json.RawMessage) (sessiond.Session, error) {
	k, ok := s.sessionOf(id)
	if !ok {
		return sessiond.Session{}, sessiond.ErrNotFound
	}
	stored := string(data)
	if stored == "{}" {
		stored = "" // as encodeSession stores it
	}
	ctx, cancel := storeop.Bound(ctx, s.opts.OpTimeout)
	defer cancel()
	res, err := updateScript.Exec(ctx, s.client, []string{k.key},
		[]string{strconv.FormatInt(version, 10), stored, s.channel, sessionMessage(k.raw)}).ToMessage()
	if err != nil {
		return sessiond.Session{}, storeop.Wrap(engine, "update data", err)
	}
	if res.IsInt64() {
		if n, _ := res.AsInt64(); n == resultConflict {
			return sessiond.Session{}, sessiond.ErrConflict
		}
		return sessiond.Session{}, sessiond.ErrNotFound
	}
	vals, err := res.ToArray()
	if err != nil || len(vals) != 2 {
		return sessiond.Session{}, storeop.Wrap(engine, "update data", errCorrupt)
	}
	ss, err := readSession(id, vals[0], vals[1])
	return ss, storeop.Wrap(engine, "update data", err)
}

// Rotate replaces the credential if the generation is still from, in one
// script: a compare-and-swap that also slides the idle expiry and keeps the
// id, so nothing moves between keys.
func (s *Store) Rotate(ctx context.Context, id string, from uint32, secretHash [32]byte, now, idleExpires time.Time) (sessiond.Session, error) {
	k, ok := s.sessionOf(id)
	if !ok {
		return sessiond.Session{}, sessiond.ErrNotFound
	}
	at, err := millis(now)
	if err != nil {
		return sessiond.Session{}, storeop.Wrap(engine, "rotate", err)
	}
	idle, err := millis(idleExpires)
	if err != nil {
		return sessiond.Session{}, storeop.Wrap(engine, "rotate", err)
	}
	ctx, cancel := storeop.Bound(ctx, s.opts.OpTimeout)
	defer cancel()
	res, err := rotateScript.Exec(ctx, s.client, []string{k.key}, []string{
		k.base, strconv.FormatUint(uint64(from), 10), string(secretHash[:]),
		strconv.FormatInt(at, 10), strconv.FormatInt(idle, 10), k.raw, s.channel, sessionMessage(k.raw),
	}).ToMessage()
	if err != nil {
		return sessiond.Session{}, storeop.Wrap(engine, "rotate", err)
	}
	if res.IsInt64() {
		if n, _ := res.AsInt64(); n == resultConflict {
			return sessiond.Session{}, sessiond.ErrConflict
		}
		return sessiond.Session{}, sessiond.ErrNotFound
	}
	v, err := res.ToString()
	if err != nil {
		return sessiond.Session{}, storeop.Wrap(engine, "rotate", err)
	}
	ss, err := decodeSession(id, v, idle)
	return ss, storeop.Wrap(engine, "rotate", err)
}

// Delete removes one session and its index entry.
func (s *Store) Delete(ctx context.Context, id string) error {
	k, ok := s.sessionOf(id)
	if !ok {
		return sessiond.ErrNotFound
	}
	ctx, cancel := storeop.Bound(ctx, s.opts.OpTimeout)
	defer cancel()
	n, err := deleteScript.Exec(ctx, s.client, []string{k.key}, []string{k.base, k.raw, s.channel, sessionMessage(k.raw)}).AsInt64()
	switch {
	case err != nil:
		return storeop.Wrap(engine, "delete", err)
	case n == resultRefused:
		return sessiond.ErrNotFound
	}
	return nil
}

// DeleteUserSessions deletes a user's sessions but exceptID in one script,
// on one node: the user's sessions share the index bucket's hash slot.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	u := s.userOf(userID)
	except := ""
	if k, ok := s.sessionOf(exceptID); ok {
		except = k.raw
	}
	ctx, cancel := storeop.Bound(ctx, s.opts.OpTimeout)
	defer cancel()
	n, err := revokeUserScript.Exec(ctx, s.client, []string{u.bucket},
		[]string{u.base, userID, except, s.channel, userMessage(userID)}).AsInt64()
	if err != nil {
		return 0, storeop.Wrap(engine, "delete user sessions", err)
	}
	return int(n), nil
}

// PutUser stores a user record; storing a banned one deletes the user's
// sessions in the same script.
func (s *Store) PutUser(ctx context.Context, user sessiond.User) (int, error) {
	u := s.userOf(user.ID)
	status, roles, attrs, updated := encodeUser(user)
	ctx, cancel := storeop.Bound(ctx, s.opts.OpTimeout)
	defer cancel()
	n, err := putUserScript.Exec(ctx, s.client, []string{u.record, u.bucket},
		[]string{u.base, status, roles, attrs, updated, s.channel, userMessage(user.ID), user.ID}).AsInt64()
	if err != nil {
		return 0, storeop.Wrap(engine, "put user", err)
	}
	return int(n), nil
}
