package sessiond_test

import (
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
)

func keyring(t *testing.T, secrets ...string) *sessiond.Keyring {
	t.Helper()
	var bs [][]byte
	for _, s := range secrets {
		bs = append(bs, []byte(s))
	}
	kr, err := sessiond.NewKeyring(bs...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

const (
	secretA = "secret A: at least thirty-two bytes long!!"
	secretB = "secret B: at least thirty-two bytes long!!"
)

func TestTokenShape(t *testing.T) {
	kr := keyring(t, secretA)
	tok, id := kr.NewToken()
	if !strings.HasPrefix(tok, "sess_") || len(tok) > 80 {
		t.Fatalf("token %q", tok)
	}
	if id != sessiond.SessionID(tok) || !sessiond.ValidSessionID(id) {
		t.Fatalf("id %q", id)
	}
	if strings.ContainsAny(tok, "+/=") {
		t.Fatalf("token is not URL-safe: %q", tok)
	}
	got, err := kr.Verify(tok)
	if err != nil || got != id {
		t.Fatalf("Verify = %q, %v", got, err)
	}
	tok2, _ := kr.NewToken()
	if tok2 == tok {
		t.Fatal("two tokens are equal")
	}
}

func TestKeyRotation(t *testing.T) {
	old := keyring(t, secretA)
	tokOld, _ := old.NewToken()
	rotated := keyring(t, secretB, secretA) // new key first, old still verifies
	if _, err := rotated.Verify(tokOld); err != nil {
		t.Fatalf("a token of the retiring key must still verify: %v", err)
	}
	tokNew, _ := rotated.NewToken()
	if !strings.Contains(tokNew, rotated.CurrentKeyID()) || rotated.CurrentKeyID() == old.CurrentKeyID() {
		t.Fatal("new tokens carry the new key id")
	}
	if _, err := old.Verify(tokNew); err == nil {
		t.Fatal("a node without the new key must refuse its tokens")
	}
	retired := keyring(t, secretB)
	if _, err := retired.Verify(tokOld); err == nil {
		t.Fatal("a removed key's tokens must be refused")
	}
}

func TestVerifyRejects(t *testing.T) {
	kr := keyring(t, secretA)
	tok, _ := kr.NewToken()
	kid := kr.CurrentKeyID()
	// Same random part with a recomputed-looking but wrong tag, a wrong key
	// id, non-canonical base64, and assorted junk.
	body := tok[len("sess_"+kid+"_"):]
	lastChar := body[len(body)-1]
	alt := byte('A')
	if lastChar == 'A' {
		alt = 'B'
	}
	for _, bad := range []string{
		"", "sess_", "sess_" + kid, "sess_" + kid + "_", tok[:len(tok)-2],
		"sess_zzzzzz_" + body, tok[:len(tok)-1] + string(alt), tok + "=", "Bearer " + tok,
		strings.Repeat("x", 200), "sess_" + kid + "_" + strings.Repeat("A", 54),
	} {
		if _, err := kr.Verify(bad); err != sessiond.ErrInvalidSession {
			t.Errorf("Verify(%q) = %v", bad, err)
		}
	}
}

func TestWeakKeyRefused(t *testing.T) {
	if _, err := sessiond.NewKeyring([]byte("short")); err == nil {
		t.Fatal("a short secret was accepted")
	}
	if _, err := sessiond.NewKeyring(); err == nil {
		t.Fatal("an empty keyring was accepted")
	}
}

func TestParseSecrets(t *testing.T) {
	got := sessiond.ParseSecrets(" q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80= , plain text secret that is long enough!! ,")
	if len(got) != 2 || len(got[0]) != 32 || string(got[1]) != "plain text secret that is long enough!!" {
		t.Fatalf("ParseSecrets = %q", got)
	}
}

func FuzzVerify(f *testing.F) {
	kr, _ := sessiond.NewKeyring([]byte(secretA))
	tok, _ := kr.NewToken()
	f.Add(tok)
	f.Add("sess_abc_def")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := kr.Verify(s)
		if err == nil && (id != sessiond.SessionID(s) || s != tok) {
			t.Fatalf("forged token accepted: %q", s)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	kr, _ := sessiond.NewKeyring([]byte(secretA))
	tok, _ := kr.NewToken()
	b.ReportAllocs()
	for b.Loop() {
		kr.Verify(tok)
	}
}
