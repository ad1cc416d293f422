package server

import (
	"encoding/json"
	"time"

	"github.com/sessiond/sessiond"
)

// sessionView renders a session exactly as sessiond.Session's JSON tags say,
// with data always an object.
func sessionView(s *sessiond.Session) *sessiond.Session {
	if len(s.Data) == 0 {
		s.Data = json.RawMessage("{}")
	}
	return s
}

func sessionViews(list []*sessiond.Session) []*sessiond.Session {
	out := make([]*sessiond.Session, 0, len(list))
	for _, s := range list {
		out = append(out, sessionView(s))
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

func newUserView(u *sessiond.User) userView {
	v := userView{ID: u.ID, Status: u.Status, Roles: u.Roles, Attributes: u.Attributes, UpdatedAt: u.UpdatedAt}
	if v.Roles == nil {
		v.Roles = []string{}
	}
	if len(v.Attributes) == 0 {
		v.Attributes = json.RawMessage("{}")
	}
	return v
}
