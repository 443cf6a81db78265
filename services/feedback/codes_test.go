package feedback_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/servicetest"
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

// TestServiceRefusesToStartWithoutTheDeploymentSecret: a service with a data dir of its own
// used to make a secret of its own, and a person's comment and survey answer then counted as
// two people. It now refuses to start, saying how to share the secret.
func TestServiceRefusesToStartWithoutTheDeploymentSecret(t *testing.T) {
	env := servicetest.New(t)
	own := t.TempDir()
	_, err := feedback.Start(context.Background(), feedback.Config{
		Listen: "127.0.0.1:0", DataDir: own, TokensFile: host.DefaultTokensFile(env.DataDir), NATS: env.NATSConfig(),
	})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(own, "secret.key")) || !strings.Contains(err.Error(), "--create-secret") {
		t.Fatalf("Start without a secret = %v, want an error naming the file and --create-secret", err)
	}
	if _, statErr := os.Stat(filepath.Join(own, "secret.key")); statErr == nil {
		t.Fatal("the service made a secret of its own")
	}
	// Given the deployment's secret in the environment form, it starts with no file at all.
	key, err := os.ReadFile(host.DefaultSecretFile(env.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := anonymity.NewSecret(key)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := feedback.Start(context.Background(), feedback.Config{
		Listen: "127.0.0.1:0", DataDir: own, TokensFile: host.DefaultTokensFile(env.DataDir), NATS: env.NATSConfig(),
		Secret: anonymity.SecretSource{Key: anonymity.EncodeSecret(secret)},
	})
	if err != nil {
		t.Fatalf("Start with the secret in the environment form: %v", err)
	}
	svc.Close()
}
