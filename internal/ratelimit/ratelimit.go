// Package ratelimit is a per-key token bucket for failed authentication
// attempts (OWASP: throttle guessing). Its memory is bounded: idle buckets
// are dropped, and when the table is full the oldest buckets go first.
package ratelimit

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Limiter allows Burst attempts at once per key, refilled at Rate per
// second.
type Limiter struct {
	rate    float64
	burst   float64
	maxKeys int
	now     func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a limiter. maxKeys bounds memory (default 100 000).
func New(ratePerSecond float64, burst, maxKeys int) *Limiter {
	if maxKeys <= 0 {
		maxKeys = 100_000
	}
	return &Limiter{rate: ratePerSecond, burst: float64(burst), maxKeys: maxKeys, now: time.Now, buckets: map[string]*bucket{}}
}

// Blocked reports whether key has no attempt left, and if so how long until
// it has one. It does not spend an attempt.
func (l *Limiter) Blocked(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		return false, 0
	}
	l.refill(b)
	if b.tokens >= 1 {
		return false, 0
	}
	return true, time.Duration(math.Ceil((1 - b.tokens) / l.rate * float64(time.Second)))
}

// Spend records a failed attempt for key.
func (l *Limiter) Spend(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.maxKeys {
			l.evict()
		}
		b = &bucket{tokens: l.burst, last: l.now()}
		l.buckets[key] = b
	}
	l.refill(b)
	b.tokens = max(b.tokens-1, 0)
}

func (l *Limiter) refill(b *bucket) {
	now := l.now()
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
}

// evict drops idle buckets (ones that would be full again); if that frees
// nothing, the least recently used half goes. Called with the lock held,
// only when the table is full.
func (l *Limiter) evict() {
	now := l.now()
	lasts := make([]time.Time, 0, len(l.buckets))
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
			continue
		}
		lasts = append(lasts, b.last)
	}
	if len(l.buckets) < l.maxKeys {
		return
	}
	slices.SortFunc(lasts, time.Time.Compare)
	cutoff := lasts[len(lasts)/2]
	for k, b := range l.buckets {
		if !b.last.After(cutoff) {
			delete(l.buckets, k)
		}
	}
}
