package sentiment_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
)

// TestAnAlertKeepsItsIdentityAcrossEpisodesAndRebuilds: an alert is one drop of one metric in
// one segment, dimension and week. When that drop fires again in the same week (after the week
// recovered for a while), or when a rebuild evaluates the week again, the alert already raised
// stands: no second alert, no new id. (Before, each firing raised an alert with a random id.)
func TestAnAlertKeepsItsIdentityAcrossEpisodesAndRebuilds(t *testing.T) {
	f := start(t)
	wl := commonv1.Dimension_DIMENSION_WORKLOAD
	n := 0
	for w := 4; w >= 1; w-- { // four good weeks before now's
		n += len(f.group(t, "acme/sales", 12, now.AddDate(0, 0, -7*w), wl, 5, 4, 5))
	}
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	n += len(f.group(t, "acme/sales", 12, now, wl, 1, 2, 1))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	first := f.waitAlert(t, "acme/sales", commonv1.Dimension_DIMENSION_UNSPECIFIED)

	// The week recovers: 60 good answers (48 new people) end the episode...
	n += len(f.group(t, "acme/sales", 60, now.Add(time.Hour), wl, 5))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	f.waitUpdated(t, "acme/sales", 72)
	// ...and drops again: 100 bad answers (40 new people) fire the same rule in the same week.
	n += len(f.group(t, "acme/sales", 100, now.Add(2*time.Hour), wl, 1))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	f.waitUpdated(t, "acme/sales", 172)

	scoreAlerts := func() []*eventsv1.SentimentAlert {
		var out []*eventsv1.SentimentAlert
		for _, a := range f.alerts(t, "acme/sales") {
			if a.Segment == "acme/sales" && a.Dimension == commonv1.Dimension_DIMENSION_UNSPECIFIED && a.Metric == "score" {
				out = append(out, a)
			}
		}
		return out
	}
	if got := scoreAlerts(); len(got) != 1 || got[0].AlertId != first.AlertId {
		t.Fatalf("after the drop fired again in the same week: %v; want only the first alert %s", got, first.AlertId)
	}

	// A rebuild evaluates the week again: still that one alert, and no alert event more.
	before := f.alertEvents(t, "acme/sales")
	if _, err := f.client.RebuildRollups(f.env.As(context.Background(), auth.RoleAdmin), &sentimentv1.RebuildRollupsRequest{}); err != nil {
		t.Fatalf("RebuildRollups: %v", err)
	}
	if got := scoreAlerts(); len(got) != 1 || got[0].AlertId != first.AlertId {
		t.Fatalf("after a rebuild: %v; want only the first alert %s", got, first.AlertId)
	}
	// The rebuild's transactions are committed when it returns; its outbox is relayed soon
	// after. A later update proves the relay passed: five more people, flushed and published.
	n += len(f.group(t, "acme/sales", 5, now.Add(3*time.Hour).Add(24*time.Hour), wl, 5))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	f.waitUpdated(t, "acme/sales", 177)
	if after := f.alertEvents(t, "acme/sales"); after != before {
		t.Fatalf("alert events on the stream for acme/sales: %d before the rebuild, %d after; want no new one", before, after)
	}
}

// alertEvents counts the SentimentAlert events about seg in the stream.
func (f *fixture) alertEvents(t *testing.T, seg string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := f.js.Stream(ctx, events.SentimentAlert.Stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	subject := events.SentimentAlert.Subject(segment.MustParse(seg))
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subject]
}
