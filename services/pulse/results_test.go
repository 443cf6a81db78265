package pulse_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// afterWave1 is a time at which validSurvey's first wave has closed.
var afterWave1 = t0.Add(5 * 24 * time.Hour)

// results reads GetResults with every comment: it reads every page (of req's page size),
// checks that each page shows the same numbers, and returns the first with the comments of
// all of them in listing order.
func (f *fixture) results(t testing.TB, ctx context.Context, req *pulsev1.GetResultsRequest) *pulsev1.GetResultsResponse {
	t.Helper()
	resp, pages := f.resultPages(t, ctx, req)
	for _, p := range pages[1:] {
		for gi, g := range groupsOf(p) {
			for qi, q := range g.GetQuestions() {
				all := groupsOf(resp)[gi].Questions[qi]
				all.Comments = append(all.Comments, q.Comments...)
			}
		}
	}
	return resp
}

// resultPages reads every page of req's results. resp is a merge-ready copy of the first.
func (f *fixture) resultPages(t testing.TB, ctx context.Context, req *pulsev1.GetResultsRequest) (resp *pulsev1.GetResultsResponse, pages []*pulsev1.GetResultsResponse) {
	t.Helper()
	req = proto.Clone(req).(*pulsev1.GetResultsRequest)
	for {
		p, err := f.client.GetResults(ctx, req)
		if err != nil {
			t.Fatalf("GetResults %v: %v", req, err)
		}
		pages = append(pages, p)
		if len(pages) > 1 && !proto.Equal(withoutComments(p), withoutComments(pages[0])) {
			t.Fatalf("GetResults %v: page %d shows other numbers than page 1:\n%v\n%v", req, len(pages), p, pages[0])
		}
		if p.NextPageToken == "" {
			break
		}
		req.PageToken = p.NextPageToken
	}
	resp = proto.Clone(pages[0]).(*pulsev1.GetResultsResponse)
	resp.NextPageToken = ""
	return resp, pages
}

// groupsOf is r's total, then its children.
func groupsOf(r *pulsev1.GetResultsResponse) []*pulsev1.GroupResult {
	return append([]*pulsev1.GroupResult{r.Total}, r.Children...)
}

// withoutComments is a copy of r without its comments and page token.
func withoutComments(r *pulsev1.GetResultsResponse) *pulsev1.GetResultsResponse {
	r = proto.Clone(r).(*pulsev1.GetResultsResponse)
	r.NextPageToken = ""
	for _, g := range groupsOf(r) {
		for _, q := range g.GetQuestions() {
			q.Comments = nil
		}
	}
	return r
}

func question(g *pulsev1.GroupResult, id string) *pulsev1.QuestionResult {
	for _, q := range g.Questions {
		if q.QuestionId == id {
			return q
		}
	}
	return nil
}

func child(r *pulsev1.GetResultsResponse, seg string) *pulsev1.GroupResult {
	for _, c := range r.Children {
		if c.Segment == seg {
			return c
		}
	}
	return nil
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// expect is an independent computation of one SCALE or ENPS question's numbers.
type expect struct {
	n, sum, fav, prom, pass, det int
	buckets                      map[int]int
}

func (e *expect) add(v int) {
	if e.buckets == nil {
		e.buckets = map[int]int{}
	}
	e.n++
	e.sum += v
	e.buckets[v]++
	if v >= 4 {
		e.fav++
	}
	switch {
	case v >= 9:
		e.prom++
	case v >= 7:
		e.pass++
	default:
		e.det++
	}
}

func (e *expect) check(t testing.TB, what string, q *pulsev1.QuestionResult, enps bool) {
	t.Helper()
	if q == nil || q.Hidden {
		t.Fatalf("%s: question missing or hidden: %v", what, q)
	}
	if int(q.Responses) != e.n {
		t.Fatalf("%s: responses %d, want %d", what, q.Responses, e.n)
	}
	if !near(q.Mean, float64(e.sum)/float64(e.n)) {
		t.Fatalf("%s: mean %v, want %v", what, q.Mean, float64(e.sum)/float64(e.n))
	}
	for _, b := range q.Distribution {
		v, _ := strconv.Atoi(b.Value)
		if int(b.Count) != e.buckets[v] {
			t.Fatalf("%s: bucket %s = %d, want %d", what, b.Value, b.Count, e.buckets[v])
		}
	}
	if enps {
		want := float64(e.prom-e.det) * 100 / float64(e.n)
		if q.Enps == nil || !near(q.Enps.Score, want) || int(q.Enps.Promoters) != e.prom || int(q.Enps.Passives) != e.pass || int(q.Enps.Detractors) != e.det {
			t.Fatalf("%s: enps %v, want score %v (%d/%d/%d)", what, q.Enps, want, e.prom, e.pass, e.det)
		}
		if len(q.Distribution) != 11 {
			t.Fatalf("%s: %d buckets, want 11", what, len(q.Distribution))
		}
	} else {
		if !near(q.FavourableShare, float64(e.fav)/float64(e.n)) {
			t.Fatalf("%s: favourable %v, want %v", what, q.FavourableShare, float64(e.fav)/float64(e.n))
		}
		if len(q.Distribution) != 5 {
			t.Fatalf("%s: %d buckets, want 5", what, len(q.Distribution))
		}
	}
}

func wantHiddenGroup(t testing.TB, g *pulsev1.GroupResult) {
	t.Helper()
	if g == nil || !g.Hidden || g.Respondents != 0 || g.Participation != 0 || len(g.Questions) != 0 || len(g.Maturity) != 0 {
		t.Fatalf("group %v: want hidden with no number", g)
	}
}

func TestGetResults(t *testing.T) {
	f := start(t)
	sv := f.createSurvey(t, validSurvey())
	for path, n := range map[string]uint32{"acme/eng": 40, "acme/eng/web": 15, "acme/eng/api": 8, "acme/eng/data": 3} {
		if _, err := f.client.UpsertSegment(f.hr(), &pulsev1.UpsertSegmentRequest{Path: path, Headcount: n}); err != nil {
			t.Fatalf("UpsertSegment: %v", err)
		}
	}
	var total, web, totalEnps, webEnps expect
	people := 0
	answer := func(seg string, mood, e int32, team string) {
		people++
		f.submit(t, sv.Id, fmt.Sprintf("U%d", people), seg, scale("mood", mood), enpsAnswer("enps", e),
			choice("tools", "ci"), choice("team", team), text("say", fmt.Sprintf("comment %d from %s", people, seg)))
		total.add(int(mood))
		totalEnps.add(int(e))
		if seg == "acme/eng/web" {
			web.add(int(mood))
			webEnps.add(int(e))
		}
	}
	for i, m := range []int32{5, 5, 4, 4, 4, 3, 3, 2, 1, 5, 4, 4} {
		team := "yes"
		if i%3 == 0 {
			team = "no"
		}
		answer("acme/eng/web", m, []int32{10, 9, 9, 8, 7, 6, 5, 0, 10, 9, 8, 3}[i], team)
	}
	for range 6 {
		answer("acme/eng/api", 3, 7, "yes")
	}
	answer("acme/eng/data", 1, 0, "no")
	answer("acme/eng/data", 2, 1, "no")

	// Open wave: not readable, whatever the range.
	for _, w := range []uint32{0, 1} {
		_, err := f.client.GetResults(f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id, FirstWave: w})
		wantStatus(t, err, codes.FailedPrecondition, "wave")
	}

	f.clock.Set(afterWave1)
	r := f.results(t, f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id, Language: "fr"})
	if r.SurveyId != sv.Id || r.Total.Segment != "acme/eng" || r.Total.Hidden {
		t.Fatalf("total = %v", r.Total)
	}
	if r.Total.Respondents != 20 || r.Total.Headcount != 40 || !near(r.Total.Participation, 0.5) {
		t.Fatalf("total: %d respondents of %d (%v), want 20 of 40 (0.5)", r.Total.Respondents, r.Total.Headcount, r.Total.Participation)
	}
	total.check(t, "total mood", question(r.Total, "mood"), false)
	totalEnps.check(t, "total enps", question(r.Total, "enps"), true)
	if q := question(r.Total, "mood"); q.Text != "Ma charge de travail est gérable" || q.Dimension != commonv1.Dimension_DIMENSION_WORKLOAD {
		t.Fatalf("mood text %q dimension %v, want French and WORKLOAD", q.Text, q.Dimension)
	}
	team := question(r.Total, "team")
	if len(team.Distribution) != 2 || team.Distribution[0].Value != "yes" || team.Distribution[0].Count != 14 || team.Distribution[1].Count != 6 {
		t.Fatalf("team distribution %v, want yes 14, no 6", team.Distribution)
	}

	// data (2 people) is below k; hiding it alone would let a reader subtract it out of the
	// total, so the next smallest, api (6), is hidden too.
	var segs []string
	for _, c := range r.Children {
		segs = append(segs, c.Segment)
	}
	if !slices.Equal(segs, []string{"acme/eng/api", "acme/eng/data", "acme/eng/web"}) {
		t.Fatalf("children %v", segs)
	}
	wantHiddenGroup(t, child(r, "acme/eng/data"))
	wantHiddenGroup(t, child(r, "acme/eng/api"))
	if g := child(r, "acme/eng/api"); g.Headcount != 8 {
		t.Fatalf("hidden api shows headcount %d, want 8 (not a result)", g.Headcount)
	}
	w := child(r, "acme/eng/web")
	if w.Hidden || w.Respondents != 12 || !near(w.Participation, 0.8) {
		t.Fatalf("web = %d respondents (%v), hidden %v; want 12 (0.8)", w.Respondents, w.Participation, w.Hidden)
	}
	web.check(t, "web mood", question(w, "mood"), false)
	webEnps.check(t, "web enps", question(w, "enps"), true)

	// Comments: web (headcount 15) and the total show them; the total's are the web's and
	// the 6 of api, a pool of at least k authors. Dated with the day the wave closed.
	closeDay := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		g    *pulsev1.GroupResult
		want int
	}{{r.Total, 20}, {w, 12}} {
		q := question(tc.g, "say")
		if len(q.Comments) != tc.want || len(q.Texts) != 0 {
			t.Fatalf("%s: %d comments, want %d", tc.g.Segment, len(q.Comments), tc.want)
		}
		for _, c := range q.Comments {
			if !c.Date.AsTime().Equal(closeDay) || c.Wave != 1 {
				t.Fatalf("comment dated %v wave %d, want %v wave 1", c.Date.AsTime(), c.Wave, closeDay)
			}
		}
	}

	if len(r.Trend) != 1 || r.Trend[0].Wave != 1 || r.Trend[0].Respondents != 20 || r.Trend[0].Hidden {
		t.Fatalf("trend %v", r.Trend)
	}
	if want := (float64(total.sum)/float64(total.n) - 3) / 2; !near(r.Trend[0].Score, want) {
		t.Fatalf("trend score %v, want %v", r.Trend[0].Score, want)
	}
	if want := float64(totalEnps.prom-totalEnps.det) * 100 / float64(totalEnps.n); !near(r.Trend[0].Enps.GetScore(), want) {
		t.Fatalf("trend enps %v, want %v", r.Trend[0].Enps, want)
	}

	// Headcounts are frozen for a closed wave at its first read: lowering web's below the
	// comment threshold now would move its comments between two reads of the same wave.
	if _, err := f.client.UpsertSegment(f.hr(), &pulsev1.UpsertSegmentRequest{Path: "acme/eng/web", Headcount: 5}); err != nil {
		t.Fatalf("UpsertSegment: %v", err)
	}
	again := child(f.results(t, f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id}), "acme/eng/web")
	if again.Headcount != 15 || len(question(again, "say").Comments) != 12 {
		t.Fatalf("web after a headcount change: headcount %d, %d comments; want the frozen 15 and 12", again.Headcount, len(question(again, "say").Comments))
	}

	// A prefix below the audience: web alone, no children.
	sub := f.results(t, f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id, SegmentPrefix: "acme/eng/web"})
	if sub.Total.Respondents != 12 || len(sub.Children) != 0 {
		t.Fatalf("web prefix: %v", sub)
	}
	// data is hidden there too: suppression is decided once for the whole tree.
	wantHiddenGroup(t, f.results(t, f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id, SegmentPrefix: "acme/eng/api"}).Total)

	subtree := servicetest.WithToken(context.Background(), f.env.SubtreeManager)
	if got := f.results(t, subtree, &pulsev1.GetResultsRequest{SurveyId: sv.Id}); got.Total.Segment != "acme/eng" {
		t.Fatalf("subtree manager sees %s", got.Total.Segment)
	}
	other := servicetest.WithToken(context.Background(), f.env.OtherHR)
	for _, tc := range []struct {
		name string
		ctx  context.Context
		req  *pulsev1.GetResultsRequest
		code codes.Code
		fld  string
	}{
		{"hr of another org", other, &pulsev1.GetResultsRequest{SurveyId: sv.Id}, codes.NotFound, ""},
		{"unknown survey", f.hr(), &pulsev1.GetResultsRequest{SurveyId: "NOSUCH"}, codes.NotFound, ""},
		{"survey id missing", f.hr(), &pulsev1.GetResultsRequest{}, codes.InvalidArgument, "survey_id"},
		{"submitter", f.submitter(), &pulsev1.GetResultsRequest{SurveyId: sv.Id}, codes.PermissionDenied, ""},
		{"prefix above the audience", f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id, SegmentPrefix: "acme"}, codes.InvalidArgument, "segment_prefix"},
		{"prefix outside the token", subtree, &pulsev1.GetResultsRequest{SurveyId: sv.Id, SegmentPrefix: "acme/sales"}, codes.PermissionDenied, "segment_prefix"},
		{"prefix malformed", f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id, SegmentPrefix: "Acme"}, codes.InvalidArgument, "segment_prefix"},
		{"language unknown", f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id, Language: "de"}, codes.InvalidArgument, "language"},
		{"first wave beyond", f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id, FirstWave: 2}, codes.InvalidArgument, "first_wave"},
		{"last wave beyond", f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id, FirstWave: 1, LastWave: 3}, codes.InvalidArgument, "last_wave"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.GetResults(tc.ctx, tc.req)
			wantStatus(t, err, tc.code, tc.fld)
		})
	}
}

func TestLiveResultsNeverBelowK(t *testing.T) {
	f := start(t)
	in := validSurvey()
	in.LiveResults = true
	sv := f.createSurvey(t, in)
	live := func() *pulsev1.GetResultsResponse {
		t.Helper()
		return f.results(t, f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id, FirstWave: 1})
	}
	for i := range 4 {
		f.submit(t, sv.Id, fmt.Sprintf("U%d", i), "acme/eng/web", scale("mood", 4))
	}
	_, err := f.client.GetResults(f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id})
	wantStatus(t, err, codes.FailedPrecondition, "closed") // 0 is the latest closed wave
	// Today's responses count from tomorrow: on the first day nobody is counted, and live
	// results hide a group nobody answered (TestLiveResultsHideEmptyGroups).
	r := live()
	wantHiddenGroup(t, r.Total)
	if !r.Trend[0].Hidden || r.Trend[0].Respondents != 0 {
		t.Fatalf("live trend on the first day: %v, want hidden", r.Trend[0])
	}
	f.clock.Set(t0.Add(24 * time.Hour))
	r = live()
	wantHiddenGroup(t, r.Total)
	if !r.Trend[0].Hidden || r.Trend[0].Respondents != 0 {
		t.Fatalf("trend of a group below k: %v", r.Trend[0])
	}
	// One more person today: reading before and after them on the same day shows the same.
	f.submit(t, sv.Id, "U4", "acme/eng/web", scale("mood", 2))
	wantHiddenGroup(t, live().Total)
	f.clock.Set(t0.Add(48 * time.Hour))
	r = live()
	if r.Total.Hidden || r.Total.Respondents != 5 || !near(question(r.Total, "mood").Mean, 18.0/5) {
		t.Fatalf("live total at k: %v", r.Total)
	}
	// Questions nobody answered are shown empty.
	if q := question(r.Total, "enps"); q.Hidden || q.Responses != 0 {
		t.Fatalf("unanswered enps = %v", q)
	}
}

// In live results a group nobody has answered yet is hidden, not shown with 0 respondents:
// otherwise a reader who looks every day sees it go from 0 to hidden, and learns that 1..k-1
// of its people answered that day. Closed waves still show such a group empty.
func TestLiveResultsHideEmptyGroups(t *testing.T) {
	f := start(t)
	for path, n := range map[string]uint32{"acme/eng/web": 10, "acme/eng/api": 8} {
		if _, err := f.client.UpsertSegment(f.hr(), &pulsev1.UpsertSegmentRequest{Path: path, Headcount: n}); err != nil {
			t.Fatalf("UpsertSegment: %v", err)
		}
	}
	in := validSurvey()
	in.LiveResults = true
	sv := f.createSurvey(t, in)
	read := func(prefix string) *pulsev1.GetResultsResponse {
		t.Helper()
		return f.results(t, f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id, FirstWave: 1, SegmentPrefix: prefix})
	}

	// Nobody yet: the total, both teams, the trend, and a prefix with neither responses
	// nor a headcount are hidden.
	r := read("")
	wantHiddenGroup(t, r.Total)
	wantHiddenGroup(t, child(r, "acme/eng/web"))
	wantHiddenGroup(t, child(r, "acme/eng/api"))
	if len(r.Trend) != 1 || !r.Trend[0].Hidden || r.Trend[0].Respondents != 0 {
		t.Fatalf("live trend with nobody: %v, want hidden", r.Trend)
	}
	if g := child(r, "acme/eng/web"); g.Headcount != 10 {
		t.Fatalf("hidden web shows headcount %d, want 10 (not a result)", g.Headcount)
	}
	wantHiddenGroup(t, read("acme/eng/data").Total)

	// Five people of web answer; from the next day web and the total show them, and api,
	// still without an answer, stays hidden.
	for i := range 5 {
		f.submit(t, sv.Id, fmt.Sprintf("U%d", i), "acme/eng/web", scale("mood", 4))
	}
	f.clock.Set(t0.Add(24 * time.Hour))
	r = read("")
	if r.Total.Hidden || r.Total.Respondents != 5 || child(r, "acme/eng/web").Respondents != 5 {
		t.Fatalf("live results at k: total %v, web %v", r.Total, child(r, "acme/eng/web"))
	}
	wantHiddenGroup(t, child(r, "acme/eng/api"))
	wantHiddenGroup(t, read("acme/eng/api").Total)

	// Once the wave has closed, the empty team is a result: shown with no one.
	f.clock.Set(afterWave1)
	r = read("")
	if api := child(r, "acme/eng/api"); api == nil || api.Hidden || api.Respondents != 0 || api.Headcount != 8 {
		t.Fatalf("closed wave: api = %v, want shown empty with headcount 8", api)
	}
	if r.Total.Hidden || r.Total.Respondents != 5 {
		t.Fatalf("closed wave: total %v, want 5 respondents", r.Total)
	}
	// A prefix with neither answers nor a headcount is shown empty once the wave closed. It
	// used to panic (Internal): the question tables were not extended for it.
	d := read("acme/eng/data").Total
	if d == nil || d.Hidden || d.Respondents != 0 || d.Segment != "acme/eng/data" {
		t.Fatalf("closed wave: acme/eng/data = %v, want shown empty", d)
	}
}

// TestSuppressionRandomised answers surveys with random group sizes, many below k, and checks
// that nothing a reader sees isolates a hidden group: for the total and every question, the
// total minus the sum of the visible children (what a reader can compute about the hidden
// ones together) is either nothing or at least k people, and never one hidden child alone.
func TestSuppressionRandomised(t *testing.T) {
	f := start(t)
	const k = 5
	complementary := 0 // children of k or more people hidden to protect a smaller one
	for round := range 8 {
		seed := uint64(round)*7919 + 17
		rng := rand.New(rand.NewPCG(seed, 42))
		sv := f.createSurvey(t, validSurvey())
		n := 2 + rng.IntN(6)
		sizes := make([]int, n)
		for i := range sizes {
			sizes[i] = rng.IntN(11) // 0..10: many below k
		}
		for i, size := range sizes {
			for p := range size {
				answers := []*pulsev1.Answer{scale("mood", int32(1+rng.IntN(5)))}
				if rng.IntN(4) > 0 { // not everybody answers every question
					answers = append(answers, enpsAnswer("enps", int32(rng.IntN(11))))
				}
				f.submit(t, sv.Id, fmt.Sprintf("R%d-%d-%d", round, i, p), fmt.Sprintf("acme/eng/c%d", i), answers...)
			}
		}
		f.clock.Set(afterWave1)
		r := f.results(t, f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id})
		f.clock.Set(t0)
		sum := 0
		for _, s := range sizes {
			sum += s
		}
		what := fmt.Sprintf("seed %d sizes %v", seed, sizes)
		if sum > 0 && sum < k {
			wantHiddenGroup(t, r.Total)
			for _, c := range r.Children {
				wantHiddenGroup(t, c)
			}
			continue
		}
		if r.Total.Hidden {
			t.Fatalf("%s: total hidden = %v", what, r.Total.Hidden)
		}
		if int(r.Total.Respondents) != sum {
			t.Fatalf("%s: total respondents %d, want %d", what, r.Total.Respondents, sum)
		}
		// Respondents.
		rest, hiddenKids := sum, 0
		for _, c := range r.Children {
			i, _ := strconv.Atoi(c.Segment[len("acme/eng/c"):])
			if sizes[i] > 0 && sizes[i] < k && !c.Hidden {
				t.Fatalf("%s: child %d of %d people shown", what, i, sizes[i])
			}
			if c.Hidden {
				wantHiddenGroup(t, c)
				hiddenKids++
				if sizes[i] >= k {
					complementary++
				}
				continue
			}
			if int(c.Respondents) != sizes[i] {
				t.Fatalf("%s: child %d respondents %d, want %d", what, i, c.Respondents, sizes[i])
			}
			rest -= int(c.Respondents)
		}
		if hiddenKids == 1 || (rest > 0 && rest < k) {
			t.Fatalf("%s: %d hidden children holding %d people: one could be subtracted out", what, hiddenKids, rest)
		}
		// Every question, every bucket: the total minus the visible children is a pool of 0
		// or at least k answers.
		for _, qt := range r.Total.Questions {
			if qt.Hidden {
				continue
			}
			pool := int(qt.Responses)
			buckets := map[string]int{}
			for _, b := range qt.Distribution {
				buckets[b.Value] = int(b.Count)
			}
			hiddenQ := 0
			for _, c := range r.Children {
				qc := question(c, qt.QuestionId)
				if c.Hidden || qc.Hidden {
					if qc != nil && (qc.Responses != 0 || len(qc.Distribution) != 0 || qc.Mean != 0 || qc.Enps != nil) {
						t.Fatalf("%s: hidden question shows numbers: %v", what, qc)
					}
					hiddenQ++
					continue
				}
				pool -= int(qc.Responses)
				for _, b := range qc.Distribution {
					buckets[b.Value] -= int(b.Count)
				}
			}
			if pool > 0 && pool < k {
				t.Fatalf("%s: question %s: visible numbers isolate %d answers", what, qt.QuestionId, pool)
			}
			left := 0
			for _, v := range buckets {
				left += v
			}
			if left != pool {
				t.Fatalf("%s: question %s: buckets leave %d, counts %d", what, qt.QuestionId, left, pool)
			}
		}
	}
	if complementary == 0 {
		t.Fatal("no round needed complementary suppression: the sizes do not test it")
	}
}

// TestResultsOf10000Respondents simulates a wave of 10,000 people in 50 segments (a few below
// k) and checks every number against a computation done here, independently of the service.
// The responses are written into the store while the service is down, as SubmitResponse
// stores them, which keeps the test fast.
func TestResultsOf10000Respondents(t *testing.T) {
	f := start(t)
	const (
		people   = 10_000
		segments = 50
		k        = 5
	)
	sv := f.createSurvey(t, validSurvey())
	rng := rand.New(rand.NewPCG(2026, 11))
	sizes := make([]int, segments)
	sizes[3], sizes[17], sizes[41] = 2, 4, 1 // below k
	left := people - 7
	for i := range sizes {
		if sizes[i] == 0 && left > 0 {
			sizes[i] = 1 // a share of the rest, below
		}
	}
	left -= segments - 3
	for left > 0 { // spread the rest at random
		i := rng.IntN(segments)
		if i == 3 || i == 17 || i == 41 {
			continue
		}
		sizes[i]++
		left--
	}
	type segExpect struct{ mood, enps expect }
	want := make([]segExpect, segments)
	var all segExpect
	f.restart(t, func(db *bolt.DB) {
		err := db.Update(func(tx *bolt.Tx) error {
			for i, size := range sizes {
				for range size {
					mood, e := int32(1+rng.IntN(5)), int32(rng.IntN(11))
					want[i].mood.add(int(mood))
					want[i].enps.add(int(e))
					all.mood.add(int(mood))
					all.enps.add(int(e))
					r := store.Response{
						ID: fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()), SurveyID: sv.Id, Wave: 1, Segment: fmt.Sprintf("acme/eng/s%02d", i),
						Answers: []store.Answer{
							{QuestionID: "mood", Kind: store.QuestionScale, Value: mood},
							{QuestionID: "enps", Kind: store.QuestionENPS, Value: e},
						},
						Day: time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC),
					}
					if err := store.UnsafePutResponse(tx, r); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("write responses: %v", err)
		}
	})
	f.clock.Set(afterWave1)
	r := f.results(t, f.as(auth.RoleAdmin), &pulsev1.GetResultsRequest{SurveyId: sv.Id})

	// Independent suppression: the three below k, then, since they hold 7 >= k people
	// together, nothing more.
	hidden := map[int]bool{3: true, 17: true, 41: true}
	if r.Total.Respondents != people {
		t.Fatalf("total respondents %d, want %d", r.Total.Respondents, people)
	}
	all.mood.check(t, "total mood", question(r.Total, "mood"), false)
	all.enps.check(t, "total enps", question(r.Total, "enps"), true)
	if len(r.Children) != segments {
		t.Fatalf("%d children, want %d", len(r.Children), segments)
	}
	for i, c := range r.Children {
		if c.Segment != fmt.Sprintf("acme/eng/s%02d", i) {
			t.Fatalf("child %d is %s", i, c.Segment)
		}
		if hidden[i] {
			wantHiddenGroup(t, c)
			continue
		}
		if int(c.Respondents) != sizes[i] {
			t.Fatalf("%s: respondents %d, want %d", c.Segment, c.Respondents, sizes[i])
		}
		want[i].mood.check(t, c.Segment+" mood", question(c, "mood"), false)
		want[i].enps.check(t, c.Segment+" enps", question(c, "enps"), true)
	}
}

// Over a range of waves a group is shown only where every wave shows it, so that subtracting
// one range from another cannot reveal a wave in which the group was hidden.
func TestResultsOverWaves(t *testing.T) {
	f := start(t)
	sv := f.createSurvey(t, validSurvey())
	n := 0
	answer := func(seg string, count int, mood int32) {
		for range count {
			n++
			f.submit(t, sv.Id, fmt.Sprintf("U%d", n), seg, scale("mood", mood))
		}
	}
	answer("acme/eng/web", 6, 4)
	answer("acme/eng/api", 6, 2)
	f.tick(t, t0.Add(7*24*time.Hour-time.Hour)) // wave 2 opens
	answer("acme/eng/web", 6, 5)
	answer("acme/eng/api", 2, 1) // below k: api hidden in wave 2, and web with it
	f.clock.Set(t0.Add(12 * 24 * time.Hour))

	w1 := f.results(t, f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id, FirstWave: 1})
	if child(w1, "acme/eng/web").Respondents != 6 || child(w1, "acme/eng/api").Respondents != 6 {
		t.Fatalf("wave 1 children %v", w1.Children)
	}
	w2 := f.results(t, f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id}) // latest closed: 2
	if w2.Trend[0].Wave != 2 || w2.Total.Respondents != 8 {
		t.Fatalf("wave 2 total %v trend %v", w2.Total, w2.Trend)
	}
	wantHiddenGroup(t, child(w2, "acme/eng/api"))
	wantHiddenGroup(t, child(w2, "acme/eng/web"))

	both := f.results(t, f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id, FirstWave: 1, LastWave: 2})
	if both.Total.Respondents != 20 || !near(question(both.Total, "mood").Mean, (6*4+6*2+6*5+2*1)/20.0) {
		t.Fatalf("range total %v", both.Total)
	}
	wantHiddenGroup(t, child(both, "acme/eng/api"))
	wantHiddenGroup(t, child(both, "acme/eng/web"))
	if len(both.Trend) != 2 || both.Trend[0].Respondents != 12 || both.Trend[1].Respondents != 8 {
		t.Fatalf("trend %v", both.Trend)
	}
	if want := (float64(6*4+6*2)/12 - 3) / 2; !near(both.Trend[0].Score, want) {
		t.Fatalf("wave 1 score %v, want %v", both.Trend[0].Score, want)
	}
}
