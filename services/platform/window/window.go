// Package window owns the calendar windows that aggregates are counted in: a UTC day, an
// ISO 8601 week (Monday to Monday) or a calendar month, each a half-open interval
// [Start, End) with a short, sortable key ("2026-11-23", "2026-W48", "2026-11").
//
// Everything is UTC so that every service and every reader cuts time at the same instants:
// an aggregate computed in Paris and one computed in New York must count the same answers.
package window

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Granularity is the length of a window.
type Granularity int

// The granularities. The zero value is not one of them.
const (
	Day Granularity = iota + 1
	Week
	Month
)

// String returns "day", "week" or "month", and "granularity(<n>)" for anything else.
func (g Granularity) String() string {
	switch g {
	case Day:
		return "day"
	case Week:
		return "week"
	case Month:
		return "month"
	}
	return "granularity(" + strconv.Itoa(int(g)) + ")"
}

// Valid reports whether g is Day, Week or Month.
func (g Granularity) Valid() bool { return g >= Day && g <= Month }

// ParseGranularity is the inverse of String for the three valid granularities.
func ParseGranularity(s string) (Granularity, error) {
	switch s {
	case "day":
		return Day, nil
	case "week":
		return Week, nil
	case "month":
		return Month, nil
	}
	return 0, fmt.Errorf("%w: granularity %q must be day, week or month", ErrInvalidKey, s)
}

// ErrInvalidKey is wrapped by the errors of ParseKey and ParseGranularity.
var ErrInvalidKey = errors.New("invalid window key")

// Window is the interval [Start, End) of one granularity, both ends UTC. Build one with Of
// or ParseKey; the zero Window is not a window.
type Window struct {
	Granularity Granularity
	Start, End  time.Time
}

// Of returns the window of granularity g that contains t (taken in UTC): the day starting at
// midnight UTC, the ISO week starting on Monday, or the month starting on the first. It
// panics if g is not valid, which is a programming error: granularities that come from input
// go through ParseGranularity or an explicit mapping first.
func Of(g Granularity, t time.Time) Window {
	t = t.UTC()
	y, m, d := t.Date()
	var start time.Time
	switch g {
	case Day:
		start = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	case Week:
		// Weekday is 0 on Sunday; ISO weeks start on Monday.
		back := (int(t.Weekday()) + 6) % 7
		start = time.Date(y, m, d-back, 0, 0, 0, 0, time.UTC)
	case Month:
		start = time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	default:
		panic(fmt.Sprintf("window.Of: invalid granularity %d", int(g)))
	}
	return Window{Granularity: g, Start: start, End: advance(g, start, 1)}
}

// advance moves the start of a window by n windows of g.
func advance(g Granularity, start time.Time, n int) time.Time {
	switch g {
	case Day:
		return start.AddDate(0, 0, n)
	case Week:
		return start.AddDate(0, 0, 7*n)
	default: // Month; start is the first of a month, so AddDate never overflows into the next.
		return start.AddDate(0, n, 0)
	}
}

// Key returns the window's key: "2026-11-23" for a day, "2026-W48" for a week (the ISO
// week-based year, which differs from the calendar year around New Year: 2024-12-30 is in
// 2025-W01) and "2026-11" for a month. Keys of one granularity sort in time order for years
// 0001 to 9999, and ParseKey reads them back.
func (w Window) Key() string {
	switch w.Granularity {
	case Day:
		return w.Start.Format("2006-01-02")
	case Week:
		y, wk := w.Start.ISOWeek()
		return fmt.Sprintf("%04d-W%02d", y, wk)
	case Month:
		return w.Start.Format("2006-01")
	}
	return ""
}

// String returns Key.
func (w Window) String() string { return w.Key() }

// Contains reports whether t lies in [Start, End).
func (w Window) Contains(t time.Time) bool { return !t.Before(w.Start) && t.Before(w.End) }

// Next returns the window that starts at w.End.
func (w Window) Next() Window {
	return Window{Granularity: w.Granularity, Start: w.End, End: advance(w.Granularity, w.End, 1)}
}

// Prev returns the window that ends at w.Start.
func (w Window) Prev() Window {
	return Window{Granularity: w.Granularity, Start: advance(w.Granularity, w.Start, -1), End: w.Start}
}

// ParseKey reads a key written by Key; the format tells the granularity. It accepts only the
// canonical form, so a parsed key always equals Key() of the result: "2026-1-5", "2026-W5"
// and "2025-W53" (2025 has 52 ISO weeks) are errors.
func ParseKey(key string) (Window, error) {
	bad := func(why string) (Window, error) {
		return Window{}, fmt.Errorf("%w: %q %s", ErrInvalidKey, key, why)
	}
	switch {
	case len(key) == len("2006-01-02") && key[4] == '-' && key[7] == '-':
		t, err := time.Parse("2006-01-02", key)
		if err != nil || t.Year() < 1 {
			return bad("is not a date YYYY-MM-DD")
		}
		return Of(Day, t), nil
	case len(key) == len("2006-W01") && key[4] == '-' && key[5] == 'W':
		y, err1 := digits(key[:4])
		wk, err2 := digits(key[6:])
		if err1 != nil || err2 != nil || y < 1 || wk < 1 || wk > 53 {
			return bad("is not an ISO week YYYY-Www with ww in 01..53")
		}
		// ISO week 1 is the week with January 4th in it.
		w := Of(Week, time.Date(y, time.January, 4, 0, 0, 0, 0, time.UTC))
		w.Start = advance(Week, w.Start, wk-1)
		w.End = advance(Week, w.Start, 1)
		if gy, gw := w.Start.ISOWeek(); gy != y || gw != wk {
			return bad(fmt.Sprintf("names a week that does not exist: %04d has 52 ISO weeks", y))
		}
		return w, nil
	case len(key) == len("2006-01") && key[4] == '-':
		t, err := time.Parse("2006-01", key)
		if err != nil || t.Year() < 1 {
			return bad("is not a month YYYY-MM")
		}
		return Of(Month, t), nil
	}
	return bad("must be YYYY-MM-DD, YYYY-Www or YYYY-MM")
}

// digits parses a run of ASCII digits; unlike strconv.Atoi it rejects signs.
func digits(s string) (int, error) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a digit")
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, nil
}
