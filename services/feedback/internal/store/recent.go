package store

import (
	"bytes"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// by_day and by_filter hold their entries in two tiers each: a comment is indexed in
// by_day_recent and by_filter_recent, and UnsafeSealDays later moves the entries of finished
// days into by_day and by_filter. Reads walk the two tiers of an index as one (cursors).
//
// Why: within a day an entry's place is its shuffle, a keyed hash, so a day's entries arrive
// in random order, and bbolt's pages, split in halves as they fill, settle about 69% full
// under random inserts. A finished day no longer grows, and moved in key order ahead of every
// day already sealed (days sort newest first) it fills the pages it lands in, as bbolt's own
// Compact does (FillPercent 1), where the same entries took half as much again before. The
// move is one transaction per run, so a reader sees the entries in one tier or the other,
// never both or neither, and the keys do not change: page tokens, by_filter keys and the
// deadline marks mean the same across a move.
//
// Only an entry that sorts ahead of every sealed entry of its organisation (its filter) is
// moved: one written later for a day already sealed (a comment re-routed or answered after
// its day was sealed) stays in the recent tier, where it costs what every entry did before,
// rather than split a full page. A run of a bucket moves once it holds sealMinBytes, so that
// the page it is split into last (part full) is a small share of what it fills.

// sealMinBytes is the least a run of finished days must hold, in bbolt element bytes, to be
// moved: 16 pages of 4 KiB. sealMaxBytes is the most one transaction moves of one bucket: the
// oldest part of a longer run (the part next to the sealed days) moves first, and the rest in
// the next transaction. Variables so that tests can make them small.
var sealMinBytes, sealMaxBytes = 64 << 10, 4 << 20

// leafElementSize is bbolt's header of an entry in a leaf page.
const leafElementSize = 16

// UnsafeSealDays moves into by_day and by_filter, with their pages filled, the entries of
// by_day_recent and by_filter_recent of days before cutoff that sort ahead of every entry of
// their organisation (their filter) already there, for each run of at least sealMinBytes. It
// returns how many entries it moved, and whether a run was longer than one transaction moves
// (call it again).
func UnsafeSealDays(tx *bolt.Tx, cutoff time.Time) (moved int, more bool, err error) {
	cut := binary.BigEndian.AppendUint64(nil, ^uint64(cutoff.Unix()))
	recent, err := ByDayRecent.writable(tx)
	if err != nil {
		return 0, false, err
	}
	sealed, err := ByDay.writable(tx)
	if err != nil {
		return 0, false, err
	}
	// by_day: one run per organisation, each ahead of the organisation's sealed days.
	for _, org := range dayOrgs(recent) {
		n, longer, err := sealRun(recent, sealed, org, cut)
		if err != nil {
			return moved, more, err
		}
		moved, more = moved+n, more || longer
	}
	// by_filter: one run per filter bucket.
	recentFilters, err := ByFilterRecent.writable(tx)
	if err != nil {
		return moved, more, err
	}
	sealedFilters, err := ByFilter.writable(tx)
	if err != nil {
		return moved, more, err
	}
	var names [][]byte
	if err := recentFilters.ForEachBucket(func(name []byte) error {
		names = append(names, bytes.Clone(name))
		return nil
	}); err != nil {
		return moved, more, err
	}
	for _, name := range names {
		dst, err := sealedFilters.CreateBucketIfNotExists(name)
		if err != nil {
			return moved, more, err
		}
		n, longer, err := sealRun(recentFilters.Bucket(name), dst, nil, cut)
		if err != nil {
			return moved, more, err
		}
		moved, more = moved+n, more || longer
	}
	return moved, more, nil
}

// sealRun moves from src into dst the entries under prefix (whose next 8 bytes are ^day) of
// days after cut in key order (before the day cut is of) that sort ahead of dst's first entry
// under prefix, up to sealMaxBytes of them from the end of that run, if the run holds at least
// sealMinBytes.
func sealRun(src, dst *bolt.Bucket, prefix, cut []byte) (int, bool, error) {
	var bound []byte
	if k, _ := dst.Cursor().Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) {
		bound = bytes.Clone(k)
	} else if len(prefix) > 0 {
		bound = nextOrg(prefix) // past the organisation's entries
	}
	c := src.Cursor()
	var k, v []byte
	if bound == nil {
		k, v = c.Last()
	} else if k, _ = c.Seek(bound); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	type entry struct{ k, v []byte }
	var run []entry
	size, longer := 0, false
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(k) >= len(prefix)+8; k, v = c.Prev() {
		if bytes.Compare(k[len(prefix):len(prefix)+8], cut) <= 0 {
			break // the day cut is of, or a later one: these are still written
		}
		if size >= sealMaxBytes {
			longer = true
			break
		}
		run = append(run, entry{bytes.Clone(k), bytes.Clone(v)})
		size += leafElementSize + len(k) + len(v)
	}
	if size < sealMinBytes {
		return 0, false, nil
	}
	// In key order (the run was read backwards): each Put lands after the one before in the
	// same node, which bbolt splits into full pages at commit.
	dst.FillPercent = 1
	for i := len(run) - 1; i >= 0; i-- {
		if err := dst.Put(run[i].k, run[i].v); err != nil {
			return 0, false, err
		}
		if err := src.Delete(run[i].k); err != nil {
			return 0, false, err
		}
	}
	return len(run), longer, nil
}

// cursors walks the keys of the tiers of an index as one, in key order. A key is in one tier
// (a move between them is one transaction); one in both is given once.
type cursors struct {
	cs     []*bolt.Cursor
	ks, vs [][]byte
	at     int // the head given last, -1 past the end
}

func tiers(bks ...*bolt.Bucket) *cursors {
	m := &cursors{}
	for _, b := range bks {
		if b != nil {
			m.cs = append(m.cs, b.Cursor())
		}
	}
	m.ks, m.vs = make([][]byte, len(m.cs)), make([][]byte, len(m.cs))
	return m
}

func (m *cursors) First() ([]byte, []byte) {
	for i, c := range m.cs {
		m.ks[i], m.vs[i] = c.First()
	}
	return m.least()
}

func (m *cursors) Seek(seek []byte) ([]byte, []byte) {
	for i, c := range m.cs {
		m.ks[i], m.vs[i] = c.Seek(seek)
	}
	return m.least()
}

func (m *cursors) Next() ([]byte, []byte) {
	if m.at < 0 {
		return nil, nil
	}
	cur := m.ks[m.at]
	for i, c := range m.cs {
		if i != m.at && m.ks[i] != nil && bytes.Equal(m.ks[i], cur) {
			m.ks[i], m.vs[i] = c.Next()
		}
	}
	m.ks[m.at], m.vs[m.at] = m.cs[m.at].Next()
	return m.least()
}

func (m *cursors) least() ([]byte, []byte) {
	m.at = -1
	for i, k := range m.ks {
		if k != nil && (m.at < 0 || bytes.Compare(k, m.ks[m.at]) < 0) {
			m.at = i
		}
	}
	if m.at < 0 {
		return nil, nil
	}
	return m.ks[m.at], m.vs[m.at]
}

// dayTiers returns the cursors of by_day and by_day_recent.
func dayTiers(tx ReadTx) (*cursors, error) {
	sealed, err := ByDay.in(tx)
	if err != nil {
		return nil, err
	}
	recent, err := ByDayRecent.in(tx)
	if err != nil {
		return nil, err
	}
	return tiers(sealed, recent), nil
}
