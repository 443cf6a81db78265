package demo

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
)

// The customer mirror: the CX tool of each team reports, once a week, the week's CSAT and NPS
// of the team's customers (RecordCustomerSignal, with the admin token, as a CX integration
// would). Customers feel a team's mood a little later: a week's metrics follow mostly the
// team's mood of the week before, and some of this week's, with noise, so that the mirror's
// correlations show, strongest at lag 1.

// cxResponses is the fewest customer responses a weekly signal counts: well above any k the
// suite runs with (voix dev's default is 5).
const cxResponses = 20

// teamMood is the mean expected answer (1..5), over the team's people and the dimensions, at
// fraction f of the demo.
func teamMood(members []*person, f float64) float64 {
	sum := 0.0
	for _, p := range members {
		for _, d := range dimensions {
			sum += p.mean(d, f)
		}
	}
	return sum / float64(len(members)*len(dimensions))
}

// planCX adds a CSAT and an NPS signal per team and week, each recorded by its own action late
// in the week it measures (the signal's time an hour before). Its randomness is its own (seed,
// team, week), so that it changes nothing else of the plan.
func (r *run) planCX(add func(string, time.Time, *action, func(context.Context, *action) error) *action) {
	members := map[*team][]*person{}
	for _, p := range r.w.people {
		members[p.team] = append(members[p.team], p)
	}
	for ti, t := range r.w.teams {
		if len(members[t]) == 0 {
			continue
		}
		for wk := range r.weeks {
			at := r.base.Add(time.Duration(wk)*week + 4*day + 18*time.Hour)
			rng := rand.New(rand.NewPCG(r.cfg.Seed, 3<<40|uint64(ti)<<20|uint64(wk)))
			// The mood customers meet: 60% last week's, 40% this week's.
			m := 0.6*teamMood(members[t], r.frac(at.Add(-week))) + 0.4*teamMood(members[t], r.frac(at))
			csat := min(max(math.Round(78+16*(m-3.55)+rng.NormFloat64()*2.5), 0), 100)
			nps := min(max(math.Round(22+50*(m-3.55)+rng.NormFloat64()*6), -100), 100)
			signals := []*sentimentv1.CustomerSignal{
				{Segment: t.path, Metric: commonv1.CustomerMetric_CUSTOMER_METRIC_CSAT, Value: csat,
					Responses: uint32(cxResponses + t.size*3 + rng.IntN(30))},
				{Segment: t.path, Metric: commonv1.CustomerMetric_CUSTOMER_METRIC_NPS, Value: nps,
					Responses: uint32(cxResponses + t.size + rng.IntN(15))},
			}
			for _, s := range signals {
				s.Time = timestamppb.New(at.Add(-time.Hour))
				s.SourceId = fmt.Sprintf("demo-cx:%s:%d", s.Metric, wk)
				add("cx", at, nil, r.recordSignal(s))
			}
		}
	}
}

// recordSignal records s as the team's CX tool does.
func (r *run) recordSignal(s *sentimentv1.CustomerSignal) func(context.Context, *action) error {
	return func(ctx context.Context, _ *action) error {
		err := transient(ctx, func() error {
			_, err := r.sentiment.RecordCustomerSignal(r.admin(ctx), &sentimentv1.RecordCustomerSignalRequest{Signal: s})
			return err
		})
		if err != nil {
			return fmt.Errorf("RecordCustomerSignal %s %s: %w", s.Segment, s.Metric, err)
		}
		r.add(func(c *Counts) { c.CustomerSignals++ })
		return nil
	}
}
