package sentiment

import (
	"math"

	bolt "go.etcd.io/bbolt"

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

// view decides one aggregate of seg, in the published window length (api.granularity).
func (s *Service) view(tx *bolt.Tx, seg segment.Path, dim int32, w window.Window) (rollup.Stats, bool, error) {
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
