package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	memstore "github.com/sessiond/sessiond/stores/memory"
	"github.com/sessiond/sessiond/stores/redis"
)

// memoryResult is the memory section of the results file.
type memoryResult struct {
	Date           time.Time `json:"date"`
	Sessions       int       `json:"sessions"`
	Users          int       `json:"users"`
	Client         bool      `json:"client"`
	Touched        bool      `json:"touched"`
	UsedBefore     int64     `json:"used_memory_before"`
	UsedAfter      int64     `json:"used_memory_after"`
	BytesPerSess   float64   `json:"bytes_per_session"`
	Keys           int64     `json:"keys"`
	SessionKeyMean float64   `json:"session_key_memory_usage"`
	// IndexKeyMean is the mean MEMORY USAGE of an index bucket, which holds
	// the index entries of every user hashed to it (BucketSessions on
	// average).
	IndexKeyMean   float64   `json:"index_key_memory_usage"`
	BucketSessions float64   `json:"index_bucket_sessions"`
	Seconds        float64   `json:"seconds"`
	Wire           wireSizes `json:"wire"`
}

// wireSizes compares what a client carries: sessiond's token and a
// session JWT, bare, in the Set-Cookie header that hands them out, and in
// the Cookie header every request sends back.
type wireSizes struct {
	Token        int `json:"token"`
	SetCookie    int `json:"set_cookie"`
	Cookie       int `json:"cookie"`
	JWT          int `json:"jwt"`
	JWTSetCookie int `json:"jwt_set_cookie"`
	JWTCookie    int `json:"jwt_cookie"`
}

// The client a session is created from when -client is on: what the
// server records from a desktop browser.
const (
	benchIP        = "203.0.113.57"
	benchUserAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)

func memory(args []string) error {
	fs := flag.NewFlagSet("sessionbench memory", flag.ContinueOnError)
	n := fs.Int("sessions", 1_000_000, "sessions to create")
	perUser := fs.Int("per-user", 2, "sessions per user (devices)")
	workers := fs.Int("workers", 64, "concurrent creations (the Redis client pipelines them)")
	touch := fs.Bool("touch", false, "touch every session once, 20 minutes after its creation, as the sessions in use are: their last-seen time then takes a few bytes more")
	withClient := fs.Bool("client", true, "record a client IP and a desktop Chrome user agent ("+strconv.Itoa(len(benchUserAgent))+" bytes) with each session, as the server does when told")
	out := fs.String("out", "", "merge the figures into this JSON results file (read by chart)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *n < 1 || *perUser < 1 || *workers < 1 {
		return fmt.Errorf("-sessions, -per-user and -workers must be positive")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	secret := make([]byte, 32)
	rand.Read(secret)
	keys, err := sessiond.NewKeyring(secret)
	if err != nil {
		return err
	}
	res := memoryResult{Date: time.Now().UTC(), Sessions: *n, Users: (*n + *perUser - 1) / *perUser, Client: *withClient, Touched: *touch}
	if res.Wire, err = wire(keys, secret); err != nil {
		return err
	}

	rs, err := startRedis(ctx)
	if err != nil {
		return err
	}
	defer rs.Close()
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{rs.addr}})
	if err != nil {
		return err
	}
	store, err := redis.New(client, redis.Options{CloseClient: true})
	if err != nil {
		client.Close()
		return err
	}
	defer store.Close()
	m := sessiond.NewManager(store, keys, sessiond.Config{})
	if res.UsedBefore, err = rs.infoInt(ctx, "memory", "used_memory"); err != nil {
		return err
	}
	ns := sessiond.NewSession{Data: json.RawMessage(`{"cart":{}}`)}
	if *withClient {
		ns.Client = sessiond.Client{IP: benchIP, UserAgent: benchUserAgent}
	}
	fmt.Printf("memory: creating %d sessions for %d users in a throwaway Redis (Manager.Create on the redis store, %d at a time)\n", *n, res.Users, *workers)
	start := time.Now()
	step := max(int64(*n)/10, 1) // progress every 10 %
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, *workers)
	for range *workers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(*n) || ctx.Err() != nil {
					return
				}
				s := ns
				s.UserID = fmt.Sprintf("user-%07d", i/int64(*perUser))
				_, created, err := m.Create(ctx, s)
				if err == nil && *touch {
					seen := created.CreatedAt.Add(20 * time.Minute)
					err = store.Touch(ctx, created.ID, seen, seen.Add(m.Config().IdleTimeout))
				}
				if err != nil {
					errs <- err
					return
				}
				if done := i + 1; done%step == 0 {
					fmt.Printf("  %d sessions, %s\n", done, time.Since(start).Round(time.Second))
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	res.Seconds = time.Since(start).Seconds()
	if res.UsedAfter, err = rs.infoInt(ctx, "memory", "used_memory"); err != nil {
		return err
	}
	if res.Keys, err = rs.do(ctx, "DBSIZE").AsInt64(); err != nil {
		return err
	}
	res.BytesPerSess = float64(res.UsedAfter-res.UsedBefore) / float64(*n)
	if res.SessionKeyMean, err = meanMemoryUsage(ctx, rs, "sd:*:s:*"); err != nil {
		return err
	}
	if res.IndexKeyMean, err = meanMemoryUsage(ctx, rs, "sd:*:b:*"); err != nil {
		return err
	}
	res.BucketSessions = float64(*n) / float64(res.Keys-int64(*n))

	fmt.Printf("  done in %s (%.0f creations/s); %d keys\n", time.Duration(res.Seconds*float64(time.Second)).Round(time.Second), float64(*n)/res.Seconds, res.Keys)
	fmt.Printf("Redis used_memory: %s before, %s after: %.0f bytes per session (its share of the user's index included)\n",
		mib(res.UsedBefore), mib(res.UsedAfter), res.BytesPerSess)
	fmt.Printf("  MEMORY USAGE (sampled): session key %.0f bytes, index bucket %.0f bytes (%.1f sessions each, of users with %d each)\n", res.SessionKeyMean, res.IndexKeyMean, res.BucketSessions, *perUser)
	w := res.Wire
	fmt.Printf("wire: sessiond token %d bytes, HS256 session JWT (7 claims, 3 roles) %d bytes: %.1f×\n", w.Token, w.JWT, float64(w.JWT)/float64(w.Token))
	fmt.Printf("  Set-Cookie header line: %d vs %d bytes; Cookie header on every request: %d vs %d bytes\n", w.SetCookie, w.JWTSetCookie, w.Cookie, w.JWTCookie)
	return saveResults(*out, func(r *results) { r.Memory = &res })
}

// wire measures a real token and a typical session JWT as a client carries
// them.
func wire(keys *sessiond.Keyring, secret []byte) (wireSizes, error) {
	token, _, err := sessiond.NewManager(memstore.New(), keys, sessiond.Config{}).Create(context.Background(), sessiond.NewSession{UserID: "user-0000042"})
	if err != nil {
		return wireSizes{}, err
	}
	jwt, err := sessionJWT(secret, "user-0000042", []string{"customer", "beta", "support"})
	if err != nil {
		return wireSizes{}, err
	}
	setCookie := func(v string) int {
		c := &http.Cookie{Name: "__Host-session", Value: v, Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode}
		return len("Set-Cookie: " + c.String())
	}
	cookie := func(v string) int { return len("Cookie: __Host-session=" + v) }
	return wireSizes{
		Token: len(token), SetCookie: setCookie(token), Cookie: cookie(token),
		JWT: len(jwt), JWTSetCookie: setCookie(jwt), JWTCookie: cookie(jwt),
	}, nil
}

// meanMemoryUsage samples up to 200 keys matching pattern and returns their
// mean MEMORY USAGE (bytes, the key's overhead included).
func meanMemoryUsage(ctx context.Context, rs *redisServer, pattern string) (float64, error) {
	var total, count int64
	cursor := "0"
	for count < 200 {
		e, err := rs.do(ctx, "SCAN", cursor, "MATCH", pattern, "COUNT", "1000").AsScanEntry()
		if err != nil {
			return 0, err
		}
		for _, k := range e.Elements {
			if count >= 200 {
				break
			}
			n, err := rs.do(ctx, "MEMORY", "USAGE", k, "SAMPLES", "0").AsInt64()
			if err != nil {
				return 0, err
			}
			total += n
			count++
		}
		if cursor = strconv.FormatUint(e.Cursor, 10); cursor == "0" {
			break
		}
	}
	if count == 0 {
		return 0, fmt.Errorf("no key matches %s", pattern)
	}
	return float64(total) / float64(count), nil
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
