package server_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"aidanwoods.dev/go-paseto"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/server/onetime"
	"github.com/sessiond/sessiond/stores/memory"
)

// newTokensAPI serves the API with one-time tokens over a memory store,
// which also records redeemed single-use tokens.
func newTokensAPI(t *testing.T) *api {
	t.Helper()
	store := memory.New()
	issuer, err := onetime.NewIssuer(store, paseto.NewV4AsymmetricSecretKey())
	if err != nil {
		t.Fatal(err)
	}
	return newConfiguredAPI(t, store, server.Options{Tokens: issuer})
}

type issued struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

type redeemed struct {
	Subject   string         `json:"subject"`
	Claims    map[string]any `json:"claims"`
	Purpose   string         `json:"purpose"`
	Audience  string         `json:"audience"`
	ExpiresAt time.Time      `json:"expires_at"`
}

func (a *api) issue(body string) issued {
	a.t.Helper()
	w := a.do("POST", "/v1/tokens", body)
	expectStatus(a.t, w, http.StatusCreated)
	return decodeAs[issued](a.t, w)
}

func (a *api) verify(token, purpose, audience string) *httptest.ResponseRecorder {
	a.t.Helper()
	return a.do("POST", "/v1/tokens/verify", mustJSON(a.t, map[string]string{"token": token, "purpose": purpose, "audience": audience}))
}

func TestOneTimeToken(t *testing.T) {
	a := newTokensAPI(t)
	before := time.Now()
	tok := a.issue(`{"purpose":"password-reset","subject":"alice","claims":{"email":"alice@example.com"}}`)
	if !strings.HasPrefix(tok.Token, "v4.public.") {
		t.Fatalf("token %q", tok.Token)
	}
	if d := tok.ExpiresAt.Sub(before); d < 4*time.Minute || d > 5*time.Minute+time.Second {
		t.Errorf("expires in %v, want the 5 min default", d)
	}
	t.Logf("one-time token with claims {\"email\":\"alice@example.com\"}: %d bytes", len(tok.Token))

	w := a.verify(tok.Token, "password-reset", "")
	expectStatus(t, w, http.StatusOK)
	r := decodeAs[redeemed](t, w)
	if r.Subject != "alice" || r.Claims["email"] != "alice@example.com" || r.Purpose != "password-reset" || !r.ExpiresAt.Equal(tok.ExpiresAt) {
		t.Errorf("redeemed %+v", r)
	}
	// Single-use unless told otherwise: the second redemption is refused.
	expectError(t, a.verify(tok.Token, "password-reset", ""), http.StatusConflict, onetime.CodeTokenUsed)
}

func TestOneTimeTokenReusable(t *testing.T) {
	a := newTokensAPI(t)
	tok := a.issue(`{"purpose":"download","subject":"file-42","audience":"files.example","ttl":"1h","single_use":false}`)
	if d := time.Until(tok.ExpiresAt); d < 59*time.Minute || d > time.Hour+time.Second {
		t.Errorf("expires in %v, want 1h", d)
	}
	for range 2 {
		w := a.verify(tok.Token, "download", "files.example")
		expectStatus(t, w, http.StatusOK)
		if r := decodeAs[redeemed](t, w); r.Subject != "file-42" || r.Audience != "files.example" || len(r.Claims) != 0 {
			t.Errorf("redeemed %+v", r)
		}
	}
	// Bound to its purpose and audience.
	for _, c := range []struct{ purpose, audience string }{{"password-reset", "files.example"}, {"download", "other.example"}, {"download", ""}} {
		expectError(t, a.verify(tok.Token, c.purpose, c.audience), http.StatusUnauthorized, onetime.CodeTokenInvalid)
	}
}

// A wrong-purpose attempt does not use up a single-use token.
func TestOneTimeTokenWrongPurposeDoesNotRedeem(t *testing.T) {
	a := newTokensAPI(t)
	tok := a.issue(`{"purpose":"email-verify","subject":"alice"}`)
	expectError(t, a.verify(tok.Token, "password-reset", ""), http.StatusUnauthorized, onetime.CodeTokenInvalid)
	expectStatus(t, a.verify(tok.Token, "email-verify", ""), http.StatusOK)
}

func TestOneTimeTokenExpired(t *testing.T) {
	a := newTokensAPI(t)
	tok := a.issue(`{"purpose":"p","subject":"s","ttl":"1s"}`)
	time.Sleep(time.Until(tok.ExpiresAt) + 50*time.Millisecond)
	expectError(t, a.verify(tok.Token, "p", ""), http.StatusUnauthorized, onetime.CodeTokenExpired)
}

// Of concurrent redemptions of one single-use token, exactly one wins.
func TestOneTimeTokenConcurrentRedemption(t *testing.T) {
	a := newTokensAPI(t)
	tok := a.issue(`{"purpose":"p","subject":"s"}`)
	const n = 16
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { codes <- a.verify(tok.Token, "p", "").Code })
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[http.StatusOK] != 1 || count[http.StatusConflict] != n-1 {
		t.Errorf("statuses %v: want one 200 and %d 409", count, n-1)
	}
}

func TestOneTimeTokenRefusals(t *testing.T) {
	a := newTokensAPI(t)
	tok := a.issue(`{"purpose":"p","subject":"s"}`)
	other := newTokensAPI(t).issue(`{"purpose":"p","subject":"s"}`)
	body := strings.Split(tok.Token, ".")[2]
	for name, token := range map[string]string{
		"empty":           "",
		"garbage":         "not-a-token",
		"another issuer":  other.Token,
		"tampered":        "v4.public." + strings.Map(func(r rune) rune { return map[bool]rune{true: 'B', false: 'A'}[r == 'A'] }, body[:8]) + body[8:],
		"v4.local":        "v4.local." + body,
		"oversized":       "v4.public." + strings.Repeat("A", 10<<10),
		"session token":   "sess_k1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"footer mismatch": tok.Token + "e30",
	} {
		t.Run(name, func(t *testing.T) {
			expectError(t, a.verify(token, "p", ""), http.StatusUnauthorized, onetime.CodeTokenInvalid)
		})
	}
	// None of that used the genuine token up.
	expectStatus(t, a.verify(tok.Token, "p", ""), http.StatusOK)
}

func TestOneTimeTokenBadInput(t *testing.T) {
	a := newTokensAPI(t)
	bigClaims := `{"x":"` + strings.Repeat("a", onetime.MaxClaimsSize) + `"}`
	for name, c := range map[string]struct {
		path, body string
		status     int
		code       string
	}{
		"no purpose":            {"/v1/tokens", `{"subject":"s"}`, 400, sessiond.ErrInvalidRequest.Code},
		"bad purpose":           {"/v1/tokens", `{"purpose":"reset password","subject":"s"}`, 400, sessiond.ErrInvalidRequest.Code},
		"long purpose":          {"/v1/tokens", `{"purpose":"` + strings.Repeat("p", 65) + `","subject":"s"}`, 400, sessiond.ErrInvalidRequest.Code},
		"no subject":            {"/v1/tokens", `{"purpose":"p"}`, 400, sessiond.ErrInvalidRequest.Code},
		"long subject":          {"/v1/tokens", `{"purpose":"p","subject":"` + strings.Repeat("s", 257) + `"}`, 400, sessiond.ErrInvalidRequest.Code},
		"long audience":         {"/v1/tokens", `{"purpose":"p","subject":"s","audience":"` + strings.Repeat("a", 257) + `"}`, 400, sessiond.ErrInvalidRequest.Code},
		"ttl over a day":        {"/v1/tokens", `{"purpose":"p","subject":"s","ttl":"25h"}`, 400, sessiond.ErrInvalidRequest.Code},
		"ttl under a second":    {"/v1/tokens", `{"purpose":"p","subject":"s","ttl":"10ms"}`, 400, sessiond.ErrInvalidRequest.Code},
		"zero ttl":              {"/v1/tokens", `{"purpose":"p","subject":"s","ttl":"0s"}`, 400, sessiond.ErrInvalidRequest.Code},
		"ttl not a duration":    {"/v1/tokens", `{"purpose":"p","subject":"s","ttl":"soon"}`, 400, sessiond.ErrInvalidRequest.Code},
		"ttl a number":          {"/v1/tokens", `{"purpose":"p","subject":"s","ttl":300}`, 400, sessiond.ErrInvalidRequest.Code},
		"claims an array":       {"/v1/tokens", `{"purpose":"p","subject":"s","claims":[1]}`, 400, sessiond.ErrInvalidRequest.Code},
		"claims too large":      {"/v1/tokens", `{"purpose":"p","subject":"s","claims":` + bigClaims + `}`, 400, sessiond.ErrInvalidRequest.Code},
		"single_use a string":   {"/v1/tokens", `{"purpose":"p","subject":"s","single_use":"yes"}`, 400, sessiond.ErrInvalidRequest.Code},
		"unknown field":         {"/v1/tokens", `{"purpose":"p","subject":"s","sub":"x"}`, 400, sessiond.ErrInvalidRequest.Code},
		"not UTF-8":             {"/v1/tokens", "{\"purpose\":\"p\",\"subject\":\"\xff\"}", 400, server.CodeInvalidJSON},
		"not JSON":              {"/v1/tokens", `purpose=p`, 400, server.CodeInvalidJSON},
		"empty body":            {"/v1/tokens", ``, 400, server.CodeInvalidJSON},
		"trailing data":         {"/v1/tokens", `{"purpose":"p","subject":"s"}{}`, 400, server.CodeInvalidJSON},
		"body too large":        {"/v1/tokens", `{"purpose":"p","subject":"` + strings.Repeat("s", 2<<20) + `"}`, 413, server.CodeBodyTooLarge},
		"verify no purpose":     {"/v1/tokens/verify", `{"token":"v4.public.x"}`, 400, sessiond.ErrInvalidRequest.Code},
		"verify bad purpose":    {"/v1/tokens/verify", `{"token":"v4.public.x","purpose":"a b"}`, 400, sessiond.ErrInvalidRequest.Code},
		"verify long audience":  {"/v1/tokens/verify", `{"token":"v4.public.x","purpose":"p","audience":"` + strings.Repeat("a", 257) + `"}`, 400, sessiond.ErrInvalidRequest.Code},
		"verify token a number": {"/v1/tokens/verify", `{"token":1,"purpose":"p"}`, 400, sessiond.ErrInvalidRequest.Code},
		"verify unknown field":  {"/v1/tokens/verify", `{"token":"x","purpose":"p","single_use":true}`, 400, sessiond.ErrInvalidRequest.Code},
		"verify not UTF-8":      {"/v1/tokens/verify", "{\"token\":\"\xfe\",\"purpose\":\"p\"}", 400, server.CodeInvalidJSON},
		"verify an array":       {"/v1/tokens/verify", `[]`, 400, sessiond.ErrInvalidRequest.Code},
		"public keys by POST":   {"/v1/tokens/public-keys", `{}`, 405, server.CodeMethodNotAllowed},
	} {
		t.Run(name, func(t *testing.T) {
			expectError(t, a.do("POST", c.path, c.body), c.status, c.code)
		})
	}
}

// Minting and redeeming need an API key; the public keys do not.
func TestOneTimeTokenAPIKey(t *testing.T) {
	a := newTokensAPI(t)
	for _, path := range []string{"/v1/tokens", "/v1/tokens/verify"} {
		expectError(t, a.do("POST", path, `{"purpose":"p","subject":"s"}`, withoutHeader("Authorization")), http.StatusUnauthorized, server.CodeUnauthorized)
		expectError(t, a.do("POST", path, `{"purpose":"p","subject":"s"}`, withHeader("Authorization", "Bearer sk_wrong")), http.StatusUnauthorized, server.CodeUnauthorized)
	}
	w := a.do("GET", "/v1/tokens/public-keys", "", withoutHeader("Authorization"))
	expectStatus(t, w, http.StatusOK)
	if cc := w.Header().Get("Cache-Control"); cc != "public, max-age=60" {
		t.Errorf("Cache-Control %q", cc)
	}
}

// Another service verifies a token offline, with the PASETO library and
// nothing but the published PASERK.
func TestOneTimeTokenPublicKeys(t *testing.T) {
	a := newTokensAPI(t)
	tok := a.issue(`{"purpose":"download","subject":"file-42","audience":"files.example"}`)
	keys := decodeAs[struct {
		Keys []struct {
			ID     string `json:"id"`
			PASERK string `json:"paserk"`
		} `json:"keys"`
	}](t, a.do("GET", "/v1/tokens/public-keys", ""))
	if len(keys.Keys) != 1 || !strings.HasPrefix(keys.Keys[0].ID, "k4.pid.") || !strings.HasPrefix(keys.Keys[0].PASERK, "k4.public.") {
		t.Fatalf("keys %+v", keys)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(keys.Keys[0].PASERK, "k4.public."))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := paseto.NewV4AsymmetricPublicKeyFromBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	parser := paseto.NewParser()
	parser.AddRule(paseto.ForAudience("files.example"), paseto.IssuedBy("sessiond"))
	parsed, err := parser.ParseV4Public(pub, tok.Token, nil)
	if err != nil {
		t.Fatalf("offline verification: %v", err)
	}
	if sub, _ := parsed.GetSubject(); sub != "file-42" {
		t.Errorf("sub %q", sub)
	}
}

// Without an issuer the token routes do not exist.
func TestNoOneTimeTokens(t *testing.T) {
	a := newMemoryAPI(t)
	expectError(t, a.do("POST", "/v1/tokens", `{"purpose":"p","subject":"s"}`), http.StatusNotFound, sessiond.ErrNotFound.Code)
	expectError(t, a.do("GET", "/v1/tokens/public-keys", ""), http.StatusNotFound, sessiond.ErrNotFound.Code)
}
