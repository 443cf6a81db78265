package sentiment

import (
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

// CountedItems returns how many items the live weekly aggregates of segment seg (all
// dimensions) count, summed over the weeks not yet sealed (rollup.SealAfter): the number an
// operator, or the crash test, compares with the items acknowledged upstream. tx is a transaction on a sentiment
// store (sentiment/sentiment.db under the data dir), typically opened read-only while the
// service is stopped. Live aggregates are the service's working state, not what readers see.
func CountedItems(tx *bolt.Tx, seg string) (int, error) {
	n := 0
	for _, w := range rollup.Windows(tx) {
		if !strings.HasPrefix(w, "week:") {
			continue
		}
		st, err := rollup.Get(tx, rollup.Key{Segment: seg, Window: w})
		if err != nil {
			return 0, err
		}
		n += int(st.Count)
	}
	return n, nil
}
