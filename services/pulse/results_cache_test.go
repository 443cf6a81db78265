package pulse_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// day is midnight UTC of t0 plus n days.
func day(n int) time.Time { return time.Date(2026, 3, 10+n, 0, 0, 0, 0, time.UTC) }

// Read from the cache, GetResults answers what a fresh computation answers, after each of a
// series of changes: responses through SubmitResponse (live results of the open wave count
// them from the next day), a headcount changed while the wave is open, a response committed
// for an earlier day, the wave closing, and a response committed after the close. Groups and
// questions cross k on the way. A second read with nothing changed comes from the cache.
func TestCachedResultsEqualFreshOnes(t *testing.T) {
	f := start(t)
	in := validSurvey()
	in.LiveResults = true
	sv := f.createSurvey(t, in)
	for path, n := range map[string]uint32{"acme/eng": 40, "acme/eng/web": 12, "acme/eng/api": 11, "acme/eng/ops": 4} {
		f.upsertSegment(t, path, n)
	}
	ctx := f.as(auth.RoleAdmin)
	reqs := []*pulsev1.GetResultsRequest{
		{SurveyId: sv.Id, FirstWave: 1},
		{SurveyId: sv.Id, FirstWave: 1, SegmentPrefix: "acme/eng/web", PageSize: 3},
		{SurveyId: sv.Id, FirstWave: 1, SegmentPrefix: "acme/eng/api", Language: "fr"},
	}
	var totals []uint32 // the total's respondents at each step, when shown
	check := func(step string) *pulsev1.GetResultsResponse {
		t.Helper()
		var whole *pulsev1.GetResultsResponse
		for _, req := range reqs {
			f.svc.ResultsCache(true)
			cached := f.results(t, ctx, req)
			hits := f.svc.ResultsCacheHits()
			again := f.results(t, ctx, req)
			if f.svc.ResultsCacheHits() == hits {
				t.Fatalf("%s: %v read twice with nothing changed: the second read was computed again", step, req)
			}
			f.svc.ResultsCache(false)
			fresh := f.results(t, ctx, req)
			f.svc.ResultsCache(true)
			if !proto.Equal(cached, fresh) || !proto.Equal(again, fresh) {
				t.Fatalf("%s: %v\ncached:\n%v\nagain:\n%v\nfresh:\n%v", step, req, cached, again, fresh)
			}
			if whole == nil {
				whole = fresh
			}
		}
		if !whole.Total.Hidden {
			totals = append(totals, whole.Total.Respondents)
		}
		return whole
	}
	segs := []string{"acme/eng/web", "acme/eng/api", "acme/eng/ops", "acme/eng", "acme/eng/web", "acme/eng/api"}
	n := 0
	submit := func(count int) {
		for range count {
			seg := segs[n%len(segs)]
			f.submit(t, sv.Id, fmt.Sprintf("p%02d", n), seg, scale("mood", int32(1+n%5)), enpsAnswer("enps", int32(n%11)),
				choice("team", []string{"yes", "no"}[n%2]), text("say", fmt.Sprintf("said by %d", n)))
			n++
		}
	}
	late := func(d time.Time, seg string) {
		err := f.svc.PutResponse(store.Response{ID: fmt.Sprintf("late-%s-%d", seg, d.Unix()), SurveyID: sv.Id, Wave: 1, Segment: seg, Day: d,
			Answers: []store.Answer{{QuestionID: "mood", Kind: store.QuestionScale, Value: 2}, {QuestionID: "say", Kind: store.QuestionText, Text: "late " + seg}}})
		if err != nil {
			t.Fatal(err)
		}
	}

	check("before any response")
	submit(6)
	check("day 0, 6 responses (not counted before day 1)")
	for d := 1; d <= 3; d++ {
		f.clock.Set(t0.Add(time.Duration(d) * 24 * time.Hour))
		check(fmt.Sprintf("day %d", d))
		submit(5 + d)
		check(fmt.Sprintf("day %d, %d responses", d, n))
	}
	before := check("day 3")
	f.upsertSegment(t, "acme/eng/ops", 14)
	after := check("ops headcount 4 -> 14")
	if g := child(after, "acme/eng/ops"); g.Headcount != 14 || child(before, "acme/eng/ops").Headcount != 4 {
		t.Fatalf("ops headcount %d after the change, %d before, want 14 and 4", g.Headcount, child(before, "acme/eng/ops").Headcount)
	}
	late(day(1), "acme/eng/web")
	if r := check("a response of day 1 committed on day 3"); r.Total.Respondents != after.Total.Respondents+1 {
		t.Fatalf("after a late response of day 1: %d respondents, want %d", r.Total.Respondents, after.Total.Respondents+1)
	}

	f.clock.Set(afterWave1)
	closed := check("wave closed")
	late(day(4), "acme/eng/api")
	if r := check("a response committed after the close"); r.Total.Respondents != closed.Total.Respondents+1 {
		t.Fatalf("after a response committed after the close: %d respondents, want %d", r.Total.Respondents, closed.Total.Respondents+1)
	}
	if distinct := len(slices.Compact(slices.Clone(totals))); distinct < 5 {
		t.Fatalf("the total took %d values over the series (%v): the steps do not change the results", distinct, totals)
	}
}

// commentsOf lists r's comments as "group|question|text", in listing order.
func commentsOf(r *pulsev1.GetResultsResponse) []string {
	var out []string
	for _, g := range groupsOf(r) {
		for _, q := range g.GetQuestions() {
			for _, c := range q.Comments {
				out = append(out, g.Segment+"|"+q.QuestionId+"|"+c.Text)
			}
		}
	}
	return out
}

// GetResults pages its comments: no page holds more than its size, every page before the
// last is full, each page shows the same numbers, and the pages together list every comment
// the results show exactly once, in the same order whatever the page size: each shown
// group's comments are the TEXT answers given within it (one per answer counted), the same
// set as computed by decoding every response.
func TestResultsPagesListEveryCommentOnce(t *testing.T) {
	f := start(t)
	for path, n := range map[string]uint32{"acme/eng": 150, "acme/eng/web": 40, "acme/eng/api": 30, "acme/eng/api/db": 12, "acme/eng/ops": 25} {
		f.upsertSegment(t, path, n)
	}
	sv := f.createSurvey(t, validSurvey())
	written := map[string]string{} // text -> segment
	f.restart(t, func(db *bolt.DB) {
		rng := rand.New(rand.NewPCG(3, 5))
		segs := []string{"acme/eng", "acme/eng/web", "acme/eng/api", "acme/eng/api/db", "acme/eng/ops"}
		err := db.Update(func(tx *bolt.Tx) error {
			for i := range 330 {
				r := store.Response{ID: fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()), SurveyID: sv.Id, Wave: 1,
					Segment: segs[rng.IntN(len(segs))], Day: day(rng.IntN(4)),
					Answers: []store.Answer{{QuestionID: "mood", Kind: store.QuestionScale, Value: int32(1 + rng.IntN(5))}}}
				if i%11 != 0 {
					txt := fmt.Sprintf("comment %03d", i)
					r.Answers = append(r.Answers, store.Answer{QuestionID: "say", Kind: store.QuestionText, Text: txt})
					written[txt] = r.Segment
				}
				if err := store.UnsafePutResponse(tx, r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	f.clock.Set(afterWave1)
	ctx := f.as(auth.RoleAdmin)
	for _, prefix := range []string{"", "acme/eng/api"} {
		var listings [][]string
		for _, size := range []int32{0, 7, 500} {
			req := &pulsev1.GetResultsRequest{SurveyId: sv.Id, SegmentPrefix: prefix, PageSize: size}
			resp, pages := f.resultPages(t, ctx, req)
			want := int(size)
			if size == 0 {
				want = 50
			}
			var list []string
			for i, p := range pages {
				got := commentsOf(p)
				if len(got) > want || (i < len(pages)-1 && len(got) != want) {
					t.Fatalf("%q size %d: page %d of %d holds %d comments", prefix, size, i+1, len(pages), len(got))
				}
				list = append(list, got...)
			}
			if size == 7 && len(pages) < 10 {
				t.Fatalf("%q: %d pages of 7: the data does not test paging", prefix, len(pages))
			}
			listings = append(listings, list)

			// Every shown group's comments: once each, one per TEXT answer, and exactly the
			// answers given within the group.
			all := f.results(t, ctx, req)
			shown := 0
			for _, g := range groupsOf(all) {
				q := question(g, "say")
				if g.Hidden || q == nil || len(q.Comments) == 0 {
					continue
				}
				shown++
				var got, exp []string
				for _, c := range q.Comments {
					got = append(got, c.Text)
				}
				for txt, seg := range written {
					if seg == g.Segment || strings.HasPrefix(seg, g.Segment+"/") {
						exp = append(exp, txt)
					}
				}
				sort.Strings(got)
				sort.Strings(exp)
				if !slices.Equal(got, exp) || int(q.Responses) != len(got) {
					t.Fatalf("%q: group %s lists %d comments for %d answers; want the %d written within it", prefix, g.Segment, len(got), q.Responses, len(exp))
				}
			}
			if shown < 2 {
				t.Fatalf("%q: %d groups show comments: the data does not test them", prefix, shown)
			}
			if !proto.Equal(withoutComments(resp), withoutComments(all)) {
				t.Fatal("the first page and the merged pages differ in their numbers")
			}
		}
		for i := range listings[1:] {
			if !slices.Equal(listings[i+1], listings[0]) {
				t.Fatalf("%q: page sizes list the comments differently:\n%v\n%v", prefix, listings[0], listings[i+1])
			}
		}
		if n := len(listings[0]); n != len(slices.Compact(slices.Sorted(slices.Values(listings[0])))) {
			t.Fatalf("%q: a comment is listed twice", prefix)
		}
		// The same set as computed from every response (the computation before the tallies).
		f.svc.ResultsFromResponses(true)
		old := commentsOf(f.results(t, ctx, &pulsev1.GetResultsRequest{SurveyId: sv.Id, SegmentPrefix: prefix, PageSize: 500}))
		f.svc.ResultsFromResponses(false)
		if !slices.Equal(slices.Sorted(slices.Values(old)), slices.Sorted(slices.Values(listings[0]))) {
			t.Fatalf("%q: the pages list %d comments, the computation from responses %d", prefix, len(listings[0]), len(old))
		}
	}

	// Readers in parallel share the cached results: each page they read is the same.
	req := &pulsev1.GetResultsRequest{SurveyId: sv.Id, PageSize: 40}
	want := f.results(t, ctx, req)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 3 {
				if got := f.results(t, ctx, req); !proto.Equal(got, want) {
					t.Errorf("a parallel reader read other results")
					return
				}
			}
		})
	}
	wg.Wait()
}

// Within a group's question, comments are in an order that is neither their submission order
// nor its reverse, the same from read to read and page to page, and not the same as another
// TEXT question's: the answers one person gave to two questions do not sit at the same place.
func TestResultsCommentOrder(t *testing.T) {
	f := start(t)
	f.upsertSegment(t, "acme/eng/web", 30)
	in := validSurvey()
	in.Questions = append(in.Questions, &pulsev1.Question{Id: "else", Kind: commonv1.QuestionKind_QUESTION_KIND_TEXT,
		Dimension: commonv1.Dimension_DIMENSION_GROWTH, Text: lt("en", "Anything else?")})
	sv := f.createSurvey(t, in)
	const people = 24
	for i := range people {
		f.submit(t, sv.Id, fmt.Sprintf("p%02d", i), "acme/eng/web", text("say", fmt.Sprintf("a%02d", i)), text("else", fmt.Sprintf("b%02d", i)))
	}
	f.clock.Set(afterWave1)
	ctx := f.hr()
	order := func(r *pulsev1.GetResultsResponse, q string) []int {
		var out []int
		for _, c := range question(r.Total, q).Comments {
			var i int
			if _, err := fmt.Sscanf(c.Text[1:], "%d", &i); err != nil {
				t.Fatal(err)
			}
			out = append(out, i)
		}
		if len(out) != people {
			t.Fatalf("%s: %d comments, want %d", q, len(out), people)
		}
		return out
	}
	first := f.results(t, ctx, &pulsev1.GetResultsRequest{SurveyId: sv.Id, SegmentPrefix: "acme/eng/web", PageSize: 500})
	say, other := order(first, "say"), order(first, "else")
	submitted := make([]int, people)
	for i := range submitted {
		submitted[i] = i
	}
	reversed := slices.Clone(submitted)
	slices.Reverse(reversed)
	if slices.Equal(say, submitted) || slices.Equal(say, reversed) {
		t.Fatalf("comments listed in submission order (or its reverse): %v", say)
	}
	if slices.Equal(say, other) {
		t.Fatalf("two questions list one person's answers at the same places: %v", say)
	}
	for _, size := range []int32{0, 5, 500} {
		again := f.results(t, ctx, &pulsev1.GetResultsRequest{SurveyId: sv.Id, SegmentPrefix: "acme/eng/web", PageSize: size})
		if !slices.Equal(order(again, "say"), say) || !slices.Equal(order(again, "else"), other) {
			t.Fatalf("pages of %d list the comments in another order: %v, first read %v", size, order(again, "say"), say)
		}
	}
}

// Bad paging fields are InvalidArgument naming the field; a token of other filters is
// refused.
func TestGetResultsPagingErrors(t *testing.T) {
	f := start(t)
	f.upsertSegment(t, "acme/eng", 40)
	f.upsertSegment(t, "acme/eng/web", 30)
	sv := f.createSurvey(t, validSurvey())
	for i := range 12 {
		f.submit(t, sv.Id, fmt.Sprintf("p%02d", i), "acme/eng/web", text("say", fmt.Sprintf("c%02d", i)))
	}
	f.clock.Set(afterWave1)
	ctx := f.hr()
	r, err := f.client.GetResults(ctx, &pulsev1.GetResultsRequest{SurveyId: sv.Id, PageSize: 5})
	if err != nil || r.NextPageToken == "" {
		t.Fatalf("first page: %v, token %q", err, r.GetNextPageToken())
	}
	for _, tc := range []struct {
		req   *pulsev1.GetResultsRequest
		field string
	}{
		{&pulsev1.GetResultsRequest{SurveyId: sv.Id, PageSize: -1}, "page_size"},
		{&pulsev1.GetResultsRequest{SurveyId: sv.Id, PageSize: 501}, "page_size"},
		{&pulsev1.GetResultsRequest{SurveyId: sv.Id, PageToken: "not a token"}, "page_token"},
		{&pulsev1.GetResultsRequest{SurveyId: sv.Id, SegmentPrefix: "acme/eng/web", PageToken: r.NextPageToken}, "page_token"},
		{&pulsev1.GetResultsRequest{SurveyId: sv.Id, Language: "fr", PageToken: r.NextPageToken}, "page_token"},
	} {
		_, err := f.client.GetResults(ctx, tc.req)
		wantStatus(t, err, codes.InvalidArgument, tc.field)
	}
	// The token goes on with another page size.
	next, err := f.client.GetResults(ctx, &pulsev1.GetResultsRequest{SurveyId: sv.Id, PageSize: 50, PageToken: r.NextPageToken})
	if err != nil || len(commentsOf(next))+len(commentsOf(r)) != 2*12 || next.NextPageToken != "" {
		t.Fatalf("second page: %v, %d + %d comments, token %q", err, len(commentsOf(r)), len(commentsOf(next)), next.GetNextPageToken())
	}
}
