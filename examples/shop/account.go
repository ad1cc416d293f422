package main

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/webui"
)

// device is one of the user's sessions, as the devices page shows it.
type device struct {
	sessiond.Session
	Current bool
}

// devicesView is the devices page's data.
type devicesView struct {
	Devices []device
	Others  int
}

// devices lists the user's live sessions from sessiond's per-user index,
// the current one first. "This device" is the session whose id is the
// request's: a session keeps its id through every rotation (a sign-in on
// another device, a password change here), so the marker never moves to
// the wrong row and a revoke button names the same session for as long as
// it lives.
func (a *app) devices(w http.ResponseWriter, r *http.Request) {
	a.renderDevices(w, r, http.StatusOK, "")
}

func (a *app) renderDevices(w http.ResponseWriter, r *http.Request, status int, formError string) {
	sess, user := current(r)
	list, err := a.manager.ListUserSessions(r.Context(), user.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v := devicesView{Devices: []device{{Session: sess, Current: true}}}
	for _, s := range list {
		if s.ID != sess.ID {
			v.Devices = append(v.Devices, device{Session: s})
			v.Others++
		}
	}
	a.render(w, r, status, "devices", view{Title: "Your devices", Error: formError, Data: v})
}

// revokeDevice signs one of the user's devices out. Only the user's own
// sessions can be revoked here: any other id, existing or not, is "not
// found", so the page cannot be used to probe or end someone else's
// session. The session id is safe to put in a page: it names the session
// but does not let anyone use it (the token's secret part is not derived
// from it, and the store keeps only a hash of that).
func (a *app) revokeDevice(w http.ResponseWriter, r *http.Request) {
	sess, user := current(r)
	id := r.PathValue("id")
	if id == sess.ID {
		a.logout(w, r)
		return
	}
	target, err := a.manager.GetSession(r.Context(), id)
	if errors.Is(err, sessiond.ErrNotFound) || err == nil && target.UserID != user.ID {
		a.renderError(w, r, http.StatusNotFound, "You have no such device.")
		return
	}
	if err == nil {
		err = a.manager.RevokeSession(r.Context(), id)
	}
	if err != nil && !errors.Is(err, sessiond.ErrNotFound) { // gone meanwhile: done anyway
		a.fail(w, r, err)
		return
	}
	webui.SeeOther(w, r, webui.FlashURL("/account/sessions", "revoked"))
}

// revokeOtherDevices is "log out all other devices": every session of the
// user but this one, in one atomic step in the store.
func (a *app) revokeOtherDevices(w http.ResponseWriter, r *http.Request) {
	sess, user := current(r)
	n, err := a.manager.RevokeUserSessions(r.Context(), user.ID, sess.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	webui.SeeOther(w, r, webui.FlashURL("/account/sessions", "revoked-others", "n", strconv.Itoa(n)))
}

// Password rules for new passwords (OWASP Authentication Cheat Sheet: at
// least 8 characters, allow long passphrases).
const (
	minPasswordRunes = 8
	maxPasswordBytes = 1024
)

// changePassword checks the current password, sets the new one, signs out
// every other device — whoever learnt the old password may be one of them —
// and rotates this device's token, as after any change of privilege
// (OWASP: renew the session id). The session keeps its id, so this device
// stays "this device" on the devices page.
func (a *app) changePassword(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	sess, user := current(r)
	old, next := r.PostForm.Get("current"), r.PostForm.Get("new")
	key := "password\x00" + user.ID
	if blocked, wait := a.attempts.Blocked(key); blocked {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		a.renderDevices(w, r, http.StatusTooManyRequests, "Too many wrong passwords. Try again later.")
		return
	}
	switch {
	case utf8.RuneCountInString(next) < minPasswordRunes || len(next) > maxPasswordBytes:
		a.renderDevices(w, r, http.StatusBadRequest, "The new password needs at least 8 characters.")
		return
	case next != r.PostForm.Get("confirm"):
		a.renderDevices(w, r, http.StatusBadRequest, "The new password and its confirmation differ.")
		return
	case !a.accounts.Verify(user.ID, old):
		a.attempts.Spend(key)
		a.renderDevices(w, r, http.StatusForbidden, "The current password is wrong.")
		return
	}
	a.accounts.SetPassword(user.ID, next)
	n, err := a.manager.RevokeUserSessions(r.Context(), user.ID, sess.ID)
	if err == nil {
		err = a.sessions.Rotate(w, r)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	webui.SeeOther(w, r, webui.FlashURL("/account/sessions", "password", "n", strconv.Itoa(n)))
}
