package feedback

import (
	"errors"
	"slices"

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
// made before by_filter existed. It runs before the service serves.
func (s *Service) buildFilters() error {
	return s.host.DB.Update(func(tx *bolt.Tx) error {
		built, err := store.FiltersBuilt(tx)
		if err != nil || built {
			return err
		}
		if err := store.UnsafeClearFilters(tx); err != nil {
			return err
		}
		// Writing by_filter while reading comments: two buckets, which bbolt allows.
		if err := store.ForEachComment(tx, func(c *store.Comment) error {
			return store.UnsafePutFilters(tx, s.dayKey(c), store.Filters(c))
		}); err != nil {
			return err
		}
		return store.UnsafeSetFiltersBuilt(tx)
	})
}
