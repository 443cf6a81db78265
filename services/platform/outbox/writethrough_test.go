package outbox_test

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"

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
