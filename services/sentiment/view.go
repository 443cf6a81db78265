package sentiment

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

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

// readCache keeps the heatmaps served, per prefix and window: dashboards read the same heatmap
// again and again, and the released values behind it change only at a release. A release of
// the window, once committed, patches the cells it released into the heatmaps that were
// current (released), so a read after a release costs a cache hit, not 1,600 lookups; a
// rebuild's swap, or a new segment, makes them all stale.
//
// Trends are kept the same way, until any release or swap (a trend spans many windows, the
// current one among them as a rule).
type readCache struct {
	mu       sync.Mutex
	epoch    uint64            // bumped by a rebuild's swap: everything changes
	gens     map[string]uint64 // window (ContributorTag.Window) → releases committed
	releases uint64            // releases committed, in every window
	heatmap  map[string]cachedHeatmap
	trend    map[string]cachedTrend
	misses   uint64 // heatmaps read from the store (tests)
}

type cachedHeatmap struct {
	gen    [3]uint64
	prefix string
	win    string
	tw     *commonv1.TimeWindow
	rows   []*sentimentv1.HeatmapRow // shared by the answers: never changed, patched by copy
	// compact is rows without their hidden cells (GetHeatmapRequest.compact), sharing their
	// shown cells
	compact []*sentimentv1.HeatmapRow
	// versions of each cell's released value (by row, then heatmapDimensions; 0: none)
	vers [][]uint64
	// forms are the answers, full and compact, and their encodings (encoded.go), made on
	// first use; a patch that changes a cell starts new ones.
	forms *heatmapForms
}

// heatmapForms are a heatmap's answers: full, then compact.
type heatmapForms [2]encodedOnce[*sentimentv1.GetHeatmapResponse]

// heatmapAnswer is a heatmap served: its rows, full or compact, and the window of its cells.
type heatmapAnswer struct {
	rows, compact []*sentimentv1.HeatmapRow
	tw            *commonv1.TimeWindow
	forms         *heatmapForms
}

// response is the GetHeatmap answer, full or compact, and its encoding when it has one.
func (a heatmapAnswer) response(compact bool) (*sentimentv1.GetHeatmapResponse, []byte) {
	rows, form := a.rows, 0
	if compact {
		rows, form = a.compact, 1
	}
	build := func() *sentimentv1.GetHeatmapResponse {
		return &sentimentv1.GetHeatmapResponse{Rows: rows, Window: a.tw}
	}
	if a.forms == nil {
		return build(), nil
	}
	return a.forms[form].get(build)
}

// cachedTrend is a GetTrend answer and its encoding (nil if it had none), read at gen
// (readCache.trendGen).
type cachedTrend struct {
	gen  [2]uint64
	resp *sentimentv1.GetTrendResponse
	raw  []byte
}

// maxCachedTrends bounds the trends kept; beyond it, they start afresh.
const maxCachedTrends = 4096

// heatmapCell renders one cell of a heatmap, without its segment and window (its row's and
// the answer's: HeatmapRow.cells), which a client would otherwise decode 1,600 times (two
// strings and three messages each, nearly three quarters of the allocations of decoding the
// answer: BenchmarkDecodeHeatmap). A hidden cell is its dimension, hidden and score_hidden: what
// GetSentiment says of it, less its segment and window.
func heatmapCell(k rollup.Key, st rollup.Stats, hidden bool, minGroup int) *commonv1.Aggregate {
	if hidden {
		return &commonv1.Aggregate{Dimension: commonv1.Dimension(k.Dimension), Hidden: true, ScoreHidden: true}
	}
	c := aggregateIn(k, nil, st, false, minGroup)
	c.Segment = ""
	return c
}

// compactRow is row without its hidden cells, sharing the others.
func compactRow(row *sentimentv1.HeatmapRow) *sentimentv1.HeatmapRow {
	out := &sentimentv1.HeatmapRow{Segment: row.Segment}
	for _, c := range row.Cells {
		if !c.Hidden {
			out.Cells = append(out.Cells, c)
		}
	}
	return out
}

// releasedCell is an aggregate a flush released, with its released value.
type releasedCell struct {
	key rollup.Key
	st  rollup.Stats
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

// released notes a committed release in win, of the cells rel, and patches them into the
// heatmaps of win that were current. A cell is patched only with a later version than it
// holds: releases patch in any order, never back. minGroup is k (aggregateIn).
func (c *readCache) released(win string, rel []releasedCell, minGroup int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gens == nil {
		c.gens = map[string]uint64{}
	}
	prev := c.gens[win]
	c.gens[win]++
	c.releases++
	for key, e := range c.heatmap {
		if e.win != win || e.gen[0] != c.epoch || e.gen[1] != prev {
			continue
		}
		if patched, ok := e.patch(rel, minGroup); ok {
			patched.gen[1] = prev + 1
			c.heatmap[key] = patched
		} else {
			delete(c.heatmap, key)
		}
	}
}

// patch returns e with the cells of rel that belong to it replaced by their released value,
// copying what it changes; false if one has no row in e (a segment e does not know).
//
// It runs under the cache's lock, which readers wait for: it looks rows up by segment, in
// time linear in rel and e's rows.
func (e cachedHeatmap) patch(rel []releasedCell, minGroup int) (cachedHeatmap, bool) {
	rowCopied := map[int]bool{}
	var rowOf map[string]int // e's rows by segment, made at the first cell of one of them
	for _, r := range rel {
		// Segments are kept as segment.Path.String() gives them: the parent is what comes
		// before the last '/'.
		if i := strings.LastIndexByte(r.key.Segment, '/'); i < 0 || r.key.Segment[:i] != e.prefix {
			continue
		}
		col := slices.Index(heatmapDimensions, commonv1.Dimension(r.key.Dimension))
		if col < 0 {
			continue // "all dimensions": not a heatmap column
		}
		if rowOf == nil {
			rowOf = make(map[string]int, len(e.rows))
			for i, row := range e.rows {
				rowOf[row.Segment] = i
			}
		}
		i, ok := rowOf[r.key.Segment]
		if !ok {
			return e, false
		}
		if r.st.Version <= e.vers[i][col] {
			continue
		}
		if len(rowCopied) == 0 {
			e.rows, e.compact, e.vers = slices.Clone(e.rows), slices.Clone(e.compact), slices.Clone(e.vers)
		}
		if !rowCopied[i] {
			row := e.rows[i]
			e.rows[i] = &sentimentv1.HeatmapRow{Segment: row.Segment, Cells: slices.Clone(row.Cells)}
			e.vers[i] = slices.Clone(e.vers[i])
			rowCopied[i] = true
		}
		e.rows[i].Cells[col] = heatmapCell(r.key, r.st, false, minGroup)
		e.vers[i][col] = r.st.Version
	}
	for i := range rowCopied {
		e.compact[i] = compactRow(e.rows[i])
	}
	if len(rowCopied) > 0 {
		e.forms = new(heatmapForms)
	}
	return e, true
}

// swapped notes a rebuild swapped in.
func (c *readCache) swapped() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
}

func (c *readCache) get(key string, gen [3]uint64) (heatmapAnswer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.heatmap[key]
	if !ok || e.gen != gen {
		c.misses++
		return heatmapAnswer{}, false
	}
	return e.answer(), true
}

func (e cachedHeatmap) answer() heatmapAnswer {
	return heatmapAnswer{rows: e.rows, compact: e.compact, tw: e.tw, forms: e.forms}
}

// trendGen is what every trend depends on: the rebuilds and the releases committed.
func (c *readCache) trendGen() [2]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return [2]uint64{c.epoch, c.releases}
}

func (c *readCache) getTrend(key string, gen [2]uint64) (cachedTrend, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.trend[key]
	return e, ok && e.gen == gen
}

// putTrend keeps e, read at e.gen, unless what is kept was read later (as put).
func (c *readCache) putTrend(key string, e cachedTrend) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.trend == nil || len(c.trend) >= maxCachedTrends {
		c.trend = map[string]cachedTrend{}
	}
	if old, ok := c.trend[key]; ok && (old.gen[0] > e.gen[0] || old.gen[0] == e.gen[0] && old.gen[1] >= e.gen[1]) {
		return
	}
	c.trend[key] = e
}

// trendKey names a GetTrend answer: its segment, dimension and windows.
func trendKey(seg segment.Path, dim commonv1.Dimension, windows []window.Window) string {
	b := make([]byte, 0, 64)
	b = append(b, seg.String()...)
	for _, n := range []int64{int64(dim), int64(windows[0].Granularity), windows[0].Start.UnixNano(), int64(len(windows))} {
		b = strconv.AppendInt(append(b, 0), n, 10)
	}
	return string(b)
}

// trendAnswer is GetTrend's answer and its encoding: kept (readCache) until a release or a
// swap, read (trend) otherwise. The generation is taken before reading, as in heatmap.
func (s *Service) trendAnswer(ctx context.Context, seg segment.Path, dim commonv1.Dimension, windows []window.Window) (*sentimentv1.GetTrendResponse, []byte, error) {
	key, gen := trendKey(seg, dim, windows), s.reads.trendGen()
	if e, ok := s.reads.getTrend(key, gen); ok {
		return e.resp, e.raw, nil
	}
	points, err := s.trend(ctx, seg, dim, windows)
	if err != nil {
		return nil, nil, err
	}
	e := cachedTrend{gen: gen, resp: &sentimentv1.GetTrendResponse{Points: points}}
	if raw, err := proto.Marshal(e.resp); err == nil {
		e.raw = raw
	}
	s.reads.putTrend(key, e)
	return e.resp, e.raw, nil
}

// put keeps e, read at e.gen, unless what is kept is as recent: only an entry of the current
// generation is ever patched, and a read that raced a release must not replace one.
func (c *readCache) put(key string, e cachedHeatmap) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.heatmap == nil || len(c.heatmap) >= maxCachedHeatmaps {
		c.heatmap = map[string]cachedHeatmap{}
	}
	if old, ok := c.heatmap[key]; ok && old.gen[0] == e.gen[0] && old.gen[1] >= e.gen[1] && old.gen[2] >= e.gen[2] {
		return
	}
	c.heatmap[key] = e
}

// heatmap is GetHeatmap: a row per child of prefix that has aggregates, a cell per dimension.
// It reads the released values (readCache keeps what it served until a release changes them).
func (s *Service) heatmap(_ context.Context, prefix segment.Path, w window.Window) (heatmapAnswer, error) {
	win := anonymity.ContributorWindow(w)
	key := prefix.String() + "\x00" + win
	// The generation is taken before reading: a release committed meanwhile makes the entry
	// stale at once.
	var segs uint64
	if err := s.host.DB.View(func(tx *bolt.Tx) error { segs = rollup.SegmentsVersion(tx); return nil }); err != nil {
		return heatmapAnswer{}, err
	}
	gen := s.reads.gen(win, segs)
	if a, ok := s.reads.get(key, gen); ok {
		return a, nil
	}
	e, err := s.readHeatmapEntry(prefix, w)
	if err != nil {
		return heatmapAnswer{}, err
	}
	e.gen = gen
	s.reads.put(key, e)
	return e.answer(), nil
}

func (s *Service) readHeatmap(prefix segment.Path, w window.Window) ([]*sentimentv1.HeatmapRow, error) {
	e, err := s.readHeatmapEntry(prefix, w)
	return e.rows, err
}

// readHeatmapEntry reads the heatmap from the store, with the versions of its cells.
func (s *Service) readHeatmapEntry(prefix segment.Path, w window.Window) (cachedHeatmap, error) {
	var (
		rows, compact []*sentimentv1.HeatmapRow
		vers          [][]uint64
	)
	// The window is named and rendered once, for the answer: it is every cell's.
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
			ver := make([]uint64, 0, len(heatmapDimensions))
			for _, d := range heatmapDimensions {
				k := rollup.Key{Segment: row.Segment, Dimension: int32(d), Window: win}
				st, shown, err := rollup.Released(tx, k)
				if err != nil {
					return err
				}
				row.Cells = append(row.Cells, heatmapCell(k, st, !shown, s.cfg.MinGroupSize))
				if !shown {
					st.Version = 0
				}
				ver = append(ver, st.Version)
			}
			rows, vers = append(rows, row), append(vers, ver)
			compact = append(compact, compactRow(row))
		}
		return nil
	})
	if err != nil {
		return cachedHeatmap{}, err
	}
	return cachedHeatmap{prefix: prefix.String(), win: win, tw: tw, rows: rows, compact: compact, vers: vers, forms: new(heatmapForms)}, nil
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
	half := tQuantile975Of(int64(st.Count)-1) * math.Sqrt(variance/n)
	return math.Max(-1, mean-half), math.Min(1, mean+half)
}

// tQuantiles memoizes tQuantile975 by degrees of freedom (an item count minus one, so a whole
// number): its bisection was most of a GetTrend's CPU, once per point per read.
var tQuantiles struct {
	sync.Mutex
	m map[int64]float64
}

// maxTQuantiles bounds the memo; beyond it, quantiles are computed each time.
const maxTQuantiles = 1 << 14

// tQuantile975Of is tQuantile975(df), memoized.
func tQuantile975Of(df int64) float64 {
	tQuantiles.Lock()
	q, ok := tQuantiles.m[df]
	tQuantiles.Unlock()
	if ok {
		return q
	}
	q = tQuantile975(float64(df))
	tQuantiles.Lock()
	if tQuantiles.m == nil {
		tQuantiles.m = map[int64]float64{}
	}
	if len(tQuantiles.m) < maxTQuantiles {
		tQuantiles.m[df] = q
	}
	tQuantiles.Unlock()
	return q
}
