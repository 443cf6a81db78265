package gateway

// The customer mirror page (/mirror): per team under the page's segment, the employees'
// released weekly sentiment and eNPS beside the team's customer metric, and their correlation
// (GetAttentionSymmetry). Everything shown comes from that one read API under the reader's
// token, with the services' k rules: hidden weeks stay hidden here.

import (
	"net/http"

	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
)

// mirrorPanel is one team and metric.
type mirrorPanel struct {
	Segment, Metric, MetricName string
	Rows                        []mirrorRow
	// Correlations by measure: a line per measure, a cell per lag 0, 1, 2.
	Correlations []mirrorCorrelation
}

type mirrorRow struct {
	Week string
	// Employee side: "" when hidden.
	Mean, ENPS string
	// Customer side: "" when hidden (fewer than k responses).
	Customer  string
	Responses uint32
}

type mirrorCorrelation struct {
	Measure string
	Lags    []mirrorLag
}

type mirrorLag struct {
	Defined bool
	R, Low  string
	High    string
	Pairs   uint32
}

// Metric is the name of a customer metric.
func (p *page) Metric(m commonv1.CustomerMetric) string {
	switch m {
	case commonv1.CustomerMetric_CUSTOMER_METRIC_CSAT:
		return p.T("mirror.csat")
	case commonv1.CustomerMetric_CUSTOMER_METRIC_NPS:
		return p.T("mirror.nps")
	case commonv1.CustomerMetric_CUSTOMER_METRIC_CES:
		return p.T("mirror.ces")
	case commonv1.CustomerMetric_CUSTOMER_METRIC_COMPLAINTS:
		return p.T("mirror.complaints")
	}
	return m.String()
}

func (s *Service) handleMirror(w http.ResponseWriter, r *http.Request, sess session) {
	p := s.newPage(r, &sess, "mirror", "")
	seg, ok := pageSegment(r, sess, p)
	if !ok {
		s.render(w, r, http.StatusBadRequest, "mirror", p, nil)
		return
	}
	if s.web.sentiment == nil {
		s.fail(w, r, "mirror", p, errNotConfigured)
		return
	}
	weeks := pageWeeks(r)
	now := s.cfg.Now()
	ctx, cancel := callCtx(r.Context(), sess)
	defer cancel()
	resp, err := s.web.sentiment.GetAttentionSymmetry(ctx, &sentimentv1.GetAttentionSymmetryRequest{
		SegmentPrefix: seg, StartTime: timestamppb.New(now.AddDate(0, 0, -7*(weeks-1))), EndTime: timestamppb.New(now),
	})
	if err != nil {
		s.fail(w, r, "mirror", p, err)
		return
	}
	var panels []*mirrorPanel
	for _, row := range resp.Rows {
		panels = append(panels, mirrorView(p, row))
	}
	s.render(w, r, http.StatusOK, "mirror", p, map[string]any{"Panels": panels, "Weeks": weeks, "Unit": mirrorUnit(resp)})
}

// mirrorUnit names the windows of the answer, as the service chose them (the published
// granularity): "month" or "week". Lags, columns and explanations are labelled with it.
func mirrorUnit(resp *sentimentv1.GetAttentionSymmetryResponse) string {
	for _, row := range resp.Rows {
		for _, pt := range row.Points {
			if pt.GetWindow().GetGranularity() == commonv1.Granularity_GRANULARITY_MONTH {
				return "month"
			}
			return "week"
		}
	}
	return "week"
}

func mirrorView(p *page, row *sentimentv1.SymmetryRow) *mirrorPanel {
	mp := &mirrorPanel{Segment: row.Segment, Metric: row.Metric.String(), MetricName: p.Metric(row.Metric)}
	decimals := 1
	if row.Metric == commonv1.CustomerMetric_CUSTOMER_METRIC_CES {
		decimals = 2
	}
	for _, pt := range row.Points {
		r := mirrorRow{Week: pt.Window.GetKey()}
		if e := pt.Employees; e != nil && !e.Hidden {
			if !e.ScoreHidden {
				r.Mean = p.Signed(e.MeanScore, 2)
			}
			if e.Enps != nil {
				r.ENPS = p.Signed(e.Enps.Score, 0)
			}
		}
		if !pt.CustomerHidden {
			r.Customer, r.Responses = p.Num(pt.CustomerValue, decimals), pt.CustomerResponses
		}
		mp.Rows = append(mp.Rows, r)
	}
	for _, m := range []sentimentv1.EmployeeMeasure{sentimentv1.EmployeeMeasure_EMPLOYEE_MEASURE_SENTIMENT, sentimentv1.EmployeeMeasure_EMPLOYEE_MEASURE_ENPS} {
		c := mirrorCorrelation{Measure: p.T("mirror.sentiment")}
		if m == sentimentv1.EmployeeMeasure_EMPLOYEE_MEASURE_ENPS {
			c.Measure = p.T("mirror.enps")
		}
		for _, lag := range []uint32{0, 1, 2} {
			l := mirrorLag{}
			for _, sc := range row.Correlations {
				if sc.Measure == m && sc.Lag == lag {
					l = mirrorLag{Defined: sc.Defined, Pairs: sc.Pairs}
					if sc.Defined {
						l.R, l.Low, l.High = p.Signed(sc.R, 2), p.Signed(sc.CiLow, 2), p.Signed(sc.CiHigh, 2)
					}
				}
			}
			c.Lags = append(c.Lags, l)
		}
		mp.Correlations = append(mp.Correlations, c)
	}
	return mp
}
