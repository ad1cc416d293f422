package sessiond

import (
	"strings"
	"unicode/utf8"
)

// Limits on what callers hand in. Every one is checked before a store sees
// the value, so stores can size their columns and keys.
const (
	maxUserIDLen      = 256
	maxRoles          = 64
	maxRoleLen        = 64
	maxAttributesSize = 16 << 10
	// Client details come from request headers: they are clipped, not
	// refused, so an odd user agent never blocks a sign-in.
	maxClientIPLen  = 64
	maxUserAgentLen = 512
)

// checkUserID accepts non-empty UTF-8 ids of at most 256 bytes without
// control characters.
func checkUserID(id string) error {
	switch {
	case id == "":
		return invalidRequest("user_id is required")
	case len(id) > maxUserIDLen:
		return invalidRequest("user_id is longer than %d bytes", maxUserIDLen)
	case !utf8.ValidString(id):
		return invalidRequest("user_id is not valid UTF-8")
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return invalidRequest("user_id contains a control character")
		}
	}
	return nil
}

// checkUser checks a user record before it is stored and returns it with
// its attributes compacted.
func checkUser(u User) (User, error) {
	if err := checkUserID(u.ID); err != nil {
		return u, err
	}
	if u.Status != UserActive && u.Status != UserBanned {
		return u, invalidRequest("status must be %q or %q", UserActive, UserBanned)
	}
	if len(u.roles) > maxRoles {
		return u, invalidRequest("at most %d roles", maxRoles)
	}
	for _, r := range u.roles {
		if !validRole(r) {
			return u, invalidRequest("role %q: roles are 1-%d characters of letters, digits and _.:-", r, maxRoleLen)
		}
	}
	if len(u.attributes) > maxAttributesSize {
		return u, invalidRequest("attributes exceed %d bytes", maxAttributesSize)
	}
	a, err := normalizeData([]byte(u.attributes))
	if err != nil {
		return u, invalidRequest("attributes must be a JSON object")
	}
	return u.WithAttributes(a), nil
}

// validRole reports whether s is 1 to 64 characters of letters, digits and
// _.:- — safe to put in a comma-separated header.
func validRole(s string) bool {
	if s == "" || len(s) > maxRoleLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

func cleanClient(c Client) Client {
	return Client{IP: clip(c.IP, maxClientIPLen), UserAgent: clip(c.UserAgent, maxUserAgentLen)}
}

// clip truncates s to n bytes and drops invalid UTF-8 and control
// characters (a NUL is refused by PostgreSQL text, and has no place in a
// user agent shown on an admin page).
func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
}
