package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/storeop"
)

// makeUser builds a user from its row; roles are a JSON array of strings.
func makeUser(id, status, roles, attrs string, updated int64) (sessiond.User, error) {
	var list []string
	if err := json.Unmarshal([]byte(roles), &list); err != nil {
		return sessiond.User{}, fmt.Errorf("user %q: corrupt roles: %w", id, err)
	}
	u := sessiond.User{ID: id, Status: sessiond.UserStatus(status), UpdatedAt: ms(updated)}
	return u.WithRoles(list...).WithAttributes(json.RawMessage(attrs)), nil
}

func (s *Store) GetUser(ctx context.Context, id string) (sessiond.User, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	var status, roles, attrs string
	var updated int64
	err := s.read.QueryRowContext(ctx, `SELECT status, roles, attributes, updated_at FROM users WHERE id = ?`, id).
		Scan(&status, &roles, &attrs, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return sessiond.User{}, sessiond.ErrNotFound
	}
	if err != nil {
		return sessiond.User{}, storeop.Wrap(engine, "get user", err)
	}
	u, err := makeUser(id, status, roles, attrs, updated)
	return u, storeop.Wrap(engine, "get user", err)
}

// PutUser upserts the record; a ban deletes the user's sessions in the same
// transaction, and Create's banned check keeps new ones out from then on.
func (s *Store) PutUser(ctx context.Context, u sessiond.User) (int, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	roles, err := json.Marshal(u.Roles())
	if err != nil {
		return 0, storeop.Wrap(engine, "put user", err)
	}
	n, err := s.putUser(ctx, u, string(roles))
	return n, storeop.Wrap(engine, "put user", err)
}

func (s *Store) putUser(ctx context.Context, u sessiond.User, roles string) (int, error) {
	if err := s.writes.acquire(ctx); err != nil {
		return 0, err
	}
	defer s.writes.release()
	// The first statement writes, so even a deferred transaction (a
	// *sql.DB given to New without _txlock=immediate) takes the write lock
	// before it has read anything, and waits for it rather than failing.
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `
INSERT INTO users (id, status, roles, attributes, updated_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET status = excluded.status, roles = excluded.roles,
	attributes = excluded.attributes, updated_at = excluded.updated_at`,
		u.ID, string(u.Status), roles, string(u.Attributes()), u.UpdatedAt.UnixMilli()); err != nil {
		return 0, err
	}
	var n int64
	if u.Banned() {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, u.ID)
		if err != nil {
			return 0, err
		}
		if n, err = res.RowsAffected(); err != nil {
			return 0, err
		}
	}
	return int(n), tx.Commit()
}
