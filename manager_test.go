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
	"github.com/sessiond/sessiond/memory"
)

// countingStore counts the calls that reach a real store.
type countingStore struct {
	*memory.Store
	lookups, touches atomic.Int64
}

func (c *countingStore) Lookup(ctx context.Context, id string) (*sessiond.Session, *sessiond.User, error) {
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

func newManager(t *testing.T) (*sessiond.Manager, *countingStore, *clock) {
	st := &countingStore{Store: memory.New()}
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	m := sessiond.NewManager(st, keyring(t, secretA), sessiond.Config{Now: clk.now})
	return m, st, clk
}

func TestSteadyStateValidationIsOneRead(t *testing.T) {
	m, st, clk := newManager(t)
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

func TestForgedTokensCostNoStoreCall(t *testing.T) {
	m, st, _ := newManager(t)
	other := keyring(t, secretB)
	forged, _ := other.NewToken()
	for _, tok := range []string{"", "sess_x", forged, strings.Repeat("sess_", 100)} {
		if _, _, err := m.Validate(t.Context(), tok); !errors.Is(err, sessiond.ErrInvalidSession) {
			t.Fatalf("Validate(%q) = %v", tok, err)
		}
	}
	if st.lookups.Load() != 0 {
		t.Fatalf("forged tokens reached the store %d times", st.lookups.Load())
	}
}

func TestExpiryWithClock(t *testing.T) {
	m, _, clk := newManager(t)
	tok, s, _ := m.Create(t.Context(), sessiond.NewSession{UserID: "u"})
	// Used every 20 minutes, the session outlives its 30-minute idle
	// timeout, until the 30-day lifetime ends it.
	for clk.t.Add(20 * time.Minute).Before(s.ExpiresAt) {
		clk.advance(20 * time.Minute)
		if _, _, err := m.Validate(t.Context(), tok); err != nil {
			t.Fatalf("at %v: %v", clk.t, err)
		}
	}
	clk.advance(20 * time.Minute)
	if _, _, err := m.Validate(t.Context(), tok); !errors.Is(err, sessiond.ErrInvalidSession) {
		t.Fatalf("past the absolute lifetime: %v", err)
	}
	tok2, _, _ := m.Create(t.Context(), sessiond.NewSession{UserID: "u"})
	clk.advance(31 * time.Minute)
	if _, _, err := m.Validate(t.Context(), tok2); !errors.Is(err, sessiond.ErrInvalidSession) {
		t.Fatalf("past the idle timeout: %v", err)
	}
}

func TestCreateValidatesInput(t *testing.T) {
	m, _, _ := newManager(t)
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
		if _, _, err := m.Create(t.Context(), ns); sessiond.ErrorCode(err) != sessiond.CodeInvalidInput {
			t.Errorf("Create(%+v) = %v, want invalid_input", ns, err)
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

func TestValidateUser(t *testing.T) {
	for _, u := range []*sessiond.User{
		{ID: "u", Status: "frozen"},
		{ID: "u", Status: sessiond.UserActive, Roles: []string{"ok", "has space"}},
		{ID: "u", Status: sessiond.UserActive, Roles: []string{""}},
		{ID: "u", Status: sessiond.UserActive, Roles: []string{"a,b"}},
		{ID: "u", Status: sessiond.UserActive, Attributes: json.RawMessage(`[]`)},
		{ID: "", Status: sessiond.UserActive},
	} {
		if err := sessiond.ValidateUser(u); err == nil {
			t.Errorf("ValidateUser(%+v) accepted", u)
		}
	}
}
