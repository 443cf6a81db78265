package feedback_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
)

const (
	riskHarassment = commonv1.RiskFlag_RISK_FLAG_HARASSMENT
	riskQuit       = commonv1.RiskFlag_RISK_FLAG_QUIT
	riskDistress   = commonv1.RiskFlag_RISK_FLAG_DISTRESS
)

func scoredWith(id, seg string, risks ...commonv1.RiskFlag) *eventsv1.ItemScored {
	return &eventsv1.ItemScored{
		ItemId: id, Kind: eventsv1.ItemKind_ITEM_KIND_FEEDBACK, Segment: seg, Score: -0.6,
		Label: commonv1.SentimentLabel_SENTIMENT_LABEL_NEGATIVE, Language: "en",
		Dimensions: []*eventsv1.DimensionScore{{Dimension: dimWorkload, Score: -0.6}}, Risks: risks,
	}
}

// TestRiskFlagRoutesToHRWhateverTheRules: a comment with a risk flag is owned by "hr" even
// when a routing rule matches it; its flags are stored (in order, without duplicates or
// UNSPECIFIED), shown to readers, kept across a restart, filtered by has_risk, and never shown
// to the author.
func TestRiskFlagRoutesToHRWhateverTheRules(t *testing.T) {
	f := start(t)
	f.rule(t, "acme/eng", dimWorkload, "eng-leads")
	flagged := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "my manager harasses me", SubmitterRef: "R1"})
	plain := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "too many meetings", SubmitterRef: "R2"})
	publishScored(t, f, scoredWith(flagged.FeedbackId, "acme/eng",
		riskQuit, riskHarassment, commonv1.RiskFlag_RISK_FLAG_UNSPECIFIED, riskQuit))
	publishScored(t, f, scoredWith(plain.FeedbackId, "acme/eng"))

	want := []commonv1.RiskFlag{riskHarassment, riskQuit}
	if c := waitScored(t, f, flagged.FeedbackId); c.OwnerGroup != "hr" || !slices.Equal(c.Risks, want) {
		t.Errorf("flagged comment: owner %q, risks %v; want hr, %v", c.OwnerGroup, c.Risks, want)
	}
	if c := waitScored(t, f, plain.FeedbackId); c.OwnerGroup != "eng-leads" || len(c.Risks) != 0 {
		t.Errorf("plain comment: owner %q, risks %v; want the rule's eng-leads, none", c.OwnerGroup, c.Risks)
	}

	f.svc.Close()
	f.restart(t)
	for _, role := range []auth.Role{auth.RoleManager, auth.RoleHR, auth.RoleAdmin} {
		r, err := f.client.GetFeedback(f.as(role), &feedbackv1.GetFeedbackRequest{FeedbackId: flagged.FeedbackId})
		if err != nil || !slices.Equal(r.Feedback.Risks, want) {
			t.Errorf("GetFeedback as %s after restart = %v, %v; want risks %v", role, r.GetFeedback(), err, want)
		}
	}
	all := listAll(t, f, f.as(auth.RoleHR), &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme"})
	risky := listAll(t, f, f.as(auth.RoleHR), &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", HasRisk: true})
	if len(all) != 2 || len(risky) != 1 || risky[0].Id != flagged.FeedbackId || !slices.Equal(risky[0].Risks, want) {
		t.Errorf("ListFeedback: %d comments, has_risk %v; want 2, and only %s with %v", len(all), risky, flagged.FeedbackId, want)
	}
	// A page token is bound to has_risk like to every other filter.
	first, err := f.client.ListFeedback(f.as(auth.RoleHR), &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", PageSize: 1})
	if err != nil || first.NextPageToken == "" {
		t.Fatalf("ListFeedback page 1 = %v, %v; want a next page", first, err)
	}
	_, err = f.client.ListFeedback(f.as(auth.RoleHR), &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", PageSize: 1, HasRisk: true, PageToken: first.NextPageToken})
	if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), "page_token: ") {
		t.Errorf("token replayed with has_risk: %v, want InvalidArgument on page_token", err)
	}
	th, err := f.client.GetThread(f.as(auth.RoleSubmitter), &feedbackv1.GetThreadRequest{FollowUpToken: flagged.FollowUpToken})
	if err != nil || th.Feedback.Id != flagged.FeedbackId || len(th.Feedback.Risks) != 0 {
		t.Errorf("GetThread = %v, %v; want the author's comment without risk flags", th, err)
	}
}

// TestRiskFlagKeepsHRsChoiceOfOwner: when hr already chose the owner by hand, a flagged
// result keeps that owner and still records the flags.
func TestRiskFlagKeepsHRsChoiceOfOwner(t *testing.T) {
	f := start(t)
	id := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "I am done, I want to leave", SubmitterRef: "R1"}).FeedbackId
	if _, err := f.client.AssignOwner(f.as(auth.RoleHR), &feedbackv1.AssignOwnerRequest{FeedbackId: id, OwnerGroup: "hr-careers"}); err != nil {
		t.Fatalf("AssignOwner: %v", err)
	}
	publishScored(t, f, scoredWith(id, "acme/eng", riskQuit))
	if c := waitScored(t, f, id); c.OwnerGroup != "hr-careers" || !slices.Equal(c.Risks, []commonv1.RiskFlag{riskQuit}) {
		t.Errorf("owner %q, risks %v; want hr's hr-careers, QUIT", c.OwnerGroup, c.Risks)
	}
}

// TestRedeliveredItemScoredChangesNothing: an ItemScored delivered again (outside JetStream's
// duplicate window, as a relay's republish after a crash can be) is not applied twice. The
// copy here differs from the first, so that applying it would show; the next event's result
// proves the copy was consumed.
func TestRedeliveredItemScoredChangesNothing(t *testing.T) {
	f := start(t)
	first := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "he touches me, I feel unsafe", SubmitterRef: "R1"}).FeedbackId
	publishScored(t, f, scoredWith(first, "acme/eng", riskHarassment))
	before := waitScored(t, f, first)
	if before.OwnerGroup != "hr" {
		t.Fatalf("owner %q, want hr", before.OwnerGroup)
	}

	// The same event id again, without the JetStream dedup header, saying something else.
	f.rule(t, "acme", 0, "people-team")
	again := scoredWith(first, "acme/eng", riskDistress)
	again.Score, again.Label = 0.9, commonv1.SentimentLabel_SENTIMENT_LABEL_POSITIVE
	data, err := proto.Marshal(again)
	if err != nil {
		t.Fatal(err)
	}
	ev := bus.Event{ID: events.ScoredID(first), Type: events.SentimentScored.Type, Source: events.SentimentScored.Source,
		Subject: events.SentimentScored.Subject(segment.MustParse("acme/eng")), Data: data}
	msg := &nats.Msg{Subject: ev.Subject, Data: ev.Data, Header: ev.Header()}
	msg.Header.Del(bus.HeaderMsgID)
	nc, err := nats.Connect(f.env.NATS.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if ack, err := js.PublishMsg(context.Background(), msg); err != nil || ack.Duplicate {
		t.Fatalf("republish: %v, %v; want a second stream message", ack, err)
	}
	later := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "later", SubmitterRef: "R2"}).FeedbackId
	publishScored(t, f, scoredWith(later, "acme/eng"))
	waitScored(t, f, later)

	r, err := f.client.GetFeedback(f.as(auth.RoleHR), &feedbackv1.GetFeedbackRequest{FeedbackId: first})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(r.Feedback, before) {
		t.Errorf("after the redelivery: %v\nwant unchanged: %v", r.Feedback, before)
	}
}
