package pulse_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// splitReplicas starts two replicas, r1 and r2, on their own stores in dirs, gives acme/eng's
// teams their headcounts and creates validSurvey (with live results if live) on r1; r2 knows both before it returns.
func splitReplicas(t *testing.T, dirs [2]string, live bool) (*fixture, *replica, *replica, string) {
	t.Helper()
	f := &fixture{env: servicetest.New(t), clock: newClock(t0)}
	r1 := startReplica(t, f, dirs[0], "r1", 0)
	r2 := startReplica(t, f, dirs[1], "r2", 0)
	for path, n := range map[string]uint32{"acme/eng": 40, "acme/eng/web": 10, "acme/eng/api": 10, "acme/eng/ops": 10, "acme/eng/data": 10} {
		if _, err := r1.client.UpsertSegment(f.hr(), &pulsev1.UpsertSegmentRequest{Path: path, Headcount: n}); err != nil {
			t.Fatalf("UpsertSegment: %v", err)
		}
	}
	in := validSurvey()
	in.LiveResults = live
	resp, err := r1.client.CreateSurvey(f.hr(), &pulsev1.CreateSurveyRequest{Survey: in})
	if err != nil {
		t.Fatalf("CreateSurvey: %v", err)
	}
	applied(t, r2, configRevision(t, f, resp.Survey.Id)) // the segments were written before
	return f, r1, r2, resp.Survey.Id
}

// on is f reading through r.
func on(f *fixture, r *replica) *fixture {
	return &fixture{env: f.env, clock: f.clock, client: r.client}
}

// splitAnswers answers wave 1 with each team's people split between r1 and r2 so that no
// replica alone holds k (5) people of a team: web, api and ops 3 + 3, data 2 + 2 (k-1 over
// both). It returns the comments given.
func splitAnswers(t *testing.T, f *fixture, r1, r2 *replica, id string) []string {
	t.Helper()
	var comments []string
	n := 0
	for _, team := range []struct {
		seg  string
		each int
	}{{"acme/eng/web", 3}, {"acme/eng/api", 3}, {"acme/eng/ops", 3}, {"acme/eng/data", 2}} {
		for _, r := range []*replica{r1, r2} {
			for range team.each {
				n++
				c := fmt.Sprintf("comment %d from %s", n, team.seg)
				comments = append(comments, c)
				on(f, r).submit(t, id, fmt.Sprintf("U%d", n), team.seg,
					scale("mood", int32(1+n%5)), enpsAnswer("enps", int32(n%11)), choice("tools", "ci"), choice("team", "yes"), text("say", c))
			}
		}
	}
	return comments
}

func commentTexts(g *pulsev1.GroupResult) []string {
	var out []string
	for _, c := range question(g, "say").GetComments() {
		out = append(out, c.Text)
	}
	slices.Sort(out)
	return out
}

// TestResultsCountEveryReplicasAnswers: a team whose k people answered on two replicas is
// shown, with the merged counts, whichever replica is read; a team of k-1 over both stays
// hidden on both (suppression runs once, on the merged raw counts); the comments of both
// replicas are listed, and a page token of one replica reads on from the other.
func TestResultsCountEveryReplicasAnswers(t *testing.T) {
	f, r1, r2, id := splitReplicas(t, [2]string{t.TempDir(), t.TempDir()}, false)
	comments := splitAnswers(t, f, r1, r2, id)
	f.clock.Set(afterWave1)

	req := &pulsev1.GetResultsRequest{SurveyId: id, PageSize: 7}
	var first *pulsev1.GetResultsResponse
	for i, r := range []*replica{r1, r2} {
		res := on(f, r).results(t, f.hr(), req)
		if res.Total.Hidden || res.Total.Respondents != 22 {
			t.Fatalf("r%d: total %v, want 22 respondents shown", i+1, res.Total)
		}
		web := child(res, "acme/eng/web")
		if web == nil || web.Hidden || web.Respondents != 6 {
			t.Fatalf("r%d: web = %v; want shown with its 6 respondents (3 on each replica)", i+1, web)
		}
		mood := question(web, "mood")
		sum := uint32(0)
		for _, b := range mood.Distribution {
			sum += b.Count
		}
		if mood.Hidden || mood.Responses != 6 || sum != 6 {
			t.Fatalf("r%d: web's mood = %v; want 6 answers", i+1, mood)
		}
		wantHiddenGroup(t, child(res, "acme/eng/data")) // 2 + 2: k-1
		if got := commentTexts(res.Total); !slices.Equal(got, slices.Sorted(slices.Values(comments))) {
			t.Fatalf("r%d: total's comments = %v\nwant %v", i+1, got, comments)
		}
		if first == nil {
			first = res
		} else if !proto.Equal(res, first) {
			t.Fatalf("r2 shows other results than r1:\n%v\n%v", res, first)
		}
	}

	// The listing is the same on both: a page token from r1 reads on from r2.
	p1, err := r1.client.GetResults(f.hr(), req)
	if err != nil || p1.NextPageToken == "" {
		t.Fatalf("first page on r1: %v, token %q", err, p1.GetNextPageToken())
	}
	next := proto.Clone(req).(*pulsev1.GetResultsRequest)
	next.PageToken = p1.NextPageToken
	p2, err := r2.client.GetResults(f.hr(), next)
	if err != nil {
		t.Fatalf("second page on r2 with r1's token: %v", err)
	}
	all := on(f, r1).results(t, f.hr(), req)
	var want, got []string
	for _, c := range question(all.Total, "say").Comments {
		want = append(want, c.Text)
	}
	for _, p := range []*pulsev1.GetResultsResponse{p1, p2} {
		for _, c := range question(p.Total, "say").GetComments() {
			got = append(got, c.Text)
		}
	}
	if len(got) != 14 || !slices.Equal(got, want[:len(got)]) {
		t.Fatalf("pages 1 (r1) and 2 (r2) list %v, want the first %d of %v", got, len(got), want)
	}
}

// TestResultsFollowAnswersTakenOnAnotherReplica: results cached on r1 are computed again once r2
// took a late answer for the wave (it may, until the close reaches it).
func TestResultsFollowAnswersTakenOnAnotherReplica(t *testing.T) {
	f, r1, r2, id := splitReplicas(t, [2]string{t.TempDir(), t.TempDir()}, false)
	splitAnswers(t, f, r1, r2, id)
	f.clock.Set(afterWave1)
	req := &pulsev1.GetResultsRequest{SurveyId: id}
	if got := on(f, r1).results(t, f.hr(), req).Total.Respondents; got != 22 {
		t.Fatalf("r1: %d respondents, want 22", got)
	}
	f.clock.Set(afterWave1.Add(-2 * time.Hour)) // wave 1 closes an hour before afterWave1
	on(f, r2).submit(t, id, "late", "acme/eng/web", scale("mood", 5))
	f.clock.Set(afterWave1)
	if got := on(f, r1).results(t, f.hr(), req).Total.Respondents; got != 23 {
		t.Fatalf("r1 after r2 took one more answer: %d respondents, want 23", got)
	}
}

// TestResultsWithAReplicaDownAreUnavailable: results that would miss a replica's answers are
// not given; once it is back, they are.
func TestResultsWithAReplicaDownAreUnavailable(t *testing.T) {
	dirs := [2]string{t.TempDir(), t.TempDir()}
	f, r1, r2, id := splitReplicas(t, dirs, false)
	splitAnswers(t, f, r1, r2, id)
	f.clock.Set(afterWave1)
	req := &pulsev1.GetResultsRequest{SurveyId: id}
	want := on(f, r1).results(t, f.hr(), req)

	r2.svc.Close()
	_, err := r1.client.GetResults(f.hr(), req)
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "replica r2") {
		t.Fatalf("GetResults with r2 down: %v; want Unavailable naming replica r2", err)
	}

	r2 = startReplica(t, f, dirs[1], "r2", 0)
	// Each replica may answer Unavailable for a moment while the restarted one joins (a
	// client retries Unavailable); what must hold is the complete answer once it has.
	for _, r := range []*replica{r1, r2} {
		poll.Until(t, 10*time.Second, 20*time.Millisecond, func() error {
			got, err := r.client.GetResults(f.hr(), req)
			if err != nil {
				return err
			}
			if !proto.Equal(got, want) {
				return fmt.Errorf("results with r2 back:\n%v\nwant\n%v", got, want)
			}
			return nil
		})
	}
}

// TestResultsOnReplicasRefuseBadInput: validation is the same with replicas.
func TestResultsOnReplicasRefuseBadInput(t *testing.T) {
	f, r1, _, id := splitReplicas(t, [2]string{t.TempDir(), t.TempDir()}, false)
	ctx := f.hr()
	for _, c := range []struct {
		req   *pulsev1.GetResultsRequest
		code  codes.Code
		field string
	}{
		{&pulsev1.GetResultsRequest{SurveyId: ""}, codes.InvalidArgument, "survey_id"},
		{&pulsev1.GetResultsRequest{SurveyId: id, SegmentPrefix: "acme//x"}, codes.InvalidArgument, "segment_prefix"},
		{&pulsev1.GetResultsRequest{SurveyId: id, SegmentPrefix: "acme/sales"}, codes.InvalidArgument, "segment_prefix"},
		{&pulsev1.GetResultsRequest{SurveyId: id, PageToken: "garbage"}, codes.InvalidArgument, "page_token"},
		{&pulsev1.GetResultsRequest{SurveyId: id, FirstWave: 1}, codes.FailedPrecondition, "first_wave"},
		{&pulsev1.GetResultsRequest{SurveyId: "NOSUCHSURVEY"}, codes.NotFound, "survey"},
	} {
		_, err := r1.client.GetResults(ctx, c.req)
		wantStatus(t, err, c.code, c.field)
	}
	_, err := r1.client.GetResults(f.submitter(), &pulsev1.GetResultsRequest{SurveyId: id})
	wantStatus(t, err, codes.PermissionDenied, "")
	_, err = r1.client.GetResults(ctx, &pulsev1.GetResultsRequest{SurveyId: id})
	wantStatus(t, err, codes.FailedPrecondition, "first_wave")
}

// TestLiveResultsCountEveryReplicasAnswers: the live results of an open wave merge the
// replicas' answers of the days before today, and only those.
func TestLiveResultsCountEveryReplicasAnswers(t *testing.T) {
	f, r1, r2, id := splitReplicas(t, [2]string{t.TempDir(), t.TempDir()}, true)
	splitAnswers(t, f, r1, r2, id)
	req := &pulsev1.GetResultsRequest{SurveyId: id, FirstWave: 1}
	f.clock.Set(t0.Add(24 * time.Hour))
	for i, r := range []*replica{r1, r2} {
		res := on(f, r).results(t, f.hr(), req)
		if web := child(res, "acme/eng/web"); res.Total.Respondents != 22 || web == nil || web.Hidden || web.Respondents != 6 {
			t.Fatalf("r%d live: total %d, web %v; want 22, and web shown with 6", i+1, res.Total.Respondents, web)
		}
		wantHiddenGroup(t, child(res, "acme/eng/data"))
	}
	// An answer on r2 today counts from tomorrow, on r1 too.
	on(f, r2).submit(t, id, "today", "acme/eng/web", scale("mood", 5))
	if got := on(f, r1).results(t, f.hr(), req).Total.Respondents; got != 22 {
		t.Fatalf("r1 live, the day r2 took one more: %d respondents, want 22 (today's count tomorrow)", got)
	}
	f.clock.Set(t0.Add(48 * time.Hour))
	if got := on(f, r1).results(t, f.hr(), req).Total.Respondents; got != 23 {
		t.Fatalf("r1 live the next day: %d respondents, want 23", got)
	}
}
