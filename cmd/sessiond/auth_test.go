package main_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"aidanwoods.dev/go-paseto"
)

// get sends a GET with optional headers and returns the response, body
// read and closed.
func (d *daemon) get(path string, header ...string) (*http.Response, string) {
	d.t.Helper()
	req, err := http.NewRequest("GET", d.url+path, nil)
	if err != nil {
		d.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		d.t.Fatal(err)
	}
	return resp, string(b)
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// serve wires forward auth, identity assertions and one-time tokens; the
// signing keys are generated into the data directory on first start, 0600,
// and reused after a restart.
func TestServeAuthAndTokens(t *testing.T) {
	dataDir := t.TempDir()
	environ := env(t)
	key := createKey(t, environ, "--data-dir", dataDir)
	d := serve(t, environ, "--data-dir", dataDir, "--identity-assertion", "--assertion-audience", "shop", "--cookie-name", "sid")
	for _, f := range []string{"paseto.key", "assertion.key"} {
		if m := mode(t, filepath.Join(dataDir, f)); m != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, m)
		}
	}
	c := createSession(t, d, key, "alice")
	resp, _ := d.get("/v1/auth", "Cookie", "sid="+c.Token)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-User-Id") != "alice" || resp.Header.Get("X-Identity-Token") == "" {
		t.Fatalf("/v1/auth: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := d.get("/v1/auth", "Authorization", "Bearer "+c.Token); resp.StatusCode != http.StatusOK {
		t.Errorf("/v1/auth with a bearer token: %d", resp.StatusCode)
	}
	if resp, body := d.get("/.well-known/jwks.json"); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"crv":"Ed25519"`) {
		t.Errorf("jwks: %d %s", resp.StatusCode, body)
	}
	jwks1 := readJWKS(t, d)

	status, body := d.call("POST", "/v1/tokens", key, `{"purpose":"download","subject":"f","single_use":false}`)
	if status != http.StatusCreated {
		t.Fatalf("issue: %d %s", status, body)
	}
	var tok struct{ Token string }
	json.Unmarshal([]byte(body), &tok)
	_, keys1 := d.get("/v1/tokens/public-keys")
	d.stop()

	d = serve(t, environ, "--data-dir", dataDir, "--identity-assertion", "--assertion-audience", "shop")
	if status, body := d.call("POST", "/v1/tokens/verify", key, `{"token":"`+tok.Token+`","purpose":"download"}`); status != http.StatusOK {
		t.Errorf("a token from before the restart: %d %s", status, body)
	}
	if _, keys2 := d.get("/v1/tokens/public-keys"); keys2 != keys1 {
		t.Errorf("token keys changed across a restart: %s / %s", keys1, keys2)
	}
	if jwks2 := readJWKS(t, d); jwks2 != jwks1 {
		t.Errorf("assertion keys changed across a restart: %s / %s", jwks1, jwks2)
	}
	if strings.Contains(d.stderr.String(), tok.Token) || strings.Contains(d.stderr.String(), c.Token) {
		t.Error("a token was logged")
	}
	d.stop()
}

func readJWKS(t *testing.T, d *daemon) string {
	t.Helper()
	_, body := d.get("/.well-known/jwks.json")
	return body
}

// $SESSIOND_TOKEN_KEY and $SESSIOND_ASSERTION_KEY set the keys, current
// first; nothing is generated; a bad key stops the start without being
// printed.
func TestSigningKeysFromEnv(t *testing.T) {
	dataDir := t.TempDir()
	environ := env(t)
	tokenSeed := strings.Repeat("11", 32)
	assertionSeed := make([]byte, 32)
	assertionSeed[0] = 7
	tokenEnv := "SESSIOND_TOKEN_KEY=" + tokenSeed + "," + strings.Repeat("22", 32)
	assertionEnv := "SESSIOND_ASSERTION_KEY=" + base64.StdEncoding.EncodeToString(assertionSeed)

	d := serve(t, append(environ, tokenEnv, assertionEnv), "--data-dir", dataDir, "--identity-assertion")
	_, keys := d.get("/v1/tokens/public-keys")
	want, _ := paseto.NewV4AsymmetricSecretKeyFromSeed(tokenSeed)
	wantPASERK := "k4.public." + base64.RawURLEncoding.EncodeToString(want.Public().ExportBytes())
	if strings.Count(keys, "k4.public.") != 2 || !strings.Contains(keys, wantPASERK) || strings.Index(keys, wantPASERK) > strings.LastIndex(keys, "k4.public.") {
		t.Errorf("public keys %s: want two, %s first", keys, wantPASERK)
	}
	pub := ed25519.NewKeyFromSeed(assertionSeed).Public().(ed25519.PublicKey)
	if jwks := readJWKS(t, d); !strings.Contains(jwks, base64.RawURLEncoding.EncodeToString(pub)) {
		t.Errorf("JWKS %s lacks the key of $SESSIOND_ASSERTION_KEY", jwks)
	}
	d.stop()
	for _, f := range []string{"paseto.key", "assertion.key"} {
		if _, err := os.Stat(filepath.Join(dataDir, f)); !os.IsNotExist(err) {
			t.Errorf("%s generated although the key was given: %v", f, err)
		}
	}

	secret := hex.EncodeToString([]byte("0123456789abcdef")) // 16 bytes: too short
	for name, extra := range map[string][]string{
		"short token key":     {"SESSIOND_TOKEN_KEY=" + secret},
		"token key not hex":   {"SESSIOND_TOKEN_KEY=" + strings.Repeat("zz", 32)},
		"assertion key short": {"SESSIOND_ASSERTION_KEY=" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))},
		"no key in the list":  {"SESSIOND_TOKEN_KEY=,"},
	} {
		r := sessiond(t, append(environ, extra...), "serve", "--data-dir", dataDir, "--identity-assertion", "--addr", "127.0.0.1:0")
		if r.code != 1 || !strings.Contains(r.stderr, `"level":"ERROR"`) {
			t.Errorf("%s: exit %d\n%s", name, r.code, r.stderr)
		}
		value := strings.SplitN(extra[0], "=", 2)[1]
		if len(value) > 2 && strings.Contains(r.stderr, value) {
			t.Errorf("%s: the key was printed:\n%s", name, r.stderr)
		}
	}
}

// The near cache is used where the store can invalidate it (the memory
// store can; SQLite cannot), and can be turned off.
func TestNearCacheFlag(t *testing.T) {
	dataDir := t.TempDir()
	for _, c := range []struct {
		extra []string
		args  []string
		want  string
	}{
		{[]string{"SESSIOND_STORE=memory://"}, nil, `"msg":"near cache on","max_staleness":"1s"`},
		{[]string{"SESSIOND_STORE=memory://"}, []string{"--near-cache-max-staleness", "250ms"}, `"msg":"near cache on","max_staleness":"250ms"`},
		{[]string{"SESSIOND_STORE=memory://", "SESSIOND_NEAR_CACHE=false"}, nil, `"msg":"near cache off"`},
		{nil, nil, `"msg":"near cache off: the store announces no invalidations"`},
	} {
		d := serve(t, env(t, c.extra...), append([]string{"--data-dir", dataDir}, c.args...)...)
		d.stop()
		if !strings.Contains(d.stderr.String(), c.want) {
			t.Errorf("%v %v: log lacks %s:\n%s", c.extra, c.args, c.want, d.stderr)
		}
	}
}

func TestServeHelpListsAuthFlags(t *testing.T) {
	r := sessiond(t, env(t), "serve", "--help")
	for _, f := range []string{"near-cache", "near-cache-max-staleness", "trusted-proxies", "auth-failure-rate", "auth-failure-burst", "identity-assertion", "assertion-audience", "assertion-ttl"} {
		env := "$SESSIOND_" + strings.ToUpper(strings.ReplaceAll(f, "-", "_"))
		if !strings.Contains(r.stderr, "-"+f) || !strings.Contains(r.stderr, env) {
			t.Errorf("help lacks --%s or %s", f, env)
		}
	}
	for _, v := range []string{"SESSIOND_TOKEN_KEY", "SESSIOND_ASSERTION_KEY"} {
		if !strings.Contains(r.stderr, v) {
			t.Errorf("help does not mention %s", v)
		}
	}
}

func TestAuthFlagUsageErrors(t *testing.T) {
	environ := env(t)
	for name, args := range map[string][]string{
		"assertion ttl over 60s":   {"--assertion-ttl", "61s"},
		"assertion ttl under 1s":   {"--assertion-ttl", "500ms"},
		"empty audience":           {"--assertion-audience", ""},
		"bad trusted proxy":        {"--trusted-proxies", "10.0.0.0/8,proxy.example"},
		"zoned trusted proxy":      {"--trusted-proxies", "fe80::1%eth0"},
		"zero burst":               {"--auth-failure-burst", "0"},
		"zero rate":                {"--auth-failure-rate", "0"},
		"NaN rate":                 {"--auth-failure-rate", "NaN"},
		"zero staleness":           {"--near-cache-max-staleness", "0s"},
		"identity assertion value": {"--identity-assertion=maybe"},
	} {
		t.Run(name, func(t *testing.T) {
			r := sessiond(t, environ, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, "usage: sessiond") {
				t.Errorf("exit %d\n%s", r.code, r.stderr)
			}
		})
	}
	if r := sessiond(t, append(environ, "SESSIOND_TRUSTED_PROXIES=nonsense"), "serve"); r.code != 2 || !strings.Contains(r.stderr, "SESSIOND_TRUSTED_PROXIES") {
		t.Errorf("bad env: exit %d\n%s", r.code, r.stderr)
	}
}

// --trusted-proxies (here from the environment) makes /v1/auth count
// failures under the X-Forwarded-For client, not the proxy.
func TestTrustedProxiesFlag(t *testing.T) {
	dataDir := t.TempDir()
	environ := env(t, "SESSIOND_TRUSTED_PROXIES=127.0.0.1/32")
	key := createKey(t, environ, "--data-dir", dataDir)
	d := serve(t, environ, "--data-dir", dataDir, "--auth-failure-burst", "1", "--auth-failure-rate", "0.01")
	c := createSession(t, d, key, "alice")
	d.get("/v1/auth", "Authorization", "Bearer sess_forged", "X-Forwarded-For", "198.51.100.7")
	if resp, _ := d.get("/v1/auth", "Authorization", "Bearer "+c.Token, "X-Forwarded-For", "198.51.100.7"); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("the blocked client: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := d.get("/v1/auth", "Authorization", "Bearer "+c.Token, "X-Forwarded-For", "198.51.100.8"); resp.StatusCode != http.StatusOK {
		t.Errorf("another client behind the same proxy: %d", resp.StatusCode)
	}
	d.stop()
}
