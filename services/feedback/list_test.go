package feedback_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// listAll pages through a listing and returns every comment in order.
func listAll(t testing.TB, f *fixture, ctx context.Context, req *feedbackv1.ListFeedbackRequest) []*feedbackv1.Feedback {
	t.Helper()
	var out []*feedbackv1.Feedback
	for range 1000 {
		resp, err := f.client.ListFeedback(ctx, req)
		if err != nil {
			t.Fatalf("ListFeedback(%v): %v", req, err)
		}
		if req.PageSize > 0 && len(resp.Feedback) > int(req.PageSize) {
			t.Fatalf("page of %d, asked %d", len(resp.Feedback), req.PageSize)
		}
		out = append(out, resp.Feedback...)
		if resp.NextPageToken == "" {
			return out
		}
		req.PageToken = resp.NextPageToken
	}
	t.Fatal("paging does not end")
	return nil
}

func ids(cs []*feedbackv1.Feedback) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Id)
	}
	return out
}

func TestCommentIsShownUnderTheNearestSegmentReachingTheThreshold(t *testing.T) {
	cases := []struct {
		name       string
		headcounts map[string]uint32
		want       string
	}{
		{"no headcount known", nil, "acme"},
		{"team just below", map[string]uint32{"acme/eng/platform": 9, "acme/eng": 9}, "acme"},
		{"department reaches it", map[string]uint32{"acme/eng/platform": 9, "acme/eng": 10}, "acme/eng"},
		{"team reaches it", map[string]uint32{"acme/eng/platform": 10, "acme/eng": 200}, "acme/eng/platform"},
		{"team reaches it, department unknown", map[string]uint32{"acme/eng/platform": 11}, "acme/eng/platform"},
		{"set back to zero", map[string]uint32{"acme/eng/platform": 0, "acme/eng": 0}, "acme"},
	}
	f := start(t)
	hr := f.as(auth.RoleHR)
	id := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng/platform", Text: "small team", SubmitterRef: "U1"}).FeedbackId
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for p, n := range tc.headcounts {
				f.headcount(t, p, n)
			}
			got, err := f.client.GetFeedback(hr, &feedbackv1.GetFeedbackRequest{FeedbackId: id})
			if err != nil || got.Feedback.Segment != tc.want {
				t.Fatalf("shown under %q (%v), want %q", got.GetFeedback().GetSegment(), err, tc.want)
			}
			// Listing agrees: the comment is listed under the shown segment and not below it.
			for _, prefix := range []string{"acme", "acme/eng", "acme/eng/platform"} {
				listed := len(listAll(t, f, hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: prefix})) == 1
				if want := len(prefix) <= len(tc.want); listed != want {
					t.Errorf("listed under %s = %v, want %v", prefix, listed, want)
				}
			}
		})
	}
}

func TestListFeedbackPagesByDayShuffledWithinADay(t *testing.T) {
	f := start(t)
	hr := f.as(auth.RoleHR)
	f.headcount(t, "acme/eng", 50)
	var byDay [3][]string // submission order per day
	for d := range 3 {
		for i := range 9 {
			r := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: fmt.Sprintf("day %d comment %d", d, i), SubmitterRef: fmt.Sprintf("U%d-%d", d, i)})
			byDay[d] = append(byDay[d], r.FeedbackId)
		}
		f.clock.Add(24 * time.Hour)
	}
	all := listAll(t, f, hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", PageSize: 4})
	if len(all) != 27 {
		t.Fatalf("listed %d comments, want 27", len(all))
	}
	for i, c := range all {
		d := 2 - i/9 // newest day first
		if !slices.Contains(byDay[d], c.Id) {
			t.Fatalf("comment %d (%s) is not of day %d", i, c.Id, d)
		}
		if want := t0.Truncate(24*time.Hour).AddDate(0, 0, d); !c.CreateDay.AsTime().Equal(want) {
			t.Errorf("comment %d made on %v, want %v", i, c.CreateDay.AsTime(), want)
		}
	}
	shuffled := 0
	for d := range 3 {
		got := ids(all[(2-d)*9 : (3-d)*9])
		if !slices.Equal(got, byDay[d]) {
			shuffled++
		}
	}
	if shuffled == 0 {
		t.Error("every day is listed in submission order: the order within a day must be a keyed shuffle")
	}
	// Stable: another page size gives the same order.
	if again := listAll(t, f, hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", PageSize: 7}); !slices.Equal(ids(again), ids(all)) {
		t.Error("the order changed with the page size: paging is not stable")
	}
	// The time range picks whole days: [day 1, day 2).
	mid := listAll(t, f, hr, &feedbackv1.ListFeedbackRequest{
		SegmentPrefix: "acme", StartTime: timestamppb.New(t0.Add(24 * time.Hour)), EndTime: timestamppb.New(t0.Truncate(24 * time.Hour).Add(48 * time.Hour)),
	})
	if got := ids(mid); len(got) != 9 || !slices.Equal(sorted(got), sorted(byDay[1])) {
		t.Errorf("range of day 1 listed %d comments %v, want day 1's", len(got), got)
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func TestListFeedbackFilters(t *testing.T) {
	f := start(t)
	hr := f.as(auth.RoleHR)
	f.headcount(t, "acme/eng", 10)
	f.headcount(t, "acme/sales", 10)
	sub := func(seg, ref string, dims ...commonv1.Dimension) string {
		return f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: seg, Text: "c", SubmitterRef: ref, Dimensions: dims}).FeedbackId
	}
	engWork := sub("acme/eng", "a", dimWorkload)
	engEco := sub("acme/eng", "b", dimEcosystem)
	sales := sub("acme/sales", "c")
	if _, err := f.setStatus(hr, engEco, stAck, "seen"); err != nil {
		t.Fatal(err)
	}
	publishScored(t, f, &eventsv1.ItemScored{ItemId: sales, Kind: eventsv1.ItemKind_ITEM_KIND_FEEDBACK, Segment: "acme/sales", Score: 0.6, Label: commonv1.SentimentLabel_SENTIMENT_LABEL_POSITIVE})
	waitScored(t, f, sales)
	for _, tc := range []struct {
		name string
		req  *feedbackv1.ListFeedbackRequest
		want []string
	}{
		{"prefix", &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme/eng"}, []string{engWork, engEco}},
		{"status", &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", Statuses: []commonv1.FeedbackStatus{stAck}}, []string{engEco}},
		{"dimension", &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", Dimensions: []commonv1.Dimension{dimWorkload, dimGrowth}}, []string{engWork}},
		{"label", &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", Labels: []commonv1.SentimentLabel{commonv1.SentimentLabel_SENTIMENT_LABEL_POSITIVE}}, []string{sales}},
		{"not scored yet", &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", Labels: []commonv1.SentimentLabel{0}}, []string{engWork, engEco}},
		{"before today", &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", EndTime: timestamppb.New(t0.Truncate(24 * time.Hour))}, nil},
		{"from today", &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", StartTime: timestamppb.New(t0)}, []string{engWork, engEco, sales}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(listAll(t, f, hr, tc.req)); !slices.Equal(sorted(got), sorted(tc.want)) {
				t.Errorf("listed %v, want %v", got, tc.want)
			}
		})
	}

	// A manager lists their subtree only.
	mgr := servicetest.WithToken(context.Background(), f.env.SubtreeManager)
	if got := ids(listAll(t, f, mgr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme/eng"})); len(got) != 2 {
		t.Errorf("manager of acme/eng listed %v", got)
	}
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		req   *feedbackv1.ListFeedbackRequest
		code  codes.Code
		field string
	}{
		{"manager above their prefix", mgr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme"}, codes.PermissionDenied, "segment_prefix"},
		{"other org", servicetest.WithToken(context.Background(), f.env.OtherHR), &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme"}, codes.PermissionDenied, "segment_prefix"},
		{"no prefix", hr, &feedbackv1.ListFeedbackRequest{}, codes.InvalidArgument, "segment_prefix"},
		{"page too large", hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", PageSize: 201}, codes.InvalidArgument, "page_size"},
		{"unspecified status", hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", Statuses: []commonv1.FeedbackStatus{0}}, codes.InvalidArgument, "statuses[0]"},
		{"unknown label", hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", Labels: []commonv1.SentimentLabel{9}}, codes.InvalidArgument, "labels[0]"},
		{"end before start", hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", StartTime: timestamppb.New(t0), EndTime: timestamppb.New(t0.Add(-24 * time.Hour))}, codes.InvalidArgument, "end_time"},
		{"garbage token", hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", PageToken: "!!"}, codes.InvalidArgument, "page_token"},
		{"submitter", f.as(auth.RoleSubmitter), &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme"}, codes.PermissionDenied, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.ListFeedback(tc.ctx, tc.req)
			wantCode(t, err, tc.code, tc.field)
		})
	}
	// A cursor only continues the listing it came from.
	first, err := f.client.ListFeedback(hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", PageSize: 1})
	if err != nil || first.NextPageToken == "" {
		t.Fatalf("first page: %v, %v", first, err)
	}
	_, err = f.client.ListFeedback(hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", PageSize: 1, PageToken: first.NextPageToken, Statuses: []commonv1.FeedbackStatus{stNew}})
	wantCode(t, err, codes.InvalidArgument, "page_token")
}
