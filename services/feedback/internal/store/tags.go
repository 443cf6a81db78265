package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
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

func peoplePrefix(seg string) []byte { return append([]byte(seg), 0) }

// PersonTagSize is how much of a person's tag a people key holds. Two people sharing 128 bits
// of their tags are counted as one, which keeps MostPeople a lower bound; the other 16 bytes
// would only cost pages (issue 12, target 5).
const PersonTagSize = 16

// UnsafeAddPerson records that the person tagged tag commented in seg during month, under the
// tag's first PersonTagSize bytes.
func UnsafeAddPerson(tx WriteTx, seg, month string, tag []byte) error {
	bk, err := People.writable(tx)
	if err != nil {
		return err
	}
	tag = tag[:min(len(tag), PersonTagSize)]
	short := make([]byte, 0, len(seg)+1+len(month)+1+len(tag)) // one allocation; bbolt copies it
	short = append(append(append(append(append(short, seg...), 0), month...), 0), tag...)
	// One seek finds the person's key, or the key of the whole tag a person recorded this month
	// before PersonTagSize has (it starts with the short one and sorts right after it): no
	// second key for them. MostPeople would count the two once, but the short one costs a page.
	// Not Get: a key put earlier in this transaction (a batch) reads back as nil.
	if got, _ := bk.Cursor().Seek(short); bytes.HasPrefix(got, short) {
		return nil // already counted: no page to write
	}
	return bk.Put(short, nil)
}

// hasKey reports whether bk holds k. Not Get(k) != nil: a key Put with a nil value earlier in
// the same transaction (a batch of two taps by one person) reads back as nil.
func hasKey(bk *bolt.Bucket, k []byte) bool {
	got, _ := bk.Cursor().Seek(k)
	return bytes.Equal(got, k)
}

// MostPeople returns the largest number of distinct people who commented in seg (or
// below it) within one month. Tags of different months cannot be joined, so this is a lower
// bound of the people behind seg's comments: what a minimum group size may safely rely on.
func MostPeople(tx ReadTx, seg string) (int, error) {
	bk, err := People.in(tx)
	if err != nil {
		return 0, err
	}
	prefix := peoplePrefix(seg)
	most, n := 0, 0
	var month, last []byte
	c := bk.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		rest := k[len(prefix):]
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			continue
		}
		if !bytes.Equal(rest[:i], month) {
			month, n, last = bytes.Clone(rest[:i]), 0, nil
		}
		// A key of the whole tag (written before PersonTagSize) and the short key of the same
		// person sort next to each other, the short one first: counted once, never twice.
		tag := rest[i+1:]
		tag = tag[:min(len(tag), PersonTagSize)]
		if last != nil && bytes.Equal(tag, last) {
			continue
		}
		last = append(last[:0], tag...)
		n++
		most = max(most, n)
	}
	return most, nil
}
