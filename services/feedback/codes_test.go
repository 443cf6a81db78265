package feedback_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/auth"
)

// toFullWidth writes ASCII letters and digits in their full-width forms, as some phone
// keyboards do.
func toFullWidth(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '!' && r <= '~' {
			return r - '!' + 0xFF01
		}
		return r
	}, s)
}

// TestTextHoldingAFollowUpCodeIsRefused is the leak found in use: the bot shows the author's
// code in backticks, and "/feedback status `CODE`", a lowercase code or a code with a full stop
// were filed as new comments that HR read. Whatever the entry point, a text holding a code of
// any thread is refused with InvalidArgument naming the field, and nothing is stored.
func TestTextHoldingAFollowUpCodeIsRefused(t *testing.T) {
	f := start(t)
	sub := f.as(auth.RoleSubmitter)
	first := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "the build is slow", SubmitterRef: "U1"})
	other := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "meetings again", SubmitterRef: "U2"})
	code := first.FollowUpToken
	for _, text := range []string{
		"status `" + code + "`",
		"status " + code + ".",
		strings.ToLower(code),
		"reply " + code,
		"any news on " + code + "?",
		"code:" + code[:10] + "\u200b" + code[10:],
		toFullWidth(code),
		"(" + other.FollowUpToken + ")",
	} {
		_, err := f.client.SubmitFeedback(sub, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: text, SubmitterRef: "U1"})
		if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), "text: must not contain a follow-up code") {
			t.Errorf("SubmitFeedback(%q) = %v, want InvalidArgument on text", text, err)
		}
		_, err = f.client.FollowUp(sub, &feedbackv1.FollowUpRequest{FollowUpToken: other.FollowUpToken, Text: text})
		if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), "text: ") {
			t.Errorf("FollowUp(text %q) = %v, want InvalidArgument on text", text, err)
		}
	}
	// Nothing of it was stored: HR lists the two comments and no thread message.
	f.headcount(t, "acme/eng", 20)
	hr := f.as(auth.RoleHR)
	if got := listAll(t, f, hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme"}); len(got) != 2 {
		t.Fatalf("HR lists %d comments, want the 2 real ones", len(got))
	}
	th, err := f.client.GetThread(sub, &feedbackv1.GetThreadRequest{FollowUpToken: other.FollowUpToken})
	if err != nil || len(th.Messages) != 0 {
		t.Fatalf("thread of the other comment: %v messages, %v; want none", len(th.GetMessages()), err)
	}
	// A code-shaped word that opens no thread is no reason to refuse a comment.
	f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "ticket ABCDEFGHIJKLMNOPQRSTUVWXYZ is still open", SubmitterRef: "U3"})
}

// TestFollowUpTokenIsReadAsPeoplePasteIt: the author's code works in any case, in backticks
// and with trailing punctuation, so a person who pastes it as the bot showed it reaches their
// thread instead of filing a comment.
func TestFollowUpTokenIsReadAsPeoplePasteIt(t *testing.T) {
	f := start(t)
	sub := f.as(auth.RoleSubmitter)
	r := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "the build is slow", SubmitterRef: "U1"})
	for _, tok := range []string{"`" + r.FollowUpToken + "`", strings.ToLower(r.FollowUpToken) + ".", " " + r.FollowUpToken + " ", toFullWidth(r.FollowUpToken)} {
		th, err := f.client.GetThread(sub, &feedbackv1.GetThreadRequest{FollowUpToken: tok})
		if err != nil || th.Feedback.Id != r.FeedbackId {
			t.Errorf("GetThread(%q) = %v, want the thread of %s", tok, err, r.FeedbackId)
		}
	}
	if _, err := f.client.FollowUp(sub, &feedbackv1.FollowUpRequest{FollowUpToken: strings.ToLower(r.FollowUpToken), Text: "any news?"}); err != nil {
		t.Fatalf("FollowUp with a lowercase token: %v", err)
	}
}
