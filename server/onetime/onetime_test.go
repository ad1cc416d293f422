package onetime_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"aidanwoods.dev/go-paseto"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/server/onetime"
	"github.com/sessiond/sessiond/stores/memory"
)

func newIssuer(t *testing.T, keys ...paseto.V4AsymmetricSecretKey) *onetime.Issuer {
	t.Helper()
	if len(keys) == 0 {
		keys = []paseto.V4AsymmetricSecretKey{paseto.NewV4AsymmetricSecretKey()}
	}
	is, err := onetime.NewIssuer(memory.New(), keys...)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func TestIssueAndVerify(t *testing.T) {
	is := newIssuer(t)
	tok, exp, err := is.Issue(onetime.Request{Purpose: "download", Subject: "file-42", Audience: "files.example", Claims: json.RawMessage(`{"path":"/reports/q3.pdf"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(exp); d < 4*time.Minute || d > 5*time.Minute+time.Second {
		t.Fatalf("default TTL gives expiry in %v, want 5m", d)
	}
	if !strings.HasPrefix(tok, "v4.public.") {
		t.Fatalf("token %q", tok)
	}
	r, err := is.Verify(t.Context(), tok, "download", "files.example")
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "file-42" || string(r.Claims) != `{"path":"/reports/q3.pdf"}` {
		t.Fatalf("redeemed %+v", r)
	}
	// Not single-use: verifies again.
	if _, err := is.Verify(t.Context(), tok, "download", "files.example"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ purpose, aud string }{{"password-reset", "files.example"}, {"download", "other.example"}, {"download", ""}} {
		if _, err := is.Verify(t.Context(), tok, c.purpose, c.aud); !errors.Is(err, onetime.ErrInvalid) {
			t.Errorf("purpose %q audience %q: %v, want token_invalid", c.purpose, c.aud, err)
		}
	}
}

func TestSingleUseUnderConcurrency(t *testing.T) {
	is := newIssuer(t)
	tok, _, err := is.Issue(onetime.Request{Purpose: "password-reset", Subject: "alice", SingleUse: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, used := 0, 0
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := is.Verify(t.Context(), tok, "password-reset", "")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, onetime.ErrTokenUsed):
				used++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 || used != n-1 {
		t.Fatalf("%d ok, %d token_used; want exactly one success", ok, used)
	}
}

func TestExpiredForgedMalformed(t *testing.T) {
	is := newIssuer(t)
	tok, _, _ := is.Issue(onetime.Request{Purpose: "verify-email", Subject: "bob", TTL: time.Second})
	time.Sleep(1100 * time.Millisecond)
	if _, err := is.Verify(t.Context(), tok, "verify-email", ""); !errors.Is(err, onetime.ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	other := newIssuer(t)
	forged, _, _ := other.Issue(onetime.Request{Purpose: "verify-email", Subject: "bob"})
	good, _, _ := is.Issue(onetime.Request{Purpose: "verify-email", Subject: "bob"})
	tampered := good[:20] + string(good[20]^1) + good[21:]
	for _, bad := range []string{"", "v4.public.", "v4.local.abc", "v2.public.xyz", forged, tampered, good + "x", strings.Repeat("v4.public.", 2000), "v4.public.AAAA.bm90IGpzb24"} {
		if _, err := is.Verify(t.Context(), bad, "verify-email", ""); !errors.Is(err, onetime.ErrInvalid) {
			t.Errorf("Verify(%.30q) = %v, want token_invalid", bad, err)
		}
	}
}

func TestRequestLimits(t *testing.T) {
	is := newIssuer(t)
	for _, r := range []onetime.Request{
		{Purpose: "", Subject: "s"},
		{Purpose: "has space", Subject: "s"},
		{Purpose: "p", Subject: ""},
		{Purpose: "p", Subject: "bad\xff"},
		{Purpose: "p", Subject: strings.Repeat("s", 300)},
		{Purpose: "p", Subject: "s", TTL: 25 * time.Hour},
		{Purpose: "p", Subject: "s", TTL: time.Millisecond},
		{Purpose: "p", Subject: "s", Claims: json.RawMessage(`[1]`)},
		{Purpose: "p", Subject: "s", Claims: json.RawMessage(`{"x":"` + strings.Repeat("x", 5000) + `"}`)},
	} {
		if _, _, err := is.Issue(r); !errors.Is(err, sessiond.ErrInvalidRequest) {
			t.Errorf("Issue(%+v) = %v, want invalid_request", r, err)
		}
	}
	for _, p := range []string{"", "has space", strings.Repeat("p", 65), "pürpose"} {
		if err := onetime.CheckPurpose(p); !errors.Is(err, sessiond.ErrInvalidRequest) {
			t.Errorf("CheckPurpose(%q) = %v, want invalid_request", p, err)
		}
	}
	for _, p := range []string{"p", "password-reset", "a.b:c_d", strings.Repeat("p", 64)} {
		if err := onetime.CheckPurpose(p); err != nil {
			t.Errorf("CheckPurpose(%q) = %v", p, err)
		}
	}
}

// Without a ledger (a store that cannot record redemptions) the issuer
// refuses to mint single-use tokens rather than mint ones it cannot keep
// single-use; tokens that may be reused still work.
func TestNoLedger(t *testing.T) {
	is, err := onetime.NewIssuer(nil, paseto.NewV4AsymmetricSecretKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := is.Issue(onetime.Request{Purpose: "p", Subject: "s", SingleUse: true}); !errors.Is(err, sessiond.ErrInvalidRequest) {
		t.Errorf("single-use without a ledger: %v, want invalid_request", err)
	}
	tok, _, err := is.Issue(onetime.Request{Purpose: "p", Subject: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := is.Verify(t.Context(), tok, "p", ""); err != nil {
		t.Error(err)
	}
}

// The memory store is a Ledger: the capability is discovered by this
// package's own interface, not declared by the root.
var _ onetime.Ledger = memory.New()

// Another service verifies offline with nothing but the published PASERK,
// using the PASETO library directly, not our code.
func TestOfflineVerificationWithPASERK(t *testing.T) {
	oldKey, newKey := paseto.NewV4AsymmetricSecretKey(), paseto.NewV4AsymmetricSecretKey()
	before := newIssuer(t, oldKey)
	oldTok, _, _ := before.Issue(onetime.Request{Purpose: "download", Subject: "f", Audience: "files"})
	is := newIssuer(t, newKey, oldKey) // rotated: new key signs, old verifies
	tok, _, _ := is.Issue(onetime.Request{Purpose: "download", Subject: "f", Audience: "files"})
	keys := is.PublicKeys()
	if len(keys) != 2 || !strings.HasPrefix(keys[0].PASERK, "k4.public.") || !strings.HasPrefix(keys[0].ID, "k4.pid.") {
		t.Fatalf("public keys %+v", keys)
	}
	if _, err := is.Verify(t.Context(), oldTok, "download", "files"); err != nil {
		t.Fatalf("token of the retiring key: %v", err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(keys[0].PASERK, "k4.public."))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := paseto.NewV4AsymmetricPublicKeyFromBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	parser := paseto.NewParser()
	parser.AddRule(paseto.ForAudience("files"), paseto.IssuedBy("sessiond"))
	parsed, err := parser.ParseV4Public(pub, tok, nil)
	if err != nil {
		t.Fatalf("offline verification: %v", err)
	}
	if p, _ := parsed.GetString("purpose"); p != "download" {
		t.Fatalf("purpose claim %q", p)
	}
}
