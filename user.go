package sessiond

import (
	"encoding/json"
	"slices"
	"time"
)

// UserStatus is active or banned. A banned user has no live sessions and
// cannot get new ones.
type UserStatus string

const (
	UserActive UserStatus = "active"
	UserBanned UserStatus = "banned"
)

// User is the small server-side record that authorization reads on every
// validation: keeping roles and status here (not in the token) is what makes
// a role change or a ban visible on the very next request.
type User struct {
	ID         string          `json:"id"`
	Status     UserStatus      `json:"status"`
	Roles      []string        `json:"roles"`
	Attributes json.RawMessage `json:"attributes"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// DefaultUser is what a user without a stored record looks like: active, no
// roles. Sessions may be created for any user id without registering it.
func DefaultUser(id string) *User {
	return &User{ID: id, Status: UserActive, Roles: []string{}, Attributes: json.RawMessage("{}")}
}

// Clone returns a deep copy.
func (u *User) Clone() *User {
	c := *u
	c.Roles = slices.Clone(u.Roles)
	c.Attributes = append(json.RawMessage(nil), u.Attributes...)
	return &c
}

// HasRole reports whether the user holds role.
func (u *User) HasRole(role string) bool { return slices.Contains(u.Roles, role) }
