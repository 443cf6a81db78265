package feedback_test

import (
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/auth"
)

func TestListSegmentsListsRegisteredTeams(t *testing.T) {
	f := start(t)
	heads := map[string]uint32{"acme": 300, "acme/eng": 40, "acme/eng/platform": 12, "acme/eng-ops": 8, "acme/sales": 20, "acme/old": 0}
	for p, n := range heads {
		f.headcount(t, p, n)
	}
	list := func(role auth.Role, prefix string, size int32) []*feedbackv1.Segment {
		t.Helper()
		var out []*feedbackv1.Segment
		req := &feedbackv1.ListSegmentsRequest{SegmentPrefix: prefix, PageSize: size}
		for {
			resp, err := f.client.ListSegments(f.as(role), req)
			if err != nil {
				t.Fatalf("ListSegments(%s as %s): %v", prefix, role, err)
			}
			out = append(out, resp.Segments...)
			if resp.NextPageToken == "" {
				return out
			}
			req.PageToken = resp.NextPageToken
		}
	}
	paths := func(ss []*feedbackv1.Segment) []string {
		var out []string
		for _, s := range ss {
			out = append(out, s.Path)
		}
		return out
	}
	if got, want := paths(list(auth.RoleSubmitter, "acme", 2)), []string{"acme", "acme/eng", "acme/eng-ops", "acme/eng/platform", "acme/sales"}; !slices.Equal(got, want) {
		t.Errorf("submitter lists %v, want %v (a headcount of 0 is unregistered)", got, want)
	}
	for _, s := range list(auth.RoleSubmitter, "acme", 0) {
		if s.Headcount != 0 {
			t.Errorf("submitter sees the headcount of %s", s.Path)
		}
	}
	hr := list(auth.RoleHR, "acme/eng", 0)
	if got, want := paths(hr), []string{"acme/eng", "acme/eng/platform"}; !slices.Equal(got, want) {
		t.Errorf("hr lists %v under acme/eng, want %v (acme/eng-ops is not within acme/eng)", got, want)
	}
	for _, s := range hr {
		if s.Headcount != heads[s.Path] {
			t.Errorf("hr sees %s with %d people, want %d", s.Path, s.Headcount, heads[s.Path])
		}
	}
	_, err := f.client.ListSegments(f.as(auth.RoleHR), &feedbackv1.ListSegmentsRequest{SegmentPrefix: "globex"})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("ListSegments outside the token's prefix: %v, want PermissionDenied", err)
	}
	first, err := f.client.ListSegments(f.as(auth.RoleHR), &feedbackv1.ListSegmentsRequest{SegmentPrefix: "acme", PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.client.ListSegments(f.as(auth.RoleHR), &feedbackv1.ListSegmentsRequest{SegmentPrefix: "acme/sales", PageToken: first.NextPageToken})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("a cursor of another prefix: %v, want InvalidArgument", err)
	}
}
