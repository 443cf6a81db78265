package sentiment_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"gonum.org/v1/gonum/stat/distuv"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

const (
	csat       = commonv1.CustomerMetric_CUSTOMER_METRIC_CSAT
	nps        = commonv1.CustomerMetric_CUSTOMER_METRIC_NPS
	sentMeas   = sentimentv1.EmployeeMeasure_EMPLOYEE_MEASURE_SENTIMENT
	enpsMeas   = sentimentv1.EmployeeMeasure_EMPLOYEE_MEASURE_ENPS
	cxSegments = events.DurableSentimentSegments
)

// register puts segments in the registry (as pulse does) and waits until the sentiment
// service applied them; once per test.
func (f *fixture) register(t *testing.T, segs ...string) {
	t.Helper()
	for _, s := range segs {
		f.env.RegisterSegment(t, s, 20)
	}
	f.waitApplied(t, cxSegments, events.Pulse.Name, uint64(len(segs)))
}

// answerCX publishes a survey response of ref in seg at time at with one SCALE answer (scored
// (scale-3)/2) and one ENPS answer.
func (f *fixture) answerCX(t *testing.T, ref, seg string, at time.Time, scale, enps int32) {
	t.Helper()
	p := segment.MustParse(seg)
	var tags []*eventsv1.ContributorTag
	for _, c := range f.secret.Contributors(ref, p, at) {
		tags = append(tags, &eventsv1.ContributorTag{Segment: c.Segment, Window: c.Window, Tag: c.Tag})
	}
	f.publish(t, events.PulseResponded.Subject(p), events.PulseResponded.Type, &eventsv1.ResponseSubmitted{
		ResponseId: fmt.Sprintf("r-%d", f.seq+1), SurveyId: "s1", Wave: 1, Segment: seg,
		Answers: []*eventsv1.ScoredAnswer{
			{QuestionId: "q1", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: commonv1.Dimension_DIMENSION_WORKLOAD, Value: scale},
			{QuestionId: "q2", Kind: commonv1.QuestionKind_QUESTION_KIND_ENPS, Dimension: commonv1.Dimension_DIMENSION_ENGAGEMENT, Value: enps},
		},
		SubmittedDay: timestamppb.New(at.Truncate(24 * time.Hour)),
		Contributors: tags,
	})
}

func (f *fixture) record(t *testing.T, sig *sentimentv1.CustomerSignal) *sentimentv1.RecordCustomerSignalResponse {
	t.Helper()
	resp, err := f.client.RecordCustomerSignal(f.env.As(context.Background(), auth.RoleAdmin), &sentimentv1.RecordCustomerSignalRequest{Signal: sig})
	if err != nil {
		t.Fatalf("RecordCustomerSignal(%v): %v", sig, err)
	}
	return resp
}

func (f *fixture) symmetry(t *testing.T, prefix string, from time.Time, metric commonv1.CustomerMetric) []*sentimentv1.SymmetryRow {
	t.Helper()
	resp, err := f.client.GetAttentionSymmetry(f.env.As(context.Background(), auth.RoleHR), &sentimentv1.GetAttentionSymmetryRequest{
		SegmentPrefix: prefix, StartTime: timestamppb.New(from), Metric: metric,
	})
	if err != nil {
		t.Fatalf("GetAttentionSymmetry(%s): %v", prefix, err)
	}
	return resp.Rows
}

// fisher is the expected correlation of xs and ys with its interval, computed here from the
// textbook formulas: Pearson's r, atanh(r) ± t(0.975, n-3)/sqrt(n-3), back through tanh.
func fisher(xs, ys []float64) (r, lo, hi float64) {
	n := float64(len(xs))
	mx, my := mean(xs), mean(ys)
	var sxy, sxx, syy float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
		syy += (ys[i] - my) * (ys[i] - my)
	}
	r = sxy / math.Sqrt(sxx*syy)
	half := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: n - 3}.Quantile(0.975) / math.Sqrt(n-3)
	return r, math.Tanh(math.Atanh(r) - half), math.Tanh(math.Atanh(r) + half)
}

func findCorrelation(row *sentimentv1.SymmetryRow, m sentimentv1.EmployeeMeasure, lag uint32) *sentimentv1.SymmetryCorrelation {
	for _, c := range row.Correlations {
		if c.Measure == m && c.Lag == lag {
			return c
		}
	}
	return nil
}

// TestAttentionSymmetryCorrelatesTeamsAboveK: a team of 5 answering for 8 weeks, its customers
// (CSAT, 5+ responses a week) following the employees one week later; a team of 4 beside it
// whose side stays hidden; NPS with too few responses. Every number is computed here from
// what the test sent.
func TestAttentionSymmetryCorrelatesTeamsAboveK(t *testing.T) {
	f := start(t)
	f.register(t, "acme/support", "acme/small")
	const weeks = 8
	first := now.AddDate(0, 0, -7*(weeks-1))
	scales := [][]int32{{5, 4, 4, 3, 5}, {2, 1, 2, 3, 1}, {4, 4, 3, 5, 4}, {1, 2, 1, 1, 3}, {3, 3, 4, 2, 3}, {5, 5, 4, 5, 4}, {2, 3, 2, 1, 2}, {4, 3, 5, 4, 4}}
	enpsOf := [][]int32{{9, 10, 8, 7, 9}, {3, 5, 6, 7, 2}, {9, 8, 10, 6, 9}, {0, 4, 6, 5, 7}, {7, 8, 6, 9, 8}, {10, 9, 10, 9, 8}, {5, 6, 4, 7, 8}, {9, 7, 8, 10, 6}}
	emp, empENPS := make([]float64, weeks), make([]float64, weeks)
	published := 0
	for w := range weeks {
		at := first.AddDate(0, 0, 7*w)
		var scores []float64
		pro, det := 0, 0
		for i := range 5 {
			f.answerCX(t, fmt.Sprintf("S%d@%d", i, w), "acme/support", at, scales[w][i], enpsOf[w][i])
			scores = append(scores, float64(scales[w][i]-3)/2)
			if e := enpsOf[w][i]; e >= 9 {
				pro++
			} else if e <= 6 {
				det++
			}
		}
		emp[w], empENPS[w] = mean(scores), 100*float64(pro-det)/5
		for i := range 4 { // below k
			f.answerCX(t, fmt.Sprintf("M%d@%d", i, w), "acme/small", at, 5, 10)
		}
		published += 9
	}
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(published))

	// Customers: CSAT a week after the employees (a noisy linear follower), split in two
	// signals a week to check the weighted mean; week 0 has no predecessor.
	cust := make([]float64, weeks)
	noise := []float64{3, -2, 4, -1, 2, -3, 1, 0}
	for w := range weeks {
		prev := 0.0
		if w > 0 {
			prev = emp[w-1]
		}
		v1, v2 := 60+30*prev+noise[w], 60+30*prev-noise[w]/2
		n1, n2 := uint32(4), uint32(8)
		cust[w] = (v1*float64(n1) + v2*float64(n2)) / float64(n1+n2)
		at := first.AddDate(0, 0, 7*w)
		for i, s := range []struct {
			v float64
			n uint32
		}{{v1, n1}, {v2, n2}} {
			for _, seg := range []string{"acme/support", "acme/small"} {
				f.record(t, &sentimentv1.CustomerSignal{Segment: seg, Metric: csat, Value: s.v, Responses: s.n,
					Time: timestamppb.New(at.Add(-time.Duration(i) * time.Hour)), SourceId: fmt.Sprintf("survey-%d-%d", w, i)})
			}
		}
		// NPS with 4 responses a week: never shown.
		f.record(t, &sentimentv1.CustomerSignal{Segment: "acme/support", Metric: nps, Value: 20, Responses: 4,
			Time: timestamppb.New(at), SourceId: fmt.Sprintf("nps-%d", w)})
	}

	rows := f.symmetry(t, "acme", first, commonv1.CustomerMetric_CUSTOMER_METRIC_UNSPECIFIED)
	bySeries := map[string]*sentimentv1.SymmetryRow{}
	for _, r := range rows {
		bySeries[r.Segment+" "+r.Metric.String()] = r
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows (%v); want support CSAT, support NPS, small CSAT", len(rows), keys(bySeries))
	}

	// The employee side is what readers see: GetTrend of all dimensions.
	trend, err := f.client.GetTrend(f.env.As(context.Background(), auth.RoleHR), &sentimentv1.GetTrendRequest{Segment: "acme/support", StartTime: timestamppb.New(first)})
	if err != nil {
		t.Fatal(err)
	}
	support := bySeries["acme/support CUSTOMER_METRIC_CSAT"]
	if support == nil || len(support.Points) != weeks {
		t.Fatalf("support CSAT row = %v", support)
	}
	for w, p := range support.Points {
		if !proto.Equal(p.Employees, trend.Points[w].Aggregate) {
			t.Errorf("week %d: employees %v, GetTrend reads %v", w, p.Employees, trend.Points[w].Aggregate)
		}
		if p.Employees.ScoreHidden || math.Abs(p.Employees.MeanScore-emp[w]) > 1e-6 || p.Employees.Enps == nil || math.Abs(p.Employees.Enps.Score-empENPS[w]) > 1e-9 {
			t.Errorf("week %d: employees %v; want mean %.4f eNPS %.1f", w, p.Employees, emp[w], empENPS[w])
		}
		if p.CustomerHidden || p.CustomerResponses != 12 || math.Abs(p.CustomerValue-cust[w]) > 1e-9 {
			t.Errorf("week %d: customers hidden %v %.4f (%d); want %.4f (12)", w, p.CustomerHidden, p.CustomerValue, p.CustomerResponses, cust[w])
		}
	}
	for _, m := range []sentimentv1.EmployeeMeasure{sentMeas, enpsMeas} {
		side := emp
		if m == enpsMeas {
			side = empENPS
		}
		for _, lag := range []uint32{0, 1, 2} {
			c := findCorrelation(support, m, lag)
			xs, ys := side[:weeks-lag], cust[lag:]
			r, lo, hi := fisher(xs, ys)
			if c == nil || !c.Defined || c.Pairs != uint32(len(xs)) || math.Abs(c.R-r) > 1e-9 || math.Abs(c.CiLow-lo) > 1e-6 || math.Abs(c.CiHigh-hi) > 1e-6 {
				t.Errorf("%v lag %d = %v; want r %.4f [%.4f, %.4f] over %d pairs", m, lag, c, r, lo, hi, len(xs))
			}
		}
	}
	// The customers follow the employees a week later: the lag-1 correlation is the strong one.
	if l0, l1 := findCorrelation(support, sentMeas, 0), findCorrelation(support, sentMeas, 1); !(l1.R > 0.9 && l1.R > l0.R) {
		t.Errorf("lag 1 r = %.3f, lag 0 r = %.3f: the customers' follow-up should show at lag 1", l1.R, l0.R)
	}

	// Below k on the employee side: hidden, nothing correlated.
	small := bySeries["acme/small CUSTOMER_METRIC_CSAT"]
	for w, p := range small.Points {
		if !p.Employees.Hidden || p.Employees.People != 0 || p.Employees.Enps != nil || p.CustomerHidden {
			t.Errorf("small team week %d: %v; want employees hidden, customers shown", w, p)
		}
	}
	// Below k on the customer side: hidden, nothing correlated.
	npsRow := bySeries["acme/support CUSTOMER_METRIC_NPS"]
	for w, p := range npsRow.Points {
		if !p.CustomerHidden || p.CustomerValue != 0 || p.CustomerResponses != 0 {
			t.Errorf("NPS week %d: %v; want customers hidden with 4 responses", w, p)
		}
	}
	for _, row := range []*sentimentv1.SymmetryRow{small, npsRow} {
		if len(row.Correlations) != 6 {
			t.Errorf("%s %v: %d correlations, want 2 measures × 3 lags", row.Segment, row.Metric, len(row.Correlations))
		}
		for _, c := range row.Correlations {
			if c.Defined || c.Pairs != 0 || c.R != 0 || c.CiLow != 0 || c.CiHigh != 0 {
				t.Errorf("%s %v: %v; want no pairs below k", row.Segment, row.Metric, c)
			}
		}
	}
	// One metric asked: one row per segment.
	if rows := f.symmetry(t, "acme/support", first, nps); len(rows) != 1 || rows[0].Metric != nps {
		t.Errorf("support NPS only: %v", rows)
	}

	// acme has no registry entry (as for a team registered before the stream's retention), but
	// its people have aggregates: it exists. A team registered with no one left does not.
	f.record(t, &sentimentv1.CustomerSignal{Segment: "acme", Metric: csat, Value: 50, Responses: 5, Time: timestamppb.New(now), SourceId: "org"})
	f.env.RegisterSegment(t, "acme/small", 0)
	f.waitApplied(t, cxSegments, events.Pulse.Name, 3)
	_, err = f.client.RecordCustomerSignal(f.env.As(context.Background(), auth.RoleAdmin), &sentimentv1.RecordCustomerSignalRequest{Signal: &sentimentv1.CustomerSignal{
		Segment: "acme/small", Metric: csat, Value: 50, Responses: 5, Time: timestamppb.New(now), SourceId: "after"}})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("a signal for a team unregistered (headcount 0): %v; want InvalidArgument", err)
	}
}

func keys(m map[string]*sentimentv1.SymmetryRow) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestCustomerSignalCountsOnce: the same signal recorded twice through gRPC, and published on
// NATS three times (two message ids, JSON and protobuf), is one signal.
func TestCustomerSignalCountsOnce(t *testing.T) {
	f := start(t)
	f.register(t, "acme/support")
	at := now.Add(-time.Hour)
	sig := &sentimentv1.CustomerSignal{Segment: "acme/support", Metric: csat, Value: 80, Responses: 7, Time: timestamppb.New(at), SourceId: "zendesk-1"}
	if f.record(t, sig).Replaced {
		t.Fatal("first record says replaced")
	}
	if !f.record(t, sig).Replaced {
		t.Fatal("second record of the same signal does not say replaced")
	}

	// A CX tool on NATS with the services user: another signal, sent three times.
	nsig := &sentimentv1.CustomerSignal{Segment: "acme/support", Metric: csat, Value: 50, Responses: 3, Time: timestamppb.New(at), SourceId: "zendesk-2"}
	bin, err := proto.Marshal(nsig)
	if err != nil {
		t.Fatal(err)
	}
	js, err := protojson.Marshal(nsig)
	if err != nil {
		t.Fatal(err)
	}
	subj := events.CXSignal.Subject(segment.MustParse("acme/support"))
	f.publishRaw(t, subj, events.CXSignal.Type, bin)
	f.publishRaw(t, subj, events.CXSignal.Type, js)
	f.publishRaw(t, subj, events.CXSignal.Type, bin)
	// On another segment's subject: set aside, never recorded.
	f.publishRaw(t, events.CXSignal.Subject(segment.MustParse("acme/other")), events.CXSignal.Type, bin)
	f.waitApplied(t, events.DurableSentimentCX, events.CX.Name, 4)

	rows := f.symmetry(t, "acme", at, csat)
	if len(rows) != 1 || rows[0].Segment != "acme/support" || len(rows[0].Points) != 1 {
		t.Fatalf("rows = %v", rows)
	}
	p := rows[0].Points[0]
	want := (80.0*7 + 50*3) / 10
	if p.CustomerHidden || p.CustomerResponses != 10 || math.Abs(p.CustomerValue-want) > 1e-9 {
		t.Errorf("customers = %v; want 10 responses (7 + 3, each signal once), mean %.2f", p, want)
	}
}

// TestCXSignalOnNATSReachesTheStore: a CX tool publishing on voix.cx.<segment> with the
// headers it must set (Nats-Msg-Id, ce-type) reaches the store.
func TestCXSignalOnNATSReachesTheStore(t *testing.T) {
	f := start(t)
	f.register(t, "acme/sales")
	nc, err := nats.Connect(f.env.NATS.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sig := &sentimentv1.CustomerSignal{Segment: "acme/sales", Metric: commonv1.CustomerMetric_CUSTOMER_METRIC_CES, Value: 5.5, Responses: 6, Time: timestamppb.New(now), SourceId: "ces-week"}
	data, err := proto.Marshal(sig)
	if err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg("voix.cx.acme.sales")
	msg.Data = data
	msg.Header.Set("Nats-Msg-Id", events.CXSignalID("acme/sales", "CUSTOMER_METRIC_CES", now.Format(time.RFC3339), "ces-week"))
	msg.Header.Set("ce-type", events.CXSignal.Type)
	if _, err := f.js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatalf("publish on voix.cx.acme.sales: %v", err)
	}
	f.waitApplied(t, events.DurableSentimentCX, events.CX.Name, 1)
	rows := f.symmetry(t, "acme/sales", now, commonv1.CustomerMetric_CUSTOMER_METRIC_CES)
	if len(rows) != 1 || rows[0].Points[0].CustomerHidden || rows[0].Points[0].CustomerValue != 5.5 {
		t.Fatalf("rows = %v; want the CES of 5.5 from 6 responses", rows)
	}
}

func TestCustomerMirrorRoles(t *testing.T) {
	f := start(t)
	f.register(t, "acme/support", "globex/support")
	sig := func(seg string) *sentimentv1.RecordCustomerSignalRequest {
		return &sentimentv1.RecordCustomerSignalRequest{Signal: &sentimentv1.CustomerSignal{
			Segment: seg, Metric: csat, Value: 70, Responses: 5, Time: timestamppb.New(now), SourceId: "x"}}
	}
	for _, r := range []auth.Role{auth.RoleSubmitter, auth.RoleManager, auth.RoleHR} {
		if _, err := f.client.RecordCustomerSignal(f.env.As(context.Background(), r), sig("acme/support")); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s records a signal: %v; want PermissionDenied", r, err)
		}
	}
	if _, err := f.client.GetAttentionSymmetry(f.env.As(context.Background(), auth.RoleSubmitter), &sentimentv1.GetAttentionSymmetryRequest{
		SegmentPrefix: "acme", StartTime: timestamppb.New(now)}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("submitter reads symmetry: %v; want PermissionDenied", err)
	}
	if _, err := f.client.GetAttentionSymmetry(servicetest.WithToken(context.Background(), f.env.OtherHR), &sentimentv1.GetAttentionSymmetryRequest{
		SegmentPrefix: "acme", StartTime: timestamppb.New(now)}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("globex hr reads acme's symmetry: %v; want PermissionDenied", err)
	}
	// The global admin records for any organisation.
	f.record(t, sig("globex/support").Signal)
}

func TestCustomerSignalBadInputNamesTheField(t *testing.T) {
	f := start(t)
	f.register(t, "acme/support")
	admin := f.env.As(context.Background(), auth.RoleAdmin)
	good := func() *sentimentv1.CustomerSignal {
		return &sentimentv1.CustomerSignal{Segment: "acme/support", Metric: csat, Value: 70, Responses: 5, Time: timestamppb.New(now), SourceId: "x"}
	}
	cases := []struct {
		name  string
		edit  func(*sentimentv1.CustomerSignal)
		field string
	}{
		{"no signal", nil, "signal"},
		{"segment grammar", func(s *sentimentv1.CustomerSignal) { s.Segment = "Acme" }, "signal.segment"},
		{"unregistered segment", func(s *sentimentv1.CustomerSignal) { s.Segment = "acme/nowhere" }, "signal.segment"},
		{"no metric", func(s *sentimentv1.CustomerSignal) { s.Metric = 0 }, "signal.metric"},
		{"unknown metric", func(s *sentimentv1.CustomerSignal) { s.Metric = 9 }, "signal.metric"},
		{"CSAT above 100", func(s *sentimentv1.CustomerSignal) { s.Value = 100.5 }, "signal.value"},
		{"NPS below -100", func(s *sentimentv1.CustomerSignal) { s.Metric, s.Value = nps, -101 }, "signal.value"},
		{"CES 0", func(s *sentimentv1.CustomerSignal) {
			s.Metric, s.Value = commonv1.CustomerMetric_CUSTOMER_METRIC_CES, 0
		}, "signal.value"},
		{"half a complaint", func(s *sentimentv1.CustomerSignal) {
			s.Metric, s.Value = commonv1.CustomerMetric_CUSTOMER_METRIC_COMPLAINTS, 2.5
		}, "signal.value"},
		{"NaN", func(s *sentimentv1.CustomerSignal) { s.Value = math.NaN() }, "signal.value"},
		{"no time", func(s *sentimentv1.CustomerSignal) { s.Time = nil }, "signal.time"},
		{"future", func(s *sentimentv1.CustomerSignal) { s.Time = timestamppb.New(now.Add(time.Hour)) }, "signal.time"},
		{"no source id", func(s *sentimentv1.CustomerSignal) { s.SourceId = "" }, "signal.source_id"},
		{"long source id", func(s *sentimentv1.CustomerSignal) { s.SourceId = strings.Repeat("x", 129) }, "signal.source_id"},
		{"control in source id", func(s *sentimentv1.CustomerSignal) { s.SourceId = "a\nb" }, "signal.source_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := &sentimentv1.RecordCustomerSignalRequest{}
			if tc.edit != nil {
				req.Signal = good()
				tc.edit(req.Signal)
			}
			_, err := f.client.RecordCustomerSignal(admin, req)
			if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), tc.field+":") {
				t.Fatalf("got %v; want InvalidArgument naming %q", err, tc.field)
			}
		})
	}
	hr := f.env.As(context.Background(), auth.RoleHR)
	for _, tc := range []struct {
		req   *sentimentv1.GetAttentionSymmetryRequest
		field string
	}{
		{&sentimentv1.GetAttentionSymmetryRequest{SegmentPrefix: "acme"}, "start_time"},
		{&sentimentv1.GetAttentionSymmetryRequest{SegmentPrefix: "acme", StartTime: timestamppb.New(now), Metric: 7}, "metric"},
		{&sentimentv1.GetAttentionSymmetryRequest{SegmentPrefix: "acme", StartTime: timestamppb.New(now), Granularity: commonv1.Granularity_GRANULARITY_DAY}, "granularity"},
		{&sentimentv1.GetAttentionSymmetryRequest{SegmentPrefix: "acme", StartTime: timestamppb.New(now.AddDate(-10, 0, 0))}, "end_time"},
	} {
		_, err := f.client.GetAttentionSymmetry(hr, tc.req)
		if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), tc.field+":") {
			t.Errorf("%v: got %v; want InvalidArgument naming %q", tc.req, err, tc.field)
		}
	}
}
