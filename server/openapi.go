package server

import (
	_ "embed"
	"net/http"
)

// openAPIDocument describes every route of the API (OpenAPI 3.1). It is
// written by hand, and a test holds it to the routes actually registered,
// in both directions, so it cannot drift from the code.
//
//go:embed openapi.json
var openAPIDocument []byte

// opsRoutes registers the operational routes, which need no API key:
// /metrics (unless the caller serves the metrics itself, see
// Options.Metrics) and /openapi.json.
func (s *server) opsRoutes() {
	if s.metrics.served != nil {
		s.mux.Handle("GET /metrics", MetricsHandler(s.metrics.served))
	}
	s.mux.HandleFunc("GET /openapi.json", serveOpenAPI)
}

// GET /openapi.json. The document is public and changes only with the
// binary, so caches may keep it for a while, unlike every other answer.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	setHeaders(w)
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(openAPIDocument)
}

// routeMux is the server's ServeMux, recording every pattern registered on
// it: the single list of routes that the OpenAPI document is checked
// against, whatever file or condition registered them.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func newRouteMux() *routeMux { return &routeMux{ServeMux: http.NewServeMux()} }

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}
