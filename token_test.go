package sessiond

import (
	"strings"
	"testing"
)

func testKeyring(t testing.TB, secrets ...string) *Keyring {
	t.Helper()
	var bs [][]byte
	for _, s := range secrets {
		bs = append(bs, []byte(s))
	}
	kr, err := NewKeyring(bs...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

const (
	secretA = "secret A: at least thirty-two bytes long!!"
	secretB = "secret B: at least thirty-two bytes long!!"
)

// accepts reports whether kr takes tok as a genuine token (shape and tag),
// returning its session id and generation.
func (kr *Keyring) accepts(tok string) (id string, gen uint32, ok bool) {
	t, ok := kr.parse(tok)
	if !ok {
		return "", 0, false
	}
	gen, ok = t.verify()
	return t.id, gen, ok
}

func TestTokenShape(t *testing.T) {
	kr := testKeyring(t, secretA)
	id := newSessionID("alice")
	tok, hash := kr.issue(id, 0)
	if !strings.HasPrefix(tok, "sess_") || len(tok) != 89 || strings.ContainsAny(tok, "+/=") {
		t.Fatalf("token %q: want sess_, 89 URL-safe bytes", tok)
	}
	if !validSessionID(id) || !strings.Contains(tok, id) {
		t.Fatalf("id %q", id)
	}
	got, gen, ok := kr.accepts(tok)
	if !ok || got != id || gen != 0 {
		t.Fatalf("accepts = %q, %d, %v", got, gen, ok)
	}
	p, _ := kr.parse(tok)
	if !p.proves(&Session{SecretHash: hash}) {
		t.Fatal("the token does not prove its own hash")
	}
	tok2, hash2 := kr.issue(id, 0)
	if tok2 == tok || hash2 == hash {
		t.Fatal("two tokens are equal")
	}
	if p.proves(&Session{SecretHash: hash2}) {
		t.Fatal("a token proves another token's hash")
	}
}

// Session ids carry their user's placement byte (see Store) and nothing
// else of the user; guests' are random.
func TestSessionIDPlacement(t *testing.T) {
	a, b := newSessionID("alice"), newSessionID("alice")
	if a == b || a[:1] != b[:1] {
		t.Fatalf("ids of one user: %q %q — want distinct, same first byte", a, b)
	}
	for range 100 {
		if id := newSessionID(""); !validSessionID(id) {
			t.Fatalf("guest id %q", id)
		}
	}
}

func TestGenerationTravelsInTheToken(t *testing.T) {
	kr := testKeyring(t, secretA)
	id := newSessionID("u")
	for _, gen := range []uint32{0, 1, 7, 1 << 15, maxGeneration} {
		tok, _ := kr.issue(id, gen)
		if got, g, ok := kr.accepts(tok); !ok || got != id || g != gen {
			t.Fatalf("gen %d: accepts = %q %d %v", gen, got, g, ok)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	id := newSessionID("u")
	old := testKeyring(t, secretA)
	tokOld, _ := old.issue(id, 0)
	rotated := testKeyring(t, secretB, secretA) // new key first, old still verifies
	if _, _, ok := rotated.accepts(tokOld); !ok {
		t.Fatal("a token of the retiring key must still verify")
	}
	tokNew, _ := rotated.issue(id, 0)
	if tokNew[:12] == tokOld[:12] {
		t.Fatal("new tokens carry the new key id")
	}
	if _, _, ok := old.accepts(tokNew); ok {
		t.Fatal("a node without the new key must refuse its tokens")
	}
	if _, _, ok := testKeyring(t, secretB).accepts(tokOld); ok {
		t.Fatal("a removed key's tokens must be refused")
	}
}

func TestVerifyRejects(t *testing.T) {
	kr := testKeyring(t, secretA)
	id := newSessionID("u")
	tok, _ := kr.issue(id, 3)
	head := tok[:idStart]
	cred := tok[credStart:]
	otherID := newSessionID("v")
	flip := func(s string, i int) string { b := []byte(s); b[i] ^= 1; return string(b) }
	lastAlt := func(s string) string { // a non-canonical last character: same bits, or a different tag
		c := s[len(s)-1]
		for _, a := range "AQgw" { // base64 chars that differ only in the 4 dropped bits of the last 2-bit group
			if byte(a) != c {
				return s[:len(s)-1] + string(a)
			}
		}
		return s
	}
	for _, bad := range []string{
		"", "sess_", head, tok[:len(tok)-2], tok + "=", "Bearer " + tok, strings.Repeat("x", 200),
		"sess_zzzzzz_" + tok[idStart:], // unknown key id
		head + otherID + cred,          // the credential of another session
		flip(tok, idStart+2),           // a changed id
		flip(tok, credStart+1),         // a changed generation
		flip(tok, credStart+20),        // a changed secret
		lastAlt(tok),                   // a changed tag, or non-canonical base64
		head + tok[idStart:credStart-1] + "~" + cred,
		head + strings.Repeat("A", 77),
	} {
		if _, _, ok := kr.accepts(bad); ok {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestWeakKeyRefused(t *testing.T) {
	if _, err := NewKeyring([]byte("short")); err == nil {
		t.Fatal("a short secret was accepted")
	}
	if _, err := NewKeyring(); err == nil {
		t.Fatal("an empty keyring was accepted")
	}
}

// FuzzVerify: a token is accepted only if it is exactly one the keyring
// issued. The keyring, the id and the random part are fixed, so every
// fuzzing process agrees on which token that is.
func FuzzVerify(f *testing.F) {
	kr, _ := NewKeyring([]byte(secretA))
	const id = "AAECAwQFBgcICQoLDA0ODw" // bytes 0..15
	random := [randomLen]byte{1, 2, 3}
	issued, _ := kr.issueWith(id, 5, &random)
	f.Add(issued)
	f.Add("sess_abc_def")
	f.Add(issued[:len(issued)-1] + "B")
	f.Fuzz(func(t *testing.T, s string) {
		if got, gen, ok := kr.accepts(s); ok && (s != issued || got != id || gen != 5) {
			t.Fatalf("forged token accepted: %q", s)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	kr := testKeyring(b, secretA)
	tok, _ := kr.issue(newSessionID("u"), 0)
	b.ReportAllocs()
	for b.Loop() {
		kr.accepts(tok)
	}
}

func BenchmarkProve(b *testing.B) {
	kr := testKeyring(b, secretA)
	tok, hash := kr.issue(newSessionID("u"), 0)
	s := Session{SecretHash: hash}
	b.ReportAllocs()
	for b.Loop() {
		p, _ := kr.parse(tok)
		p.proves(&s)
	}
}
