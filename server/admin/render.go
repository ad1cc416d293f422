package admin

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/webui"
)

var (
	//go:embed templates
	templateFiles embed.FS
	//go:embed static/style.css
	staticFiles embed.FS
)

// view is what every page template gets: the layout's header (which key is
// signed in), a flash message or an error, and the page's own data.
type view struct {
	Title string
	Key   *adminKey // nil when nobody is signed in
	Flash string
	Error string
	Data  any
}

// mustParsePages parses each page with the layout, so that every page has
// the same header, and with the partials that pages share. The templates
// are embedded: a parse error is a bug that the first test run finds, hence
// the panic.
func mustParsePages() map[string]*template.Template {
	funcs := template.FuncMap{
		"ago":     webui.Ago,
		"device":  webui.DeviceName,
		"plural":  webui.Plural,
		"short":   shortID,
		"stamp":   stamp,
		"userURL": userURL,
	}
	pages, err := webui.ParsePages(templateFiles, funcs, "templates/partials/*.html")
	if err != nil {
		panic(err)
	}
	return pages
}

// stylesheet serves the one static file; the console has no script.
func stylesheet(w http.ResponseWriter, r *http.Request) {
	http.ServeFileFS(w, r, staticFiles, "static/style.css")
}

// render writes a page. It is rendered to a buffer first, so that a
// template error gives a clean 500 rather than half a page.
func (c *console) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	if op := operator(r); op != nil {
		v.Key = op.Key
	}
	if v.Flash == "" && v.Error == "" {
		v.Flash = flash(r) // an error page says what went wrong, nothing else
	}
	var buf bytes.Buffer
	if err := c.pages[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.ErrorContext(r.Context(), "admin: rendering a page", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (c *console) renderError(w http.ResponseWriter, r *http.Request, status int, message string) {
	c.render(w, r, status, "error", view{Title: http.StatusText(status), Error: message})
}

func (c *console) notFound(w http.ResponseWriter, r *http.Request) {
	c.renderError(w, r, http.StatusNotFound, "There is no such page.")
}

// fail answers an error from the manager. A store that cannot answer
// gives a 503 page, never a page as if nothing happened (fail closed); its
// error is logged, not shown: it may describe the infrastructure.
func (c *console) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *sessiond.Error
	switch {
	case errors.Is(err, sessiond.ErrNotFound):
		c.renderError(w, r, http.StatusNotFound, "There is no such session.")
	case errors.Is(err, sessiond.ErrUserBanned):
		c.renderError(w, r, http.StatusForbidden, "This API key's console user is banned.")
	case errors.As(err, &e):
		c.renderError(w, r, http.StatusBadRequest, e.Message)
	default:
		c.log.ErrorContext(r.Context(), "admin: session store unavailable", "err", err)
		c.renderError(w, r, http.StatusServiceUnavailable, refusalMessage(http.StatusServiceUnavailable))
	}
}

// message is the text of a domain error, written for the API's clients and
// safe to show.
func message(err error) string {
	var e *sessiond.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "invalid input"
}

// parseForm reads a POSTed form, answering a bad or oversized body itself.
func (c *console) parseForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		status, message := webui.FormError(err)
		c.renderError(w, r, status, message)
		return false
	}
	return true
}

// stamp is the exact time of a session event, shown on hover over
// webui.Ago's coarse one.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// shortID shortens a session id for display; the page shows the whole id
// on hover. A session id is public and no credential, safe to show; it
// stays the same through rotations, so it names a device for its session's
// whole life.
func shortID(id string) string {
	if len(id) <= 12 {
		return id
	}
	return id[:12] + "…"
}
