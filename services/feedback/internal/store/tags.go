package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// UnsafeCountSubmission counts one comment against the rate-limit counter tag (one person and
// one day) and reports whether it stays within limit. Past the limit it counts nothing. The
// counter expires at expires, when its day is over.
func UnsafeCountSubmission(tx WriteTx, tag []byte, now, expires time.Time, limit uint32) (bool, error) {
	bk, err := RateLimits.writable(tx)
	if err != nil {
		return false, err
	}
	var n uint32
	if v := bk.Get(tag); v != nil {
		if len(v) != 12 {
			return false, fmt.Errorf("store: rate-limit record of %d bytes, want 12", len(v))
		}
		if int64(binary.BigEndian.Uint64(v)) > now.Unix() {
			n = binary.BigEndian.Uint32(v[8:])
		}
	}
	if n >= limit {
		return false, nil
	}
	// bbolt copies keys (not values): tag is the caller's, and stays so.
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 12), uint64(expires.Unix()))
	return true, bk.Put(tag, binary.BigEndian.AppendUint32(v, n+1))
}

// UnsafeAddVote records the vote tag and reports whether it is new.
func UnsafeAddVote(tx WriteTx, tag []byte) (bool, error) {
	bk, err := Upvotes.writable(tx)
	if err != nil {
		return false, err
	}
	if hasKey(bk, tag) { // not Get: a vote of the same transaction reads back as nil
		return false, nil
	}
	return true, bk.Put(bytes.Clone(tag), nil)
}

// peopleOf returns the name of seg's sub-bucket of people, after checking that it cannot be
// taken for a flat key of the layout before (those all hold a 0x00).
func peopleOf(seg string) ([]byte, error) {
	if seg == "" || strings.IndexByte(seg, 0) >= 0 {
		return nil, fmt.Errorf("store: people of segment %q: want a non-empty name without 0x00", seg)
	}
	return []byte(seg), nil
}

// peoplePrefix is the prefix of seg's flat people keys, the layout before the sub-buckets.
func peoplePrefix(seg string) []byte { return append([]byte(seg), 0) }

// PersonTagSize is how much of a person's tag a people key holds. Two people sharing 128 bits
// of their tags are counted as one, which keeps MostPeople a lower bound; the other 16 bytes
// would only cost pages (issue 12, target 5).
const PersonTagSize = 16

// UnsafeAddPerson records that the person tagged tag commented in seg during month, under the
// tag's first PersonTagSize bytes, in seg's sub-bucket of people: its keys do not repeat the
// segment, which the flat keys of the layout before did in every one.
func UnsafeAddPerson(tx WriteTx, seg, month string, tag []byte) error {
	bk, err := People.writable(tx)
	if err != nil {
		return err
	}
	name, err := peopleOf(seg)
	if err != nil {
		return err
	}
	tag = tag[:min(len(tag), PersonTagSize)]
	// One allocation for both keys: the flat one of the layout before, whose tail is the new
	// one. bbolt copies keys.
	flat := make([]byte, 0, len(seg)+1+len(month)+1+len(tag))
	flat = append(append(append(append(append(flat, seg...), 0), month...), 0), tag...)
	key := flat[len(seg)+1:]
	sub := bk.Bucket(name)
	// Not Get: a key put earlier in this transaction (a batch) reads back as nil.
	if sub != nil && hasKey(sub, key) {
		return nil // already counted: no page to write
	}
	// A person recorded this month in the layout before is not recorded again: MostPeople
	// would count the two keys once, but the new one costs a page. One seek finds the flat key,
	// short or of the whole tag (written before PersonTagSize, it starts with the short one and
	// sorts right after it).
	if got, _ := bk.Cursor().Seek(flat); bytes.HasPrefix(got, flat) {
		return nil
	}
	if sub == nil {
		if sub, err = bk.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("store: people of segment %q: %w", seg, err)
		}
	}
	return sub.Put(key, nil)
}

// hasKey reports whether bk holds k. Not Get(k) != nil: a key Put with a nil value earlier in
// the same transaction (a batch of two taps by one person) reads back as nil.
func hasKey(bk *bolt.Bucket, k []byte) bool {
	got, _ := bk.Cursor().Seek(k)
	return bytes.Equal(got, k)
}

// personKeys walks people keys of one segment, month + 0x00 + tag after prefix, in order:
// by month, then by tag. Keys without a month are skipped.
type personKeys struct {
	c          *bolt.Cursor
	prefix     []byte
	month, tag []byte // of the current key; month is nil past the last one
}

// seek moves to the first key at or after prefix.
func (p *personKeys) seek() {
	if p.c == nil {
		return
	}
	k, _ := p.c.Seek(p.prefix)
	p.at(k)
}

func (p *personKeys) next() { k, _ := p.c.Next(); p.at(k) }

func (p *personKeys) at(k []byte) {
	for ; k != nil && bytes.HasPrefix(k, p.prefix); k, _ = p.c.Next() {
		rest := k[len(p.prefix):]
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			continue // no key of this layout
		}
		// A whole tag, written before PersonTagSize, is its short one: the order holds, since a
		// cut keeps the keys' order (two may become equal).
		p.month, p.tag = rest[:i], rest[i+1:][:min(len(rest)-i-1, PersonTagSize)]
		return
	}
	p.month, p.tag = nil, nil
}

// before reports whether p's key comes first, ties included (q's is then the same person's), or
// q is past its last key.
func (p *personKeys) before(q *personKeys) bool {
	if p.month == nil || q.month == nil {
		return q.month == nil
	}
	if c := bytes.Compare(p.month, q.month); c != 0 {
		return c < 0
	}
	return bytes.Compare(p.tag, q.tag) <= 0
}

// MostPeople returns the largest number of distinct people who commented in seg (or
// below it) within one month. Tags of different months cannot be joined, so this is a lower
// bound of the people behind seg's comments: what a minimum group size may safely rely on.
// It reads seg's sub-bucket and the flat keys of the layout before together, a merge of two
// walks in the same order, so that a person with a key in each is counted once, never twice.
func MostPeople(tx ReadTx, seg string) (int, error) {
	bk, err := People.in(tx)
	if err != nil {
		return 0, err
	}
	flat := &personKeys{c: bk.Cursor(), prefix: peoplePrefix(seg)}
	sub := &personKeys{}
	if s := bk.Bucket([]byte(seg)); s != nil {
		sub.c = s.Cursor()
	}
	flat.seek()
	sub.seek()
	most, n := 0, 0
	var month, last []byte
	for started := false; ; started = true {
		p := flat
		if !flat.before(sub) {
			p = sub
		}
		if p.month == nil {
			return most, nil
		}
		switch {
		case !started || !bytes.Equal(p.month, month):
			month, n = append(month[:0], p.month...), 0
		case bytes.Equal(p.tag, last):
			// Keys of one person (a whole tag and a short one, or a flat key and one of the
			// sub-bucket) come one after the other: counted once.
			p.next()
			continue
		}
		last = append(last[:0], p.tag...)
		n++
		most = max(most, n)
		p.next()
	}
}
