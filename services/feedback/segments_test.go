package feedback_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
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

// FeedbackService.UpsertSegment is deprecated for the one segment registry, the pulse
// service's: it answers FailedPrecondition naming PulseService.UpsertSegment, for any caller
// it admits, and writes nothing.
func TestUpsertSegmentIsDeprecated(t *testing.T) {
	f := start(t)
	id := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "slow builds", SubmitterRef: "U1"}).FeedbackId
	for _, ctx := range []context.Context{f.as(auth.RoleHR), f.as(auth.RoleAdmin)} {
		for _, req := range []*feedbackv1.UpsertSegmentRequest{{Path: "acme/eng", Headcount: 40}, {Path: "acme", Headcount: 0}, {Path: "Not A Path"}} {
			_, err := f.client.UpsertSegment(ctx, req)
			wantCode(t, err, codes.FailedPrecondition, "path")
			if msg := status.Convert(err).Message(); !strings.Contains(msg, "PulseService.UpsertSegment") {
				t.Errorf("UpsertSegment(%v) = %q, want it to name PulseService.UpsertSegment", req, msg)
			}
		}
	}
	_, err := f.client.UpsertSegment(f.as(auth.RoleManager), &feedbackv1.UpsertSegmentRequest{Path: "acme/eng", Headcount: 40})
	wantCode(t, err, codes.PermissionDenied, "")
	// Nothing was written: no segment is listed, and the comment is still shown under the
	// organisation only.
	if got, err := f.client.ListSegments(f.as(auth.RoleHR), &feedbackv1.ListSegmentsRequest{SegmentPrefix: "acme"}); err != nil || len(got.Segments) != 0 {
		t.Errorf("ListSegments after UpsertSegment = %v, %v; want none", got, err)
	}
	if c := f.shownUnder(t, id); c != "acme" {
		t.Errorf("comment shown under %q after UpsertSegment, want acme", c)
	}
}

// shownUnder is the segment hr sees comment id under.
func (f *fixture) shownUnder(t testing.TB, id string) string {
	t.Helper()
	r, err := f.client.GetFeedback(f.as(auth.RoleHR), &feedbackv1.GetFeedbackRequest{FeedbackId: id})
	if err != nil {
		t.Fatalf("GetFeedback(%s): %v", id, err)
	}
	return r.Feedback.Segment
}

// Headcounts are the pulse service's segment registry, received as SegmentUpserted events: the
// highest version of an entry wins, so an older or repeated event changes nothing, headcount 0
// unregisters a segment (and an older event does not register it again), an event that can
// never apply does not hold up the ones after it, and the copy survives a restart.
func TestHeadcountsFollowTheRegistryVersion(t *testing.T) {
	f := start(t)
	id := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng/platform", Text: "on-call is heavy", SubmitterRef: "U1"}).FeedbackId
	check := func(step string, wantListed uint32, wantShown string) {
		t.Helper()
		if got, err := f.listedHeadcount("acme/eng"); err != nil || got != wantListed {
			t.Errorf("%s: ListSegments shows acme/eng with %d (%v), want %d", step, got, err, wantListed)
		}
		if got := f.shownUnder(t, id); got != wantShown {
			t.Errorf("%s: comment shown under %s, want %s", step, got, wantShown)
		}
	}
	// waitListed waits until the registry's copy lists acme/eng with n people.
	waitListed := func(n uint32) {
		t.Helper()
		f.segmentsApplied(t)
		if got, err := f.listedHeadcount("acme/eng"); err != nil || got != n {
			t.Fatalf("acme/eng listed with %d (%v) once the registry's events were applied, want %d", got, err, n)
		}
	}

	f.publishSegment(t, "acme/eng", 12, 5)
	waitListed(12)
	check("version 5", 12, "acme/eng")

	f.publishSegment(t, "acme/eng", 3, 4) // older
	f.publishSegment(t, "acme/eng", 3, 5) // a repeat of version 5
	f.segmentsApplied(t)
	check("older and repeated versions", 12, "acme/eng")

	f.publishSegment(t, "acme/eng", 0, 6) // unregistered
	waitListed(0)
	check("version 6, unregistered", 0, "acme")
	f.publishSegment(t, "acme/eng", 40, 5) // older than the unregistration
	f.segmentsApplied(t)
	check("an older version after the unregistration", 0, "acme")

	// An event that can never apply is set aside; the next one applies.
	f.publish(t, events.PulseSegmentUpserted, events.SegmentUpsertedID("acme//eng", 7), segment.MustParse("acme/eng"),
		&eventsv1.SegmentUpserted{Path: "acme//eng", Headcount: 99, Version: 7})
	f.publishSegment(t, "acme/eng", 20, 7)
	waitListed(20)
	check("version 7 after a malformed event", 20, "acme/eng")

	// The copy and the consumer's place survive a restart: nothing is applied twice.
	f.svc.Close()
	f.restart(t)
	f.segmentsApplied(t)
	check("after a restart", 20, "acme/eng")
}
