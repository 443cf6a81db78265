package sentiment_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
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

// TestARebuildKeepsASealedWeekSealed: a week sealed in the live store stays sealed in the
// rebuilt one, with the numbers the live store showed. The group that arrived after the seal
// (not counted live) is not counted by the replay either, and a group arriving after the
// rebuild does not count in it.
func TestARebuildKeepsASealedWeekSealed(t *testing.T) {
	f := start(t)
	wl := commonv1.Dimension_DIMENSION_WORKLOAD
	n := len(f.group(t, "acme/sales", 5, now, wl, 4))
	n += len(f.group(t, "acme/sales", 5, now.Add(24*time.Hour), wl, 2))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	if err := f.svc.Flush(); err != nil {
		t.Fatal(err)
	}
	sealed := f.getAt(t, "acme/sales", wl, now)
	if sealed.Hidden || sealed.People == 0 {
		t.Fatalf("week of now before the seal = %+v, want shown", sealed)
	}

	// Two quiet weeks later the week is sealed; a late group does not count in it.
	f.setNow(time.Date(2026, 12, 13, 12, 0, 0, 0, time.UTC))
	if err := f.svc.Flush(); err != nil {
		t.Fatal(err)
	}
	n += len(f.group(t, "acme/sales", 5, now.Add(48*time.Hour), wl, 3))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	if err := f.svc.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := f.getAt(t, "acme/sales", wl, now); !proto.Equal(got, sealed) {
		t.Fatalf("sealed week after a late group = %+v, want unchanged %+v", got, sealed)
	}

	if _, err := f.client.RebuildRollups(f.env.As(context.Background(), auth.RoleAdmin), &sentimentv1.RebuildRollupsRequest{}); err != nil {
		t.Fatalf("RebuildRollups: %v", err)
	}
	if err := f.svc.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := f.getAt(t, "acme/sales", wl, now); !proto.Equal(got, sealed) {
		t.Fatalf("sealed week after the rebuild = %+v, want as the live store showed it: %+v", got, sealed)
	}
	n += len(f.group(t, "acme/sales", 5, now.Add(72*time.Hour), wl, 1))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	if err := f.svc.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := f.getAt(t, "acme/sales", wl, now); !proto.Equal(got, sealed) {
		t.Fatalf("sealed week after the rebuild and another late group = %+v, want unchanged %+v", got, sealed)
	}
}

// TestTheReleaseLogStaysBoundedOverManyWeeks: week after week, groups answer and the weeks
// are sealed as they age; the release log keeps the events and releases of the weeks not sealed
// yet, not the whole history. A rebuild from the pruned log answers exactly as the live store,
// sealed weeks included, and a late group still counts in no sealed week.
func TestTheReleaseLogStaysBoundedOverManyWeeks(t *testing.T) {
	f := start(t)
	wl, gr := commonv1.Dimension_DIMENSION_WORKLOAD, commonv1.Dimension_DIMENSION_GROWTH
	const weeks = 10
	first := now.AddDate(0, 0, -7*weeks)
	n, perWeek := 0, 0
	var sizes []int
	for w := range weeks {
		at := first.AddDate(0, 0, 7*w)
		f.setNow(at)
		m := len(f.group(t, "acme/eng", 5, at, wl, 4, 2))
		m += len(f.group(t, "acme/sales", 6, at, gr, 3))
		n, perWeek = n+m, m
		f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
		if err := f.svc.Flush(); err != nil {
			t.Fatal(err)
		}
		evs, rels := f.svc.ReleaseLogSize()
		sizes = append(sizes, evs)
		t.Logf("week %d: %d events in the log of %d applied, %d releases", w, evs, n, rels)
	}
	// Weeks are sealed a week after their end and their last event: the log holds at most
	// the three most recent weeks.
	for w, evs := range sizes {
		if evs > 3*perWeek {
			t.Fatalf("after week %d the release log holds %d events, more than the %d of the three weeks that can be open (sizes %v)", w, evs, 3*perWeek, sizes)
		}
	}
	firstWeek := f.getAt(t, "acme/eng", wl, first)
	if firstWeek.Hidden || firstWeek.People != 5 {
		t.Fatalf("first week = %+v, want 5 people shown", firstWeek)
	}
	before := f.snapshot(t)
	if _, err := f.client.RebuildRollups(f.env.As(context.Background(), auth.RoleAdmin), &sentimentv1.RebuildRollupsRequest{}); err != nil {
		t.Fatalf("RebuildRollups after the log was pruned: %v", err)
	}
	if after := f.snapshot(t); after != before {
		t.Fatalf("the rebuilt store answers differently:\n--- live\n%s\n--- rebuilt\n%s", before, after)
	}
	if got := f.getAt(t, "acme/eng", wl, first); !proto.Equal(got, firstWeek) {
		t.Fatalf("first week after the rebuild = %+v, want %+v", got, firstWeek)
	}
	n += len(f.group(t, "acme/eng", 5, first, wl, 1))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	if err := f.svc.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := f.getAt(t, "acme/eng", wl, first); !proto.Equal(got, firstWeek) {
		t.Fatalf("sealed first week after a late group = %+v, want unchanged %+v", got, firstWeek)
	}
	if evs, _ := f.svc.ReleaseLogSize(); evs > 3*perWeek+5 {
		t.Fatalf("after the rebuild the release log holds %d events, want at most %d", evs, 3*perWeek+5)
	}
}
