package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/outbox"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/store"
)

func event(id string) bus.Event {
	return bus.Event{
		ID:      id,
		Type:    events.FeedbackSubmitted.Type,
		Source:  events.FeedbackSubmitted.Source,
		Subject: events.FeedbackSubmitted.Subject(segment.MustParse("acme/eng")),
		Data:    []byte("payload-" + id),
	}
}

func openDB(t testing.TB, path string) *bolt.DB {
	t.Helper()
	db, err := store.Open(path)
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newOutbox(t testing.TB, db *bolt.DB, pub outbox.Publisher) *outbox.Outbox {
	t.Helper()
	o, err := outbox.New(db, pub, nil)
	if err != nil {
		t.Fatalf("outbox.New: %v", err)
	}
	return o
}

// run starts the relay; it stops (and must have returned) by the end of the test.
func run(t testing.TB, o *outbox.Outbox) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("relay returned %v, want context.Canceled", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func add(t testing.TB, db *bolt.DB, o *outbox.Outbox, evs ...bus.Event) {
	t.Helper()
	err := db.Update(func(tx *bolt.Tx) error {
		for _, ev := range evs {
			if err := o.Add(tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("add: %v", err)
	}
}

// How long a test waits for the relay, and how often it looks (poll.Until).
const (
	wait = 15 * time.Second
	tick = 10 * time.Millisecond
)

// drained is a poll.Until check: the outbox is empty and the stream holds at least n messages.
func drained(t testing.TB, o *outbox.Outbox, b *bus.Bus, n int) func() error {
	return func() error {
		if p := pending(t, o); p != 0 {
			return fmt.Errorf("%d events still in the outbox", p)
		}
		if got := len(stored(t, b)); got < n {
			return fmt.Errorf("the stream holds %d messages, want at least %d", got, n)
		}
		return nil
	}
}

func pending(t testing.TB, o *outbox.Outbox) int {
	t.Helper()
	n, err := o.Pending()
	if err != nil {
		t.Fatalf("pending: %v", err)
	}
	return n
}

// stored returns the messages of the FEEDBACK stream, in order.
func stored(t testing.TB, b *bus.Bus) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	st, err := b.JetStream().Stream(ctx, events.Feedback.Name)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	var msgs []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get msg %d: %v", seq, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func ids(msgs []*jetstream.RawStreamMsg) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Header.Get("ce-id"))
	}
	return out
}

func TestCommittedAddIsPublishedOnceAndDeleted(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	db := openDB(t, filepath.Join(t.TempDir(), "svc.db"))
	o := newOutbox(t, db, b)
	run(t, o)

	ev := event("e1")
	ev.Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	add(t, db, o, ev)
	poll.Until(t, wait, tick, drained(t, o, b, 0))

	msgs := stored(t, b)
	if len(msgs) != 1 {
		t.Fatalf("stream holds %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	for k, v := range map[string]string{
		"Nats-Msg-Id": "e1", "ce-id": "e1", "ce-specversion": "1.0", "ce-type": ev.Type,
		"ce-source": ev.Source, "ce-time": "2026-01-02T00:00:00Z", "content-type": "application/protobuf",
	} {
		if got := m.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if m.Subject != ev.Subject || string(m.Data) != string(ev.Data) {
		t.Errorf("message %s %q, want %s %q", m.Subject, m.Data, ev.Subject, ev.Data)
	}
}

func TestPublishesInCommitOrder(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	db := openDB(t, filepath.Join(t.TempDir(), "svc.db"))
	o := newOutbox(t, db, b)
	var want []string
	for i := range 300 { // more than one relay batch
		id := fmt.Sprintf("e%03d", i)
		want = append(want, id)
		add(t, db, o, event(id))
	}
	run(t, o)
	poll.Until(t, wait, tick, drained(t, o, b, 0))
	got := ids(stored(t, b))
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stream order:\n got %v\nwant %v", got, want)
	}
}

func TestRolledBackAddPublishesNothing(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	db := openDB(t, filepath.Join(t.TempDir(), "svc.db"))
	o := newOutbox(t, db, b)
	run(t, o)

	errBusiness := errors.New("business rule failed")
	err := db.Update(func(tx *bolt.Tx) error {
		if err := o.Add(tx, event("rolled-back")); err != nil {
			return err
		}
		return errBusiness
	})
	if !errors.Is(err, errBusiness) {
		t.Fatalf("update: %v", err)
	}
	// A later committed event proves the relay ran past the point the first would be.
	add(t, db, o, event("marker"))
	poll.Until(t, wait, tick, drained(t, o, b, 1))
	if got := ids(stored(t, b)); fmt.Sprint(got) != "[marker]" {
		t.Fatalf("stream holds %v, want only the marker", got)
	}
}

// Batch may run a function twice: when one caller of a batch fails, bbolt rolls the shared
// transaction back and runs the others again. Their events must be published once each, and
// the failing caller's not at all.
func TestBatchRetriesPublishOnce(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	db := openDB(t, filepath.Join(t.TempDir(), "svc.db"))
	o := newOutbox(t, db, b)
	run(t, o)

	const n = 40
	var calls atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := db.Batch(func(tx *bolt.Tx) error {
				calls.Add(1)
				if err := o.Add(tx, event(fmt.Sprintf("b%02d", i))); err != nil {
					return err
				}
				if i%10 == 0 {
					return errors.New("refused")
				}
				return nil
			})
			if (err != nil) != (i%10 == 0) {
				t.Errorf("batch %d: err = %v", i, err)
			}
		}()
	}
	wg.Wait()
	poll.Until(t, wait, tick, drained(t, o, b, n-n/10))
	got := ids(stored(t, b))
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	for i := range n {
		id := fmt.Sprintf("b%02d", i)
		want := 1
		if i%10 == 0 {
			want = 0
		}
		if seen[id] != want {
			t.Errorf("event %s published %d times, want %d", id, seen[id], want)
		}
	}
	t.Logf("%d batch function calls for %d callers", calls.Load(), n)
}

func TestCrashBetweenCommitAndPublish(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	path := filepath.Join(t.TempDir(), "svc.db")

	db, err := store.Open(path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	o := newOutbox(t, db, b)
	add(t, db, o, event("survivor")) // committed; no relay running
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	db = openDB(t, path)
	o = newOutbox(t, db, b)
	if n := pending(t, o); n != 1 {
		t.Fatalf("pending after reopen = %d, want 1", n)
	}
	run(t, o)
	poll.Until(t, wait, tick, drained(t, o, b, 0))
	if got := ids(stored(t, b)); fmt.Sprint(got) != "[survivor]" {
		t.Fatalf("stream holds %v, want [survivor]", got)
	}
}

func TestCrashAfterPublishBeforeDelete(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	db := openDB(t, filepath.Join(t.TempDir(), "svc.db"))
	o := newOutbox(t, db, b)

	ev := event("twice")
	ev.Time = time.Now()
	// The relay published it, then the process died before deleting the record.
	if err := b.Publish(context.Background(), ev); err != nil {
		t.Fatalf("publish: %v", err)
	}
	add(t, db, o, ev)

	run(t, o)
	poll.Until(t, wait, tick, drained(t, o, b, 0))
	if got := ids(stored(t, b)); fmt.Sprint(got) != "[twice]" {
		t.Fatalf("stream holds %v, want one copy", got)
	}
}

// countingPublisher counts publish attempts to the real bus.
type countingPublisher struct {
	bus      *bus.Bus
	attempts atomic.Int64
	failures atomic.Int64
}

func (c *countingPublisher) Publish(ctx context.Context, ev bus.Event) error {
	c.attempts.Add(1)
	err := c.bus.Publish(ctx, ev)
	if err != nil {
		c.failures.Add(1)
	}
	return err
}

// countingBatchPublisher adds the pipelined path the relay prefers.
type countingBatchPublisher struct{ countingPublisher }

func (c *countingBatchPublisher) PublishBatch(ctx context.Context, evs []bus.Event) (int, error) {
	c.attempts.Add(1)
	n, err := c.bus.PublishBatch(ctx, evs)
	if err != nil {
		c.failures.Add(1)
	}
	return n, err
}

func TestNATSDownKeepsRecordUntilBack(t *testing.T) {
	for _, batch := range []bool{false, true} {
		t.Run(fmt.Sprintf("batch=%v", batch), func(t *testing.T) { testNATSDown(t, batch) })
	}
}

func testNATSDown(t *testing.T, batch bool) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	var pub outbox.Publisher
	var counts *countingPublisher
	if batch {
		bp := &countingBatchPublisher{countingPublisher{bus: b}}
		pub, counts = bp, &bp.countingPublisher
	} else {
		counts = &countingPublisher{bus: b}
		pub = counts
	}
	db := openDB(t, filepath.Join(t.TempDir(), "svc.db"))
	o := newOutbox(t, db, pub)
	run(t, o)

	dir, port := natstest.StoreDir(t, s), natstest.Port(t, s)
	natstest.Stop(s)
	poll.Until(t, wait, tick, func() error {
		if b.Conn().IsConnected() {
			return errors.New("the client has not seen the outage")
		}
		return nil
	})

	add(t, db, o, event("during-outage"))
	poll.Until(t, wait, tick, func() error {
		if n := counts.failures.Load(); n < 2 {
			return fmt.Errorf("%d failed publish attempts, want at least 2", n)
		}
		return nil
	})
	if n := pending(t, o); n != 1 {
		t.Fatalf("pending during outage = %d, want 1", n)
	}

	natstest.StartAt(t, dir, port)
	poll.Until(t, wait, tick, drained(t, o, b, 0))
	if got := ids(stored(t, b)); fmt.Sprint(got) != "[during-outage]" {
		t.Fatalf("stream holds %v, want [during-outage]", got)
	}
}

func TestAddValidates(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "svc.db"))
	nc := &countingPublisher{}
	o := newOutbox(t, db, nc)
	ev := event("x")
	ev.Type = ""
	err := db.Update(func(tx *bolt.Tx) error { return o.Add(tx, ev) })
	if !errors.Is(err, bus.ErrInvalidEvent) {
		t.Fatalf("add invalid event: %v, want ErrInvalidEvent", err)
	}
	if n := pending(t, o); n != 0 {
		t.Fatalf("pending = %d after a rejected add", n)
	}
}

func TestSecondRunRefused(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "svc.db"))
	o := newOutbox(t, db, &countingPublisher{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	results := make(chan error, 2)
	for range 2 {
		go func() { results <- o.Run(ctx) }()
	}
	// Whichever started second is refused at once; the other runs until cancelled.
	if err := <-results; !errors.Is(err, outbox.ErrRunning) {
		t.Fatalf("first Run to return: %v, want ErrRunning", err)
	}
	cancel()
	if err := <-results; !errors.Is(err, context.Canceled) {
		t.Fatalf("running relay returned %v, want context.Canceled", err)
	}
}
