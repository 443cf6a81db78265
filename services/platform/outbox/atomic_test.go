package outbox_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/poll"
)

// atomicCounter is the real bus, counting the atomic batches it stored.
type atomicCounter struct {
	*bus.Bus
	stored atomic.Int64
}

func (a *atomicCounter) PublishAtomic(ctx context.Context, evs []bus.Event) error {
	err := a.Bus.PublishAtomic(ctx, evs)
	if err == nil {
		a.stored.Add(1)
	}
	return err
}

// The relay stores runs of one stream's records as atomic batches (one fsync each on a server
// that syncs every write), in commit order.
func TestRelayPublishesAtomicBatches(t *testing.T) {
	s := natstest.Start(t)
	pub := &atomicCounter{Bus: natstest.Connect(t, s)}
	db := openDB(t, filepath.Join(t.TempDir(), "svc.db"))
	o := newOutbox(t, db, pub)
	var want []string
	for i := range 300 {
		id := fmt.Sprintf("e%03d", i)
		want = append(want, id)
		add(t, db, o, event(id))
	}
	run(t, o)
	poll.Until(t, wait, tick, drained(t, o, pub.Bus, len(want)))
	if got := ids(stored(t, pub.Bus)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stream order:\n got %v\nwant %v", got, want)
	}
	if pub.stored.Load() == 0 {
		t.Fatal("no atomic batch stored: the relay published one message at a time")
	}
}

// A crash after an atomic batch was stored and before its records were deleted: the relay
// sends them again with new ones; the server refuses the atomic batch (it holds stored ids),
// and the relay publishes that run one by one, so every event is in the stream once.
func TestCrashAfterAtomicBatchBeforeDelete(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	db := openDB(t, filepath.Join(t.TempDir(), "svc.db"))
	o := newOutbox(t, db, b)
	var first, want []string
	var evs []bus.Event
	for i := range 10 {
		ev := event(fmt.Sprintf("old%02d", i))
		evs = append(evs, ev)
		first = append(first, ev.ID)
	}
	if err := b.PublishAtomic(context.Background(), evs); err != nil {
		t.Fatalf("publish atomic: %v", err)
	}
	want = append(want, first...)
	add(t, db, o, evs...)
	for i := range 5 {
		ev := event(fmt.Sprintf("new%02d", i))
		add(t, db, o, ev)
		want = append(want, ev.ID)
	}
	run(t, o)
	poll.Until(t, wait, tick, drained(t, o, b, len(want)))
	if got := ids(stored(t, b)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stream holds:\n %v\nwant each once:\n %v", got, want)
	}
}
