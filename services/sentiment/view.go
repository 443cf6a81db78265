package sentiment

import (
	"context"
	"math"
	"sync"

	bolt "go.etcd.io/bbolt"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/window"
	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

// The reads below answer validated requests, in the published window length (api.granularity),
// each in one read transaction.

// released returns what readers may see of the aggregate of seg and dim in w: its key, and its
// released value if it has one. Every released value passed the hiding rules against
// everything released before it (see flush), so reads need no decision of their own.
func released(tx *bolt.Tx, seg segment.Path, dim int32, w window.Window) (rollup.Key, rollup.Stats, bool, error) {
	k := rollup.Key{Segment: seg.String(), Dimension: dim, Window: anonymity.ContributorWindow(w)}
	st, shown, err := rollup.Released(tx, k)
	return k, st, shown, err
}

// readAggregate is GetSentiment: the aggregate of seg and dim in w, hidden unless released.
func (s *Service) readAggregate(_ context.Context, seg segment.Path, dim commonv1.Dimension, w window.Window) (*commonv1.Aggregate, error) {
	var a *commonv1.Aggregate
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		k, st, shown, err := released(tx, seg, int32(dim), w)
		a = aggregateProto(k, w, st, !shown, s.cfg.MinGroupSize)
		return err
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// trend is GetTrend: one point per window, with the confidence interval of the shown ones.
func (s *Service) trend(_ context.Context, seg segment.Path, dim commonv1.Dimension, windows []window.Window) ([]*sentimentv1.TrendPoint, error) {
	var points []*sentimentv1.TrendPoint
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		for _, w := range windows {
			k, st, shown, err := released(tx, seg, int32(dim), w)
			if err != nil {
				return err
			}
			p := &sentimentv1.TrendPoint{Aggregate: aggregateProto(k, w, st, !shown, s.cfg.MinGroupSize)}
			if !p.Aggregate.ScoreHidden {
				p.CiLow, p.CiHigh = confidence(st)
			}
			points = append(points, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return points, nil
}

// heatmapDimensions are the columns of a heatmap: every dimension of docs/design.md.
var heatmapDimensions = []commonv1.Dimension{
	commonv1.Dimension_DIMENSION_MEANING, commonv1.Dimension_DIMENSION_GROWTH,
	commonv1.Dimension_DIMENSION_CONNECTIONS, commonv1.Dimension_DIMENSION_IMAGE,
	commonv1.Dimension_DIMENSION_ECOSYSTEM, commonv1.Dimension_DIMENSION_RECOGNITION,
	commonv1.Dimension_DIMENSION_WORKLOAD, commonv1.Dimension_DIMENSION_ENGAGEMENT,
}

// readCache keeps the heatmaps served, per prefix and window, until a release of that window
// (or a rebuild) commits: dashboards read the same heatmap again and again, and the released
// values behind it change only at a release.
type readCache struct {
	mu      sync.Mutex
	epoch   uint64            // bumped by a rebuild's swap: everything changes
	gens    map[string]uint64 // window (ContributorTag.Window) → releases committed
	heatmap map[string]cachedHeatmap
}

type cachedHeatmap struct {
	gen  [3]uint64
	rows []*sentimentv1.HeatmapRow // shared by the answers: never changed
}

// maxCachedHeatmaps bounds the cache; beyond it, it starts afresh.
const maxCachedHeatmaps = 512

// gen is what a heatmap of win depends on: the rebuilds and the releases of win committed,
// and the segments that have aggregates (rollup.SegmentsVersion, read in a transaction).
func (c *readCache) gen(win string, segments uint64) [3]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return [3]uint64{c.epoch, c.gens[win], segments}
}

// released notes a committed release in win.
func (c *readCache) released(win string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gens == nil {
		c.gens = map[string]uint64{}
	}
	c.gens[win]++
}

// swapped notes a rebuild swapped in.
func (c *readCache) swapped() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
}

func (c *readCache) get(key string, gen [3]uint64) ([]*sentimentv1.HeatmapRow, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.heatmap[key]
	return e.rows, ok && e.gen == gen
}

func (c *readCache) put(key string, gen [3]uint64, rows []*sentimentv1.HeatmapRow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.heatmap == nil || len(c.heatmap) >= maxCachedHeatmaps {
		c.heatmap = map[string]cachedHeatmap{}
	}
	c.heatmap[key] = cachedHeatmap{gen: gen, rows: rows}
}

// heatmap is GetHeatmap: a row per child of prefix that has aggregates, a cell per dimension.
// It reads the released values (readCache keeps what it served until a release changes them).
func (s *Service) heatmap(_ context.Context, prefix segment.Path, w window.Window) ([]*sentimentv1.HeatmapRow, error) {
	win := anonymity.ContributorWindow(w)
	key := prefix.String() + "\x00" + win
	// The generation is taken before reading: a release committed meanwhile makes the entry
	// stale at once.
	var segs uint64
	if err := s.host.DB.View(func(tx *bolt.Tx) error { segs = rollup.SegmentsVersion(tx); return nil }); err != nil {
		return nil, err
	}
	gen := s.reads.gen(win, segs)
	if rows, ok := s.reads.get(key, gen); ok {
		return rows, nil
	}
	rows, err := s.readHeatmap(prefix, w)
	if err != nil {
		return nil, err
	}
	s.reads.put(key, gen, rows)
	return rows, nil
}

func (s *Service) readHeatmap(prefix segment.Path, w window.Window) ([]*sentimentv1.HeatmapRow, error) {
	var rows []*sentimentv1.HeatmapRow
	// The window is named and rendered once for every cell.
	win, tw := anonymity.ContributorWindow(w), timeWindowProto(w)
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		segs, err := rollup.Segments(tx, prefix)
		if err != nil {
			return err
		}
		for _, seg := range segs {
			if parent, ok := seg.Parent(); !ok || !parent.Equal(prefix) {
				continue
			}
			row := &sentimentv1.HeatmapRow{Segment: seg.String(), Cells: make([]*commonv1.Aggregate, 0, len(heatmapDimensions))}
			for _, d := range heatmapDimensions {
				k := rollup.Key{Segment: row.Segment, Dimension: int32(d), Window: win}
				st, shown, err := rollup.Released(tx, k)
				if err != nil {
					return err
				}
				row.Cells = append(row.Cells, aggregateIn(k, tw, st, !shown, s.cfg.MinGroupSize))
			}
			rows = append(rows, row)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// confidence is the 95% confidence interval of the mean score, from the sums: Student's t
// with n-1 degrees of freedom and the sample variance, clamped to [-1, 1]; the whole range
// below two items. (The normal 1.96 is too narrow for small n: by 29% at n = 5.)
func confidence(st rollup.Stats) (lo, hi float64) {
	n := float64(st.Count)
	if st.Count < 2 {
		return -1, 1
	}
	mean := st.Sum() / n
	variance := math.Max(0, (st.SumSquares()-n*mean*mean)/(n-1))
	half := tQuantile975(n-1) * math.Sqrt(variance/n)
	return math.Max(-1, mean-half), math.Min(1, mean+half)
}
