package feedback

import (
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/feedback/internal/store"
)

// Every change of a stored comment goes through unsafePutComment, which keeps by_filter (the
// index of ListFeedback's status, owner and dimension filters) in step with it in the same
// transaction. A new comment is indexed by unsafeIndex.

// dayKey is comment c's key in by_day.
func (s *Service) dayKey(c *store.Comment) []byte {
	return store.DayKey(c.AuthorSegment.Org(), c.CreateDay, s.shuffle(c.CreateDay, c.ID), c.ID)
}

// unsafePutComment stores c, a comment already indexed, and moves its by_filter entries from
// the filters of the stored version to those of c.
func (s *Service) unsafePutComment(tx store.WriteTx, c *store.Comment) error {
	var was []store.Filter
	old, err := store.GetComment(tx, c.ID)
	switch {
	case err == nil:
		was = store.Filters(old)
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	now := store.Filters(c)
	var gone, added []store.Filter
	for _, f := range was {
		if !slices.Contains(now, f) {
			gone = append(gone, f)
		}
	}
	for _, f := range now {
		if !slices.Contains(was, f) {
			added = append(added, f)
		}
	}
	if len(gone)+len(added) > 0 {
		k := s.dayKey(c)
		if err := store.UnsafeDeleteFilters(tx, k, gone); err != nil {
			return err
		}
		if err := store.UnsafePutFilters(tx, k, added); err != nil {
			return err
		}
	}
	return store.UnsafePutComment(tx, c)
}

// buildFilters indexes every stored comment in by_filter, once: on the first start of a store
// made before by_filter existed, or before its entries left out the id (store.FiltersBuilt).
// It runs before the service serves and before anything else writes, in transactions of
// filterChunk comments so that a large store is not held in one; a crash before the last
// leaves the mark unset, and the next start builds it again from empty.
func (s *Service) buildFilters() error {
	var built bool
	if err := s.host.DB.View(func(tx *bolt.Tx) (err error) { built, err = store.FiltersBuilt(tx); return }); err != nil || built {
		return err
	}
	if err := s.host.DB.Update(store.UnsafeClearFilters); err != nil {
		return err
	}
	s.host.Log.Info("feedback: building the index of ListFeedback's filters (by_filter) from the comments; the service serves once it is built")
	took := time.Now()
	var after []byte
	for chunks := 0; ; chunks++ {
		var last []byte
		if err := s.host.DB.Update(func(tx *bolt.Tx) (err error) {
			last, err = store.UnsafeIndexFilters(tx, after, filterChunk)
			return err
		}); err != nil {
			return fmt.Errorf("build the filter index after %d comments: %w", chunks*filterChunk, err)
		}
		if last == nil {
			s.host.Log.Info("feedback: filter index built", "transactions", chunks, "took", time.Since(took).Round(time.Millisecond))
			return s.host.DB.Update(func(tx *bolt.Tx) error { return store.UnsafeSetFiltersBuilt(tx) })
		}
		after = last
	}
}

// filterChunk is how many comments buildFilters indexes per transaction.
const filterChunk = 20_000
