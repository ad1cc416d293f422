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
//
// A User is a value, like Session: Roles and Attributes return copies, so a
// handler that edits what it got cannot grant itself a role.
type User struct {
	ID        string
	Status    UserStatus
	UpdatedAt time.Time

	roles      []string // never handed out: Roles copies
	attributes string   // a compact JSON object
}

// Roles returns a copy of the user's roles.
func (u User) Roles() []string {
	if len(u.roles) == 0 {
		return []string{}
	}
	return slices.Clone(u.roles)
}

// HasRole reports whether the user holds role.
func (u User) HasRole(role string) bool { return slices.Contains(u.roles, role) }

// Attributes returns a copy of the user's attributes, a JSON object.
func (u User) Attributes() json.RawMessage {
	if u.attributes == "" {
		return json.RawMessage("{}")
	}
	return json.RawMessage(u.attributes)
}

// WithRoles returns a copy of u holding a copy of roles.
func (u User) WithRoles(roles ...string) User {
	u.roles = slices.Clone(roles)
	return u
}

// WithAttributes returns a copy of u holding attributes.
func (u User) WithAttributes(attributes json.RawMessage) User {
	u.attributes = string(attributes)
	return u
}

// Banned reports whether the user is banned.
func (u User) Banned() bool { return u.Status == UserBanned }
