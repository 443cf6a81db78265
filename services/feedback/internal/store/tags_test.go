package store_test

import (
	"bytes"
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
