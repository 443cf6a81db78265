package sentiment

import (
	"math"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/window"
	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
	"github.com/voix-dev/voix/services/sentiment/internal/suppress"
)

// treeView is every aggregate of one organisation for one dimension and window, with the ones
// that must not be shown. Readers and the publisher decide through it, so that a number is
// never published that a reader could not also see, and the reverse.
type treeView struct {
	stats  map[string]rollup.Stats
	hidden map[string]bool
	k      int
}

// viewTree reads the aggregates of org's whole tree and applies the hiding rules. The whole
// organisation is read whatever the caller's prefix: hiding depends on siblings and parents a
// manager may not see, and must be the same for every reader.
func (s *Service) viewTree(tx *bolt.Tx, org string, dim int32, win string) (treeView, error) {
	v := treeView{stats: map[string]rollup.Stats{}, k: s.cfg.MinGroupSize}
	segs := rollup.Segments(tx, org)
	nodes := make([]suppress.Node, 0, len(segs))
	for _, seg := range segs {
		st, err := rollup.Get(tx, rollup.Key{Segment: seg, Dimension: dim, Window: win})
		if err != nil {
			return v, err
		}
		if st.People == 0 && st.Count == 0 {
			continue
		}
		v.stats[seg] = st
		nodes = append(nodes, suppress.Node{ID: seg, Parent: parentOf(seg), People: int(st.People)})
	}
	v.hidden = suppress.Hidden(nodes, s.cfg.MinGroupSize)
	return v, nil
}

// shown reports whether seg's aggregate may be shown, and returns it.
func (v treeView) shown(seg string) (rollup.Stats, bool) {
	st := v.stats[seg]
	return st, int(st.People) >= v.k && !v.hidden[seg]
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
		v, err := s.viewTree(tx, seg.Org(), dim, tagWindow(d))
		if err != nil {
			return rollup.Stats{}, false, err
		}
		st, ok := v.shown(seg.String())
		if d.Key() == day.Key() {
			self = st
		}
		days = append(days, suppress.Day{
			Key: d.Key(), Week: window.Of(window.Week, d.Start).Key(), Month: window.Of(window.Month, d.Start).Key(),
			People: int(st.People), Hidden: !ok,
		})
	}
	hidden := suppress.HiddenDays(days, s.cfg.MinGroupSize)
	return self, int(self.People) >= s.cfg.MinGroupSize && !hidden[day.Key()], nil
}

// view decides one aggregate of seg, whatever the window length.
func (s *Service) view(tx *bolt.Tx, seg segment.Path, dim int32, w window.Window) (rollup.Stats, bool, error) {
	if w.Granularity == window.Day {
		return s.viewDay(tx, seg, dim, w)
	}
	v, err := s.viewTree(tx, seg.Org(), dim, tagWindow(w))
	if err != nil {
		return rollup.Stats{}, false, err
	}
	st, ok := v.shown(seg.String())
	return st, ok, nil
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
