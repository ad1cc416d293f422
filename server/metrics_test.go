package server_test

import (
	"bufio"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/nearcache"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/server/apikey"
	"github.com/sessiond/sessiond/stores/memory"
)

// scrape answers GET /metrics, without an API key, as a scraper calls it.
func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	return w.Body.String()
}

// samples parses the text exposition format: series (name and labels, as
// printed) to value.
func samples(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func expectSample(t *testing.T, s map[string]float64, series string, want float64) {
	t.Helper()
	if got, ok := s[series]; !ok || got != want {
		t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
	}
}

// Real requests move the counters; the route label is the mux pattern,
// never the path; the Go and process collectors are there.
func TestMetricsCountRequests(t *testing.T) {
	store := memory.New()
	cache, err := nearcache.New(store, nearcache.Options{MaxStaleness: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cache.Close)
	// The server finds the cache in the manager: nothing else to wire.
	a := newAPI(t, store, store, sessiond.Config{Cache: cache})
	waitNearCache(t, a.h)

	alice := a.create("alice")
	a.create("alice")
	a.create("bob")
	expectStatus(t, a.validate(alice.Token), http.StatusOK)
	expectStatus(t, a.validate(alice.Token), http.StatusOK) // from the near cache
	expectStatus(t, a.validate("sess_forged"), http.StatusUnauthorized)
	expectStatus(t, a.do("POST", "/v1/sessions/revoke", mustJSON(t, map[string]string{"token": alice.Token})), http.StatusNoContent)
	expectStatus(t, a.do("DELETE", "/v1/users/alice/sessions", ""), http.StatusOK)                    // the other one
	expectStatus(t, a.do("PUT", "/v1/users/bob", `{"status":"banned"}`), http.StatusOK)               // bob's one
	expectStatus(t, a.do("DELETE", "/v1/sessions/"+strings.Repeat("0", 64), ""), http.StatusNotFound) // revokes nothing
	expectStatus(t, a.do("GET", "/nope", ""), http.StatusNotFound)
	expectStatus(t, a.do("POST", "/v1/sessions", `{`), http.StatusBadRequest)

	s := samples(t, scrape(t, a.h))
	expectSample(t, s, "sessiond_sessions_created_total", 3)
	expectSample(t, s, "sessiond_sessions_revoked_total", 3)
	expectSample(t, s, `sessiond_validations_total{result="valid"}`, 2)
	expectSample(t, s, `sessiond_validations_total{result="invalid"}`, 1)
	expectSample(t, s, `sessiond_validations_total{result="error"}`, 0)
	expectSample(t, s, "sessiond_rate_limited_total", 0)
	expectSample(t, s, `sessiond_http_requests_total{code="201",route="POST /v1/sessions"}`, 3)
	expectSample(t, s, `sessiond_http_requests_total{code="400",route="POST /v1/sessions"}`, 1)
	expectSample(t, s, `sessiond_http_requests_total{code="200",route="POST /v1/sessions/validate"}`, 2)
	expectSample(t, s, `sessiond_http_requests_total{code="401",route="POST /v1/sessions/validate"}`, 1)
	expectSample(t, s, `sessiond_http_requests_total{code="200",route="DELETE /v1/users/{user_id}/sessions"}`, 1)
	expectSample(t, s, `sessiond_http_requests_total{code="404",route="DELETE /v1/sessions/{id}"}`, 1)
	expectSample(t, s, `sessiond_http_requests_total{code="404",route="unmatched"}`, 1)
	expectSample(t, s, `sessiond_http_request_duration_seconds_count{route="POST /v1/sessions/validate"}`, 3)
	expectSample(t, s, `sessiond_nearcache_healthy`, 1)
	if s["sessiond_nearcache_hits_total"] < 1 || s["sessiond_nearcache_misses_total"] < 1 || s["sessiond_nearcache_invalidations_total"] < 1 {
		t.Errorf("near cache counters: hits %v misses %v invalidations %v",
			s["sessiond_nearcache_hits_total"], s["sessiond_nearcache_misses_total"], s["sessiond_nearcache_invalidations_total"])
	}
	if _, ok := s["sessiond_nearcache_flushes_total"]; !ok {
		t.Error("no sessiond_nearcache_flushes_total")
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := s[name]; !ok {
			t.Errorf("no %s: the Go and process collectors are missing", name)
		}
	}
	// A scrape is itself a request, counted like any other.
	const scrapes = `sessiond_http_requests_total{code="200",route="GET /metrics"}`
	expectSample(t, samples(t, scrape(t, a.h)), scrapes, s[scrapes]+1)
}

// waitNearCache waits until the near cache's subscription is live, so that
// what the test counts does not depend on when it came up.
func waitNearCache(t *testing.T, h http.Handler) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for samples(t, scrape(t, h))["sessiond_nearcache_healthy"] != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the near cache did not become healthy")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// No label value carries a token, an API key, a session id or a user id,
// whatever the paths and bodies held: only route patterns, status codes
// and fixed words.
func TestMetricsLabelsCarryNoIDs(t *testing.T) {
	a := newMemoryAPI(t)
	const user = "user-with-a-recognisable-id"
	c := a.create(user)
	a.validate(c.Token)
	a.validate(c.Token + "x")
	a.do("GET", "/v1/sessions/"+c.Session.ID, "")
	a.do("PATCH", "/v1/sessions/"+c.Session.ID+"/data", `{"k":1}`)
	a.do("GET", "/v1/users/"+user+"/sessions", "")
	a.do("GET", "/v1/users/"+user, "")
	a.do("DELETE", "/v1/users/"+user+"/sessions?except="+c.Session.ID, "")
	a.do("GET", "/v1/users/%FF", "")
	a.do("GET", "/"+user, "")
	a.do("POST", "/v1/sessions", `{"user_id":"bob"}`, withHeader("Authorization", "Bearer sk_"+user))

	text := scrape(t, a.h)
	for _, secret := range []string{c.Token, c.Session.ID, user, a.key, strings.TrimPrefix(a.key, "sk_"), "bob", "%FF", "\xff"} {
		if strings.Contains(text, secret) {
			t.Errorf("/metrics shows %q", secret)
		}
	}
	label := regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)
	route := regexp.MustCompile(`^(unmatched|[A-Z]+ /[a-z0-9/._{}-]*)$`)
	for series := range samples(t, text) {
		if !strings.HasPrefix(series, "sessiond_") {
			continue
		}
		for _, m := range label.FindAllStringSubmatch(series, -1) {
			ok := true
			switch m[1] {
			case "route":
				ok = route.MatchString(m[2])
			case "code":
				_, err := strconv.Atoi(m[2])
				ok = err == nil
			case "result":
				ok = m[2] == "valid" || m[2] == "invalid" || m[2] == "error"
			case "le":
			default:
				ok = false
			}
			if !ok {
				t.Errorf("label %s=%q in %s", m[1], m[2], series)
			}
		}
	}
}

// A store that cannot answer is counted by route, and a validation it
// fails is an "error", not an "invalid". The store is a real SQLite file,
// closed under the server's feet.
func TestMetricsStoreErrors(t *testing.T) {
	store := openSQLite(t)
	a := newAPI(t, store, memory.New(), sessiond.Config{})
	c := a.create("alice")
	store.Close()

	expectStatus(t, a.validate(c.Token), http.StatusServiceUnavailable)
	expectStatus(t, a.validate(c.Token), http.StatusServiceUnavailable)
	expectStatus(t, a.do("POST", "/v1/sessions", `{"user_id":"bob"}`), http.StatusServiceUnavailable)
	expectStatus(t, a.do("GET", "/readyz", ""), http.StatusServiceUnavailable)
	expectStatus(t, a.validate("sess_forged"), http.StatusUnauthorized) // refused without the store

	s := samples(t, scrape(t, a.h))
	expectSample(t, s, `sessiond_store_errors_total{route="POST /v1/sessions/validate"}`, 2)
	expectSample(t, s, `sessiond_store_errors_total{route="POST /v1/sessions"}`, 1)
	expectSample(t, s, `sessiond_store_errors_total{route="GET /readyz"}`, 1)
	expectSample(t, s, `sessiond_validations_total{result="error"}`, 2)
	expectSample(t, s, `sessiond_validations_total{result="invalid"}`, 1)
	expectSample(t, s, "sessiond_sessions_created_total", 1)
}

// Each server has its own registry: several servers live in one process,
// and one's requests are not counted by another.
func TestMetricsPerServer(t *testing.T) {
	a, b := newMemoryAPI(t), newMemoryAPI(t)
	a.create("alice")
	expectSample(t, samples(t, scrape(t, a.h)), "sessiond_sessions_created_total", 1)
	expectSample(t, samples(t, scrape(t, b.h)), "sessiond_sessions_created_total", 0)
}

// With Options.Metrics the caller serves the registry (on an internal
// listener): GET /metrics is not on the API.
func TestMetricsOnSeparateRegistry(t *testing.T) {
	store := memory.New()
	key, rec := apikey.New("test", time.Now())
	if err := store.CreateAPIKey(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	reg := server.NewRegistry()
	h := server.New(server.Options{Manager: sessiond.NewManager(store, newKeyring(t), sessiond.Config{}), APIKeys: store, Metrics: reg, Logger: slog.New(slog.DiscardHandler)})

	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/v1/sessions", strings.NewReader(`{"user_id":"alice"}`))
	r.Header.Set("Authorization", "Bearer "+key)
	h.ServeHTTP(w, r)
	expectStatus(t, w, http.StatusCreated)

	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	expectError(t, w, http.StatusNotFound, sessiond.ErrNotFound.Code)

	s := samples(t, scrape(t, server.MetricsHandler(reg)))
	expectSample(t, s, "sessiond_sessions_created_total", 1)
	if _, ok := s["go_goroutines"]; !ok {
		t.Error("NewRegistry has no Go collector")
	}
}
