package feedback

import (
	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/feedback/internal/store"
)

// FillComments stores n comments made by make(i), i from 0, through the service's own write
// path for a new comment (the record, then its by_day and by_filter entries), chunk comments
// per transaction: a store of a million comments in minutes, for benchmarks.
func (s *Service) FillComments(n, chunk int, make func(i int) *store.Comment) error {
	for from := 0; from < n; from += chunk {
		err := s.host.DB.Update(func(tx *bolt.Tx) error {
			for i := from; i < min(n, from+chunk); i++ {
				c := make(i)
				if err := store.UnsafePutComment(tx, c); err != nil {
					return err
				}
				if err := s.unsafeIndex(tx, c); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// PruneExpired runs what the service's prune loop runs every 10 minutes, now, and returns how
// many records it deleted.
func (s *Service) PruneExpired() (int, error) { return s.pruneExpired() }

// SealDays moves the index entries of finished days to the tiers where they fill their pages,
// as the service does every 10 minutes, and returns how many it moved.
func (s *Service) SealDays() (int, error) { return s.sealDays() }

// OutboxPending is how many events the service's outbox still holds.
func (s *Service) OutboxPending() (int, error) { return s.host.Outbox.Pending() }

// DeadlineChunk is about how many comments one transaction of CheckDeadlines checks.
const DeadlineChunk = deadlineChunk

// DeadlineCommitted makes fn run after each transaction of CheckDeadlines commits, with the
// comments it checked.
func (s *Service) DeadlineCommitted(fn func(checked int)) { s.deadlineCommitted.Store(&fn) }
