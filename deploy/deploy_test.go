// The shipped reverse-proxy configurations, run for real: nginx and Caddy
// from the machine, with deploy/nginx.conf and deploy/Caddyfile as shipped
// but for their addresses, in front of sessiond (in process, over a SQLite
// file) and a test application that echoes the identity headers it gets.
package deploy_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testserver"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/server/apikey"
	"github.com/sessiond/sessiond/server/assertion"
	"github.com/sessiond/sessiond/stores/sqlite"
)

// The addresses in the shipped files, replaced by free ports in the tests.
const (
	shippedSessiond = "127.0.0.1:7070"
	shippedApp      = "127.0.0.1:8080"
	shippedNginx    = "127.0.0.1:8000"
	shippedCaddy    = "127.0.0.1:8001"
)

// identityHeaders are what the proxy sets from sessiond's answer, and what
// a client must never be able to set itself.
var identityHeaders = []string{"X-Session-Id", "X-User-Id", "X-User-Roles", "X-Auth-Time", "X-Identity-Token"}

// proxy starts one reverse proxy with its shipped configuration.
type proxy struct {
	name   string
	file   string
	listen string // the shipped listen address
	start  func(t testing.TB, config, addr string)
}

var proxies = []proxy{
	{"nginx", "nginx.conf", shippedNginx, testserver.Nginx},
	{"caddy", "Caddyfile", shippedCaddy, testserver.Caddy},
}

// rig is one proxy in front of sessiond and the application.
type rig struct {
	t        testing.TB
	store    *sqlite.Store
	apiKey   string
	sessiond *http.Server
	api      string // sessiond's base URL, for management calls
	handler  atomic.Pointer[http.Handler]
	plain    http.Handler // without identity assertions
	asserted http.Handler // with them
	app      *app
	url      string // the proxy's base URL
}

// newRig starts sessiond, the application and p. Failed tokens are
// limited to a burst of burst per client address (clients are told apart
// by their loopback source address, see client).
func newRig(t testing.TB, p proxy, burst int) *rig {
	t.Helper()
	r := &rig{t: t, app: newApp(t)}
	var err error
	r.store, err = sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sessiond.db"), sqlite.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.store.Close() })
	keys, err := sessiond.NewKeyring([]byte("deploy-test-secret-of-32-bytes!!"))
	if err != nil {
		t.Fatal(err)
	}
	m := sessiond.NewManager(r.store, keys, sessiond.Config{})
	key, rec := apikey.New("deploy-test", time.Now())
	if err := r.store.CreateAPIKey(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	r.apiKey = key
	_, priv, _ := ed25519.GenerateKey(nil)
	signer, err := assertion.NewSigner(assertion.Options{}, priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Options{
		Manager:          m,
		APIKeys:          r.store,
		Logger:           slog.New(slog.DiscardHandler),
		TrustedProxies:   []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, // as the shipped files say
		AuthFailureRate:  0.01,
		AuthFailureBurst: burst,
	}
	r.plain = server.New(cfg)
	cfg.Assertions = signer
	r.asserted = server.New(cfg)
	r.useAssertions(false)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.api = "http://" + ln.Addr().String()
	r.sessiond = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		(*r.handler.Load()).ServeHTTP(w, req)
	})}
	go r.sessiond.Serve(ln)
	t.Cleanup(func() { r.sessiond.Close() })

	shipped, err := os.ReadFile(p.file)
	if err != nil {
		t.Fatal(err)
	}
	addr := testserver.Addr(testserver.FreePort(t))
	config := string(shipped)
	for from, to := range map[string]string{shippedSessiond: ln.Addr().String(), shippedApp: r.app.addr, p.listen: addr} {
		if !strings.Contains(config, from) {
			t.Fatalf("the shipped %s no longer mentions %s", p.file, from)
		}
		config = strings.ReplaceAll(config, from, to)
	}
	p.start(t, config, addr)
	r.url = "http://" + addr
	return r
}

// useAssertions switches sessiond between answering with and without
// X-Identity-Token, over the same sessions.
func (r *rig) useAssertions(on bool) {
	h := r.plain
	if on {
		h = r.asserted
	}
	r.handler.Store(&h)
}

// call makes a management API call to sessiond directly.
func (r *rig) call(method, path, body string) string {
	r.t.Helper()
	req, _ := http.NewRequest(method, r.api+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+r.apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		r.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return string(b)
}

// login creates a session for user with roles and returns its token.
func (r *rig) login(user string, roles ...string) (token, sessionID string) {
	r.t.Helper()
	if roles == nil {
		roles = []string{}
	}
	body, _ := json.Marshal(map[string]any{"status": "active", "roles": roles})
	r.call("PUT", "/v1/users/"+user, string(body))
	var c struct {
		Token   string
		Session struct{ ID string }
	}
	json.Unmarshal([]byte(r.call("POST", "/v1/sessions", `{"user_id":"`+user+`"}`)), &c)
	return c.Token, c.Session.ID
}

// client sends requests from its own loopback address (127.0.0.n), so
// that the rate limit, which counts per client address, tells tests apart.
type client struct {
	t    testing.TB
	http *http.Client
}

func newClient(t testing.TB, n int) *client {
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(n))}
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: local}).DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{t, &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// echo is what the application answers: the identity headers it got,
// keyed as sent (nil when absent), and every header whose name could be
// mistaken for one of them (X_User_Id becomes HTTP_X_USER_ID in CGI).
type echo struct {
	Method  string
	Headers map[string][]string
	Lookups []string
}

type answer struct {
	status int
	header http.Header
	body   []byte
	echo   *echo // when the application answered
}

func (c *client) do(method, url string, header ...string) answer {
	c.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(map[bool]string{true: "a body", false: ""}[method == "POST"]))
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	a.body, _ = io.ReadAll(resp.Body)
	if resp.Header.Get("X-Test-App") != "" {
		a.echo = &echo{}
		if method == "HEAD" {
			json.Unmarshal([]byte(resp.Header.Get("X-Test-Echo")), a.echo)
		} else if err := json.Unmarshal(a.body, a.echo); err != nil {
			c.t.Fatalf("echo %q: %v", a.body, err)
		}
	}
	return a
}

// app is the guarded application: it echoes the identity headers it
// received and counts its calls.
type app struct {
	addr  string
	calls atomic.Int64
}

func newApp(t testing.TB) *app {
	a := &app{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.addr = ln.Addr().String()
	srv := &http.Server{Handler: a}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return a
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.calls.Add(1)
	e := echo{Method: r.Method, Headers: map[string][]string{}}
	for _, h := range identityHeaders {
		e.Headers[h] = r.Header.Values(h)
	}
	for name := range r.Header {
		for _, h := range identityHeaders {
			if http.CanonicalHeaderKey(name) != h && strings.EqualFold(strings.ReplaceAll(name, "_", "-"), h) {
				e.Lookups = append(e.Lookups, name)
			}
		}
	}
	b, _ := json.Marshal(e)
	w.Header().Set("X-Test-App", "1")
	w.Header().Set("X-Test-Echo", string(b))
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// expectForwarded checks that the application got the request with
// exactly these identity headers. "None" may arrive as an empty header or
// as no header at all (proxies differ; both mean none), but never as what
// the client sent.
func expectForwarded(t testing.TB, a answer, sessionID, userID, roles string, withAssertion bool) {
	t.Helper()
	if a.status != http.StatusOK || a.echo == nil {
		t.Fatalf("status %d, application reached: %v; body %s", a.status, a.echo != nil, a.body)
	}
	one := func(h, want string) {
		got := a.echo.Headers[h]
		if want == "" && (len(got) == 0 || len(got) == 1 && got[0] == "") {
			return
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	one("X-Session-Id", sessionID)
	one("X-User-Id", userID)
	one("X-User-Roles", roles)
	if got := a.echo.Headers["X-Identity-Token"]; withAssertion != (len(got) == 1 && got[0] != "") || len(got) > 1 {
		t.Errorf("X-Identity-Token %q; want one assertion: %v", got, withAssertion)
	}
	if len(a.echo.Lookups) > 0 {
		t.Errorf("headers that CGI-style applications read as identity headers reached the application: %q", a.echo.Lookups)
	}
}

// expectRefused checks a refusal that never reached the application.
func expectRefused(t testing.TB, r *rig, a answer, status int, callsBefore int64) {
	t.Helper()
	if a.status != status {
		t.Errorf("status %d, want %d; body %s", a.status, status, a.body)
	}
	if a.echo != nil || r.app.calls.Load() != callsBefore {
		t.Errorf("the application was called")
	}
}

// spoofs are identity headers a client sends hoping the application
// believes them, in every spelling a proxy or framework might fold.
var spoofs = []string{
	"X-User-Id", "admin",
	"X-User-Roles", "admin",
	"X-Session-Id", strings.Repeat("0", 64),
	"X-Identity-Token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.",
	"x-user-roles", "root",
	"X_User_Roles", "admin",
	"X_User_Id", "admin",
	"X-User-Id", "second", // a second header line of the same name
}

func TestProxies(t *testing.T) {
	for _, p := range proxies {
		t.Run(p.name, func(t *testing.T) { testProxy(t, p) })
	}
}

func testProxy(t *testing.T, p proxy) {
	const burst = 5
	r := newRig(t, p, burst)
	alice, aliceID := r.login("alice", "admin", "staff")
	bob, bobID := r.login("bob")
	page := r.url + "/account?x=1"
	c := newClient(t, 2)

	t.Run("valid cookie", func(t *testing.T) {
		expectForwarded(t, c.do("GET", page, "Cookie", "__Host-session="+alice), aliceID, "alice", "admin,staff", false)
	})
	t.Run("valid bearer", func(t *testing.T) {
		expectForwarded(t, c.do("GET", page, "Authorization", "Bearer "+alice), aliceID, "alice", "admin,staff", false)
	})
	t.Run("other methods", func(t *testing.T) {
		for _, m := range []string{"POST", "DELETE", "HEAD"} {
			a := c.do(m, page, "Cookie", "__Host-session="+alice)
			expectForwarded(t, a, aliceID, "alice", "admin,staff", false)
			if a.echo.Method != m {
				t.Errorf("%s arrived as %s", m, a.echo.Method)
			}
		}
	})
	t.Run("user without roles", func(t *testing.T) {
		expectForwarded(t, c.do("GET", page, "Cookie", "__Host-session="+bob), bobID, "bob", "", false)
	})

	t.Run("spoofed headers with a valid session", func(t *testing.T) {
		a := c.do("GET", page, append([]string{"Cookie", "__Host-session=" + bob}, spoofs...)...)
		expectForwarded(t, a, bobID, "bob", "", false)
	})
	t.Run("spoofed headers without a session", func(t *testing.T) {
		calls := r.app.calls.Load()
		expectRefused(t, r, c.do("GET", page, spoofs...), http.StatusUnauthorized, calls)
	})

	t.Run("refusals", func(t *testing.T) {
		revoked, _ := r.login("carol")
		r.call("POST", "/v1/sessions/revoke", `{"token":"`+revoked+`"}`)
		banned, _ := r.login("mallory", "admin")
		r.call("PUT", "/v1/users/mallory", `{"status":"banned"}`)
		// One character of the tag changed: the right key id and shape,
		// the wrong signature.
		i := len(alice) - 6
		forged := alice[:i] + map[bool]string{true: "B", false: "A"}[alice[i] == 'A'] + alice[i+1:]
		c := newClient(t, 3)
		for name, credential := range map[string][]string{
			"missing":        nil,
			"empty cookie":   {"Cookie", "__Host-session="},
			"forged cookie":  {"Cookie", "__Host-session=" + forged},
			"revoked cookie": {"Cookie", "__Host-session=" + revoked},
			"banned cookie":  {"Cookie", "__Host-session=" + banned},
			"forged bearer":  {"Authorization", "Bearer " + forged},
			"wrong cookie":   {"Cookie", "session=" + alice},
		} {
			calls := r.app.calls.Load()
			a := c.do("GET", page, credential...)
			expectRefused(t, r, a, http.StatusUnauthorized, calls)
			bearer := len(credential) > 0 && credential[0] == "Authorization"
			if got := a.header.Get("WWW-Authenticate"); bearer != strings.HasPrefix(got, "Bearer") {
				t.Errorf("%s: WWW-Authenticate %q", name, got)
			}
		}
	})

	t.Run("role change and ban seen at once", func(t *testing.T) {
		token, id := r.login("dave", "viewer")
		expectForwarded(t, c.do("GET", page, "Cookie", "__Host-session="+token), id, "dave", "viewer", false)
		r.call("PUT", "/v1/users/dave", `{"status":"active","roles":["editor"]}`)
		expectForwarded(t, c.do("GET", page, "Cookie", "__Host-session="+token), id, "dave", "editor", false)
		r.call("PUT", "/v1/users/dave", `{"status":"banned"}`)
		calls := r.app.calls.Load()
		expectRefused(t, r, c.do("GET", page, "Cookie", "__Host-session="+token), http.StatusUnauthorized, calls)
	})

	t.Run("identity assertion", func(t *testing.T) {
		r.useAssertions(true)
		defer r.useAssertions(false)
		a := c.do("GET", page, append([]string{"Cookie", "__Host-session=" + alice}, spoofs...)...)
		expectForwarded(t, a, aliceID, "alice", "admin,staff", true)
		got := a.echo.Headers["X-Identity-Token"]
		if t.Failed() {
			return
		}
		// Verified as an upstream would: another JOSE library, the JWKS
		// fetched from sessiond.
		resp, err := http.Get(r.api + "/.well-known/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		set, err := jwk.Parse(body)
		if err != nil {
			t.Fatalf("JWKS %s: %v", body, err)
		}
		tok, err := jwt.Parse([]byte(got[0]), jwt.WithKeySet(set, jws.WithRequireKid(true)), jwt.WithAudience("upstream"), jwt.WithIssuer("sessiond"), jwt.WithValidate(true))
		if err != nil {
			t.Fatalf("the application cannot verify X-Identity-Token: %v", err)
		}
		sub, _ := tok.Subject()
		var sid string
		var roles []any
		tok.Get("sid", &sid)
		tok.Get("roles", &roles)
		if sub != "alice" || sid != aliceID || len(roles) != 2 || roles[0] != "admin" || roles[1] != "staff" {
			t.Errorf("assertion sub %q sid %q roles %v", sub, sid, roles)
		}
	})

	t.Run("rate limit per client behind the proxy", func(t *testing.T) {
		attacker, neighbour := newClient(t, 4), newClient(t, 5)
		for range burst {
			attacker.do("GET", page, "Authorization", "Bearer sess_guess")
		}
		calls := r.app.calls.Load()
		a := attacker.do("GET", page, "Cookie", "__Host-session="+alice)
		expectRefused(t, r, a, http.StatusTooManyRequests, calls)
		if a.header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After: %v", a.header)
		}
		expectForwarded(t, neighbour.do("GET", page, "Cookie", "__Host-session="+alice), aliceID, "alice", "admin,staff", false)
	})

	t.Run("store down fails closed", func(t *testing.T) {
		r.store.Close()
		calls := r.app.calls.Load()
		expectRefused(t, r, c.do("GET", page, "Cookie", "__Host-session="+alice), http.StatusServiceUnavailable, calls)
	})

	t.Run("sessiond down fails closed", func(t *testing.T) {
		r.sessiond.Close()
		calls := r.app.calls.Load()
		a := c.do("GET", page, "Cookie", "__Host-session="+alice)
		// nginx answers 500, Caddy 502: any 5xx is closed.
		if a.status < 500 || a.echo != nil || r.app.calls.Load() != calls {
			t.Errorf("status %d, application called: %v", a.status, a.echo != nil)
		}
	})
}
