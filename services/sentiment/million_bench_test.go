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
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/platform/window"
)

// BenchmarkMillion loads one million survey responses (three answers each) of 20,000 people in
// 200 teams of one organisation, over 52 weeks in time order, the way the live consumer applies
// them (consumer.ApplyGroup, consumerGroup events per commit, ids recorded) with a flush after every
// 20,000 events and the clock following the weeks. It reports the apply rate, the store's size
// per event, then restarts the service on that store and reports the time until a GetHeatmap
// (200 rows × 8 dimensions) answers, the p99 of GetHeatmap (full and compact) and of GetTrend over 52 weeks, the Go
// heap and the process RSS (the whole test process: embedded NATS included).
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
	const (
		people = 20_000
		weeks  = 52
		flush  = 20_000
	)
	group := consumerGroup // as the live consumer commits
	if v, err := strconv.Atoi(os.Getenv("VOIX_BENCH_GROUP")); err == nil && v > 0 {
		group = v
	}
	first := time.Date(2025, 11, 24, 10, 0, 0, 0, time.UTC) // a Monday
	var clock atomic.Int64
	clock.Store(first.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	env := servicetest.New(b)
	cfg := Config{Listen: "127.0.0.1:0", DataDir: env.DataDir, NATS: env.NATSConfig(), Now: now, PublishInterval: time.Hour}
	s, err := Start(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	segs := make([]segment.Path, 200)
	for i := range segs {
		segs[i] = segment.MustParse(fmt.Sprintf("acme/t%03d", i))
	}
	flushAll := func() {
		for {
			var taken int
			if err := s.host.DB.Update(func(tx *bolt.Tx) error {
				var err error
				_, taken, err = s.unsafeFlush(tx, tx, maxDirtyPerFlush)
				return err
			}); err != nil {
				b.Fatal(err)
			}
			if taken < maxDirtyPerFlush {
				return
			}
		}
	}
	for b.Loop() {
		var applyTime, flushTime, applyCPU time.Duration
		evs := make([]bus.Event, 0, group)
		for i := 0; i < total; {
			week := i * weeks / total
			at := first.AddDate(0, 0, 7*week).Add(time.Duration(i%5) * 24 * time.Hour)
			clock.Store(at.UnixNano())
			evs = evs[:0]
			for ; len(evs) < group && i < total && i*weeks/total == week; i++ {
				person := i % people
				evs = append(evs, responseEvent(b, s.host.Secret, i, segs[person%len(segs)], at))
			}
			t0, c0 := time.Now(), cpuTime()
			if _, err := consumer.ApplyGroupFlush(s.host.DB, "bench", s.grouped(s.applyResponse), func(tx *bolt.Tx) error { return s.flushWriter(tx) }, evs); err != nil {
				b.Fatal(err)
			}
			applyTime += time.Since(t0)
			applyCPU += cpuTime() - c0
			if i%flush < len(evs) || i == total {
				t0 = time.Now()
				flushAll()
				flushTime += time.Since(t0)
			}
		}
		// The last week ends: its final release, and the seals it allows.
		clock.Store(first.AddDate(0, 0, 7*weeks+8).UnixNano())
		t0 := time.Now()
		flushAll()
		flushTime += time.Since(t0)
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
	// The compact answer: each cell without its segment and window (the gateway's).
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
