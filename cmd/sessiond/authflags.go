package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"aidanwoods.dev/go-paseto"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/assertion"
	"github.com/sessiond/sessiond/nearcache"
	"github.com/sessiond/sessiond/onetime"
	"github.com/sessiond/sessiond/server"
)

// authFlags configure what `sessiond serve` adds around the session API:
// the near cache, forward auth (/v1/auth), identity assertions and
// one-time tokens.
type authFlags struct {
	nearCache         bool
	maxStaleness      time.Duration
	trustedProxies    prefixList
	failureRate       float64
	failureBurst      int
	cacheSize         int
	assertions        bool
	assertionAudience string
	assertionTTL      time.Duration
}

func (f *authFlags) register(c *command) {
	c.BoolVar(&f.nearCache, "near-cache", true, "cache validated sessions in process, kept coherent by the store's invalidations (used only with a store that announces them)")
	c.DurationVar(&f.maxStaleness, "near-cache-max-staleness", time.Second, "hard bound on how long a lost invalidation can go unnoticed")
	c.IntVar(&f.cacheSize, "near-cache-size", 100_000, "most sessions (and, separately, users) the near cache holds")
	c.Var(&f.trustedProxies, "trusted-proxies", "comma-separated CIDR prefixes or addresses of reverse proxies whose X-Forwarded-For names the client that /v1/auth rate-limits (default none)")
	c.Float64Var(&f.failureRate, "auth-failure-rate", server.DefaultAuthFailureRate, "invalid tokens per second a client address earns back at /v1/auth")
	c.IntVar(&f.failureBurst, "auth-failure-burst", server.DefaultAuthFailureBurst, "invalid tokens a client address may send at once before /v1/auth answers 429")
	c.BoolVar(&f.assertions, "identity-assertion", false, "/v1/auth adds X-Identity-Token, a JWT (EdDSA) verifiable with GET /.well-known/jwks.json")
	c.StringVar(&f.assertionAudience, "assertion-audience", "upstream", "aud claim of identity assertions")
	c.DurationVar(&f.assertionTTL, "assertion-ttl", assertion.MaxTTL, "lifetime of an identity assertion, 1s to 60s")
}

func (f *authFlags) check() error {
	switch {
	case f.maxStaleness <= 0:
		return errors.New("--near-cache-max-staleness must be positive")
	case f.cacheSize < 1:
		return errors.New("--near-cache-size must be at least 1")
	case !(f.failureRate > 0) || math.IsInf(f.failureRate, 0):
		return errors.New("--auth-failure-rate must be a positive number")
	case f.failureBurst < 1:
		return errors.New("--auth-failure-burst must be at least 1")
	case f.assertionTTL < time.Second || f.assertionTTL > assertion.MaxTTL:
		return fmt.Errorf("--assertion-ttl must be between 1s and %s", assertion.MaxTTL)
	case f.assertionAudience == "" || len(f.assertionAudience) > onetime.MaxFieldLen || !utf8.ValidString(f.assertionAudience):
		return fmt.Errorf("--assertion-audience must be 1 to %d bytes of UTF-8", onetime.MaxFieldLen)
	}
	return nil
}

// authKeys are the signing keys serve loads before it opens the store, so
// that a bad key fails the start at once.
type authKeys struct {
	flags     *authFlags
	tokenKeys []paseto.V4AsymmetricSecretKey
	signer    *assertion.Signer
}

func (f *authFlags) loadKeys(data *storeFlags, log *slog.Logger) (*authKeys, error) {
	tokenKeys, err := loadTokenKeys(data, log)
	if err != nil {
		return nil, err
	}
	k := &authKeys{flags: f, tokenKeys: tokenKeys}
	if !f.assertions {
		return k, nil
	}
	assertionKeys, err := loadAssertionKeys(data, log)
	if err != nil {
		return nil, err
	}
	if k.signer, err = assertion.NewSigner(assertion.Config{Audience: f.assertionAudience, TTL: f.assertionTTL}, assertionKeys...); err != nil {
		return nil, err
	}
	log.Info("identity assertions on", "audience", f.assertionAudience, "ttl", f.assertionTTL.String())
	return k, nil
}

// cache puts the near cache in front of store when --near-cache is on and
// the store can announce invalidations; without them, caching would serve
// a session revoked on another node for up to the staleness bound.
func (f *authFlags) cache(store sessiond.Store, log *slog.Logger) sessiond.Store {
	if !f.nearCache {
		log.Info("near cache off")
		return store
	}
	cached := nearcache.New(store, nearcache.Options{MaxEntries: f.cacheSize, MaxStaleness: f.maxStaleness, Logger: log})
	if _, ok := cached.(*nearcache.Store); !ok {
		log.Info("near cache off: the store announces no invalidations")
		return store
	}
	log.Info("near cache on", "max_staleness", f.maxStaleness.String(), "size", f.cacheSize)
	return cached
}

// apply adds forward auth, assertions and one-time tokens to cfg. The
// store records redeemed single-use tokens, so that each is redeemed once
// across every node sharing it.
func (k *authKeys) apply(cfg server.Config, store sessiond.Store) (server.Config, error) {
	ledger, _ := store.(sessiond.TokenLedger)
	issuer, err := onetime.NewIssuer(ledger, k.tokenKeys...)
	if err != nil {
		return cfg, err
	}
	cfg.Tokens = issuer
	cfg.Assertions = k.signer
	cfg.TrustedProxies = k.flags.trustedProxies
	cfg.AuthFailureRate = k.flags.failureRate
	cfg.AuthFailureBurst = k.flags.failureBurst
	return cfg, nil
}

// prefixList is the value of --trusted-proxies: CIDR prefixes, or single
// addresses meaning just that address.
type prefixList []netip.Prefix

func (p *prefixList) String() string {
	s := make([]string, len(*p))
	for i, pr := range *p {
		s[i] = pr.String()
	}
	return strings.Join(s, ",")
}

// Set replaces the list, so that the command line wins over the
// environment instead of adding to it.
func (p *prefixList) Set(v string) error {
	var out prefixList
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if pr, err := netip.ParsePrefix(s); err == nil {
			if a := pr.Addr(); a.Is4In6() && pr.Bits() >= 96 {
				pr = netip.PrefixFrom(a.Unmap(), pr.Bits()-96) // clients are compared unmapped
			}
			out = append(out, pr.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return fmt.Errorf("%q is neither a CIDR prefix nor an IP address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	*p = out
	return nil
}
