package server

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"aidanwoods.dev/go-paseto"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/server/apikey"
	"github.com/sessiond/sessiond/server/assertion"
	"github.com/sessiond/sessiond/server/onetime"
	"github.com/sessiond/sessiond/stores/memory"
)

// openAPI is the part of the document the tests read.
type openAPI struct {
	OpenAPI    string                                `json:"openapi"`
	Security   []map[string][]string                 `json:"security"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		SecuritySchemes map[string]json.RawMessage `json:"securitySchemes"`
	} `json:"components"`
}

type operation struct {
	OperationID string                     `json:"operationId"`
	Security    *[]map[string][]string     `json:"security"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

var httpMethods = []string{"get", "head", "post", "put", "patch", "delete", "options", "trace"}

// operations returns the document's operations as "METHOD /path".
func (d *openAPI) operations(t *testing.T) map[string]operation {
	t.Helper()
	out := map[string]operation{}
	for path, item := range d.Paths {
		for method, raw := range item {
			if !slices.Contains(httpMethods, method) {
				continue
			}
			var op operation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			out[strings.ToUpper(method)+" "+path] = op
		}
	}
	return out
}

func loadOpenAPI(t *testing.T) *openAPI {
	t.Helper()
	var d openAPI
	if err := json.Unmarshal(openAPIDocument, &d); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	return &d
}

// fullServer is a server with every optional route on (identity
// assertions, one-time tokens), its routes, and an API key.
func fullServer(t *testing.T) (http.Handler, *server, string) {
	t.Helper()
	store := memory.New()
	kr, err := sessiond.NewKeyring([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := assertion.NewSigner(assertion.Options{}, priv)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := onetime.NewIssuer(store, paseto.NewV4AsymmetricSecretKey())
	if err != nil {
		t.Fatal(err)
	}
	key, rec := apikey.New("test", time.Now())
	if err := store.CreateAPIKey(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	h, s := newServer(Options{
		Manager:    sessiond.NewManager(store, kr, sessiond.Config{}),
		APIKeys:    store,
		Logger:     slog.New(slog.DiscardHandler),
		Assertions: signer,
		Tokens:     issuer,
	})
	return h, s, key
}

// The document is OpenAPI 3.1 JSON; every operation has an id, responses
// and, where it overrides the API-key default, known security schemes.
func TestOpenAPIDocument(t *testing.T) {
	d := loadOpenAPI(t)
	if d.OpenAPI != "3.1.0" {
		t.Errorf(`"openapi": %q, want "3.1.0"`, d.OpenAPI)
	}
	if len(d.Security) != 1 || d.Security[0]["apiKey"] == nil {
		t.Errorf("the default security is %v, want the API key", d.Security)
	}
	ids := map[string]string{}
	for name, op := range d.operations(t) {
		if op.OperationID == "" || ids[op.OperationID] != "" {
			t.Errorf("%s: operationId %q missing or also used by %s", name, op.OperationID, ids[op.OperationID])
		}
		ids[op.OperationID] = name
		if len(op.Responses) == 0 {
			t.Errorf("%s: no responses", name)
		}
		if op.Security != nil {
			for _, req := range *op.Security {
				for scheme := range req {
					if d.Components.SecuritySchemes[scheme] == nil {
						t.Errorf("%s: unknown security scheme %q", name, scheme)
					}
				}
			}
		}
	}
	// Every $ref points at something.
	var doc any
	json.Unmarshal(openAPIDocument, &doc)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && resolve(doc, ref) == nil {
				t.Errorf("$ref %q resolves to nothing", ref)
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
}

// resolve follows a local JSON pointer ("#/components/schemas/Error").
func resolve(doc any, ref string) any {
	v := doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")]
	}
	return v
}

// Every route registered on the server's mux is documented, and every
// documented operation is registered (a GET route serves HEAD too). The
// routes come from the mux itself, whatever file registered them.
func TestOpenAPICoversRoutes(t *testing.T) {
	_, s, _ := fullServer(t)
	ops := loadOpenAPI(t).operations(t)
	registered := map[string]bool{}
	for _, p := range s.mux.patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok || !strings.HasPrefix(path, "/") {
			t.Errorf("route %q: a pattern without a method or with a host cannot be documented", p)
			continue
		}
		registered[p] = true
		if _, ok := ops[method+" "+path]; !ok {
			t.Errorf("route %q is not in openapi.json", p)
		}
	}
	for name := range ops {
		method, path, _ := strings.Cut(name, " ")
		if !registered[name] && !(method == "HEAD" && registered["GET "+path]) {
			t.Errorf("openapi.json documents %q, which the server does not register", name)
		}
	}
}

// Every documented operation answers, with and without an API key,
// something other than the "no such route" 404 or a 405; an operation
// that inherits the API-key requirement refuses a call without a key, and
// one that opts out does not.
func TestOpenAPIRoutesAnswer(t *testing.T) {
	h, _, key := fullServer(t)
	d := loadOpenAPI(t)
	fill := strings.NewReplacer("{id}", strings.Repeat("A", 22), "{user_id}", "alice")
	for name, op := range d.operations(t) {
		method, path, _ := strings.Cut(name, " ")
		needsKey := op.Security == nil
		for _, withKey := range []bool{true, false} {
			r := httptest.NewRequest(method, fill.Replace(path), strings.NewReader("{}"))
			if withKey {
				r.Header.Set("Authorization", "Bearer "+key)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			var body errorBody
			json.Unmarshal(w.Body.Bytes(), &body)
			switch {
			case w.Code == http.StatusMethodNotAllowed,
				w.Code == http.StatusNotFound && body.Error.Message == "no such route":
				t.Errorf("%s (key %v): %d %s", name, withKey, w.Code, w.Body)
			case !withKey && needsKey && (w.Code != http.StatusUnauthorized || body.Error.Code != CodeUnauthorized):
				t.Errorf("%s without a key: %d %s; the document says it needs one", name, w.Code, w.Body)
			case !withKey && !needsKey && body.Error.Code == CodeUnauthorized:
				t.Errorf("%s without a key: %d %s; the document says it needs none", name, w.Code, w.Body)
			}
		}
	}
}

// GET /openapi.json serves the document, without an API key.
func TestOpenAPIServed(t *testing.T) {
	h, _, _ := fullServer(t)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/openapi.json", nil))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" || w.Body.String() != string(openAPIDocument) {
		t.Errorf("%d %q %.80s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
}

// The Session schema has exactly the members the API sends, all required,
// and the id pattern matches a real id; the forward-auth answer documents
// every identity header it sends.
func TestOpenAPIDescribesSessionsAndAuth(t *testing.T) {
	h, _, key := fullServer(t)
	r := httptest.NewRequest("POST", "/v1/sessions", strings.NewReader(`{"user_id":"alice"}`))
	r.Header.Set("Authorization", "Bearer "+key)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var created struct {
		Token   string                     `json:"token"`
		Session map[string]json.RawMessage `json:"session"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &created); err != nil || w.Code != http.StatusCreated {
		t.Fatalf("%d %s", w.Code, w.Body)
	}

	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Required   []string                   `json:"required"`
				Properties map[string]json.RawMessage `json:"properties"`
				Pattern    string                     `json:"pattern"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	schema := doc.Components.Schemas["Session"]
	var sent []string
	for k := range created.Session {
		sent = append(sent, k)
	}
	var documented []string
	for k := range schema.Properties {
		documented = append(documented, k)
	}
	slices.Sort(sent)
	slices.Sort(documented)
	required := slices.Sorted(slices.Values(schema.Required))
	if !slices.Equal(sent, documented) || !slices.Equal(sent, required) {
		t.Errorf("the API sends %v; the document has %v, requires %v", sent, documented, required)
	}
	var id string
	json.Unmarshal(created.Session["id"], &id)
	if ok, err := regexp.MatchString(doc.Components.Schemas["SessionID"].Pattern, id); err != nil || !ok {
		t.Errorf("id %q does not match the documented pattern %q (%v)", id, doc.Components.Schemas["SessionID"].Pattern, err)
	}

	r = httptest.NewRequest("GET", "/v1/auth", nil)
	r.Header.Set("Authorization", "Bearer "+created.Token)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var op struct {
		Responses map[string]struct {
			Headers map[string]json.RawMessage `json:"headers"`
		} `json:"responses"`
	}
	json.Unmarshal(doc.Paths["/v1/auth"]["get"], &op)
	for _, name := range []string{HeaderSessionID, HeaderUserID, HeaderUserRoles, HeaderAuthTime, HeaderIdentityToken} {
		if _, sentIt := w.Header()[name]; !sentIt {
			t.Errorf("/v1/auth did not send %s", name)
		}
		if _, ok := op.Responses["200"].Headers[name]; !ok {
			t.Errorf("openapi.json does not document %s on the 200 of GET /v1/auth", name)
		}
	}
}
