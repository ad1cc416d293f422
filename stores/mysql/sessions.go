package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
)

const sessionColumns = `id, user_id, created_at, last_seen_at, expires_at, idle_expires_at, idle_timeout_ms, client_ip, user_agent, data, version`

// qualifiedSessionColumns serves the join with users, where "id" is ambiguous.
var qualifiedSessionColumns = "s." + strings.ReplaceAll(sessionColumns, ", ", ", s.")

type scanner interface{ Scan(dest ...any) error }

func scanSession(row scanner, extra ...any) (*sessiond.Session, error) {
	var (
		s      sessiond.Session
		idleMS int64
		data   []byte
	)
	dest := append([]any{&s.ID, &s.UserID, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt, &s.IdleExpiresAt,
		&idleMS, &s.Client.IP, &s.Client.UserAgent, &data, &s.Version}, extra...)
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, sessiond.ErrNotFound
		}
		return nil, err
	}
	s.IdleTimeout = time.Duration(idleMS) * time.Millisecond
	s.Data = data
	return &s, nil
}

// wrap names the failed operation; domain errors pass as they are.
func wrap(op string, err error) error {
	if err == nil || sessiond.ErrorCode(err) != "" {
		return err
	}
	return fmt.Errorf("mysql: %s: %w", op, err)
}

// Create inserts the session unless the user is banned, in one statement:
// under InnoDB's default REPEATABLE READ, INSERT … SELECT reads users with
// shared locks, so it waits for a ban being committed, and a ban waits for
// it; either way the ban's DELETE sees the session or the insert sees the
// ban. (Should a server run READ COMMITTED, the read is not locking; a
// session created in a race with a ban still never validates, because
// Lookup returns the banned user with it.)
func (s *Store) Create(ctx context.Context, ss *sessiond.Session) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := s.exec(ctx, `
INSERT INTO sessions (`+sessionColumns+`)
SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM DUAL
WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = ? AND status = 'banned')`,
		ss.ID, ss.UserID, ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt, ss.IdleExpiresAt,
		ss.IdleTimeout.Milliseconds(), ss.Client.IP, ss.Client.UserAgent, []byte(ss.Data), ss.Version,
		ss.UserID)
	if err != nil {
		return wrap("create", err)
	}
	if n == 0 {
		return sessiond.ErrUserBanned
	}
	return nil
}

// Lookup reads the session and its user in one round trip.
func (s *Store) Lookup(ctx context.Context, id string) (*sessiond.Session, *sessiond.User, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var (
		status       sql.NullString
		roles, attrs []byte
		updated      sql.NullTime
	)
	ss, err := scanSession(s.db.QueryRowContext(ctx, `SELECT `+qualifiedSessionColumns+`, u.status, u.roles, u.attributes, u.updated_at
FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.id = ?`, id), &status, &roles, &attrs, &updated)
	if err != nil {
		return nil, nil, wrap("lookup", err)
	}
	if !status.Valid {
		return ss, sessiond.DefaultUser(ss.UserID), nil
	}
	u, err := makeUser(ss.UserID, status.String, roles, attrs, updated.Time)
	return ss, u, err
}

// Touch moves the idle expiry. An UPDATE never creates a row, so touching a
// revoked session is a no-op.
func (s *Store) Touch(ctx context.Context, id string, lastSeen, idleExpires time.Time) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.exec(ctx, `UPDATE sessions SET last_seen_at = ?, idle_expires_at = ? WHERE id = ?`, lastSeen, idleExpires, id)
	return wrap("touch", err)
}

// UpdateData is a compare-and-swap on version. MySQL has no UPDATE …
// RETURNING, and a transaction (begin, update, select, commit) would cost
// four round trips; instead the session is read after the swap and given
// the data and version the swap wrote. That is exact: the other columns of
// a session id never change (a rotation moves the row to another id, and
// then the read finds nothing), except the last-seen and idle expiry, where
// a later value is the truth anyway.
func (s *Store) UpdateData(ctx context.Context, id string, version int64, data json.RawMessage) (*sessiond.Session, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	// version changes, so "rows changed" is "rows matched" here.
	n, err := s.exec(ctx, `UPDATE sessions SET data = ?, version = version + 1 WHERE id = ? AND version = ?`,
		[]byte(data), id, version)
	if err != nil {
		return nil, wrap("update data", err)
	}
	if n == 0 {
		return nil, s.conflictOrGone(ctx, id)
	}
	ss, err := s.get(ctx, id)
	if err != nil {
		return nil, wrap("update data", err)
	}
	ss.Data = append(json.RawMessage(nil), data...)
	ss.Version = version + 1
	return ss, nil
}

// conflictOrGone tells a lost compare-and-swap from a deleted session.
func (s *Store) conflictOrGone(ctx context.Context, id string) error {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE id = ?`, id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return sessiond.ErrNotFound
	case err != nil:
		return wrap("update data", err)
	}
	return sessiond.ErrConflict
}

// Rotate changes the primary key in one UPDATE: the old id stops existing
// in the same step, and the user index follows the row.
func (s *Store) Rotate(ctx context.Context, oldID, newID string, lastSeen, idleExpires time.Time) (*sessiond.Session, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := s.exec(ctx, `UPDATE sessions SET id = ?, last_seen_at = ?, idle_expires_at = ? WHERE id = ?`,
		newID, lastSeen, idleExpires, oldID)
	if err != nil {
		return nil, wrap("rotate", err)
	}
	if n == 0 {
		return nil, sessiond.ErrNotFound
	}
	ss, err := s.get(ctx, newID)
	return ss, wrap("rotate", err)
}

func (s *Store) get(ctx context.Context, id string) (*sessiond.Session, error) {
	return scanSession(s.db.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id))
}

func (s *Store) Delete(ctx context.Context, id string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := s.exec(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	if err != nil {
		return wrap("delete", err)
	}
	if n == 0 {
		return sessiond.ErrNotFound
	}
	return nil
}

// DeleteUserSessions is one DELETE, atomic on its own.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := s.exec(ctx, `DELETE FROM sessions WHERE user_id = ? AND id <> ?`, userID, exceptID)
	return int(n), wrap("delete user sessions", err)
}

func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]*sessiond.Session, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, wrap("list user sessions", err)
	}
	defer rows.Close()
	var out []*sessiond.Session
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, wrap("list user sessions", err)
		}
		out = append(out, ss)
	}
	return out, wrap("list user sessions", rows.Err())
}
