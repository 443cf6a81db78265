package sentiment

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/prototext"

	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/platform/window"
)

// BenchmarkRebuildMillion publishes one million survey responses (three answers each) of
// 20,000 people in 200 teams over 52 weeks to the PULSE stream, lets the live consumer apply
// them with the publisher releasing every second (so the release log holds the releases of
// many flushes), then times a rebuild: the replay of every event into a fresh staging store,
// each recorded release forced at its place, and the swap. It reports the rebuild's time, rate
// and CPU per event, where the wall time went (logged), and the store's file size after, and
// checks that it changed no released value of the last week's heatmap.
//
//	go test -run '^$' -bench RebuildMillion -benchtime 1x -timeout 60m
//
// VOIX_BENCH_EVENTS changes the number of events (default 1,000,000).
func BenchmarkRebuildMillion(b *testing.B) {
	total := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("VOIX_BENCH_EVENTS")); err == nil && v > 0 {
		total = v
	}
	const (
		people = 20_000
		weeks  = 52
	)
	first := time.Date(2025, 11, 24, 10, 0, 0, 0, time.UTC) // a Monday
	env := servicetest.New(b)
	cfg := Config{Listen: "127.0.0.1:0", DataDir: env.DataDir, NATS: env.NATSConfig(), PublishInterval: time.Second}
	s, err := Start(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	segs := make([]segment.Path, 200)
	for i := range segs {
		segs[i] = segment.MustParse(fmt.Sprintf("acme/t%03d", i))
	}
	nc, err := nats.Connect(env.NATS.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	for i := range total {
		week := i * weeks / total
		at := first.AddDate(0, 0, 7*week).Add(time.Duration(i%5) * 24 * time.Hour)
		seg := segs[(i%people)%len(segs)]
		ev := responseEvent(b, s.host.Secret, i, seg, at)
		ev.Subject = events.PulseResponded.Subject(seg)
		if _, err := js.PublishMsgAsync(&nats.Msg{Subject: ev.Subject, Data: ev.Data, Header: ev.Header()}); err != nil {
			b.Fatal(err)
		}
		if i%2000 == 1999 || i == total-1 {
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				b.Fatal("publishing timed out")
			}
		}
	}
	b.Logf("published %d events in %v", total, time.Since(t0).Round(time.Millisecond))
	// The live consumer applies them all; the publisher releases every second meanwhile.
	t0 = time.Now()
	for {
		c, err := js.Consumer(context.Background(), events.Pulse.Name, events.DurableSentimentPulse)
		if err != nil {
			b.Fatal(err)
		}
		info, err := c.Info(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if info.AckFloor.Consumer >= uint64(total) {
			break
		}
		if time.Since(t0) > 30*time.Minute {
			b.Fatalf("the live consumer applied %d of %d events in 30 minutes", info.AckFloor.Consumer, total)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := s.flush(); err != nil {
		b.Fatal(err)
	}
	b.Logf("applied live in %v", time.Since(t0).Round(time.Millisecond))
	last := window.Of(window.Week, first.AddDate(0, 0, 7*(weeks-1)))
	heatmap := func() string {
		rows, err := s.readHeatmap(segment.MustParse("acme"), last)
		if err != nil {
			b.Fatal(err)
		}
		out := ""
		for _, r := range rows {
			out += prototext.Format(r) + "\n"
		}
		return out
	}
	before := heatmap()
	for b.Loop() {
		if path := os.Getenv("VOIX_BENCH_CPUPROFILE"); path != "" {
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				b.Fatal(err)
			}
		}
		st0 := s.host.DB.Stats()
		t0, c0 := time.Now(), cpuTime()
		n, err := s.rebuild(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		d, cpu := time.Since(t0), cpuTime()-c0
		pprof.StopCPUProfile()
		st1 := s.host.DB.Stats()
		st := st1.Sub(&st0)
		p := &s.progress
		b.Logf("rebuild %v wall, %v CPU: %v in transactions (%v of it waiting for messages), %v committing "+
			"(%v writing %d pages, %v spilling)",
			d.Round(time.Millisecond), cpu.Round(time.Millisecond), time.Duration(p.inTx.Load()).Round(time.Millisecond),
			time.Duration(p.readWait.Load()).Round(time.Millisecond), time.Duration(p.commit.Load()).Round(time.Millisecond),
			st.TxStats.GetWriteTime().Round(time.Millisecond), st.TxStats.GetWrite(), st.TxStats.GetSpillTime().Round(time.Millisecond))
		if n != uint64(total) {
			b.Fatalf("the rebuild replayed %d events, want %d", n, total)
		}
		b.ReportMetric(d.Seconds(), "rebuild-s")
		b.ReportMetric(float64(total)/d.Seconds(), "rebuild-events/s")
		// The machine is shared: CPU time per event says what one core does alone (the
		// process's: the live consumers and the publisher, idle meanwhile, included).
		b.ReportMetric(float64(cpu.Microseconds())/float64(total), "rebuild-cpu-us/event")
		if !s.progress.pinned.Load() {
			b.Fatal("the rebuild was not pinned: the live store's release log is incomplete")
		}
	}
	b.StopTimer()
	if after := heatmap(); after != before {
		b.Fatalf("the rebuild changed the released heatmap of the last week:\n--- before\n%s\n--- after\n%s", before, after)
	}
	b.ReportMetric(rssMB(), "process-rss-MB")
	// The store's file after the swap: bbolt does not shrink it, so the pages the old live
	// aggregates and the staging's earlier versions used are in it, free.
	if fi, err := os.Stat(s.host.DB.Path()); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "store-file-MB")
		b.ReportMetric(float64(fi.Size())/float64(total), "store-file-B/event")
	}
}
