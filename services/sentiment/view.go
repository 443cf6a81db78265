package sentiment

import (
	"math"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/anonymity/suppress"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/window"
	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

// released returns what readers may see of one aggregate: its released value, if it has one.
// Every released value passed the hiding rules against everything released before it (see
// flush), so reads need no decision of their own.
func (s *Service) released(tx *bolt.Tx, seg string, dim int32, win string) (rollup.Stats, bool, error) {
	return rollup.Released(tx, rollup.Key{Segment: seg, Dimension: dim, Window: win})
}

// viewDay decides a day aggregate of seg: the segment tree of that day, then the time families
// (the day's ISO week and month) of seg, so that no day can be subtracted out of its week.
func (s *Service) viewDay(tx *bolt.Tx, seg segment.Path, dim int32, day window.Window) (rollup.Stats, bool, error) {
	weekOf, monthOf := window.Of(window.Week, day.Start), window.Of(window.Month, day.Start)
	from, to := weekOf.Start, weekOf.End
	if monthOf.Start.Before(from) {
		from = monthOf.Start
	}
	if monthOf.End.After(to) {
		to = monthOf.End
	}
	// Every day of both families; days of the other month that the week reaches into belong
	// to that month's family, which must be complete too.
	for _, w := range []window.Window{window.Of(window.Month, from), window.Of(window.Month, to.Add(-1))} {
		if w.Start.Before(from) {
			from = w.Start
		}
		if w.End.After(to) {
			to = w.End
		}
	}
	var days []suppress.Day
	var self rollup.Stats
	for d := window.Of(window.Day, from); d.Start.Before(to); d = d.Next() {
		st, ok, err := s.released(tx, seg.String(), dim, tagWindow(d))
		if err != nil {
			return rollup.Stats{}, false, err
		}
		if d.Key() == day.Key() {
			self = st
		}
		people := st.People
		if !ok {
			// A day never released still counts in its week: its live size says whether
			// subtracting it out of the week would isolate a small group.
			live, err := rollup.Get(tx, rollup.Key{Segment: seg.String(), Dimension: dim, Window: tagWindow(d)})
			if err != nil {
				return rollup.Stats{}, false, err
			}
			people = live.People
		}
		days = append(days, suppress.Day{
			Key: d.Key(), Week: window.Of(window.Week, d.Start).Key(), Month: window.Of(window.Month, d.Start).Key(),
			People: int(people), Hidden: !ok,
		})
	}
	hidden := suppress.HiddenDays(days, s.cfg.MinGroupSize)
	if hidden[day.Key()] {
		return rollup.Stats{}, false, nil
	}
	return self, self.People > 0, nil
}

// view decides one aggregate of seg, whatever the window length.
func (s *Service) view(tx *bolt.Tx, seg segment.Path, dim int32, w window.Window) (rollup.Stats, bool, error) {
	if w.Granularity == window.Day {
		return s.viewDay(tx, seg, dim, w)
	}
	return s.released(tx, seg.String(), dim, tagWindow(w))
}

// parentOf is the parent path of seg, "" for an organisation.
func parentOf(seg string) string {
	for i := len(seg) - 1; i > 0; i-- {
		if seg[i] == '/' {
			return seg[:i]
		}
	}
	return ""
}

// confidence is the 95% confidence interval of the mean score, from the sums: the normal
// approximation with the sample variance, clamped to [-1, 1]; the whole range below two items.
func confidence(st rollup.Stats) (lo, hi float64) {
	n := float64(st.Count)
	if st.Count < 2 {
		return -1, 1
	}
	mean := st.Sum() / n
	variance := math.Max(0, (st.SumSquares()-n*mean*mean)/(n-1))
	half := 1.96 * math.Sqrt(variance/n)
	return math.Max(-1, mean-half), math.Min(1, mean+half)
}
