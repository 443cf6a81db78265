package feedback_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// ownerOf returns the owner group of comment id as hr reads it.
func ownerOf(t testing.TB, f *fixture, id string) string {
	t.Helper()
	r, err := f.client.GetFeedback(f.as(auth.RoleHR), &feedbackv1.GetFeedbackRequest{FeedbackId: id})
	if err != nil {
		t.Fatalf("GetFeedback(%s): %v", id, err)
	}
	return r.Feedback.OwnerGroup
}

// TestListFeedbackByOwnerGroupListsTheQueue: owner_group lists that group's comments only,
// pages through them with inserts in between, binds its cursor to the group, and refuses a
// group that breaks the owner group rule.
func TestListFeedbackByOwnerGroupListsTheQueue(t *testing.T) {
	f := startNotifying(t, fastNotify)
	hr := f.as(auth.RoleHR)
	f.rule(t, "acme/eng", 0, "eng-leads")
	f.rule(t, "acme/sales", 0, "sales-leads")
	scored := func(seg string) string {
		c := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: seg, Text: "c", SubmitterRef: "R"})
		publishScored(t, f, scoredWith(c.FeedbackId, seg))
		waitScored(t, f, c.FeedbackId)
		return c.FeedbackId
	}
	var eng []string
	for range 3 {
		eng = append(eng, scored("acme/eng"))
	}
	sales := scored("acme/sales")

	queue := func(owner string) *feedbackv1.ListFeedbackRequest {
		return &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", OwnerGroup: owner, PageSize: 1}
	}
	if got := ids(listAll(t, f, hr, queue("eng-leads"))); !slices.Equal(sorted(got), sorted(eng)) {
		t.Errorf("eng-leads queue %v, want %v", got, eng)
	}
	if got := ids(listAll(t, f, hr, queue("sales-leads"))); !slices.Equal(got, []string{sales}) {
		t.Errorf("sales-leads queue %v, want [%s]", got, sales)
	}
	if got := ids(listAll(t, f, hr, queue("nobody"))); len(got) != 0 {
		t.Errorf("queue of a group without comments %v", got)
	}

	// Paging with a comment routed to the group between two pages: nothing twice, none lost
	// of those there at the start.
	first, err := f.client.ListFeedback(hr, queue("eng-leads"))
	if err != nil || first.NextPageToken == "" {
		t.Fatalf("first page: %v, %v", first, err)
	}
	late := scored("acme/eng")
	req := queue("eng-leads")
	req.PageToken = first.NextPageToken
	got := append(ids(first.Feedback), ids(listAll(t, f, hr, req))...)
	seen := map[string]int{}
	for _, id := range got {
		if seen[id]++; seen[id] > 1 {
			t.Errorf("%s listed twice in %v", id, got)
		}
	}
	for _, id := range eng {
		if seen[id] == 0 {
			t.Errorf("%s missing from %v", id, got)
		}
	}
	if seen[sales] > 0 {
		t.Errorf("paged queue %v (late %s)", got, late)
	}

	// The cursor belongs to the group it was made for.
	other := queue("sales-leads")
	other.PageToken = first.NextPageToken
	_, err = f.client.ListFeedback(hr, other)
	wantCode(t, err, codes.InvalidArgument, "page_token")
	_, err = f.client.ListFeedback(hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", OwnerGroup: "Eng Leads!"})
	wantCode(t, err, codes.InvalidArgument, "owner_group")
}

// TestRuleAppliedToOpenCommentsReroutesAndTellsTheNewOwner: a rule upserted with
// apply_to_open re-routes the open comments it matches and tells their new owner once each;
// it leaves closed comments, comments hr assigned by hand, risk-flagged comments, comments
// outside its prefix and comments a more specific rule owns; without the flag it changes none.
func TestRuleAppliedToOpenCommentsReroutesAndTellsTheNewOwner(t *testing.T) {
	f := startNotifying(t, fastNotify)
	hr := f.as(auth.RoleHR)
	rec := newReceiver(t, always(0))
	webhook := feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_WEBHOOK
	f.target(t, "people-ops", "acme", webhook, rec.srv.URL)
	f.rule(t, "acme", 0, "general")
	f.rule(t, "acme/sales", dimWorkload, "sales-leads")
	scored := func(seg string, risky bool) string {
		c := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: seg, Text: "c", SubmitterRef: "R"})
		ev := scoredWith(c.FeedbackId, seg)
		if risky {
			ev = scoredWith(c.FeedbackId, seg, riskHarassment)
		}
		publishScored(t, f, ev)
		waitScored(t, f, c.FeedbackId)
		return c.FeedbackId
	}
	open1, open2 := scored("acme/eng", false), scored("acme/eng", false)
	done := scored("acme/eng", false)
	if _, err := f.setStatus(hr, done, stDeclined, "no"); err != nil {
		t.Fatal(err)
	}
	byHand := scored("acme/eng", false)
	if _, err := f.client.AssignOwner(hr, &feedbackv1.AssignOwnerRequest{FeedbackId: byHand, OwnerGroup: "general"}); err != nil {
		t.Fatal(err)
	}
	risky := scored("acme/eng", true)
	sales := scored("acme/sales", false)

	// Without the flag: the rule is stored, no comment moves.
	r, err := f.client.UpsertRoutingRule(hr, &feedbackv1.UpsertRoutingRuleRequest{
		Rule: &feedbackv1.RoutingRule{SegmentPrefix: "acme", OwnerGroup: "people-ops"}})
	if err != nil {
		t.Fatal(err)
	}
	if o := ownerOf(t, f, open1); o != "general" {
		t.Fatalf("without apply_to_open, %s moved to %q", open1, o)
	}
	// Outside the caller's prefix: refused, nothing moves.
	_, err = f.client.UpsertRoutingRule(servicetest.WithToken(context.Background(), f.env.OtherHR), &feedbackv1.UpsertRoutingRuleRequest{
		Rule: &feedbackv1.RoutingRule{SegmentPrefix: "acme", OwnerGroup: "people-ops"}, ApplyToOpen: true})
	wantCode(t, err, codes.PermissionDenied, "rule.segment_prefix")
	_, err = f.client.UpsertRoutingRule(f.as(auth.RoleManager), &feedbackv1.UpsertRoutingRuleRequest{
		Rule: &feedbackv1.RoutingRule{SegmentPrefix: "acme", OwnerGroup: "people-ops"}, ApplyToOpen: true})
	wantCode(t, err, codes.PermissionDenied, "")

	if _, err := f.client.UpsertRoutingRule(hr, &feedbackv1.UpsertRoutingRuleRequest{
		Rule: &feedbackv1.RoutingRule{Id: r.Rule.Id, SegmentPrefix: "acme", OwnerGroup: "people-ops"}, ApplyToOpen: true}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{open1: "people-ops", open2: "people-ops", done: "general", byHand: "general", risky: "hr", sales: "sales-leads"}
	for id, o := range want {
		if got := ownerOf(t, f, id); got != o {
			t.Errorf("%s owned by %q, want %q", id, got, o)
		}
	}
	q := ids(listAll(t, f, hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", OwnerGroup: "people-ops"}))
	if !slices.Equal(sorted(q), sorted([]string{open1, open2})) {
		t.Errorf("people-ops queue %v, want %s and %s", q, open1, open2)
	}
	got := rec.waitDelivered(t, 2)
	linked := map[string]bool{}
	for _, g := range got {
		for _, id := range []string{open1, open2} {
			if strings.Contains(string(g.body), id) {
				linked[id] = true
			}
		}
	}
	if len(linked) != 2 {
		t.Errorf("people-ops was told of %v, want %s and %s", linked, open1, open2)
	}
	// Applied again: no owner changes, so nothing is published. An assignment to people-ops
	// afterwards is the proof that the consumer read whatever came before it.
	if _, err := f.client.UpsertRoutingRule(hr, &feedbackv1.UpsertRoutingRuleRequest{
		Rule: &feedbackv1.RoutingRule{Id: r.Rule.Id, SegmentPrefix: "acme", OwnerGroup: "people-ops"}, ApplyToOpen: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.AssignOwner(hr, &feedbackv1.AssignOwnerRequest{FeedbackId: risky, OwnerGroup: "people-ops"}); err != nil {
		t.Fatal(err)
	}
	rec.waitDelivered(t, 3)
	if n := len(rec.all()); n != 3 {
		t.Errorf("people-ops got %d requests, want 3 (two re-routed, one assigned)", n)
	}
	// Routed: six by scoring, two by the rule, one by the assignment.
	if n := len(publishedIDs(t, f, events.FeedbackRouted.All())); n != 9 {
		t.Errorf("%d routed events, want 9", n)
	}
}

// TestAssignOwnerTellsTheNewOwnerOnce: hr assigning a comment publishes FeedbackRouted with
// the routed id scheme, the new owner's webhook receives it once, without the comment's text
// or its author, and assigning the same owner again tells nobody.
func TestAssignOwnerTellsTheNewOwnerOnce(t *testing.T) {
	f := startNotifying(t, fastNotify)
	hr := f.as(auth.RoleHR)
	rec := newReceiver(t, always(0))
	f.target(t, "ethics", "acme", feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_WEBHOOK, rec.srv.URL)
	c := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "expense fraud in my team", SubmitterRef: secretRef})
	for range 2 {
		if _, err := f.client.AssignOwner(hr, &feedbackv1.AssignOwnerRequest{FeedbackId: c.FeedbackId, OwnerGroup: "ethics"}); err != nil {
			t.Fatal(err)
		}
	}
	msg := nextEvent(t, f, events.FeedbackRouted.All())
	if id := msg.Headers().Get("Nats-Msg-Id"); id != events.RoutedID(c.FeedbackId, "ethics") {
		t.Fatalf("routed event id %q", id)
	}
	got := rec.waitDelivered(t, 1)[0]
	for _, s := range []string{`"kind":"routed"`, c.FeedbackId, `"owner_group":"ethics"`, `"segment":"acme/eng"`} {
		if !strings.Contains(string(got.body), s) {
			t.Errorf("notification lacks %s: %s", s, got.body)
		}
	}
	for _, s := range []string{"fraud", c.FollowUpToken, secretRef} {
		if strings.Contains(string(got.body), s) {
			t.Errorf("notification holds %q: %s", s, got.body)
		}
	}
	// A later assignment to another group is the proof that the consumer read everything
	// before it: ethics still got one request, and the stream holds one event per owner.
	other := newReceiver(t, always(0))
	f.target(t, "legal", "acme", feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_WEBHOOK, other.srv.URL)
	if _, err := f.client.AssignOwner(hr, &feedbackv1.AssignOwnerRequest{FeedbackId: c.FeedbackId, OwnerGroup: "legal"}); err != nil {
		t.Fatal(err)
	}
	other.waitDelivered(t, 1)
	if n := len(rec.all()); n != 1 {
		t.Errorf("ethics got %d requests, want 1", n)
	}
	want := []string{events.RoutedID(c.FeedbackId, "ethics"), events.RoutedID(c.FeedbackId, "legal")}
	if ids := publishedIDs(t, f, events.FeedbackRouted.All()); !slices.Equal(ids, want) {
		t.Errorf("routed events %v, want %v", ids, want)
	}
}

// BenchmarkApplyRuleToOpenComments: one UpsertRoutingRule with apply_to_open over 2,000 open
// comments, each of which changes owner (the rule's owner alternates), so every op re-routes
// and queues FeedbackRouted for all of them in one transaction.
func BenchmarkApplyRuleToOpenComments(b *testing.B) {
	const comments = 2000
	f := start(b)
	sub := f.as(auth.RoleSubmitter)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < comments; i += 16 {
				if _, err := f.client.SubmitFeedback(sub, &feedbackv1.SubmitFeedbackRequest{
					Segment: "acme/eng", Text: "the build is slow", SubmitterRef: fmt.Sprintf("bench-%d", i)}); err != nil {
					b.Errorf("SubmitFeedback: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	hr := f.as(auth.RoleHR)
	b.ResetTimer()
	for i := range b.N {
		if _, err := f.client.UpsertRoutingRule(hr, &feedbackv1.UpsertRoutingRuleRequest{
			Rule: &feedbackv1.RoutingRule{SegmentPrefix: "acme", OwnerGroup: fmt.Sprintf("owners-%d", i%2)}, ApplyToOpen: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*comments)/b.Elapsed().Seconds(), "rerouted/s")
}
