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
// of the store gives (released values only, the latest of each cell), in full and compact
// (GetHeatmapRequest.compact: the shown cells only).
func TestHeatmapAfterAReleaseIsPatchedNotReread(t *testing.T) {
	f := start(t)
	dims := []commonv1.Dimension{commonv1.Dimension_DIMENSION_WORKLOAD, commonv1.Dimension_DIMENSION_GROWTH, commonv1.Dimension_DIMENSION_MEANING}
	read := func(compact bool) *sentimentv1.GetHeatmapResponse {
		t.Helper()
		resp, err := f.client.GetHeatmap(f.env.As(context.Background(), auth.RoleHR), &sentimentv1.GetHeatmapRequest{SegmentPrefix: "acme", Time: timestamppb.New(now), Compact: compact})
		if err != nil {
			t.Fatalf("GetHeatmap: %v", err)
		}
		return resp
	}
	same := func(step string) {
		t.Helper()
		full, compact := read(false), read(true)
		got := full.Rows
		want, err := f.svc.ReadHeatmapUncached("acme", now)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || len(compact.Rows) != len(want) {
			t.Fatalf("%s: %d rows, %d compact, the store has %d", step, len(got), len(compact.Rows), len(want))
		}
		for i := range got {
			if !proto.Equal(got[i], want[i]) {
				t.Fatalf("%s: row %d served\n%v\nthe store has\n%v", step, i, got[i], want[i])
			}
			// The compact row is the same row without its hidden cells. No cell repeats its
			// segment and window, which are the row's and the answer's.
			stripped := &sentimentv1.HeatmapRow{Segment: want[i].Segment}
			for j, c := range want[i].Cells {
				if c.Window != nil || c.Segment != "" {
					t.Fatalf("%s: row %d cell %d: window %v segment %q, want neither (the answer's and the row's)", step, i, j, c.Window, c.Segment)
				}
				if !c.Hidden {
					stripped.Cells = append(stripped.Cells, c)
				}
			}
			if !proto.Equal(full.Window, compact.Window) || full.Window.GetKey() == "" {
				t.Fatalf("%s: answer window %v, compact %v", step, full.Window, compact.Window)
			}
			if !proto.Equal(compact.Rows[i], stripped) {
				t.Fatalf("%s: compact row %d served\n%v\nwant\n%v", step, i, compact.Rows[i], stripped)
			}
		}
		if fs, cs := proto.Size(full), proto.Size(compact); cs >= fs {
			t.Fatalf("%s: compact answer %d bytes, full %d", step, cs, fs)
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
