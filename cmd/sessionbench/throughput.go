package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// throughputResult is the throughput section of the results file.
type throughputResult struct {
	Date          time.Time `json:"date"`
	Duration      string    `json:"duration"`
	Threads       int       `json:"threads"`
	Connections   int       `json:"connections"`
	TouchInterval string    `json:"touch_interval"`
	Rounds        []round   `json:"rounds"`
	// The medians over the rounds. Ratio is /v1/auth over the JWT server,
	// CacheRatio /v1/auth with the near cache over without.
	AuthRPS     float64 `json:"auth_rps"`
	JWTRPS      float64 `json:"jwt_rps"`
	UncachedRPS float64 `json:"uncached_rps,omitempty"`
	FloorRPS    float64 `json:"floor_rps,omitempty"`
	Ratio       float64 `json:"ratio"`
	CacheRatio  float64 `json:"cache_ratio,omitempty"`
	// WritesPerRequest is store write calls (touch scripts) per validated
	// request over every near-cache run; WriteCommandsPerRequest counts the
	// commands inside them, ReadsPerRequest the lookup scripts.
	WritesPerRequest        float64 `json:"writes_per_request"`
	WriteCommandsPerRequest float64 `json:"write_commands_per_request"`
	ReadsPerRequest         float64 `json:"reads_per_request"`
	// Forged is the run of forged tokens against /v1/auth, with every
	// store call made during it.
	Forged measured `json:"forged"`
}

// round is one run of each target, in a fixed order.
type round struct {
	Auth     measured  `json:"auth"`
	Uncached *measured `json:"uncached,omitempty"`
	JWT      measured  `json:"jwt"`
	Floor    *measured `json:"floor,omitempty"`
	Ratio    float64   `json:"ratio"`
}

// measured is one wrk run, with what the sessiond node did meanwhile.
type measured struct {
	wrkRun
	Store  *storeCalls `json:"store,omitempty"`
	Hits   float64     `json:"cache_hits,omitempty"`
	Misses float64     `json:"cache_misses,omitempty"`
}

// target is a server under load and the credential wrk sends it.
type target struct {
	label         string
	url           string
	authorization string
	node          *node // a sessiond node: its Redis calls are read around the run
	cached        bool  // and its near-cache counters
}

func throughput(args []string) error {
	fs := flag.NewFlagSet("sessionbench throughput", flag.ContinueOnError)
	var load wrkLoad
	fs.DurationVar(&load.duration, "duration", 10*time.Second, "length of each measured wrk run (whole seconds)")
	fs.IntVar(&load.threads, "threads", 2, "wrk threads")
	fs.IntVar(&load.connections, "connections", 32, "wrk connections")
	warmup := fs.Duration("warmup", time.Second, "unmeasured wrk run before each measured one (0: none)")
	forgedFor := fs.Duration("forged-duration", 3*time.Second, "length of the forged-token run")
	rounds := fs.Int("rounds", 1, "repetitions of the runs, in the same order each time; medians are reported")
	touch := fs.Duration("touch-interval", time.Second, "the node's --touch-interval (its default is 1m; 1s makes steady-state touches happen within a run)")
	withUncached := fs.Bool("uncached", false, "also measure a node on the same Redis with --near-cache=false (a store round trip per request)")
	withFloor := fs.Bool("floor", false, "also measure a net/http server that checks nothing: the most any forward auth can serve here")
	out := fs.String("out", "", "merge the figures into this JSON results file (read by chart)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if load.duration < time.Second || *forgedFor < time.Second || (*warmup != 0 && *warmup < time.Second) ||
		load.threads < 1 || load.connections < load.threads || *rounds < 1 || *touch <= 0 {
		return fmt.Errorf("durations must be whole seconds, -connections ≥ -threads ≥ 1, -rounds ≥ 1")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return fmt.Errorf("wrk is not installed (apt-get install wrk): %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// (a) a sessiond node on Redis, with the near cache.
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
	nodeArgs := nodeFlags(time.Second, "--touch-interval", touch.String())
	cached, err := f.start(ctx, nodeArgs...)
	if err != nil {
		return err
	}
	key, err := f.apiKey(ctx)
	if err != nil {
		return err
	}
	c := newClient(cached.base, key)
	roles := []string{"customer", "beta"}
	if err := c.call(ctx, http.MethodPut, "/v1/users/user-42", []byte(`{"status":"active","roles":["customer","beta"]}`), http.StatusOK, nil); err != nil {
		return err
	}
	token, _, err := c.createSession(ctx, "user-42")
	if err != nil {
		return err
	}
	auth := target{label: "(a) sessiond GET /v1/auth, near cache, Redis", url: cached.base + "/v1/auth", authorization: "Bearer " + token, node: cached, cached: true}
	var uncached *target
	if *withUncached {
		nd, err := f.start(ctx, append(nodeArgs, "--near-cache=false")...)
		if err != nil {
			return err
		}
		uncached = &target{label: "    the same without the near cache", url: nd.base + "/v1/auth", authorization: auth.authorization, node: nd}
	}

	// (b) the JWT peer, and the floor.
	peer, err := startJWTServer(ctx, false)
	if err != nil {
		return err
	}
	defer peer.Close()
	jwtToken, err := sessionJWT(peer.secret, "user-42", roles)
	if err != nil {
		return err
	}
	jwt := target{label: "(b) Go net/http + golang-jwt HS256 verify", url: peer.base + "/v1/auth", authorization: "Bearer " + jwtToken}
	var floor *target
	if *withFloor {
		fp, err := startJWTServer(ctx, true)
		if err != nil {
			return err
		}
		defer fp.Close()
		floor = &target{label: "    floor: Go net/http, no check", url: fp.base + "/v1/auth", authorization: jwt.authorization}
	}
	for _, t := range []*target{&auth, uncached, &jwt, floor} {
		if t == nil {
			continue
		}
		if err := expectIdentity(ctx, t.url, t.authorization, "user-42", roles); err != nil {
			return fmt.Errorf("%s: %w", t.label, err)
		}
	}

	res := throughputResult{Date: time.Now().UTC(), Duration: load.duration.String(), Threads: load.threads,
		Connections: load.connections, TouchInterval: touch.String()}
	fmt.Printf("throughput: wrk %s\n", strings.Join(wrkArgs(load, "<url>", "Bearer <token>"), " "))
	run := func(t *target) (*measured, error) {
		if t == nil {
			return nil, nil
		}
		if *warmup > 0 {
			if _, err := runWrk(ctx, wrkLoad{load.threads, load.connections, *warmup}, t.url, t.authorization); err != nil {
				return nil, err
			}
		}
		m, err := measure(ctx, rs, *t, load)
		if err != nil {
			return nil, err
		}
		fmt.Printf("  %-46s %s\n", t.label, m.wrkRun)
		if m.Store != nil {
			cache := ""
			if t.cached {
				cache = fmt.Sprintf("near cache %.0f hits, %.0f misses; ", m.Hits, m.Misses)
			}
			fmt.Printf("  %-46s %sRedis %d lookups, %d touches (%d write commands)\n", "",
				cache, lookups(m.Store), m.Store.ByCommand["setrange"], m.Store.Writes)
		}
		return &m, nil
	}
	var served, touches, writeCmds, reads int64
	for i := range *rounds {
		fmt.Printf("round %d\n", i+1)
		var r round
		a, err := run(&auth)
		if err != nil {
			return err
		}
		if r.Uncached, err = run(uncached); err != nil {
			return err
		}
		b, err := run(&jwt)
		if err != nil {
			return err
		}
		if r.Floor, err = run(floor); err != nil {
			return err
		}
		r.Auth, r.JWT = *a, *b
		r.Ratio = r.Auth.RPS / r.JWT.RPS
		fmt.Printf("  ratio (a)/(b): %.2f×\n", r.Ratio)
		res.Rounds = append(res.Rounds, r)
		served += r.Auth.Requests - r.Auth.Non2xx
		touches += r.Auth.Store.ByCommand["setrange"] // one per touch script
		writeCmds += r.Auth.Store.Writes
		reads += lookups(r.Auth.Store)
	}
	res.AuthRPS = median(res.Rounds, func(r round) float64 { return r.Auth.RPS })
	res.JWTRPS = median(res.Rounds, func(r round) float64 { return r.JWT.RPS })
	res.Ratio = median(res.Rounds, func(r round) float64 { return r.Ratio })
	if uncached != nil {
		res.UncachedRPS = median(res.Rounds, func(r round) float64 { return r.Uncached.RPS })
		res.CacheRatio = median(res.Rounds, func(r round) float64 { return r.Auth.RPS / r.Uncached.RPS })
	}
	if floor != nil {
		res.FloorRPS = median(res.Rounds, func(r round) float64 { return r.Floor.RPS })
	}
	if served > 0 {
		res.WritesPerRequest = float64(touches) / float64(served)
		res.WriteCommandsPerRequest = float64(writeCmds) / float64(served)
		res.ReadsPerRequest = float64(reads) / float64(served)
	}

	// (c) forged tokens: the shape and key id of a real one, a wrong tag.
	forged, err := forge(token)
	if err != nil {
		return err
	}
	res.Forged, err = measure(ctx, rs, target{url: auth.url, authorization: "Bearer " + forged, node: cached, cached: true},
		wrkLoad{load.threads, load.connections, *forgedFor})
	if err != nil {
		return err
	}

	fmt.Printf("summary (median of %d round(s)):\n", *rounds)
	fmt.Printf("  /v1/auth %.0f req/s, JWT server %.0f req/s: %.2f× (goal ≥ 1.2×: %s)\n", res.AuthRPS, res.JWTRPS, res.Ratio, met(res.Ratio >= 1.2))
	if uncached != nil {
		fmt.Printf("  /v1/auth without the near cache %.0f req/s: the near cache serves %.2f× as many\n", res.UncachedRPS, res.CacheRatio)
	}
	if floor != nil {
		fmt.Printf("  floor (net/http, no check) %.0f req/s: /v1/auth %.2f× of it, JWT server %.2f×\n", res.FloorRPS, res.AuthRPS/res.FloorRPS, res.JWTRPS/res.FloorRPS)
	}
	fmt.Printf("  store writes per validated request: %.5f touch scripts, %.5f write commands (touch interval %s) (goal ≤ 0.01: %s)\n",
		res.WritesPerRequest, res.WriteCommandsPerRequest, touch, met(res.WritesPerRequest <= 0.01))
	fmt.Printf("  store reads per validated request: %.5f\n", res.ReadsPerRequest)
	fmt.Printf("  forged tokens: %s\n", res.Forged.wrkRun)
	fmt.Printf("    store calls during the run: %d %v (goal 0: %s)\n", res.Forged.Store.Calls, res.Forged.Store.ByCommand, met(res.Forged.Store.Calls == 0))
	if res.Forged.Non2xx != res.Forged.Requests {
		fmt.Printf("    WARNING: %d of %d forged requests were not refused\n", res.Forged.Requests-res.Forged.Non2xx, res.Forged.Requests)
	}
	return saveResults(*out, func(r *results) { r.Throughput = &res })
}

// measure runs wrk against t and, for a sessiond node, reads its near-cache
// counters and the Redis commands before and after: nothing else uses the
// Redis or the node during the run.
func measure(ctx context.Context, rs *redisServer, t target, load wrkLoad) (measured, error) {
	var m measured
	if t.node == nil {
		var err error
		m.wrkRun, err = runWrk(ctx, load, t.url, t.authorization)
		return m, err
	}
	nodes := []*node{t.node}
	var hits, misses []float64
	if t.cached {
		var err error
		if hits, err = metricOf(ctx, nodes, "sessiond_nearcache_hits_total"); err != nil {
			return m, err
		}
		if misses, err = metricOf(ctx, nodes, "sessiond_nearcache_misses_total"); err != nil {
			return m, err
		}
	}
	before, err := rs.commandStats(ctx)
	if err != nil {
		return m, err
	}
	if m.wrkRun, err = runWrk(ctx, load, t.url, t.authorization); err != nil {
		return m, err
	}
	after, err := rs.commandStats(ctx)
	if err != nil {
		return m, err
	}
	calls, err := rs.callsBetween(ctx, before, after)
	if err != nil {
		return m, err
	}
	m.Store = &calls
	if !t.cached {
		return m, nil
	}
	if m.Hits, err = delta(ctx, nodes, "sessiond_nearcache_hits_total", hits); err != nil {
		return m, err
	}
	m.Misses, err = delta(ctx, nodes, "sessiond_nearcache_misses_total", misses)
	return m, err
}

// lookups counts the lookup scripts (the store's only read-only script).
func lookups(c *storeCalls) int64 { return c.ByCommand["evalsha_ro"] + c.ByCommand["eval_ro"] }

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func median[T any](xs []T, f func(T) float64) float64 {
	vs := make([]float64, len(xs))
	for i, x := range xs {
		vs[i] = f(x)
	}
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2]
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
}

// forge returns a token with the shape and key id of a real one but 40
// random bytes for its random part and tag: what a guessing attacker sends.
func forge(token string) (string, error) {
	i := strings.LastIndexByte(token, '_')
	if i < 0 {
		return "", fmt.Errorf("not a sessiond token")
	}
	body := make([]byte, 40)
	rand.Read(body)
	return token[:i+1] + base64.RawURLEncoding.EncodeToString(body), nil
}

// expectIdentity checks that url answers 200 with the identity headers of
// userID, so that every server is measured doing the same job.
func expectIdentity(ctx context.Context, url, authorization, userID string, roles []string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", authorization)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	got := resp.Header.Get("X-User-Id") + " " + resp.Header.Get("X-User-Roles")
	if want := userID + " " + strings.Join(roles, ","); resp.StatusCode != http.StatusOK || got != want {
		return fmt.Errorf("GET %s: %s, identity %q, want 200 and %q", url, resp.Status, got, want)
	}
	return nil
}

// jwtPeer is `sessionbench jwt-server` running as a child process.
type jwtPeer struct {
	base   string
	secret []byte
	cmd    *exec.Cmd
	exited chan struct{}
}

// startJWTServer runs this very binary's jwt-server command, so that the
// peer, like sessiond, is a process of its own; floor starts the server
// that checks nothing.
func startJWTServer(ctx context.Context, floor bool) (*jwtPeer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	p := &jwtPeer{base: "http://" + addr, secret: make([]byte, 32), exited: make(chan struct{})}
	rand.Read(p.secret)
	p.cmd = exec.Command(self, "jwt-server", "-addr", addr, "-floor="+strconv.FormatBool(floor))
	p.cmd.Env = append(os.Environ(), jwtSecretEnv+"="+hex.EncodeToString(p.secret))
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/v1/auth", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("jwt-server exited at start")
		case <-ctx.Done():
			p.Close()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Close()
			return nil, fmt.Errorf("jwt-server not listening within 10s")
		}
	}
}

func (p *jwtPeer) Close() { stopProcess(p.cmd, p.exited) }
