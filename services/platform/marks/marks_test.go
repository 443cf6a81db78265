package marks_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/marks"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/poll"
)

func connect(t *testing.T) jetstream.JetStream {
	t.Helper()
	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func openDB(t *testing.T, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func replica(t *testing.T, js jetstream.JetStream, db *bolt.DB, name string, ttl time.Duration) *marks.Marks {
	t.Helper()
	m, err := marks.New(marks.Config{JS: js, Bucket: "voix_marks_test", Replica: name, ClaimTTL: ttl, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var tag = []byte("0123456789abcdef0123456789abcdef") // stands for a keyed hash of a person

// commit stores the claim's record as the service's transaction would, with its item.
func commit(t *testing.T, db *bolt.DB, c *marks.Claim, result string) {
	t.Helper()
	if err := db.Update(func(tx *bolt.Tx) error { return c.UnsafeRecord(tx, result) }); err != nil {
		t.Fatal(err)
	}
}

func TestClaimIsExclusiveUntilDoneOrReleased(t *testing.T) {
	js := connect(t)
	dir := t.TempDir()
	a := replica(t, js, openDB(t, filepath.Join(dir, "a.db")), "a", 0)
	b := replica(t, js, openDB(t, filepath.Join(dir, "b.db")), "b", 0)
	ctx := context.Background()

	c, prev, err := a.Claim(ctx, tag, []byte("idem"), 0)
	if err != nil || prev != nil || !c.Live() {
		t.Fatalf("first claim = %v, %v, %v", c, prev, err)
	}
	if c2, prev, err := b.Claim(ctx, tag, []byte("idem"), 0); err != nil || c2 != nil || prev == nil || prev.Done || prev.Replica != "a" {
		t.Fatalf("claim while a's is pending = %v, %+v, %v; want a's pending mark", c2, prev, err)
	}
	if err := c.Release(ctx); err != nil {
		t.Fatal(err)
	}
	c, prev, err = b.Claim(ctx, tag, []byte("idem"), 0)
	if err != nil || prev != nil {
		t.Fatalf("claim after a released = %v, %+v, %v", c, prev, err)
	}
	if err := c.Confirm(ctx); err != nil {
		t.Fatal(err)
	}
	if _, prev, err := a.Claim(ctx, tag, nil, 0); err != nil || prev == nil || !prev.Done || string(prev.Idem) != "idem" {
		t.Fatalf("claim after b's confirm = %+v, %v; want b's done mark", prev, err)
	}
}

func TestClaimCommittedButNotConfirmedIsSettledAtRestart(t *testing.T) {
	js := connect(t)
	dir := t.TempDir()
	pathA := filepath.Join(dir, "a.db")
	dbA := openDB(t, pathA)
	a := replica(t, js, dbA, "a", 0)
	b := replica(t, js, openDB(t, filepath.Join(dir, "b.db")), "b", 0)
	ctx := context.Background()

	c, _, err := a.Claim(ctx, tag, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	commit(t, dbA, c, "item-1")
	// a dies here, before Confirm; it restarts on its store.
	dbA.Close()
	a2 := replica(t, js, openDB(t, pathA), "a", 0)
	if left, err := a2.Settle(ctx); err != nil || left != 0 {
		t.Fatalf("settle = %d left, %v", left, err)
	}
	_, prev, err := b.Claim(ctx, tag, nil, time.Hour)
	if err != nil || prev == nil || !prev.Done || prev.Result != "item-1" {
		t.Fatalf("b's claim after a's restart = %+v, %v; want a's done mark for item-1", prev, err)
	}
	if a2.Conflicts() != 0 {
		t.Fatalf("conflicts = %d", a2.Conflicts())
	}
}

func TestClaimExpiredBeforeItsSettleIsCountedAsAConflict(t *testing.T) {
	js := connect(t)
	dir := t.TempDir()
	pathA := filepath.Join(dir, "a.db")
	dbA := openDB(t, pathA)
	a := replica(t, js, dbA, "a", 2*time.Second)
	b := replica(t, js, openDB(t, filepath.Join(dir, "b.db")), "b", 2*time.Second)
	ctx := context.Background()

	c, _, err := a.Claim(ctx, tag, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	commit(t, dbA, c, "item-a")
	dbA.Close() // a dies before Confirm and stays down past its claim
	poll.Until(t, 15*time.Second, 50*time.Millisecond, func() error {
		if c.Live() {
			return errors.New("a's claim still live")
		}
		return nil
	})
	var cb *marks.Claim
	poll.Until(t, 15*time.Second, 100*time.Millisecond, func() error {
		cb, _, err = b.Claim(ctx, tag, nil, 0)
		if err == nil && cb == nil {
			return errors.New("a's claim not expired yet")
		}
		return err
	})
	if err := cb.Confirm(ctx); err != nil {
		t.Fatal(err)
	}
	a2 := replica(t, js, openDB(t, pathA), "a", 2*time.Second)
	if left, err := a2.Settle(ctx); err != nil || left != 0 {
		t.Fatalf("settle = %d left, %v", left, err)
	}
	if a2.Conflicts() != 1 {
		t.Fatalf("conflicts = %d, want 1: the item was counted by a and by b", a2.Conflicts())
	}
	// Confirming the expired claim itself is refused the same way.
	if err := c.Confirm(ctx); !errors.Is(err, marks.ErrLost) {
		t.Fatalf("confirm of the expired claim = %v, want ErrLost", err)
	}
}
