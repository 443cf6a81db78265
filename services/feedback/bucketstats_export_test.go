package feedback

import (
	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/feedback/internal/store"
)

// BucketStats returns bbolt's statistics of every bucket of the store, by name: what each
// bucket holds (keys, bytes in use, bytes of the pages it takes), for benchmarks that report
// the bytes a comment costs.
func (s *Service) BucketStats() (map[string]bolt.BucketStats, error) {
	out := map[string]bolt.BucketStats{}
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		for _, b := range store.Buckets() {
			if bk := tx.Bucket(b); bk != nil {
				out[string(b)] = bk.Stats()
			}
		}
		return nil
	})
	return out, err
}

// FreePages returns bbolt's free and pending pages (free space the file keeps) and the page
// size.
func (s *Service) FreePages() (free, pending, pageSize int) {
	st := s.host.DB.Stats()
	return st.FreePageN, st.PendingPageN, s.host.DB.Info().PageSize
}

// Commits returns the id of the store's last committed write transaction: the number of
// commits since the file was created, for tests that count how many a piece of work took.
func (s *Service) Commits() (id int) {
	_ = s.host.DB.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
	return id
}
