package chaos

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/sentiment"
)

// consumers are the durables that must catch up, with the kind they apply.
var consumers = []struct {
	durable string
	kind    events.Kind
}{
	{events.DurableSentimentFeedback, events.FeedbackSubmitted},
	{events.DurableSentimentPulse, events.PulseResponded},
	{events.DurableFeedbackScored, events.SentimentScored},
}

// settle waits until every outbox is relayed (the streams hold at least one event per
// acknowledged comment and response, and a score per comment) and every durable consumer has
// acked all it was given, twice in a row with nothing changing. It gives up when nothing
// changed for stall.
func (c *cluster) settle(ctx context.Context, ld *load, stall time.Duration) error {
	nc, err := nats.Connect(c.natsURL, nats.UserInfo(natsUser, c.natsPass))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	want := map[string]int{
		events.FeedbackSubmitted.All(): len(ld.comments),
		events.SentimentScored.All():   len(ld.comments),
		events.PulseResponded.All():    len(ld.responses),
	}
	last, changed, logged := "", time.Now(), time.Now()
	for {
		state, done, err := progress(ctx, js, want)
		if err != nil {
			state = err.Error()
		}
		if done && state == last {
			c.logf("settled: %s", state)
			return nil
		}
		if state != last {
			changed = time.Now()
		} else if time.Since(changed) > stall {
			return fmt.Errorf("not settled: nothing changed for %v: %s", stall, state)
		}
		if state != last && time.Since(logged) > 5*time.Second {
			c.logf("settling: %s", state)
			logged = time.Now()
		}
		last = state
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// progress describes the streams and consumers, and whether they are done.
func progress(ctx context.Context, js jetstream.JetStream, want map[string]int) (string, bool, error) {
	var b strings.Builder
	done := true
	for _, k := range []events.Kind{events.FeedbackSubmitted, events.SentimentScored, events.PulseResponded} {
		n, err := bus.Count(ctx, js, k)
		if err != nil {
			return "", false, err
		}
		fmt.Fprintf(&b, "%s %d/%d; ", k.All(), n, want[k.All()])
		done = done && n >= want[k.All()]
	}
	for _, cs := range consumers {
		ci, err := js.Consumer(ctx, cs.kind.Stream.Name, cs.durable)
		if err != nil {
			return "", false, err
		}
		info, err := ci.Info(ctx)
		if err != nil {
			return "", false, err
		}
		fmt.Fprintf(&b, "%s pending=%d unacked=%d; ", cs.durable, info.NumPending, info.NumAckPending)
		done = done && info.NumPending == 0 && info.NumAckPending == 0
	}
	return strings.TrimSuffix(b.String(), "; "), done, nil
}

// readIDs reads every event of kind k in its stream and counts them by ce-id.
func readIDs(ctx context.Context, js jetstream.JetStream, k events.Kind) (map[string]int, error) {
	ids := map[string]int{}
	err := ReadStream(ctx, js, k.Stream.Name, []string{k.All()}, func(m jetstream.Msg) error {
		ids[m.Headers().Get(bus.HeaderID)]++
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// verify checks what was acknowledged against what every service and stream holds, then
// stops everything and reads the sentiment store.
func verify(ctx context.Context, c *cluster, ld *load, res *Result) error {
	if err := verifyComments(ctx, ld, res); err != nil {
		return err
	}
	if err := verifyResults(ctx, ld, res); err != nil {
		return err
	}
	if err := verifyStreams(ctx, c, ld, res); err != nil {
		return err
	}
	if err := c.stop(); err != nil {
		return err
	}
	return verifySentiment(c, ld, res)
}

// verifyComments reads every acknowledged comment as HR and its thread as its author, and
// lists the organisation's comments.
func verifyComments(ctx context.Context, ld *load, res *Result) error {
	hr, sub := ld.as(ctx, auth.RoleHR), ld.as(ctx, auth.RoleSubmitter)
	acked := map[string]*comment{}
	for _, cm := range ld.comments {
		acked[cm.id] = cm
		var fb *feedbackv1.GetFeedbackResponse
		err := ld.call(ctx, func(ctx context.Context) (err error) {
			fb, err = ld.fb.GetFeedback(hr, &feedbackv1.GetFeedbackRequest{FeedbackId: cm.id})
			return err
		})
		switch {
		case status.Code(err) == codes.NotFound:
			res.lost(1, "comment %s (%q): GetFeedback answers %v", cm.id, cm.text, err)
			continue
		case err != nil:
			return fmt.Errorf("GetFeedback %s: %w", cm.id, err)
		case fb.Feedback.Text != cm.text:
			res.lost(1, "comment %s: GetFeedback shows %q, acknowledged %q", cm.id, fb.Feedback.Text, cm.text)
		case fb.Feedback.SentimentLabel == commonv1.SentimentLabel_SENTIMENT_LABEL_UNSPECIFIED:
			res.lost(1, "comment %s (%q): never scored (its ItemScored did not reach feedback)", cm.id, cm.text)
		}
		if got, want := int(fb.Feedback.Upvotes), cm.upvotes; got < want {
			res.lost(want-got, "comment %s: %d upvotes, %d acknowledged", cm.id, got, want)
		} else if got > want {
			res.dup(got-want, "comment %s: %d upvotes, %d acknowledged", cm.id, got, want)
		}

		var th *feedbackv1.GetThreadResponse
		err = ld.call(ctx, func(ctx context.Context) (err error) {
			th, err = ld.fb.GetThread(sub, &feedbackv1.GetThreadRequest{FollowUpToken: cm.token})
			return err
		})
		if status.Code(err) == codes.NotFound {
			res.lost(1+len(cm.followUps), "comment %s: GetThread by its follow-up token answers %v", cm.id, err)
			continue
		} else if err != nil {
			return fmt.Errorf("GetThread of %s: %w", cm.id, err)
		}
		for _, f := range cm.followUps {
			switch n := countText(th.Messages, f); {
			case n == 0:
				res.lost(1, "comment %s: acknowledged follow-up %q is not in its thread", cm.id, f)
			case n > 1:
				res.dup(n-1, "comment %s: follow-up %q is %d times in its thread", cm.id, f, n)
			}
		}
		if n, want := countAuthor(th.Messages), len(cm.followUps); n > want {
			res.dup(n-want, "comment %s: %d follow-ups in its thread, %d acknowledged", cm.id, n, want)
		}
	}

	// A retry that stored a second comment shows in the listing: every comment must be one
	// acknowledged, once.
	listed := map[string]int{}
	token := ""
	for {
		var page *feedbackv1.ListFeedbackResponse
		err := ld.call(ctx, func(ctx context.Context) (err error) {
			page, err = ld.fb.ListFeedback(hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: org, PageSize: 200, PageToken: token})
			return err
		})
		if err != nil {
			return fmt.Errorf("ListFeedback: %w", err)
		}
		for _, f := range page.Feedback {
			listed[f.Id]++
			if acked[f.Id] == nil {
				res.dup(1, "comment %s (%q) is stored but was never acknowledged: a retry stored it twice", f.Id, f.Text)
			}
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	for _, cm := range ld.comments {
		if n := listed[cm.id]; n == 0 {
			res.lost(1, "comment %s (%q) is not listed by ListFeedback", cm.id, cm.text)
		} else if n > 1 {
			res.dup(n-1, "comment %s is listed %d times", cm.id, n)
		}
	}
	return nil
}

func countAuthor(msgs []*feedbackv1.Message) int {
	n := 0
	for _, m := range msgs {
		if m.Author == feedbackv1.Author_AUTHOR_EMPLOYEE {
			n++
		}
	}
	return n
}

// verifyResults closes the survey and compares its respondents with the acknowledged
// responses.
func verifyResults(ctx context.Context, ld *load, res *Result) error {
	hr := ld.as(ctx, auth.RoleHR)
	if err := ld.call(ctx, func(ctx context.Context) error {
		_, err := ld.pl.CloseSurvey(hr, &pulsev1.CloseSurveyRequest{SurveyId: ld.survey})
		return err
	}); err != nil {
		return fmt.Errorf("CloseSurvey: %w", err)
	}
	var r *pulsev1.GetResultsResponse
	if err := ld.call(ctx, func(ctx context.Context) (err error) {
		r, err = ld.pl.GetResults(hr, &pulsev1.GetResultsRequest{SurveyId: ld.survey, SegmentPrefix: org})
		return err
	}); err != nil {
		return fmt.Errorf("GetResults: %w", err)
	}
	want := len(ld.responses)
	if r.Total == nil || r.Total.Hidden {
		if want >= 5 {
			return fmt.Errorf("GetResults hides the organisation's total of %d acknowledged responses", want)
		}
		return nil // too few to be shown: the streams and sentiment still check them
	}
	if got := int(r.Total.Respondents); got < want {
		res.lost(want-got, "survey %s: %d respondents, %d responses acknowledged", ld.survey, got, want)
	} else if got > want {
		res.dup(got-want, "survey %s: %d respondents, %d responses acknowledged", ld.survey, got, want)
	}
	return nil
}

// verifyStreams checks that the FEEDBACK and PULSE streams hold each acknowledged item's event
// once, and SENTIMENT a score for each comment (a repeated score is absorbed by feedback-scored).
func verifyStreams(ctx context.Context, c *cluster, ld *load, res *Result) error {
	nc, err := nats.Connect(c.natsURL, nats.UserInfo(natsUser, c.natsPass))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	submitted, err := readIDs(ctx, js, events.FeedbackSubmitted)
	if err != nil {
		return err
	}
	scored, err := readIDs(ctx, js, events.SentimentScored)
	if err != nil {
		return err
	}
	responded, err := readIDs(ctx, js, events.PulseResponded)
	if err != nil {
		return err
	}
	for _, cm := range ld.comments {
		switch n := submitted[events.SubmittedID(cm.id)]; {
		case n == 0:
			res.lost(1, "comment %s: no %s event in stream %s", cm.id, events.FeedbackSubmitted.Type, events.Feedback.Name)
		case n > 1:
			res.dup(n-1, "comment %s: %d %s events in stream %s", cm.id, n, events.FeedbackSubmitted.Type, events.Feedback.Name)
		}
		switch n := scored[events.ScoredID(cm.id)]; {
		case n == 0:
			res.lost(1, "comment %s: no %s event in stream %s", cm.id, events.SentimentScored.Type, events.Sentiment.Name)
		case n > 1:
			res.Republished++
		}
	}
	checkResponses(res, ld, responded, "stream "+events.Pulse.Name)
	return nil
}

// checkResponses compares the acknowledged responses with the response events ids holds (by
// event id, with how often each is there). A retry that acknowledged a response does not
// return its id, so those are counted rather than named.
func checkResponses(res *Result, ld *load, ids map[string]int, where string) {
	for id, n := range ids {
		if n > 1 {
			res.dup(n-1, "response event %s: %d times in %s", id, n, where)
		}
	}
	missing := 0
	for _, id := range ld.responses {
		if id != "" && ids[events.RespondedID(id)] == 0 {
			missing++
			res.lost(1, "response %s: not in %s", id, where)
		}
	}
	if got, want := len(ids), len(ld.responses); got > want {
		res.dup(got-want, "%s holds %d responses, %d acknowledged", where, got, want)
	} else if want-got > missing {
		res.lost(want-got-missing, "%s holds %d responses, %d acknowledged (missing ones not named above were acknowledged by a retry, which returns no id)", where, got, want)
	}
}

// verifySentiment reads the stopped sentiment service's store: the events its consumers
// applied, and the organisation's weekly all-dimensions rollups, whose count must be exactly
// one per acknowledged comment and scale answer.
func verifySentiment(c *cluster, ld *load, res *Result) error {
	path := filepath.Join(c.cfg.Dir, "sentiment", "sentiment", "sentiment.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 10 * time.Second})
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	applied := map[string]map[string]int{}
	count := 0
	err = db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket([]byte(consumer.ProcessedBucketName))
		for _, d := range []string{events.DurableSentimentFeedback, events.DurableSentimentPulse} {
			applied[d] = map[string]int{}
			if b := root.Bucket([]byte(d)); b != nil {
				if err := b.ForEach(func(k, _ []byte) error { applied[d][string(k)]++; return nil }); err != nil {
					return err
				}
			}
		}
		n, err := sentiment.CountedItems(tx, org)
		count = n
		return err
	})
	if err != nil {
		return err
	}
	for _, cm := range ld.comments {
		if applied[events.DurableSentimentFeedback][events.SubmittedID(cm.id)] == 0 {
			res.lost(1, "comment %s: sentiment never applied it (no processed_events/%s record)", cm.id, events.DurableSentimentFeedback)
		}
	}
	checkResponses(res, ld, applied[events.DurableSentimentPulse], "sentiment's processed_events/"+events.DurableSentimentPulse)
	want := len(ld.comments) + ld.scale
	if count < want {
		res.lost(want-count, "sentiment counts %d items in %s's weekly rollups, %d acknowledged (comments and scale answers)", count, org, want)
	} else if count > want {
		res.dup(count-want, "sentiment counts %d items in %s's weekly rollups, %d acknowledged (comments and scale answers): applied twice", count, org, want)
	}
	return nil
}
