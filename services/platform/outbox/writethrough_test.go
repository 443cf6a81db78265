package outbox_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/groupcommit"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/outbox"
	"github.com/voix-dev/voix/services/platform/poll"
)

// countingWriter counts the transactions the relay ran through it.
type countingWriter struct {
	w outbox.Writer
	n atomic.Int64
}

func (c *countingWriter) Update(fn func(*bolt.Tx) error) error {
	c.n.Add(1)
	return c.w.Update(fn)
}

// With WriteThrough, the relay deletes published records through the service's group
// committer: every event is still published once and in commit order, and the outbox ends
// empty.
func TestWriteThroughDeletesThroughCommitter(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	db := openDB(t, filepath.Join(t.TempDir(), "svc.db"))
	c := groupcommit.New(db, 0)
	t.Cleanup(func() { c.Close() })
	o := newOutbox(t, db, b)
	cw := &countingWriter{w: c}
	o.WriteThrough(cw)
	var want []string
	for i := range 300 { // more than one relay batch
		id := fmt.Sprintf("e%03d", i)
		want = append(want, id)
		if err := c.Update(func(tx *bolt.Tx) error { return o.Add(tx, event(id)) }); err != nil {
			t.Fatal(err)
		}
	}
	run(t, o)
	poll.Until(t, wait, tick, drained(t, o, b, len(want)))
	if got := ids(stored(t, b)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stream order:\n got %v\nwant %v", got, want)
	}
	if cw.n.Load() == 0 {
		t.Fatal("the relay deleted the published records without going through the writer")
	}
}

// An event Prepared before the transaction and stored with AddRecord is relayed as Add would
// relay it, once, also when the function that adds it ran first in a transaction that rolled
// back (as a group commit reruns a function whose batch neighbour failed).
func TestPreparedRecordIsRelayedOnceLikeAdd(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	db := openDB(t, filepath.Join(t.TempDir(), "svc.db"))
	o := newOutbox(t, db, b)
	if _, err := outbox.Prepare(bus.Event{ID: "no-type"}); err == nil {
		t.Fatal("Prepare accepted an event without type, source or subject")
	}
	if err := db.Update(func(tx *bolt.Tx) error { return o.AddRecord(tx, outbox.Record{}) }); err == nil {
		t.Fatal("AddRecord accepted a Record not made by Prepare")
	}
	r, err := outbox.Prepare(event("prepared"))
	if err != nil {
		t.Fatal(err)
	}
	errNeighbour := errors.New("a neighbour in the batch failed")
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := o.AddRecord(tx, r); err != nil {
			return err
		}
		return errNeighbour
	}); !errors.Is(err, errNeighbour) {
		t.Fatalf("rolled back run: %v", err)
	}
	for _, add := range []func(tx *bolt.Tx) error{
		func(tx *bolt.Tx) error { return o.AddRecord(tx, r) },
		func(tx *bolt.Tx) error { return o.Add(tx, event("added")) },
	} {
		if err := db.Update(add); err != nil {
			t.Fatal(err)
		}
	}
	run(t, o)
	poll.Until(t, wait, tick, drained(t, o, b, 2))
	msgs := stored(t, b)
	if got := ids(msgs); fmt.Sprint(got) != "[prepared added]" {
		t.Fatalf("stream holds %v, want [prepared added]", got)
	}
	for i, want := range []bus.Event{event("prepared"), event("added")} {
		if got := string(msgs[i].Data); got != string(want.Data) || msgs[i].Subject != want.Subject {
			t.Errorf("%s: stored %q on %s, want %q on %s", want.ID, got, msgs[i].Subject, want.Data, want.Subject)
		}
	}
}
