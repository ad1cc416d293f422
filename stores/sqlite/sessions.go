package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/storeop"
)

// sessionFields are the columns of a session row, in scanSession's order.
var sessionFields = []string{"id", "user_id", "created_at", "auth_time", "last_seen_at", "expires_at",
	"idle_expires_at", "idle_timeout_ms", "client_ip", "user_agent", "data", "version",
	"generation", "secret_hash", "rotated_at"}

var (
	sessionColumns = strings.Join(sessionFields, ", ")
	// qualifiedSessionColumns serve the join with users, where "id" is
	// ambiguous.
	qualifiedSessionColumns = "s." + strings.Join(sessionFields, ", s.")
)

type scanner interface{ Scan(dest ...any) error }

// scanSession reads one row of sessionColumns (then extra), or returns
// ErrNotFound if there is none.
func scanSession(row scanner, extra ...any) (sessiond.Session, error) {
	var (
		s                                       sessiond.Session
		created, auth, seen, exp, idle, timeout int64
		data                                    string
		hash                                    []byte
		rotated                                 sql.NullInt64
	)
	dest := append([]any{&s.ID, &s.UserID, &created, &auth, &seen, &exp, &idle, &timeout,
		&s.Client.IP, &s.Client.UserAgent, &data, &s.Version, &s.Generation, &hash, &rotated}, extra...)
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return sessiond.Session{}, sessiond.ErrNotFound
		}
		return sessiond.Session{}, err
	}
	if len(hash) != len(s.SecretHash) {
		return sessiond.Session{}, fmt.Errorf("session %s: corrupt secret hash (%d bytes)", s.ID, len(hash))
	}
	copy(s.SecretHash[:], hash)
	s.CreatedAt, s.AuthTime, s.LastSeenAt = ms(created), ms(auth), ms(seen)
	s.ExpiresAt, s.IdleExpiresAt = ms(exp), ms(idle)
	s.IdleTimeout = time.Duration(timeout) * time.Millisecond
	if rotated.Valid {
		s.RotatedAt = ms(rotated.Int64)
	}
	return s.WithData(json.RawMessage(data)), nil
}

// ms reads a stored time (Unix milliseconds).
func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

// nullableMS stores a time that may be zero (never) as NULL.
func nullableMS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func (s *Store) Create(ctx context.Context, ss sessiond.Session) error {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	// The banned check and the insert are one statement, so a ban that
	// commits first always wins.
	n, err := s.execRows(ctx, `
INSERT INTO sessions (`+sessionColumns+`)
SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = ? AND status = 'banned')`,
		ss.ID, ss.UserID, ss.CreatedAt.UnixMilli(), ss.AuthTime.UnixMilli(), ss.LastSeenAt.UnixMilli(),
		ss.ExpiresAt.UnixMilli(), ss.IdleExpiresAt.UnixMilli(), ss.IdleTimeout.Milliseconds(),
		ss.Client.IP, ss.Client.UserAgent, string(ss.Data()), ss.Version,
		ss.Generation, ss.SecretHash[:], nullableMS(ss.RotatedAt),
		ss.UserID)
	if err != nil {
		return storeop.Wrap(engine, "create", err)
	}
	if n == 0 {
		return sessiond.ErrUserBanned
	}
	return nil
}

// Lookup reads the session and its user in one statement (a join).
func (s *Store) Lookup(ctx context.Context, id string) (sessiond.Session, sessiond.User, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	var (
		status, roles, attrs sql.NullString
		updated              sql.NullInt64
	)
	ss, err := scanSession(s.read.QueryRowContext(ctx, `
SELECT `+qualifiedSessionColumns+`, u.status, u.roles, u.attributes, u.updated_at
FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.id = ?`, id),
		&status, &roles, &attrs, &updated)
	if err != nil {
		return sessiond.Session{}, sessiond.User{}, storeop.Wrap(engine, "lookup", err)
	}
	if !status.Valid { // no record: the contract's default user
		return ss, sessiond.User{ID: ss.UserID, Status: sessiond.UserActive}, nil
	}
	u, err := makeUser(ss.UserID, status.String, roles.String, attrs.String, updated.Int64)
	if err != nil {
		return sessiond.Session{}, sessiond.User{}, storeop.Wrap(engine, "lookup", err)
	}
	return ss, u, nil
}

// Touch moves the idle expiry of a session that exists; an UPDATE of no
// row brings nothing back.
func (s *Store) Touch(ctx context.Context, id string, lastSeen, idleExpires time.Time) error {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	_, err := s.exec(ctx, `UPDATE sessions SET last_seen_at = ?, idle_expires_at = ? WHERE id = ?`,
		lastSeen.UnixMilli(), idleExpires.UnixMilli(), id)
	return storeop.Wrap(engine, "touch", err)
}

func (s *Store) UpdateData(ctx context.Context, id string, version int64, data json.RawMessage) (sessiond.Session, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	ss, err := s.execReturning(ctx, `
UPDATE sessions SET data = ?, version = version + 1
WHERE id = ? AND version = ? RETURNING `+sessionColumns,
		string(data), id, version)
	if errors.Is(err, sessiond.ErrNotFound) {
		err = s.conflictOrGone(ctx, id)
	}
	return ss, storeop.Wrap(engine, "update data", err)
}

// Rotate replaces the credential if the generation is still from: a
// compare-and-swap, so of concurrent rotations of one token exactly one
// wins, and the old token's hash is gone when it commits.
func (s *Store) Rotate(ctx context.Context, id string, from uint32, secretHash [32]byte, now, idleExpires time.Time) (sessiond.Session, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	ss, err := s.execReturning(ctx, `
UPDATE sessions SET generation = ?, secret_hash = ?, rotated_at = ?, last_seen_at = ?, idle_expires_at = ?
WHERE id = ? AND generation = ? RETURNING `+sessionColumns,
		from+1, secretHash[:], now.UnixMilli(), now.UnixMilli(), idleExpires.UnixMilli(), id, from)
	if errors.Is(err, sessiond.ErrNotFound) {
		err = s.conflictOrGone(ctx, id)
	}
	return ss, storeop.Wrap(engine, "rotate", err)
}

// conflictOrGone tells a lost compare-and-swap (ErrConflict) from a session
// that is gone (ErrNotFound). A session deleted in between reads as gone,
// which is what the caller would see on its retry anyway.
func (s *Store) conflictOrGone(ctx context.Context, id string) error {
	var one int
	err := s.read.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE id = ?`, id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return sessiond.ErrNotFound
	case err != nil:
		return err
	}
	return sessiond.ErrConflict
}

func (s *Store) Delete(ctx context.Context, id string) error {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	n, err := s.execRows(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	if err != nil {
		return storeop.Wrap(engine, "delete", err)
	}
	if n == 0 {
		return sessiond.ErrNotFound
	}
	return nil
}

// DeleteUserSessions is one statement, so it is atomic: a session created
// concurrently is either deleted or created after it.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	n, err := s.execRows(ctx, `DELETE FROM sessions WHERE user_id = ? AND id <> ?`, userID, exceptID)
	return int(n), storeop.Wrap(engine, "delete user sessions", err)
}

// ListUserSessions reads the (user_id, created_at) index, oldest first.
func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]sessiond.Session, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	rows, err := s.read.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, storeop.Wrap(engine, "list user sessions", err)
	}
	defer rows.Close()
	out := []sessiond.Session{}
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, storeop.Wrap(engine, "list user sessions", err)
		}
		out = append(out, ss)
	}
	if err := rows.Err(); err != nil {
		return nil, storeop.Wrap(engine, "list user sessions", err)
	}
	return out, nil
}
