package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// results is the JSON file the measuring commands write (-out) and chart
// reads: each command replaces its own section and keeps the others, so the
// commands can run in any order, or again.
type results struct {
	Propagation *propagationResult `json:"propagation,omitempty"`
	Throughput  *throughputResult  `json:"throughput,omitempty"`
	Memory      *memoryResult      `json:"memory,omitempty"`
}

// saveResults merges one command's section into the file at path.
func saveResults(path string, set func(*results)) error {
	if path == "" {
		return nil
	}
	r, err := loadResults(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	set(&r)
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func loadResults(path string) (results, error) {
	var r results
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(b, &r)
}

// latency summarises a set of durations, in microseconds for the file.
type latency struct {
	N     int     `json:"n"`
	P50us float64 `json:"p50_us"`
	P99us float64 `json:"p99_us"`
	MaxUs float64 `json:"max_us"`
}

func summarize(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return latency{
		N:     len(s),
		P50us: micros(percentile(s, 0.50)),
		P99us: micros(percentile(s, 0.99)),
		MaxUs: micros(s[len(s)-1]),
	}
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func micros(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)*10) / 10 }

func (l latency) String() string {
	return "p50 " + fmtMicros(l.P50us) + "  p99 " + fmtMicros(l.P99us) + "  max " + fmtMicros(l.MaxUs)
}

func fmtMicros(us float64) string {
	return time.Duration(us * float64(time.Microsecond)).Round(time.Microsecond).String()
}
