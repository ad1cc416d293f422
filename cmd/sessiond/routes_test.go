package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testserver"
)

// `sessiond serve` with its default flags, and with each optional feature
// switched on, answers every documented route — the SPEC's API table,
// every operation of its own /openapi.json, the operational routes and the
// console's pages after a sign-in with a key from `sessiond apikey create`
// — without a 5xx, a dropped connection or a panic in its log. Each run
// goes through the one wiring path (runServe), so a part left nil for a
// combination of flags shows up here: with the default flags the console
// was once handed no metrics registry, and every GET /admin/ panicked.
func TestServeAnswersEveryRoute(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		// storeArgs name the store for `apikey create` too (empty: the
		// SQLite file in the data dir).
		storeArgs []string
		// keyReachesServer is false for memory://, where `apikey create`
		// fills a store that dies with its process: every /v1 call is then
		// refused for want of a key, which must not be a 5xx either.
		keyReachesServer bool
		cookie           string
		assertions       bool
		metricsOwnAddr   bool
		nearCache        bool
	}{
		{name: "default flags", keyReachesServer: true, cookie: "__Host-session"},
		{name: "identity assertions", args: []string{"--identity-assertion"}, keyReachesServer: true, cookie: "__Host-session", assertions: true},
		{name: "near cache over memory", storeArgs: []string{"--store", "memory://"}, args: []string{"--near-cache"}, cookie: "__Host-session", nearCache: true},
		{name: "metrics on their own listener", args: []string{}, keyReachesServer: true, cookie: "__Host-session", metricsOwnAddr: true},
		{name: "custom cookie name", args: []string{"--cookie-name", "shop_session"}, keyReachesServer: true, cookie: "shop_session"},
		{name: "near cache over redis", storeArgs: []string{"--store", "redis"}, keyReachesServer: true, cookie: "__Host-session", nearCache: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			storeArgs := slices.Clone(tc.storeArgs)
			if len(storeArgs) == 2 && storeArgs[1] == "redis" {
				storeArgs[1] = testserver.Redis(t).URL
			}
			environ := env(t)
			common := append([]string{"--data-dir", dataDir}, storeArgs...)
			key := createKey(t, environ, common...)
			args := append(slices.Clone(common), tc.args...)
			metricsURL := ""
			if tc.metricsOwnAddr {
				addr := testserver.Addr(testserver.FreePort(t))
				args = append(args, "--metrics-addr", addr)
				metricsURL = "http://" + addr + "/metrics"
			}
			d := serve(t, environ, args...)
			if metricsURL == "" {
				metricsURL = d.url + "/metrics"
			}
			r := &routeRun{t: t, d: d}
			if !tc.keyReachesServer {
				key = "" // no key the server knows
			}

			r.operational(metricsURL, tc.assertions, tc.nearCache)
			if tc.keyReachesServer {
				r.apiFlow(key, tc.cookie, tc.assertions)
				r.consoleFlow(key)
			} else {
				r.withoutKey(createKey(t, environ, common...))
			}
			r.spec(key)
			r.openAPI(key)

			if code := d.stop(); code != 0 {
				t.Errorf("exit %d after SIGTERM", code)
			}
			logs := d.stderr.String()
			for _, bad := range []string{"panic", `"level":"ERROR"`} {
				if strings.Contains(logs, bad) {
					t.Errorf("the log holds %q:\n%s", bad, logs)
				}
			}
			if key != "" && strings.Contains(logs, key) {
				t.Error("the API key was logged")
			}
		})
	}
}

// routeRun sends requests to one daemon and fails the test on any answer
// of 500 or more, or none at all.
type routeRun struct {
	t *testing.T
	d *daemon
}

// answer is a response read in full.
type answer struct {
	status int
	header http.Header
	body   string
}

// noRedirects is a client that shows each redirect to the test.
var noRedirects = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       30 * time.Second,
}

// send sends a request to the daemon (or to an absolute URL) and checks
// that it got an answer below 500. headers are name, value pairs.
func (r *routeRun) send(method, target, body string, headers ...string) answer {
	r.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = r.d.url + target
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		// A handler that panics makes net/http drop the connection.
		r.t.Errorf("%s %s: no answer (%v)", method, target, err)
		return answer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		r.t.Errorf("%s %s: %d %s", method, target, resp.StatusCode, b)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// want sends a request and checks its status.
func (r *routeRun) want(status int, method, target, body string, headers ...string) answer {
	r.t.Helper()
	a := r.send(method, target, body, headers...)
	if a.status != 0 && a.status != status {
		r.t.Errorf("%s %s: %d, want %d; %.300s", method, target, a.status, status, a.body)
	}
	return a
}

func bearer(key string) []string {
	if key == "" {
		return nil
	}
	return []string{"Authorization", "Bearer " + key}
}

// operational: the routes without an API key.
func (r *routeRun) operational(metricsURL string, assertions, nearCache bool) {
	r.t.Helper()
	r.want(200, "GET", "/healthz", "")
	r.want(200, "GET", "/readyz", "")
	doc := r.want(200, "GET", "/openapi.json", "")
	if !json.Valid([]byte(doc.body)) {
		r.t.Error("/openapi.json is not JSON")
	}
	r.want(200, "GET", "/v1/tokens/public-keys", "")
	if assertions {
		r.want(200, "GET", "/.well-known/jwks.json", "")
	} else {
		r.want(404, "GET", "/.well-known/jwks.json", "")
	}
	m := r.want(200, "GET", metricsURL, "")
	if !strings.Contains(m.body, "go_goroutines") || !strings.Contains(m.body, "sessiond_validations_total") {
		r.t.Errorf("GET %s lacks the Go or the API's metrics:\n%.500s", metricsURL, m.body)
	}
	if nearCache {
		// The cache is on once its subscription is live.
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(m.body, "\nsessiond_nearcache_healthy 1\n") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			m = r.want(200, "GET", metricsURL, "")
		}
		if !strings.Contains(m.body, "\nsessiond_nearcache_healthy 1\n") {
			r.t.Errorf("the near cache is not in use:\n%.2000s", m.body)
		}
	} else if strings.Contains(m.body, "sessiond_nearcache_") {
		r.t.Error("near-cache metrics without a near cache")
	}
	r.want(401, "GET", "/v1/auth", "")
}

// apiFlow walks a session's life through the JSON API and forward auth.
func (r *routeRun) apiFlow(key, cookie string, assertions bool) {
	r.t.Helper()
	t := r.t
	auth := bearer(key)
	created := r.want(201, "POST", "/v1/sessions", `{"user_id":"alice","data":{"cart":[1]},"client":{"ip":"198.51.100.4","user_agent":"curl/8"}}`, auth...)
	var c struct {
		Token   string `json:"token"`
		Session struct {
			ID       string `json:"id"`
			AuthTime string `json:"auth_time"`
		} `json:"session"`
	}
	if err := json.Unmarshal([]byte(created.body), &c); err != nil || c.Token == "" {
		t.Fatalf("create answered %q (%v)", created.body, err)
	}
	if len(c.Session.ID) != 22 {
		t.Errorf("session id %q: want the stable 22-character id", c.Session.ID)
	}
	id := c.Session.ID
	r.want(200, "POST", "/v1/sessions/validate", `{"token":"`+c.Token+`"}`, auth...)

	for _, credential := range [][]string{{"Cookie", cookie + "=" + c.Token}, {"Authorization", "Bearer " + c.Token}} {
		a := r.want(200, "GET", "/v1/auth", "", credential...)
		if a.header.Get("X-Session-Id") != id || a.header.Get("X-User-Id") != "alice" {
			t.Errorf("/v1/auth via %s: headers %v", credential[0], a.header)
		}
		if at, err := time.Parse(time.RFC3339, a.header.Get("X-Auth-Time")); err != nil || time.Since(at) > time.Minute {
			t.Errorf("X-Auth-Time %q", a.header.Get("X-Auth-Time"))
		}
		if got := a.header.Get("X-Identity-Token") != ""; got != assertions {
			t.Errorf("X-Identity-Token present %v, want %v", got, assertions)
		}
		r.want(200, "HEAD", "/v1/auth", "", credential...)
	}
	if cookie != "__Host-session" {
		r.want(401, "GET", "/v1/auth", "", "Cookie", "__Host-session="+c.Token)
	}

	r.want(200, "PATCH", "/v1/sessions/"+id+"/data", `{"theme":"dark"}`, append(auth, "Content-Type", "application/merge-patch+json")...)
	r.want(200, "GET", "/v1/sessions/"+id, "", auth...)
	rotated := r.want(200, "POST", "/v1/sessions/rotate", `{"token":"`+c.Token+`"}`, auth...)
	var rot struct {
		Token   string `json:"token"`
		Session struct {
			ID string `json:"id"`
		} `json:"session"`
	}
	json.Unmarshal([]byte(rotated.body), &rot)
	if rot.Session.ID != id || rot.Token == c.Token {
		t.Errorf("rotate: %s; want a new token for session %s", rotated.body, id)
	}
	r.want(401, "POST", "/v1/sessions/validate", `{"token":"`+c.Token+`"}`, auth...)
	r.want(200, "GET", "/v1/users/alice/sessions", "", auth...)
	r.want(200, "PUT", "/v1/users/alice", `{"status":"active","roles":["admin"]}`, auth...)
	r.want(200, "GET", "/v1/users/alice", "", auth...)
	if a := r.want(200, "GET", "/v1/auth", "", "Authorization", "Bearer "+rot.Token); a.header.Get("X-User-Roles") != "admin" {
		t.Errorf("X-User-Roles %q after the PUT", a.header.Get("X-User-Roles"))
	}

	issued := r.want(201, "POST", "/v1/tokens", `{"purpose":"download","subject":"f"}`, auth...)
	var tok struct {
		Token string `json:"token"`
	}
	json.Unmarshal([]byte(issued.body), &tok)
	r.want(200, "POST", "/v1/tokens/verify", `{"token":"`+tok.Token+`","purpose":"download"}`, auth...)
	r.want(409, "POST", "/v1/tokens/verify", `{"token":"`+tok.Token+`","purpose":"download"}`, auth...)

	other := r.want(201, "POST", "/v1/sessions", `{"user_id":"alice"}`, auth...)
	r.want(200, "DELETE", "/v1/users/alice/sessions?except="+id, "", auth...)
	r.want(204, "POST", "/v1/sessions/revoke", `{"token":"`+rot.Token+`"}`, auth...)
	r.want(404, "DELETE", "/v1/sessions/"+id, "", auth...)
	var o struct {
		Session struct {
			ID string `json:"id"`
		} `json:"session"`
	}
	json.Unmarshal([]byte(other.body), &o)
	r.want(404, "GET", "/v1/sessions/"+o.Session.ID, "", auth...) // revoked with the others
	third := r.want(201, "POST", "/v1/sessions", `{"user_id":"bob"}`, auth...)
	json.Unmarshal([]byte(third.body), &o)
	r.want(204, "DELETE", "/v1/sessions/"+o.Session.ID, "", auth...)
}

// consoleFlow signs in to the console with the API key and opens every
// page, then uses every form.
func (r *routeRun) consoleFlow(key string) {
	r.t.Helper()
	t := r.t
	// An application session of alice, for the console to show and revoke.
	created := r.want(201, "POST", "/v1/sessions", `{"user_id":"alice","client":{"ip":"198.51.100.4","user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}}`, bearer(key)...)
	var c struct {
		Session struct {
			ID string `json:"id"`
		} `json:"session"`
	}
	json.Unmarshal([]byte(created.body), &c)

	r.want(200, "GET", "/admin/login", "", "Accept", "text/html")
	r.want(303, "GET", "/admin/", "", "Accept", "text/html")
	r.want(401, "POST", "/admin/login", url.Values{"api_key": {"sk_wrong"}}.Encode(), form()...)
	login := r.want(303, "POST", "/admin/login", url.Values{"api_key": {key}}.Encode(), form()...)
	var admin string
	for _, ck := range (&http.Response{Header: login.header}).Cookies() {
		if ck.Name == "__Host-sessiond-admin" {
			admin = ck.Name + "=" + ck.Value
		}
	}
	if admin == "" {
		t.Fatalf("no admin cookie after signing in: %v", login.header)
	}
	page := func(status int, method, path string, values url.Values) answer {
		t.Helper()
		h := []string{"Accept", "text/html", "Cookie", admin}
		body := ""
		if values != nil {
			h = append(h, form()...)
			body = values.Encode()
		}
		return r.want(status, method, path, body, h...)
	}
	for _, path := range []string{"/admin/", "/admin/stats", "/admin/users/alice", "/admin/static/style.css"} {
		page(200, "GET", path, nil)
	}
	if a := page(200, "GET", "/admin/", nil); !strings.Contains(a.body, `id="validations"`) {
		t.Errorf("the dashboard lacks its counters:\n%.1000s", a.body)
	}
	page(303, "GET", "/admin/users?user=alice", nil)
	page(400, "GET", "/admin/users?user=", nil)
	page(404, "GET", "/admin/nowhere", nil)
	page(303, "POST", "/admin/users/alice/roles", url.Values{"roles": {"admin support"}})
	page(303, "POST", "/admin/users/alice/sessions/"+c.Session.ID+"/revoke", url.Values{})
	page(303, "POST", "/admin/users/alice/sessions/revoke-all", url.Values{})
	page(303, "POST", "/admin/users/alice/ban", url.Values{})
	page(303, "POST", "/admin/users/alice/unban", url.Values{})
	page(200, "GET", "/admin/users/alice?m=unbanned", nil)
	page(303, "POST", "/admin/logout", url.Values{})
	page(303, "GET", "/admin/", nil) // the old cookie is refused
}

// form is the headers of a form a browser posts from the console itself.
func form() []string {
	return []string{"Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html", "Sec-Fetch-Site", "same-origin"}
}

// withoutKey: the API and the console refuse a key the server does not
// know (4xx, not 5xx).
func (r *routeRun) withoutKey(unknownKey string) {
	r.t.Helper()
	r.want(401, "POST", "/v1/sessions", `{"user_id":"alice"}`, bearer(unknownKey)...)
	r.want(401, "POST", "/admin/login", url.Values{"api_key": {unknownKey}}.Encode(), form()...)
	r.want(200, "GET", "/admin/login", "", "Accept", "text/html")
	r.want(303, "GET", "/admin/", "", "Accept", "text/html")
}

// spec requests every route of the SPEC's API table, with bodies that the
// route may or may not take: whatever the answer, it is not a 5xx. (Some
// rows describe routes to come: they answer 404 or 405.)
func (r *routeRun) spec(key string) {
	r.t.Helper()
	const id = "AAAAAAAAAAAAAAAAAAAAAA"
	for _, rt := range []struct{ method, path, body string }{
		{"POST", "/v1/sessions", `{"user_id":"carol"}`},
		{"POST", "/v1/sessions", `{}`},
		{"POST", "/v1/sessions/validate", `{"token":"sess_x"}`},
		{"POST", "/v1/sessions/rotate", `{"token":"sess_x"}`},
		{"POST", "/v1/sessions/revoke", `{"token":"sess_x"}`},
		{"GET", "/v1/sessions/" + id, ""},
		{"DELETE", "/v1/sessions/" + id, ""},
		{"PATCH", "/v1/sessions/" + id + "/data", `{"a":1}`},
		{"GET", "/v1/users/carol/sessions?limit=10&include=data", ""},
		{"DELETE", "/v1/users/carol/sessions?except=" + id, ""},
		{"GET", "/v1/users/carol", ""},
		{"PUT", "/v1/users/carol", `{"status":"active","roles":[],"attributes":{}}`},
		{"PATCH", "/v1/users/carol", `{"roles":["x"]}`},
		{"GET", "/v1/users/carol/events", ""},
		{"POST", "/v1/sessions/login", `{"token":"sess_x","user_id":"carol"}`},
		{"GET", "/v1/auth", ""},
		{"POST", "/v1/tokens", `{"purpose":"p","subject":"s"}`},
		{"GET", "/v1/tokens/public-keys", ""},
		{"POST", "/v1/tokens/verify", `{"token":"v4.public.x","purpose":"p"}`},
		{"GET", "/healthz", ""},
		{"GET", "/readyz", ""},
	} {
		r.send(rt.method, rt.path, rt.body, bearer(key)...)
		r.send(rt.method, rt.path, rt.body)
	}
}

// openAPI requests every operation of the server's own /openapi.json, with
// and without the key.
func (r *routeRun) openAPI(key string) {
	r.t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(r.want(200, "GET", "/openapi.json", "").body), &doc); err != nil {
		r.t.Fatal(err)
	}
	fill := strings.NewReplacer("{id}", "AAAAAAAAAAAAAAAAAAAAAA", "{user_id}", "dave")
	n := 0
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "head", "post", "put", "patch", "delete":
			default:
				continue
			}
			n++
			target := fill.Replace(path)
			r.send(strings.ToUpper(method), target, "{}", bearer(key)...)
			r.send(strings.ToUpper(method), target, "{}")
		}
	}
	if n < 15 {
		r.t.Errorf("openapi.json has %d operations", n)
	}
}
