package sentiment_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
)

func TestAWeeklyDropRaisesOneAlertPerEpisode(t *testing.T) {
	f := start(t)
	wl := commonv1.Dimension_DIMENSION_WORKLOAD
	n := 0
	for w := 4; w >= 1; w-- { // four good weeks before now's
		n += len(f.group(t, "acme/sales", 12, now.AddDate(0, 0, -7*w), wl, 5, 4, 5))
	}
	f.waitAcked(t, "sentiment-pulse", "PULSE", uint64(n))
	n += len(f.group(t, "acme/sales", 12, now, wl, 1, 2, 1))
	f.waitAcked(t, "sentiment-pulse", "PULSE", uint64(n))

	first := f.waitAlert(t, "acme/sales", commonv1.Dimension_DIMENSION_UNSPECIFIED)
	if first.Metric != "score" || first.Baseline <= first.Observed || first.People < 10 || first.People > 12 || first.Window.Key != weekKey(now) {
		// It fires as soon as the week has the 10 items the rule asks for, whichever flush that is.
		t.Fatalf("alert = %v, want a score drop in %s over 10 to 12 people", first, weekKey(now))
	}

	// More bad answers in the same week: still the same episode, no second alert.
	n += len(f.group(t, "acme/sales", 6, now.Add(time.Hour), wl, 1))
	f.waitAcked(t, "sentiment-pulse", "PULSE", uint64(n))
	// The same six people answer again (group names people by day and index): 18 answers.
	f.waitUpdated(t, "acme/sales", 18) // flushed: alerts are evaluated in the same transaction
	var mine int
	for _, a := range f.alerts(t, "acme/sales") {
		if a.Segment == "acme/sales" && a.Dimension == commonv1.Dimension_DIMENSION_UNSPECIFIED && a.Metric == "score" {
			mine++
		}
	}
	if mine != 1 {
		t.Fatalf("%d score alerts for acme/sales overall, want 1 per episode", mine)
	}
	// The alert went out on NATS too, and a manager of another subtree cannot list it.
	msg := f.lastOn(t, "voix.sentiment.alert.acme.sales")
	var ev eventsv1.SentimentAlert
	if err := proto.Unmarshal(msg.Data, &ev); err != nil || ev.AlertId == "" {
		t.Fatalf("alert event: %v %v", &ev, err)
	}
	if _, err := f.client.ListAlerts(f.env.As(context.Background(), auth.RoleSubmitter), &sentimentv1.ListAlertsRequest{SegmentPrefix: "acme"}); err == nil {
		t.Fatal("a submitter listed alerts")
	}
}

func (f *fixture) alerts(t *testing.T, prefix string) []*eventsv1.SentimentAlert {
	t.Helper()
	resp, err := f.client.ListAlerts(f.env.As(context.Background(), auth.RoleHR), &sentimentv1.ListAlertsRequest{SegmentPrefix: prefix})
	if err != nil {
		t.Fatalf("ListAlerts: %v", err)
	}
	return resp.Alerts
}

func (f *fixture) waitAlert(t *testing.T, seg string, dim commonv1.Dimension) *eventsv1.SentimentAlert {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, a := range f.alerts(t, seg) {
			if a.Segment == seg && a.Dimension == dim {
				return a
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alert for %s/%v", seg, dim)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitUpdated waits until the latest SentimentUpdated of seg for now's week counts count items.
func (f *fixture) waitUpdated(t *testing.T, seg string, count uint32) {
	t.Helper()
	subject := "voix.sentiment.updated." + strings.ReplaceAll(seg, "/", ".")
	deadline := time.Now().Add(10 * time.Second)
	for {
		var u eventsv1.SentimentUpdated
		msg := f.lastOn(t, subject)
		if err := proto.Unmarshal(msg.Data, &u); err != nil {
			t.Fatalf("decode update: %v", err)
		}
		if u.Aggregate.Count == count && u.Aggregate.Window.Key == weekKey(now) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("latest update of %s = %v, want %d items", seg, u.Aggregate, count)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *fixture) lastOn(t *testing.T, subject string) *jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream := events.Sentiment.Name
	if strings.HasPrefix(subject, "voix.feedback.") {
		stream = events.Feedback.Name
	}
	st, err := f.js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	for {
		msg, err := st.GetLastMsgForSubject(ctx, subject)
		if err == nil {
			return msg
		}
		if ctx.Err() != nil {
			t.Fatalf("nothing on %s: %v", subject, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
