package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/storeop"
)

func makeUser(id, status string, roles []string, attrs []byte, updated time.Time) sessiond.User {
	return sessiond.User{ID: id, Status: sessiond.UserStatus(status), UpdatedAt: ms(updated)}.
		WithRoles(roles...).WithAttributes(attrs)
}

func (s *Store) GetUser(ctx context.Context, id string) (sessiond.User, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	var (
		status  string
		roles   []string
		attrs   []byte
		updated time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT status, roles, attributes, updated_at FROM users WHERE id = $1`, id).
		Scan(&status, &roles, &attrs, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return sessiond.User{}, sessiond.ErrNotFound
	}
	if err != nil {
		return sessiond.User{}, storeop.Wrap(engine, "get user", err)
	}
	return makeUser(id, status, roles, attrs, updated), nil
}

const upsertUser = `
INSERT INTO users (id, status, roles, attributes, updated_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE SET status = excluded.status, roles = excluded.roles,
	attributes = excluded.attributes, updated_at = excluded.updated_at`

// PutUser upserts the record, announcing the change from the upsert's
// RETURNING list (see invalidate.go). A ban also deletes the user's
// sessions, in the same implicit transaction and round trip, holding the
// user's advisory lock exclusively so that no session being created at that
// moment survives it (see Create).
func (s *Store) PutUser(ctx context.Context, u sessiond.User) (int, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	upsert := upsertUser + `
RETURNING pg_notify($6, $7)`
	// Roles returns a non-nil slice (NOT NULL: nil would be sent as NULL);
	// Attributes returns {} for none.
	args := []any{u.ID, string(u.Status), u.Roles(), []byte(u.Attributes()), ms(u.UpdatedAt), s.channel, userPrefix + u.ID}
	if !u.Banned() {
		_, err := s.pool.Exec(ctx, upsert, args...)
		return 0, storeop.Wrap(engine, "put user", err)
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, userLockClass, u.ID)
	b.Queue(upsert, args...)
	var revoked int
	b.Queue(`DELETE FROM sessions WHERE user_id = $1`, u.ID).Exec(func(tag pgconn.CommandTag) error {
		revoked = int(tag.RowsAffected())
		return nil
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return 0, storeop.Wrap(engine, "put user", err)
	}
	return revoked, nil
}
