package sentiment

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/platform/window"
)

// BenchmarkMillion loads one million survey responses (three answers each) of 20,000 people in
// 200 teams of one organisation, over 52 weeks in time order, the way the live consumer applies
// them (consumer.ApplyGroup, consumerGroup events per commit, ids recorded) with a flush after every
// 20,000 events and the clock following the weeks (benchStore.fillWeeks). It reports the apply rate, the store's size
// per event, then restarts the service on that store and reports the time until a GetHeatmap
// (200 rows × 8 dimensions) answers, how many updates its outbox still had to publish and how
// long that took, then (once it did) the p99 of GetHeatmap (full and compact) and of GetTrend
// over 52 weeks, the Go heap and the process RSS (the whole test process: embedded NATS
// included).
//
//	go test -run '^$' -bench '^BenchmarkMillion$' -benchtime 1x -timeout 30m
//
// VOIX_BENCH_EVENTS changes the number of events (default 1,000,000), VOIX_BENCH_GROUP the
// events per commit (default consumerGroup).
func BenchmarkMillion(b *testing.B) {
	total := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("VOIX_BENCH_EVENTS")); err == nil && v > 0 {
		total = v
	}
	group := consumerGroup // as the live consumer commits
	if v, err := strconv.Atoi(os.Getenv("VOIX_BENCH_GROUP")); err == nil && v > 0 {
		group = v
	}
	bs := startBenchStore(b)
	s, env, cfg := bs.s, bs.env, bs.cfg
	first, weeks, segs := benchFirst, benchWeeks, benchTeamPaths()
	for b.Loop() {
		var applyTime, flushTime, applyCPU time.Duration
		bs.fillWeeks(b, total, group,
			func(wall, cpu time.Duration) { applyTime += wall; applyCPU += cpu },
			func(wall, _ time.Duration) { flushTime += wall })
		b.ReportMetric(float64(total)/applyTime.Seconds(), "apply-events/s")
		// The machine is shared: CPU time per event says what one core does alone.
		b.ReportMetric(float64(applyCPU.Microseconds())/float64(total), "apply-cpu-us/event")
		b.ReportMetric(float64(total)/(applyTime+flushTime).Seconds(), "apply+flush-events/s")
	}
	b.StopTimer()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(env.DataDir, "sentiment", "sentiment.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size())/float64(total), "store-bytes/event")

	// Restart on that store: time to the first answer.
	runtime.GC()
	t0 := time.Now()
	s, err = Start(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	client := sentimentv1.NewSentimentServiceClient(servicetest.Dial(b, s.Addr()))
	ctx := env.As(context.Background(), auth.RoleHR)
	last := first.AddDate(0, 0, 7*(weeks-1))
	heatmap := &sentimentv1.GetHeatmapRequest{SegmentPrefix: "acme", Time: timestamppb.New(last)}
	resp, err := client.GetHeatmap(ctx, heatmap)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(t0).Milliseconds()), "start-to-serve-ms") // the first heatmap read included
	shown := 0
	for _, r := range resp.Rows {
		for _, c := range r.Cells {
			if !c.Hidden {
				shown++
			}
		}
	}
	if len(resp.Rows) != len(segs) || shown == 0 {
		b.Fatalf("GetHeatmap: %d rows, %d cells shown", len(resp.Rows), shown)
	}
	b.Logf("heatmap: %d rows, %d of %d cells shown", len(resp.Rows), shown, 8*len(resp.Rows))
	// The outbox still holds updates the load released and the first instance had not
	// published yet: the reads below are timed once the relay has published them (they ran
	// beside the reads before, and the latencies and CPU per call were theirs as much).
	t0 = time.Now()
	pending, err := s.host.Outbox.Pending()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(pending), "outbox-pending-at-start")
	for n := pending; n > 0; {
		if time.Since(t0) > 10*time.Minute {
			b.Fatalf("outbox: %d updates still pending after 10 minutes", n)
		}
		time.Sleep(50 * time.Millisecond) // polling the outbox's depth, not a proof of anything
		if n, err = s.host.Outbox.Pending(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(time.Since(t0).Seconds(), "outbox-drain-s")
	trend := &sentimentv1.GetTrendRequest{Segment: "acme/t007", Dimension: commonv1.Dimension_DIMENSION_ENGAGEMENT,
		StartTime: timestamppb.New(first), EndTime: timestamppb.New(last)}
	p99 := func(name string, call func() error) {
		var lat []time.Duration
		// CPU per call (client and server: one process) is steadier than latency on a shared machine.
		c0 := cpuTime()
		defer func() { b.ReportMetric(float64((cpuTime()-c0).Microseconds())/200, name+"-cpu-us/call") }()
		for range 200 {
			t0 := time.Now()
			if err := call(); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, name+"-p99-ms")
	}
	p99("heatmap", func() error { _, err := client.GetHeatmap(ctx, heatmap); return err })
	// The compact answer: the shown cells only (the gateway's). Every cell is shown here, so it is
	// the full answer's bytes; both leave out each cell's segment and window (HeatmapRow.cells).
	compact := &sentimentv1.GetHeatmapRequest{SegmentPrefix: "acme", Time: timestamppb.New(last), Compact: true}
	p99("heatmap-compact", func() error { _, err := client.GetHeatmap(ctx, compact); return err })
	// The same read without the cache or gRPC: the released values of 1,600 cells.
	p99("heatmap-uncached-inprocess", func() error {
		rows, err := s.readHeatmap(segment.MustParse("acme"), window.Of(window.Week, last))
		if err == nil && len(rows) != len(segs) {
			err = fmt.Errorf("%d rows", len(rows))
		}
		return err
	})
	p99("trend", func() error {
		r, err := client.GetTrend(ctx, trend)
		if err == nil && len(r.Points) != weeks {
			err = fmt.Errorf("GetTrend: %d points, want %d", len(r.Points), weeks)
		}
		return err
	})
	// The service's part alone (the handler, as HR, and the encoding of its answer, without
	// gRPC): the calls above share this process's garbage collector with their client, which
	// decodes every answer, so their tail is the client's as much as the service's.
	serverHeatmap := serverCall(b, s, "GetHeatmap", compact)
	p99("heatmap-compact-server", func() error { serverHeatmap(); return nil })
	serverTrend := serverCall(b, s, "GetTrend", trend)
	p99("trend-server", func() error { serverTrend(); return nil })
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
	b.ReportMetric(rssMB(), "process-rss-MB")
}

// cpuTime is the CPU time this process has used, user and system (0 where unknown).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssMB is the resident set of this process, from /proc (0 where there is none).
func rssMB() float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}
