package feedback_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/segment"
)

// BenchmarkListFeedbackFirstPage reads the first page of ListFeedback (HR) with many comments
// stored: VOIX_BENCH_COMMENTS (default 200,000) over 200 segments (20 departments of 9 teams,
// each of 12 people) and a year of days, written through the service's own write path for a
// new comment (FillComments), 20,000 per transaction. One comment in 5,000 is DECLINED, one
// in 10,000 owned by "legal", one in 100 carries GROWTH: filters that match rarely. Each
// sub-benchmark reports the p99 of its calls as p99-ms, the bytes per comment of the file
// (file-B/comment), of the pages of comments, by_day and by_filter, and of free pages, the
// process's resident set (rss-MB: service, client and embedded NATS) and Go heap, read from a
// service restarted on the filled store. Run it at two sizes to see whether the first page
// grows with the history. With -v it logs each bucket's bytes in use too;
// VOIX_BENCH_CHUNK sets the comments per transaction (a group commit holds at most
// 64: the default's large transactions leave a copy of the pages they rewrote free in the file).
func BenchmarkListFeedbackFirstPage(b *testing.B) {
	n := 200_000
	if v := os.Getenv("VOIX_BENCH_COMMENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("VOIX_BENCH_COMMENTS: %v", err)
		}
	}
	f := start(b)
	var segs []segment.Path
	for d := range 20 {
		dept := fmt.Sprintf("acme/d%02d", d)
		f.publishSegment(b, dept, 9*12, 1)
		for t := range 9 {
			team := fmt.Sprintf("%s/t%d", dept, t)
			segs = append(segs, segment.MustParse(team))
			f.publishSegment(b, team, 12, 1)
		}
	}
	f.segmentsApplied(b)
	day0 := time.Date(t0.Year(), t0.Month(), t0.Day(), 0, 0, 0, 0, time.UTC)
	took := time.Now()
	chunk := 20_000
	if v := os.Getenv("VOIX_BENCH_CHUNK"); v != "" {
		var err error
		if chunk, err = strconv.Atoi(v); err != nil || chunk < 1 {
			b.Fatalf("VOIX_BENCH_CHUNK: %q is not a positive number", v)
		}
	}
	err := f.svc.FillComments(n, chunk, func(i int) *store.Comment {
		day := day0.AddDate(0, 0, -(i % 365))
		c := &store.Comment{
			ID:            fmt.Sprintf("c%015x", uint64(i)*0x9E3779B97F4A7C15>>4),
			AuthorSegment: segs[i%len(segs)],
			Text:          "On manque de reconnaissance pour le travail fait en astreinte, et les outils de CI sont lents",
			Status:        commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW,
			Dimensions:    []commonv1.Dimension{commonv1.Dimension_DIMENSION_WORKLOAD},
			CreateDay:     day, UpdateDay: day,
			SentimentLabel: commonv1.SentimentLabel_SENTIMENT_LABEL_NEGATIVE,
			Language:       "fr",
		}
		if i%5_000 == 4_999 {
			c.Status = commonv1.FeedbackStatus_FEEDBACK_STATUS_DECLINED
		}
		if i%10_000 == 9_998 {
			c.OwnerGroup = "legal"
		}
		if i%100 == 98 {
			c.Dimensions = append(c.Dimensions, commonv1.Dimension_DIMENSION_GROWTH)
		}
		return c
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d comments stored in %v", n, time.Since(took).Round(time.Second))
	// As the service's prune loop does: the days before yesterday move to the sealed tiers.
	took = time.Now()
	moved, err := f.svc.SealDays()
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d index entries of finished days sealed in %v", moved, time.Since(took).Round(time.Millisecond))
	// Bytes per comment, reported by every sub-benchmark: the file, and each bucket's pages
	// (bytes in use plus the room left in them) with -v also the bytes in use.
	perComment := map[string]float64{}
	if st, err := os.Stat(filepath.Join(f.env.DataDir, "feedback", "feedback.db")); err == nil {
		perComment["file-B/comment"] = float64(st.Size()) / float64(n)
		b.Logf("feedback.db: %d bytes, %.0f B per comment", st.Size(), float64(st.Size())/float64(n))
	}
	if stats, err := f.svc.BucketStats(); err == nil {
		for _, name := range slices.Sorted(maps.Keys(stats)) {
			st := stats[name]
			if st.KeyN == 0 {
				continue
			}
			inuse := st.BranchInuse + st.LeafInuse + st.InlineBucketInuse
			alloc := st.BranchAlloc + st.LeafAlloc
			// An index's two tiers (by_day and by_day_recent) count as one.
			if base := strings.TrimSuffix(name, "_recent"); base == "comments" || base == "by_day" || base == "by_filter" {
				perComment[base+"-B/comment"] += float64(alloc) / float64(n)
			}
			b.Logf("bucket %-12s %9d keys, %6.1f B in use and %6.1f B of pages per comment (%.0f%% full)",
				name, st.KeyN, float64(inuse)/float64(n), float64(alloc)/float64(n), 100*float64(inuse)/float64(max(alloc, 1)))
		}
		free, pending, size := f.svc.FreePages()
		perComment["free-B/comment"] = float64((free+pending)*size) / float64(n)
		b.Logf("free pages %d, pending %d: %.1f B per comment", free, pending, float64((free+pending)*size)/float64(n))
	}
	// The reads are of a service started on the stored comments, as after a deploy: not of
	// the one that wrote them, whose pages the fill read in.
	// VOIX_BENCH_REBUILD=1 marks the filter index as of the layout before by_filter's
	// per-filter buckets, so that the restart builds it again: its time is the upgrade's.
	rebuild := os.Getenv("VOIX_BENCH_REBUILD") == "1"
	if rebuild {
		rewriteClosedStore(b, f, func(tx *bolt.Tx) error { return tx.Bucket(store.Meta).Put([]byte("filters"), []byte("1")) })
	} else {
		f.svc.Close()
	}
	runtime.GC()
	debug.FreeOSMemory()
	took = time.Now()
	f.restart(b)
	b.Logf("restarted on %d comments in %v (filter index built again: %v)", n, time.Since(took).Round(time.Millisecond), rebuild)
	if rebuild {
		if stats, err := f.svc.BucketStats(); err == nil {
			st := stats["by_filter"]
			b.Logf("by_filter after the build: %.1f B of pages per comment (%.0f%% full)", float64(st.BranchAlloc+st.LeafAlloc)/float64(n),
				100*float64(st.BranchInuse+st.LeafInuse)/float64(max(st.BranchAlloc+st.LeafAlloc, 1)))
		}
	}
	if rss, anon, file := residentMB(); rss > 0 {
		b.Logf("resident after the restart: %.1f MB (anonymous %.1f, file pages %.1f)", rss, anon, file)
	}
	ctx := f.as(auth.RoleHR)
	for _, bc := range []struct {
		name string
		req  *feedbackv1.ListFeedbackRequest
	}{
		{"all", &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme"}},
		{"department", &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme/d07"}},
		{"status=declined", &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", Statuses: []commonv1.FeedbackStatus{commonv1.FeedbackStatus_FEEDBACK_STATUS_DECLINED}}},
		{"owner=legal", &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", OwnerGroup: "legal"}},
		{"dimension=growth", &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", Dimensions: []commonv1.Dimension{commonv1.Dimension_DIMENSION_GROWTH}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			first, err := f.client.ListFeedback(ctx, bc.req)
			if err != nil || len(first.Feedback) == 0 {
				b.Fatalf("first page: %d comments, %v", len(first.GetFeedback()), err)
			}
			var took []time.Duration
			for b.Loop() {
				t := time.Now()
				if _, err := f.client.ListFeedback(ctx, bc.req); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(t))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
			for unit, v := range perComment {
				b.ReportMetric(v, unit)
			}
			// The whole test process: the service, its client and the embedded NATS server.
			if rss, anon, file := residentMB(); rss > 0 {
				b.ReportMetric(rss, "rss-MB")
				b.Logf("resident: %.1f MB (anonymous %.1f, file pages %.1f)", rss, anon, file)
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapInuse)/1e6, "heap-MB")
		})
	}
}

// residentMB is this process's resident set (VmRSS) and its anonymous and file-backed parts
// (RssAnon, RssFile: bbolt's mapped pages) in MB; zeros where /proc is missing.
func residentMB() (rss, anon, file float64) { return residentMBOf("self") }

// residentMBOf is residentMB of the process /proc/<pid>.
func residentMBOf(pid string) (rss, anon, file float64) {
	raw, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, 0, 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		for name, v := range map[string]*float64{"VmRSS:": &rss, "RssAnon:": &anon, "RssFile:": &file} {
			if rest, ok := strings.CutPrefix(line, name); ok {
				var kb float64
				if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb); err == nil {
					*v = kb * 1024 / 1e6
				}
			}
		}
	}
	return rss, anon, file
}
