package main

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/webui"
)

// roles are those the admin page can give; a user holds one.
var roles = []string{roleCustomer, roleAdmin}

// userRow is one line of the admin page.
type userRow struct {
	sessiond.User
	Sessions int
	Self     bool
}

// Role is the user's role as the page's role picker shows it.
func (u userRow) Role() string {
	if u.HasRole(roleAdmin) {
		return roleAdmin
	}
	return roleCustomer
}

// adminView is the admin page's data.
type adminView struct {
	Users []userRow
	Roles []string
}

// adminUsers shows every user's sessiond record (status and roles) and the
// number of live sessions from the per-user index.
func (a *app) adminUsers(w http.ResponseWriter, r *http.Request) {
	_, me := current(r)
	v := adminView{Roles: roles}
	for _, id := range a.accounts.IDs() {
		u, err := a.manager.GetUser(r.Context(), id)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		live, err := a.manager.ListUserSessions(r.Context(), id)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		v.Users = append(v.Users, userRow{User: u, Sessions: len(live), Self: id == me.ID})
	}
	a.render(w, r, http.StatusOK, "admin", view{Title: "Users", Data: v})
}

// setStatus bans or unbans a user. Banning revokes every session of the
// user in the same atomic step of the store, and refuses new ones: the
// user's next request is anonymous, and signing in again fails.
func (a *app) setStatus(status sessiond.UserStatus) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, ok := a.targetUser(w, r)
		if !ok {
			return
		}
		u.Status = status
		n, err := a.manager.PutUser(r.Context(), u)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if status == sessiond.UserBanned {
			webui.SeeOther(w, r, webui.FlashURL("/admin/users", "banned", "u", u.ID, "n", strconv.Itoa(n)))
		} else {
			webui.SeeOther(w, r, webui.FlashURL("/admin/users", "unbanned", "u", u.ID))
		}
	}
}

// setRole gives a user one role. Nothing else is needed for it to apply:
// roles are read from the user record with every validation, not carried
// in the token, so the user's very next request sees it.
func (a *app) setRole(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	role := r.PostForm.Get("role")
	if !slices.Contains(roles, role) {
		a.renderError(w, r, http.StatusBadRequest, "There is no such role.")
		return
	}
	u, ok := a.targetUser(w, r)
	if !ok {
		return
	}
	u = u.WithRoles(role)
	if _, err := a.manager.PutUser(r.Context(), u); err != nil {
		a.fail(w, r, err)
		return
	}
	webui.SeeOther(w, r, webui.FlashURL("/admin/users", "role", "u", u.ID, "r", role))
}

// targetUser returns the record of the user an admin action names. Admins
// cannot ban or demote themselves: the demo would be left without an
// admin, and records persist across restarts.
//
// The record is the caller's own copy (records are values): the handler
// edits it and hands it back to PutUser, and nothing else sees the edit
// until then.
func (a *app) targetUser(w http.ResponseWriter, r *http.Request) (sessiond.User, bool) {
	_, me := current(r)
	id := r.PathValue("user")
	if !a.accounts.Exists(id) {
		a.renderError(w, r, http.StatusNotFound, "There is no such user.")
		return sessiond.User{}, false
	}
	if id == me.ID {
		a.renderError(w, r, http.StatusBadRequest, "You cannot change your own account here.")
		return sessiond.User{}, false
	}
	u, err := a.manager.GetUser(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return sessiond.User{}, false
	}
	return u, true
}
