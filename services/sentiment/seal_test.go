package sentiment_test

import (
	"testing"
	"time"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	"github.com/voix-dev/voix/services/platform/events"
)

// TestAWeekIsSealedOnlyOnceNothingArrivesForIt: a week keeps its contributors while events
// still count in it (a backfill, a consumer catching up), even past rollup.SealAfter after its
// end; once nothing has come for SealAfter, they are forgotten and a later event no longer
// counts in it (it could not be told apart from a person already counted).
func TestAWeekIsSealedOnlyOnceNothingArrivesForIt(t *testing.T) {
	f := start(t)
	wl := commonv1.Dimension_DIMENSION_WORKLOAD
	week := func(want uint32, when string) {
		t.Helper()
		if got := f.getAt(t, "acme/sales", wl, now); got.Hidden || got.People != want {
			t.Fatalf("%s: week of now = %+v, want %d people", when, got, want)
		}
	}
	// now is Wednesday 2026-11-18; its week ends on Monday 2026-11-23.
	n := len(f.group(t, "acme/sales", 5, now, wl, 4))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))

	// Friday 27th: late events of that week still arrive.
	f.setNow(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	n += len(f.group(t, "acme/sales", 5, now.Add(24*time.Hour), wl, 2))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	week(10, "late events")

	// Wednesday December 2nd: more than SealAfter since the week's end, less since its last
	// event: still open, and more late people count.
	f.setNow(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
	if err := f.svc.Flush(); err != nil {
		t.Fatal(err)
	}
	n += len(f.group(t, "acme/sales", 5, now.Add(48*time.Hour), wl, 5))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	week(15, "events five days after the last ones")

	// Eleven quiet days later the week is sealed: one more late group does not count.
	f.setNow(time.Date(2026, 12, 13, 12, 0, 0, 0, time.UTC))
	if err := f.svc.Flush(); err != nil {
		t.Fatal(err)
	}
	n += len(f.group(t, "acme/sales", 5, now.Add(72*time.Hour), wl, 3))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	week(15, "sealed week")
}
