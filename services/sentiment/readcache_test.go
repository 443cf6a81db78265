package sentiment_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
)

// TestHeatmapFollowsEveryReleaseAndNewSegment: heatmaps are kept between reads, but a release
// of their window, or a segment with its first aggregate, shows at the next read.
func TestHeatmapFollowsEveryReleaseAndNewSegment(t *testing.T) {
	f := start(t)
	wl := commonv1.Dimension_DIMENSION_WORKLOAD
	heatmap := func() map[string]*commonv1.Aggregate {
		t.Helper()
		resp, err := f.client.GetHeatmap(f.env.As(context.Background(), auth.RoleHR), &sentimentv1.GetHeatmapRequest{SegmentPrefix: "acme", Time: timestamppb.New(now)})
		if err != nil {
			t.Fatalf("GetHeatmap: %v", err)
		}
		out := map[string]*commonv1.Aggregate{}
		for _, r := range resp.Rows {
			for _, c := range r.Cells {
				if c.Dimension == wl {
					out[r.Segment] = c
				}
			}
		}
		return out
	}
	n := len(f.group(t, "acme/sales", 5, now, wl, 4))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	if got := heatmap()["acme/sales"]; got == nil || got.Hidden || got.People != 5 {
		t.Fatalf("acme/sales = %v, want 5 people", got)
	}
	// Five more people: released at the next flush, shown at the next read.
	n += len(f.group(t, "acme/sales", 5, now.Add(24*time.Hour), wl, 2))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	if got := heatmap()["acme/sales"]; got == nil || got.People != 10 {
		t.Fatalf("after a release: acme/sales = %v, want 10 people", got)
	}
	// Two people of a new team: nothing released, but the team has a row now (hidden).
	n += len(f.group(t, "acme/ops", 2, now, wl, 3))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	got := heatmap()
	if ops := got["acme/ops"]; ops == nil || !ops.Hidden {
		t.Fatalf("acme/ops = %v, want a hidden row", ops)
	}
	if got["acme/sales"].People != 10 {
		t.Fatalf("acme/sales = %v, want still 10 people", got["acme/sales"])
	}
}

// TestTrendFollowsEveryRelease: trends are kept between reads (and served from their
// encoding), but a release in one of their windows shows at the next read, and what is served
// is always what a read of the store gives.
func TestTrendFollowsEveryRelease(t *testing.T) {
	f := start(t)
	wl := commonv1.Dimension_DIMENSION_WORKLOAD
	from := now.AddDate(0, 0, -14)
	trend := func(seg string) *sentimentv1.GetTrendResponse {
		t.Helper()
		resp, err := f.client.GetTrend(f.env.As(context.Background(), auth.RoleHR), &sentimentv1.GetTrendRequest{
			Segment: seg, Dimension: wl, StartTime: timestamppb.New(from), EndTime: timestamppb.New(now)})
		if err != nil {
			t.Fatalf("GetTrend: %v", err)
		}
		want, err := f.svc.ReadTrendUncached(seg, wl, from, now)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(resp, want) {
			t.Fatalf("GetTrend(%s) served\n%v\nthe store has\n%v", seg, resp, want)
		}
		return resp
	}
	last := func(seg string) *commonv1.Aggregate {
		t.Helper()
		p := trend(seg).Points
		return p[len(p)-1].Aggregate
	}
	if got := last("acme/sales"); !got.Hidden {
		t.Fatalf("acme/sales before anyone = %v, want hidden", got)
	}
	trend("acme/sales") // kept now
	n := len(f.group(t, "acme/sales", 5, now, wl, 4))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	if got := last("acme/sales"); got.Hidden || got.People != 5 {
		t.Fatalf("acme/sales = %v, want 5 people", got)
	}
	// A release of another segment: what it changes in this trend (nothing) still matches.
	n += len(f.group(t, "acme/ops", 5, now, wl, 2))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	if got := last("acme/sales"); got.People != 5 {
		t.Fatalf("acme/sales = %v, want still 5 people", got)
	}
	n += len(f.group(t, "acme/sales", 5, now.Add(-24*time.Hour), wl, 2))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	if got := last("acme/sales"); got.People != 10 {
		t.Fatalf("after a release: acme/sales = %v, want 10 people", got)
	}
}
