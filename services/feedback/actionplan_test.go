package feedback_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

const (
	plPlanned    = feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_PLANNED
	plInProgress = feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_IN_PROGRESS
	plDone       = feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_DONE
	plDropped    = feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_DROPPED
)

// newPlan is a valid plan for seg, due a week after t0.
func newPlan(seg, title, owner string, dim commonv1.Dimension) *feedbackv1.ActionPlan {
	return &feedbackv1.ActionPlan{
		Segment: seg, Dimension: dim, Title: title, Description: "what we will do", OwnerGroup: owner,
		DueTime: timestamppb.New(t0.Add(7 * 24 * time.Hour)),
	}
}

func (f *fixture) createPlan(t testing.TB, ctx context.Context, p *feedbackv1.ActionPlan) *feedbackv1.ActionPlan {
	t.Helper()
	resp, err := f.client.CreateActionPlan(ctx, &feedbackv1.CreateActionPlanRequest{Plan: p})
	if err != nil {
		t.Fatalf("CreateActionPlan(%s, %q): %v", p.Segment, p.Title, err)
	}
	return resp.Plan
}

func (f *fixture) updatePlan(ctx context.Context, id string, st feedbackv1.ActionPlanStatus, note string) (*feedbackv1.ActionPlan, error) {
	resp, err := f.client.UpdateActionPlan(ctx, &feedbackv1.UpdateActionPlanRequest{PlanId: id, Status: st, Note: note})
	return resp.GetPlan(), err
}

// listPlans reads every page of req.
func listPlans(t testing.TB, f *fixture, ctx context.Context, req *feedbackv1.ListActionPlansRequest) []*feedbackv1.ActionPlan {
	t.Helper()
	var out []*feedbackv1.ActionPlan
	req = proto.Clone(req).(*feedbackv1.ListActionPlansRequest)
	for {
		resp, err := f.client.ListActionPlans(ctx, req)
		if err != nil {
			t.Fatalf("ListActionPlans(%v): %v", req, err)
		}
		out = append(out, resp.Plans...)
		if resp.NextPageToken == "" {
			return out
		}
		req.PageToken = resp.NextPageToken
	}
}

func titles(ps []*feedbackv1.ActionPlan) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Title)
	}
	return out
}

// TestActionPlanLifecycle: hr creates a plan (PLANNED, due day at midnight, links kept, event
// action_created), moves it along PLANNED → IN_PROGRESS → DONE with notes (one event per
// change), and every step outside the documented ones is FailedPrecondition on status.
func TestActionPlanLifecycle(t *testing.T) {
	f := start(t)
	hr := f.as(auth.RoleHR)
	c := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "deploys on friday hurt", SubmitterRef: "R1"})
	p := newPlan("acme/eng", "No deploys on Friday", "eng-leads", dimWorkload)
	p.Links = &feedbackv1.ActionPlanLinks{SurveyWaves: []string{"s1/3"}, AlertIds: []string{"a1"}, FeedbackIds: []string{c.FeedbackId}}
	got := f.createPlan(t, hr, p)
	if got.Id == "" || got.Status != plPlanned || got.OwnerGroup != "eng-leads" || !got.DueTime.AsTime().Equal(time.Date(2026, 3, 17, 0, 0, 0, 0, time.UTC)) ||
		!slices.Equal(got.Links.GetFeedbackIds(), []string{c.FeedbackId}) || !slices.Equal(got.Links.GetSurveyWaves(), []string{"s1/3"}) {
		t.Fatalf("created plan = %v; want PLANNED, eng-leads, due 2026-03-17, links kept", got)
	}
	msg := nextEvent(t, f, events.FeedbackActionCreated.Subject(segment.MustParse("acme/eng")))
	var ev eventsv1.ActionPlanChanged
	if err := proto.Unmarshal(msg.Data(), &ev); err != nil {
		t.Fatal(err)
	}
	if msg.Headers().Get("Nats-Msg-Id") != events.ActionCreatedID(got.Id) || ev.PlanId != got.Id || ev.Title != p.Title ||
		ev.Status != int32(plPlanned) || !ev.ChangedDay.AsTime().Equal(today(t0)) {
		t.Errorf("action_created = %s %v; want id %s, the plan, PLANNED, day %v", msg.Headers().Get("Nats-Msg-Id"), &ev, events.ActionCreatedID(got.Id), today(t0))
	}

	for _, bad := range []feedbackv1.ActionPlanStatus{plDone} {
		_, err := f.updatePlan(hr, got.Id, bad, "done already?")
		wantCode(t, err, codes.FailedPrecondition, "status")
	}
	f.clock.Add(24 * time.Hour)
	up, err := f.updatePlan(hr, got.Id, plInProgress, "freeze agreed with the team")
	if err != nil || up.Status != plInProgress || len(up.Notes) != 1 || up.Notes[0].Text != "freeze agreed with the team" {
		t.Fatalf("to IN_PROGRESS = %v, %v", up, err)
	}
	if up, err = f.updatePlan(hr, got.Id, 0, "two weeks without a friday deploy"); err != nil || up.Status != plInProgress || len(up.Notes) != 2 {
		t.Fatalf("note alone = %v, %v; want IN_PROGRESS with 2 notes", up, err)
	}
	if up, err = f.updatePlan(hr, got.Id, plDone, "the freeze is the rule now"); err != nil || up.Status != plDone || len(up.Notes) != 3 {
		t.Fatalf("to DONE = %v, %v", up, err)
	}
	if !up.UpdateDay.AsTime().Equal(today(t0.Add(24*time.Hour))) || !up.CreateDay.AsTime().Equal(today(t0)) {
		t.Errorf("days: created %v, updated %v; want %v and the next day", up.CreateDay.AsTime(), up.UpdateDay.AsTime(), today(t0))
	}
	for _, bad := range []feedbackv1.ActionPlanStatus{plInProgress, plDropped, plPlanned} {
		_, err := f.updatePlan(hr, got.Id, bad, "reopen")
		wantCode(t, err, codes.FailedPrecondition, "status")
	}
	// A plan may be dropped before it starts.
	other := f.createPlan(t, hr, newPlan("acme/eng", "Quiet room", "facilities", dimEcosystem))
	if up, err := f.updatePlan(hr, other.Id, plDropped, "no room free"); err != nil || up.Status != plDropped {
		t.Errorf("PLANNED to DROPPED = %v, %v", up, err)
	}
	want := []string{
		events.ActionUpdatedID(got.Id, 1), events.ActionUpdatedID(got.Id, 2), events.ActionUpdatedID(got.Id, 3),
		events.ActionUpdatedID(other.Id, 1),
	}
	waitPublished(t, f, 1+2+len(want))
	ids := publishedIDs(t, f, events.FeedbackActionUpdated.All())
	slices.Sort(ids)
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("action_updated ids = %v, want %v", ids, want)
	}

	// Kept across a restart.
	f.svc.Close()
	f.restart(t)
	r, err := f.client.GetActionPlan(f.as(auth.RoleManager), &feedbackv1.GetActionPlanRequest{PlanId: got.Id})
	if err != nil || r.Plan.Status != plDone || len(r.Plan.Notes) != 3 || r.Plan.Notes[2].Status != plDone {
		t.Errorf("GetActionPlan after restart = %v, %v", r.GetPlan(), err)
	}
}

// today is the UTC midnight of t.
func today(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// TestActionPlanRoles: hr and admin create and update within their prefix; managers and
// submitters do not; a manager reads the plans of their subtree only, and a plan outside the
// caller's prefix is NotFound like an unknown id.
func TestActionPlanRoles(t *testing.T) {
	f := start(t)
	hr, admin := f.as(auth.RoleHR), f.as(auth.RoleAdmin)
	eng := f.createPlan(t, hr, newPlan("acme/eng", "eng plan", "eng-leads", 0))
	sales := f.createPlan(t, admin, newPlan("acme/sales", "sales plan", "sales-leads", 0))
	if _, err := f.updatePlan(admin, eng.Id, plInProgress, "started"); err != nil {
		t.Errorf("admin UpdateActionPlan: %v", err)
	}
	for _, role := range []auth.Role{auth.RoleManager, auth.RoleSubmitter} {
		_, err := f.client.CreateActionPlan(f.as(role), &feedbackv1.CreateActionPlanRequest{Plan: newPlan("acme/eng", "x", "g", 0)})
		wantCode(t, err, codes.PermissionDenied, "")
		_, err = f.updatePlan(f.as(role), eng.Id, 0, "note")
		wantCode(t, err, codes.PermissionDenied, "")
	}
	_, err := f.client.GetActionPlan(f.as(auth.RoleSubmitter), &feedbackv1.GetActionPlanRequest{PlanId: eng.Id})
	wantCode(t, err, codes.PermissionDenied, "")

	other := servicetest.WithToken(context.Background(), f.env.OtherHR)
	_, err = f.client.CreateActionPlan(other, &feedbackv1.CreateActionPlanRequest{Plan: newPlan("acme/eng", "x", "g", 0)})
	wantCode(t, err, codes.PermissionDenied, "plan.segment")
	_, err = f.client.GetActionPlan(other, &feedbackv1.GetActionPlanRequest{PlanId: eng.Id})
	wantCode(t, err, codes.NotFound, "plan_id")
	_, err = f.updatePlan(other, eng.Id, 0, "note")
	wantCode(t, err, codes.NotFound, "plan_id")

	sub := servicetest.WithToken(context.Background(), f.env.SubtreeManager)
	if r, err := f.client.GetActionPlan(sub, &feedbackv1.GetActionPlanRequest{PlanId: eng.Id}); err != nil || r.Plan.OwnerGroup != "eng-leads" {
		t.Errorf("subtree manager GetActionPlan(eng) = %v, %v; want the plan with its owner", r.GetPlan(), err)
	}
	_, err = f.client.GetActionPlan(sub, &feedbackv1.GetActionPlanRequest{PlanId: sales.Id})
	wantCode(t, err, codes.NotFound, "plan_id")
	if got := titles(listPlans(t, f, sub, &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme/eng"})); !slices.Equal(got, []string{"eng plan"}) {
		t.Errorf("subtree manager lists %v, want [eng plan]", got)
	}
	_, err = f.client.ListActionPlans(sub, &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme"})
	wantCode(t, err, codes.PermissionDenied, "segment_prefix")

	// A linked comment the caller cannot read is NotFound on its field, and nothing is stored.
	c := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "text", SubmitterRef: "R"})
	p := newPlan("acme/eng", "linked", "g", 0)
	p.Links = &feedbackv1.ActionPlanLinks{FeedbackIds: []string{c.FeedbackId, "nosuchcomment"}}
	_, err = f.client.CreateActionPlan(hr, &feedbackv1.CreateActionPlanRequest{Plan: p})
	wantCode(t, err, codes.NotFound, "plan.links.feedback_ids[1]")
	if got := titles(listPlans(t, f, hr, &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme"})); slices.Contains(got, "linked") {
		t.Errorf("a refused plan was stored: %v", got)
	}
}

// TestListActionPlans: filters, path order, paging stable under inserts, tokens bound to the
// filters, and "you said, we did": a submitter lists the plans of a segment and its ancestors,
// without owner group or links.
func TestListActionPlans(t *testing.T) {
	f := start(t)
	hr := f.as(auth.RoleHR)
	c := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng/platform", Text: "text", SubmitterRef: "R"})
	f.createPlan(t, hr, newPlan("acme", "org plan", "people-team", 0))
	eng := f.createPlan(t, hr, newPlan("acme/eng", "eng plan", "eng-leads", dimWorkload))
	lp := newPlan("acme/eng/platform", "platform plan", "eng-leads", dimEcosystem)
	lp.Links = &feedbackv1.ActionPlanLinks{FeedbackIds: []string{c.FeedbackId}}
	f.createPlan(t, hr, lp)
	f.createPlan(t, hr, newPlan("acme/engineering", "engineering plan", "eng-leads", dimWorkload))
	f.createPlan(t, hr, newPlan("acme/sales", "sales plan", "sales-leads", dimWorkload))
	if _, err := f.updatePlan(hr, eng.Id, plInProgress, "started"); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		req  *feedbackv1.ListActionPlansRequest
		want []string
	}{
		{"whole org, path order", &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme"},
			[]string{"org plan", "eng plan", "platform plan", "engineering plan", "sales plan"}},
		{"subtree by whole elements", &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme/eng"}, []string{"eng plan", "platform plan"}},
		{"status", &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme", Status: plInProgress}, []string{"eng plan"}},
		{"owner group", &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme", OwnerGroup: "eng-leads"},
			[]string{"eng plan", "platform plan", "engineering plan"}},
		{"dimension", &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme", Dimension: dimWorkload},
			[]string{"eng plan", "engineering plan", "sales plan"}},
		{"for a segment: it and its ancestors", &feedbackv1.ListActionPlansRequest{ForSegment: "acme/eng/platform"},
			[]string{"org plan", "eng plan", "platform plan"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := titles(listPlans(t, f, hr, tc.req)); !slices.Equal(got, tc.want) {
				t.Errorf("listed %v, want %v", got, tc.want)
			}
		})
	}

	bot := f.as(auth.RoleSubmitter)
	mine := listPlans(t, f, bot, &feedbackv1.ListActionPlansRequest{ForSegment: "acme/eng/platform", PageSize: 1})
	if got := titles(mine); !slices.Equal(got, []string{"org plan", "eng plan", "platform plan"}) {
		t.Errorf("submitter for_segment lists %v", got)
	}
	for _, p := range mine {
		if p.OwnerGroup != "" || p.Links != nil {
			t.Errorf("submitter sees owner %q and links %v of %q; want neither", p.OwnerGroup, p.Links, p.Title)
		}
	}
	if len(mine[1].Notes) != 1 || mine[1].Notes[0].Text != "started" {
		t.Errorf("submitter sees notes %v of the eng plan, want the progress note", mine[1].Notes)
	}
	_, err := f.client.ListActionPlans(bot, &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme"})
	wantCode(t, err, codes.PermissionDenied, "segment_prefix")
	_, err = f.client.ListActionPlans(bot, &feedbackv1.ListActionPlansRequest{ForSegment: "acme/eng", OwnerGroup: "eng-leads"})
	wantCode(t, err, codes.PermissionDenied, "owner_group")

	// Paging: a plan created between two pages after the cursor is listed, none repeats.
	first, err := f.client.ListActionPlans(hr, &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme", PageSize: 2})
	if err != nil || len(first.Plans) != 2 || first.NextPageToken == "" {
		t.Fatalf("page 1 = %v, %v", first, err)
	}
	f.createPlan(t, hr, newPlan("acme/aaa", "before the cursor", "g", 0))
	f.createPlan(t, hr, newPlan("acme/zzz", "after the cursor", "g", 0))
	rest := listPlans(t, f, hr, &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme", PageSize: 2, PageToken: first.NextPageToken})
	all := append(titles(first.Plans), titles(rest)...)
	// "acme/aaa" sorts before the cursor ("acme/eng"): it is not listed, and shifts nothing.
	if want := []string{"org plan", "eng plan", "platform plan", "engineering plan", "sales plan", "after the cursor"}; !slices.Equal(all, want) {
		t.Errorf("pages = %v, want %v", all, want)
	}
	_, err = f.client.ListActionPlans(hr, &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme", PageSize: 2, Status: plPlanned, PageToken: first.NextPageToken})
	wantCode(t, err, codes.InvalidArgument, "page_token")
}

// TestThreadShowsLinkedPlans: the author of a comment a plan links sees the plan's title and
// status in their thread, and follows its status.
func TestThreadShowsLinkedPlans(t *testing.T) {
	f := start(t)
	hr := f.as(auth.RoleHR)
	c := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "no quiet place to work", SubmitterRef: "R"})
	unlinked := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "other", SubmitterRef: "R2"})
	p := newPlan("acme/eng", "A quiet room on floor 2", "facilities", dimEcosystem)
	p.Links = &feedbackv1.ActionPlanLinks{FeedbackIds: []string{c.FeedbackId}}
	plan := f.createPlan(t, hr, p)
	if _, err := f.updatePlan(hr, plan.Id, plInProgress, "room booked"); err != nil {
		t.Fatal(err)
	}
	bot := f.as(auth.RoleSubmitter)
	th, err := f.client.GetThread(bot, &feedbackv1.GetThreadRequest{FollowUpToken: c.FollowUpToken})
	if err != nil {
		t.Fatal(err)
	}
	if len(th.ActionPlans) != 1 || th.ActionPlans[0].Title != p.Title || th.ActionPlans[0].Status != plInProgress || th.ActionPlans[0].Id != plan.Id {
		t.Errorf("thread plans = %v; want %q IN_PROGRESS", th.ActionPlans, p.Title)
	}
	th, err = f.client.GetThread(bot, &feedbackv1.GetThreadRequest{FollowUpToken: unlinked.FollowUpToken})
	if err != nil || len(th.ActionPlans) != 0 {
		t.Errorf("unlinked thread plans = %v, %v; want none", th.GetActionPlans(), err)
	}
}

// TestLoopStatsCountPlans: open, done and overdue plans within the prefix, even where the
// comment statistics are hidden.
func TestLoopStatsCountPlans(t *testing.T) {
	f := start(t)
	hr := f.as(auth.RoleHR)
	a := f.createPlan(t, hr, newPlan("acme/eng", "a", "g", 0))
	b := f.createPlan(t, hr, newPlan("acme/eng/platform", "b", "g", 0))
	late := newPlan("acme/eng", "late", "g", 0)
	late.DueTime = timestamppb.New(t0.Add(24 * time.Hour))
	f.createPlan(t, hr, late)
	f.createPlan(t, hr, newPlan("acme/sales", "elsewhere", "g", 0))
	for _, st := range []feedbackv1.ActionPlanStatus{plInProgress, plDone} {
		if _, err := f.updatePlan(hr, a.Id, st, "step"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.updatePlan(hr, b.Id, plDropped, "not needed"); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(3 * 24 * time.Hour)
	r, err := f.client.GetLoopStats(hr, &feedbackv1.GetLoopStatsRequest{SegmentPrefix: "acme/eng"})
	if err != nil {
		t.Fatal(err)
	}
	if r.PlansOpen != 1 || r.PlansDone != 1 || r.PlansOverdue != 1 {
		t.Errorf("plans open %d, done %d, overdue %d; want 1, 1, 1", r.PlansOpen, r.PlansDone, r.PlansOverdue)
	}
}

// TestPlanDueIsPublishedOnce: a plan still open after its due day gets one action_due event,
// however often the check runs; a plan done in time gets none.
func TestPlanDueIsPublishedOnce(t *testing.T) {
	f := start(t)
	hr := f.as(auth.RoleHR)
	open := f.createPlan(t, hr, newPlan("acme/eng", "open", "g", 0))
	done := f.createPlan(t, hr, newPlan("acme/eng", "done", "g", 0))
	for _, st := range []feedbackv1.ActionPlanStatus{plInProgress, plDone} {
		if _, err := f.updatePlan(hr, done.Id, st, "step"); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := f.svc.CheckPlanDeadlines(); err != nil || n != 0 {
		t.Fatalf("check before the due day = %d, %v; want 0", n, err)
	}
	f.clock.Add(8 * 24 * time.Hour)
	for i, want := range []int{1, 0} {
		if n, err := f.svc.CheckPlanDeadlines(); err != nil || n != want {
			t.Fatalf("check %d = %d, %v; want %d", i, n, err, want)
		}
	}
	want := events.ActionDueID(open.Id, "2026-03-17")
	waitPublished(t, f, 2+2+1)
	if ids := publishedIDs(t, f, events.FeedbackActionDue.All()); !slices.Equal(ids, []string{want}) {
		t.Errorf("action_due ids = %v, want [%s]", ids, want)
	}
}

// TestActionPlansRejectBadInput: one case per rule, each naming its field.
func TestActionPlansRejectBadInput(t *testing.T) {
	f := start(t)
	hr := f.as(auth.RoleHR)
	plan := f.createPlan(t, hr, newPlan("acme/eng", "p", "g", 0))
	mod := func(fn func(p *feedbackv1.ActionPlan)) *feedbackv1.ActionPlan {
		p := newPlan("acme/eng", "title", "g", 0)
		fn(p)
		return p
	}
	many := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("id%d", i))
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		plan  *feedbackv1.ActionPlan
		field string
	}{
		{"no plan", nil, "plan"},
		{"bad segment", mod(func(p *feedbackv1.ActionPlan) { p.Segment = "Acme" }), "plan.segment"},
		{"unknown dimension", mod(func(p *feedbackv1.ActionPlan) { p.Dimension = 99 }), "plan.dimension"},
		{"no title", mod(func(p *feedbackv1.ActionPlan) { p.Title = "  " }), "plan.title"},
		{"long title", mod(func(p *feedbackv1.ActionPlan) { p.Title = strings.Repeat("é", 201) }), "plan.title"},
		{"NUL in title", mod(func(p *feedbackv1.ActionPlan) { p.Title = "a\x00b" }), "plan.title"},
		{"long description", mod(func(p *feedbackv1.ActionPlan) { p.Description = strings.Repeat("a", 4001) }), "plan.description"},
		{"bad owner group", mod(func(p *feedbackv1.ActionPlan) { p.OwnerGroup = "Eng Leads" }), "plan.owner_group"},
		{"no due time", mod(func(p *feedbackv1.ActionPlan) { p.DueTime = nil }), "plan.due_time"},
		{"invalid due time", mod(func(p *feedbackv1.ActionPlan) { p.DueTime = &timestamppb.Timestamp{Nanos: -1} }), "plan.due_time"},
		{"too many waves", mod(func(p *feedbackv1.ActionPlan) {
			p.Links = &feedbackv1.ActionPlanLinks{SurveyWaves: many(21)}
		}), "plan.links.survey_waves"},
		{"empty alert id", mod(func(p *feedbackv1.ActionPlan) {
			p.Links = &feedbackv1.ActionPlanLinks{AlertIds: []string{"a", ""}}
		}), "plan.links.alert_ids[1]"},
		{"alert id with a space", mod(func(p *feedbackv1.ActionPlan) {
			p.Links = &feedbackv1.ActionPlanLinks{AlertIds: []string{"a b"}}
		}), "plan.links.alert_ids[0]"},
		{"duplicate wave", mod(func(p *feedbackv1.ActionPlan) {
			p.Links = &feedbackv1.ActionPlanLinks{SurveyWaves: []string{"s/1", "s/1"}}
		}), "plan.links.survey_waves[1]"},
		{"too many comments", mod(func(p *feedbackv1.ActionPlan) {
			p.Links = &feedbackv1.ActionPlanLinks{FeedbackIds: many(51)}
		}), "plan.links.feedback_ids"},
		{"duplicate comment", mod(func(p *feedbackv1.ActionPlan) {
			p.Links = &feedbackv1.ActionPlanLinks{FeedbackIds: []string{"c", "c"}}
		}), "plan.links.feedback_ids[1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.CreateActionPlan(hr, &feedbackv1.CreateActionPlanRequest{Plan: tc.plan})
			wantCode(t, err, codes.InvalidArgument, tc.field)
		})
	}
	for _, tc := range []struct {
		name  string
		req   *feedbackv1.UpdateActionPlanRequest
		field string
	}{
		{"no id", &feedbackv1.UpdateActionPlanRequest{Note: "n"}, "plan_id"},
		{"unknown status", &feedbackv1.UpdateActionPlanRequest{PlanId: plan.Id, Status: 9, Note: "n"}, "status"},
		{"status without a note", &feedbackv1.UpdateActionPlanRequest{PlanId: plan.Id, Status: plInProgress}, "note"},
		{"nothing to change", &feedbackv1.UpdateActionPlanRequest{PlanId: plan.Id}, "note"},
		{"long note", &feedbackv1.UpdateActionPlanRequest{PlanId: plan.Id, Note: strings.Repeat("a", 2001)}, "note"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.UpdateActionPlan(hr, tc.req)
			wantCode(t, err, codes.InvalidArgument, tc.field)
		})
	}
	_, err := f.client.GetActionPlan(hr, &feedbackv1.GetActionPlanRequest{})
	wantCode(t, err, codes.InvalidArgument, "plan_id")
	_, err = f.client.GetActionPlan(hr, &feedbackv1.GetActionPlanRequest{PlanId: "nosuchplan"})
	wantCode(t, err, codes.NotFound, "plan_id")
	for _, tc := range []struct {
		name  string
		req   *feedbackv1.ListActionPlansRequest
		field string
	}{
		{"neither", &feedbackv1.ListActionPlansRequest{}, "segment_prefix"},
		{"both", &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme", ForSegment: "acme/eng"}, "for_segment"},
		{"bad prefix", &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme/"}, "segment_prefix"},
		{"bad for_segment", &feedbackv1.ListActionPlansRequest{ForSegment: "ACME"}, "for_segment"},
		{"unknown status", &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme", Status: 7}, "status"},
		{"bad owner group", &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme", OwnerGroup: "A B"}, "owner_group"},
		{"unknown dimension", &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme", Dimension: 42}, "dimension"},
		{"page size", &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme", PageSize: 201}, "page_size"},
		{"page token", &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme", PageToken: "garbage"}, "page_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.ListActionPlans(hr, tc.req)
			wantCode(t, err, codes.InvalidArgument, tc.field)
		})
	}
}
