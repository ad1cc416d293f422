package admin

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// statsView is the live counters as the pages print them: "n/a" for what
// the server does not know.
type statsView struct {
	ActiveSessions       string
	ValidationsPerSecond string
	CacheHitRatio        string
	At                   time.Time
}

func (c *console) dashboard(w http.ResponseWriter, r *http.Request) {
	c.renderDashboard(w, r, http.StatusOK, "")
}

// renderDashboard shows the search box and the live counters; searchError
// explains a refused search.
func (c *console) renderDashboard(w http.ResponseWriter, r *http.Request, status int, searchError string) {
	c.render(w, r, status, "dashboard", view{Title: "Dashboard", Error: searchError, Data: c.liveStats()})
}

// statsPage is the counters alone, reloaded by the browser every few
// seconds (a meta refresh: no script needed). It is its own page rather
// than a block of the dashboard, whose search box a reload would wipe.
func (c *console) statsPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "stats", view{Title: "Live counters", Data: c.liveStats()})
}

func (c *console) liveStats() statsView {
	v := statsView{ActiveSessions: "n/a", ValidationsPerSecond: "n/a", CacheHitRatio: "n/a", At: time.Now()}
	if c.stats == nil {
		return v
	}
	s := c.stats()
	if s.ActiveSessions >= 0 {
		v.ActiveSessions = groupThousands(strconv.FormatInt(s.ActiveSessions, 10))
	}
	if s.ValidationsPerSecond >= 0 && !math.IsInf(s.ValidationsPerSecond, 0) {
		v.ValidationsPerSecond = groupThousands(strconv.FormatFloat(s.ValidationsPerSecond, 'f', 1, 64))
	}
	if s.CacheHitRatio >= 0 && s.CacheHitRatio <= 1 {
		v.CacheHitRatio = fmt.Sprintf("%.1f %%", s.CacheHitRatio*100)
	}
	return v
}

// groupThousands writes the digits before any decimal point of a
// non-negative number in groups of three: 1234567.5 as 1,234,567.5.
func groupThousands(s string) string {
	end := strings.IndexByte(s, '.')
	if end < 0 {
		end = len(s)
	}
	for i := end - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
