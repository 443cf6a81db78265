package feedback_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
)

// Concurrent submissions share commits (platform/groupcommit): every acknowledged one is on
// disk and readable after a restart, and a refused one, sent among them, fails alone and
// leaves no trace.
func TestConcurrentSubmitsAreDurableAndFailAlone(t *testing.T) {
	f := start(t)
	// One person reaches the daily limit first; their later comments are refused.
	for i := range feedback.DefaultDailyLimit {
		f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: fmt.Sprintf("Limite atteinte %d", i), SubmitterRef: "limited"})
	}

	const people, refused = 64, 8
	var (
		wg    sync.WaitGroup
		gate  = make(chan struct{})
		mu    sync.Mutex
		ids   []string
		texts = map[string]string{}
		fails []error
	)
	for i := range people + refused {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: fmt.Sprintf("Commentaire numéro %c%c", 'a'+i/26, 'a'+i%26), SubmitterRef: fmt.Sprintf("person-%d", i)}
			if i >= people {
				req.SubmitterRef = "limited"
			}
			<-gate
			resp, err := f.client.SubmitFeedback(f.as(auth.RoleSubmitter), req)
			mu.Lock()
			defer mu.Unlock()
			if i >= people {
				fails = append(fails, err)
				return
			}
			if err != nil {
				t.Errorf("SubmitFeedback of person %d failed with the batch: %v", i, err)
				return
			}
			ids = append(ids, resp.FeedbackId)
			texts[resp.FeedbackId] = req.Text
		}()
	}
	close(gate)
	wg.Wait()
	for _, err := range fails {
		if status.Code(err) != codes.ResourceExhausted || !strings.HasPrefix(status.Convert(err).Message(), "submitter_ref: ") {
			t.Errorf("comment over the daily limit: %v, want ResourceExhausted on submitter_ref", err)
		}
	}
	if len(ids) != people {
		t.Fatalf("%d of %d comments acknowledged", len(ids), people)
	}

	// Acknowledged means on disk: after a restart every comment is there, once.
	f.svc.Close()
	f.restart(t)
	for _, id := range ids {
		got, err := f.client.GetFeedback(f.as(auth.RoleHR), &feedbackv1.GetFeedbackRequest{FeedbackId: id})
		if err != nil {
			t.Fatalf("GetFeedback(%s) after restart: %v", id, err)
		}
		if got.Feedback.Text != texts[id] {
			t.Errorf("comment %s: text %q, want %q", id, got.Feedback.Text, texts[id])
		}
	}
	want := feedback.DefaultDailyLimit + people
	waitPublished(t, f, want)
	if n := len(publishedIDs(t, f, events.FeedbackSubmitted.All())); n != want {
		t.Fatalf("%d comments published, want %d: the refused ones must leave no trace", n, want)
	}
}
