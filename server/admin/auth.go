package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/webui"
	"github.com/sessiond/sessiond/server/apikey"
	"github.com/sessiond/sessiond/sessionhttp"
)

// An operator signs in with an API key and gets an admin session: a
// sessiond session of the user "apikey:<key id>" whose data records the key.
const userIDPrefix = "apikey:"

// maxAdminAge ends an admin session this long after sign-in, whatever the
// server's session lifetime: OWASP's Session Management Cheat Sheet asks
// for short absolute timeouts on high-value applications, and a console
// that bans users is one. A working day.
const maxAdminAge = 8 * time.Hour

// adminData is the data of an admin session. The key's SHA-256 — what the
// key store already holds, not the key — proves that the console made the
// session: an application that lets its users choose a user id like
// "apikey:key_1234" creates sessions of that user id, but cannot know any
// key's hash, so its tokens never open the console.
type adminData struct {
	Admin *adminKey `json:"sessiond_admin"`
}

type adminKey struct {
	ID   string `json:"api_key_id"`
	Name string `json:"api_key_name"`
	Hash string `json:"api_key_sha256"`
}

// errNotAdmin is a session that does not, or no longer, open the console.
var errNotAdmin = errors.New("admin: not an admin session")

func (c *console) loginForm(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "login", view{Title: "Sign in"})
}

// login checks the API key — by its hash, so no secret is compared byte by
// byte — and lets sessionhttp start the admin session: Login revokes any
// session the browser carried and issues a fresh token (OWASP: renew the
// session id on authentication, against fixation).
func (c *console) login(w http.ResponseWriter, r *http.Request) {
	if !c.parseForm(w, r) {
		return
	}
	form := view{Title: "Sign in"}
	// Behind a reverse proxy every operator shares the proxy's address, and
	// so its budget.
	client := webui.ClientIP(r)
	if blocked, wait := c.attempts.Blocked(client); blocked {
		form.Error = webui.Throttled(w, wait)
		c.render(w, r, http.StatusTooManyRequests, "login", form)
		return
	}
	key, err := c.lookupKey(r.Context(), r.PostForm.Get("api_key"))
	if errors.Is(err, sessiond.ErrNotFound) {
		c.attempts.Spend(client)
		c.log.WarnContext(r.Context(), "admin: sign-in refused", "client_ip", client)
		form.Error = "That API key is not valid."
		c.render(w, r, http.StatusUnauthorized, "login", form)
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	data, err := json.Marshal(adminData{Admin: key})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if _, err := c.sessions.Login(w, r, userIDPrefix+key.ID, data); err != nil {
		c.fail(w, r, err)
		return
	}
	c.log.InfoContext(r.Context(), "admin: signed in", "api_key_id", key.ID, "client_ip", client)
	webui.SeeOther(w, r, "/admin/")
}

// lookupKey returns the stored key that key is, or ErrNotFound. Surrounding
// white space, which a paste often brings, is ignored.
func (c *console) lookupKey(ctx context.Context, key string) (*adminKey, error) {
	key = strings.TrimSpace(key)
	if key == "" || len(key) > apikey.MaxLen {
		return nil, sessiond.ErrNotFound
	}
	hash := apikey.Hash(key)
	k, err := c.keys.APIKeyByHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	return &adminKey{ID: k.ID, Name: k.Name, Hash: hash}, nil
}

// logout revokes the admin session on the server, not only the cookie: a
// copy of the cookie taken before is refused from now on.
func (c *console) logout(w http.ResponseWriter, r *http.Request) {
	if err := c.sessions.Logout(w, r); err != nil {
		c.fail(w, r, err)
		return
	}
	webui.SeeOther(w, r, webui.FlashURL("/admin/login", "signed-out"))
}

// adminOnly lets through requests with a live admin session whose API key
// still exists. The key is looked up on every request, as the JSON API
// does, so revoking a key ends its console sessions at their next click.
// A session that fails the check is revoked and the browser sent to sign
// in; a store that cannot answer gives a 503 page (fail closed).
func (c *console) adminOnly(next http.HandlerFunc) http.Handler {
	return c.sessions.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, _, _ := sessionhttp.FromContext(r.Context())
		key, err := c.checkAdmin(r.Context(), sess)
		if errors.Is(err, errNotAdmin) {
			if err := c.sessions.Logout(w, r); err != nil {
				c.fail(w, r, err)
				return
			}
			c.log.InfoContext(r.Context(), "admin: session ended", "session_id", sess.ID, "user_id", sess.UserID)
			webui.SeeOther(w, r, webui.FlashURL("/admin/login", "ended"))
			return
		}
		if err != nil {
			c.fail(w, r, err)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), adminContextKey{}, &signedIn{Key: key, SessionID: sess.ID})))
	}))
}

// checkAdmin returns the key an admin session was opened with, or
// errNotAdmin if the session is not an admin session, is older than
// maxAdminAge, or its key has been revoked.
func (c *console) checkAdmin(ctx context.Context, sess sessiond.Session) (*adminKey, error) {
	var data adminData
	if json.Unmarshal(sess.Data(), &data) != nil || data.Admin == nil || sess.UserID != userIDPrefix+data.Admin.ID {
		return nil, errNotAdmin
	}
	if c.m.Config().Now().Sub(sess.CreatedAt) >= maxAdminAge {
		return nil, errNotAdmin
	}
	k, err := c.keys.APIKeyByHash(ctx, data.Admin.Hash)
	if errors.Is(err, sessiond.ErrNotFound) || err == nil && k.ID != data.Admin.ID {
		return nil, errNotAdmin
	}
	if err != nil {
		return nil, err
	}
	return &adminKey{ID: k.ID, Name: k.Name}, nil
}

// signedIn is the operator behind a request that passed adminOnly.
type signedIn struct {
	Key       *adminKey
	SessionID string
}

type adminContextKey struct{}

func operator(r *http.Request) *signedIn {
	s, _ := r.Context().Value(adminContextKey{}).(*signedIn)
	return s
}
