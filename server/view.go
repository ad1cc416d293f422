package server

import (
	"encoding/json"
	"time"

	"github.com/sessiond/sessiond"
)

// The JSON views of the records. Records are values without JSON tags (the
// library does not decide how an API spells them); the API builds these
// views from them, so nothing a handler renders can reach back into a
// record another request sees.

// SessionJSON is a session as the API shows it: the session JSON of the
// specification. The credential (generation, secret hash) is never part of
// it; the id is safe to show, as it does not let anyone use the session.
type SessionJSON struct {
	ID string `json:"id"`
	// UserID is null for a guest session.
	UserID        *string    `json:"user_id"`
	CreatedAt     time.Time  `json:"created_at"`
	AuthTime      time.Time  `json:"auth_time"`
	LastSeenAt    time.Time  `json:"last_seen_at"`
	ExpiresAt     time.Time  `json:"expires_at"`
	IdleExpiresAt time.Time  `json:"idle_expires_at"`
	Client        ClientJSON `json:"client"`
	// Data is the session's data, a JSON object.
	Data    json.RawMessage `json:"data"`
	Version int64           `json:"version"`
}

// ClientJSON is the device a session was created from.
type ClientJSON struct {
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
}

// NewSessionJSON builds the view of s. `sessiond sessions list` prints the
// same view, one per line.
func NewSessionJSON(s sessiond.Session) SessionJSON {
	v := SessionJSON{
		ID:            s.ID,
		CreatedAt:     s.CreatedAt,
		AuthTime:      s.AuthTime,
		LastSeenAt:    s.LastSeenAt,
		ExpiresAt:     s.ExpiresAt,
		IdleExpiresAt: s.IdleExpiresAt,
		Client:        ClientJSON{IP: s.Client.IP, UserAgent: s.Client.UserAgent},
		Data:          s.Data(),
		Version:       s.Version,
	}
	if !s.Guest() {
		id := s.UserID
		v.UserID = &id
	}
	return v
}

func sessionViews(list []sessiond.Session) []SessionJSON {
	out := make([]SessionJSON, 0, len(list))
	for _, s := range list {
		out = append(out, NewSessionJSON(s))
	}
	return out
}

// userView is a user record as the API shows it: roles always a list,
// attributes always an object, updated_at only for a stored record (a user
// without one has never been updated).
type userView struct {
	ID         string              `json:"id"`
	Status     sessiond.UserStatus `json:"status"`
	Roles      []string            `json:"roles"`
	Attributes json.RawMessage     `json:"attributes"`
	UpdatedAt  time.Time           `json:"updated_at,omitzero"`
}

func newUserView(u sessiond.User) userView {
	return userView{ID: u.ID, Status: u.Status, Roles: u.Roles(), Attributes: u.Attributes(), UpdatedAt: u.UpdatedAt}
}
