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

// peopleKey is a people key as UnsafeAddPerson wrote it before PersonTagSize, with the whole
// tag, or now, with a cut one.
func peopleKey(seg, month string, tag []byte) []byte {
	return append(append(append(append([]byte(seg), 0), month...), 0), tag...)
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

// A person recorded this month before PersonTagSize, under the whole tag, is not recorded
// again under the cut one: otherwise a store upgraded mid-month would hold two keys of one
// person, and the minimum group size would rest on a count of people with a double in it.
func TestPeopleRecordedWithTheWholeTagAreNotAddedAgain(t *testing.T) {
	db := open(t)
	p := personTag(1)
	old := func(tx *bolt.Tx) error { return tx.Bucket(store.People).Put(peopleKey("acme/eng", "2026-03", p), nil) }
	// Twice in one transaction too, as a batch of two comments would: a key Put with a nil
	// value in the transaction reads back as nil with Get.
	add := func(tx *bolt.Tx) error {
		for range 2 {
			if err := store.UnsafeAddPerson(tx, "acme/eng", "2026-03", p); err != nil {
				return err
			}
		}
		return nil
	}
	// The old key committed before (as it was), and in the same transaction.
	if err := db.Update(old); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(add); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(store.People).Delete(peopleKey("acme/eng", "2026-03", p)); err != nil {
			return err
		}
		if err := old(tx); err != nil {
			return err
		}
		return add(tx)
	}); err != nil {
		t.Fatal(err)
	}
	if keys := rawKeys(t, db, store.People); len(keys) != 1 || !bytes.Equal(keys[0], peopleKey("acme/eng", "2026-03", p)) {
		t.Errorf("people keys = %q, want only the old one", keys)
	}
	if n := mostPeople(t, db, "acme/eng"); n != 1 {
		t.Errorf("MostPeople = %d, want 1", n)
	}
}

// A person with both an old key (whole tag) and a new one (cut tag) in one month is one
// person: the two keys sort next to each other, and MostPeople counts them once.
func TestMostPeopleCountsOldAndNewKeysOfOnePersonOnce(t *testing.T) {
	db := open(t)
	p, q := personTag(1), personTag(2)
	put := func(keys ...[]byte) {
		t.Helper()
		if err := db.Update(func(tx *bolt.Tx) error {
			for _, k := range keys {
				if err := tx.Bucket(store.People).Put(k, nil); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	put(peopleKey("acme/eng", "2026-03", p), peopleKey("acme/eng", "2026-03", p[:store.PersonTagSize]))
	if n := mostPeople(t, db, "acme/eng"); n != 1 {
		t.Errorf("one person with an old and a new key: MostPeople = %d, want 1", n)
	}
	put(peopleKey("acme/eng", "2026-03", q), peopleKey("acme/eng", "2026-03", q[:store.PersonTagSize]))
	if n := mostPeople(t, db, "acme/eng"); n != 2 {
		t.Errorf("two people with old and new keys: MostPeople = %d, want 2", n)
	}
}

// UnsafeAddPerson writes the tag's first PersonTagSize bytes, once.
func TestPeopleKeysHoldSixteenBytesOfTheTag(t *testing.T) {
	db := open(t)
	p := personTag(1)
	add := func(tx *bolt.Tx) error { return store.UnsafeAddPerson(tx, "acme/eng", "2026-03", p) }
	// Twice in one transaction (a batch), then again in another.
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := add(tx); err != nil {
			return err
		}
		return add(tx)
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(add); err != nil {
		t.Fatal(err)
	}
	want := peopleKey("acme/eng", "2026-03", p[:store.PersonTagSize])
	if keys := rawKeys(t, db, store.People); len(keys) != 1 || !bytes.Equal(keys[0], want) {
		t.Errorf("people keys = %q, want only %q", keys, want)
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
