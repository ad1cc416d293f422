package webui

import (
	"html/template"
	"io/fs"
	"path"
	"strings"
)

// ParsePages parses each templates/*.html of fsys but the layout, together
// with templates/layout.html and the shared templates that patterns name
// (partials), so that every page has the same header; a page is executed as
// "layout". The map is keyed by the page's file name without ".html".
func ParsePages(fsys fs.FS, funcs template.FuncMap, patterns ...string) (map[string]*template.Template, error) {
	names, err := fs.Glob(fsys, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		page := strings.TrimSuffix(path.Base(name), ".html")
		if page == "layout" {
			continue
		}
		files := append(append([]string{"templates/layout.html"}, patterns...), name)
		t, err := template.New(page).Funcs(funcs).ParseFS(fsys, files...)
		if err != nil {
			return nil, err
		}
		pages[page] = t
	}
	return pages, nil
}
