package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// propagationResult is the propagation section of the results file.
type propagationResult struct {
	Date         time.Time `json:"date"`
	MaxStaleness string    `json:"max_staleness"`
	// Announced: revoked on node 1, every node subscribed.
	Announced revocations `json:"announced"`
	// ChannelKilled: every node's subscription killed just before the
	// revoke, so the announcement is lost and the drop is noticed.
	ChannelKilled revocations `json:"channel_killed"`
	// Silent: the session deleted in Redis behind sessiond's back, so no
	// announcement is ever made and no drop is noticed: only the staleness
	// bound ends the cached entries.
	Silent revocations `json:"silent"`
}

// revocations is how nodes 2 and 3 saw a series of revocations.
type revocations struct {
	Sessions int `json:"sessions"`
	// Refused is the time from the revocation until the node refused the
	// token (401), both nodes together.
	Refused latency `json:"refused"`
	// Resolution is the round trip of the refusing calls: each refusal
	// happened within it before it was seen.
	Resolution latency `json:"resolution"`
	// Late counts the (session, node) pairs where the node still accepted
	// the token (200) after the revocation, Accepted the calls so
	// answered, and LastAccepted when the last of them arrived after the
	// revocation: how long a revoked token still worked, at most.
	Late         int     `json:"late_pairs"`
	Accepted     int     `json:"accepted_after_revoke"`
	LastAccepted latency `json:"last_accepted"`
	// LastSentUs is when the latest call that still got a 200 was sent.
	// The node decided between sending and arrival, so only a 200 to a
	// call sent after the bound proves the bound broken.
	LastSentUs float64 `json:"last_accepted_sent_us"`
	// Hits counts the near-cache hits of nodes 2 and 3 over the series:
	// the warm-up makes one per node and session, each late call another.
	Hits float64 `json:"cache_hits"`
	// Flushes counts the caches emptied because the channel dropped.
	Flushes float64 `json:"flushes"`
	// BoundUs is the bound the series must stay within (0: none), and Met
	// whether no call sent after it was accepted.
	BoundUs float64 `json:"bound_us,omitempty"`
	Met     bool    `json:"bound_met,omitempty"`
}

func propagation(args []string) error {
	fs := flag.NewFlagSet("sessionbench propagation", flag.ContinueOnError)
	n := fs.Int("n", 300, "sessions to create, warm on nodes 2 and 3, and revoke on node 1")
	killReps := fs.Int("failure-reps", 20, "revocations right after killing every node's invalidation subscription")
	silentReps := fs.Int("silent-reps", 10, "sessions deleted in Redis behind sessiond's back (each takes up to -max-staleness)")
	staleness := fs.Duration("max-staleness", time.Second, "the nodes' --near-cache-max-staleness: the bound when an announcement is lost")
	out := fs.String("out", "", "merge the figures into this JSON results file (read by chart)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *n < 1 || *killReps < 0 || *silentReps < 0 || *staleness <= 0 {
		return fmt.Errorf("-n must be positive, -failure-reps and -silent-reps not negative, -max-staleness positive")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	rs, err := startRedis(ctx)
	if err != nil {
		return err
	}
	defer rs.Close()
	f, err := newFleet(ctx, rs.URL())
	if err != nil {
		return err
	}
	defer f.Close()
	for range 3 {
		if _, err := f.start(ctx, nodeFlags(*staleness)...); err != nil {
			return err
		}
	}
	key, err := f.apiKey(ctx)
	if err != nil {
		return err
	}
	b := &bench{rs: rs, f: f, staleness: *staleness}
	for _, nd := range f.nodes {
		b.clients = append(b.clients, newClient(nd.base, key))
	}
	res := propagationResult{Date: time.Now().UTC(), MaxStaleness: staleness.String()}
	fmt.Printf("propagation: 3 sessiond nodes on one Redis, --near-cache-max-staleness %s\n", staleness)

	revoke := func(ctx context.Context, token, _ string) error { return b.clients[0].revoke(ctx, token) }
	if res.Announced, err = b.series(ctx, "user-", *n, revoke, 0); err != nil {
		return err
	}
	report("revoked on node 1 (POST /v1/sessions/revoke), every node subscribed", res.Announced)

	killThenRevoke := func(ctx context.Context, token, id string) error {
		if err := rs.do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Error(); err != nil {
			return err
		}
		return revoke(ctx, token, id)
	}
	if res.ChannelKilled, err = b.series(ctx, "killed-", *killReps, killThenRevoke, *staleness); err != nil {
		return err
	}
	report("every node's invalidation subscription killed (CLIENT KILL TYPE pubsub), then revoked on node 1", res.ChannelKilled)

	deleteInRedis := func(ctx context.Context, _, id string) error {
		raw, err := hex.DecodeString(id)
		if err != nil || len(id) < 2 {
			return fmt.Errorf("session id %q is not hex", id)
		}
		// The redis store's key of a session (see the redis package doc).
		n, err := rs.do(ctx, "DEL", "sd:{"+id[:2]+"}:s:"+string(raw)).AsInt64()
		if err == nil && n != 1 {
			err = fmt.Errorf("no Redis key for session %s: has the redis store's key layout changed?", id)
		}
		return err
	}
	if res.Silent, err = b.series(ctx, "silent-", *silentReps, deleteInRedis, *staleness); err != nil {
		return err
	}
	report("deleted in Redis behind sessiond's back (DEL: no announcement, no drop to notice)", res.Silent)
	return saveResults(*out, func(r *results) { r.Propagation = &res })
}

func report(what string, r revocations) {
	if r.Sessions == 0 {
		return
	}
	fmt.Printf("%s, %d sessions:\n", what, r.Sessions)
	fmt.Printf("  time until nodes 2 and 3 refuse the token  %s\n", r.Refused)
	fmt.Printf("  resolution (round trip of the refusing call) %s\n", r.Resolution)
	fmt.Printf("  still accepted (200) after the revocation: %d of %d session×node pairs (%d calls)", r.Late, 2*r.Sessions, r.Accepted)
	if r.Late > 0 {
		fmt.Printf(", the last 200 arriving %s", r.LastAccepted)
	}
	if r.BoundUs > 0 {
		fmt.Printf("\n  bound: no call sent later than %s after the revocation accepted: %s", fmtMicros(r.BoundUs), met(r.Met))
		if r.Late > 0 {
			fmt.Printf(" (the last accepted call was sent at %s)", fmtMicros(r.LastSentUs))
		}
	}
	fmt.Println()
	fmt.Printf("  near-cache hits on nodes 2 and 3: %.0f; cache flushes: %.0f\n", r.Hits, r.Flushes)
}

// nodeFlags are the serve flags of every node the bench starts. The
// failure rate limit of /v1/auth is lifted: the bench refuses thousands of
// tokens from one address on purpose, and a 429 would hide the 401 it
// measures. Request logs are off, as the peer server writes none.
func nodeFlags(staleness time.Duration, extra ...string) []string {
	return append([]string{
		"--near-cache-max-staleness", staleness.String(),
		"--log-level", "warn",
		"--auth-failure-rate", "1e9",
		"--auth-failure-burst", "1000000000",
	}, extra...)
}

// bench is the three nodes, the Redis they share, and a client per node.
type bench struct {
	rs        *redisServer
	f         *fleet
	clients   []*client
	staleness time.Duration
}

// series runs n revocations: each creates a session on node 1, warms the
// near caches of nodes 2 and 3 with it (two calls each: a miss that fills,
// then a hit), revokes it with revoke, and polls nodes 2 and 3
// concurrently from the moment revoke returned until each refuses it.
func (b *bench) series(ctx context.Context, userPrefix string, n int, revoke func(ctx context.Context, token, id string) error, bound time.Duration) (revocations, error) {
	r := revocations{Sessions: n, BoundUs: micros(bound)}
	if n == 0 {
		return r, nil
	}
	others := b.f.nodes[1:]
	hits, err := metricOf(ctx, others, "sessiond_nearcache_hits_total")
	if err != nil {
		return r, err
	}
	flushes, err := metricOf(ctx, others, "sessiond_nearcache_flushes_total")
	if err != nil {
		return r, err
	}
	var refused, rtts, lastAccepted []time.Duration
	for i := range n {
		if err := waitCachesLive(ctx, b.rs, b.f.nodes); err != nil {
			return r, err
		}
		token, id, err := b.clients[0].createSession(ctx, userPrefix+strconv.Itoa(i))
		if err != nil {
			return r, err
		}
		for _, c := range b.clients[1:] {
			for range 2 {
				if status, err := c.auth(ctx, token); err != nil || status != http.StatusOK {
					return r, fmt.Errorf("warming %s: status %d, %v", c.base, status, err)
				}
			}
		}
		if err := revoke(ctx, token, id); err != nil {
			return r, err
		}
		polls, err := b.watch(ctx, token, time.Now())
		if err != nil {
			return r, err
		}
		for _, p := range polls {
			refused = append(refused, p.refused)
			rtts = append(rtts, p.last)
			r.Accepted += p.accepted
			if p.accepted > 0 {
				r.Late++
				lastAccepted = append(lastAccepted, p.lastAccepted)
				r.LastSentUs = max(r.LastSentUs, micros(p.lastSent))
			}
		}
	}
	r.Refused, r.Resolution, r.LastAccepted = summarize(refused), summarize(rtts), summarize(lastAccepted)
	r.Met = bound > 0 && r.LastSentUs <= r.BoundUs
	if r.Hits, err = delta(ctx, others, "sessiond_nearcache_hits_total", hits); err != nil {
		return r, err
	}
	if r.Flushes, err = delta(ctx, others, "sessiond_nearcache_flushes_total", flushes); err != nil {
		return r, err
	}
	return r, nil
}

// watch polls nodes 2 and 3 concurrently until both refuse token. A node
// still accepting it after five staleness bounds is an error.
func (b *bench) watch(ctx context.Context, token string, start time.Time) ([2]poll, error) {
	var polls [2]poll
	var errs [2]error
	var wg sync.WaitGroup
	for j, c := range b.clients[1:] {
		wg.Go(func() { polls[j], errs[j] = c.pollUntilRefused(ctx, token, start, 5*b.staleness) })
	}
	wg.Wait()
	for j, err := range errs {
		if err != nil {
			return polls, fmt.Errorf("%s: %w", b.f.nodes[j+1].name, err)
		}
	}
	return polls, nil
}

// waitCachesLive waits until every node has its invalidation subscription
// (Redis counts them) and uses its near cache (the node says so), so that
// each revocation starts from the steady state.
func waitCachesLive(ctx context.Context, rs *redisServer, nodes []*node) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		subs, err := rs.do(ctx, "PUBSUB", "NUMSUB", "sd:inv").ToArray()
		live := err == nil && len(subs) == 2
		if live {
			n, _ := subs[1].AsInt64()
			live = n == int64(len(nodes))
		}
		if live {
			healthy, err := metricOf(ctx, nodes, "sessiond_nearcache_healthy")
			if err != nil {
				return err
			}
			for _, h := range healthy {
				live = live && h == 1
			}
		}
		if live {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the nodes' near caches are not live after 10s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// metricOf reads one metric from each node.
func metricOf(ctx context.Context, nodes []*node, name string) ([]float64, error) {
	vs := make([]float64, len(nodes))
	for i, nd := range nodes {
		v, err := nd.metric(ctx, name)
		if err != nil {
			return nil, err
		}
		vs[i] = v
	}
	return vs, nil
}

// delta is how much a metric grew on the nodes, summed, since before.
func delta(ctx context.Context, nodes []*node, name string, before []float64) (float64, error) {
	after, err := metricOf(ctx, nodes, name)
	if err != nil {
		return 0, err
	}
	var d float64
	for i := range after {
		d += after[i] - before[i]
	}
	return d, nil
}
