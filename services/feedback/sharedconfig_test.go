package feedback_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/natstest"
)

// configRevision is the shared bucket's latest revision of key, a deletion included.
func configRevision(t *testing.T, f *fixture, key string) uint64 {
	t.Helper()
	ctx := context.Background()
	kv, err := f.env.JetStream(t).KeyValue(ctx, feedback.ConfigBucket)
	if err != nil {
		t.Fatalf("bucket %s: %v", feedback.ConfigBucket, err)
	}
	w, err := kv.Watch(ctx, key, jetstream.MetaOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var rev uint64
	for e := range w.Updates() {
		if e == nil {
			break
		}
		rev = e.Revision()
	}
	if rev == 0 {
		t.Fatalf("%s is not in %s", key, feedback.ConfigBucket)
	}
	return rev
}

// configApplied waits until r applied revision rev of the shared configuration.
func configApplied(t *testing.T, r *replica, rev uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.svc.WaitConfig(ctx, rev); err != nil {
		t.Fatal(err)
	}
}

// scoreOn submits a comment on r from seg, publishes its score and returns it once r applied
// the score.
func scoreOn(t *testing.T, f *fixture, r *replica, seg, ref string) *feedbackv1.Feedback {
	t.Helper()
	v := r.view(f)
	id := v.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: seg, Text: "The VPN drops every hour", SubmitterRef: ref}).FeedbackId
	publishScored(t, v, &eventsv1.ItemScored{
		ItemId: id, Kind: eventsv1.ItemKind_ITEM_KIND_FEEDBACK, Segment: seg, Score: -0.6,
		Label: commonv1.SentimentLabel_SENTIMENT_LABEL_NEGATIVE, Language: "en",
	})
	return waitScored(t, v, id)
}

func TestRoutingRuleSetOnOneReplicaRoutesOnTheOther(t *testing.T) {
	f, r1, r2 := twoReplicas(t, 0)
	rule := r1.view(f).rule(t, "acme/eng", 0, "eng-leads")
	configApplied(t, r2, configRevision(t, f, "rule."+rule.Id))
	if c := scoreOn(t, f, r2, "acme/eng/web", "U1"); c.OwnerGroup != "eng-leads" {
		t.Fatalf("comment on r2 routed to %q, want eng-leads by the rule set on r1", c.OwnerGroup)
	}
	// Changed on r2 (by id), seen on r1; listed the same on both.
	if _, err := r2.client.UpsertRoutingRule(f.as(auth.RoleAdmin), &feedbackv1.UpsertRoutingRuleRequest{
		Rule: &feedbackv1.RoutingRule{Id: rule.Id, SegmentPrefix: "acme/eng", OwnerGroup: "platform"},
	}); err != nil {
		t.Fatalf("UpsertRoutingRule on r2 of r1's rule: %v", err)
	}
	configApplied(t, r1, configRevision(t, f, "rule."+rule.Id))
	for i, r := range []*replica{r1, r2} {
		got := owners(listRules(t, r.view(f), f.as(auth.RoleHR), &feedbackv1.ListRoutingRulesRequest{SegmentPrefix: "acme"}))
		if !slices.Equal(got, []string{"platform"}) {
			t.Fatalf("rules on r%d: %v, want [platform]", i+1, got)
		}
	}
	if c := scoreOn(t, f, r1, "acme/eng", "U2"); c.OwnerGroup != "platform" {
		t.Fatalf("comment on r1 routed to %q, want platform by the change made on r2", c.OwnerGroup)
	}

	// A notification target set on r1 is listed on r2 at once (fetch on miss is for reads
	// of one record; a list waits for the watch).
	tg := r1.view(f).target(t, "eng-leads", "acme/eng", feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_WEBHOOK, "https://hooks.example/eng")
	configApplied(t, r2, configRevision(t, f, "target."+tg.Target.Id))
	list, err := r2.client.ListNotificationTargets(f.as(auth.RoleHR), &feedbackv1.ListNotificationTargetsRequest{SegmentPrefix: "acme"})
	if err != nil || len(list.Targets) != 1 || list.Targets[0].Id != tg.Target.Id {
		t.Fatalf("targets on r2 = %v, %v; want the one set on r1", list.GetTargets(), err)
	}
	if _, err := r2.client.DeleteNotificationTarget(f.as(auth.RoleHR), &feedbackv1.DeleteNotificationTargetRequest{Id: tg.Target.Id}); err != nil {
		t.Fatalf("DeleteNotificationTarget on r2 of r1's target: %v", err)
	}
	configApplied(t, r1, configRevision(t, f, "target."+tg.Target.Id))
	list, err = r1.client.ListNotificationTargets(f.as(auth.RoleHR), &feedbackv1.ListNotificationTargetsRequest{SegmentPrefix: "acme"})
	if err != nil || len(list.Targets) != 0 {
		t.Fatalf("targets on r1 after the deletion on r2 = %v, %v; want none", list.GetTargets(), err)
	}
}

func TestActionPlanCreatedOnOneReplicaIsReadAndMovedOnTheOther(t *testing.T) {
	f, r1, r2 := twoReplicas(t, 0)
	hr := f.as(auth.RoleHR)
	plan := r1.view(f).createPlan(t, hr, newPlan("acme/eng", "Fix the VPN", "it-support", dimEcosystem))
	// At once: r2 reads it from the bucket if its watch has not delivered it yet.
	got, err := r2.client.GetActionPlan(hr, &feedbackv1.GetActionPlanRequest{PlanId: plan.Id})
	if err != nil || got.Plan.Title != "Fix the VPN" {
		t.Fatalf("GetActionPlan on r2 of a plan created on r1 = %v, %v", got.GetPlan(), err)
	}
	moved, err := r2.view(f).updatePlan(hr, plan.Id, feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_IN_PROGRESS, "started")
	if err != nil {
		t.Fatalf("UpdateActionPlan on r2: %v", err)
	}
	configApplied(t, r1, configRevision(t, f, "plan."+plan.Id))
	back, err := r1.client.GetActionPlan(hr, &feedbackv1.GetActionPlanRequest{PlanId: plan.Id})
	if err != nil || back.Plan.Status != moved.Status || len(back.Plan.Notes) != 1 {
		t.Fatalf("plan on r1 after the move on r2 = %v, %v; want IN_PROGRESS with its note", back.GetPlan(), err)
	}
	// A move from IN_PROGRESS back to PLANNED is refused on r1 as on r2: both hold the move.
	_, err = r1.view(f).updatePlan(hr, plan.Id, feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_PLANNED, "back")
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("illegal move on r1 after r2's: %v; want FailedPrecondition", err)
	}
	// Each change is announced once, by the replica that made it.
	want := []string{events.ActionCreatedID(plan.Id), events.ActionUpdatedID(plan.Id, 1)}
	poll := func(subject string) []string { return publishedIDs(t, f, subject) }
	got2 := append(poll(events.FeedbackActionCreated.All()), poll(events.FeedbackActionUpdated.All())...)
	if !slices.Equal(got2, want) {
		t.Fatalf("plan events %v, want %v", got2, want)
	}
}

func TestReplicaDownWhileARuleIsDeletedSeesItBeforeRouting(t *testing.T) {
	f, r1, r2 := twoReplicas(t, 0)
	rule := r1.view(f).rule(t, "acme", 0, "people-team")
	configApplied(t, r2, configRevision(t, f, "rule."+rule.Id))
	if err := r1.svc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.client.DeleteRoutingRule(f.as(auth.RoleAdmin), &feedbackv1.DeleteRoutingRuleRequest{Id: rule.Id}); err != nil {
		t.Fatalf("DeleteRoutingRule on r2 of r1's rule: %v", err)
	}
	// Back on its old store: the deletion is there as soon as it serves, no waiting.
	r1 = startReplica(t, f, "r1", 0, func(c *feedback.Config) { c.DataDir = r1.dir })
	if got := listRules(t, r1.view(f), f.as(auth.RoleHR), &feedbackv1.ListRoutingRulesRequest{SegmentPrefix: "acme"}); len(got) != 0 {
		t.Fatalf("restarted r1 lists %v, want the rule deleted while it was down gone", owners(got))
	}
	if c := scoreOn(t, f, r1, "acme/eng", "U1"); c.OwnerGroup != "" {
		t.Fatalf("comment on the restarted r1 routed to %q by a rule deleted while it was down", c.OwnerGroup)
	}
}

func TestReplicaWithoutNATSStoresNoConfiguration(t *testing.T) {
	f, r1, _ := twoReplicas(t, 0)
	natstest.Stop(f.env.NATS)
	admin := f.as(auth.RoleAdmin)
	calls := map[string]func() error{
		"UpsertRoutingRule": func() error {
			_, err := r1.client.UpsertRoutingRule(admin, &feedbackv1.UpsertRoutingRuleRequest{Rule: &feedbackv1.RoutingRule{SegmentPrefix: "acme", OwnerGroup: "people-team"}})
			return err
		},
		"SetNotificationTarget": func() error {
			_, err := r1.client.SetNotificationTarget(admin, &feedbackv1.SetNotificationTargetRequest{Target: &feedbackv1.NotificationTarget{
				OwnerGroup: "people-team", SegmentPrefix: "acme", Kind: feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_WEBHOOK, Url: "https://hooks.example/p"}})
			return err
		},
		"CreateActionPlan": func() error {
			_, err := r1.client.CreateActionPlan(admin, &feedbackv1.CreateActionPlanRequest{Plan: newPlan("acme", "Plan", "people-team", 0)})
			return err
		},
	}
	for name, call := range calls {
		if err := call(); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), feedback.ConfigBucket) {
			t.Fatalf("%s with NATS down: %v; want Unavailable naming %s", name, err, feedback.ConfigBucket)
		}
	}
	hr := f.as(auth.RoleHR)
	rules, err := r1.client.ListRoutingRules(hr, &feedbackv1.ListRoutingRulesRequest{SegmentPrefix: "acme"})
	if err != nil || len(rules.Rules) != 0 {
		t.Fatalf("rules on r1 after NATS was down = %v, %v; want none", rules.GetRules(), err)
	}
	targets, err := r1.client.ListNotificationTargets(hr, &feedbackv1.ListNotificationTargetsRequest{SegmentPrefix: "acme"})
	if err != nil || len(targets.Targets) != 0 {
		t.Fatalf("targets on r1 after NATS was down = %v, %v; want none", targets.GetTargets(), err)
	}
	plans, err := r1.client.ListActionPlans(hr, &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme"})
	if err != nil || len(plans.Plans) != 0 {
		t.Fatalf("plans on r1 after NATS was down = %v, %v; want none", plans.GetPlans(), err)
	}
}

// TestConfigurationOfASingleServiceIsSharedWhenItBecomesAReplica: a store that ran alone puts
// its rules and plans in the bucket at its first start as a replica, before it serves.
func TestConfigurationOfASingleServiceIsSharedWhenItBecomesAReplica(t *testing.T) {
	f := start(t)
	rule := f.rule(t, "acme/eng", 0, "eng-leads")
	plan := f.createPlan(t, f.as(auth.RoleHR), newPlan("acme/eng", "Fix the VPN", "it-support", dimEcosystem))
	f.svc.Close()
	startReplica(t, f, "r1", 0, func(c *feedback.Config) { c.DataDir = f.env.DataDir })
	r2 := startReplica(t, f, "r2", 0)
	if got := listRules(t, r2.view(f), f.as(auth.RoleHR), &feedbackv1.ListRoutingRulesRequest{SegmentPrefix: "acme"}); len(got) != 1 || got[0].Id != rule.Id {
		t.Fatalf("rules on r2 = %v, want the rule r1 kept from before", got)
	}
	if _, err := r2.client.GetActionPlan(f.as(auth.RoleHR), &feedbackv1.GetActionPlanRequest{PlanId: plan.Id}); err != nil {
		t.Fatalf("GetActionPlan on r2 of a plan r1 kept from before: %v", err)
	}
}
