package sentiment_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
)

// answer publishes one survey response with one SCALE answer (1..5, scored (v-3)/2) for ref in
// seg at time at: scores are exact, whatever the analyzer says.
func (f *fixture) answer(t *testing.T, ref, seg string, at time.Time, dim commonv1.Dimension, v int32) {
	t.Helper()
	p := segment.MustParse(seg)
	var tags []*eventsv1.ContributorTag
	for _, c := range f.secret.Contributors(ref, p, at) {
		tags = append(tags, &eventsv1.ContributorTag{Segment: c.Segment, Window: c.Window, Tag: c.Tag})
	}
	f.publish(t, events.PulseResponded.Subject(p), events.PulseResponded.Type, &eventsv1.ResponseSubmitted{
		ResponseId: fmt.Sprintf("r-%d", f.seq+1), SurveyId: "s1", Wave: 1, Segment: seg,
		Answers:      []*eventsv1.ScoredAnswer{{QuestionId: "q", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: dim, Value: v}},
		SubmittedDay: timestamppb.New(at.Truncate(24 * time.Hour)),
		Contributors: tags,
	})
}

// group answers for n distinct people of seg, with values cycling through vs, and returns the
// scores it sent.
func (f *fixture) group(t *testing.T, seg string, n int, at time.Time, dim commonv1.Dimension, vs ...int32) []float64 {
	t.Helper()
	var scores []float64
	for i := range n {
		v := vs[i%len(vs)]
		f.answer(t, fmt.Sprintf("%s#%d@%s", seg, i, at.Format(time.DateOnly)), seg, at, dim, v)
		scores = append(scores, float64(v-3)/2)
	}
	return scores
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func TestHeatmapShowsTeamsAndHidesWhatWouldIsolateASmallOne(t *testing.T) {
	f := start(t)
	wl := commonv1.Dimension_DIMENSION_WORKLOAD
	platform := f.group(t, "acme/eng/platform", 7, now, wl, 5, 4, 2)
	data := f.group(t, "acme/eng/data", 6, now, wl, 1, 2)
	f.group(t, "acme/eng/web", 2, now, wl, 3)
	f.group(t, "acme/sales", 7, now, commonv1.Dimension_DIMENSION_RECOGNITION, 4)
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, 22)

	heatmap := func() map[string]map[commonv1.Dimension]*commonv1.Aggregate {
		t.Helper()
		resp, err := f.client.GetHeatmap(f.env.As(context.Background(), auth.RoleManager), &sentimentv1.GetHeatmapRequest{SegmentPrefix: "acme/eng", Time: timestamppb.New(now)})
		if err != nil {
			t.Fatalf("GetHeatmap: %v", err)
		}
		rows := map[string]map[commonv1.Dimension]*commonv1.Aggregate{}
		for _, r := range resp.Rows {
			if len(r.Cells) != 8 {
				t.Fatalf("row %s has %d cells, want one per dimension (8)", r.Segment, len(r.Cells))
			}
			rows[r.Segment] = map[commonv1.Dimension]*commonv1.Aggregate{}
			for _, c := range r.Cells {
				rows[r.Segment][c.Dimension] = c
				if c.Hidden && (c.People != 0 || c.Count != 0 || c.MeanScore != 0 || c.Enps != nil) {
					t.Errorf("hidden cell %s/%v carries numbers: %+v", r.Segment, c.Dimension, c)
				}
			}
		}
		if len(rows) != 3 || rows["acme/eng/platform"] == nil || rows["acme/eng/data"] == nil || rows["acme/eng/web"] == nil {
			t.Fatalf("rows %v, want the three children of acme/eng", resp.Rows)
		}
		return rows
	}
	check := func(when string) {
		t.Helper()
		rows := heatmap()
		// Each team with k people shows them; web (2 people) is below k.
		for seg, want := range map[string][]float64{"acme/eng/platform": platform, "acme/eng/data": data} {
			c := rows[seg][wl]
			if c.Hidden || int(c.People) != len(want) || int(c.Count) != len(want) || math.Abs(c.MeanScore-mean(want)) > 1e-9 {
				t.Errorf("%s: %s WORKLOAD = %+v, want %d people, mean %.4f", when, seg, c, len(want), mean(want))
			}
		}
		if !rows["acme/eng/web"][wl].Hidden {
			t.Errorf("%s: web WORKLOAD (2 people) must be hidden: %+v", when, rows["acme/eng/web"][wl])
		}
		// acme/eng minus platform and data would give web's two people: it stays hidden, even
		// once the week is over.
		if eng := f.getAt(t, "acme/eng", wl, now); !eng.Hidden {
			t.Errorf("%s: acme/eng = %+v: minus its two teams, it would show web's two people", when, eng)
		}
		for seg, cells := range rows {
			if !cells[commonv1.Dimension_DIMENSION_GROWTH].Hidden {
				t.Errorf("%s: %s GROWTH has no answers and must be hidden", when, seg)
			}
		}
		// The same rules hold for GetSentiment.
		if got := f.getAt(t, "acme/eng/web", wl, now); !got.Hidden {
			t.Errorf("%s: GetSentiment(acme/eng/web) = %+v, want hidden like its heatmap cell", when, got)
		}
	}
	check("during the week")
	f.setNow(now.AddDate(0, 0, 7))
	if err := f.svc.Flush(); err != nil {
		t.Fatal(err)
	}
	check("after the week")
	// And for events: the teams' updates are out; nothing was ever published for web or eng.
	f.waitUpdated(t, "acme/eng/data", 6)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := f.js.Stream(ctx, events.Sentiment.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, seg := range []string{"acme/eng/data", "acme/eng/web", "acme/eng/platform", "acme/eng"} {
		_, err := st.GetLastMsgForSubject(ctx, events.SentimentUpdated.Subject(segment.MustParse(seg)))
		want := seg == "acme/eng/platform" || seg == "acme/eng/data"
		if published := err == nil; published != want {
			t.Errorf("%s published = %v (%v), want %v", seg, published, err, want)
		}
	}
}

func TestTrendPointsCarryConfidenceIntervals(t *testing.T) {
	f := start(t)
	wl := commonv1.Dimension_DIMENSION_WORKLOAD
	weeks := []time.Time{now.AddDate(0, 0, -14), now.AddDate(0, 0, -7), now}
	want := [][]float64{
		f.group(t, "acme/sales", 6, weeks[0], wl, 5, 4),
		f.group(t, "acme/sales", 3, weeks[1], wl, 1), // below k: hidden
		f.group(t, "acme/sales", 8, weeks[2], wl, 1, 2, 4, 5, 5),
	}
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, 17)

	resp, err := f.client.GetTrend(f.env.As(context.Background(), auth.RoleHR), &sentimentv1.GetTrendRequest{
		Segment: "acme/sales", Dimension: wl, Granularity: commonv1.Granularity_GRANULARITY_WEEK,
		StartTime: timestamppb.New(weeks[0]),
	})
	if err != nil {
		t.Fatalf("GetTrend: %v", err)
	}
	if len(resp.Points) != 3 {
		t.Fatalf("%d points, want 3 weeks", len(resp.Points))
	}
	for i, p := range resp.Points {
		a := p.Aggregate
		if a.Window.Key != fmt.Sprint(weekKey(weeks[i])) {
			t.Errorf("point %d is window %s, want %s", i, a.Window.Key, weekKey(weeks[i]))
		}
		if len(want[i]) < 5 {
			if !a.Hidden || p.CiLow != 0 || p.CiHigh != 0 {
				t.Errorf("point %d of %d people must be hidden with no interval: %+v", i, len(want[i]), p)
			}
			continue
		}
		m := mean(want[i])
		ss := 0.0
		for _, x := range want[i] {
			ss += (x - m) * (x - m)
		}
		// Student's t with n-1 degrees of freedom, the textbook interval of a mean of n items.
		tq := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(len(want[i]) - 1)}.Quantile(0.975)
		half := tq * math.Sqrt(ss/float64(len(want[i])-1)/float64(len(want[i])))
		if a.Hidden || math.Abs(a.MeanScore-m) > 1e-6 ||
			math.Abs(p.CiLow-math.Max(-1, m-half)) > 1e-6 || math.Abs(p.CiHigh-math.Min(1, m+half)) > 1e-6 {
			t.Errorf("point %d = mean %.4f [%.4f, %.4f], want %.4f [%.4f, %.4f]", i, a.MeanScore, p.CiLow, p.CiHigh, m, m-half, m+half)
		}
	}
}

// TestReadersSeeThePublishedWindowLengthOnly: a day, its week and its month of the same people
// overlap, and weeks and months do not nest. With days and months readable beside weeks, the
// audit isolated single people (a month minus its weeks, a department's day minus a team's
// day worked out from the team's month). Readers now get the published length only.
func TestReadersSeeThePublishedWindowLengthOnly(t *testing.T) {
	f := start(t)
	wl := commonv1.Dimension_DIMENSION_WORKLOAD
	mon := time.Date(2026, 11, 16, 9, 0, 0, 0, time.UTC)
	f.group(t, "acme/sales", 6, mon, wl, 4)
	f.group(t, "acme/sales", 7, mon.AddDate(0, 0, 1), wl, 2)
	f.group(t, "acme/sales", 2, mon.AddDate(0, 0, 2), wl, 1)
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, 15)
	hr := f.env.As(context.Background(), auth.RoleHR)
	for _, g := range []commonv1.Granularity{commonv1.Granularity_GRANULARITY_DAY, commonv1.Granularity_GRANULARITY_MONTH} {
		_, err := f.client.GetSentiment(hr, &sentimentv1.GetSentimentRequest{Segment: "acme/sales", Dimension: wl, Granularity: g, Time: timestamppb.New(mon)})
		if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), "granularity: ") {
			t.Errorf("GetSentiment %s = %v, want InvalidArgument on granularity", g, err)
		}
		_, err = f.client.GetTrend(hr, &sentimentv1.GetTrendRequest{Segment: "acme/sales", Dimension: wl, Granularity: g, StartTime: timestamppb.New(mon)})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("GetTrend %s = %v, want InvalidArgument", g, err)
		}
		_, err = f.client.GetHeatmap(hr, &sentimentv1.GetHeatmapRequest{SegmentPrefix: "acme", Granularity: g, Time: timestamppb.New(mon)})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("GetHeatmap %s = %v, want InvalidArgument", g, err)
		}
	}
	for _, g := range []commonv1.Granularity{commonv1.Granularity_GRANULARITY_UNSPECIFIED, commonv1.Granularity_GRANULARITY_WEEK} {
		resp, err := f.client.GetSentiment(hr, &sentimentv1.GetSentimentRequest{Segment: "acme/sales", Dimension: wl, Granularity: g, Time: timestamppb.New(mon)})
		if err != nil || resp.Aggregate.Hidden || resp.Aggregate.People != 15 {
			t.Errorf("GetSentiment %s = %v, %v; want the week, 15 people", g, resp.GetAggregate(), err)
		}
	}
}

func weekKey(t time.Time) string {
	y, w := t.ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w)
}

func TestCommentDimensionsReachRollupsAndItemScored(t *testing.T) {
	f := start(t)
	text := "Je suis épuisé, beaucoup trop de charge de travail"
	res := f.analyze(t, text)
	var workload *eventsv1.DimensionScore
	for _, d := range res.Dimensions {
		if d.Dimension == commonv1.Dimension_DIMENSION_WORKLOAD {
			workload = d
		}
	}
	if workload == nil || workload.Score >= 0 || res.Language != "fr" {
		t.Fatalf("AnalyzeText(%q) = %v, want French with a negative WORKLOAD clause", text, res)
	}
	// Five people say it without tagging a dimension: WORKLOAD counts them anyway.
	for i := range 5 {
		f.comment(t, fmt.Sprintf("W%d", i), "acme/ops", text)
	}
	f.waitAcked(t, events.DurableSentimentFeedback, events.Feedback.Name, 5)
	got := f.get(t, "acme/ops", commonv1.Dimension_DIMENSION_WORKLOAD)
	if got.Hidden || got.People != 5 || got.Count != 5 || math.Abs(got.MeanScore-workload.Score) > 1e-6 {
		t.Fatalf("acme/ops WORKLOAD = %+v, want 5 people at the clause score %.4f", got, workload.Score)
	}
	var scored eventsv1.ItemScored
	msg := f.lastOn(t, events.SentimentScored, "acme/ops")
	if err := proto.Unmarshal(msg.Data, &scored); err != nil {
		t.Fatalf("decode ItemScored: %v", err)
	}
	if len(scored.Dimensions) == 0 || scored.Language != "fr" || math.Abs(scored.Score-res.Score) > 1e-9 {
		t.Fatalf("ItemScored = %v, want the analyzer's result %v", &scored, res)
	}
}

func TestReleasesNeedKNewPeople(t *testing.T) {
	f := start(t)
	wl := commonv1.Dimension_DIMENSION_WORKLOAD
	f.group(t, "acme/sales", 6, now, wl, 5)
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, 6)
	first := f.get(t, "acme/sales", wl)
	if first.Hidden || first.People != 6 {
		t.Fatalf("first release = %+v, want 6 people", first)
	}
	// One more person: a reader comparing before and after would learn their answer, so
	// nothing changes for them to compare.
	f.answer(t, "newcomer", "acme/sales", now, wl, 1)
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, 7)
	if got := f.get(t, "acme/sales", wl); !proto.Equal(got, first) {
		t.Fatalf("after one more person: %+v, want the first release unchanged %+v", got, first)
	}
	// Four more: five new people since the first release, and the difference is theirs.
	for i := range 4 {
		f.answer(t, fmt.Sprint("more", i), "acme/sales", now, wl, 1)
	}
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, 11)
	if got := f.get(t, "acme/sales", wl); got.People != 11 || got.Count != 11 {
		t.Fatalf("after five new people: %+v, want 11", got)
	}
}

// TestNoSequenceOfReleasesRevealsASmallGroup lets people arrive in random batches across a
// small tree, releasing after each batch, and records every value a reader could have seen.
// Each value is a set of "atoms" (the people of one team in one batch); a reader can combine
// any of the values seen, so the test checks that no group of 1..k-1 people, as a set of atoms,
// lies in the span of the values seen: linear algebra over the rationals, which is stricter
// than the integer combinations a reader could actually use.
func TestNoSequenceOfReleasesRevealsASmallGroup(t *testing.T) {
	const k = 5
	wl := commonv1.Dimension_DIMENSION_WORKLOAD
	leaves := []string{"acme/eng/platform", "acme/eng/data", "acme/eng/web", "acme/sales"}
	nodes := []string{"acme", "acme/eng", "acme/eng/platform", "acme/eng/data", "acme/eng/web", "acme/sales"}
	for seed := range 4 {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			f := start(t)
			rng := rand.New(rand.NewPCG(uint64(seed), 42))
			type atom struct{ leaf, batch, people int }
			var atoms []atom
			var seen [][]float64 // each value seen, as its atom coefficients (filled at the end)
			type value struct{ node, batch int }
			var values []value
			last := map[string]*commonv1.Aggregate{}
			sent := 0
			for b := range 6 {
				for l := range leaves {
					n := rng.IntN(4)
					if n == 0 {
						continue
					}
					for i := range n {
						f.answer(t, fmt.Sprintf("%d-%d-%d", l, b, i), leaves[l], now, wl, int32(1+rng.IntN(5)))
					}
					atoms = append(atoms, atom{l, b, n})
					sent += n
				}
				f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(sent))
				for ni, node := range nodes {
					got := f.get(t, node, wl)
					if got.Hidden || proto.Equal(got, last[node]) {
						continue
					}
					last[node] = got
					values = append(values, value{ni, b})
				}
			}
			under := func(leaf, node int) bool {
				return segment.MustParse(leaves[leaf]).Within(segment.MustParse(nodes[node]))
			}
			for _, v := range values {
				row := make([]float64, len(atoms))
				for a, at := range atoms {
					if at.batch <= v.batch && under(at.leaf, v.node) {
						row[a] = 1
					}
				}
				seen = append(seen, row)
			}
			base := rank(seen)
			// Every set of atoms with 1..k-1 people in total.
			var walk func(from int, set []int, people int)
			walk = func(from int, set []int, people int) {
				if people > 0 {
					row := make([]float64, len(atoms))
					for _, a := range set {
						row[a] = 1
					}
					if rank(append(append([][]float64{}, seen...), row)) == base {
						t.Fatalf("the values seen %v reveal atoms %v (%d people)", values, set, people)
					}
				}
				for a := from; a < len(atoms); a++ {
					if people+atoms[a].people < k {
						walk(a+1, append(set, a), people+atoms[a].people)
					}
				}
			}
			walk(0, nil, 0)
			t.Logf("%d atoms, %d values released", len(atoms), len(values))
		})
	}
}

// rank is the rank of rows by Gaussian elimination.
func rank(rows [][]float64) int {
	m := make([][]float64, len(rows))
	for i := range rows {
		m[i] = append([]float64(nil), rows[i]...)
	}
	r := 0
	for c := 0; len(m) > 0 && c < len(m[0]); c++ {
		p := -1
		for i := r; i < len(m); i++ {
			if math.Abs(m[i][c]) > 1e-9 {
				p = i
				break
			}
		}
		if p < 0 {
			continue
		}
		m[r], m[p] = m[p], m[r]
		for i := range m {
			if i != r && math.Abs(m[i][c]) > 1e-9 {
				f := m[i][c] / m[r][c]
				for j := c; j < len(m[i]); j++ {
					m[i][j] -= f * m[r][j]
				}
			}
		}
		r++
	}
	return r
}
