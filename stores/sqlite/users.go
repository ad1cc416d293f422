package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sessiond/sessiond"
)

func makeUser(id, status, roles, attrs string, updated int64) (*sessiond.User, error) {
	u := &sessiond.User{ID: id, Status: sessiond.UserStatus(status), Attributes: json.RawMessage(attrs), UpdatedAt: ms(updated)}
	if err := json.Unmarshal([]byte(roles), &u.Roles); err != nil {
		return nil, fmt.Errorf("sqlite: user %q: corrupt roles: %w", id, err)
	}
	if u.Roles == nil {
		u.Roles = []string{}
	}
	return u, nil
}

func (s *Store) GetUser(ctx context.Context, id string) (*sessiond.User, error) {
	var status, roles, attrs string
	var updated int64
	err := s.read.QueryRowContext(ctx, `SELECT status, roles, attributes, updated_at FROM users WHERE id = ?`, id).
		Scan(&status, &roles, &attrs, &updated)
	if err != nil {
		return nil, notFound(err)
	}
	return makeUser(id, status, roles, attrs, updated)
}

// PutUser upserts the record; a ban deletes the user's sessions in the same
// transaction.
func (s *Store) PutUser(ctx context.Context, u *sessiond.User) (int, error) {
	roles, err := json.Marshal(u.Roles)
	if err != nil {
		return 0, err
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `
INSERT INTO users (id, status, roles, attributes, updated_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET status = excluded.status, roles = excluded.roles,
	attributes = excluded.attributes, updated_at = excluded.updated_at`,
		u.ID, string(u.Status), string(roles), string(u.Attributes), u.UpdatedAt.UnixMilli()); err != nil {
		return 0, err
	}
	var n int64
	if u.Status == sessiond.UserBanned {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, u.ID)
		if err != nil {
			return 0, err
		}
		n, _ = res.RowsAffected()
	}
	return int(n), tx.Commit()
}
