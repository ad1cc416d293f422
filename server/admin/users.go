package admin

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/webui"
)

// userView is the user page's data.
type userView struct {
	User     sessiond.User
	URL      string // the page's path, which its forms post below
	Sessions []sessionRow
	// Roles is the roles field's text: the stored roles, or what the
	// operator typed if it was refused.
	Roles string
}

// sessionRow is one live session on the user page.
type sessionRow struct {
	sessiond.Session
	// Current marks the operator's own admin session (on the page of the
	// user apikey:<key id>).
	Current bool
}

// userURL is the path of a user's page. The id is one path segment
// (url.PathEscape turns a "/" in it into %2F). The ids "." and ".." are
// escaped as %2E and %2E%2E, which Go's router reads back as those ids;
// browsers, though, resolve them as dot segments (WHATWG URL), so those two
// ids can be managed through the JSON API but not in a browser.
func userURL(id string) string {
	switch id {
	case ".":
		return "/admin/users/%2E"
	case "..":
		return "/admin/users/%2E%2E"
	}
	return "/admin/users/" + url.PathEscape(id)
}

// findUser answers the dashboard's search box with the user's page. The
// id is checked by the manager, the one place that knows what a user id
// may be (a read of the user's record, which the page makes anyway).
func (c *console) findUser(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSpace(r.URL.Query().Get("user"))
	_, err := c.m.GetUser(r.Context(), id)
	if errors.Is(err, sessiond.ErrInvalidRequest) {
		c.renderDashboard(w, r, http.StatusBadRequest, "Enter a user id: "+message(err)+".")
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	webui.SeeOther(w, r, userURL(id))
}

func (c *console) userPage(w http.ResponseWriter, r *http.Request) {
	user, ok := c.pathUser(w, r)
	if !ok {
		return
	}
	c.renderUser(w, r, http.StatusOK, user, strings.Join(user.Roles(), " "), "")
}

// renderUser shows a user's status, roles and live sessions, oldest first,
// with the forms that change them.
func (c *console) renderUser(w http.ResponseWriter, r *http.Request, status int, user sessiond.User, roles, formError string) {
	live, err := c.m.ListUserSessions(r.Context(), user.ID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	v := userView{User: user, URL: userURL(user.ID), Roles: roles}
	current := operator(r).SessionID
	for _, s := range live {
		v.Sessions = append(v.Sessions, sessionRow{Session: s, Current: s.ID == current})
	}
	c.render(w, r, status, "user", view{Title: user.ID, Error: formError, Data: v})
}

// pathUser returns the record of the user the request's path names, or
// answers a 400 page for an id that is not UTF-8, too long or has control
// characters (the manager checks it before any store sees it), or the
// store's failure. A user without a record is active with no roles.
func (c *console) pathUser(w http.ResponseWriter, r *http.Request) (sessiond.User, bool) {
	user, err := c.m.GetUser(r.Context(), r.PathValue("user_id"))
	if errors.Is(err, sessiond.ErrInvalidRequest) {
		c.renderError(w, r, http.StatusBadRequest, "That is not a valid user id: "+message(err)+".")
		return sessiond.User{}, false
	}
	if err != nil {
		c.fail(w, r, err)
		return sessiond.User{}, false
	}
	return user, true
}

// revokeSession ends one session of the user. Any other id — unknown,
// expired, malformed or another user's — is "no such session", so the
// page's URL cannot be used to end a session outside the user it names.
func (c *console) revokeSession(w http.ResponseWriter, r *http.Request) {
	user, ok := c.pathUser(w, r)
	if !ok {
		return
	}
	userID := user.ID
	id := r.PathValue("id")
	target, err := c.m.GetSession(r.Context(), id)
	if err == nil && target.UserID != userID {
		err = sessiond.ErrNotFound
	}
	if err == nil {
		err = c.m.RevokeSession(r.Context(), id)
		if errors.Is(err, sessiond.ErrNotFound) {
			err = nil // it ended meanwhile: done anyway
		}
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.audit(r, "admin: session revoked", "user_id", userID, "session_id", id)
	webui.SeeOther(w, r, webui.FlashURL(userURL(userID), "revoked"))
}

// revokeAll ends every session of the user in one atomic step of the
// store ("log out everywhere").
func (c *console) revokeAll(w http.ResponseWriter, r *http.Request) {
	user, ok := c.pathUser(w, r)
	if !ok {
		return
	}
	userID := user.ID
	n, err := c.m.RevokeUserSessions(r.Context(), userID, "")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.audit(r, "admin: all sessions revoked", "user_id", userID, "revoked", n)
	webui.SeeOther(w, r, webui.FlashURL(userURL(userID), "revoked-all", "n", strconv.Itoa(n)))
}

// setStatus bans or unbans a user. Banning deletes every session of the
// user in the same atomic step of the store and refuses new ones: the
// user's next request is anonymous, and signing in again fails. The record
// is read, changed and written back; the store has no compare-and-swap for
// users, so of two operators editing one user at the same instant, the
// last write wins.
func (c *console) setStatus(status sessiond.UserStatus) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, ok := c.pathUser(w, r)
		if !ok {
			return
		}
		userID := user.ID
		user.Status = status // a copy: records are values
		n, err := c.m.PutUser(r.Context(), user)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		if status == sessiond.UserBanned {
			c.audit(r, "admin: user banned", "user_id", userID, "revoked", n)
			webui.SeeOther(w, r, webui.FlashURL(userURL(userID), "banned", "n", strconv.Itoa(n)))
			return
		}
		c.audit(r, "admin: user unbanned", "user_id", userID)
		webui.SeeOther(w, r, webui.FlashURL(userURL(userID), "unbanned"))
	}
}

// setRoles replaces a user's roles with those of the form's roles field,
// separated by commas or white space. Roles live in the user record, read
// with every validation, so the change applies to the user's very next
// request; their sessions need no rotation.
func (c *console) setRoles(w http.ResponseWriter, r *http.Request) {
	user, ok := c.pathUser(w, r)
	if !ok || !c.parseForm(w, r) {
		return
	}
	userID := user.ID
	typed := r.PostForm.Get("roles")
	roles := parseRoles(typed)
	_, err := c.m.PutUser(r.Context(), user.WithRoles(roles...))
	if errors.Is(err, sessiond.ErrInvalidRequest) {
		// The manager checks roles before the store sees them: show the
		// form again with what was typed and why it was refused.
		c.renderUser(w, r, http.StatusBadRequest, user, typed, message(err)+".")
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.audit(r, "admin: roles set", "user_id", userID, "roles", roles)
	webui.SeeOther(w, r, webui.FlashURL(userURL(userID), "roles"))
}

// parseRoles splits a list of roles on commas and white space, dropping
// empty entries and repeats.
func parseRoles(s string) []string {
	roles := []string{}
	for _, role := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
		if !slices.Contains(roles, role) {
			roles = append(roles, role)
		}
	}
	return roles
}

// audit logs a change made by the signed-in operator, naming the API key
// (its id, never the key).
func (c *console) audit(r *http.Request, msg string, args ...any) {
	c.log.InfoContext(r.Context(), msg, append([]any{"api_key_id", operator(r).Key.ID}, args...)...)
}
