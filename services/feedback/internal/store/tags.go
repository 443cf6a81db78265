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

// hasKey reports whether bk holds k. Not Get(k) != nil: a key Put with a nil value earlier in
// the same transaction (a batch of two comments by one person) reads back as nil.
func hasKey(bk *bolt.Bucket, k []byte) bool {
	got, _ := bk.Cursor().Seek(k)
	return bytes.Equal(got, k)
}

func peoplePrefix(seg string) []byte { return append([]byte(seg), 0) }

// UnsafeAddPerson records that the person tagged tag commented in seg during month.
func UnsafeAddPerson(tx WriteTx, seg, month string, tag []byte) error {
	bk, err := People.writable(tx)
	if err != nil {
		return err
	}
	k := make([]byte, 0, len(seg)+1+len(month)+1+len(tag)) // one allocation; bbolt copies it
	k = append(append(append(append(append(k, seg...), 0), month...), 0), tag...)
	if bk.Get(k) != nil {
		return nil // already counted: no page to write
	}
	return bk.Put(k, nil)
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
	var month []byte
	c := bk.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		rest := k[len(prefix):]
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			continue
		}
		if !bytes.Equal(rest[:i], month) {
			month, n = bytes.Clone(rest[:i]), 0
		}
		n++
		most = max(most, n)
	}
	return most, nil
}
