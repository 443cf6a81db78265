package consumer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/poll"
)

// BenchmarkApply measures consumer.Apply alone: one bbolt Update (two fdatasyncs) per event,
// which is what a consumer does per message.
func BenchmarkApply(b *testing.B) {
	db := openDB(b)
	c := newCounter()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if _, err := consumer.Apply(db, "bench", c.handle, event(fmt.Sprintf("e%d", i))); err != nil {
			b.Fatalf("apply: %v", err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkConsumer measures a running consumer end to end: b.N events already in the stream,
// the clock runs until all are applied.
func BenchmarkConsumer(b *testing.B) {
	for _, w := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) { benchConsumer(b, w, 1) })
	}
	for _, g := range []int{512, 2048} {
		b.Run(fmt.Sprintf("group=%d", g), func(b *testing.B) { benchConsumer(b, 1, g) })
	}
}

func benchConsumer(b *testing.B, workers, group int) {
	s := natstest.Start(b)
	bb := natstest.Connect(b, s)
	db := openDB(b)
	evs := make([]bus.Event, b.N)
	for i := range evs {
		evs[i] = event(fmt.Sprintf("e%d", i))
	}
	for i := 0; i < len(evs); i += 256 {
		if _, err := bb.PublishBatch(context.Background(), evs[i:min(i+256, len(evs))]); err != nil {
			b.Fatalf("publish: %v", err)
		}
	}
	c := newCounter()
	b.ResetTimer()
	begin := time.Now()
	start(b, bb, db, c.handle, "bench", func(cfg *consumer.Config) {
		cfg.Workers, cfg.Group = workers, group
		cfg.Batch = max(cfg.Batch, 2*workers)
	})
	poll.Until(b, 10*time.Minute, time.Millisecond, func() error {
		if n := stored(b, db, "total"); n < uint64(b.N) {
			return fmt.Errorf("%d of %d events applied", n, b.N)
		}
		return nil
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(begin).Seconds(), "events/s")
}
