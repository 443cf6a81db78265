package feedback_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/segment"
)

// BenchmarkListFeedbackFirstPage reads the first page of ListFeedback (HR, whole organisation,
// default filters) with many comments stored: VOIX_BENCH_COMMENTS (default 200,000) over 200
// segments (20 departments of 9 teams, each of 12 people) and a year of days. It reports the
// p99 of the calls as p99-ms. The comments are written into the store while the service is
// down, with their by_day entries, as SubmitFeedback stores them.
func BenchmarkListFeedbackFirstPage(b *testing.B) {
	n := 200_000
	if v := os.Getenv("VOIX_BENCH_COMMENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("VOIX_BENCH_COMMENTS: %v", err)
		}
	}
	f := start(b)
	if err := f.svc.Close(); err != nil {
		b.Fatal(err)
	}
	fillComments(b, filepath.Join(f.env.DataDir, "feedback", "feedback.db"), n)
	f.restart(b)
	ctx := f.as(auth.RoleHR)
	req := &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme"}
	first, err := f.client.ListFeedback(ctx, req)
	if err != nil || len(first.Feedback) != 50 || first.NextPageToken == "" {
		b.Fatalf("first page: %d comments, next %q, %v", len(first.GetFeedback()), first.GetNextPageToken(), err)
	}
	var took []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		if _, err := f.client.ListFeedback(ctx, req); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}

// fillComments writes n comments of organisation acme into the store at path, 20,000 per
// transaction, newest day t0.
func fillComments(b *testing.B, path string, n int) {
	b.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var segs []segment.Path
	err = db.Update(func(tx *bolt.Tx) error {
		for d := range 20 {
			dept := segment.MustParse(fmt.Sprintf("acme/d%02d", d))
			if err := store.UnsafePutHeadcount(tx, dept, store.Headcount{People: 9 * 12, Version: 1}); err != nil {
				return err
			}
			for t := range 9 {
				team := segment.MustParse(fmt.Sprintf("acme/d%02d/t%d", d, t))
				segs = append(segs, team)
				if err := store.UnsafePutHeadcount(tx, team, store.Headcount{People: 12, Version: 1}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	day0 := time.Date(t0.Year(), t0.Month(), t0.Day(), 0, 0, 0, 0, time.UTC)
	const chunk = 20_000
	for from := 0; from < n; from += chunk {
		err := db.Update(func(tx *bolt.Tx) error {
			for i := from; i < min(n, from+chunk); i++ {
				day := day0.AddDate(0, 0, -(i % 365))
				c := &store.Comment{
					ID:            fmt.Sprintf("c%015x", uint64(i)*0x9E3779B97F4A7C15>>4),
					AuthorSegment: segs[i%len(segs)],
					Text:          "On manque de reconnaissance pour le travail fait en astreinte, et les outils de CI sont lents",
					Status:        commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW,
					CreateDay:     day, UpdateDay: day,
					SentimentLabel: commonv1.SentimentLabel_SENTIMENT_LABEL_NEGATIVE,
					Language:       "fr",
				}
				if err := store.UnsafePutComment(tx, c); err != nil {
					return err
				}
				shuffle := binary.BigEndian.AppendUint64(nil, uint64(i)*0x9E3779B97F4A7C15)
				if err := store.UnsafePutDayKey(tx, store.DayKey("acme", day, shuffle, c.ID)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
