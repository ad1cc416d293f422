package mysql

import (
	"fmt"
	"time"
)

// Times are DATETIME(3) columns holding UTC: milliseconds, like every time
// in sessiond, and readable in a SQL shell. The store writes them as text
// (dbTime) and reads them as text (CAST(column AS CHAR), then scanTime), so
// that they never pass through the driver's time handling: an application
// DSN with parseTime=false, or a loc other than UTC (where DST makes some
// wall-clock times ambiguous or nonexistent), changes nothing. DATETIME
// itself is never converted by the server's time_zone.
const timeLayout = "2006-01-02 15:04:05.000"

// dbTime is t as a DATETIME(3) literal in UTC. Anything below a
// millisecond is truncated, never rounded (as the server would).
func dbTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// dbTimeOrNull is dbTime, or NULL for the zero time (a session never
// rotated).
func dbTimeOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return dbTime(t)
}

// castTime is the SELECT expression of a time column, read as text.
func castTime(column string) string { return "CAST(" + column + " AS CHAR)" }

// scanTime is a sql.Scanner for a time column read with castTime; NULL
// scans as the zero time.
type scanTime struct{ dst *time.Time }

func (st scanTime) Scan(src any) error {
	var text string
	switch v := src.(type) {
	case nil:
		*st.dst = time.Time{}
		return nil
	case []byte:
		text = string(v)
	case string:
		text = v
	default:
		return fmt.Errorf("a time column read as %T, want text", src)
	}
	// time.DateTime accepts the fraction that follows the seconds.
	t, err := time.ParseInLocation(time.DateTime, text, time.UTC)
	if err != nil {
		return fmt.Errorf("a time column holds %q: %w", text, err)
	}
	*st.dst = t
	return nil
}
