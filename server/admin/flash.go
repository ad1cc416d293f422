package admin

import (
	"net/http"
	"strconv"

	"github.com/sessiond/sessiond/internal/webui"
)

// flash turns the message code that webui.FlashURL put in a page's query
// into a sentence. Only
// known codes and a count are read, so a crafted link cannot make the
// console display text of the link author's choosing.
func flash(r *http.Request) string {
	q := r.URL.Query()
	n, _ := strconv.Atoi(q.Get("n"))
	n = max(n, 0)
	switch q.Get("m") {
	case "signed-out":
		return "You have signed out. The admin session is gone from the server."
	case "ended":
		return "Your admin session has ended: its API key was revoked, or it reached its time limit. Sign in again."
	case "revoked":
		return "The session has been revoked: that device's very next request is signed out."
	case "revoked-all":
		return "Revoked " + webui.Plural(n, "session", "sessions") + "."
	case "banned":
		return "Banned: " + webui.Plural(n, "session", "sessions") + " revoked, and new sign-ins are refused."
	case "unbanned":
		return "Unbanned: the user may sign in again."
	case "roles":
		return "Roles saved. They apply from the user's very next request."
	}
	return ""
}
