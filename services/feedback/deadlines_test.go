package feedback_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

const day = 24 * time.Hour

func (f *fixture) checkDeadlines(t testing.TB) int {
	t.Helper()
	n, err := f.svc.CheckDeadlines()
	if err != nil {
		t.Fatalf("CheckDeadlines: %v", err)
	}
	return n
}

func TestDeadlinesEmitOverdueOncePerCommentAndKind(t *testing.T) {
	f := start(t)
	hr := f.as(auth.RoleHR)
	f.headcount(t, "acme/eng", 10)
	var c [3]string
	for i := range c {
		c[i] = f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng/platform", Text: "slow CI", SubmitterRef: fmt.Sprint(i)}).FeedbackId
	}
	if _, err := f.client.AssignOwner(hr, &feedbackv1.AssignOwnerRequest{FeedbackId: c[0], OwnerGroup: "dev-productivity"}); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(day)
	if _, err := f.setStatus(hr, c[1], stAck, "looking"); err != nil {
		t.Fatal(err)
	}
	// Deadlines count from the day the comment was made (10:17 on day 0): the acknowledge
	// deadline passes at midnight starting day 7.
	f.clock.Add(5*day + 13*time.Hour) // day 6, 23:17
	if n := f.checkDeadlines(t); n != 0 {
		t.Fatalf("%d overdue before the deadline", n)
	}
	f.clock.Add(time.Hour) // day 7, 00:17
	if n := f.checkDeadlines(t); n != 2 {
		t.Fatalf("%d acknowledge deadlines missed, want 2 (c0, c2)", n)
	}
	if n := f.checkDeadlines(t); n != 0 {
		t.Fatalf("%d more on a second check, want 0: once per comment and kind", n)
	}
	// Restarting does not report them again.
	f.svc.Close()
	f.restart(t)
	if n := f.checkDeadlines(t); n != 0 {
		t.Fatalf("%d after a restart, want 0", n)
	}
	if _, err := f.setStatus(hr, c[2], stDeclined, "not this quarter"); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(23 * day)
	if n := f.checkDeadlines(t); n != 2 {
		t.Fatalf("%d resolve deadlines missed, want 2 (c0 new, c1 acknowledged; c2 declined)", n)
	}
	if n := f.checkDeadlines(t); n != 0 {
		t.Fatalf("%d more, want 0", n)
	}

	waitPublished(t, f, 3+1+1+4)
	got := publishedIDs(t, f, events.FeedbackOverdue.All())
	want := []string{
		events.OverdueID(c[0], "acknowledge"), events.OverdueID(c[2], "acknowledge"),
		events.OverdueID(c[0], "resolve"), events.OverdueID(c[1], "resolve"),
	}
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("overdue events %v, want %v", got, want)
	}
	msg := nextEvent(t, f, events.FeedbackOverdue.Subject(segment.MustParse("acme/eng")))
	var ev eventsv1.FeedbackOverdue
	if err := proto.Unmarshal(msg.Data(), &ev); err != nil {
		t.Fatal(err)
	}
	due := t0.Truncate(day).Add(7 * day)
	if ev.Segment != "acme/eng" || ev.Deadline != eventsv1.FeedbackOverdue_DEADLINE_ACKNOWLEDGE || ev.Status != stNew || !ev.DueDay.AsTime().Equal(due) {
		t.Errorf("first overdue event = %v, want acme/eng, ACKNOWLEDGE, NEW, due %v", &ev, due)
	}
	if ev.FeedbackId == c[0] && ev.OwnerGroup != "dev-productivity" {
		t.Errorf("overdue event of c0 carries owner %q", ev.OwnerGroup)
	}
}

func TestLoopStats(t *testing.T) {
	f := start(t)
	hr := f.as(auth.RoleHR)
	f.headcount(t, "acme/eng", 30)
	var c []string
	for i := range 5 {
		c = append(c, f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng/platform", Text: "x", SubmitterRef: fmt.Sprint("person", i)}).FeedbackId)
	}
	// Four people write six comments in acme/sales: too few people, however many comments.
	f.headcount(t, "acme/sales", 30)
	for i := range 6 {
		f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/sales", Text: "x", SubmitterRef: fmt.Sprint("seller", i%4)})
	}
	step := func(days int, id string, st ...string) {
		t.Helper()
		f.clock.Set(t0.Add(time.Duration(days) * day))
		for _, s := range st {
			if _, err := f.setStatus(hr, id, map[string]commonv1.FeedbackStatus{"ack": stAck, "res": stResolved, "dec": stDeclined}[s], s); err != nil {
				t.Fatalf("%s %s: %v", id, s, err)
			}
		}
	}
	step(1, c[0], "ack")
	step(2, c[2], "dec") // acknowledged and closed in 2 days
	step(3, c[1], "ack")
	step(5, c[0], "res")
	f.clock.Set(t0.Add(8 * day))

	stats := func(ctx context.Context, prefix string) *feedbackv1.GetLoopStatsResponse {
		t.Helper()
		r, err := f.client.GetLoopStats(ctx, &feedbackv1.GetLoopStatsRequest{SegmentPrefix: prefix})
		if err != nil {
			t.Fatalf("GetLoopStats(%s): %v", prefix, err)
		}
		return r
	}
	got := stats(hr, "acme/eng")
	if got.Hidden {
		t.Fatalf("stats of acme/eng hidden with 5 people")
	}
	wantStatus := map[string]uint32{
		"FEEDBACK_STATUS_NEW": 2, "FEEDBACK_STATUS_ACKNOWLEDGED": 1, "FEEDBACK_STATUS_IN_PROGRESS": 0,
		"FEEDBACK_STATUS_RESOLVED": 1, "FEEDBACK_STATUS_DECLINED": 1,
	}
	for k, v := range wantStatus {
		if got.ByStatus[k] != v {
			t.Errorf("by_status[%s] = %d, want %d", k, got.ByStatus[k], v)
		}
	}
	if d := got.MedianTimeToAcknowledge.AsDuration(); d != 2*day {
		t.Errorf("median time to acknowledge = %v, want 2 days (1, 2, 3)", d)
	}
	if d := got.MedianTimeToResolve.AsDuration(); d != 3*day+12*time.Hour {
		t.Errorf("median time to resolve = %v, want 3.5 days (2, 5)", d)
	}
	if got.OpenLoopRate != 0.4 {
		t.Errorf("open loop rate = %v, want 0.4 (two NEW past 7 days of five)", got.OpenLoopRate)
	}
	if org := stats(hr, "acme"); org.Hidden || org.ByStatus["FEEDBACK_STATUS_NEW"] != 8 {
		t.Errorf("stats of acme = %v, want shown with 8 NEW", org)
	}
	for _, prefix := range []string{"acme/sales", "acme/eng/platform", "acme/hr"} {
		if r := stats(hr, prefix); !r.Hidden || r.ByStatus != nil || r.OpenLoopRate != 0 || r.MedianTimeToAcknowledge != nil {
			t.Errorf("stats of %s = %v, want hidden and empty", prefix, r)
		}
	}
	mgr := servicetest.WithToken(context.Background(), f.env.SubtreeManager)
	if r := stats(mgr, "acme/eng"); r.Hidden {
		t.Error("manager of acme/eng cannot see its loop stats")
	}
	_, err := f.client.GetLoopStats(mgr, &feedbackv1.GetLoopStatsRequest{SegmentPrefix: "acme"})
	wantCode(t, err, codes.PermissionDenied, "segment_prefix")
	_, err = f.client.GetLoopStats(hr, &feedbackv1.GetLoopStatsRequest{SegmentPrefix: "acme/"})
	wantCode(t, err, codes.InvalidArgument, "segment_prefix")
}

// TestDeadlinesOfALongBacklogCommitInSteps: when many days of comments reach their deadlines
// at once (a service down for weeks, a first check on a store from before deadlines), the
// check commits every DeadlineChunk comments or so, at the end of a day, instead of holding
// the writer lock and every event in one transaction; each deadline is still reported once.
func TestDeadlinesOfALongBacklogCommitInSteps(t *testing.T) {
	const days, perDay = 50, 100
	f := start(t)
	n := days * perDay
	if n <= feedback.DeadlineChunk+perDay {
		t.Fatalf("%d comments fit in one transaction of %d: the test needs more", n, feedback.DeadlineChunk+perDay)
	}
	day0 := t0.Truncate(day)
	if err := f.svc.FillComments(n, 500, func(i int) *store.Comment {
		d := day0.AddDate(0, 0, i%days)
		return &store.Comment{ID: fmt.Sprintf("c%05d", i), AuthorSegment: segment.MustParse("acme/eng"), Text: "slow CI",
			Status: stNew, CreateDay: d, UpdateDay: d}
	}); err != nil {
		t.Fatal(err)
	}
	f.clock.Add((days + 40) * day) // every comment past both deadlines
	var steps []int
	f.svc.DeadlineCommitted(func(checked int) { steps = append(steps, checked) }) // CheckDeadlines runs here, in this goroutine
	if got := f.checkDeadlines(t); got != 2*n {
		t.Fatalf("%d deadlines missed, want %d (each comment, both kinds)", got, 2*n)
	}
	// A transaction holds at most DeadlineChunk comments and the rest of the day that
	// reaches it.
	if len(steps) < 2*n/(feedback.DeadlineChunk+perDay) || slices.Max(steps) > feedback.DeadlineChunk+perDay {
		t.Errorf("%d deadlines checked in transactions of %v, want each at most %d", 2*n, steps, feedback.DeadlineChunk+perDay)
	}
	f.svc.DeadlineCommitted(func(int) {})
	if got := f.checkDeadlines(t); got != 0 {
		t.Fatalf("%d more on a second check, want 0: once per comment and kind", got)
	}
	f.outboxDrained(t) // every event published (polling the stream instead would load the server)
	ids := publishedIDs(t, f, events.FeedbackOverdue.All())
	if len(ids) != 2*n || len(slices.Compact(sorted(ids))) != 2*n {
		t.Errorf("%d overdue events (%d distinct), want %d", len(ids), len(slices.Compact(sorted(ids))), 2*n)
	}
}
