package groupcommit_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/groupcommit"
)

// BenchmarkWrites compares 64 concurrent writers, each putting 8 keys (about what one
// comment writes) and waiting for its commit, through bbolt's DB.Batch (the store's settings:
// 64 calls or 2 ms) and through the group committer.
func BenchmarkWrites(b *testing.B) {
	for _, mode := range []string{"batch", "groupcommit"} {
		b.Run(mode, func(b *testing.B) {
			db := open(b, filepath.Join(b.TempDir(), "x.db"))
			defer db.Close()
			update := db.Batch
			if mode == "groupcommit" {
				c := groupcommit.New(db, 0)
				defer c.Close()
				update = c.Update
			}
			var mu sync.Mutex
			txs := map[int]bool{}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						err := update(func(tx *bolt.Tx) error {
							id := tx.ID()
							tx.OnCommit(func() {
								mu.Lock()
								txs[id] = true
								mu.Unlock()
							})
							for k := range 8 {
								if err := tx.Bucket(bucket).Put(fmt.Appendf(nil, "%d/%d", i, k), make([]byte, 64)); err != nil {
									return err
								}
							}
							return nil
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
			b.ReportMetric(float64(b.N)/float64(max(len(txs), 1)), "writes/commit")
		})
	}
}
