package sessiond

import (
	"encoding/json"
	"time"
)

// Session is the server-side record a token points at. Its ID is stable for
// the session's whole life, through every rotation, and is safe to show: it
// does not let anyone use the session. What proves possession is the secret
// part of the token, of which the record keeps only a hash.
//
// A Session is a value. Everything the Manager, the middleware or a store
// hands out is a copy, and its data can only be read through Data, which
// copies too: a caller that changes what it was given changes nothing that
// another request sees.
type Session struct {
	ID string
	// UserID is empty for a guest session.
	UserID string

	CreatedAt time.Time
	// AuthTime is when the user last proved who they are (the sign-in).
	// Rotation keeps it.
	AuthTime   time.Time
	LastSeenAt time.Time
	// ExpiresAt is the absolute end of the session; it never moves.
	ExpiresAt time.Time
	// IdleExpiresAt slides forward on use, never past ExpiresAt. It is the
	// effective expiry that stores index and sweep on.
	IdleExpiresAt time.Time
	// IdleTimeout is kept per session so that sliding honours an override
	// given at creation.
	IdleTimeout time.Duration

	Client Client
	// Version increases with every data change; stores use it for
	// compare-and-swap so that concurrent updates never lose writes.
	Version int64

	// The credential, as stored: never the token itself.
	//
	// Generation counts rotations; a token carries the generation it was
	// issued for, so a token rotated away is recognisable as an old token of
	// this session (and not a forgery) for as long as the session lives.
	Generation uint32
	// SecretHash is the SHA-256 of the current token's secret part.
	SecretHash [32]byte
	// RotatedAt is when the previous token stopped working (zero if the
	// session was never rotated).
	RotatedAt time.Time

	data string // a compact JSON object; a string, so no caller can change it
}

// Client describes the device a session was created from.
type Client struct {
	IP        string
	UserAgent string
}

// Data returns a copy of the session's data, a JSON object.
func (s Session) Data() json.RawMessage {
	if s.data == "" {
		return json.RawMessage("{}")
	}
	return json.RawMessage(s.data)
}

// WithData returns a copy of s holding data. Stores use it to build records
// they read; the Manager checks data before it reaches a store.
func (s Session) WithData(data json.RawMessage) Session {
	s.data = string(data)
	return s
}

// Guest reports whether the session belongs to no user.
func (s Session) Guest() bool { return s.UserID == "" }

// Expired reports whether the session is past its idle or absolute expiry.
func (s Session) Expired(now time.Time) bool {
	return !now.Before(s.IdleExpiresAt) || !now.Before(s.ExpiresAt)
}
