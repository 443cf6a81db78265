package store_test

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/feedback/internal/store"
)

// rawKeys returns the keys of a bucket as they are on disk.
func rawKeys(t *testing.T, db *bolt.DB, b store.Bucket) [][]byte {
	t.Helper()
	var keys [][]byte
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(b).ForEach(func(k, _ []byte) error {
			keys = append(keys, bytes.Clone(k))
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// A follow-up put now is kept under the first FollowUpKeySize bytes of the token's hash, and
// the whole hash, which callers keep passing, finds it.
func TestFollowUpIsKeptUnderSixteenBytes(t *testing.T) {
	db := open(t)
	h := sha256.Sum256([]byte("token"))
	if err := db.Update(func(tx *bolt.Tx) error { return store.UnsafePutFollowUp(tx, h[:], "c1") }); err != nil {
		t.Fatal(err)
	}
	keys := rawKeys(t, db, store.FollowUps)
	if len(keys) != 1 || !bytes.Equal(keys[0], h[:store.FollowUpKeySize]) {
		t.Fatalf("follow_ups keys = %x, want only %x", keys, h[:store.FollowUpKeySize])
	}
	db.View(func(tx *bolt.Tx) error {
		if id, err := store.FollowUp(tx, h[:]); err != nil || id != "c1" {
			t.Errorf("FollowUp(whole hash) = %q, %v; want c1", id, err)
		}
		return nil
	})
}

// An entry written before FollowUpKeySize, under the whole hash, still opens its comment;
// a hash that shares no entry opens none, even one sharing the old entry's first 16 bytes.
func TestFollowUpFindsEntriesOfThirtyTwoBytes(t *testing.T) {
	db := open(t)
	old, fresh := sha256.Sum256([]byte("old token")), sha256.Sum256([]byte("new token"))
	err := db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(store.FollowUps).Put(old[:], []byte("c-old")); err != nil {
			return err
		}
		return store.UnsafePutFollowUp(tx, fresh[:], "c-new")
	})
	if err != nil {
		t.Fatal(err)
	}
	other := sha256.Sum256([]byte("unknown token"))
	sharesPrefix := old
	sharesPrefix[31] ^= 1
	db.View(func(tx *bolt.Tx) error {
		for _, c := range []struct {
			name string
			hash []byte
			want string
		}{
			{"32-byte entry", old[:], "c-old"},
			{"16-byte entry", fresh[:], "c-new"},
			{"unknown hash", other[:], ""},
			{"hash sharing an old entry's first 16 bytes", sharesPrefix[:], ""},
		} {
			if id, err := store.FollowUp(tx, c.hash); err != nil || id != c.want {
				t.Errorf("%s: FollowUp = %q, %v; want %q", c.name, id, err, c.want)
			}
		}
		return nil
	})
}

// A hash shorter than a key is refused, naming its length, rather than stored or looked up
// under fewer bytes.
func TestFollowUpRefusesShortHashes(t *testing.T) {
	db := open(t)
	short := make([]byte, store.FollowUpKeySize-1)
	err := db.Update(func(tx *bolt.Tx) error { return store.UnsafePutFollowUp(tx, short, "c1") })
	if err == nil || !strings.Contains(err.Error(), "15 bytes") {
		t.Errorf("UnsafePutFollowUp(15 bytes) = %v, want an error naming 15 bytes", err)
	}
	db.View(func(tx *bolt.Tx) error {
		if _, err := store.FollowUp(tx, short); err == nil {
			t.Error("FollowUp(15 bytes) returned no error")
		}
		return nil
	})
}
