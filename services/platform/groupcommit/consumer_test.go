package groupcommit_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/groupcommit"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/segment"
)

// A consumer given the committer as its Writer applies its events in the commits of the
// service's own writes: while a commit is on its way to disk, the apply waits in the queue
// with the writes that arrive meanwhile, and all of them share the next transaction and its
// fsyncs, instead of the apply taking the writer lock (and two fsyncs) between two commits.
func TestConsumerAppliesShareTheCommitOfConcurrentWrites(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	db := open(t, filepath.Join(t.TempDir(), "svc.db"))
	defer db.Close()
	c := groupcommit.New(db, 0)
	defer c.Close()

	var mu sync.Mutex
	txOf := map[string]int{} // write or event -> the transaction that committed it
	note := func(tx *bolt.Tx, name string) {
		id := tx.ID()
		tx.OnCommit(func() {
			mu.Lock()
			txOf[name] = id
			mu.Unlock()
		})
	}

	ev := bus.Event{ID: "scored-1", Type: events.FeedbackSubmitted.Type, Source: events.FeedbackSubmitted.Source,
		Subject: events.FeedbackSubmitted.Subject(segment.MustParse("acme/eng")), Data: []byte("x")}
	cons, err := consumer.Start(context.Background(), b.JetStream(), consumer.Config{
		Stream:         events.Feedback.Name,
		Durable:        "svc",
		FilterSubjects: []string{events.FeedbackSubmitted.All()},
		DB:             db,
		Writer:         c,
		Handle: func(tx *bolt.Tx, ev bus.Event) error {
			note(tx, ev.ID)
			return put("applied/" + ev.ID)(tx)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Stop()

	// The consumer is up (its Start writes its bucket); now a commit is on its way to disk
	// while writes arrive, and an event.
	unhold, held := hold(t, c)
	var once sync.Once
	release := func() { once.Do(unhold) }
	defer release() // also when the test fails before: Close waits for the held commit
	const writes = 8
	errs := make(chan error, writes)
	for i := range writes {
		go func() {
			errs <- c.Update(func(tx *bolt.Tx) error {
				note(tx, fmt.Sprint("write", i))
				return put(fmt.Sprint("w", i))(tx)
			})
		}()
	}
	if err := b.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}

	// The writes and the apply wait behind the held commit (an apply through DB.Update would
	// wait for bbolt's writer lock instead, outside the queue).
	poll.Until(t, 15*time.Second, time.Millisecond, func() error {
		if q := queued(c); q < writes+1 {
			return fmt.Errorf("%d of %d writes and applies queued", q, writes+1)
		}
		return nil
	})
	release()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for range writes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 15*time.Second, time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := txOf[ev.ID]; !ok {
			return fmt.Errorf("%s not applied yet", ev.ID)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	txs := map[int]bool{}
	for _, id := range txOf {
		txs[id] = true
	}
	if len(txOf) != writes+1 || len(txs) != 1 {
		t.Fatalf("%d writes and an apply queued together committed in %d transactions: %v", writes, len(txs), txOf)
	}
}
