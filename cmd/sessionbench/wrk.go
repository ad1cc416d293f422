package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// wrkRun is what one wrk run reported.
type wrkRun struct {
	Requests int64   `json:"requests"`
	RPS      float64 `json:"rps"`
	Non2xx   int64   `json:"non_2xx"`
	Errors   string  `json:"socket_errors,omitempty"`
	P50      string  `json:"latency_p50"`
	P99      string  `json:"latency_p99"`
}

// wrkLoad is how hard wrk pushes.
type wrkLoad struct {
	threads, connections int
	duration             time.Duration
}

var (
	wrkRequests = regexp.MustCompile(`(?m)^\s*(\d+) requests in `)
	wrkRPS      = regexp.MustCompile(`(?m)^Requests/sec:\s*([\d.]+)`)
	wrkNon2xx   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses:\s*(\d+)`)
	wrkErrors   = regexp.MustCompile(`(?m)^\s*Socket errors:\s*(.+)$`)
	wrkP50      = regexp.MustCompile(`(?m)^\s*50%\s+(\S+)`)
	wrkP99      = regexp.MustCompile(`(?m)^\s*99%\s+(\S+)`)
)

// runWrk runs wrk against url with an Authorization header. The command
// shown to the reader (wrkCommand) hides the token.
func runWrk(ctx context.Context, load wrkLoad, url, authorization string) (wrkRun, error) {
	cmd := exec.CommandContext(ctx, "wrk", wrkArgs(load, url, authorization)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return wrkRun{}, fmt.Errorf("wrk: %w: %s", err, stderr.String())
	}
	var r wrkRun
	m := wrkRequests.FindSubmatch(out)
	m2 := wrkRPS.FindSubmatch(out)
	if m == nil || m2 == nil {
		return r, fmt.Errorf("wrk: unexpected output:\n%s", out)
	}
	r.Requests, _ = strconv.ParseInt(string(m[1]), 10, 64)
	r.RPS, _ = strconv.ParseFloat(string(m2[1]), 64)
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	if m := wrkErrors.FindSubmatch(out); m != nil {
		r.Errors = string(m[1])
	}
	if m := wrkP50.FindSubmatch(out); m != nil {
		r.P50 = string(m[1])
	}
	if m := wrkP99.FindSubmatch(out); m != nil {
		r.P99 = string(m[1])
	}
	return r, nil
}

func wrkArgs(load wrkLoad, url, authorization string) []string {
	return []string{
		"-t", strconv.Itoa(load.threads),
		"-c", strconv.Itoa(load.connections),
		"-d", strconv.Itoa(int(load.duration.Round(time.Second).Seconds())) + "s",
		"--latency",
		"-H", "Authorization: " + authorization,
		url,
	}
}

func (r wrkRun) String() string {
	s := fmt.Sprintf("%8.0f req/s  (%d requests, latency p50 %s p99 %s", r.RPS, r.Requests, r.P50, r.P99)
	if r.Non2xx > 0 {
		s += fmt.Sprintf(", %d not 2xx", r.Non2xx)
	}
	if r.Errors != "" {
		s += ", socket errors: " + r.Errors
	}
	return s + ")"
}
