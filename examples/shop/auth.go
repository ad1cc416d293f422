package main

import (
	"errors"
	"net/http"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/webui"
)

// loginView is the sign-in form's data.
type loginView struct {
	Username string
}

func (a *app) loginForm(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "login", view{Title: "Sign in"})
}

// login checks the password, then lets sessionhttp start the session:
// Login revokes whatever session the browser carried before and issues a
// fresh token (OWASP: renew the session id on authentication, against
// session fixation). Only after a correct password does the page say that
// an account is banned, so the form reveals nothing about an account to
// someone without its password.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	form := view{Title: "Sign in", Data: loginView{Username: username}}

	key := webui.ClientIP(r) + "\x00" + username
	if blocked, wait := a.attempts.Blocked(key); blocked {
		form.Error = webui.Throttled(w, wait)
		a.render(w, r, http.StatusTooManyRequests, "login", form)
		return
	}
	if !a.accounts.Verify(username, password) {
		a.attempts.Spend(key)
		form.Error = "Wrong username or password."
		a.render(w, r, http.StatusUnauthorized, "login", form)
		return
	}
	if _, err := a.sessions.Login(w, r, username, nil); err != nil {
		if errors.Is(err, sessiond.ErrUserBanned) {
			form.Error = "This account is banned."
			a.render(w, r, http.StatusForbidden, "login", form)
			return
		}
		a.fail(w, r, err)
		return
	}
	webui.SeeOther(w, r, "/")
}

// logout revokes the session on the server, not only the cookie: a copy of
// the cookie taken before is refused from now on.
func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if err := a.sessions.Logout(w, r); err != nil {
		a.fail(w, r, err)
		return
	}
	webui.SeeOther(w, r, webui.FlashURL("/login", "signed-out"))
}
