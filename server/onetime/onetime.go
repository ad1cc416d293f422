// Package onetime mints and redeems short-lived, purpose-bound tokens:
// PASETO v4.public (Ed25519), via aidanwoods.dev/go-paseto — never
// hand-rolled crypto.
//
// This is where signed tokens belong: a download link for a separate file
// server, an email-verification or password-reset link, a hand-off between
// services. They live minutes, not days; they are bound to a purpose and
// optionally an audience; and when single-use, the store's Ledger makes
// sure exactly one redemption succeeds, across every node. Other services
// verify them offline with the public keys (PASERK k4.public).
package onetime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"aidanwoods.dev/go-paseto"
	"golang.org/x/crypto/blake2b"

	"github.com/sessiond/sessiond"
)

// Error codes of the JSON API for one-time tokens.
const (
	CodeTokenInvalid = "token_invalid"
	CodeTokenExpired = "token_expired"
	CodeTokenUsed    = "token_used"
)

var (
	// ErrInvalid covers forged, malformed, wrong-purpose and wrong-audience
	// tokens alike.
	ErrInvalid = &sessiond.Error{Code: CodeTokenInvalid, Message: "the token is invalid"}
	// ErrExpired is returned for a genuine token past its expiry.
	ErrExpired = &sessiond.Error{Code: CodeTokenExpired, Message: "the token has expired"}
	// ErrTokenUsed is returned when a single-use token is redeemed again.
	ErrTokenUsed = &sessiond.Error{Code: CodeTokenUsed, Message: "the token has already been used"}
)

// Ledger records redeemed single-use tokens: a capability of the SQL,
// Redis and memory stores, so that every node sharing a store agrees on
// which token was used.
type Ledger interface {
	// RedeemToken records token id as used until expires (after which the
	// token is refused as expired anyway, and the record may go). It
	// reports true to the one call that redeemed it, false to every later
	// one, atomically across concurrent callers.
	RedeemToken(ctx context.Context, id string, expires time.Time) (redeemed bool, err error)
}

// Limits. Tokens are meant to be short-lived: a day at most.
const (
	DefaultTTL     = 5 * time.Minute
	MaxTTL         = 24 * time.Hour
	MaxClaimsSize  = 4 << 10
	MaxFieldLen    = 256
	MaxTokenLen    = 8 << 10
	maxPurposeLen  = 64
	issuerName     = "sessiond"
	purposePattern = "1-64 characters of letters, digits and _.:-"
)

// Request describes a token to mint.
type Request struct {
	Purpose   string          `json:"purpose"`
	Subject   string          `json:"subject"`
	Audience  string          `json:"audience,omitempty"`
	TTL       time.Duration   `json:"-"`
	Claims    json.RawMessage `json:"claims,omitempty"`
	SingleUse bool            `json:"single_use"`
}

// Redeemed is what a successful verification returns.
type Redeemed struct {
	Subject   string          `json:"subject"`
	Claims    json.RawMessage `json:"claims"`
	Purpose   string          `json:"purpose"`
	Audience  string          `json:"audience,omitempty"`
	ExpiresAt time.Time       `json:"expires_at"`
}

// PublicKey is a verification key for other services.
type PublicKey struct {
	ID     string `json:"id"`     // PASERK k4.pid, also the token footer's kid
	PASERK string `json:"paserk"` // k4.public.…
}

type key struct {
	PublicKey
	secret paseto.V4AsymmetricSecretKey
	public paseto.V4AsymmetricPublicKey
}

// Issuer mints with its first key and verifies with all of them, so keys
// rotate like the session keys do.
type Issuer struct {
	keys   []key
	ledger Ledger // nil: single-use tokens are refused
	now    func() time.Time
}

// NewIssuer returns an Issuer. ledger records single-use redemptions; it
// must be the store shared by all nodes for single-use tokens to be
// single-use everywhere. With a nil ledger (a store without the
// capability) the issuer mints only tokens that may be used more than once.
func NewIssuer(ledger Ledger, secrets ...paseto.V4AsymmetricSecretKey) (*Issuer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("onetime: at least one key is needed")
	}
	is := &Issuer{ledger: ledger, now: time.Now}
	for _, s := range secrets {
		pub := s.Public()
		paserk := "k4.public." + base64.RawURLEncoding.EncodeToString(pub.ExportBytes())
		is.keys = append(is.keys, key{PublicKey: PublicKey{ID: paserkID(paserk), PASERK: paserk}, secret: s, public: pub})
	}
	return is, nil
}

// paserkID is the PASERK "pid" of a k4.public key: BLAKE2b-264 over the
// header and the key, as the PASERK specification defines it.
func paserkID(paserk string) string {
	const header = "k4.pid."
	h, _ := blake2b.New(33, nil)
	h.Write([]byte(header + paserk))
	return header + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// PublicKeys returns the verification keys, current first.
func (is *Issuer) PublicKeys() []PublicKey {
	out := make([]PublicKey, len(is.keys))
	for i, k := range is.keys {
		out[i] = k.PublicKey
	}
	return out
}

type footer struct {
	KID string `json:"kid"`
}

// Issue mints a token.
func (is *Issuer) Issue(req Request) (token string, expiresAt time.Time, err error) {
	if err := checkRequest(&req); err != nil {
		return "", time.Time{}, err
	}
	if req.SingleUse && is.ledger == nil {
		// Minting it would promise what no redemption could keep.
		return "", time.Time{}, invalid("this server's store cannot redeem single-use tokens; set single_use to false")
	}
	now := is.now().UTC().Truncate(time.Second)
	expiresAt = now.Add(req.TTL)
	jti := make([]byte, 16)
	rand.Read(jti)

	t := paseto.NewToken()
	t.SetIssuer(issuerName)
	t.SetSubject(req.Subject)
	if req.Audience != "" {
		t.SetAudience(req.Audience)
	}
	t.SetIssuedAt(now)
	t.SetNotBefore(now)
	t.SetExpiration(expiresAt)
	t.SetJti(base64.RawURLEncoding.EncodeToString(jti))
	t.SetString("purpose", req.Purpose)
	if req.SingleUse {
		t.Set("single_use", true)
	}
	if len(req.Claims) > 0 {
		t.Set("claims", req.Claims)
	}
	k := is.keys[0]
	f, _ := json.Marshal(footer{KID: k.ID})
	t.SetFooter(f)
	return t.V4Sign(k.secret, nil), expiresAt, nil
}

// Verify checks a token for purpose (and audience, which must match the
// token's when the token names one) and, for a single-use token, redeems it.
// It returns ErrExpired, ErrTokenUsed or ErrInvalid; any other error means
// the ledger could not be reached.
func (is *Issuer) Verify(ctx context.Context, token, purpose, audience string) (*Redeemed, error) {
	if len(token) > MaxTokenLen || !strings.HasPrefix(token, "v4.public.") {
		return nil, ErrInvalid
	}
	raw, err := paseto.NewParser().UnsafeParseFooter(paseto.V4Public, token)
	if err != nil {
		return nil, ErrInvalid
	}
	var f footer
	if json.Unmarshal(raw, &f) != nil {
		return nil, ErrInvalid
	}
	var k *key
	for i := range is.keys {
		if is.keys[i].ID == f.KID {
			k = &is.keys[i]
		}
	}
	if k == nil {
		return nil, ErrInvalid
	}
	// Expiry is checked by hand below so that a genuine but expired token
	// answers "expired" rather than "invalid".
	parser := paseto.MakeParser([]paseto.Rule{paseto.IssuedBy(issuerName)})
	t, err := parser.ParseV4Public(k.public, token, nil)
	if err != nil {
		return nil, ErrInvalid
	}
	exp, err := t.GetExpiration()
	if err != nil {
		return nil, ErrInvalid
	}
	now := is.now()
	if nbf, err := t.GetNotBefore(); err == nil && now.Add(time.Minute).Before(nbf) {
		return nil, ErrInvalid
	}
	if !now.Before(exp) {
		return nil, ErrExpired
	}
	r := &Redeemed{ExpiresAt: exp.UTC()}
	r.Subject, _ = t.GetSubject()
	r.Purpose, _ = t.GetString("purpose")
	r.Audience, _ = t.GetAudience()
	if r.Purpose != purpose || r.Audience != audience {
		return nil, ErrInvalid
	}
	r.Claims = json.RawMessage("{}")
	t.Get("claims", &r.Claims)
	var singleUse bool
	if t.Get("single_use", &singleUse) == nil && singleUse {
		jti, err := t.GetJti()
		if err != nil || jti == "" {
			return nil, ErrInvalid
		}
		if is.ledger == nil {
			return nil, errors.New("onetime: no ledger to redeem a single-use token")
		}
		redeemed, err := is.ledger.RedeemToken(ctx, "ott:"+jti, exp)
		if err != nil {
			return nil, err
		}
		if !redeemed {
			return nil, ErrTokenUsed
		}
	}
	return r, nil
}

// CheckPurpose accepts a purpose a token can carry: 1 to 64 characters of
// letters, digits and _.:- (so that it reads unambiguously in a log line
// or a claim). Anything else is an invalid_request error.
func CheckPurpose(purpose string) error {
	if purpose == "" || len(purpose) > maxPurposeLen {
		return invalid("purpose must be " + purposePattern)
	}
	for i := 0; i < len(purpose); i++ {
		c := purpose[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-') {
			return invalid("purpose must be " + purposePattern)
		}
	}
	return nil
}

// invalid is a refused request: the domain's invalid_request, with what
// was wrong.
func invalid(message string) error {
	return &sessiond.Error{Code: sessiond.ErrInvalidRequest.Code, Message: message}
}

func checkRequest(req *Request) error {
	if err := CheckPurpose(req.Purpose); err != nil {
		return err
	}
	if err := checkText("subject", req.Subject, true); err != nil {
		return err
	}
	if err := checkText("audience", req.Audience, false); err != nil {
		return err
	}
	switch {
	case req.TTL == 0:
		req.TTL = DefaultTTL
	case req.TTL < time.Second || req.TTL > MaxTTL:
		return invalid(fmt.Sprintf("ttl must be between 1s and %s", MaxTTL))
	}
	if len(req.Claims) > 0 {
		if len(req.Claims) > MaxClaimsSize {
			return invalid(fmt.Sprintf("claims exceed %d bytes", MaxClaimsSize))
		}
		c, ok := compactObject(req.Claims)
		if !ok {
			return invalid("claims must be a JSON object")
		}
		req.Claims = c
	}
	return nil
}

// compactObject returns b compacted if it is exactly one JSON object of
// valid UTF-8 (RFC 8259), else false.
func compactObject(b json.RawMessage) (json.RawMessage, bool) {
	if !utf8.Valid(b) {
		return nil, false
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if d.Decode(&m) != nil || m == nil || d.More() {
		return nil, false
	}
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return nil, false
	}
	return buf.Bytes(), true
}

func checkText(name, v string, required bool) error {
	switch {
	case v == "" && required:
		return invalid(name + " is required")
	case len(v) > MaxFieldLen:
		return invalid(fmt.Sprintf("%s is longer than %d bytes", name, MaxFieldLen))
	case !utf8.ValidString(v):
		return invalid(name + " is not valid UTF-8")
	}
	return nil
}

// ParseSecretKey reads a key stored as the hex of its 32-byte seed.
func ParseSecretKey(seedHex string) (paseto.V4AsymmetricSecretKey, error) {
	k, err := paseto.NewV4AsymmetricSecretKeyFromSeed(strings.TrimSpace(seedHex))
	if err != nil {
		return k, fmt.Errorf("onetime: bad key: %w", err)
	}
	return k, nil
}
