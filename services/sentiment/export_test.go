package sentiment

import bolt "go.etcd.io/bbolt"

import (
	"time"

	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/window"
)

// Flush releases what the consumers applied so far, as the publisher's next tick would, so
// tests can read without waiting for it.
func (s *Service) Flush() error {
	_, err := s.flush()
	return err
}

// OnRebuildStep calls f after each transaction of a rebuild's replay, before it holds the
// live consumers for the swap (nil: none).
func OnRebuildStep(f func()) { rebuildStepHook.Store(&f) }

// HeatmapMisses is how many heatmaps were read from the store rather than the cache.
func (s *Service) HeatmapMisses() uint64 {
	s.reads.mu.Lock()
	defer s.reads.mu.Unlock()
	return s.reads.misses
}

// ReadHeatmapUncached reads the heatmap of prefix at t from the store, bypassing the cache.
func (s *Service) ReadHeatmapUncached(prefix string, t time.Time) ([]*sentimentv1.HeatmapRow, error) {
	return s.readHeatmap(segment.MustParse(prefix), window.Of(s.cfg.Publish, t))
}

// ForgetReleaseLog deletes the live store's release log, as a store written before it existed
// has none.
func (s *Service) ForgetReleaseLog() error {
	return s.host.DB.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(logBucket) })
}

// ReleaseLogSize counts the live release log's event hashes and releases.
func (s *Service) ReleaseLogSize() (events, releases int) {
	_ = s.host.DB.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(logBucket)
		if b == nil {
			return nil
		}
		_ = b.Bucket(logEvents).ForEach(func(_, v []byte) error { events += len(v) / 8; return nil })
		releases = b.Bucket(logPins).Stats().KeyN
		return nil
	})
	return events, releases
}

// BenchPulseEvent makes a survey response as the pulse service publishes it, and BenchCPUTime
// reads the process's CPU time: for BenchmarkPartitionedReplicas in the external package.
var (
	BenchPulseEvent = pulseEvent
	BenchCPUTime    = cpuTime
)
