package sessiond

import (
	"encoding/json"
	"time"
)

// Session is the server-side record a token points at. It carries the
// SHA-256 id of the token, never the token itself.
type Session struct {
	ID     string `json:"id"`
	UserID string `json:"user_id"`

	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	// ExpiresAt is the absolute end of the session; it never moves.
	ExpiresAt time.Time `json:"expires_at"`
	// IdleExpiresAt slides forward on use, never past ExpiresAt. It is the
	// effective expiry that stores index and sweep on.
	IdleExpiresAt time.Time `json:"idle_expires_at"`
	// IdleTimeout is kept per session so that sliding honours an override
	// given at creation.
	IdleTimeout time.Duration `json:"-"`

	Client Client `json:"client"`
	// Data is a JSON object owned by the application.
	Data json.RawMessage `json:"data"`
	// Version increases with every data change; stores use it for
	// compare-and-swap so that concurrent updates never lose writes.
	Version int64 `json:"version"`
}

// Client describes the device a session was created from.
type Client struct {
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
}

// Expired reports whether the session is past its idle or absolute expiry.
func (s *Session) Expired(now time.Time) bool {
	return !now.Before(s.IdleExpiresAt) || !now.Before(s.ExpiresAt)
}

// Clone returns a deep copy, so stores and caches never share Data slices
// with callers.
func (s *Session) Clone() *Session {
	c := *s
	c.Data = append(json.RawMessage(nil), s.Data...)
	return &c
}
