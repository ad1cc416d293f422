// Package storetest is the conformance suite every sessiond.Store passes.
// A new store runs it with one call from its own test:
//
//	func TestConformance(t *testing.T) { storetest.Run(t, store) }
//
// and, if the store announces invalidations (a near cache can sit in front
// of it), once more through the cache:
//
//	func TestConformanceCached(t *testing.T) { storetest.RunCached(t, store) }
//
// The suite shares one store between parallel subtests; each subtest works
// on its own user ids, so the store may be a long-lived server.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/nearcache"
	"github.com/sessiond/sessiond/server/apikey"
)

// Run runs the conformance suite against store, every validation reading
// the store.
func Run(t *testing.T, store sessiond.Store) {
	t.Helper()
	run(t, store, nil)
}

// RunCached runs the suite with a near cache in front of store (which must
// announce invalidations): what the cache serves must be what the store
// would.
func RunCached(t *testing.T, store sessiond.Store) {
	t.Helper()
	c, err := nearcache.New(store, nearcache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	for deadline := time.Now().Add(10 * time.Second); !c.Healthy(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the near cache's subscription did not come up")
		}
	}
	run(t, store, c)
}

func run(t *testing.T, store sessiond.Store, cache sessiond.Cache) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"CreateAndValidate", testCreateAndValidate},
		{"ForgedTokensNeverReachStore", testForged},
		{"IdleExpiry", testIdleExpiry},
		{"AbsoluteExpiry", testAbsoluteExpiry},
		{"SlidingExpiry", testSliding},
		{"SlidingShortIdleTimeout", testSlidingShortIdle},
		{"TouchIsThrottled", testTouchThrottled},
		{"TouchNeverResurrects", testTouchNeverResurrects},
		{"RotationKeepsTheID", testRotation},
		{"RotatedTokenRecognised", testRotatedTokenRecognised},
		{"ConcurrentRotations", testConcurrentRotations},
		{"RecordsAreImmutable", testImmutable},
		{"RevokeOne", testRevokeOne},
		{"RevokeAllOfUser", testRevokeAll},
		{"RevokeAllButOne", testRevokeAllButOne},
		{"ListUserSessions", testListUserSessions},
		{"CompareAndSwap", testCompareAndSwap},
		{"ConcurrentMergePatches", testConcurrentPatches},
		{"ConcurrentIncrements", testConcurrentIncrements},
		{"UpdateRacingRevocation", testUpdateVsRevoke},
		{"UpdateRacingRevokeAll", testUpdateVsRevokeAll},
		{"LargeData", testLargeData},
		{"UnicodeUserIDs", testUnicodeIDs},
		{"ManyUsers", testManyUsers},
		{"Users", testUsers},
		{"BanRevokesAndRefuses", testBan},
		{"APIKeys", testAPIKeys},
		{"SweepExpired", testSweep},
		{"RedeemTokenOnce", testRedeemToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newEnv(t, store, cache))
		})
	}
}

// maxUserIDLen is the Manager's limit on user ids (bytes).
const maxUserIDLen = 256

// env is one subtest's view: a manager on the shared store (and cache) and
// a fresh namespace for user ids.
type env struct {
	store  sessiond.Store
	cache  sessiond.Cache // nil: none
	m      *sessiond.Manager
	ctx    context.Context
	prefix string
}

var keys = func() *sessiond.Keyring {
	kr, err := sessiond.NewKeyring([]byte("storetest secret, 32 bytes or more, not for production"))
	if err != nil {
		panic(err)
	}
	return kr
}()

func newEnv(t *testing.T, store sessiond.Store, cache sessiond.Cache) *env {
	e := &env{store: store, cache: cache, ctx: t.Context(), prefix: randHex(6) + "-"}
	e.m = e.manager(sessiond.Config{TouchInterval: time.Hour})
	return e
}

func (e *env) user(name string) string { return e.prefix + name }

func (e *env) manager(cfg sessiond.Config) *sessiond.Manager {
	cfg.Cache = e.cache
	return sessiond.NewManager(e.store, keys, cfg)
}

func (e *env) create(t *testing.T, userID string, data string) (string, sessiond.Session) {
	t.Helper()
	tok, s, err := e.m.Create(e.ctx, sessiond.NewSession{UserID: userID, Data: json.RawMessage(data)})
	if err != nil {
		t.Fatalf("Create(%q): %v", userID, err)
	}
	return tok, s
}

func (e *env) mustInvalid(t *testing.T, m *sessiond.Manager, tok string, why string) error {
	t.Helper()
	_, _, err := m.Validate(e.ctx, tok)
	if !errors.Is(err, sessiond.ErrInvalidSession) {
		t.Fatalf("%s: Validate = %v, want ErrInvalidSession", why, err)
	}
	return err
}

func (e *env) mustValid(t *testing.T, m *sessiond.Manager, tok string, why string) sessiond.Session {
	t.Helper()
	s, _, err := m.Validate(e.ctx, tok)
	if err != nil {
		t.Fatalf("%s: Validate = %v, want a live session", why, err)
	}
	return s
}

// unknownID is a well-formed session id that no session has.
func unknownID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// withCredential returns tok with its secret part (everything after the
// session id) replaced by random text of the same shape: a forgery made
// from the public id.
func withCredential(tok, id string) string {
	i := strings.Index(tok, id) + len(id)
	b := make([]byte, 41)
	rand.Read(b)
	return tok[:i] + base64.RawURLEncoding.EncodeToString(b)
}

func (e *env) ids(t *testing.T, userID string) map[string]bool {
	t.Helper()
	all, err := e.store.ListUserSessions(e.ctx, userID)
	if err != nil {
		t.Fatalf("ListUserSessions: %v", err)
	}
	out := map[string]bool{}
	for _, s := range all {
		if s.UserID != userID {
			t.Fatalf("ListUserSessions(%q) returned a session of %q", userID, s.UserID)
		}
		out[s.ID] = true
	}
	return out
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func sameJSON(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("stored data is not JSON: %q", got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want: %v", err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("data = %s, want %s", gb, wb)
	}
}

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func testCreateAndValidate(t *testing.T, e *env) {
	u := e.user("alice")
	tok, created, err := e.m.Create(e.ctx, sessiond.NewSession{
		UserID: u,
		Data:   json.RawMessage(`{"cart":{"sku-1":2},"theme":"dark","n":12345678901234567890}`),
		Client: sessiond.Client{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (conformance)"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "sess_") || len(tok) >= 100 {
		t.Fatalf("token %q: want the sess_ prefix and under 100 bytes", tok)
	}
	s, user, err := e.m.Validate(e.ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != created.ID || len(s.ID) != 22 || s.UserID != u {
		t.Fatalf("session id/user = %q/%q, created %q", s.ID, s.UserID, created.ID)
	}
	if user.ID != u || user.Status != sessiond.UserActive || len(user.Roles()) != 0 {
		t.Fatalf("user = %+v, want the default active user", user)
	}
	if s.Client.IP != "203.0.113.7" || s.Client.UserAgent != "Mozilla/5.0 (conformance)" {
		t.Fatalf("client = %+v", s.Client)
	}
	sameJSON(t, s.Data(), `{"cart":{"sku-1":2},"theme":"dark","n":12345678901234567890}`)
	if s.Version < 1 || s.Generation != 0 || !s.RotatedAt.IsZero() {
		t.Fatalf("version/generation/rotated = %d/%d/%v", s.Version, s.Generation, s.RotatedAt)
	}
	def := sessiond.DefaultConfig()
	slack := min(time.Hour, def.IdleTimeout/2) // the env's touch interval is an hour: see Manager.Validate
	if !s.CreatedAt.Equal(s.LastSeenAt) || !s.CreatedAt.Equal(s.AuthTime) ||
		!s.IdleExpiresAt.Equal(s.CreatedAt.Add(def.IdleTimeout+slack)) || !s.ExpiresAt.Equal(s.CreatedAt.Add(def.Lifetime)) {
		t.Fatalf("times created=%v auth=%v seen=%v idle=%v abs=%v", s.CreatedAt, s.AuthTime, s.LastSeenAt, s.IdleExpiresAt, s.ExpiresAt)
	}
	if time.Since(s.CreatedAt).Abs() > time.Minute {
		t.Fatalf("created_at %v is not now", s.CreatedAt)
	}
	// What the store holds is no usable token: not the token, not its
	// secret part (only a hash of it).
	stored, _, err := e.store.Lookup(e.ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	secret := tok[strings.Index(tok, s.ID)+len(s.ID):]
	if dump := fmt.Sprintf("%+v %s", stored, stored.Data()); strings.Contains(dump, secret) || strings.Contains(dump, tok) {
		t.Fatal("the store holds the token's secret part")
	}
	if stored.SecretHash != created.SecretHash || stored.SecretHash == ([32]byte{}) {
		t.Fatal("the stored secret hash is not the one created")
	}
	if _, _, err := e.store.Lookup(e.ctx, tok); !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("Lookup(token) = %v, want ErrNotFound", err)
	}
	if _, _, err := e.store.Lookup(e.ctx, unknownID()); !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("Lookup(unknown) = %v, want ErrNotFound", err)
	}
	// Two sessions of one user are distinct.
	tok2, s2 := e.create(t, u, "")
	if tok2 == tok || s2.ID == s.ID {
		t.Fatal("two sessions share a token or id")
	}
	sameJSON(t, e.mustValid(t, e.m, tok2, "second").Data(), `{}`)
}

func testForged(t *testing.T, e *env) {
	tok, s := e.create(t, e.user("u"), "")
	body := tok[len("sess_"):]
	flip := []byte(tok)
	flip[len(flip)-3] ^= 1
	flipID := []byte(tok)
	flipID[strings.Index(tok, s.ID)+3] ^= 1
	otherKeys, _ := sessiond.NewKeyring([]byte("another secret that is 32 bytes long or more!"))
	otherTok, _, err := sessiond.NewManager(e.store, otherKeys, sessiond.Config{Cache: e.cache}).Create(e.ctx, sessiond.NewSession{UserID: e.user("u")})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"", "sess_", "garbage", tok + "x", tok[:len(tok)-1], string(flip), string(flipID), "sess" + body,
		strings.ToUpper(tok), otherTok, strings.Repeat("a", 10000), tok + "\x00", "sess_\xff\xfe_abc",
		withCredential(tok, s.ID), // the public id with a made-up secret
		s.ID,
	} {
		if err := e.mustInvalid(t, e.m, bad, fmt.Sprintf("token %.40q", bad)); errors.Is(err, sessiond.ErrTokenRotated) {
			t.Fatalf("token %.40q: a forgery taken for a rotated-away token", bad)
		}
	}
	e.mustValid(t, e.m, tok, "the genuine token, after the forgeries")
}

func testIdleExpiry(t *testing.T, e *env) {
	tok, _, err := e.m.Create(e.ctx, sessiond.NewSession{UserID: e.user("u"), IdleTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.mustValid(t, e.m, tok, "before idle timeout")
	// Unused, it ends between the idle timeout and 1.5× it (the touch
	// throttle, half the idle timeout here, is the slack).
	time.Sleep(1700 * time.Millisecond)
	e.mustInvalid(t, e.m, tok, "after idle timeout")
	if list, _ := e.m.ListUserSessions(e.ctx, e.user("u")); len(list) != 0 {
		t.Fatalf("ListUserSessions after expiry = %d sessions", len(list))
	}
}

func testAbsoluteExpiry(t *testing.T, e *env) {
	m := e.manager(sessiond.Config{TouchInterval: time.Millisecond})
	tok, s, err := m.Create(e.ctx, sessiond.NewSession{UserID: e.user("u"), Lifetime: 1500 * time.Millisecond, IdleTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !s.IdleExpiresAt.Equal(s.ExpiresAt) {
		t.Fatalf("idle expiry %v must be capped at the absolute expiry %v", s.IdleExpiresAt, s.ExpiresAt)
	}
	// Constant use does not extend past the absolute lifetime.
	for range 4 {
		e.mustValid(t, m, tok, "within lifetime")
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(800 * time.Millisecond)
	e.mustInvalid(t, m, tok, "after absolute lifetime")
}

func testSliding(t *testing.T, e *env) {
	m := e.manager(sessiond.Config{TouchInterval: 100 * time.Millisecond})
	tok, s0, err := m.Create(e.ctx, sessiond.NewSession{UserID: e.user("u"), IdleTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	s1 := e.mustValid(t, m, tok, "mid idle")
	if !s1.IdleExpiresAt.After(s0.IdleExpiresAt) {
		t.Fatalf("idle expiry did not slide: %v -> %v", s0.IdleExpiresAt, s1.IdleExpiresAt)
	}
	stored, _, err := e.store.Lookup(e.ctx, s0.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameTime(t, "stored idle expiry", stored.IdleExpiresAt, s1.IdleExpiresAt)
	sameTime(t, "stored last seen", stored.LastSeenAt, s1.LastSeenAt)
	time.Sleep(1200 * time.Millisecond) // past the original idle expiry
	e.mustValid(t, m, tok, "after the original idle expiry, having slid")
}

func testTouchThrottled(t *testing.T, e *env) {
	tok, s0 := e.create(t, e.user("u"), "")
	for range 5 {
		e.mustValid(t, e.m, tok, "steady state")
	}
	stored, _, err := e.store.Lookup(e.ctx, s0.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameTime(t, "last seen within the touch interval", stored.LastSeenAt, s0.LastSeenAt)
	if stored.Version != s0.Version {
		t.Fatalf("validation changed the version: %d -> %d", s0.Version, stored.Version)
	}
}

func testTouchNeverResurrects(t *testing.T, e *env) {
	_, s := e.create(t, e.user("u"), `{"a":1}`)
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := e.store.Touch(e.ctx, s.ID, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, _, _ := e.store.Lookup(e.ctx, s.ID)
	if got.Version != s.Version {
		t.Fatal("Touch must not change the data version")
	}
	sameJSON(t, got.Data(), `{"a":1}`)
	if err := e.store.Delete(e.ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Touch(e.ctx, s.ID, now, now.Add(time.Hour)); err != nil && !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("Touch(gone) = %v", err)
	}
	if _, _, err := e.store.Lookup(e.ctx, s.ID); !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("a touch brought a deleted session back: %v", err)
	}
	if ids := e.ids(t, e.user("u")); len(ids) != 0 {
		t.Fatalf("index after touch of a deleted session: %v", ids)
	}
}

func testRotation(t *testing.T, e *env) {
	u := e.user("u")
	tok, s := e.create(t, u, `{"k":"v"}`)
	if _, err := e.m.PatchData(e.ctx, s.ID, json.RawMessage(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	newTok, ns, err := e.m.Rotate(e.ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if newTok == tok || ns.ID != s.ID || !strings.Contains(newTok, s.ID) {
		t.Fatalf("rotation must give a new token for the same id: %q -> %q", s.ID, ns.ID)
	}
	if ns.Generation != 1 || ns.SecretHash == s.SecretHash || ns.RotatedAt.IsZero() {
		t.Fatalf("credential after rotation: generation %d, rotated at %v", ns.Generation, ns.RotatedAt)
	}
	e.mustInvalid(t, e.m, tok, "old token after rotation")
	got := e.mustValid(t, e.m, newTok, "new token")
	sameJSON(t, got.Data(), `{"k":"v","x":1}`)
	sameTime(t, "created_at after rotation", got.CreatedAt, s.CreatedAt)
	sameTime(t, "auth_time after rotation", got.AuthTime, s.AuthTime)
	sameTime(t, "expires_at after rotation", got.ExpiresAt, s.ExpiresAt)
	if got.UserID != u || got.Client != s.Client || got.ID != s.ID {
		t.Fatalf("rotation lost id, user or client: %+v", got)
	}
	if ids := e.ids(t, u); len(ids) != 1 || !ids[s.ID] {
		t.Fatalf("user index after rotation = %v, want the one stable id", ids)
	}
	// The old token can be rotated no more; the store's compare-and-swap
	// refuses a stale generation and an unknown id.
	if _, _, err := e.m.Rotate(e.ctx, tok); !errors.Is(err, sessiond.ErrInvalidSession) {
		t.Fatalf("Rotate(old) = %v", err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	if _, err := e.store.Rotate(e.ctx, s.ID, 0, [32]byte{1}, now, now.Add(time.Minute)); !errors.Is(err, sessiond.ErrConflict) {
		t.Fatalf("store.Rotate(stale generation) = %v, want ErrConflict", err)
	}
	if _, err := e.store.Rotate(e.ctx, unknownID(), 0, [32]byte{1}, now, now.Add(time.Minute)); !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("store.Rotate(unknown id) = %v, want ErrNotFound", err)
	}
	e.mustValid(t, e.m, newTok, "after refused store rotations")
	// Updates keep working on the rotated session, by the same id.
	if _, err := e.m.PatchData(e.ctx, s.ID, json.RawMessage(`{"y":2}`)); err != nil {
		t.Fatal(err)
	}
	sameJSON(t, e.mustValid(t, e.m, newTok, "after patch").Data(), `{"k":"v","x":1,"y":2}`)
}

// testRotatedTokenRecognised: a token rotated away is told apart from a
// forgery for the whole life of the session, whatever its generation — what
// theft detection builds on.
func testRotatedTokenRecognised(t *testing.T, e *env) {
	tok0, s := e.create(t, e.user("u"), "")
	tok1, _, err := e.m.Rotate(e.ctx, tok0)
	if err != nil {
		t.Fatal(err)
	}
	tok2, _, err := e.m.Rotate(e.ctx, tok1)
	if err != nil {
		t.Fatal(err)
	}
	for i, old := range []string{tok0, tok1} {
		if err := e.mustInvalid(t, e.m, old, fmt.Sprint("generation ", i)); !errors.Is(err, sessiond.ErrTokenRotated) {
			t.Fatalf("generation %d: %v, want ErrTokenRotated", i, err)
		}
	}
	if err := e.mustInvalid(t, e.m, withCredential(tok2, s.ID), "forged"); errors.Is(err, sessiond.ErrTokenRotated) {
		t.Fatal("a forged credential passed for a rotated-away token")
	}
	e.mustValid(t, e.m, tok2, "current token")
	// Once the session is gone, an old token is just invalid.
	if err := e.m.RevokeSession(e.ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.mustInvalid(t, e.m, tok0, "after revoke"); errors.Is(err, sessiond.ErrTokenRotated) {
		t.Fatal("a token of a revoked session reported as rotated")
	}
}

// testConcurrentRotations: of concurrent rotations of one token exactly one
// wins; the losers' tokens never work.
func testConcurrentRotations(t *testing.T, e *env) {
	tok, _ := e.create(t, e.user("u"), "")
	const n = 8
	toks := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nt, _, err := e.m.Rotate(e.ctx, tok)
			switch {
			case err == nil:
				toks <- nt
			case !errors.Is(err, sessiond.ErrInvalidSession):
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	close(toks)
	var won []string
	for nt := range toks {
		won = append(won, nt)
	}
	if len(won) != 1 {
		t.Fatalf("%d of %d concurrent rotations won, want exactly 1", len(won), n)
	}
	e.mustValid(t, e.m, won[0], "the winner's token")
	e.mustInvalid(t, e.m, tok, "the rotated-away token")
}

// testImmutable: what the Manager hands out is the caller's own; changing
// it changes nothing that the next validation (through the cache, if any)
// returns.
func testImmutable(t *testing.T, e *env) {
	u := e.user("u")
	tok, _ := e.create(t, u, `{"cart":["a"]}`)
	if _, err := e.m.PutUser(e.ctx, sessiond.User{ID: u, Status: sessiond.UserActive}.WithRoles("customer").WithAttributes(json.RawMessage(`{"plan":"free"}`))); err != nil {
		t.Fatal(err)
	}
	for round := range 3 { // the second and third validations are cache hits where there is a cache
		s, usr, err := e.m.Validate(e.ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if s.UserID != u || !usr.HasRole("customer") || usr.HasRole("admin") || len(usr.Roles()) != 1 || usr.Status != sessiond.UserActive {
			t.Fatalf("round %d: the record changed under us: %+v %v", round, s, usr.Roles())
		}
		sameJSON(t, s.Data(), `{"cart":["a"]}`)
		sameJSON(t, usr.Attributes(), `{"plan":"free"}`)
		// A careless or hostile handler.
		roles := usr.Roles()
		roles[0] = "admin"
		_ = append(roles[:0], "admin", "root")
		data := s.Data()
		copy(data, `{"cart":["b"]}`)
		attrs := usr.Attributes()
		copy(attrs, `{"plan":"gold"}`)
		s.UserID, s.ExpiresAt, usr.ID, usr.Status = "mallory", time.Now().Add(1000*time.Hour), "mallory", sessiond.UserBanned
	}
	list, err := e.m.ListUserSessions(e.ctx, u)
	if err != nil || len(list) != 1 {
		t.Fatalf("list = %d, %v", len(list), err)
	}
	list[0].UserID = "mallory"
	if list, _ = e.m.ListUserSessions(e.ctx, u); list[0].UserID != u {
		t.Fatal("a listed record is shared")
	}
}

// testSlidingShortIdle: a session used more often than its idle timeout
// lives on, even when the idle timeout is far below the touch interval
// (1s here, against the default interval of a minute).
func testSlidingShortIdle(t *testing.T, e *env) {
	m := e.manager(sessiond.Config{})
	tok, _, err := m.Create(e.ctx, sessiond.NewSession{UserID: e.user("u"), IdleTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Gaps below the idle timeout, some below the touch throttle (0.5s),
	// some above: 4.3 s in all, four times the idle timeout.
	for i, gap := range []time.Duration{400, 900, 900, 300, 900, 900} {
		time.Sleep(gap * time.Millisecond)
		e.mustValid(t, m, tok, fmt.Sprintf("use %d, %d ms after the previous one", i, gap))
	}
	time.Sleep(1600 * time.Millisecond)
	e.mustInvalid(t, m, tok, "unused for longer than the idle timeout plus its slack")
}

func testRevokeOne(t *testing.T, e *env) {
	u := e.user("u")
	tok1, s1 := e.create(t, u, "")
	tok2, s2 := e.create(t, u, "")
	if err := e.m.Revoke(e.ctx, tok1); err != nil {
		t.Fatal(err)
	}
	e.mustInvalid(t, e.m, tok1, "revoked")
	e.mustValid(t, e.m, tok2, "other session of the same user")
	if err := e.m.Revoke(e.ctx, tok1); err != nil {
		t.Fatalf("revoking twice is a no-op, got %v", err)
	}
	if err := e.m.RevokeSession(e.ctx, s1.ID); !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("RevokeSession(gone) = %v, want ErrNotFound", err)
	}
	if err := e.store.Delete(e.ctx, s1.ID); !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("store.Delete(gone) = %v, want ErrNotFound", err)
	}
	// A made-up secret with the public id revokes nothing.
	if err := e.m.Revoke(e.ctx, withCredential(tok2, s2.ID)); !errors.Is(err, sessiond.ErrInvalidSession) {
		t.Fatalf("Revoke(forged) = %v, want ErrInvalidSession", err)
	}
	e.mustValid(t, e.m, tok2, "after a forged logout")
	if err := e.m.RevokeSession(e.ctx, s2.ID); err != nil {
		t.Fatal(err)
	}
	e.mustInvalid(t, e.m, tok2, "revoked by id")
	if ids := e.ids(t, u); len(ids) != 0 {
		t.Fatalf("index still lists revoked sessions: %v", ids)
	}
}

func testRevokeAll(t *testing.T, e *env) {
	u, other := e.user("u"), e.user("other")
	var toks []string
	for range 5 {
		tok, _ := e.create(t, u, "")
		toks = append(toks, tok)
	}
	otherTok, _ := e.create(t, other, "")
	n, err := e.m.RevokeUserSessions(e.ctx, u, "")
	if err != nil || n != 5 {
		t.Fatalf("RevokeUserSessions = %d, %v; want 5", n, err)
	}
	for _, tok := range toks {
		e.mustInvalid(t, e.m, tok, "after revoke-all")
	}
	e.mustValid(t, e.m, otherTok, "another user's session")
	if n, err := e.m.RevokeUserSessions(e.ctx, u, ""); err != nil || n != 0 {
		t.Fatalf("second RevokeUserSessions = %d, %v; want 0", n, err)
	}
	if n, err := e.m.RevokeUserSessions(e.ctx, e.user("nobody"), ""); err != nil || n != 0 {
		t.Fatalf("RevokeUserSessions(unknown) = %d, %v", n, err)
	}
	// The user can sign in again.
	tok, _ := e.create(t, u, "")
	e.mustValid(t, e.m, tok, "new session after revoke-all")
}

func testRevokeAllButOne(t *testing.T, e *env) {
	u := e.user("u")
	keep, keepS := e.create(t, u, "")
	var others []string
	for range 3 {
		tok, _ := e.create(t, u, "")
		others = append(others, tok)
	}
	n, err := e.m.RevokeUserSessions(e.ctx, u, keepS.ID)
	if err != nil || n != 3 {
		t.Fatalf("RevokeUserSessions(except) = %d, %v; want 3", n, err)
	}
	e.mustValid(t, e.m, keep, "the kept session")
	for _, tok := range others {
		e.mustInvalid(t, e.m, tok, "another device")
	}
	if ids := e.ids(t, u); len(ids) != 1 || !ids[keepS.ID] {
		t.Fatalf("index = %v, want only the kept session", ids)
	}
}

func testListUserSessions(t *testing.T, e *env) {
	u := e.user("u")
	want := map[string]bool{}
	for i := range 4 {
		_, s, err := e.m.Create(e.ctx, sessiond.NewSession{UserID: u, Client: sessiond.Client{UserAgent: fmt.Sprint("device ", i)}})
		if err != nil {
			t.Fatal(err)
		}
		want[s.ID] = true
		time.Sleep(2 * time.Millisecond)
	}
	_, short, err := e.m.Create(e.ctx, sessiond.NewSession{UserID: u, IdleTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.create(t, e.user("someone-else"), "")
	list, err := e.m.ListUserSessions(e.ctx, u)
	if err != nil || len(list) != 5 {
		t.Fatalf("ListUserSessions = %d, %v; want 5", len(list), err)
	}
	time.Sleep(1600 * time.Millisecond)
	list, err = e.m.ListUserSessions(e.ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for i, s := range list {
		got[s.ID] = true
		if i > 0 && s.CreatedAt.Before(list[i-1].CreatedAt) {
			t.Fatal("ListUserSessions is not ordered by creation")
		}
		if s.Client.UserAgent == "" {
			t.Fatal("listed sessions carry their client details")
		}
	}
	if len(got) != len(want) || got[short.ID] {
		t.Fatalf("live sessions = %v, want %v (the expired one excluded)", got, want)
	}
	for id := range want {
		if !got[id] {
			t.Fatalf("missing %s", id)
		}
	}
	if list, err := e.m.ListUserSessions(e.ctx, e.user("nobody")); err != nil || len(list) != 0 {
		t.Fatalf("ListUserSessions(unknown) = %v, %v", list, err)
	}
}

func testCompareAndSwap(t *testing.T, e *env) {
	_, s := e.create(t, e.user("u"), `{"a":1}`)
	s2, err := e.store.UpdateData(e.ctx, s.ID, s.Version, json.RawMessage(`{"a":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if s2.Version <= s.Version {
		t.Fatalf("version did not increase: %d -> %d", s.Version, s2.Version)
	}
	sameJSON(t, s2.Data(), `{"a":2}`)
	if _, err := e.store.UpdateData(e.ctx, s.ID, s.Version, json.RawMessage(`{"a":3}`)); !errors.Is(err, sessiond.ErrConflict) {
		t.Fatalf("stale version: %v, want ErrConflict", err)
	}
	got, _, _ := e.store.Lookup(e.ctx, s.ID)
	sameJSON(t, got.Data(), `{"a":2}`)
	if _, err := e.store.UpdateData(e.ctx, unknownID(), 1, json.RawMessage(`{}`)); !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("unknown id: %v, want ErrNotFound", err)
	}
}

func testConcurrentPatches(t *testing.T, e *env) {
	_, s := e.create(t, e.user("u"), `{"keep":true}`)
	const writers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				patch := fmt.Sprintf(`{"w%d_%d":%d,"nested":{"w%d":%d}}`, w, i, i, w, i)
				if _, err := e.m.PatchData(e.ctx, s.ID, json.RawMessage(patch)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := e.m.GetSession(e.ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	json.Unmarshal(got.Data(), &data)
	if len(data) != writers*each+2 {
		t.Fatalf("%d keys after %d patches, want %d: writes were lost", len(data), writers*each, writers*each+2)
	}
	if nested, _ := data["nested"].(map[string]any); len(nested) != writers {
		t.Fatalf("nested = %v", data["nested"])
	}
	if got.Version != s.Version+writers*each {
		t.Fatalf("version = %d, want %d", got.Version, s.Version+writers*each)
	}
	// null removes a key (RFC 7396).
	got, err = e.m.PatchData(e.ctx, s.ID, json.RawMessage(`{"keep":null,"nested":null}`))
	if err != nil {
		t.Fatal(err)
	}
	data = nil
	json.Unmarshal(got.Data(), &data)
	if _, ok := data["keep"]; ok {
		t.Fatal("null did not remove the key")
	}
}

func testConcurrentIncrements(t *testing.T, e *env) {
	_, s := e.create(t, e.user("u"), `{"n":0}`)
	const n = 40
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.m.UpdateData(e.ctx, s.ID, func(d json.RawMessage) (json.RawMessage, error) {
				var v struct{ N int }
				if err := json.Unmarshal(d, &v); err != nil {
					return nil, err
				}
				return json.Marshal(map[string]int{"n": v.N + 1})
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, _ := e.m.GetSession(e.ctx, s.ID)
	sameJSON(t, got.Data(), fmt.Sprintf(`{"n":%d}`, n))
}

// testUpdateVsRevoke is the resurrection test: scs, gorilla/sessions and
// express-session save the whole session at the end of a request, so a
// request in flight during a logout writes the session back.
func testUpdateVsRevoke(t *testing.T, e *env) {
	u := e.user("u")
	for round := range 15 {
		tok, s := e.create(t, u, `{}`)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					_, err := e.m.PatchData(e.ctx, s.ID, json.RawMessage(fmt.Sprintf(`{"w%d":%d}`, w, i)))
					if errors.Is(err, sessiond.ErrNotFound) {
						return
					}
					if err != nil {
						t.Errorf("patch: %v", err)
						return
					}
					e.m.Validate(e.ctx, tok)
				}
			}()
		}
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		if err := e.m.Revoke(e.ctx, tok); err != nil {
			t.Fatal(err)
		}
		e.mustInvalid(t, e.m, tok, "right after revoke")
		close(stop)
		wg.Wait()
		e.mustInvalid(t, e.m, tok, "after in-flight updates finished")
		if _, _, err := e.store.Lookup(e.ctx, s.ID); !errors.Is(err, sessiond.ErrNotFound) {
			t.Fatalf("round %d: the session came back: %v", round, err)
		}
	}
	if ids := e.ids(t, u); len(ids) != 0 {
		t.Fatalf("index lists resurrected sessions: %v", ids)
	}
}

func testUpdateVsRevokeAll(t *testing.T, e *env) {
	u := e.user("u")
	var toks []string
	var ids []string
	for range 4 {
		tok, s := e.create(t, u, "")
		toks, ids = append(toks, tok), append(ids, s.ID)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := e.m.PatchData(e.ctx, id, json.RawMessage(`{"x":1}`)); errors.Is(err, sessiond.ErrNotFound) {
					return
				}
			}
		}()
	}
	time.Sleep(3 * time.Millisecond)
	if _, err := e.m.RevokeUserSessions(e.ctx, u, ""); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	for _, tok := range toks {
		e.mustInvalid(t, e.m, tok, "after revoke-all with updates in flight")
	}
	if got := e.ids(t, u); len(got) != 0 {
		t.Fatalf("sessions came back: %v", got)
	}
}

func testLargeData(t *testing.T, e *env) {
	// ~60 KiB of mixed-script text, under the 64 KiB default limit.
	big := strings.Repeat("ünïcödé 数据 😀 \"quoted\" \\ ", 60<<10/40)
	data, _ := json.Marshal(map[string]any{"blob": big, "list": []int{1, 2, 3}})
	if len(data) > sessiond.DefaultConfig().MaxDataSize {
		data, _ = json.Marshal(map[string]any{"blob": big[:50<<10]})
	}
	tok, _, err := e.m.Create(e.ctx, sessiond.NewSession{UserID: e.user("u"), Data: data})
	if err != nil {
		t.Fatalf("create with %d bytes: %v", len(data), err)
	}
	got := e.mustValid(t, e.m, tok, "large data")
	sameJSON(t, got.Data(), string(data))
	tooBig, _ := json.Marshal(map[string]string{"blob": strings.Repeat("x", sessiond.DefaultConfig().MaxDataSize)})
	if _, _, err := e.m.Create(e.ctx, sessiond.NewSession{UserID: e.user("u"), Data: tooBig}); !errors.Is(err, sessiond.ErrDataTooLarge) {
		t.Fatalf("oversized create = %v", err)
	}
	if _, err := e.m.PatchData(e.ctx, got.ID, tooBig); !errors.Is(err, sessiond.ErrDataTooLarge) {
		t.Fatalf("oversized patch = %v", err)
	}
	sameJSON(t, e.mustValid(t, e.m, tok, "after refused patch").Data(), string(data))
}

func testUnicodeIDs(t *testing.T, e *env) {
	ids := []string{"用户-ü-😀", "a b", `x'y"z;--`, "{tag}", "%s%n", "Ａ", "A", "a", "user:1", "user:1:sessions", `\`, strings.Repeat("é", 128)}
	toks := map[string]string{}
	for _, id := range ids {
		u := e.prefix + id
		if len(u) > maxUserIDLen {
			u = u[:maxUserIDLen-len("é")]
			u = strings.ToValidUTF8(u, "")
		}
		tok, _ := e.create(t, u, "")
		toks[u] = tok
		_, usr, err := e.m.Validate(e.ctx, tok)
		if err != nil || usr.ID != u {
			t.Fatalf("validate for %q: %v %+v", u, err, usr)
		}
	}
	for u := range toks {
		if got := e.ids(t, u); len(got) != 1 {
			t.Fatalf("user %q lists %d sessions, want 1 (ids must not collide)", u, len(got))
		}
	}
	// Revoking one of them touches no other.
	victim := e.prefix + "a"
	if n, err := e.m.RevokeUserSessions(e.ctx, victim, ""); err != nil || n != 1 {
		t.Fatalf("RevokeUserSessions(%q) = %d, %v", victim, n, err)
	}
	for u, tok := range toks {
		if u == victim {
			e.mustInvalid(t, e.m, tok, u)
		} else {
			e.mustValid(t, e.m, tok, u)
		}
	}
}

func testManyUsers(t *testing.T, e *env) {
	const users = 100
	toks := make([][2]string, users)
	for i := range users {
		for j := range 2 {
			toks[i][j], _ = e.create(t, e.user(fmt.Sprint("user", i)), fmt.Sprintf(`{"i":%d}`, i))
		}
	}
	if n, err := e.m.RevokeUserSessions(e.ctx, e.user("user7"), ""); err != nil || n != 2 {
		t.Fatalf("RevokeUserSessions = %d, %v", n, err)
	}
	for i := range users {
		list, err := e.m.ListUserSessions(e.ctx, e.user(fmt.Sprint("user", i)))
		if err != nil {
			t.Fatal(err)
		}
		want := 2
		if i == 7 {
			want = 0
		}
		if len(list) != want {
			t.Fatalf("user%d has %d sessions, want %d", i, len(list), want)
		}
		for j := range 2 {
			s, _, err := e.m.Validate(e.ctx, toks[i][j])
			if i == 7 {
				if err == nil {
					t.Fatal("revoked user's session still valid")
				}
				continue
			}
			if err != nil || s.UserID != e.user(fmt.Sprint("user", i)) {
				t.Fatalf("user%d: %v", i, err)
			}
		}
	}
}

func testUsers(t *testing.T, e *env) {
	u := e.user("u")
	if _, err := e.store.GetUser(e.ctx, u); !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("GetUser(unknown) = %v", err)
	}
	tok, _ := e.create(t, u, "")
	if _, err := e.m.PutUser(e.ctx, sessiond.User{ID: u, Status: sessiond.UserActive}.WithRoles("customer").WithAttributes(json.RawMessage(`{"plan":"pro","名前":"アリス"}`))); err != nil {
		t.Fatal(err)
	}
	_, usr, err := e.m.Validate(e.ctx, tok)
	if err != nil || !usr.HasRole("customer") || len(usr.Roles()) != 1 {
		t.Fatalf("validate after PutUser: %v %+v", err, usr)
	}
	sameJSON(t, usr.Attributes(), `{"plan":"pro","名前":"アリス"}`)
	// A role change is seen by the very next validation.
	if _, err := e.m.PutUser(e.ctx, sessiond.User{ID: u, Status: sessiond.UserActive}.WithRoles("admin", "customer")); err != nil {
		t.Fatal(err)
	}
	_, usr, _ = e.m.Validate(e.ctx, tok)
	if !usr.HasRole("admin") {
		t.Fatalf("role change not seen: %+v", usr)
	}
	got, err := e.store.GetUser(e.ctx, u)
	if err != nil || got.Status != sessiond.UserActive || len(got.Roles()) != 2 || got.UpdatedAt.IsZero() {
		t.Fatalf("GetUser = %+v, %v", got, err)
	}
	sameJSON(t, got.Attributes(), `{}`)
}

func testBan(t *testing.T, e *env) {
	u := e.user("u")
	tok1, _ := e.create(t, u, "")
	tok2, _ := e.create(t, u, "")
	bystander, _ := e.create(t, e.user("bystander"), "")
	n, err := e.m.PutUser(e.ctx, sessiond.User{ID: u, Status: sessiond.UserBanned})
	if err != nil || n != 2 {
		t.Fatalf("ban = %d, %v; want 2 sessions revoked", n, err)
	}
	e.mustInvalid(t, e.m, tok1, "banned")
	e.mustInvalid(t, e.m, tok2, "banned")
	e.mustValid(t, e.m, bystander, "another user")
	if _, _, err := e.m.Create(e.ctx, sessiond.NewSession{UserID: u}); !errors.Is(err, sessiond.ErrUserBanned) {
		t.Fatalf("Create for a banned user = %v, want ErrUserBanned", err)
	}
	if ids := e.ids(t, u); len(ids) != 0 {
		t.Fatalf("banned user's index: %v", ids)
	}
	if _, err := e.m.PutUser(e.ctx, sessiond.User{ID: u, Status: sessiond.UserActive}); err != nil {
		t.Fatal(err)
	}
	tok, _ := e.create(t, u, "")
	e.mustValid(t, e.m, tok, "after unban")
	e.mustInvalid(t, e.m, tok1, "old session stays dead after unban")
}

// apiKeyStore is what the server asks of a store that keeps its API keys.
type apiKeyStore interface {
	CreateAPIKey(ctx context.Context, k apikey.Key) error
	APIKeyByHash(ctx context.Context, hash string) (apikey.Key, error)
	ListAPIKeys(ctx context.Context) ([]apikey.Key, error)
	DeleteAPIKey(ctx context.Context, id string) error
}

func testAPIKeys(t *testing.T, e *env) {
	ks, ok := e.store.(apiKeyStore)
	if !ok {
		t.Skip("store does not hold API keys")
	}
	id, hash := "key_"+randHex(8), randHex(32)
	k := apikey.Key{ID: id, Name: "ci " + e.prefix, Hash: hash, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	if err := ks.CreateAPIKey(e.ctx, k); err != nil {
		t.Fatal(err)
	}
	got, err := ks.APIKeyByHash(e.ctx, hash)
	if err != nil || got.ID != id || got.Name != k.Name || got.Hash != hash || !got.CreatedAt.Equal(k.CreatedAt) {
		t.Fatalf("APIKeyByHash = %+v, %v", got, err)
	}
	if _, err := ks.APIKeyByHash(e.ctx, randHex(32)); !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("unknown hash: %v", err)
	}
	list, err := ks.ListAPIKeys(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range list {
		found = found || l.ID == id
	}
	if !found {
		t.Fatal("ListAPIKeys misses the new key")
	}
	if err := ks.DeleteAPIKey(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.APIKeyByHash(e.ctx, hash); !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("deleted key still found: %v", err)
	}
	if err := ks.DeleteAPIKey(e.ctx, id); !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func testSweep(t *testing.T, e *env) {
	sw, ok := e.store.(interface {
		DeleteExpired(ctx context.Context, now time.Time) (int, error)
	})
	if !ok {
		t.Skip("the engine expires records by itself")
	}
	u := e.user("u")
	_, short, err := e.m.Create(e.ctx, sessiond.NewSession{UserID: u, IdleTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, long := e.create(t, u, "")
	time.Sleep(1600 * time.Millisecond)
	if _, err := sw.DeleteExpired(e.ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	ids := e.ids(t, u)
	if ids[short.ID] || !ids[long.ID] {
		t.Fatalf("after sweep: %v; want only %s", ids, long.ID)
	}
}

// tokenLedger is what one-time tokens ask of a store (package
// server/onetime): single use across every node sharing the store.
type tokenLedger interface {
	RedeemToken(ctx context.Context, id string, expires time.Time) (bool, error)
}

func testRedeemToken(t *testing.T, e *env) {
	l, ok := e.store.(tokenLedger)
	if !ok {
		t.Skip("store has no token ledger")
	}
	id := "ott_" + e.prefix + randHex(8)
	const n = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, used := 0, 0
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			redeemed, err := l.RedeemToken(e.ctx, id, time.Now().Add(time.Minute))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Error(err)
			case redeemed:
				wins++
			default:
				used++
			}
		}()
	}
	wg.Wait()
	if wins != 1 || used != n-1 {
		t.Fatalf("%d concurrent redemptions: %d succeeded, %d refused; want exactly one success", n, wins, used)
	}
	// Other ids are independent; an entry lives until its expiry only.
	short := "ott_" + e.prefix + randHex(8)
	redeem := func(why string, want bool) {
		t.Helper()
		if got, err := l.RedeemToken(e.ctx, short, time.Now().Add(time.Second)); err != nil || got != want {
			t.Fatalf("%s: RedeemToken = %v, %v; want %v", why, got, err, want)
		}
	}
	redeem("first redemption", true)
	redeem("second redemption", false)
	time.Sleep(1200 * time.Millisecond)
	redeem("after the ledger entry expired", true)
}
