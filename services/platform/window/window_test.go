package window

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		g          Granularity
		at         string
		start, end string
		key        string
	}{
		{Day, "2026-11-23T15:04:05Z", "2026-11-23T00:00:00Z", "2026-11-24T00:00:00Z", "2026-11-23"},
		{Day, "2026-11-23T00:00:00Z", "2026-11-23T00:00:00Z", "2026-11-24T00:00:00Z", "2026-11-23"},
		{Day, "2026-11-23T23:59:59.999999999Z", "2026-11-23T00:00:00Z", "2026-11-24T00:00:00Z", "2026-11-23"},
		// 00:30 in Paris on the 24th is still the 23rd in UTC.
		{Day, "2026-11-24T00:30:00+01:00", "2026-11-23T00:00:00Z", "2026-11-24T00:00:00Z", "2026-11-23"},
		{Week, "2026-11-23T10:00:00Z", "2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z", "2026-W48"}, // Monday
		{Week, "2026-11-29T23:00:00Z", "2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z", "2026-W48"}, // Sunday
		{Week, "2026-11-30T00:00:00Z", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z", "2026-W49"},
		// ISO week-year edges: the key's year is the ISO year, not the calendar year.
		{Week, "2020-12-31T12:00:00Z", "2020-12-28T00:00:00Z", "2021-01-04T00:00:00Z", "2020-W53"},
		{Week, "2021-01-03T12:00:00Z", "2020-12-28T00:00:00Z", "2021-01-04T00:00:00Z", "2020-W53"},
		{Week, "2021-01-04T00:00:00Z", "2021-01-04T00:00:00Z", "2021-01-11T00:00:00Z", "2021-W01"},
		{Week, "2024-12-30T08:00:00Z", "2024-12-30T00:00:00Z", "2025-01-06T00:00:00Z", "2025-W01"},
		{Week, "2025-01-05T08:00:00Z", "2024-12-30T00:00:00Z", "2025-01-06T00:00:00Z", "2025-W01"},
		{Week, "2027-01-01T08:00:00Z", "2026-12-28T00:00:00Z", "2027-01-04T00:00:00Z", "2026-W53"},
		{Month, "2026-11-23T15:00:00Z", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "2026-11"},
		{Month, "2026-12-31T23:59:59Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", "2026-12"},
		{Month, "2024-02-29T12:00:00Z", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z", "2024-02"},
	} {
		w := Of(tc.g, date(tc.at))
		if !w.Start.Equal(date(tc.start)) || !w.End.Equal(date(tc.end)) || w.Key() != tc.key || w.Granularity != tc.g {
			t.Errorf("Of(%v, %s) = [%s, %s) %q, want [%s, %s) %q", tc.g, tc.at, w.Start, w.End, w.Key(), tc.start, tc.end, tc.key)
		}
		if w.Start.Location() != time.UTC || w.End.Location() != time.UTC {
			t.Errorf("Of(%v, %s) not in UTC: %v", tc.g, tc.at, w.Start.Location())
		}
		if !w.Contains(date(tc.at)) || w.Contains(w.End) || !w.Contains(w.Start) {
			t.Errorf("Of(%v, %s).Contains is wrong", tc.g, tc.at)
		}
		back, err := ParseKey(tc.key)
		if err != nil || back != w {
			t.Errorf("ParseKey(%q) = %+v, %v; want %+v", tc.key, back, err, w)
		}
	}
}

func TestNextPrev(t *testing.T) {
	for _, tc := range []struct {
		key, next, prev string
	}{
		{"2026-11-30", "2026-12-01", "2026-11-29"},
		{"2024-02-28", "2024-02-29", "2024-02-27"},
		{"2026-12-31", "2027-01-01", "2026-12-30"},
		{"2020-W53", "2021-W01", "2020-W52"},
		{"2025-W01", "2025-W02", "2024-W52"},
		{"2026-W01", "2026-W02", "2025-W52"},
		{"2026-12", "2027-01", "2026-11"},
		{"2026-01", "2026-02", "2025-12"},
		{"2026-03", "2026-04", "2026-02"},
	} {
		w, err := ParseKey(tc.key)
		if err != nil {
			t.Fatalf("ParseKey(%q): %v", tc.key, err)
		}
		n, p := w.Next(), w.Prev()
		if n.Key() != tc.next || p.Key() != tc.prev {
			t.Errorf("%s: Next %s Prev %s, want %s %s", tc.key, n.Key(), p.Key(), tc.next, tc.prev)
		}
		if !n.Start.Equal(w.End) || !p.End.Equal(w.Start) || n.Prev() != w || p.Next() != w {
			t.Errorf("%s: Next/Prev do not tile: %+v %+v", tc.key, n, p)
		}
		if n != Of(w.Granularity, w.End) || p != Of(w.Granularity, w.Start.Add(-time.Nanosecond)) {
			t.Errorf("%s: Next/Prev differ from Of at the boundaries", tc.key)
		}
	}
}

func TestParseKeyErrors(t *testing.T) {
	for _, key := range []string{
		"", "2026", "2026-1-05", "2026-11-5", "2026-13-01", "2026-02-30", "0000-01-01", "2026-11-23T00",
		"2026-W00", "2026-W54", "2025-W53", "2026-W5", "2026-w48", "2026W48", "+026-W48", "2026-W+8",
		"2026-00", "2026-13", "2026/11", "26-11", "２０２６-11",
	} {
		w, err := ParseKey(key)
		if err == nil {
			t.Errorf("ParseKey(%q) = %+v, want an error", key, w)
			continue
		}
		if !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), key) {
			t.Errorf("ParseKey(%q) error %q: want ErrInvalidKey naming the key", key, err)
		}
	}
	if _, err := ParseKey("2025-W53"); err == nil || !strings.Contains(err.Error(), "2025 has 52 ISO weeks") {
		t.Errorf("ParseKey(2025-W53) error %v, want it to explain the year has 52 weeks", err)
	}
}

func TestGranularity(t *testing.T) {
	for _, g := range []Granularity{Day, Week, Month} {
		back, err := ParseGranularity(g.String())
		if err != nil || back != g || !g.Valid() {
			t.Errorf("%v: ParseGranularity(String()) = %v, %v", g, back, err)
		}
	}
	if _, err := ParseGranularity("year"); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("ParseGranularity(year) error %v", err)
	}
	if Granularity(0).Valid() || Granularity(4).Valid() || Granularity(0).String() != "granularity(0)" {
		t.Error("invalid granularities must say so")
	}
	defer func() {
		if recover() == nil {
			t.Error("Of with an invalid granularity did not panic")
		}
	}()
	Of(Granularity(0), time.Now())
}

func FuzzParseKey(f *testing.F) {
	for _, k := range []string{"2026-11-23", "2026-W48", "2026-11", "2020-W53", "2026-W53", "0001-W01", "9999-W52", "9999-12-31", "0001-01-01", "2026-02-29"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		w, err := ParseKey(key)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("ParseKey(%q) error %v does not wrap ErrInvalidKey", key, err)
			}
			return
		}
		if w.Key() != key {
			t.Fatalf("ParseKey(%q).Key() = %q", key, w.Key())
		}
		if !w.Start.Before(w.End) || Of(w.Granularity, w.Start) != w || Of(w.Granularity, w.End.Add(-time.Nanosecond)) != w {
			t.Fatalf("ParseKey(%q) = %+v is not the window Of gives", key, w)
		}
		if n := w.Next(); n.Prev() != w || !n.Start.Equal(w.End) {
			t.Fatalf("ParseKey(%q): Next/Prev do not tile", key)
		}
	})
}

func FuzzOf(f *testing.F) {
	f.Add(int64(1795392000), int64(0))
	f.Add(int64(1609372800), int64(999999999))
	f.Fuzz(func(t *testing.T, sec, nsec int64) {
		// Years 1..9999, the range in which keys are four digits.
		const lo, hi = -62135596800, 253402300799
		sec = lo + (sec%(hi-lo)+(hi-lo))%(hi-lo)
		at := time.Unix(sec, nsec%1e9)
		for _, g := range []Granularity{Day, Week, Month} {
			w := Of(g, at)
			if !w.Contains(at) {
				t.Fatalf("Of(%v, %s) = [%s, %s) does not contain it", g, at.UTC(), w.Start, w.End)
			}
			if w.Start.Year() < 1 || w.End.Year() > 9999 {
				continue // the key would not be four digits
			}
			back, err := ParseKey(w.Key())
			if err != nil || back != w {
				t.Fatalf("Of(%v, %s).Key() = %q reads back as %+v, %v", g, at.UTC(), w.Key(), back, err)
			}
		}
	})
}
