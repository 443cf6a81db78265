package rollup

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Migrate moves the contributors of the first layout (one key per contributor and part,
// holding the whole opened tag) into rollup_members, and deletes the old buckets; then those of
// rollup_members (one key per contributor) into rollup_member_log (members.go). The
// aggregates it touches start a new pending epoch and open-cell epoch, so that exactly the
// contributors the old buckets listed as pending, or in the open cell, count as such. It
// does nothing on a store without the old buckets, and runs in one transaction per layout.
func Migrate(db *bolt.DB) (moved int, err error) {
	// Aggregate keys first: what follows reads and writes them with the window first.
	if err := db.Update(func(tx *bolt.Tx) error { _, err := migrateKeys(tx); return err }); err != nil {
		return 0, fmt.Errorf("rollup: migrate aggregate keys: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(legacyPeople) == nil {
			return nil
		}
		m := migration{tx: tx, stats: map[string]*Stats{}, members: map[string]member{}}
		if err := m.run(); err != nil {
			return err
		}
		moved = len(m.members)
		for _, name := range [][]byte{legacyPeople, legacyPending, legacyOpen, legacyPeopleOf} {
			if tx.Bucket(name) != nil {
				if err := tx.DeleteBucket(name); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("rollup: migrate contributors: %w", err)
	}
	// The second layout (a key per contributor) becomes the log (members.go).
	err = db.Update(func(tx *bolt.Tx) error {
		n, err := migrateMembers(tx)
		moved = max(moved, n) // the first layout's contributors went through the second
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("rollup: migrate contributors to the log: %w", err)
	}
	return moved, nil
}

type migration struct {
	tx      *bolt.Tx
	stats   map[string]*Stats // by aggregate key bytes
	members map[string]member // by member key
}

func (m *migration) run() error {
	kinds := []struct {
		bucket []byte
		apply  func(st *Stats, mem *entry, part string)
	}{
		{legacyPeople, func(*Stats, *entry, string) {}},
		{legacyPending, func(st *Stats, mem *entry, _ string) { mem.pend = st.PendingEpoch }},
		{legacyOpen, func(st *Stats, mem *entry, _ string) { mem.flags |= flagOpen; mem.open = st.OpenEpoch }},
		{legacyPeopleOf, func(_ *Stats, mem *entry, part string) {
			switch {
			case part == partScore:
				mem.flags |= flagScore
			case part == partENPS:
				mem.flags |= flagENPS
			case strings.HasPrefix(part, partEmotion):
				mem.flags |= emotionFlag(strings.TrimPrefix(part, partEmotion))
			}
		}},
	}
	for _, kind := range kinds {
		b := m.tx.Bucket(kind.bucket)
		if b == nil {
			continue
		}
		err := b.ForEach(func(raw, _ []byte) error {
			agg, part, tag, ok := splitLegacy(raw, bytes.Equal(kind.bucket, legacyPeopleOf))
			if !ok {
				return nil // not a key this package wrote
			}
			k, st, err := m.aggregate(agg)
			if err != nil {
				return err
			}
			code, _, _, err := windowCode(m.tx, k.Window)
			if err != nil {
				return err
			}
			sid, err := segmentID(m.tx, k.Segment)
			if err != nil {
				return err
			}
			mk := string(memberKey(code, sid, tag))
			mem := m.members[mk]
			j := slices.IndexFunc(mem, func(e entry) bool { return e.dim == k.Dimension })
			if j < 0 {
				// Not pending and not in the open cell unless those buckets say so: the
				// epochs of every migrated aggregate are one past the entries'.
				mem = append(mem, entry{dim: k.Dimension, pend: st.PendingEpoch - 1, open: st.OpenEpoch - 1})
				j = len(mem) - 1
			}
			kind.apply(st, &mem[j], part)
			m.members[mk] = mem
			return nil
		})
		if err != nil {
			return err
		}
	}
	members, err := m.tx.CreateBucketIfNotExists(bucketMembers)
	if err != nil {
		return err
	}
	for k, mem := range m.members {
		if err := members.Put([]byte(k), mem.encode()); err != nil {
			return err
		}
	}
	stats := m.tx.Bucket(bucketStats)
	for k, st := range m.stats {
		key, err := parseOldKey([]byte(k))
		if err != nil {
			return err
		}
		if err := stats.Put(key.bytes(), st.encode()); err != nil {
			return err
		}
	}
	return nil
}

// aggregate returns the key and Stats of the aggregate key agg (of the segment-first layout,
// as the first layout's keys embed it), with new epochs, read once.
func (m *migration) aggregate(agg []byte) (Key, *Stats, error) {
	k, err := parseOldKey(agg)
	if err != nil {
		return k, nil, err
	}
	if st := m.stats[string(agg)]; st != nil {
		return k, st, nil
	}
	st, err := Get(m.tx, k)
	if err != nil {
		return k, nil, err
	}
	st.PendingEpoch++
	st.OpenEpoch++
	m.stats[string(agg)] = &st
	return k, &st, nil
}

// splitLegacy splits a key of the first layout: aggregate key (segment, 0x00, 4 bytes of
// dimension, window) + 0x00 [+ part + 0x00] + tag.
func splitLegacy(k []byte, withPart bool) (agg []byte, part string, tag []byte, ok bool) {
	i := bytes.IndexByte(k, 0)
	if i < 0 || len(k) < i+5 {
		return nil, "", nil, false
	}
	j := bytes.IndexByte(k[i+5:], 0)
	if j < 0 {
		return nil, "", nil, false
	}
	agg, rest := k[:i+5+j], k[i+5+j+1:]
	if withPart {
		p := bytes.IndexByte(rest, 0)
		if p < 0 {
			return nil, "", nil, false
		}
		part, rest = string(rest[:p]), rest[p+1:]
	}
	return agg, part, rest, len(rest) > 0
}
