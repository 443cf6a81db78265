package outbox_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/poll"
)

// heldWriter holds the relay's first deletion until released, as a group commit still on its
// way to disk does.
type heldWriter struct {
	db      *bolt.DB
	once    sync.Once
	held    chan struct{}
	release chan struct{}
}

func (h *heldWriter) Update(fn func(*bolt.Tx) error) error {
	h.once.Do(func() {
		close(h.held)
		<-h.release
	})
	return h.db.Update(fn)
}

// eventCounter is the real bus, counting the events it was asked to publish.
type eventCounter struct {
	*bus.Bus
	sent atomic.Int64
}

func (c *eventCounter) PublishAtomic(ctx context.Context, evs []bus.Event) error {
	err := c.Bus.PublishAtomic(ctx, evs)
	if err == nil {
		c.sent.Add(int64(len(evs)))
	}
	return err
}

func (c *eventCounter) PublishBatch(ctx context.Context, evs []bus.Event) (int, error) {
	n, err := c.Bus.PublishBatch(ctx, evs)
	c.sent.Add(int64(n))
	return n, err
}

// The relay publishes the next batch while the deletion of the previous one is still
// committing, and sends no record twice for it: with the first deletion held, the second
// batch reaches the stream; once released, every event is in the stream, in commit order,
// each published once, and the outbox ends empty.
func TestRelayPublishesWhileADeletionCommits(t *testing.T) {
	s := natstest.Start(t)
	pub := &eventCounter{Bus: natstest.Connect(t, s)}
	db := openDB(t, filepath.Join(t.TempDir(), "svc.db"))
	o := newOutbox(t, db, pub)
	hw := &heldWriter{db: db, held: make(chan struct{}), release: make(chan struct{})}
	o.WriteThrough(hw)
	var want []string
	for i := range 3 * 256 { // three relay batches
		id := fmt.Sprintf("e%03d", i)
		want = append(want, id)
		add(t, db, o, event(id))
	}
	run(t, o)
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(hw.release) }) }
	t.Cleanup(release) // before the relay stops, even when the test fails
	<-hw.held
	// The first batch's records are not deleted yet; the second batch must reach the stream
	// anyway (one deletion in flight: the third waits for the first).
	poll.Until(t, wait, tick, func() error {
		if got := len(stored(t, pub.Bus)); got < 2*256 {
			return fmt.Errorf("the stream holds %d events, want %d while the first deletion is held", got, 2*256)
		}
		return nil
	})
	release()
	poll.Until(t, wait, tick, drained(t, o, pub.Bus, len(want)))
	if got := ids(stored(t, pub.Bus)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stream order:\n got %v\nwant %v", got, want)
	}
	if n := pub.sent.Load(); n != int64(len(want)) {
		t.Fatalf("%d events published for %d records: a record whose deletion was committing was sent again", n, len(want))
	}
}
