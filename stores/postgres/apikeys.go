package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
)

func (s *Store) CreateAPIKey(ctx context.Context, k *sessiond.APIKey) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (id, name, hash, created_at) VALUES ($1, $2, $3, $4)`,
		k.ID, k.Name, k.Hash, ms(k.CreatedAt))
	return fail("create api key", err)
}

// APIKeyByHash finds a key by the SHA-256 of the presented key: an index
// lookup on the hash, never a comparison of secrets.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*sessiond.APIKey, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	k := &sessiond.APIKey{Hash: hash}
	err := s.pool.QueryRow(ctx, `SELECT id, name, created_at FROM api_keys WHERE hash = $1`, hash).
		Scan(&k.ID, &k.Name, &k.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, sessiond.ErrNotFound
	}
	if err != nil {
		return nil, fail("api key", err)
	}
	k.CreatedAt = ms(k.CreatedAt)
	return k, nil
}

func (s *Store) ListAPIKeys(ctx context.Context) ([]*sessiond.APIKey, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT id, name, hash, created_at FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fail("list api keys", err)
	}
	defer rows.Close()
	var out []*sessiond.APIKey
	for rows.Next() {
		k := &sessiond.APIKey{}
		if err := rows.Scan(&k.ID, &k.Name, &k.Hash, &k.CreatedAt); err != nil {
			return nil, fail("list api keys", err)
		}
		k.CreatedAt = ms(k.CreatedAt)
		out = append(out, k)
	}
	return out, fail("list api keys", rows.Err())
}

func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM api_keys WHERE id = $1`, id)
	if err != nil {
		return fail("delete api key", err)
	}
	if tag.RowsAffected() == 0 {
		return sessiond.ErrNotFound
	}
	return nil
}
