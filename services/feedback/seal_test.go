package feedback_test

import (
	"fmt"
	"slices"
	"testing"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/segment"
)

// Sealing moves the index entries of finished days to the tiers whose pages they fill: every
// listing, filtered or not, reads the same comments in the same order across it, a page
// token taken before it goes on where it was, and a comment of a sealed day that changes
// after it is listed under its new filters.
func TestListingsAreTheSameAcrossASeal(t *testing.T) {
	f := start(t)
	segs := []segment.Path{segment.MustParse("acme/eng"), segment.MustParse("acme/ops")}
	f.publishSegment(t, "acme", 100, 1)
	for _, s := range segs {
		f.publishSegment(t, s.String(), 50, 1)
	}
	f.segmentsApplied(t)
	const n, days = 4000, 8
	day0 := today(f.clock.Now())
	if err := f.svc.FillComments(n, 500, func(i int) *store.Comment {
		d := day0.AddDate(0, 0, -(i % days))
		c := &store.Comment{ID: fmt.Sprintf("c%015x", uint64(i)*0x9E3779B97F4A7C15>>4), AuthorSegment: segs[i%2],
			Text: "slow CI", Status: stNew, Dimensions: []commonv1.Dimension{dimWorkload}, CreateDay: d, UpdateDay: d}
		if i%3 == 0 {
			c.OwnerGroup = "legal"
		}
		if i%5 == 0 {
			c.Dimensions = append(c.Dimensions, dimGrowth)
		}
		return c
	}); err != nil {
		t.Fatal(err)
	}
	hr := f.as(auth.RoleHR)
	reqs := []*feedbackv1.ListFeedbackRequest{
		{SegmentPrefix: "acme"},
		{SegmentPrefix: "acme/ops"},
		{SegmentPrefix: "acme", Statuses: []commonv1.FeedbackStatus{stNew}},
		{SegmentPrefix: "acme", OwnerGroup: "legal"},
		{SegmentPrefix: "acme", Dimensions: []commonv1.Dimension{dimGrowth}},
	}
	type listing struct {
		all   []string
		token string // after the first page
	}
	list := func() []listing {
		var out []listing
		for _, r := range reqs {
			req := &feedbackv1.ListFeedbackRequest{SegmentPrefix: r.SegmentPrefix, Statuses: r.Statuses, OwnerGroup: r.OwnerGroup, Dimensions: r.Dimensions, PageSize: 100}
			first, err := f.client.ListFeedback(hr, req)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, listing{all: ids(listAll(t, f, hr, req)), token: first.NextPageToken})
		}
		return out
	}
	before := list()
	if len(before[0].all) != n {
		t.Fatalf("listed %d comments, want %d", len(before[0].all), n)
	}
	moved, err := f.svc.SealDays()
	if err != nil || moved < n/2 {
		t.Fatalf("SealDays moved %d entries, %v; want at least the %d by_day entries of the days before yesterday", moved, err, n/2)
	}
	after := list()
	for i, r := range reqs {
		if !slices.Equal(after[i].all, before[i].all) {
			t.Errorf("%v: %d comments listed after the seal, %d before (or another order)", r, len(after[i].all), len(before[i].all))
		}
		// The token of the first page, taken before the seal, goes on with the second.
		req := &feedbackv1.ListFeedbackRequest{SegmentPrefix: r.SegmentPrefix, Statuses: r.Statuses, OwnerGroup: r.OwnerGroup, Dimensions: r.Dimensions, PageSize: 100, PageToken: before[i].token}
		if rest := ids(listAll(t, f, hr, req)); !slices.Equal(rest, before[i].all[100:]) {
			t.Errorf("%v: a page token from before the seal lists %d comments after it, want %d", r, len(rest), len(before[i].all)-100)
		}
	}
	// An old comment, of a sealed day, acknowledged after the seal.
	old := before[0].all[len(before[0].all)-1]
	if _, err := f.setStatus(hr, old, stAck, "seen"); err != nil {
		t.Fatal(err)
	}
	acked := ids(listAll(t, f, hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", Statuses: []commonv1.FeedbackStatus{stAck}}))
	if !slices.Equal(acked, []string{old}) {
		t.Errorf("acknowledged: %v, want [%s]", acked, old)
	}
	if fresh := ids(listAll(t, f, hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", Statuses: []commonv1.FeedbackStatus{stNew}})); slices.Contains(fresh, old) || len(fresh) != n-1 {
		t.Errorf("new: %d comments listed, the acknowledged one among them: %v; want %d without it", len(fresh), slices.Contains(fresh, old), n-1)
	}
	stats, err := f.svc.BucketStats()
	if err != nil {
		t.Fatal(err)
	}
	if sealed, recent := stats[string(store.ByDay)].KeyN, stats[string(store.ByDayRecent)].KeyN; sealed+recent != n || recent > n*2/days {
		t.Errorf("by_day holds %d entries and by_day_recent %d; want %d in all, at most the last two days' in the recent tier", sealed, recent, n)
	}
}
