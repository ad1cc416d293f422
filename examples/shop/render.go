package main

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/webui"
	"github.com/sessiond/sessiond/sessionhttp"
)

var (
	//go:embed templates/*.html
	templateFiles embed.FS
	//go:embed static/style.css
	staticFiles embed.FS
)

// view is what every page template gets: the layout's header (who is
// signed in, the cart's size), a flash message or an error, and the page's
// own data.
type view struct {
	Title     string
	User      string // empty when anonymous
	Admin     bool
	CartItems int
	Flash     string
	Error     string
	Data      any
}

// parsePages parses each page with the layout, so that every page has the
// same header, with the signed-in user's name and a "Log out" button.
func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{"money": money, "ago": webui.Ago, "device": webui.DeviceName, "plural": webui.Plural}
	return webui.ParsePages(templateFiles, funcs)
}

// stylesheet serves the one static file; the shop has no script.
func stylesheet(w http.ResponseWriter, r *http.Request) {
	http.ServeFileFS(w, r, staticFiles, "static/style.css")
}

// render writes a page. The page is rendered to a buffer first, so that a
// template error gives a clean 500 rather than half a page. Pages carry
// Cache-Control: no-store: they show one user's data, which no cache may
// keep and hand to the next user of a shared computer (OWASP).
func (a *app) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	if sess, user, ok := sessionhttp.FromContext(r.Context()); ok {
		v.User = user.ID
		v.Admin = user.HasRole(roleAdmin)
		v.CartItems = cartOf(sess.Data()).items()
	}
	if v.Flash == "" {
		v.Flash = a.flash(r)
	}
	var buf bytes.Buffer
	if err := a.pages[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		a.log.ErrorContext(r.Context(), "shop: rendering a page", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderError answers an error: an HTML page for browsers, and for other
// clients the JSON shape the rest of sessiond uses.
func (a *app) renderError(w http.ResponseWriter, r *http.Request, status int, message string) {
	if !wantsHTML(r) {
		var body struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		body.Error.Code, body.Error.Message = errorCodes[status], message
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
		return
	}
	a.render(w, r, status, "error", view{Title: http.StatusText(status), Error: message})
}

// codeRateLimited answers too many failed password checks.
const codeRateLimited = "rate_limited"

// errorCodes are the codes of the shop's own JSON errors: sessiond's where
// one fits, so that a client sees one vocabulary.
var errorCodes = map[int]string{
	http.StatusBadRequest:            sessiond.ErrInvalidRequest.Code,
	http.StatusForbidden:             sessionhttp.CodeForbidden,
	http.StatusNotFound:              sessiond.ErrNotFound.Code,
	http.StatusConflict:              sessiond.ErrConflict.Code,
	http.StatusRequestEntityTooLarge: sessiond.ErrDataTooLarge.Code,
	http.StatusTooManyRequests:       codeRateLimited,
	http.StatusServiceUnavailable:    sessionhttp.CodeStoreUnavailable,
}

// fail answers an error returned by the session library, with the status
// sessionhttp.ErrorStatus gives it (the table the sessiond API uses too). A
// session that ended during the request (revoked from another device, say)
// sends the browser to sign in; a store that cannot answer gives 503, never
// a page served as if nothing happened (fail closed).
func (a *app) fail(w http.ResponseWriter, r *http.Request, err error) {
	if !wantsHTML(r) {
		a.sessions.Error(w, r, err)
		return
	}
	status, _, message := sessionhttp.ErrorStatus(err)
	switch status {
	case http.StatusUnauthorized:
		webui.SeeOther(w, r, "/login")
		return
	case http.StatusConflict:
		message = "Too many changes at once; please try again."
	case http.StatusRequestEntityTooLarge:
		message = "Your session's data has reached its size limit."
	case http.StatusServiceUnavailable:
		a.log.ErrorContext(r.Context(), "shop: session store unavailable", "err", err)
		message = "The session store is unavailable. Please try again in a moment."
	}
	a.renderError(w, r, status, message)
}

func (a *app) notFound(w http.ResponseWriter, r *http.Request) {
	a.renderError(w, r, http.StatusNotFound, "There is no such page.")
}

// wantsHTML tells browsers from API clients, the way sessionhttp's
// LoginURL redirect does.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// parseForm reads a POSTed form, answering a bad or oversized body itself.
func (a *app) parseForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		status, message := webui.FormError(err)
		a.renderError(w, r, status, message)
		return false
	}
	return true
}

func money(cents int) string { return fmt.Sprintf("€%d.%02d", cents/100, cents%100) }
