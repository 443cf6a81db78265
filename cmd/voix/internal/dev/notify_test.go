package dev

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// TestNotifyAllowReachesFeedback: a dev suite started with NotifyAllow 127.0.0.1 (voix dev
// --notify-allow 127.0.0.1) lets HR point a webhook target at a receiver on this machine; one
// started without it refuses the same target, InvalidArgument naming target.url and the flag.
func TestNotifyAllowReachesFeedback(t *testing.T) {
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(rec.Close)
	set := func(allow []string) error {
		dir := t.TempDir()
		s, err := Start(context.Background(), Config{
			DataDir: dir, NATSPort: -1, PulseListen: "127.0.0.1:0", FeedbackListen: "127.0.0.1:0",
			SentimentListen: "127.0.0.1:0", GatewayListen: "127.0.0.1:0", NotifyAllow: allow,
		})
		if err != nil {
			t.Fatalf("start dev suite in %s: %v", dir, err)
		}
		defer s.Close()
		fc := feedbackv1.NewFeedbackServiceClient(servicetest.Dial(t, s.Feedback.Addr()))
		_, err = fc.SetNotificationTarget(servicetest.WithToken(context.Background(), s.Tokens.HR), &feedbackv1.SetNotificationTargetRequest{
			Target: &feedbackv1.NotificationTarget{OwnerGroup: "hr", SegmentPrefix: "acme",
				Kind: feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_WEBHOOK, Url: rec.URL + "/hook"},
		})
		return err
	}
	if err := set([]string{"127.0.0.1"}); err != nil {
		t.Errorf("with --notify-allow 127.0.0.1, a webhook on %s: %v", rec.URL, err)
	}
	err := set(nil)
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), "target.url") ||
		!strings.Contains(st.Message(), "--notify-allow") {
		t.Errorf("without --notify-allow, a webhook on %s: %v, want InvalidArgument on target.url naming --notify-allow", rec.URL, err)
	}
}
