package partition_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/partition"
	"github.com/voix-dev/voix/services/platform/store"
)

const (
	parts = 4
	ttl   = 2 * time.Second
)

var appliedBucket = []byte("test_applied")

var source = partition.Source{Name: "test-feedback", Stream: events.Feedback.Name, Subject: events.FeedbackSubmitted.All()}

// replica is one member of the group with its own store and connection.
type replica struct {
	name  string
	db    *bolt.DB
	bus   *bus.Bus
	group *partition.Group
	gate  *gate
}

// gate holds the handler, when closed, until opened: a replica stuck in the middle of a
// transaction.
type gate struct {
	mu      sync.Mutex
	shut    bool
	entered chan struct{}
	open    chan struct{}
}

func (g *gate) wait() {
	g.mu.Lock()
	shut := g.shut
	g.mu.Unlock()
	if shut {
		select {
		case g.entered <- struct{}{}:
		default:
		}
		<-g.open
	}
}

func startReplica(t *testing.T, s *server.Server, name string) *replica {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), name+".db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := &replica{name: name, db: db, bus: natstest.Connect(t, s), gate: &gate{entered: make(chan struct{}, 1), open: make(chan struct{})}}
	g, err := partition.Start(context.Background(), partition.Config{
		JS: r.bus.JetStream(), Group: "test", Replica: name, Partitions: parts, LeaseTTL: ttl, DB: db,
		Sources: []partition.Source{source}, Batch: 16, Log: slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("replica", name),
		Handle: func(tx *bolt.Tx, ev bus.Event) error {
			r.gate.wait()
			b, err := tx.CreateBucketIfNotExists(appliedBucket)
			if err != nil {
				return err
			}
			var n uint32
			if v := b.Get([]byte(ev.ID)); v != nil {
				n = binary.BigEndian.Uint32(v)
			}
			return b.Put([]byte(ev.ID), binary.BigEndian.AppendUint32(nil, n+1))
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.group = g
	t.Cleanup(g.Stop)
	return r
}

// kill cuts the replica off as a crash would: no release, its leases expire.
func (r *replica) kill() {
	r.bus.Close()
	r.group.Stop()
}

// applied is how many times each event id was applied in the replica's store.
func (r *replica) applied(t *testing.T) map[string]uint32 {
	t.Helper()
	out := map[string]uint32{}
	err := r.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(appliedBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out[string(k)] = binary.BigEndian.Uint32(v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (r *replica) log(t *testing.T) []partition.Term {
	t.Helper()
	terms, err := partition.ReadLog(r.db)
	if err != nil {
		t.Fatal(err)
	}
	return terms
}

type published struct {
	ids map[string]int // id -> partition
}

func publish(t *testing.T, b *bus.Bus, from, to int, p *published) {
	t.Helper()
	ctx := context.Background()
	for i := from; i < to; i++ {
		org := fmt.Sprintf("org%d", i%12)
		ev := bus.Event{ID: fmt.Sprintf("feedback.submitted/%s-%d", org, i), Type: events.FeedbackSubmitted.Type,
			Source: events.FeedbackSubmitted.Source, Subject: events.FeedbackSubmitted.Prefix + "." + org + ".eng", Data: []byte{1}}
		if err := b.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
		p.ids[ev.ID] = partition.Of(org, parts)
	}
}

// eventually polls cond until it holds, failing after a generous deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// holdsAll reports whether store r has applied every published event of partitions ps.
func holdsAll(t *testing.T, r *replica, p *published, ps []int) bool {
	got := r.applied(t)
	for id, part := range p.ids {
		for _, want := range ps {
			if part == want && got[id] == 0 {
				return false
			}
		}
	}
	return true
}

func ownedTotal(rs ...*replica) int {
	n := 0
	for _, r := range rs {
		n += len(r.group.Owned())
	}
	return n
}

// checkOnce fails if any store applied an event twice or an event of a partition it never
// owned, and if two replicas held a partition at the same time.
func checkOnce(t *testing.T, rs ...*replica) {
	t.Helper()
	var all []partition.Term
	for _, r := range rs {
		terms := r.log(t)
		all = append(all, terms...)
		owned := map[int]bool{}
		for _, tm := range terms {
			owned[tm.Partition] = true
		}
		for id, n := range r.applied(t) {
			org := strings.SplitN(strings.TrimPrefix(id, "feedback.submitted/"), "-", 2)[0]
			if n != 1 {
				t.Errorf("%s applied %s %d times", r.name, id, n)
			}
			if !owned[partition.Of(org, parts)] {
				t.Errorf("%s applied %s of partition %d, which its owner log never shows it holding", r.name, id, partition.Of(org, parts))
			}
		}
	}
	for _, o := range partition.Overlaps(all) {
		t.Errorf("partition %d held by two replicas at once: %+v and %+v", o[0].Partition, o[0], o[1])
	}
}

func TestDeadReplicasPartitionsAreTakenOverAndAppliedOnce(t *testing.T) {
	s := natstest.Start(t)
	pub := natstest.Connect(t, s)
	a := startReplica(t, s, "a")
	b := startReplica(t, s, "b")
	eventually(t, "both replicas share the partitions", func() bool {
		return len(a.group.Owned()) == parts/2 && len(b.group.Owned()) == parts/2
	})
	p := &published{ids: map[string]int{}}
	publish(t, pub, 0, 240, p)
	aOwned, bOwned := a.group.Owned(), b.group.Owned()
	eventually(t, "each owner applied its partitions", func() bool {
		return holdsAll(t, a, p, aOwned) && holdsAll(t, b, p, bOwned)
	})

	a.kill()
	publish(t, pub, 240, 480, p)
	eventually(t, "b took over every partition and applied every event", func() bool {
		return len(b.group.Owned()) == parts && holdsAll(t, b, p, []int{0, 1, 2, 3})
	})
	if got := len(b.applied(t)); got != len(p.ids) {
		t.Errorf("b applied %d events, published %d", got, len(p.ids))
	}
	checkOnce(t, a, b)
	// The partitions a held were applied by a, then by b after a's last commit.
	for _, tm := range b.log(t) {
		for _, old := range a.log(t) {
			if old.Partition == tm.Partition && !old.End.Before(tm.Start) {
				t.Errorf("b started partition %d at %v, before a's last commit at %v", tm.Partition, tm.Start, old.End)
			}
		}
	}
	if len(a.log(t)) == 0 {
		t.Error("a applied nothing before it died: the test proves nothing")
	}
	// b did not hold a's partitions when their current windows began: they stay as a released.
	for _, p := range aOwned {
		if b.group.FrozenBefore(p).IsZero() || b.group.Releasable("", time.Time{}) && partition.Of("", parts) == p {
			t.Errorf("b took partition %d from a and may release its windows begun before", p)
		}
	}
}

func TestJoiningReplicaTakesItsShareWithoutOverlap(t *testing.T) {
	s := natstest.Start(t)
	pub := natstest.Connect(t, s)
	a := startReplica(t, s, "a")
	eventually(t, "a alone owns every partition", func() bool { return len(a.group.Owned()) == parts })
	p := &published{ids: map[string]int{}}
	publish(t, pub, 0, 200, p)
	eventually(t, "a applied everything", func() bool { return holdsAll(t, a, p, []int{0, 1, 2, 3}) })

	b := startReplica(t, s, "b")
	eventually(t, "a released half to b", func() bool {
		return len(a.group.Owned()) == parts/2 && len(b.group.Owned()) == parts/2
	})
	publish(t, pub, 200, 400, p)
	aOwned, bOwned := a.group.Owned(), b.group.Owned()
	for _, p := range aOwned {
		if !a.group.FrozenBefore(p).IsZero() {
			t.Errorf("a, the first owner of partition %d, inherited it from no one, yet froze it", p)
		}
	}
	for _, p := range bOwned {
		if b.group.FrozenBefore(p).IsZero() {
			t.Errorf("b took partition %d from a but may release the windows a began", p)
		}
	}
	eventually(t, "each owner holds all of its partitions", func() bool {
		return holdsAll(t, a, p, aOwned) && holdsAll(t, b, p, bOwned)
	})
	checkOnce(t, a, b)
}

func TestReplicaStuckPastItsLeaseCommitsNothing(t *testing.T) {
	s := natstest.Start(t)
	pub := natstest.Connect(t, s)
	a := startReplica(t, s, "a")
	eventually(t, "a owns every partition", func() bool { return len(a.group.Owned()) == parts })
	a.gate.mu.Lock()
	a.gate.shut = true
	a.gate.mu.Unlock()
	p := &published{ids: map[string]int{}}
	publish(t, pub, 0, 100, p)
	<-a.gate.entered // a is in the middle of a transaction

	// a is cut off from NATS while stuck: it cannot renew; b takes its partitions.
	a.bus.Close()
	b := startReplica(t, s, "b")
	eventually(t, "b took over and applied everything", func() bool {
		return len(b.group.Owned()) == parts && holdsAll(t, b, p, []int{0, 1, 2, 3})
	})
	close(a.gate.open) // a wakes up and tries to commit
	a.group.Stop()
	if got := a.applied(t); len(got) != 0 {
		t.Errorf("a committed %d events after its lease passed to b", len(got))
	}
	checkOnce(t, a, b)
}

// Of must agree with nats-server's own {{partition(n, …)}} transform, so that a stream
// partitioned by the server (and static partitioned consumer groups) give the same owners.
func TestOfMatchesTheServersPartitionTransform(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	ctx := context.Background()
	const n = 7
	st, err := b.JetStream().CreateStream(ctx, jetstream.StreamConfig{Name: "PT", Subjects: []string{"pt.*"},
		SubjectTransform: &jetstream.SubjectTransformConfig{Source: "pt.*", Destination: "pt.{{partition(7,1)}}.{{wildcard(1)}}"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		org := fmt.Sprintf("org-%d", i)
		ack, err := b.JetStream().Publish(ctx, "pt."+org, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := st.GetMsg(ctx, ack.Sequence)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("pt.%d.%s", partition.Of(org, n), org); m.Subject != want {
			t.Errorf("server stored %s as %s, Of says %s", org, m.Subject, want)
		}
		if got := partition.Org(events.FeedbackSubmitted.Prefix + "." + org + ".eng.platform"); got != org {
			t.Errorf("Org of a subject of %s = %q", org, got)
		}
	}
}

func TestLookupFindsTheOwner(t *testing.T) {
	s := natstest.Start(t)
	a := startReplica(t, s, "a")
	eventually(t, "a owns every partition", func() bool { return len(a.group.Owned()) == parts })
	l, p, err := partition.Lookup(context.Background(), a.bus.JetStream(), "test", "org3")
	if err != nil {
		t.Fatal(err)
	}
	if l.Replica != "a" || p != partition.Of("org3", parts) {
		t.Errorf("Lookup(org3) = %+v, partition %d", l, p)
	}
}

type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// A store that applied events unpartitioned would apply again, from the streams, the events
// whose ids it pruned: it is refused, and a partitioned store says so to an unpartitioned
// service.
func TestStoreModesAreNotMixed(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	db, err := store.Open(filepath.Join(t.TempDir(), "used.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := consumer.UnsafeRecord(tx, source.Name, "feedback.submitted/old")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	cfg := partition.Config{JS: b.JetStream(), Group: "modes", Replica: "a", Partitions: parts, LeaseTTL: ttl, DB: db,
		Sources: []partition.Source{source}, Handle: func(*bolt.Tx, bus.Event) error { return nil }}
	if g, err := partition.Start(context.Background(), cfg); err == nil {
		g.Stop()
		t.Fatal("a store used unpartitioned was taken")
	}
	fresh, err := store.Open(filepath.Join(t.TempDir(), "fresh.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if n, err := partition.StoreCount(fresh); err != nil || n != 0 {
		t.Fatalf("StoreCount of a new store = %d, %v", n, err)
	}
	cfg.DB = fresh
	g, err := partition.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	g.Stop()
	if n, err := partition.StoreCount(fresh); err != nil || n != parts {
		t.Fatalf("StoreCount after a partitioned start = %d, %v; want %d", n, err, parts)
	}
	cfg.Partitions = parts + 1
	if g, err := partition.Start(context.Background(), cfg); err == nil {
		g.Stop()
		t.Fatal("a store built with another partition count was taken")
	}
}
