package redis

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/sessiond/sessiond"
)

// apiKeyRecord is what is stored for an API key; its hash is the key name.
type apiKeyRecord struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	CreatedAt int64  `json:"created_at"` // Unix ms
}

func (s *Store) apiKeyBase() string { return s.base("k") }

func (s *Store) CreateAPIKey(ctx context.Context, k *sessiond.APIKey) error {
	rec, err := json.Marshal(apiKeyRecord{ID: k.ID, Name: k.Name, CreatedAt: k.CreatedAt.UnixMilli()})
	if err != nil {
		return err
	}
	base := s.apiKeyBase()
	ctx, cancel := s.bound(ctx)
	defer cancel()
	err = createKeyScript.Exec(ctx, s.client, []string{base + ":key:" + k.Hash, base + ":keys"}, []string{base, k.ID, k.Hash, string(rec)}).Error()
	if err != nil {
		return wrap(err)
	}
	return nil
}

// APIKeyByHash is one GET: it runs on every management call.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*sessiond.APIKey, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	v, err := s.client.Do(ctx, s.client.B().Get().Key(s.apiKeyBase()+":key:"+hash).Build()).ToString()
	if isNil(err) {
		return nil, sessiond.ErrNotFound
	}
	if err != nil {
		return nil, wrap(err)
	}
	return decodeAPIKey(hash, v)
}

func (s *Store) ListAPIKeys(ctx context.Context) ([]*sessiond.APIKey, error) {
	base := s.apiKeyBase()
	ctx, cancel := s.bound(ctx)
	defer cancel()
	vals, err := listKeysScript.Exec(ctx, s.client, []string{base + ":keys"}, []string{base}).AsStrSlice()
	if err != nil {
		return nil, wrap(err)
	}
	out := make([]*sessiond.APIKey, 0, len(vals)/2)
	for i := 0; i+1 < len(vals); i += 2 {
		k, err := decodeAPIKey(vals[i], vals[i+1])
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b *sessiond.APIKey) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	base := s.apiKeyBase()
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := deleteKeyScript.Exec(ctx, s.client, []string{base + ":keys"}, []string{base, id}).AsInt64()
	switch {
	case err != nil:
		return wrap(err)
	case n == 0:
		return sessiond.ErrNotFound
	}
	return nil
}

func decodeAPIKey(hash, v string) (*sessiond.APIKey, error) {
	var r apiKeyRecord
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return nil, wrap(err)
	}
	return &sessiond.APIKey{ID: r.ID, Name: r.Name, Hash: hash, CreatedAt: fromMillis(r.CreatedAt)}, nil
}
