package pulse_test

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// listPages pages through ListSurveys with size, calling between (if any) after each page but
// the last, and returns the surveys in the order listed.
func listPages(t *testing.T, f *fixture, ctx context.Context, prefix string, size int32, between func(page int)) []*pulsev1.Survey {
	t.Helper()
	var out []*pulsev1.Survey
	token := ""
	for page := 0; page < 100; page++ {
		resp, err := f.client.ListSurveys(ctx, &pulsev1.ListSurveysRequest{SegmentPrefix: prefix, PageSize: size, PageToken: token})
		if err != nil {
			t.Fatalf("ListSurveys %s page %d: %v", prefix, page, err)
		}
		if len(resp.Surveys) > int(size) {
			t.Fatalf("page of %d surveys, asked %d", len(resp.Surveys), size)
		}
		out = append(out, resp.Surveys...)
		if token = resp.NextPageToken; token == "" {
			return out
		}
		if between != nil {
			between(page)
		}
	}
	t.Fatalf("ListSurveys %s never ended", prefix)
	return nil
}

// A manager of acme/eng/platform is shown the surveys sent to acme/eng and to acme: their team
// is in those surveys' audiences. Surveys of siblings, or of segments only spelled alike, are
// not listed.
func TestListSurveysCoversParents(t *testing.T) {
	f := start(t)
	admin := f.as(auth.RoleAdmin)
	for _, audience := range []string{
		"acme/eng/platform/db", "acme", "acme/eng/web", "acme/eng", "acme/engineering", "acme/eng/platform",
		"acme/eng/platform-x", "acme/sales", "acme-corp/eng/platform",
	} {
		s := validSurvey()
		s.Audience = audience
		if _, err := f.client.CreateSurvey(admin, &pulsev1.CreateSurveyRequest{Survey: s}); err != nil {
			t.Fatalf("CreateSurvey %s: %v", audience, err)
		}
	}
	subtree := servicetest.WithToken(context.Background(), f.env.SubtreeManager) // acme/eng
	want := []string{"acme", "acme/eng", "acme/eng/platform", "acme/eng/platform/db"}
	for _, size := range []int32{1, 2, 3, 50} {
		var got []string
		for _, s := range listPages(t, f, subtree, "acme/eng/platform", size, nil) {
			got = append(got, s.Audience)
			// Listed, so readable by the one who listed it.
			if _, err := f.client.GetSurvey(subtree, &pulsev1.GetSurveyRequest{SurveyId: s.Id}); err != nil {
				t.Fatalf("GetSurvey of listed survey %s (%s): %v", s.Id, s.Audience, err)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("acme/eng/platform by pages of %d = %v, want %v", size, got, want)
		}
	}
	// A page token carries its listing: it is refused for another prefix, even a parent's.
	first, err := f.client.ListSurveys(subtree, &pulsev1.ListSurveysRequest{SegmentPrefix: "acme/eng/platform", PageSize: 1})
	if err != nil || first.NextPageToken == "" {
		t.Fatalf("first page: %v, next %q", err, first.GetNextPageToken())
	}
	_, err = f.client.ListSurveys(subtree, &pulsev1.ListSurveysRequest{SegmentPrefix: "acme/eng", PageToken: first.NextPageToken})
	wantStatus(t, err, codes.InvalidArgument, "page_token")
}

// Surveys created while a client pages through a listing never make it repeat or skip a
// survey that was there from the start, whichever level their audience is at and wherever
// their ids sort.
func TestListSurveysPagesSurviveInserts(t *testing.T) {
	f := start(t)
	audiences := []string{"acme", "acme/eng", "acme/eng/web", "acme/sales"}
	create := func(audience string) string {
		s := validSurvey()
		s.Audience = audience
		return f.createSurvey(t, s).Id
	}
	before := map[string]bool{}
	for i := range 12 {
		if a := audiences[i%len(audiences)]; a != "acme/sales" {
			before[create(a)] = true
		} else {
			create(a) // not listed for acme/eng
		}
	}
	inserted := 0
	listed := listPages(t, f, f.hr(), "acme/eng", 2, func(page int) {
		if page < 3 {
			for _, a := range audiences {
				create(a)
				inserted++
			}
		}
	})
	seen := map[string]int{}
	for _, s := range listed {
		if seen[s.Id]++; seen[s.Id] > 1 {
			t.Fatalf("survey %s (%s) listed twice", s.Id, s.Audience)
		}
		if s.Audience == "acme/sales" {
			t.Fatalf("survey %s of acme/sales listed for acme/eng", s.Id)
		}
	}
	for id := range before {
		if seen[id] != 1 {
			t.Fatalf("survey %s, created before the first page, listed %d times", id, seen[id])
		}
	}
	if inserted == 0 {
		t.Fatal("nothing was inserted between pages")
	}
}
