package webui

import (
	"bytes"
	"html/template"
	"testing"
	"testing/fstest"
)

func TestParsePages(t *testing.T) {
	fsys := fstest.MapFS{
		"templates/layout.html":         {Data: []byte(`{{define "layout"}}<h1>{{.}}</h1>{{template "main" .}}{{end}}`)},
		"templates/home.html":           {Data: []byte(`{{define "main"}}home {{shout .}} {{template "badge" .}}{{end}}`)},
		"templates/error.html":          {Data: []byte(`{{define "main"}}error{{end}}`)},
		"templates/partials/badge.html": {Data: []byte(`{{define "badge"}}[{{.}}]{{end}}`)},
	}
	funcs := template.FuncMap{"shout": func(s string) string { return s + "!" }}
	pages, err := ParsePages(fsys, funcs, "templates/partials/*.html")
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 2 || pages["layout"] != nil {
		t.Fatalf("pages %v, want home and error, not the layout", pages)
	}
	var buf bytes.Buffer
	if err := pages["home"].ExecuteTemplate(&buf, "layout", "<hi>"); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "<h1>&lt;hi&gt;</h1>home &lt;hi&gt;! [&lt;hi&gt;]"; got != want {
		t.Errorf("home renders %q, want %q", got, want)
	}

	// A page that does not parse is an error, not a panic.
	fsys["templates/broken.html"] = &fstest.MapFile{Data: []byte(`{{define "main"}}{{end`)}
	if _, err := ParsePages(fsys, funcs, "templates/partials/*.html"); err == nil {
		t.Error("a broken page parsed")
	}
}
