package main

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/sessiond/sessiond/internal/webui"
)

// flash turns the message code that webui.FlashURL put in a page's query
// into a sentence. Only
// known codes, products, users and roles are shown, so a crafted link
// cannot make the shop display text of the link author's choosing.
func (a *app) flash(r *http.Request) string {
	q := r.URL.Query()
	n, _ := strconv.Atoi(q.Get("n"))
	user := q.Get("u")
	if !a.accounts.Exists(user) {
		user = ""
	}
	switch q.Get("m") {
	case "signed-out":
		return "You have signed out. Your session is gone from the server: a copy of the old cookie is worthless."
	case "added":
		if p, ok := productByID(q.Get("p")); ok {
			return "Added " + p.Name + " to your cart."
		}
	case "revoked":
		return "That device has been signed out."
	case "revoked-others":
		return "Signed out " + webui.Plural(max(n, 0), "other device", "other devices") + "."
	case "password":
		return "Password changed. " + webui.Plural(max(n, 0), "other device was", "other devices were") + " signed out."
	case "banned":
		if user != "" {
			return user + " is banned: " + webui.Plural(max(n, 0), "session", "sessions") + " revoked, and sign-in is refused."
		}
	case "unbanned":
		if user != "" {
			return user + " may sign in again."
		}
	case "role":
		if role := q.Get("r"); user != "" && slices.Contains(roles, role) {
			return user + " is now " + role + ", from their very next request."
		}
	}
	return ""
}
