package main

import (
	"bufio"
	"cmp"
	"flag"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// chart renders the headline comparison as a plain SVG (no dependency, no
// script, no external font), which GitHub shows inline in a README: the
// in-process check against JWT verification from `go test -bench Validate
// ./bench`, and /v1/auth against the JWT server from the throughput
// results.
func chart(args []string) error {
	fs := flag.NewFlagSet("sessionbench chart", flag.ContinueOnError)
	benchFile := fs.String("bench", "", "`go test -bench Validate ./bench` output (any -count; medians are used)")
	resultsFile := fs.String("results", "", "JSON results file written by throughput -out")
	out := fs.String("o", "docs/bench.svg", "SVG file to write")
	title := fs.String("title", "sessiond: revocable sessions, checked faster than a JWT", "headline")
	note := fs.String("note", "Linux amd64, 2 shared cores; each comparison measured side by side in one run. Commands and intervals: BENCHMARKS.md",
		"footnote")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *benchFile == "" && *resultsFile == "" {
		return fmt.Errorf("give -bench, -results or both")
	}
	var panels []panel
	if *benchFile != "" {
		ns, err := readBench(*benchFile)
		if err != nil {
			return err
		}
		p, err := validatePanel(ns)
		if err != nil {
			return err
		}
		panels = append(panels, p)
	}
	if *resultsFile != "" {
		r, err := loadResults(*resultsFile)
		if err != nil {
			return err
		}
		if r.Throughput == nil {
			return fmt.Errorf("%s has no throughput results", *resultsFile)
		}
		panels = append(panels, throughputPanel(r.Throughput))
	}
	svg := renderSVG(*title, panels, *note)
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(*out, []byte(svg), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s\n", *out)
	return nil
}

// benchLine matches a result line of go test -bench, with or without the
// "impl=" names of BENCHMARKS.md's benchstat recipe.
var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op`)

// readBench returns the median ns/op of each benchmark in a go test -bench
// output.
func readBench(path string) (map[string]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	runs := map[string][]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			continue
		}
		name := strings.ReplaceAll(m[1], "impl=", "")
		runs[name] = append(runs[name], v)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	med := map[string]float64{}
	for name, vs := range runs {
		med[name] = median(vs, func(v float64) float64 { return v })
	}
	return med, nil
}

// panel is one group of bars on one linear scale from zero, longer being
// better in every panel, so the reader never has to flip the reading.
type panel struct {
	title  string
	format func(float64) string
	bars   []bar
}

type bar struct {
	label string
	value float64
	fill  string
	note  string // after the value, e.g. a ratio
}

// Bar colours: sessiond's headline figure, sessiond in a lesser setting,
// and the peers.
const (
	fillOurs  = "#1a7f37"
	fillOther = "#8ccf9c"
	fillPeer  = "#afb8c1"
)

// validatePanel turns time per check into checks per second: on a linear
// scale of times, a 61 µs EdDSA verify would squash the 0.3 µs cache hit
// into an invisible sliver.
func validatePanel(ns map[string]float64) (panel, error) {
	rows := []struct{ name, label string }{
		{"Validate/nearcache", "sessiond, near-cache hit"},
		{"Validate/jwt-hs256", "JWT HS256 verify (golang-jwt)"},
		{"Validate/jwt-eddsa", "JWT EdDSA verify (golang-jwt)"},
		{"Validate/floor", "bare SHA-256 + map lookup"},
	}
	ours, ok := ns[rows[0].name]
	if !ok {
		return panel{}, fmt.Errorf("the bench output has no %s", rows[0].name)
	}
	p := panel{
		title:  "Checking a session token: checks/s on one core (go test -bench Validate ./bench)",
		format: func(v float64) string { return perSecond(v) + " checks/s" },
	}
	for i, r := range rows {
		v, ok := ns[r.name]
		if !ok {
			return panel{}, fmt.Errorf("the bench output has no %s", r.name)
		}
		b := bar{label: r.label, value: 1e9 / v, fill: fillPeer}
		if i == 0 {
			b.fill = fillOurs
		}
		switch {
		case v > ours:
			b.note = ratio(v/ours) + "× slower"
		case v < ours:
			b.note = "the limit"
		}
		p.bars = append(p.bars, b)
	}
	return p, nil
}

func throughputPanel(t *throughputResult) panel {
	p := panel{
		title:  fmt.Sprintf("Forward auth over HTTP: requests/s (wrk, %d threads, %d connections, 2 cores)", t.Threads, t.Connections),
		format: func(v float64) string { return perSecond(v) + " req/s" },
		bars: []bar{
			{label: "sessiond /v1/auth (near cache, Redis)", value: t.AuthRPS, fill: fillOurs, note: ratio(t.Ratio) + "× the JWT server"},
			{label: "Go net/http + JWT HS256 verify", value: t.JWTRPS, fill: fillPeer},
		},
	}
	if t.UncachedRPS > 0 {
		p.bars = append(p.bars, bar{label: "sessiond /v1/auth, no near cache", value: t.UncachedRPS, fill: fillOther, note: "a Redis round trip each"})
	}
	if t.FloorRPS > 0 {
		p.bars = append(p.bars, bar{label: "bare Go net/http, no check", value: t.FloorRPS, fill: fillPeer, note: "the limit"})
	}
	return p
}

// ratio prints a ratio: whole above 10, else with two decimals, so that
// 1.13 and 1.06 stay apart.
func ratio(r float64) string {
	if r >= 10 {
		return strconv.FormatFloat(math.Round(r), 'f', 0, 64)
	}
	return strconv.FormatFloat(r, 'f', 2, 64)
}

// Layout, in SVG user units (pixels at 100 %).
const (
	svgWidth   = 760
	svgPad     = 24
	labelWidth = 290
	valueWidth = 230 // room right of the longest bar for its value and note
	barHeight  = 24
	barGap     = 10
	titleGap   = 30
	panelGap   = 12
)

// renderSVG draws the panels one under the other, each on its own linear
// scale from zero. The background is opaque so that the chart reads the
// same on GitHub's light and dark themes.
func renderSVG(title string, panels []panel, note string) string {
	height := svgPad + 36
	for _, p := range panels {
		height += titleGap + len(p.bars)*(barHeight+barGap) + panelGap
	}
	height += 10 + svgPad
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`+"\n",
		svgWidth, height, svgWidth, height, esc(title))
	b.WriteString(`<style>text{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;fill:#1f2328}` +
		`.t{font-size:19px;font-weight:600}.p{font-size:13px;font-weight:600;fill:#424a53}.l{font-size:13px}` +
		`.v{font-size:13px;font-weight:600}.n{font-size:12px;fill:#59636e}.f{font-size:11px;fill:#59636e}</style>` + "\n")
	fmt.Fprintf(&b, `<rect width="%d" height="%d" rx="8" fill="#ffffff" stroke="#d1d9e0"/>`+"\n", svgWidth, height)
	y := svgPad + 20
	fmt.Fprintf(&b, `<text class="t" x="%d" y="%d">%s</text>`+"\n", svgPad, y, esc(title))
	y += 16
	scale := float64(svgWidth - 2*svgPad - labelWidth - valueWidth)
	for _, p := range panels {
		y += titleGap
		fmt.Fprintf(&b, `<text class="p" x="%d" y="%d">%s</text>`+"\n", svgPad, y-10, esc(p.title))
		top := slices.MaxFunc(p.bars, func(a, b bar) int { return cmp.Compare(a.value, b.value) }).value
		for _, br := range p.bars {
			w := math.Max(2, br.value/top*scale)
			x := svgPad + labelWidth
			fmt.Fprintf(&b, `<text class="l" x="%d" y="%d" text-anchor="end">%s</text>`+"\n", x-10, y+barHeight/2+5, esc(br.label))
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" rx="3" fill="%s"/>`+"\n", x, y, w, barHeight, br.fill)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d"><tspan class="v">%s</tspan>`, float64(x)+w+8, y+barHeight/2+5, esc(p.format(br.value)))
			if br.note != "" {
				fmt.Fprintf(&b, `<tspan class="n" dx="8">%s</tspan>`, esc(br.note))
			}
			b.WriteString("</text>\n")
			y += barHeight + barGap
		}
		y += panelGap
	}
	fmt.Fprintf(&b, `<text class="f" x="%d" y="%d">%s</text>`+"\n", svgPad, y, esc(note))
	b.WriteString("</svg>\n")
	return b.String()
}

// perSecond prints a rate with three significant digits: "3.23 M",
// "136 k", "27.5 k".
func perSecond(v float64) string {
	unit := ""
	switch {
	case v >= 1e6:
		v, unit = v/1e6, " M"
	case v >= 1e3:
		v, unit = v/1e3, " k"
	}
	digits := 2
	switch {
	case v >= 100:
		digits = 0
	case v >= 10:
		digits = 1
	}
	return strconv.FormatFloat(v, 'f', digits, 64) + unit
}

func esc(s string) string { return html.EscapeString(s) }
