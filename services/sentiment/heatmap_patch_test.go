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

// TestHeatmapAfterAReleaseIsPatchedNotReread: a release patches the cells it released into the
// heatmaps kept, so the read after it is a cache hit; and what it serves is exactly what a read
// of the store gives (released values only, the latest of each cell).
func TestHeatmapAfterAReleaseIsPatchedNotReread(t *testing.T) {
	f := start(t)
	dims := []commonv1.Dimension{commonv1.Dimension_DIMENSION_WORKLOAD, commonv1.Dimension_DIMENSION_GROWTH, commonv1.Dimension_DIMENSION_MEANING}
	read := func() []*sentimentv1.HeatmapRow {
		t.Helper()
		resp, err := f.client.GetHeatmap(f.env.As(context.Background(), auth.RoleHR), &sentimentv1.GetHeatmapRequest{SegmentPrefix: "acme", Time: timestamppb.New(now)})
		if err != nil {
			t.Fatalf("GetHeatmap: %v", err)
		}
		return resp.Rows
	}
	same := func(step string) {
		t.Helper()
		got := read()
		want, err := f.svc.ReadHeatmapUncached("acme", now)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d rows, the store has %d", step, len(got), len(want))
		}
		for i := range got {
			if !proto.Equal(got[i], want[i]) {
				t.Fatalf("%s: row %d served\n%v\nthe store has\n%v", step, i, got[i], want[i])
			}
		}
	}
	// Every team has its row (a new segment changes the rows, which is a miss).
	n := 0
	for _, seg := range []string{"acme/sales", "acme/ops", "acme/eng"} {
		n += len(f.group(t, seg, 5, now, dims[0], 4))
	}
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
	same("first read")
	misses := f.svc.HeatmapMisses()
	for round := 1; round <= 4; round++ {
		day := now.Add(time.Duration(round) * time.Hour)
		// A release of some teams and dimensions, and people too few to release in another.
		n += len(f.group(t, "acme/sales", 5, day, dims[round%len(dims)], int32(1+round)))
		n += len(f.group(t, "acme/ops", 5+round, day, dims[(round+1)%len(dims)], 2, 5))
		n += len(f.group(t, "acme/eng", 2, day, dims[0], 1))
		f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))
		same("after release round " + string(rune('0'+round)))
		if got := f.svc.HeatmapMisses(); got != misses {
			t.Fatalf("round %d: the heatmap was read from the store again (%d misses, was %d)", round, got, misses)
		}
	}
}
