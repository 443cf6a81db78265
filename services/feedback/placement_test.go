package feedback_test

import (
	"testing"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/segment"
)

// TestPlacementLeavesNoSmallGroupByElimination is the leak found in use: with teams of 12, 11
// and 4 under a department, the comments shown exactly at the department were all the small
// team's, since its siblings showed theirs under their own names. For every comment, the
// people who could have written it, given where it is shown and which sub-segments show their
// own, must number none or at least the threshold; and a team large enough still shows its
// comments under its own name.
func TestPlacementLeavesNoSmallGroupByElimination(t *testing.T) {
	const threshold = 10 // the default comment threshold
	cases := []struct {
		name       string
		headcounts map[string]uint32
		wantOwn    []string // teams that must still show comments under their own name
	}{
		{"department known", map[string]uint32{"acme": 200, "acme/eng": 27, "acme/eng/platform": 12, "acme/eng/mobile": 11, "acme/eng/data": 4}, []string{"acme/eng/platform"}},
		{"department unknown", map[string]uint32{"acme": 200, "acme/eng/platform": 12, "acme/eng/mobile": 11, "acme/eng/data": 4}, []string{"acme/eng/platform"}},
		{"organisation unknown", map[string]uint32{"acme/eng": 27, "acme/eng/platform": 12, "acme/eng/mobile": 11, "acme/eng/data": 4}, []string{"acme/eng/platform"}},
		{"small team beside a big one", map[string]uint32{"acme": 40, "acme/eng": 30, "acme/sales": 10, "acme/eng/platform": 25, "acme/eng/data": 5}, []string{"acme/sales"}},
		{"all large", map[string]uint32{"acme": 60, "acme/eng": 40, "acme/sales": 20, "acme/eng/platform": 20, "acme/eng/data": 20}, []string{"acme/eng/platform", "acme/eng/data", "acme/sales"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := start(t)
			hr := f.as(auth.RoleHR)
			for p, n := range tc.headcounts {
				f.headcount(t, p, n)
			}
			author := map[string]string{} // comment id -> author's team
			for p := range tc.headcounts {
				id := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: p, Text: "comment from " + p, SubmitterRef: "U-" + p}).FeedbackId
				author[id] = p
			}
			shownAt := map[string]string{}
			for _, c := range listAll(t, f, hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme"}) {
				shownAt[c.Id] = c.Segment
			}
			if len(shownAt) != len(author) {
				t.Fatalf("listed %d comments, want %d", len(shownAt), len(author))
			}
			// A reader sees which segments show comments under their own name.
			displayed := map[string]bool{}
			for _, s := range shownAt {
				displayed[s] = true
			}
			known := func(p string) int { return int(tc.headcounts[p]) }
			for id, at := range shownAt {
				// Candidates: the people of the shown segment minus those of its nearest
				// displayed sub-segments. Where the shown segment's own headcount is unknown,
				// the reader knows at most the sum of what is registered below it.
				shown := segment.MustParse(at)
				total, below := known(at), 0
				sum := 0
				for p, n := range tc.headcounts {
					sp := segment.MustParse(p)
					if sp.Within(shown) && !sp.Equal(shown) && nearest(sp, shown, tc.headcounts) {
						sum += int(n)
						if displayed[p] {
							below += int(n)
						}
					}
				}
				total = max(total, sum)
				if c := total - below; c > 0 && c < threshold {
					t.Errorf("comment by %s shown at %s: %d candidates by elimination (%d in %s, %d in displayed sub-segments)", author[id], at, c, total, at, below)
				}
				if !segment.MustParse(author[id]).Within(shown) {
					t.Errorf("comment by %s shown at %s, outside its author's segment", author[id], at)
				}
			}
			for _, team := range tc.wantOwn {
				if !displayed[team] {
					t.Errorf("%s (headcount %d) shows no comment under its own name: placements %v", team, tc.headcounts[team], shownAt)
				}
			}
		})
	}
}

// nearest reports whether p is a registered segment whose nearest registered ancestor below
// or at top is top itself.
func nearest(p, top segment.Path, heads map[string]uint32) bool {
	for up, ok := p.Parent(); ok && !up.Equal(top); up, ok = up.Parent() {
		if _, reg := heads[up.String()]; reg {
			return false
		}
	}
	return true
}
