package store_test

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/feedback/internal/store"
)

// The tag helpers hand the caller's tag to bbolt as the key without a copy of their own
// (bbolt copies keys): a caller that reuses its buffer before the commit must not change
// what was stored.
func TestTagKeysDoNotDependOnTheCallersBuffer(t *testing.T) {
	db := open(t)
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tag := bytes.Repeat([]byte{1}, 32)
	token := bytes.Repeat([]byte{2}, 32)
	err := db.Update(func(tx *bolt.Tx) error {
		if ok, err := store.UnsafeCountSubmission(tx, tag, now, now.Add(time.Hour), 5); err != nil || !ok {
			return err
		}
		if err := store.UnsafePutIdempotency(tx, tag, "c1", now.Add(time.Hour)); err != nil {
			return err
		}
		if err := store.UnsafePutFollowUp(tx, token, "c1"); err != nil {
			return err
		}
		// The caller's buffers are reused before the commit.
		for i := range tag {
			tag[i], token[i] = 9, 9
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	original, reused := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{9}, 32)
	db.View(func(tx *bolt.Tx) error {
		if id, err := store.IdempotencyRecord(tx, original, now); err != nil || id != "c1" {
			t.Errorf("idempotency under the original tag: %q, %v; want c1", id, err)
		}
		if id, _ := store.IdempotencyRecord(tx, reused, now); id != "" {
			t.Errorf("idempotency stored under the reused buffer: %q", id)
		}
		if id, err := store.FollowUp(tx, bytes.Repeat([]byte{2}, 32)); err != nil || id != "c1" {
			t.Errorf("follow-up under the original hash: %q, %v; want c1", id, err)
		}
		if v := tx.Bucket(store.RateLimits).Get(original); v == nil {
			t.Error("rate-limit counter not under the original tag")
		}
		return nil
	})
}

// peopleKey is a flat people key, of the layout before the sub-buckets: with the whole tag,
// as UnsafeAddPerson wrote it before PersonTagSize, or with a cut one, as it wrote it after.
func peopleKey(seg, month string, tag []byte) []byte {
	return append(append(append(append([]byte(seg), 0), month...), 0), tag...)
}

// subKey is a key of a segment's sub-bucket of people: month + 0x00 + tag.
func subKey(month string, tag []byte) []byte {
	return append(append([]byte(month), 0), tag...)
}

// personTag is a 32-byte tag, as Tag makes, different for each b.
func personTag(b byte) []byte {
	h := sha256.Sum256([]byte{b})
	return h[:]
}

func mostPeople(t *testing.T, db *bolt.DB, seg string) int {
	t.Helper()
	var n int
	if err := db.View(func(tx *bolt.Tx) (err error) {
		n, err = store.MostPeople(tx, seg)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// subKeys returns the keys of seg's sub-bucket of people as they are on disk, none if it has
// no sub-bucket.
func subKeys(t *testing.T, db *bolt.DB, seg string) [][]byte {
	t.Helper()
	var keys [][]byte
	if err := db.View(func(tx *bolt.Tx) error {
		sub := tx.Bucket(store.People).Bucket([]byte(seg))
		if sub == nil {
			return nil
		}
		return sub.ForEach(func(k, _ []byte) error {
			keys = append(keys, bytes.Clone(k))
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// putPeople writes flat keys (the layout before) and keys of seg's sub-bucket as they are,
// without UnsafeAddPerson's checks.
func putPeople(t *testing.T, db *bolt.DB, seg string, flat, sub [][]byte) {
	t.Helper()
	if err := db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(store.People)
		for _, k := range flat {
			if err := bk.Put(k, nil); err != nil {
				return err
			}
		}
		if len(sub) == 0 {
			return nil
		}
		s, err := bk.CreateBucketIfNotExists([]byte(seg))
		if err != nil {
			return err
		}
		for _, k := range sub {
			if err := s.Put(k, nil); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// pagesWritten returns the pages the commit of an Update running fn writes.
func pagesWritten(t *testing.T, db *bolt.DB, fn func(*bolt.Tx) error) int64 {
	t.Helper()
	before := db.Stats()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	after := db.Stats()
	return after.TxStats.GetWrite() - before.TxStats.GetWrite()
}

// A person recorded this month in the flat layout before the sub-buckets, under the whole tag
// (before PersonTagSize) or the cut one, is not recorded again in the segment's sub-bucket:
// otherwise a store upgraded mid-month would hold two keys of one person, each costing a page.
// The check is of the month: the same person in another month is recorded.
func TestPeopleWithAFlatKeyThisMonthAreNotAddedAgain(t *testing.T) {
	p := personTag(1)
	for name, old := range map[string][]byte{
		"whole tag": peopleKey("acme/eng", "2026-03", p),
		"cut tag":   peopleKey("acme/eng", "2026-03", p[:store.PersonTagSize]),
	} {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			putOld := func(tx *bolt.Tx) error { return tx.Bucket(store.People).Put(old, nil) }
			// Twice in one transaction too, as a batch of two comments would: a key Put with a
			// nil value in the transaction reads back as nil with Get.
			add := func(tx *bolt.Tx) error {
				for range 2 {
					if err := store.UnsafeAddPerson(tx, "acme/eng", "2026-03", p); err != nil {
						return err
					}
				}
				return nil
			}
			// The old key committed before (as it was), and in the same transaction.
			if err := db.Update(putOld); err != nil {
				t.Fatal(err)
			}
			if err := db.Update(add); err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bolt.Tx) error {
				if err := tx.Bucket(store.People).Delete(old); err != nil {
					return err
				}
				if err := putOld(tx); err != nil {
					return err
				}
				return add(tx)
			}); err != nil {
				t.Fatal(err)
			}
			if keys := rawKeys(t, db, store.People); len(keys) != 1 || !bytes.Equal(keys[0], old) {
				t.Errorf("people keys = %q, want only the old one (no sub-bucket)", keys)
			}
			if n := mostPeople(t, db, "acme/eng"); n != 1 {
				t.Errorf("MostPeople = %d, want 1", n)
			}
			if err := db.Update(func(tx *bolt.Tx) error { return store.UnsafeAddPerson(tx, "acme/eng", "2026-04", p) }); err != nil {
				t.Fatal(err)
			}
			if keys := subKeys(t, db, "acme/eng"); len(keys) != 1 || !bytes.Equal(keys[0], subKey("2026-04", p[:store.PersonTagSize])) {
				t.Errorf("sub-bucket keys = %q, want only the person's of 2026-04", keys)
			}
		})
	}
}

// A person with both an old key (whole tag) and a new one (cut tag) in one month is one
// person: the two keys sort next to each other, and MostPeople counts them once.
func TestMostPeopleCountsOldAndNewKeysOfOnePersonOnce(t *testing.T) {
	db := open(t)
	p, q := personTag(1), personTag(2)
	putPeople(t, db, "acme/eng", [][]byte{peopleKey("acme/eng", "2026-03", p), peopleKey("acme/eng", "2026-03", p[:store.PersonTagSize])}, nil)
	if n := mostPeople(t, db, "acme/eng"); n != 1 {
		t.Errorf("one person with an old and a new key: MostPeople = %d, want 1", n)
	}
	putPeople(t, db, "acme/eng", [][]byte{peopleKey("acme/eng", "2026-03", q), peopleKey("acme/eng", "2026-03", q[:store.PersonTagSize])}, nil)
	if n := mostPeople(t, db, "acme/eng"); n != 2 {
		t.Errorf("two people with old and new keys: MostPeople = %d, want 2", n)
	}
}

// A person with a flat key (either form) and a key of the sub-bucket in one month is one
// person; people of either source alone count too. The people's tags interleave in order, so
// a count that read one source after the other would see some of them twice.
func TestMostPeopleCountsFlatAndSubBucketKeysOfOnePersonOnce(t *testing.T) {
	db := open(t)
	const seg, month = "acme/eng", "2026-03"
	var flat, sub [][]byte
	for b := byte(1); b <= 12; b++ {
		p := personTag(b)
		switch b % 4 {
		case 0: // both forms of flat key and a sub-bucket key
			flat = append(flat, peopleKey(seg, month, p), peopleKey(seg, month, p[:store.PersonTagSize]))
			sub = append(sub, subKey(month, p[:store.PersonTagSize]))
		case 1: // a whole-tag flat key and a sub-bucket key
			flat = append(flat, peopleKey(seg, month, p))
			sub = append(sub, subKey(month, p[:store.PersonTagSize]))
		case 2: // a flat key only
			flat = append(flat, peopleKey(seg, month, p[:store.PersonTagSize]))
		case 3: // a sub-bucket key only
			sub = append(sub, subKey(month, p[:store.PersonTagSize]))
		}
	}
	p := personTag(100)
	putPeople(t, db, seg, [][]byte{peopleKey(seg, month, p), peopleKey(seg, month, p[:store.PersonTagSize])},
		[][]byte{subKey(month, p[:store.PersonTagSize])})
	if n := mostPeople(t, db, seg); n != 1 {
		t.Errorf("one person with flat keys and a sub-bucket key: MostPeople = %d, want 1", n)
	}
	putPeople(t, db, seg, flat, sub)
	if n := mostPeople(t, db, seg); n != 13 {
		t.Errorf("13 people over both sources: MostPeople = %d, want 13", n)
	}
}

// UnsafeAddPerson writes month + 0x00 + the tag's first PersonTagSize bytes in the segment's
// sub-bucket, once, and no flat key: the segment is the sub-bucket's name, not in every key.
func TestPeopleKeysHoldSixteenBytesOfTheTag(t *testing.T) {
	db := open(t)
	p := personTag(1)
	add := func(tx *bolt.Tx) error { return store.UnsafeAddPerson(tx, "acme/eng", "2026-03", p) }
	// Twice in one transaction (a batch).
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := add(tx); err != nil {
			return err
		}
		return add(tx)
	}); err != nil {
		t.Fatal(err)
	}
	// Again in another transaction: found, nothing written (no page beyond those of any commit).
	if w, w0 := pagesWritten(t, db, add), pagesWritten(t, db, func(*bolt.Tx) error { return nil }); w != w0 {
		t.Errorf("a person recorded again wrote %d pages, an empty commit %d", w, w0)
	}
	if keys := rawKeys(t, db, store.People); len(keys) != 1 || string(keys[0]) != "acme/eng" {
		t.Errorf("people keys = %q, want only the sub-bucket acme/eng", keys)
	}
	want := subKey("2026-03", p[:store.PersonTagSize])
	if keys := subKeys(t, db, "acme/eng"); len(keys) != 1 || !bytes.Equal(keys[0], want) {
		t.Errorf("sub-bucket keys = %q, want only %q", keys, want)
	}
}

// A segment's name must not be taken for a flat key, which holds a 0x00, nor be empty (bbolt
// has no bucket of that name).
func TestPeopleOfASegmentNameWithoutZeroByteOnly(t *testing.T) {
	db := open(t)
	for _, seg := range []string{"", "acme\x002026-03"} {
		if err := db.Update(func(tx *bolt.Tx) error { return store.UnsafeAddPerson(tx, seg, "2026-03", personTag(1)) }); err == nil {
			t.Errorf("UnsafeAddPerson(%q): no error", seg)
		}
	}
}

// MostPeople is the largest count of one month, with old and new keys of a month counted
// together and months never joined.
func TestMostPeopleAcrossMonthsOfOldAndNewKeys(t *testing.T) {
	db := open(t)
	err := db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(store.People)
		// 2026-02, before the change: people 1 and 2.
		for _, b := range []byte{1, 2} {
			if err := bk.Put(peopleKey("acme/eng", "2026-02", personTag(b)), nil); err != nil {
				return err
			}
		}
		// 2026-03, upgraded mid-month: person 1 old and new, person 3 old, persons 4 and 5 new.
		for _, k := range [][]byte{
			peopleKey("acme/eng", "2026-03", personTag(1)),
			peopleKey("acme/eng", "2026-03", personTag(1)[:store.PersonTagSize]),
			peopleKey("acme/eng", "2026-03", personTag(3)),
		} {
			if err := bk.Put(k, nil); err != nil {
				return err
			}
		}
		for _, b := range []byte{1, 3, 4, 5} {
			if err := store.UnsafeAddPerson(tx, "acme/eng", "2026-03", personTag(b)); err != nil {
				return err
			}
		}
		// 2026-04, after: person 1 and 2.
		for _, b := range []byte{1, 2} {
			if err := store.UnsafeAddPerson(tx, "acme/eng", "2026-04", personTag(b)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := mostPeople(t, db, "acme/eng"); n != 4 {
		t.Errorf("MostPeople = %d, want 4 (2026-03: people 1, 3, 4 and 5)", n)
	}
	if n := mostPeople(t, db, "acme"); n != 0 {
		t.Errorf("MostPeople(acme) = %d, want 0", n)
	}
}

// Months are never joined, across the two sources either: the flat keys' months and the
// sub-bucket's interleave, and a month with people in both is counted from both.
func TestMostPeopleNeverJoinsMonthsOfFlatAndSubBucketKeys(t *testing.T) {
	db := open(t)
	const seg = "acme/eng"
	cut := func(b byte) []byte { return personTag(b)[:store.PersonTagSize] }
	putPeople(t, db, seg,
		[][]byte{
			peopleKey(seg, "2026-02", personTag(1)), peopleKey(seg, "2026-02", cut(2)),
			peopleKey(seg, "2026-04", personTag(1)), peopleKey(seg, "2026-04", cut(2)),
		},
		[][]byte{
			subKey("2026-03", cut(3)), subKey("2026-03", cut(4)),
			subKey("2026-04", cut(3)),
		})
	// 2026-02: 1 and 2; 2026-03: 3 and 4; 2026-04: 1, 2 and 3. All joined: 4.
	if n := mostPeople(t, db, seg); n != 3 {
		t.Errorf("MostPeople = %d, want 3 (2026-04: people 1, 2 and 3)", n)
	}
	// Another segment's sub-bucket and flat keys, whose names start with seg's, are not seg's.
	putPeople(t, db, seg+"/t1", [][]byte{peopleKey(seg+"/t1", "2026-04", cut(5))}, [][]byte{subKey("2026-04", cut(6))})
	if n := mostPeople(t, db, seg); n != 3 {
		t.Errorf("with acme/eng/t1's people: MostPeople = %d, want 3", n)
	}
}
