package sessiond_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/nearcache"
	"github.com/sessiond/sessiond/stores/memory"
)

// countingStore counts the calls that reach a real store.
type countingStore struct {
	*memory.Store
	lookups, touches atomic.Int64
}

func (c *countingStore) Lookup(ctx context.Context, id string) (sessiond.Session, sessiond.User, error) {
	c.lookups.Add(1)
	return c.Store.Lookup(ctx, id)
}

func (c *countingStore) Touch(ctx context.Context, id string, seen, idle time.Time) error {
	c.touches.Add(1)
	return c.Store.Touch(ctx, id, seen, idle)
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

var testKeys = func() *sessiond.Keyring {
	kr, err := sessiond.NewKeyring([]byte("manager test secret: at least thirty-two bytes"))
	if err != nil {
		panic(err)
	}
	return kr
}()

func newManager(t *testing.T, cfg sessiond.Config) (*sessiond.Manager, *countingStore, *clock) {
	st := &countingStore{Store: memory.New()}
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	cfg.Now = clk.now
	return sessiond.NewManager(st, testKeys, cfg), st, clk
}

func TestSteadyStateValidationIsOneRead(t *testing.T) {
	m, st, clk := newManager(t, sessiond.Config{})
	tok, _, err := m.Create(t.Context(), sessiond.NewSession{UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for range n {
		clk.advance(100 * time.Millisecond) // 100 s in all: one touch per minute
		if _, _, err := m.Validate(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := st.lookups.Load(); got != n {
		t.Fatalf("%d lookups for %d validations", got, n)
	}
	if got := st.touches.Load(); got != 1 {
		t.Fatalf("%d touches in 100 s of steady use, want 1 (one per TouchInterval)", got)
	}
}

// The case: an idle timeout of 4 s, used every 1.5 s, with the
// default one-minute touch interval. It must live to its lifetime.
func TestShortIdleTimeoutSlides(t *testing.T) {
	m, st, clk := newManager(t, sessiond.Config{})
	tok, s, err := m.Create(t.Context(), sessiond.NewSession{UserID: "u", IdleTimeout: 4 * time.Second, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for clk.t.Add(1500 * time.Millisecond).Before(s.ExpiresAt) {
		clk.advance(1500 * time.Millisecond)
		if _, _, err := m.Validate(t.Context(), tok); err != nil {
			t.Fatalf("%v after creation: %v", clk.t.Sub(s.CreatedAt), err)
		}
	}
	// One touch per 2 s (half the idle timeout) at most.
	if got, max := st.touches.Load(), int64(time.Hour/(2*time.Second)); got > max {
		t.Fatalf("%d touches in an hour, want at most %d", got, max)
	}
	clk.advance(1500 * time.Millisecond)
	if _, _, err := m.Validate(t.Context(), tok); !errors.Is(err, sessiond.ErrInvalidSession) {
		t.Fatalf("past the lifetime: %v", err)
	}
}

// Every gap just under the idle timeout, for idle timeouts from 1 s up: the
// worst case for a throttled slide.
func TestSlidingAtAnyIdleTimeout(t *testing.T) {
	for _, idle := range []time.Duration{time.Second, 3 * time.Second, time.Minute, 30 * time.Minute, 2 * time.Hour} {
		m, _, clk := newManager(t, sessiond.Config{})
		tok, _, err := m.Create(t.Context(), sessiond.NewSession{UserID: "u", IdleTimeout: idle})
		if err != nil {
			t.Fatal(err)
		}
		gaps := []time.Duration{idle - time.Millisecond, idle / 3, idle - time.Millisecond, idle / 2, idle/2 - time.Millisecond, idle - time.Millisecond}
		for i := range 40 {
			clk.advance(gaps[i%len(gaps)])
			if _, _, err := m.Validate(t.Context(), tok); err != nil {
				t.Fatalf("idle %v, use %d: %v", idle, i, err)
			}
		}
		// Unused, it ends within idle + min(touch interval, idle/2).
		clk.advance(idle + min(time.Minute, idle/2))
		if _, _, err := m.Validate(t.Context(), tok); !errors.Is(err, sessiond.ErrInvalidSession) {
			t.Fatalf("idle %v: alive after idle + slack: %v", idle, err)
		}
	}
}

func TestForgedTokensCostNoStoreCall(t *testing.T) {
	m, st, _ := newManager(t, sessiond.Config{})
	other, _ := sessiond.NewKeyring([]byte("another secret, at least thirty-two bytes long"))
	forged, _, _ := sessiond.NewManager(memory.New(), other, sessiond.Config{}).Create(t.Context(), sessiond.NewSession{UserID: "u"})
	tok, s, _ := m.Create(t.Context(), sessiond.NewSession{UserID: "u"})
	madeUp := tok[:strings.Index(tok, s.ID)+len(s.ID)] + strings.Repeat("A", 59) // the public id, a made-up secret
	for _, bad := range []string{"", "sess_x", forged, madeUp, strings.Repeat("sess_", 100)} {
		if _, _, err := m.Validate(t.Context(), bad); !errors.Is(err, sessiond.ErrInvalidSession) {
			t.Fatalf("Validate(%q) = %v", bad, err)
		}
	}
	if st.lookups.Load() != 0 {
		t.Fatalf("forged tokens reached the store %d times", st.lookups.Load())
	}
}

// With a cache, a hit needs the token's secret just as a store read does.
func TestCacheHitNeedsTheSecret(t *testing.T) {
	st := &countingStore{Store: memory.New()}
	c, err := nearcache.New(st, nearcache.Options{MaxStaleness: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	for !c.Healthy() {
		time.Sleep(time.Millisecond)
	}
	m := sessiond.NewManager(st, testKeys, sessiond.Config{Cache: c})
	tok, s, _ := m.Create(t.Context(), sessiond.NewSession{UserID: "u"})
	for range 3 {
		if _, _, err := m.Validate(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := st.lookups.Load(); got != 1 {
		t.Fatalf("%d store reads for 3 validations, want 1 (then hits)", got)
	}
	i := strings.Index(tok, s.ID) + len(s.ID)
	for _, bad := range []string{tok[:i] + strings.Repeat("A", 59), tok[:len(tok)-1] + "x"} {
		if _, _, err := m.Validate(t.Context(), bad); !errors.Is(err, sessiond.ErrInvalidSession) {
			t.Fatalf("cached session, wrong secret: %v", err)
		}
	}
	newTok, _, err := m.Rotate(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Validate(t.Context(), tok); !errors.Is(err, sessiond.ErrTokenRotated) {
		t.Fatalf("old token after rotation: %v, want ErrTokenRotated", err)
	}
	if _, _, err := m.Validate(t.Context(), newTok); err != nil {
		t.Fatal(err)
	}
}

func TestExpiryWithClock(t *testing.T) {
	m, _, clk := newManager(t, sessiond.Config{})
	tok, s, _ := m.Create(t.Context(), sessiond.NewSession{UserID: "u"})
	// Used every 29 minutes, the session outlives its 30-minute idle
	// timeout, until the 30-day lifetime ends it.
	for clk.t.Add(29 * time.Minute).Before(s.ExpiresAt) {
		clk.advance(29 * time.Minute)
		if _, _, err := m.Validate(t.Context(), tok); err != nil {
			t.Fatalf("at %v: %v", clk.t, err)
		}
	}
	clk.advance(29 * time.Minute)
	if _, _, err := m.Validate(t.Context(), tok); !errors.Is(err, sessiond.ErrInvalidSession) {
		t.Fatalf("past the absolute lifetime: %v", err)
	}
	tok2, _, _ := m.Create(t.Context(), sessiond.NewSession{UserID: "u"})
	clk.advance(31 * time.Minute) // idle 30 min + the one-minute touch slack
	if _, _, err := m.Validate(t.Context(), tok2); !errors.Is(err, sessiond.ErrInvalidSession) {
		t.Fatalf("past the idle timeout: %v", err)
	}
}

func TestCreateValidatesInput(t *testing.T) {
	m, _, _ := newManager(t, sessiond.Config{})
	for _, ns := range []sessiond.NewSession{
		{UserID: ""},
		{UserID: strings.Repeat("u", 257)},
		{UserID: "bad\xffutf8"},
		{UserID: "ctl\x00"},
		{UserID: "u", Data: json.RawMessage(`[1]`)},
		{UserID: "u", Data: json.RawMessage(`{"a":`)},
		{UserID: "u", Lifetime: time.Millisecond},
		{UserID: "u", IdleTimeout: -time.Hour},
		{UserID: "u", Lifetime: 400 * 24 * time.Hour},
	} {
		if _, _, err := m.Create(t.Context(), ns); !errors.Is(err, sessiond.ErrInvalidRequest) {
			t.Errorf("Create(%+v) = %v, want invalid_request", ns, err)
		}
	}
	// Client details are clipped, never refused.
	_, s, err := m.Create(t.Context(), sessiond.NewSession{UserID: "u", Client: sessiond.Client{UserAgent: strings.Repeat("ü", 1000) + "\xff"}})
	if err != nil || len(s.Client.UserAgent) > 512 || strings.ContainsRune(s.Client.UserAgent, utf8.RuneError) {
		t.Fatalf("long user agent: %v, %d bytes", err, len(s.Client.UserAgent))
	}
	_, s, _ = m.Create(t.Context(), sessiond.NewSession{UserID: "u", Client: sessiond.Client{IP: "1.2.3.4\x00", UserAgent: "a\x00b\nc"}})
	if s.Client.IP != "1.2.3.4" || s.Client.UserAgent != "abc" {
		t.Fatalf("control characters kept: %q %q", s.Client.IP, s.Client.UserAgent)
	}
}

func TestPutUserValidates(t *testing.T) {
	m, _, _ := newManager(t, sessiond.Config{})
	active := sessiond.User{ID: "u", Status: sessiond.UserActive}
	for _, u := range []sessiond.User{
		{ID: "u", Status: "frozen"},
		active.WithRoles("ok", "has space"),
		active.WithRoles(""),
		active.WithRoles("a,b"),
		active.WithAttributes(json.RawMessage(`[]`)),
		{ID: "", Status: sessiond.UserActive},
	} {
		if _, err := m.PutUser(t.Context(), u); !errors.Is(err, sessiond.ErrInvalidRequest) {
			t.Errorf("PutUser(%+v) = %v, want invalid_request", u, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (sessiond.Config{}).Validate(); err != nil {
		t.Fatalf("the zero Config: %v", err)
	}
	for _, c := range []sessiond.Config{
		{IdleTimeout: -1}, {Lifetime: 400 * 24 * time.Hour}, {IdleTimeout: time.Millisecond}, {MaxDataSize: -1},
	} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
