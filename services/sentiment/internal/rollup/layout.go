package rollup

import (
	"bytes"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Aggregate keys put the window first (Key.bytes) since rollup_meta says "keys":
// "window-first"; before, the segment came first (oldKeyBytes). migrateKeys rewrites a store of
// the earlier layout. A key tells its own layout: its first field is a window
// ("week:2026-W48", with a colon) or a segment (never a colon, segment.Rule).
var (
	bucketMeta        = []byte("rollup_meta")
	layoutKey         = []byte("keys")
	layoutWindowFirst = []byte("window-first")
)

// keyedBuckets are the buckets keyed by aggregate key.
func keyedBuckets() [][]byte {
	return [][]byte{bucketStats, bucketReleased, bucketSent, bucketDirty, bucketReleases, bucketCells}
}

// oldLayout reports whether k is an aggregate key of the segment-first layout.
func oldLayout(k []byte) bool {
	i := bytes.IndexByte(k, 0)
	return i > 0 && bytes.IndexByte(k[:i], ':') < 0
}

// markLayout notes in rb that its aggregate keys put the window first.
func markLayout(rb Buckets) error {
	return rb.Bucket(bucketMeta).Put(layoutKey, layoutWindowFirst)
}

// migrateKeys rewrites the aggregate keys of tx's buckets of the segment-first layout with the
// window first, unless rollup_meta says it was done, and returns how many it rewrote.
func migrateKeys(tx *bolt.Tx) (int, error) {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return 0, err
	}
	if bytes.Equal(meta.Get(layoutKey), layoutWindowFirst) {
		return 0, nil
	}
	moved := 0
	for _, name := range keyedBuckets() {
		b := tx.Bucket(name)
		if b == nil {
			continue
		}
		type kv struct{ k, v []byte }
		var old []kv
		err := b.ForEach(func(k, v []byte) error {
			if oldLayout(k) {
				old = append(old, kv{bytes.Clone(k), bytes.Clone(v)})
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		var fresh []kv
		for _, e := range old {
			key, err := parseOldKey(e.k)
			if err != nil {
				continue // not a key this package wrote
			}
			if err := b.Delete(e.k); err != nil {
				return 0, err
			}
			fresh = append(fresh, kv{key.bytes(), e.v})
		}
		slices.SortFunc(fresh, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
		for _, e := range fresh {
			if err := b.Put(e.k, e.v); err != nil {
				return 0, err
			}
		}
		moved += len(fresh)
	}
	return moved, markLayout(tx)
}
