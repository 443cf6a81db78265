package sentiment_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
)

// TestHeatmapFullAndCompactSayTheSame: a heatmap's cells do not repeat their segment and
// window (the row's and the answer's), and a hidden cell is its dimension and hidden alone, so
// a client decodes one message per cell, not five. What the full answer says is unchanged:
// each cell, given its row's segment and the answer's window, is exactly the aggregate
// GetSentiment gives for that segment, dimension and window, shown or hidden; and the compact
// answer has the same rows and the same shown cells, without the hidden ones.
func TestHeatmapFullAndCompactSayTheSame(t *testing.T) {
	f := start(t)
	wl, gr := commonv1.Dimension_DIMENSION_WORKLOAD, commonv1.Dimension_DIMENSION_GROWTH
	n := 0
	// Shown with scores (WORKLOAD), and eNPS without a score (ENGAGEMENT).
	for i := range 6 {
		f.respond(t, fmt.Sprint("S", i), "acme/sales", now, scale(wl, int32(1+i%5)), enpsAnswer(int32(4+i)))
		n++
	}
	// Shown, score hidden: CHOICE answers count people, not scores.
	for i := range 7 {
		f.respond(t, fmt.Sprint("O", i), "acme/ops", now, choice(gr))
		n++
	}
	// Too few: a row of hidden cells.
	n += len(f.group(t, "acme/eng", 2, now, wl, 4))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(n))

	ctx := f.env.As(context.Background(), auth.RoleHR)
	read := func(compact bool) *sentimentv1.GetHeatmapResponse {
		t.Helper()
		resp, err := f.client.GetHeatmap(ctx, &sentimentv1.GetHeatmapRequest{SegmentPrefix: "acme", Time: timestamppb.New(now), Compact: compact})
		if err != nil {
			t.Fatalf("GetHeatmap (compact %v): %v", compact, err)
		}
		return resp
	}
	full, compact := read(false), read(true)
	if !proto.Equal(full.Window, compact.Window) || full.Window.GetKey() == "" {
		t.Fatalf("answer windows: full %v, compact %v", full.Window, compact.Window)
	}
	if len(full.Rows) != 3 || len(compact.Rows) != len(full.Rows) {
		t.Fatalf("%d rows, %d compact, want acme/eng, acme/ops and acme/sales", len(full.Rows), len(compact.Rows))
	}
	var shown, hidden, scoreHidden, enps int
	for i, row := range full.Rows {
		if len(row.Cells) != 8 {
			t.Fatalf("row %s: %d cells, want one per dimension (8)", row.Segment, len(row.Cells))
		}
		if compact.Rows[i].Segment != row.Segment {
			t.Fatalf("compact row %d is %s, full %s", i, compact.Rows[i].Segment, row.Segment)
		}
		var shownCells []*commonv1.Aggregate
		for _, c := range row.Cells {
			if c.Segment != "" || c.Window != nil {
				t.Errorf("%s %v repeats segment %q and window %v: they are the row's and the answer's", row.Segment, c.Dimension, c.Segment, c.Window)
			}
			if c.Hidden {
				hidden++
				if want := (&commonv1.Aggregate{Dimension: c.Dimension, Hidden: true, ScoreHidden: true}); !proto.Equal(c, want) {
					t.Errorf("%s %v: hidden cell %v, want only its dimension, hidden and score_hidden", row.Segment, c.Dimension, c)
				}
			} else {
				shown++
				shownCells = append(shownCells, c)
				if c.ScoreHidden {
					scoreHidden++
				}
				if c.Enps != nil {
					enps++
				}
			}
			// What the cell says is what GetSentiment says of its segment, dimension and window.
			got, err := f.client.GetSentiment(ctx, &sentimentv1.GetSentimentRequest{Segment: row.Segment, Dimension: c.Dimension, Time: timestamppb.New(now)})
			if err != nil {
				t.Fatalf("GetSentiment %s %v: %v", row.Segment, c.Dimension, err)
			}
			cell := proto.Clone(c).(*commonv1.Aggregate)
			cell.Segment, cell.Window = row.Segment, full.Window
			if !proto.Equal(cell, got.Aggregate) {
				t.Errorf("%s %v: heatmap cell\n%v\nGetSentiment\n%v", row.Segment, c.Dimension, cell, got.Aggregate)
			}
		}
		if !slices.EqualFunc(compact.Rows[i].Cells, shownCells, func(a, b *commonv1.Aggregate) bool { return proto.Equal(a, b) }) {
			t.Errorf("row %s: compact cells\n%v\nthe full answer's shown cells\n%v", row.Segment, compact.Rows[i].Cells, shownCells)
		}
	}
	// The cases above all happened: shown with and without a score, with eNPS, hidden.
	if shown < 3 || hidden == 0 || scoreHidden < 2 || enps == 0 {
		t.Fatalf("%d shown cells (%d without a score, %d with eNPS), %d hidden: the store is not as built", shown, scoreHidden, enps, hidden)
	}
}
