package feedback_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/auth"
)

// TestCommentRecordFormatsAnswerTheSame: a comment whose record is in the binary format and
// one whose record is JSON, as a store made before holds it, are read, listed, filtered,
// followed up, answered, moved, upvoted and reassigned through the API the same way; each
// change is made to a JSON record and writes the binary one.
func TestCommentRecordFormatsAnswerTheSame(t *testing.T) {
	f := start(t)
	hr := f.as(auth.RoleHR)
	f.rule(t, "acme/eng", dimWorkload, "eng-leads")
	// Shown under acme/eng, the author's team being too small: a department listing reads
	// the author segment from the indexes.
	f.publishSegment(t, "acme/eng", 40, 1)
	f.publishSegment(t, "acme/eng/platform", 3, 1)
	f.segmentsApplied(t)
	submit := func(ref string) *feedbackv1.SubmitFeedbackResponse {
		return f.submit(t, &feedbackv1.SubmitFeedbackRequest{
			Segment: "acme/eng/platform", Text: "Les builds sont lents, \"vraiment\" \\ trop", SubmitterRef: ref,
			Channel: feedbackv1.Channel_CHANNEL_CHAT, Language: "fr", Dimensions: []commonv1.Dimension{dimGrowth},
		})
	}
	bin, old := submit("R1"), submit("R2")
	for _, id := range []string{bin.FeedbackId, old.FeedbackId} {
		publishScored(t, f, scoredWith(id, "acme/eng/platform", riskQuit))
		waitScored(t, f, id)
	}
	f.clock.Add(50 * time.Hour)

	record := func(id string) []byte {
		t.Helper()
		raw, err := f.svc.CommentRecord(id)
		if err != nil || len(raw) == 0 {
			t.Fatalf("record of %s: %q, %v", id, raw, err)
		}
		return raw
	}
	asJSON := func() {
		t.Helper()
		if err := f.svc.RewriteCommentAsJSON(old.FeedbackId); err != nil {
			t.Fatal(err)
		}
		if raw := record(old.FeedbackId); raw[0] != '{' {
			t.Fatalf("rewritten record is not JSON: %q", raw)
		}
	}
	asJSON()
	if raw := record(bin.FeedbackId); raw[0] != 0x01 {
		t.Fatalf("a new comment's record starts with %q, want the binary format's 0x01: %q", raw[0], raw)
	}

	// same compares the answers of a call for both comments, their ids and their message
	// ids cleared.
	same := func(what string, call func(id, token string) (proto.Message, error)) {
		t.Helper()
		var got [2]proto.Message
		for i, c := range []*feedbackv1.SubmitFeedbackResponse{bin, old} {
			m, err := call(c.FeedbackId, c.FollowUpToken)
			if err != nil {
				t.Fatalf("%s of %s: %v", what, c.FeedbackId, err)
			}
			got[i] = clearIDs(m, c.FeedbackId)
		}
		if !proto.Equal(got[0], got[1]) {
			t.Errorf("%s differs between the formats:\n binary %v\n json   %v", what, got[0], got[1])
		}
	}
	listed := func(req *feedbackv1.ListFeedbackRequest) func(id, _ string) (proto.Message, error) {
		return func(id, _ string) (proto.Message, error) {
			for _, c := range listAll(t, f, hr, proto.Clone(req).(*feedbackv1.ListFeedbackRequest)) {
				if c.Id == id {
					return c, nil
				}
			}
			if req.Statuses == nil && req.Dimensions == nil && req.OwnerGroup == "" && req.Labels == nil && !req.HasRisk {
				t.Errorf("ListFeedback %v does not list %s", req, id)
			}
			return &feedbackv1.Feedback{}, nil // not listed: compared as such
		}
	}
	reads := func(when string) {
		t.Helper()
		same(when+": GetFeedback", func(id, _ string) (proto.Message, error) {
			return f.client.GetFeedback(hr, &feedbackv1.GetFeedbackRequest{FeedbackId: id})
		})
		same(when+": GetThread", func(_, token string) (proto.Message, error) {
			return f.client.GetThread(f.as(auth.RoleSubmitter), &feedbackv1.GetThreadRequest{FollowUpToken: token})
		})
		for _, req := range []*feedbackv1.ListFeedbackRequest{
			{SegmentPrefix: "acme"},
			{SegmentPrefix: "acme/eng"},
			{SegmentPrefix: "acme", Statuses: []commonv1.FeedbackStatus{stNew}},
			{SegmentPrefix: "acme", Statuses: []commonv1.FeedbackStatus{stAck}},
			{SegmentPrefix: "acme/eng", Statuses: []commonv1.FeedbackStatus{stNew, stAck}},
			{SegmentPrefix: "acme/eng", Dimensions: []commonv1.Dimension{dimGrowth}},
			{SegmentPrefix: "acme", Dimensions: []commonv1.Dimension{dimGrowth}},
			{SegmentPrefix: "acme", Dimensions: []commonv1.Dimension{dimWorkload}},
			{SegmentPrefix: "acme", OwnerGroup: "hr"},
			{SegmentPrefix: "acme", OwnerGroup: "eng-leads"},
			{SegmentPrefix: "acme", Labels: []commonv1.SentimentLabel{commonv1.SentimentLabel_SENTIMENT_LABEL_NEGATIVE}},
			{SegmentPrefix: "acme", HasRisk: true},
		} {
			same(when+": ListFeedback "+req.String(), listed(req))
		}
	}
	reads("as submitted")
	for _, op := range []struct {
		name string
		call func(ctx context.Context, id, token string) (proto.Message, error)
	}{
		{"FollowUp", func(_ context.Context, _, token string) (proto.Message, error) {
			return f.client.FollowUp(f.as(auth.RoleSubmitter), &feedbackv1.FollowUpRequest{FollowUpToken: token, Text: "any news?"})
		}},
		{"Reply", func(ctx context.Context, id, _ string) (proto.Message, error) {
			return f.client.Reply(ctx, &feedbackv1.ReplyRequest{FeedbackId: id, Text: "we are on it"})
		}},
		{"UpdateStatus", func(ctx context.Context, id, _ string) (proto.Message, error) {
			return f.client.UpdateStatus(ctx, &feedbackv1.UpdateStatusRequest{FeedbackId: id, Status: stAck, Note: "seen"})
		}},
		{"Upvote", func(_ context.Context, id, _ string) (proto.Message, error) {
			return f.client.Upvote(f.as(auth.RoleSubmitter), &feedbackv1.UpvoteRequest{FeedbackId: id, SubmitterRef: "V1"})
		}},
		{"AssignOwner", func(ctx context.Context, id, _ string) (proto.Message, error) {
			return f.client.AssignOwner(ctx, &feedbackv1.AssignOwnerRequest{FeedbackId: id, OwnerGroup: "eng-leads"})
		}},
	} {
		asJSON()
		same(op.name, func(id, token string) (proto.Message, error) { return op.call(hr, id, token) })
		if raw := record(old.FeedbackId); raw[0] != 0x01 {
			t.Errorf("after %s the JSON record is still JSON: %q", op.name, raw)
		}
		asJSON()
		reads("after " + op.name)
		f.clock.Add(24 * time.Hour)
	}
}

// clearIDs returns a copy of m with the comment id and every message id cleared.
func clearIDs(m proto.Message, id string) proto.Message {
	m = proto.Clone(m)
	clear := func(fb *feedbackv1.Feedback) {
		if fb != nil && fb.Id == id {
			fb.Id = ""
		}
	}
	switch m := m.(type) {
	case *feedbackv1.Feedback:
		clear(m)
	case *feedbackv1.GetFeedbackResponse:
		clear(m.Feedback)
	case *feedbackv1.UpdateStatusResponse:
		clear(m.Feedback)
	case *feedbackv1.AssignOwnerResponse:
		clear(m.Feedback)
	case *feedbackv1.GetThreadResponse:
		clear(m.Feedback)
		for _, msg := range m.Messages {
			msg.Id = ""
		}
	case *feedbackv1.ReplyResponse:
		m.Message.Id = ""
	case *feedbackv1.FollowUpResponse:
		m.Message.Id = ""
	}
	return m
}
