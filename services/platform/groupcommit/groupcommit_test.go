package groupcommit_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/groupcommit"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/store"
)

var bucket = []byte("b")

func open(t testing.TB, path string) *bolt.DB {
	t.Helper()
	db, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureBuckets(db, bucket); err != nil {
		t.Fatal(err)
	}
	return db
}

func put(k string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(k), []byte("v")) }
}

// hold makes the committer busy with a write that waits for release, so that the writes sent
// meanwhile queue up and go into the next transaction together.
func hold(t *testing.T, c *groupcommit.Committer) (release func(), done <-chan error) {
	started, gate, errc := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var once sync.Once
	go func() {
		errc <- c.Update(func(tx *bolt.Tx) error {
			once.Do(func() { close(started) })
			<-gate
			return put("hold")(tx)
		})
	}()
	<-started
	return func() { close(gate) }, errc
}

func TestConcurrentWritesShareOneCommitAndAreDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db := open(t, path)
	c := groupcommit.New(db, 0)
	release, held := hold(t, c)

	const n = 50
	var mu sync.Mutex
	txOf := map[int]int{} // write -> id of the transaction that committed it
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- c.Update(func(tx *bolt.Tx) error {
				id := tx.ID()
				tx.OnCommit(func() {
					mu.Lock()
					txOf[i] = id
					mu.Unlock()
				})
				return put(fmt.Sprint("k", i))(tx)
			})
		}()
	}
	// Wait until all n are queued behind the held write, then let it commit.
	poll.Until(t, 10*time.Second, time.Millisecond, func() error {
		if q := queued(c); q < n {
			return fmt.Errorf("%d of %d writes queued", q, n)
		}
		return nil
	})
	release()
	if err := <-held; err != nil {
		t.Fatalf("held write: %v", err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("Update: %v", err)
		}
	}
	txs := map[int]bool{}
	for _, id := range txOf {
		txs[id] = true
	}
	if len(txOf) != n || len(txs) != 1 {
		t.Fatalf("the %d queued writes committed in %d transactions (%d seen), want 1", n, len(txs), len(txOf))
	}
	c.Close()
	db.Close()

	// Acknowledged means on disk: a new open sees every write.
	db = open(t, path)
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		for i := range n {
			if tx.Bucket(bucket).Get([]byte(fmt.Sprint("k", i))) == nil {
				t.Errorf("k%d acknowledged but not on disk", i)
			}
		}
		return nil
	})
}

// queued is how many writes wait for the committer.
func queued(c *groupcommit.Committer) int { return groupcommit.Queued(c) }

func TestFailingWriteFailsOnlyItself(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "x.db"))
	defer db.Close()
	c := groupcommit.New(db, 0)
	defer c.Close()
	release, held := hold(t, c)

	errBad := errors.New("rule broken")
	type result struct {
		key string
		err error
	}
	results := make(chan result, 12)
	send := func(key string, fn func(*bolt.Tx) error) {
		go func() { results <- result{key, c.Update(fn)} }()
	}
	for i := range 10 {
		send(fmt.Sprint("good", i), put(fmt.Sprint("good", i)))
	}
	// Writes, then fails: its write must not survive.
	send("bad", func(tx *bolt.Tx) error {
		if err := put("bad")(tx); err != nil {
			return err
		}
		return errBad
	})
	send("panic", func(tx *bolt.Tx) error {
		put("panic")(tx)
		panic("boom")
	})
	poll.Until(t, 10*time.Second, time.Millisecond, func() error {
		if q := queued(c); q < 12 {
			return fmt.Errorf("%d of 12 writes queued", q)
		}
		return nil
	})
	release()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for range 12 {
		r := <-results
		switch r.key {
		case "bad":
			if !errors.Is(r.err, errBad) {
				t.Errorf("failing write: %v, want its own error", r.err)
			}
		case "panic":
			if r.err == nil {
				t.Error("panicking write: nil error")
			}
		default:
			if r.err != nil {
				t.Errorf("%s failed with its batch: %v", r.key, r.err)
			}
		}
	}
	db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for i := range 10 {
			if b.Get([]byte(fmt.Sprint("good", i))) == nil {
				t.Errorf("good%d not stored", i)
			}
		}
		for _, k := range []string{"bad", "panic"} {
			if b.Get([]byte(k)) != nil {
				t.Errorf("%s: the write of a failed call was committed", k)
			}
		}
		return nil
	})
}

func TestClosedCommitterAndClosedStoreFailCleanly(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "x.db"))
	c := groupcommit.New(db, 0)
	if err := c.Update(put("a")); err != nil {
		t.Fatal(err)
	}
	// The store closes under the committer: every writer hears why, none hangs.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 5)
	for i := range 5 {
		go func() { errs <- c.Update(put(fmt.Sprint("late", i))) }()
	}
	for range 5 {
		if err := <-errs; !errors.Is(err, bolt.ErrDatabaseNotOpen) {
			t.Errorf("write after the store closed: %v, want ErrDatabaseNotOpen", err)
		}
	}
	c.Close()
	if err := c.Update(put("b")); !errors.Is(err, groupcommit.ErrClosed) {
		t.Fatalf("Update after Close: %v, want ErrClosed", err)
	}
}

// Calls are recycled between Updates: every caller must still get the answer of its own
// write, never one meant for another caller or for an earlier write, with failures and
// successes mixed in each batch.
func TestEachUpdateGetsItsOwnAnswer(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "x.db"))
	defer db.Close()
	c := groupcommit.New(db, 0)
	defer c.Close()
	const writers, rounds = 16, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				fail := (w+r)%3 == 0
				want := fmt.Errorf("writer %d round %d", w, r)
				err := c.Update(func(tx *bolt.Tx) error {
					if err := put(fmt.Sprint(w, "/", r))(tx); err != nil {
						return err
					}
					if fail {
						return want
					}
					return nil
				})
				if fail && err != want || !fail && err != nil {
					t.Errorf("writer %d round %d (failing %v): got %v", w, r, fail, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
