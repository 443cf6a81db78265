package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/poll"
)

// TestHarassmentCommentReachesHRFlagged runs the whole path with real services: a comment
// submitted over the feedback gRPC API is scored by the sentiment service, whose ItemScored
// carries the harassment flag; the feedback service routes it to hr at once, whatever the
// routing rules; and the inbox lists it first with the flag named in the reader's language.
func TestHarassmentCommentReachesHRFlagged(t *testing.T) {
	d := startDashboard(t)
	d.registerWithPulse(t)
	hrCtx := d.env.As(context.Background(), auth.RoleHR)
	if _, err := d.feedback.UpsertRoutingRule(hrCtx, &feedbackv1.UpsertRoutingRuleRequest{
		Rule: &feedbackv1.RoutingRule{SegmentPrefix: "acme", OwnerGroup: "people-team"},
	}); err != nil {
		t.Fatalf("UpsertRoutingRule: %v", err)
	}
	const (
		harassment = "My manager harasses me and makes sexist jokes about me in every meeting."
		plain      = "Thanks for the new coffee machine on the second floor."
	)
	sub := d.env.As(context.Background(), auth.RoleSubmitter)
	for text, want := range map[string]bool{harassment: true, plain: false} {
		r, err := d.sentiment.AnalyzeText(sub, &sentimentv1.AnalyzeTextRequest{Text: text, Language: "en"})
		if err != nil || slices.Contains(r.GetRisks(), commonv1.RiskFlag_RISK_FLAG_HARASSMENT) != want {
			t.Fatalf("AnalyzeText(%q) = %v, %v; want harassment flagged: %v", text, r, err, want)
		}
	}

	d.comment(t, "acme/eng/platform", "plain-1", plain)
	began := time.Now()
	resp, err := d.feedback.SubmitFeedback(sub, &feedbackv1.SubmitFeedbackRequest{
		Segment: "acme/eng/platform", Text: harassment, SubmitterRef: "victim", Language: "en",
	})
	if err != nil {
		t.Fatalf("SubmitFeedback: %v", err)
	}
	poll.Until(t, 20*time.Second, 5*time.Millisecond, func() error {
		r, err := d.feedback.GetFeedback(hrCtx, &feedbackv1.GetFeedbackRequest{FeedbackId: resp.FeedbackId})
		if err != nil {
			return err
		}
		if c := r.Feedback; c.OwnerGroup != "hr" || !slices.Contains(c.Risks, commonv1.RiskFlag_RISK_FLAG_HARASSMENT) {
			return fmt.Errorf("comment owned by %q with risks %v, want hr and HARASSMENT", c.OwnerGroup, c.Risks)
		}
		return nil
	})
	t.Logf("submitted to owned by hr with the flag: %v", time.Since(began))

	hr := []*http.Cookie{d.session(t, d.env.Tokens[auth.RoleHR])}
	poll.Until(t, 20*time.Second, 20*time.Millisecond, func() error {
		_, body, _ := d.get(t, "/inbox", hr)
		arts := articleRE.FindAllStringSubmatch(body, -1)
		if len(arts) != 2 {
			return fmt.Errorf("inbox lists %d comments, want 2", len(arts))
		}
		if !strings.Contains(arts[1][2], "people-team") {
			return fmt.Errorf("the plain comment is not routed by the rule yet")
		}
		return nil
	})
	_, body, _ := d.get(t, "/inbox", hr, "Accept-Language", "en")
	arts := articleRE.FindAllStringSubmatch(body, -1)
	if len(arts) != 2 || arts[0][1] != resp.FeedbackId || !strings.Contains(arts[0][2], "Harassment or discrimination") || !strings.Contains(arts[0][2], `class="badge risk"`) {
		t.Errorf("inbox: want the flagged comment first, marked \"Harassment or discrimination\":\n%s", body)
	}
	if len(arts) == 2 && strings.Contains(arts[1][2], "badge risk") {
		t.Errorf("the plain comment is marked as a risk:\n%s", arts[1][2])
	}
	if _, fr, _ := d.get(t, "/inbox", hr, "Accept-Language", "fr"); !strings.Contains(fr, "Harcèlement ou discrimination") {
		t.Errorf("French inbox lacks the flag's French name:\n%s", fr)
	}
	_, only, _ := d.get(t, "/inbox?risk=1", hr)
	if arts := articleRE.FindAllStringSubmatch(only, -1); len(arts) != 1 || arts[0][1] != resp.FeedbackId || !strings.Contains(only, `id="f-risk" name="risk" type="checkbox" value="1" checked`) {
		t.Errorf("/inbox?risk=1: want only the flagged comment, the box checked:\n%s", only)
	}
}
