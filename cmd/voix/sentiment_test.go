package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/voix-dev/voix/cmd/voix/internal/dev"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
)

func TestSentimentRebuildCommand(t *testing.T) {
	dir := t.TempDir()
	s, err := dev.Start(context.Background(), dev.Config{
		DataDir: dir, NATSPort: -1,
		PulseListen: "127.0.0.1:0", FeedbackListen: "127.0.0.1:0", SentimentListen: "127.0.0.1:0",
		GatewayListen: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatalf("start dev suite: %v", err)
	}
	defer s.Close()
	cc, err := grpc.NewClient(s.Feedback.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+s.Tokens.Submitter)
	if _, err := feedbackv1.NewFeedbackServiceClient(cc).SubmitFeedback(ctx, &feedbackv1.SubmitFeedbackRequest{
		Segment: "acme/eng", Text: "Les revues de code sont utiles", SubmitterRef: "U1",
	}); err != nil {
		t.Fatalf("SubmitFeedback: %v", err)
	}

	var out, errb bytes.Buffer
	tokens := filepath.Join(dir, "tokens.json")
	if err := run([]string{"sentiment", "rebuild", "--addr", s.Sentiment.Addr(), "--tokens-json", tokens}, &out, &errb); err != nil {
		t.Fatalf("voix sentiment rebuild: %v (%s)", err, errb.String())
	}
	// The comment may or may not have reached the stream yet; the command reports what it did.
	if !strings.HasPrefix(out.String(), "rebuilt the sentiment rollups from ") {
		t.Fatalf("output %q", out.String())
	}
	// A store created with the release log keeps its releases across a rebuild: no warning.
	if strings.Contains(errb.String(), "warning:") {
		t.Fatalf("a rebuild of a store that logged its releases warns: %q", errb.String())
	}
	if err := run([]string{"sentiment", "rebuild", "--addr", s.Sentiment.Addr(), "--token", s.Tokens.HR}, &out, &errb); err == nil || !strings.Contains(err.Error(), "PermissionDenied") {
		t.Fatalf("rebuild with an hr token: %v, want PermissionDenied", err)
	}
}
