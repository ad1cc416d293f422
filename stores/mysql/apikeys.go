package mysql

import (
	"context"
	"database/sql"
	"errors"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/storeop"
	"github.com/sessiond/sessiond/server/apikey"
)

// The server's API keys: every node sharing the store shares its keys. The
// store keeps each key's SHA-256 (apikey.Key.Hash), never the key.

func (s *Store) CreateAPIKey(ctx context.Context, k apikey.Key) error {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	_, err := s.exec(ctx, `INSERT INTO api_keys (id, name, hash, created_at) VALUES (?, ?, ?, ?)`,
		k.ID, k.Name, k.Hash, dbTime(k.CreatedAt))
	return storeop.Wrap(engine, "create api key", err)
}

// APIKeyByHash finds a key by the SHA-256 of the presented key: an index
// lookup, so no secret is compared byte by byte.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (apikey.Key, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	k := apikey.Key{Hash: hash}
	err := s.db.QueryRowContext(ctx, `SELECT id, name, `+castTime("created_at")+` FROM api_keys WHERE hash = ?`, hash).
		Scan(&k.ID, &k.Name, scanTime{&k.CreatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return apikey.Key{}, sessiond.ErrNotFound
	}
	if err != nil {
		return apikey.Key{}, storeop.Wrap(engine, "api key by hash", err)
	}
	return k, nil
}

// ListAPIKeys returns every key, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]apikey.Key, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, hash, `+castTime("created_at")+` FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, storeop.Wrap(engine, "list api keys", err)
	}
	defer rows.Close()
	var out []apikey.Key
	for rows.Next() {
		var k apikey.Key
		if err := rows.Scan(&k.ID, &k.Name, &k.Hash, scanTime{&k.CreatedAt}); err != nil {
			return nil, storeop.Wrap(engine, "list api keys", err)
		}
		out = append(out, k)
	}
	return out, storeop.Wrap(engine, "list api keys", rows.Err())
}

func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	n, err := s.exec(ctx, `DELETE FROM api_keys WHERE id = ?`, id)
	if err != nil {
		return storeop.Wrap(engine, "delete api key", err)
	}
	if n == 0 {
		return sessiond.ErrNotFound
	}
	return nil
}
