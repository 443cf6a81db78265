package sentiment

// The customer mirror ("symétrie des attentions"): CX tools record a team's customer metric
// (RecordCustomerSignal, or voix.cx.<segment> on NATS: cx_consumer.go), and
// GetAttentionSymmetry sets it beside the employees' released sentiment and eNPS per window,
// with their correlation. The employee side is read exactly as GetSentiment reads it
// (released, aggregateProto): nothing a reader could not already see enters a correlation.

import (
	"context"
	"errors"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/rpcerr"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/store"
	"github.com/voix-dev/voix/services/platform/window"
	"github.com/voix-dev/voix/services/sentiment/internal/cx"
	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

// errUnregistered refuses a signal for a segment the registry does not hold (or holds with no
// one in it).
var errUnregistered = errors.New("must be a registered segment (headcount above 0)")

// symmetryLags are the lags of the correlations, in windows: the customers' window is that
// many after the employees'.
var symmetryLags = []uint32{0, 1, 2}

// minPairs is the fewest windows a correlation is computed on: Fisher's interval needs more
// than 3.
const minPairs = 4

// startCX creates the customer mirror's buckets and starts its consumers (cx_consumer.go).
func (s *Service) startCX() error {
	if err := store.EnsureBuckets(s.host.DB, cx.Buckets()...); err != nil {
		return err
	}
	for _, c := range s.cxConsumers() {
		if err := s.host.Consume(c); err != nil {
			return err
		}
	}
	return nil
}

// signalFromProto turns a CustomerSignal into a cx.Signal, checking it: the field names are
// those of the proto under prefix ("signal." for the RPC, "" for NATS).
func signalFromProto(prefix string, m *sentimentv1.CustomerSignal, now time.Time) (cx.Signal, error) {
	var sig cx.Signal
	if m == nil {
		return sig, rpcerr.InvalidArgument("signal", "required")
	}
	seg, err := segment.Parse(m.Segment)
	if err != nil {
		return sig, rpcerr.InvalidArgument(prefix+"segment", err.Error())
	}
	sig = cx.Signal{Segment: seg, Metric: m.Metric, Value: m.Value, Responses: m.Responses, SourceID: m.SourceId}
	if m.Time != nil {
		if err := m.Time.CheckValid(); err != nil {
			return sig, rpcerr.InvalidArgument(prefix+"time", "must be a valid timestamp")
		}
		sig.Time = m.Time.AsTime()
	}
	if err := cx.Validate(sig, now); err != nil {
		var fe *cx.FieldError
		if errors.As(err, &fe) {
			return sig, rpcerr.InvalidArgument(prefix+fe.Field, fe.Rule)
		}
		return sig, err
	}
	return sig, nil
}

// segmentExists says whether seg is a team a signal may be recorded for: registered with
// people in it, per the registry copy; or, when the copy has no entry for it (registered
// before the stream's retention dropped its SegmentUpserted, which a copy started later never
// sees), when its people already have aggregates.
func segmentExists(tx *bolt.Tx, seg segment.Path) (bool, error) {
	if registered, known := cx.Registered(tx, seg); known {
		return registered, nil
	}
	segs, err := rollup.Segments(tx, seg)
	if err != nil {
		return false, err
	}
	return len(segs) > 0 && segs[0].Equal(seg), nil
}

// recordSignal stores sig if its segment exists.
func (s *Service) recordSignal(sig cx.Signal) (replaced bool, err error) {
	err = s.host.DB.Update(func(tx *bolt.Tx) error {
		if ok, err := segmentExists(tx, sig.Segment); err != nil {
			return err
		} else if !ok {
			return errUnregistered
		}
		replaced, err = cx.UnsafePut(tx, sig)
		return err
	})
	return replaced, err
}

// RecordCustomerSignal records one customer signal. Roles: admin.
func (a *api) RecordCustomerSignal(ctx context.Context, req *sentimentv1.RecordCustomerSignalRequest) (*sentimentv1.RecordCustomerSignalResponse, error) {
	sig, err := signalFromProto("signal.", req.Signal, a.svc.cfg.Now())
	if err != nil {
		return nil, err
	}
	if err := auth.CheckPath(ctx, "signal.segment", sig.Segment); err != nil {
		return nil, err
	}
	replaced, err := a.svc.recordSignal(sig)
	if errors.Is(err, errUnregistered) {
		return nil, rpcerr.InvalidArgument("signal.segment", err.Error())
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &sentimentv1.RecordCustomerSignalResponse{Replaced: replaced}, nil
}

// GetAttentionSymmetry sets the customer metric beside the employees' released aggregates.
// Roles: manager, hr, admin, within their prefix.
func (a *api) GetAttentionSymmetry(ctx context.Context, req *sentimentv1.GetAttentionSymmetryRequest) (*sentimentv1.GetAttentionSymmetryResponse, error) {
	prefix, err := readPrefix(ctx, req.SegmentPrefix)
	if err != nil {
		return nil, err
	}
	windows, err := a.windows(req.Granularity, req.StartTime, req.EndTime)
	if err != nil {
		return nil, err
	}
	if _, ok := commonv1.CustomerMetric_name[int32(req.Metric)]; !ok {
		return nil, rpcerr.InvalidArgument("metric", "must be a known CustomerMetric or unset")
	}
	rows, err := a.svc.attentionSymmetry(prefix, req.Metric, windows)
	if err != nil {
		return nil, toStatus(err)
	}
	return &sentimentv1.GetAttentionSymmetryResponse{Rows: rows}, nil
}

// attentionSymmetry reads, in one transaction, a row per segment within prefix and metric
// (every metric when unspecified) that has signals.
func (s *Service) attentionSymmetry(prefix segment.Path, metric commonv1.CustomerMetric, windows []window.Window) ([]*sentimentv1.SymmetryRow, error) {
	k := s.cfg.MinGroupSize
	var rows []*sentimentv1.SymmetryRow
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		series, err := cx.List(tx, prefix)
		if err != nil {
			return err
		}
		// The employee side of a segment is the same for every metric: read it once.
		var empSeg string
		var emp []*commonv1.Aggregate
		for _, sr := range series {
			if metric != commonv1.CustomerMetric_CUSTOMER_METRIC_UNSPECIFIED && sr.Metric != metric {
				continue
			}
			if sr.Segment.String() != empSeg {
				empSeg, emp = sr.Segment.String(), make([]*commonv1.Aggregate, len(windows))
				for i, w := range windows {
					key, st, shown, err := released(tx, sr.Segment, 0, w)
					if err != nil {
						return err
					}
					emp[i] = aggregateProto(key, w, st, !shown, k)
				}
			}
			row := &sentimentv1.SymmetryRow{Segment: sr.Segment.String(), Metric: sr.Metric}
			cust := make([]float64, len(windows))
			shownCust := make([]bool, len(windows))
			for i, w := range windows {
				sum, err := cx.Range(tx, sr.Segment, sr.Metric, w.Start, w.End)
				if err != nil {
					return err
				}
				p := &sentimentv1.SymmetryPoint{Window: emp[i].Window, Employees: emp[i], CustomerHidden: true}
				// Customers are not employees, but the same k keeps one customer's answer out
				// of sight.
				if anonymity.MeetsMinimum(int(min(sum.Responses, math.MaxInt32)), k) {
					p.CustomerHidden = false
					p.CustomerValue = sum.Value(sr.Metric)
					p.CustomerResponses = uint32(min(sum.Responses, math.MaxUint32))
					cust[i], shownCust[i] = p.CustomerValue, true
				}
				row.Points = append(row.Points, p)
			}
			for _, m := range []sentimentv1.EmployeeMeasure{sentimentv1.EmployeeMeasure_EMPLOYEE_MEASURE_SENTIMENT, sentimentv1.EmployeeMeasure_EMPLOYEE_MEASURE_ENPS} {
				for _, lag := range symmetryLags {
					var xs, ys []float64
					for i := 0; i+int(lag) < len(windows); i++ {
						x, ok := employeeMeasure(emp[i], m)
						if !ok || !shownCust[i+int(lag)] {
							continue
						}
						xs, ys = append(xs, x), append(ys, cust[i+int(lag)])
					}
					row.Correlations = append(row.Correlations, correlation(m, lag, xs, ys))
				}
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

// employeeMeasure is the employee side of a window as readers see it: the mean score unless
// score_hidden, the eNPS when shown.
func employeeMeasure(a *commonv1.Aggregate, m sentimentv1.EmployeeMeasure) (float64, bool) {
	if a.Hidden {
		return 0, false
	}
	switch m {
	case sentimentv1.EmployeeMeasure_EMPLOYEE_MEASURE_SENTIMENT:
		return a.MeanScore, !a.ScoreHidden
	case sentimentv1.EmployeeMeasure_EMPLOYEE_MEASURE_ENPS:
		if a.Enps != nil {
			return a.Enps.Score, true
		}
	}
	return 0, false
}

// correlation is Pearson's r of xs and ys with its 95% interval by Fisher's z transform:
// atanh(r) is about normal with standard error 1/sqrt(n-3); the half-width takes Student's t
// with n-3 degrees of freedom rather than 1.96, wider for the few windows a team has (and the
// same in the limit).
func correlation(m sentimentv1.EmployeeMeasure, lag uint32, xs, ys []float64) *sentimentv1.SymmetryCorrelation {
	c := &sentimentv1.SymmetryCorrelation{Measure: m, Lag: lag, Pairs: uint32(len(xs))}
	r, ok := pearson(xs, ys)
	if !ok || len(xs) < minPairs {
		return c
	}
	n := float64(len(xs))
	z := math.Atanh(math.Max(-1, math.Min(1, r)))
	half := tQuantile975(n-3) / math.Sqrt(n-3)
	c.Defined, c.R = true, r
	c.CiLow, c.CiHigh = math.Tanh(z-half), math.Tanh(z+half)
	return c
}

// pearson is the sample correlation of xs and ys; false when either does not vary.
func pearson(xs, ys []float64) (float64, bool) {
	n := float64(len(xs))
	if len(xs) < 2 || len(xs) != len(ys) {
		return 0, false
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx, my = mx/n, my/n
	var sxy, sxx, syy float64
	for i := range xs {
		dx, dy := xs[i]-mx, ys[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return 0, false
	}
	return math.Max(-1, math.Min(1, sxy/math.Sqrt(sxx*syy))), true
}
