package feedback_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
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
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/segment"
)

// surveyComment is a SurveyComment as the pulse service publishes it, and the token it gave
// the respondent.
func surveyComment(seg, text string, dim commonv1.Dimension, day time.Time) (*eventsv1.SurveyComment, string) {
	token := rand.Text()
	h := sha256.Sum256([]byte(token))
	return &eventsv1.SurveyComment{
		CommentId: rand.Text(), Segment: seg, Text: text, Language: "en", Dimensions: []commonv1.Dimension{dim},
		FollowUpHash: h[:], SubmittedDay: timestamppb.New(today(day)), SurveyId: "s1", QuestionId: "say",
	}, token
}

// surveyApplied waits until the feedback-survey-comments consumer has acknowledged every
// event of the pulse stream it reads so far.
func surveyApplied(t testing.TB, f *fixture, n uint64) {
	t.Helper()
	js := f.env.JetStream(t)
	poll.Until(t, 10*time.Second, 5*time.Millisecond, func() error {
		c, err := js.Consumer(context.Background(), events.Pulse.Name, events.DurableFeedbackSurveyComments)
		if err != nil {
			return err
		}
		info, err := c.Info(context.Background())
		if err != nil {
			return err
		}
		if info.Delivered.Consumer < n || info.NumPending > 0 || info.NumAckPending > 0 {
			return fmt.Errorf("feedback-survey-comments: %d delivered, %d pending, %d unacked; want %d applied", info.Delivered.Consumer, info.NumPending, info.NumAckPending, n)
		}
		return nil
	})
}

// TestSurveyCommentsBecomeThreads: a SurveyComment becomes a comment of channel SURVEY that
// its respondent reads and answers with the token pulse gave them, that readers see under the
// segment placement allows (a team too small shows under its department), routed by the
// question's dimension with FeedbackRouted; a republished event (past the applied-ids memory:
// another id for the same comment) and malformed ones create nothing.
func TestSurveyCommentsBecomeThreads(t *testing.T) {
	f := start(t)
	f.headcount(t, "acme", 100)
	f.headcount(t, "acme/eng", 20)
	f.headcount(t, "acme/eng/web", 4)
	if _, err := f.client.UpsertRoutingRule(f.as(auth.RoleHR), &feedbackv1.UpsertRoutingRuleRequest{
		Rule: &feedbackv1.RoutingRule{SegmentPrefix: "acme/eng", Dimension: commonv1.Dimension_DIMENSION_WORKLOAD, OwnerGroup: "eng-leads"},
	}); err != nil {
		t.Fatalf("UpsertRoutingRule: %v", err)
	}
	ev, token := surveyComment("acme/eng/web", "The on-call rota leaves no time to rest", commonv1.Dimension_DIMENSION_WORKLOAD, t0.Add(-24*time.Hour))
	seg := segment.MustParse(ev.Segment)
	f.publish(t, events.PulseSurveyComment, events.SurveyCommentID(ev.CommentId), seg, ev)
	// The same comment again under another event id (a republish the applied-ids memory no
	// longer holds), and two malformed ones.
	f.publish(t, events.PulseSurveyComment, events.SurveyCommentID(ev.CommentId)+"/again", seg, ev)
	bad, _ := surveyComment("acme/eng/web", "fine", commonv1.Dimension_DIMENSION_WORKLOAD, t0)
	bad.FollowUpHash = bad.FollowUpHash[:8]
	f.publish(t, events.PulseSurveyComment, events.SurveyCommentID(bad.CommentId), seg, bad)
	empty, _ := surveyComment("acme/eng/web", "   ", commonv1.Dimension_DIMENSION_WORKLOAD, t0)
	f.publish(t, events.PulseSurveyComment, events.SurveyCommentID(empty.CommentId), seg, empty)
	surveyApplied(t, f, 4)

	th, err := f.client.GetThread(f.as(auth.RoleSubmitter), &feedbackv1.GetThreadRequest{FollowUpToken: token})
	if err != nil {
		t.Fatalf("GetThread with the survey token: %v", err)
	}
	c := th.Feedback
	if c.Id != ev.CommentId || c.Channel != feedbackv1.Channel_CHANNEL_SURVEY || c.Text != ev.Text ||
		c.Status != commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW || !c.CreateDay.AsTime().Equal(today(t0.Add(-24*time.Hour))) {
		t.Fatalf("thread = %v", c)
	}
	if _, err := f.client.FollowUp(f.as(auth.RoleSubmitter), &feedbackv1.FollowUpRequest{FollowUpToken: token, Text: "It has been like this since March"}); err != nil {
		t.Fatalf("FollowUp with the survey token: %v", err)
	}

	list, err := f.client.ListFeedback(f.as(auth.RoleHR), &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme"})
	if err != nil {
		t.Fatalf("ListFeedback: %v", err)
	}
	if len(list.Feedback) != 1 {
		t.Fatalf("hr lists %d comments, want the one survey comment once", len(list.Feedback))
	}
	got := list.Feedback[0]
	if got.Segment != "acme/eng" || got.OwnerGroup != "eng-leads" || got.Channel != feedbackv1.Channel_CHANNEL_SURVEY {
		t.Errorf("listed = segment %q owner %q channel %v; want acme/eng (placement), eng-leads, SURVEY", got.Segment, got.OwnerGroup, got.Channel)
	}
	if ids := f.env.PublishedIDs(t, events.Feedback.Name, events.FeedbackRouted.All()); len(ids) != 1 || ids[0] != events.RoutedID(ev.CommentId, "eng-leads") {
		t.Errorf("routed events %v, want one for eng-leads", ids)
	}
	_, err = f.client.GetThread(f.as(auth.RoleSubmitter), &feedbackv1.GetThreadRequest{FollowUpToken: rand.Text()})
	wantCode(t, err, codes.NotFound, "")
}

// TestSurveyCommentsBacklogIsAppliedInFewCommits: the TEXT answers of a day, published
// together when it ends, become comments many to a commit (not one commit, two fsyncs, each),
// and each is its respondent's thread.
func TestSurveyCommentsBacklogIsAppliedInFewCommits(t *testing.T) {
	const n = 300
	f := start(t)
	f.headcount(t, "acme", 100)
	f.headcount(t, "acme/eng", 20)
	before := f.svc.Commits()
	f.svc.Close()
	tokens := make([]string, n)
	publishBacklog(t, f, events.PulseSurveyComment, n, func(i int) (string, segment.Path, proto.Message) {
		ev, token := surveyComment("acme/eng", fmt.Sprintf("answer %d: the rota leaves no time to rest", i), commonv1.Dimension_DIMENSION_WORKLOAD, t0.Add(-24*time.Hour))
		tokens[i] = token
		return events.SurveyCommentID(ev.CommentId), segment.MustParse(ev.Segment), ev
	})

	f.restart(t)
	surveyApplied(t, f, n)
	commits := f.svc.Commits() - before
	t.Logf("%d survey comments applied in %d commits (the start included)", n, commits)
	if commits > n/10 {
		t.Errorf("%d survey comments took %d commits after the restart, want at most %d (applied in groups)", n, commits, n/10)
	}
	for i, token := range tokens {
		th, err := f.client.GetThread(f.as(auth.RoleSubmitter), &feedbackv1.GetThreadRequest{FollowUpToken: token})
		if err != nil {
			t.Fatalf("GetThread of answer %d: %v", i, err)
		}
		if want := fmt.Sprintf("answer %d:", i); !strings.HasPrefix(th.Feedback.Text, want) {
			t.Fatalf("thread of answer %d holds %q", i, th.Feedback.Text)
		}
	}
}
