package outbox_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/embednats"
	"github.com/voix-dev/voix/services/platform/groupcommit"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/poll"
)

// BenchmarkOutboxAddRelay measures end to end throughput: 64 writers each commit an event
// (with db.Batch, or through a group committer that the relay deletes through as well, as
// feedback and pulse do), and the relay publishes them to a real JetStream (file store) and
// deletes them. The clock stops when the outbox is empty.
func BenchmarkOutboxAddRelay(b *testing.B) {
	for _, c := range []struct{ syncAlways, group bool }{{false, false}, {true, false}, {true, true}} {
		syncAlways := c.syncAlways
		b.Run(fmt.Sprintf("sync_always=%v/groupcommit=%v", syncAlways, c.group), func(b *testing.B) {
			s, err := embednats.Start(embednats.Config{Port: -1, StoreDir: b.TempDir(), SyncAlways: syncAlways})
			if err != nil {
				b.Fatalf("start nats: %v", err)
			}
			b.Cleanup(func() { natstest.Stop(s) })
			bb := natstest.Connect(b, s)
			db := openDB(b, filepath.Join(b.TempDir(), "svc.db"))
			o := newOutbox(b, db, bb)
			update := db.Batch
			if c.group {
				gc := groupcommit.New(db, 0)
				b.Cleanup(func() { gc.Close() })
				o.WriteThrough(gc)
				update = gc.Update
			}
			run(b, o)

			const writers = 64
			payload := make([]byte, 200)
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < b.N; i += writers {
						ev := event(fmt.Sprintf("bench-%d-%d", b.N, i))
						ev.Data = payload
						if err := update(func(tx *bolt.Tx) error { return o.Add(tx, ev) }); err != nil {
							b.Errorf("add: %v", err)
							return
						}
					}
				}()
			}
			wg.Wait()
			poll.Until(b, 10*time.Minute, time.Millisecond, func() error {
				if n := pending(b, o); n > 0 {
					return fmt.Errorf("%d events still in the outbox", n)
				}
				return nil
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}
