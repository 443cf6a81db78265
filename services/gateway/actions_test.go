package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/auth"
)

// TestFeedbackActionsListsThePlansOfTheTeamAndAbove: /feedback actions, through the signed
// Slack endpoint, lists the action plans of the person's team and its ancestors (not of other
// teams), with status, due day and latest note, never their owner group; in French for a
// person who chose French; read tolerantly; a longer text starting with "actions" stays a
// comment; a person without a team is asked for one.
func TestFeedbackActionsListsThePlansOfTheTeamAndAbove(t *testing.T) {
	f := start(t, "")
	f.register(t, acmeTeams)
	hr := f.env.As(context.Background(), auth.RoleHR)
	due := time.Date(2027, time.March, 2, 15, 0, 0, 0, time.UTC)
	create := func(seg, title, owner string, dim commonv1.Dimension) string {
		t.Helper()
		r, err := f.feedback.CreateActionPlan(hr, &feedbackv1.CreateActionPlanRequest{Plan: &feedbackv1.ActionPlan{
			Segment: seg, Dimension: dim, Title: title, Description: "what we will do", OwnerGroup: owner, DueTime: timestamppb.New(due),
		}})
		if err != nil {
			t.Fatalf("CreateActionPlan %s: %v", title, err)
		}
		return r.Plan.Id
	}
	company := create("acme", "Four-day week trial", "people-ops", commonv1.Dimension_DIMENSION_UNSPECIFIED)
	create("acme/eng", "On-call rota review", "eng-leads", commonv1.Dimension_DIMENSION_WORKLOAD)
	create("acme/sales", "Quota reset", "sales-leads", commonv1.Dimension_DIMENSION_RECOGNITION)
	if _, err := f.feedback.UpdateActionPlan(hr, &feedbackv1.UpdateActionPlanRequest{PlanId: company,
		Status: feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_IN_PROGRESS, Note: "two teams started"}); err != nil {
		t.Fatal(err)
	}

	if got := f.command(t, "actions"); !strings.Contains(got, "/feedback team") {
		t.Fatalf("person without a team: %q, want to be asked for one", got)
	}
	f.command(t, "team acme/eng")
	for _, typed := range []string{"actions", "  *Actions*.", "/feedback ACTION please"} {
		got := f.command(t, typed)
		for _, want := range []string{"What is being done", "*Four-day week trial* (acme): in progress, due 2 Mar 2027",
			"two teams started", "*On-call rota review* (acme/eng, workload): planned, due 2 Mar 2027"} {
			if !strings.Contains(got, want) {
				t.Errorf("%q answered %q, lacking %q", typed, got, want)
			}
		}
		for _, never := range []string{"Quota reset", "people-ops", "eng-leads", "follow-up code"} {
			if strings.Contains(got, never) {
				t.Errorf("%q answered %q, holding %q", typed, got, never)
			}
		}
	}

	f.command(t, "lang fr")
	got := f.command(t, "actions")
	for _, want := range []string{"Ce qui est fait", "en cours, échéance le 2 mars 2027", "(acme/eng, charge de travail): prévu", "dernier point"} {
		if !strings.Contains(got, want) {
			t.Errorf("in French: %q lacks %q", got, want)
		}
	}

	if got := f.commandAs(t, teamID, "U0SUPPORT", "/feedback", "team acme/support"); !strings.Contains(got, "Got it") {
		t.Fatalf("team: %q", got)
	}
	if got := f.commandAs(t, teamID, "U0SUPPORT", "/feedback", "actions"); !strings.Contains(got, "Four-day week trial") || strings.Contains(got, "On-call") {
		t.Errorf("acme/support: %q, want the company's plan only", got)
	}

	// Three words or more starting with "actions" is feedback, filed as any comment.
	if got := f.command(t, "actions speak louder than words"); codeRE.FindStringSubmatch(got) == nil {
		t.Errorf("comment starting with actions: %q, want it submitted", got)
	}
	if n := len(f.comments(t, "acme")); n != 1 {
		t.Errorf("%d comments filed, want 1 (the subcommands filed nothing)", n)
	}
}
