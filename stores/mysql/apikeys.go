package mysql

import (
	"context"
	"database/sql"
	"errors"

	"github.com/sessiond/sessiond"
)

func (s *Store) CreateAPIKey(ctx context.Context, k *sessiond.APIKey) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.exec(ctx, `INSERT INTO api_keys (id, name, hash, created_at) VALUES (?, ?, ?, ?)`,
		k.ID, k.Name, k.Hash, k.CreatedAt)
	return wrap("create api key", err)
}

// APIKeyByHash finds a key by the SHA-256 of the presented secret: an index
// lookup, so no secret is compared byte by byte.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*sessiond.APIKey, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	k := &sessiond.APIKey{Hash: hash}
	err := s.db.QueryRowContext(ctx, `SELECT id, name, created_at FROM api_keys WHERE hash = ?`, hash).
		Scan(&k.ID, &k.Name, &k.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sessiond.ErrNotFound
	}
	if err != nil {
		return nil, wrap("api key by hash", err)
	}
	return k, nil
}

func (s *Store) ListAPIKeys(ctx context.Context) ([]*sessiond.APIKey, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, hash, created_at FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("list api keys", err)
	}
	defer rows.Close()
	var out []*sessiond.APIKey
	for rows.Next() {
		k := &sessiond.APIKey{}
		if err := rows.Scan(&k.ID, &k.Name, &k.Hash, &k.CreatedAt); err != nil {
			return nil, wrap("list api keys", err)
		}
		out = append(out, k)
	}
	return out, wrap("list api keys", rows.Err())
}

func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := s.exec(ctx, `DELETE FROM api_keys WHERE id = ?`, id)
	if err != nil {
		return wrap("delete api key", err)
	}
	if n == 0 {
		return sessiond.ErrNotFound
	}
	return nil
}
