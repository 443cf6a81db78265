package sentiment_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/sentiment"
)

func TestRebuildAnswersExactlyAsTheIncrementalStore(t *testing.T) {
	f := start(t)
	wl, gr := commonv1.Dimension_DIMENSION_WORKLOAD, commonv1.Dimension_DIMENSION_GROWTH
	n := 0
	for w := 3; w >= 0; w-- {
		at := now.AddDate(0, 0, -7*w)
		n += len(f.group(t, "acme/eng/platform", 6+w, at, wl, 5, 2, 4))
		n += len(f.group(t, "acme/eng/data", 3, at, gr, 1))
		n += len(f.group(t, "acme/sales", 7, at.Add(-26*time.Hour), wl, 4, 3))
	}
	texts := []string{"Trop de réunions, on est débordés", "Great onboarding, thanks", "Les outils sont nuls", "Bonne ambiance", "ok", "I feel valued"}
	for i, text := range texts {
		f.comment(t, fmt.Sprintf("C%d", i), "acme/eng/platform", text, wl)
	}
	// A republished copy of the last comment (new Nats-Msg-Id, same ce-id) and a poison
	// message: neither may change a number, live or rebuilt.
	f.republishLast(t, events.FeedbackSubmitted, "acme/eng/platform")
	f.publishRaw(t, events.FeedbackSubmitted.Subject(segment.MustParse("acme")), events.FeedbackSubmitted.Type, []byte{0xff})
	// One release for everything, as the rebuild does: releases made between events would
	// differ (see flush) while the values underneath are the same.
	f.waitApplied(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	f.waitAcked(t, events.DurableSentimentFeedback, events.Feedback.Name, uint64(len(texts)+2))

	before := f.snapshot(t)
	resp, err := f.client.RebuildRollups(f.env.As(context.Background(), auth.RoleAdmin), &sentimentv1.RebuildRollupsRequest{})
	if err != nil {
		t.Fatalf("RebuildRollups: %v", err)
	}
	if want := uint64(n + len(texts)); resp.EventsReplayed != want {
		t.Errorf("replayed %d events, want %d (duplicate and poison skipped)", resp.EventsReplayed, want)
	}
	if after := f.snapshot(t); after != before {
		t.Fatalf("the rebuilt store answers differently:\n--- incremental\n%s\n--- rebuilt\n%s", before, after)
	}

	// The live consumers resumed: five more people count once each (five, since a release
	// needs k new people).
	for i := range 5 {
		f.answer(t, fmt.Sprint("late", i), "acme/sales", now, wl, 5)
	}
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n+5))
	if got := f.get(t, "acme/sales", wl); got.People != 12 {
		t.Fatalf("acme/sales after the rebuild and five more people = %+v, want 12 people", got)
	}
	if _, err := f.client.RebuildRollups(f.env.As(context.Background(), auth.RoleHR), &sentimentv1.RebuildRollupsRequest{}); err == nil {
		t.Fatal("hr started a rebuild; it is for admins")
	}
}

// republishLast stores the newest event of kind about seg again with a fresh Nats-Msg-Id, as a
// relay retrying outside JetStream's duplicate window would.
func (f *fixture) republishLast(t *testing.T, kind events.Kind, seg string) {
	t.Helper()
	last := f.lastOn(t, kind, seg)
	msg := nats.NewMsg(last.Subject)
	msg.Data = last.Data
	msg.Header = last.Header
	msg.Header.Set("Nats-Msg-Id", last.Header.Get("Nats-Msg-Id")+"-again")
	if _, err := f.js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatalf("republish: %v", err)
	}
}

// snapshot renders what readers can see: heatmaps, trends and single aggregates over every
// granularity.
func (f *fixture) snapshot(t *testing.T) string {
	t.Helper()
	ctx := f.env.As(context.Background(), auth.RoleHR)
	var b strings.Builder
	add := func(m proto.Message, err error) {
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		b.WriteString(prototext.Format(m))
		b.WriteString("\n")
	}
	for _, p := range []string{"acme", "acme/eng"} {
		add(f.client.GetHeatmap(ctx, &sentimentv1.GetHeatmapRequest{SegmentPrefix: p}))
	}
	for _, seg := range []string{"acme", "acme/eng", "acme/eng/platform", "acme/eng/data", "acme/sales"} {
		for _, d := range []commonv1.Dimension{0, commonv1.Dimension_DIMENSION_WORKLOAD, commonv1.Dimension_DIMENSION_GROWTH} {
			for _, at := range []time.Time{now, now.AddDate(0, 0, -7), now.AddDate(0, 0, -14), now.AddDate(0, 0, -21)} {
				add(f.client.GetSentiment(ctx, &sentimentv1.GetSentimentRequest{Segment: seg, Dimension: d, Time: timestamppb.New(at)}))
			}
			add(f.client.GetTrend(ctx, &sentimentv1.GetTrendRequest{Segment: seg, Dimension: d,
				Granularity: commonv1.Granularity_GRANULARITY_WEEK, StartTime: timestamppb.New(now.AddDate(0, 0, -28))}))
		}
	}
	return b.String()
}

// TestRebuildRefusesWhenHistoryHasAgedOut: the streams keep events for a retention only. A
// rebuild from what is left would drop the older events from every aggregate, including
// values already published, so it is refused and the aggregates stay as they were.
func TestRebuildRefusesWhenHistoryHasAgedOut(t *testing.T) {
	f := start(t)
	wl := commonv1.Dimension_DIMENSION_WORKLOAD
	n := len(f.group(t, "acme/sales", 7, now, wl, 4, 3))
	f.waitApplied(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	before := f.snapshot(t)
	// The first event goes, as MaxAge would remove it.
	st, err := f.js.Stream(context.Background(), events.Pulse.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteMsg(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	_, err = f.client.RebuildRollups(f.env.As(context.Background(), auth.RoleAdmin), &sentimentv1.RebuildRollupsRequest{})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), events.Pulse.Name) {
		t.Fatalf("RebuildRollups with the first event gone = %v, want FailedPrecondition naming the stream", err)
	}
	if msg := status.Convert(err).Message(); !strings.HasPrefix(msg, "history: ") {
		t.Fatalf("RebuildRollups refusal %q does not start with what is wrong (history: )", msg)
	}
	if after := f.snapshot(t); after != before {
		t.Fatalf("a refused rebuild changed the store:\n--- before\n%s\n--- after\n%s", before, after)
	}
}

// TestLiveEventsReachARebuildInProgress: consumers and the publisher keep running during a
// rebuild; what they apply and release meanwhile is in the rollups it swaps in, released as
// the live store released it. (Before, the consumers were stopped for the whole rebuild.)
func TestLiveEventsReachARebuildInProgress(t *testing.T) {
	f := start(t)
	wl := commonv1.Dimension_DIMENSION_WORKLOAD
	n := len(f.group(t, "acme/sales", 5, now, wl, 4))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	reached, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	sentiment.OnRebuildStep(func() {
		once.Do(func() {
			close(reached)
			<-resume
		})
	})
	t.Cleanup(func() { sentiment.OnRebuildStep(nil) })
	done := make(chan error, 1)
	go func() {
		_, err := f.client.RebuildRollups(f.env.As(context.Background(), auth.RoleAdmin), &sentimentv1.RebuildRollupsRequest{})
		done <- err
	}()
	<-reached
	// Mid-rebuild: six more people, applied and released by the live store.
	n += len(f.group(t, "acme/sales", 6, now.Add(24*time.Hour), wl, 5))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	if got := f.get(t, "acme/sales", wl); got.Hidden || got.People != 11 {
		t.Fatalf("acme/sales during the rebuild = %+v, want 11 people shown", got)
	}
	close(resume)
	if err := <-done; err != nil {
		t.Fatalf("RebuildRollups: %v", err)
	}
	if got := f.get(t, "acme/sales", wl); got.Hidden || got.People != 11 {
		t.Fatalf("acme/sales after the rebuild = %+v, want 11 people shown", got)
	}
	// The consumers resumed on the rebuilt store.
	n += len(f.group(t, "acme/sales", 5, now.Add(48*time.Hour), wl, 3))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	if got := f.get(t, "acme/sales", wl); got.Hidden || got.People != 16 {
		t.Fatalf("acme/sales after the rebuild and five more = %+v, want 16 people shown", got)
	}
}

// TestRebuildReportsProgress: GetRebuildStatus tells an admin how far the rebuild is; after
// it, every event the streams held is replayed. Only admins may ask.
func TestRebuildReportsProgress(t *testing.T) {
	f := start(t)
	wl := commonv1.Dimension_DIMENSION_WORKLOAD
	n := len(f.group(t, "acme/sales", 7, now, wl, 4))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	admin := f.env.As(context.Background(), auth.RoleAdmin)
	if st, err := f.client.GetRebuildStatus(admin, &sentimentv1.GetRebuildStatusRequest{}); err != nil || st.Running || st.EventsTotal != 0 {
		t.Fatalf("status before any rebuild = %v, %v; want idle and nothing counted", st, err)
	}
	if _, err := f.client.RebuildRollups(admin, &sentimentv1.RebuildRollupsRequest{}); err != nil {
		t.Fatalf("RebuildRollups: %v", err)
	}
	st, err := f.client.GetRebuildStatus(admin, &sentimentv1.GetRebuildStatusRequest{})
	if err != nil || st.Running || st.EventsReplayed != uint64(n) || st.EventsTotal != uint64(n) {
		t.Fatalf("status after the rebuild = %v, %v; want not running, %d of %d replayed", st, err, n, n)
	}
	if _, err := f.client.GetRebuildStatus(f.env.As(context.Background(), auth.RoleHR), &sentimentv1.GetRebuildStatusRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("GetRebuildStatus as hr: %v, want PermissionDenied", err)
	}
}

// TestAnInterruptedRebuildLeavesTheLiveStoreAsItWas: a rebuild whose caller goes away after its
// first transaction stops (its readers included) before the swap; the live store answers as
// before, its consumers go on, and the next rebuild starts afresh and swaps in.
func TestAnInterruptedRebuildLeavesTheLiveStoreAsItWas(t *testing.T) {
	f := start(t)
	wl := commonv1.Dimension_DIMENSION_WORKLOAD
	n := 0
	for w := 2; w >= 0; w-- {
		n += len(f.group(t, "acme/sales", 6, now.AddDate(0, 0, -7*w), wl, 4, 2))
	}
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	before := f.snapshot(t)
	ctx, cancel := context.WithCancel(f.env.As(context.Background(), auth.RoleAdmin))
	defer cancel()
	var once sync.Once
	sentiment.OnRebuildStep(func() { once.Do(cancel) })
	t.Cleanup(func() { sentiment.OnRebuildStep(nil) })
	if _, err := f.client.RebuildRollups(ctx, &sentimentv1.RebuildRollupsRequest{}); err == nil {
		t.Fatal("a rebuild whose caller went away swapped in")
	}
	sentiment.OnRebuildStep(nil)
	// The server side may still be unwinding: wait until it says it is not running.
	admin := f.env.As(context.Background(), auth.RoleAdmin)
	for {
		st, err := f.client.GetRebuildStatus(admin, &sentimentv1.GetRebuildStatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if !st.Running {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if after := f.snapshot(t); after != before {
		t.Fatalf("an interrupted rebuild changed the live store:\n--- before\n%s\n--- after\n%s", before, after)
	}
	n += len(f.group(t, "acme/sales", 5, now, wl, 1))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	live := f.snapshot(t)
	if live == before {
		t.Fatal("five more people changed nothing after the interrupted rebuild")
	}
	if _, err := f.client.RebuildRollups(admin, &sentimentv1.RebuildRollupsRequest{}); err != nil {
		t.Fatalf("RebuildRollups after an interrupted one: %v", err)
	}
	if after := f.snapshot(t); after != live {
		t.Fatalf("the rebuild after an interrupted one answers differently:\n--- live\n%s\n--- rebuilt\n%s", live, after)
	}
}
