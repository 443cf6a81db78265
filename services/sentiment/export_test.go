package sentiment

import (
	"errors"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

// Flush releases what the consumers applied so far, as the publisher's next tick would, so
// tests can read without waiting for it.
func (s *Service) Flush() error {
	_, err := s.flush()
	return err
}

// StartStaging creates a rebuild's staging as a rebuild does first, without replaying.
func (s *Service) StartStaging() error { return s.startStaging() }

// StagedPeople returns the people the staging counts in the aggregate of seg, dim and window
// (a ContributorTag.Window).
func (s *Service) StagedPeople(seg string, dim int32, window string) (uint32, error) {
	var n uint32
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		st := rollup.Staging(tx)
		if st == nil {
			return errors.New("no staging")
		}
		got, err := rollup.Get(st, rollup.Key{Segment: seg, Dimension: dim, Window: window})
		n = got.People
		return err
	})
	return n, err
}
