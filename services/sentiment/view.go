package sentiment

import (
	"context"
	"fmt"
	"math"

	"github.com/nats-io/nats.go"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/events"
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

// heatmap is GetHeatmap: a row per child of prefix that has aggregates, a cell per dimension.
func (s *Service) heatmap(_ context.Context, prefix segment.Path, w window.Window) ([]*sentimentv1.HeatmapRow, error) {
	var rows []*sentimentv1.HeatmapRow
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		segs, err := rollup.Segments(tx, prefix)
		if err != nil {
			return err
		}
		for _, seg := range segs {
			if parent, ok := seg.Parent(); !ok || !parent.Equal(prefix) {
				continue
			}
			row := &sentimentv1.HeatmapRow{Segment: seg.String()}
			for _, d := range heatmapDimensions {
				k, st, shown, err := released(tx, seg, int32(d), w)
				if err != nil {
					return err
				}
				row.Cells = append(row.Cells, aggregateProto(k, w, st, !shown, s.cfg.MinGroupSize))
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

// watch is WatchSentiment: it relays the SentimentUpdated events of prefix and everything below
// it to send until ctx is done. It reads the same subjects HR portals subscribe to, so both see
// exactly the published aggregates. ready is called once the subscriptions are in place:
// nothing published from then on is missed.
func (s *Service) watch(ctx context.Context, prefix segment.Path, ready func() error, send func(*eventsv1.SentimentUpdated) error) error {
	msgs := make(chan *nats.Msg, 256)
	nc := s.host.Bus.Conn()
	for _, subj := range events.SentimentUpdated.Filters(prefix) {
		sub, err := nc.ChanSubscribe(subj, msgs)
		if err != nil {
			return fmt.Errorf("segment_prefix: %w: subscribe to %s: %v", errBusUnavailable, subj, err)
		}
		defer sub.Unsubscribe()
	}
	if err := ready(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			var u eventsv1.SentimentUpdated
			if err := proto.Unmarshal(m.Data, &u); err != nil {
				s.host.Log.Warn("undecodable sentiment update", "subject", m.Subject, "err", err)
				continue
			}
			if err := send(&u); err != nil {
				return err
			}
		}
	}
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
