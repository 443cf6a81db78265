package partition_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/partition"
	"github.com/voix-dev/voix/services/platform/store"
)

// logReplica is a member of a group that carries decisions across owners (Config.Inherit): a
// decision is "how many events of the partition I had applied", and an inherited one is
// checked against the store's own count when it is replayed.
type logReplica struct {
	*replica
	mu        sync.Mutex
	inherited map[int][]inheritedRec
}

type inheritedRec struct {
	from           string
	said, had, pos uint64
}

type decision struct {
	Applied uint64 `json:"applied"`
}

// appliedIn counts the events of partition p that the store applied.
func appliedIn(tx *bolt.Tx, p int) uint64 {
	var n uint64
	if b := tx.Bucket(appliedBucket); b != nil {
		_ = b.ForEach(func(k, _ []byte) error {
			org := strings.SplitN(strings.TrimPrefix(string(k), "feedback.submitted/"), "-", 2)[0]
			if partition.Of(org, parts) == p {
				n++
			}
			return nil
		})
	}
	return n
}

func startLogReplica(t *testing.T, s *server.Server, name string) *logReplica {
	t.Helper()
	return startLogReplicaWith(t, s, name, nil)
}

// startLogReplicaWith is startLogReplica with its configuration changed by set.
func startLogReplicaWith(t *testing.T, s *server.Server, name string, set func(*partition.Config)) *logReplica {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), name+".db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := &logReplica{replica: &replica{name: name, db: db, bus: natstest.Connect(t, s)}, inherited: map[int][]inheritedRec{}}
	cfg := partition.Config{
		JS: r.bus.JetStream(), Group: "test", Replica: name, Partitions: parts, LeaseTTL: ttl, DB: db,
		Sources: []partition.Source{source}, Batch: 16,
		Log: slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("replica", name),
		Handle: func(tx *bolt.Tx, ev bus.Event) error {
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
		Inherit: func(tx *bolt.Tx, p int, rec partition.Record) error {
			var d decision
			if err := json.Unmarshal(rec.Data, &d); err != nil {
				return err
			}
			r.mu.Lock()
			r.inherited[p] = append(r.inherited[p], inheritedRec{from: rec.Replica, said: d.Applied, had: appliedIn(tx, p), pos: rec.Positions[source.Name]})
			r.mu.Unlock()
			return nil
		},
	}
	if set != nil {
		set(&cfg)
	}
	g, err := partition.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.group = g
	t.Cleanup(g.Stop)
	return r
}

// decide records in p's log how many of p's events the store applied.
func (r *logReplica) decide(p int) (uint64, error) {
	var n uint64
	err := r.db.Update(func(tx *bolt.Tx) error {
		n = appliedIn(tx, p)
		data, _ := json.Marshal(decision{Applied: n})
		return r.group.Append(tx, p, data)
	})
	return n, err
}

func orgOf(p int) string {
	for i := range 12 {
		if org := fmt.Sprintf("org%d", i); partition.Of(org, parts) == p {
			return org
		}
	}
	panic("no test organisation in partition")
}

// TestLogCarriesTheDecisionsToTheNextOwnerAndFencesThePreviousOne: replica a decides three
// times on partition 3 while events arrive; b joins and takes partition 3 over while a lives
// on. b replays each of a's decisions on exactly the events a had applied when it made it,
// and after b's marker nothing of a's gets into the log: not through Append, not even a
// publish that expects a's last record, as a's next append would.
func TestLogCarriesTheDecisionsToTheNextOwnerAndFencesThePreviousOne(t *testing.T) {
	s := natstest.Start(t)
	a := startLogReplica(t, s, "a")
	const p = 3 // a gives the highest partitions back when b joins
	org := orgOf(p)
	eventually(t, "a owns every partition and is ready", func() bool {
		return len(a.group.Owned()) == parts && a.group.Releasable(org, time.Time{})
	})
	pub := &published{ids: map[string]int{}}
	var said []uint64
	for round := range 3 {
		publish(t, a.bus, round*20, round*20+20, pub)
		eventually(t, "a applied the round", func() bool { return holdsAll(t, a.replica, pub, []int{p}) })
		n, err := a.decide(p)
		if err != nil {
			t.Fatalf("a decides, round %d: %v", round, err)
		}
		said = append(said, n)
	}
	publish(t, a.bus, 60, 80, pub) // after a's last decision: b applies them as new events
	var last uint64
	if err := a.db.View(func(tx *bolt.Tx) error { last = partition.LogSeq(tx, p); return nil }); err != nil || last == 0 {
		t.Fatalf("a's store notes no record of partition %d: %v", p, err)
	}

	b := startLogReplica(t, s, "b")
	eventually(t, "b owns partition 3 and is ready", func() bool { return b.group.Releasable(org, time.Time{}) })
	eventually(t, "b applied every event of partition 3", func() bool { return holdsAll(t, b.replica, pub, []int{p}) })

	b.mu.Lock()
	got := append([]inheritedRec(nil), b.inherited[p]...)
	b.mu.Unlock()
	if len(got) != len(said) {
		t.Fatalf("b replayed %d decisions of partition %d; a made %d", len(got), p, len(said))
	}
	for i, r := range got {
		if r.from != "a" || r.said != said[i] || r.had != said[i] {
			t.Errorf("decision %d: from %s, a had applied %d events, b had applied %d when it replayed it (position %d); want a, %d and %d",
				i, r.from, r.said, r.had, r.pos, said[i], said[i])
		}
	}
	for q := range parts {
		if q != p && len(b.inherited[q]) != 0 {
			t.Errorf("partition %d: b replayed %d decisions a never made there", q, len(b.inherited[q]))
		}
	}

	// a, fenced.
	if _, err := a.decide(p); err == nil {
		t.Error("a appended to partition 3's log after b took it over")
	}
	m := nats.NewMsg(partition.LogSubject("test", p))
	m.Data = []byte(`{"replica":"a","owner":1,"data":{"applied":999}}`)
	_, err := a.bus.JetStream().PublishMsg(context.Background(), m, jetstream.WithExpectLastSequencePerSubject(last))
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
		t.Fatalf("a's next append, expecting its last record at %d: %v; want wrong last sequence", last, err)
	}
	if n, err := b.decide(p); err != nil || n != uint64(len(pub.idsOf(p))) {
		t.Fatalf("b decides: %d, %v; want every event of partition %d (%d)", n, err, p, len(pub.idsOf(p)))
	}
	// The log: a's marker and records, then b's marker and record.
	recs := readSubject(t, a.bus.JetStream(), partition.LogSubject("test", p))
	var who []string
	for _, r := range recs {
		w := r.Replica
		if r.Marker {
			w += "*"
		}
		who = append(who, w)
	}
	if strings.Join(who, " ") != "a* a a a b* b" {
		t.Errorf("partition %d's log: %v; want a's marker, its 3 records, b's marker, b's record", p, who)
	}
}

func (p *published) idsOf(part int) []string {
	var out []string
	for id, q := range p.ids {
		if q == part {
			out = append(out, id)
		}
	}
	return out
}

// readSubject reads every record of a log subject.
func readSubject(t *testing.T, js jetstream.JetStream, subj string) []partition.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, partition.LogStreamName("test"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		t.Fatal(err)
	}
	var out []partition.Record
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil || m.Subject != subj {
			continue
		}
		var r partition.Record
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestLogNotStartingWithTheFirstOwnerFreezesTheInheritedWindows: a partition that had owners
// before its log began (replicas upgraded mid-week) may have releases no record holds: its
// windows begun before the take-over stay frozen; a partition nobody held is not frozen.
func TestLogNotStartingWithTheFirstOwnerFreezesTheInheritedWindows(t *testing.T) {
	s := natstest.Start(t)
	ctx := context.Background()
	kv, err := natstest.Connect(t, s).JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: partition.EpochBucketName("test"), History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "p.1", []byte(`{"n":3,"replica":"before-the-log"}`)); err != nil {
		t.Fatal(err)
	}
	a := startLogReplica(t, s, "a")
	eventually(t, "a owns every partition and is ready", func() bool {
		return len(a.group.Owned()) == parts && a.group.Releasable(orgOf(0), time.Now().Add(time.Hour)) &&
			a.group.Releasable(orgOf(1), time.Now().Add(time.Hour))
	})
	if a.group.FrozenBefore(1).IsZero() || a.group.Releasable(orgOf(1), time.Now().Add(-time.Hour)) {
		t.Errorf("partition 1, held before its log began: frozen before %v; want its windows begun before the take-over frozen", a.group.FrozenBefore(1))
	}
	if !a.group.FrozenBefore(0).IsZero() || !a.group.Releasable(orgOf(0), time.Now().Add(-time.Hour)) {
		t.Errorf("partition 0, never held: frozen before %v; want nothing frozen", a.group.FrozenBefore(0))
	}
}
