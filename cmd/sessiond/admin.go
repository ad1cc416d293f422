package main

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/admin"
	"github.com/sessiond/sessiond/nearcache"
)

// adminStats feeds the console's live counters from what the server
// already measures: the validation counter of the metrics registry and the
// near cache's hit and miss counts. The rate is over the time between two
// looks at the dashboard.
func adminStats(reg prometheus.Gatherer, store sessiond.Store) func() admin.Stats {
	var (
		mu        sync.Mutex
		lastCount float64
		lastAt    time.Time
		rate      float64
	)
	return func() admin.Stats {
		st := admin.Stats{ActiveSessions: -1, CacheHitRatio: -1}
		if c, ok := store.(*nearcache.Store); ok {
			hits, misses := c.Stats().Hits.Load(), c.Stats().Misses.Load()
			st.CacheHitRatio = 0
			if hits+misses > 0 {
				st.CacheHitRatio = float64(hits) / float64(hits+misses)
			}
		}
		count := counterSum(reg, "sessiond_validations_total")
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if elapsed := now.Sub(lastAt).Seconds(); !lastAt.IsZero() && elapsed > 0 {
			rate = (count - lastCount) / elapsed
		}
		lastCount, lastAt = count, now
		st.ValidationsPerSecond = rate
		return st
	}
}

// counterSum adds up every series of a counter family.
func counterSum(reg prometheus.Gatherer, name string) float64 {
	families, err := reg.Gather()
	if err != nil {
		return 0
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
