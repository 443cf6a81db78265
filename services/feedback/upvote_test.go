package feedback_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
)

// A person who taps the upvote of a comment many times at once (a bot retrying, a double
// click) counts once, even when the taps share one group commit: the vote of the same
// transaction must be seen.
func TestConcurrentUpvotesOfOnePersonCountOnce(t *testing.T) {
	f := start(t)
	bot := f.as(auth.RoleSubmitter)
	id := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "free coffee", SubmitterRef: "author"}).FeedbackId
	const taps = 32
	var wg sync.WaitGroup
	var counted atomic.Int32
	for range taps {
		wg.Go(func() {
			r, err := f.client.Upvote(bot, &feedbackv1.UpvoteRequest{FeedbackId: id, SubmitterRef: "U1"})
			if err != nil {
				t.Errorf("Upvote: %v", err)
				return
			}
			if r.Counted {
				counted.Add(1)
			}
		})
	}
	wg.Wait()
	c, err := f.client.GetFeedback(f.as(auth.RoleHR), &feedbackv1.GetFeedbackRequest{FeedbackId: id})
	if err != nil {
		t.Fatal(err)
	}
	if c.Feedback.Upvotes != 1 || counted.Load() != 1 {
		t.Fatalf("%d taps of one person: %d upvotes, %d answered counted; want 1 and 1", taps, c.Feedback.Upvotes, counted.Load())
	}
}

func TestUpvoteCountsEachPersonOnce(t *testing.T) {
	f := start(t)
	bot := f.as(auth.RoleSubmitter)
	id := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "free coffee", SubmitterRef: "author"}).FeedbackId
	other := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "more coffee", SubmitterRef: "author2"}).FeedbackId
	vote := func(id, ref string) *feedbackv1.UpvoteResponse {
		t.Helper()
		r, err := f.client.Upvote(bot, &feedbackv1.UpvoteRequest{FeedbackId: id, SubmitterRef: ref})
		if err != nil {
			t.Fatalf("Upvote(%s, %s): %v", id, ref, err)
		}
		return r
	}
	for i, tc := range []struct {
		id, ref string
		want    uint32
		counted bool
	}{
		{id, "U1", 1, true},
		{id, "U2", 2, true},
		{id, "U1", 2, false},
		{other, "U1", 1, true}, // the same person on another comment counts there
		{id, secretRef, 3, true},
		{id, secretRef, 3, false},
	} {
		if got := vote(tc.id, tc.ref); got.Upvotes != tc.want || got.Counted != tc.counted {
			t.Errorf("vote %d = %v, want %d counted=%v", i, got, tc.want, tc.counted)
		}
	}
	// A restart keeps the votes and who already voted.
	f.svc.Close()
	f.restart(t)
	if got := vote(id, "U2"); got.Upvotes != 3 || got.Counted {
		t.Errorf("after restart: %v, want 3 not counted", got)
	}
	c, err := f.client.GetFeedback(f.as(auth.RoleHR), &feedbackv1.GetFeedbackRequest{FeedbackId: id})
	if err != nil || c.Feedback.Upvotes != 3 {
		t.Fatalf("GetFeedback: %v, %v; want 3 upvotes", c, err)
	}
	for _, tc := range []struct {
		name  string
		req   *feedbackv1.UpvoteRequest
		code  codes.Code
		field string
	}{
		{"unknown comment", &feedbackv1.UpvoteRequest{FeedbackId: "NOPE", SubmitterRef: "U1"}, codes.NotFound, "feedback_id"},
		{"no ref", &feedbackv1.UpvoteRequest{FeedbackId: id}, codes.InvalidArgument, "submitter_ref"},
		{"no id", &feedbackv1.UpvoteRequest{SubmitterRef: "U1"}, codes.InvalidArgument, "feedback_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.Upvote(bot, tc.req)
			wantCode(t, err, tc.code, tc.field)
		})
	}
}

func TestRateLimitPerPersonAndDay(t *testing.T) {
	f := start(t)
	sub := func(ref, key string) error {
		_, err := f.client.SubmitFeedback(f.as(auth.RoleSubmitter), &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "again", SubmitterRef: ref, IdempotencyKey: key})
		return err
	}
	for i := range feedback.DefaultDailyLimit {
		if err := sub(secretRef, fmt.Sprintf("k%d", i)); err != nil {
			t.Fatalf("comment %d: %v", i+1, err)
		}
	}
	// A retry of an accepted comment is not a new comment: it still answers.
	if err := sub(secretRef, "k0"); err != nil {
		t.Fatalf("retry of the first comment: %v", err)
	}
	wantCode(t, sub(secretRef, "k-over"), codes.ResourceExhausted, "submitter_ref")
	if err := sub("someone-else", ""); err != nil {
		t.Fatalf("another person is limited too: %v", err)
	}
	// The next day (UTC) the count starts over.
	f.clock.Add(14 * time.Hour)
	if err := sub(secretRef, "k-tomorrow"); err != nil {
		t.Fatalf("next day: %v", err)
	}
	nextEvent(t, f, events.FeedbackSubmitted.All())
	waitPublished(t, f, feedback.DefaultDailyLimit+2)
	if n := len(publishedIDs(t, f, events.FeedbackSubmitted.All())); n != feedback.DefaultDailyLimit+2 {
		t.Fatalf("%d comments published, want %d: the refused one must leave no trace", n, feedback.DefaultDailyLimit+2)
	}
}
