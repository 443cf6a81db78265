package partition_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/partition"
)

// testClock is a service clock the test moves by hand (weeks in seconds).
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logCount is the number of messages partition p's log holds.
func logCount(t *testing.T, js jetstream.JetStream, p int) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, partition.LogStreamName("test"))
	if err != nil {
		t.Fatal(err)
	}
	subj := partition.LogSubject("test", p)
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subj]
}

const week = 7 * 24 * time.Hour

// weeklyDecisions has a decide on partition p once a week for weeks weeks, each on new events,
// moving the clock a week after each, and prunes the log after each move if prune is set. It
// returns what a said, by the time it said it.
func weeklyDecisions(t *testing.T, a *logReplica, clk *testClock, p, weeks int, pub *published, prune func(w int)) map[time.Time]uint64 {
	t.Helper()
	said := map[time.Time]uint64{}
	for w := range weeks {
		publish(t, a.bus, 1000+w*12, 1000+w*12+12, pub)
		eventually(t, "a applied the week's events", func() bool { return holdsAll(t, a.replica, pub, []int{p}) })
		n, err := a.decide(p)
		if err != nil {
			t.Fatalf("a decides, week %d: %v", w, err)
		}
		said[clk.now()] = n
		clk.add(week)
		if prune != nil {
			prune(w)
		}
	}
	return said
}

// inheritedBy is what r replayed of partition p's log, checked: each record of a's, replayed
// on exactly the events a had applied when it made it.
func inheritedBy(t *testing.T, r *logReplica, p int) []inheritedRec {
	t.Helper()
	r.mu.Lock()
	got := append([]inheritedRec(nil), r.inherited[p]...)
	r.mu.Unlock()
	for i, rec := range got {
		if rec.from != "a" || rec.said != rec.had {
			t.Errorf("record %d replayed: from %s, made on %d events, replayed on %d; want a's, on the same events", i, rec.from, rec.said, rec.had)
		}
	}
	return got
}

// TestLogPrunedStaysBoundedAndATakeOverContinuesWhatIsKept: a decides on partition 3 once a
// week for 12 weeks, the log keeping 2: after each week's prune the log holds the records of
// the last two weeks and at most two checkpoints, not one more per week. A fresh replica that then takes
// the partition over replays exactly the records kept, each on the events they were made on,
// freezes the windows begun before the checkpoint's horizon (as a did), and goes on deciding
// on every event of the partition.
func TestLogPrunedStaysBoundedAndATakeOverContinuesWhatIsKept(t *testing.T) {
	s := natstest.Start(t)
	clk := &testClock{t: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}
	const keep = 2 * week
	withKeep := func(c *partition.Config) { c.Clock, c.LogKeep = clk.now, keep }
	a := startLogReplicaWith(t, s, "a", withKeep)
	const p = 3 // a gives the highest partitions back when b joins
	org := orgOf(p)
	eventually(t, "a owns every partition and is ready", func() bool {
		return len(a.group.Owned()) == parts && a.group.Releasable(org, clk.now())
	})
	pub := &published{ids: map[string]int{}}
	js := a.bus.JetStream()
	var horizon time.Time
	said := weeklyDecisions(t, a, clk, p, 12, pub, func(w int) {
		n, err := a.group.PruneLog(context.Background(), p)
		if err != nil {
			t.Fatalf("week %d: prune: %v", w, err)
		}
		if w >= 2 {
			horizon = clk.now().Add(-keep)
			if n == 0 {
				t.Errorf("week %d: the prune removed nothing", w)
			}
		}
		// The last two weeks' records (made at now - 2 weeks and now - 1 week), the checkpoint,
		// and the one before it (between those records: it goes with the next prune).
		if c := logCount(t, js, p); c > 4 {
			t.Errorf("week %d: partition %d's log holds %d messages; want at most 4 (two weeks of records and two checkpoints)", w, p, c)
		}
	})
	if got := a.group.FrozenBefore(p); !got.Equal(horizon) {
		t.Errorf("a, after pruning: windows frozen before %v; want before the last checkpoint's horizon %v", got, horizon)
	}
	publish(t, a.bus, 5000, 5012, pub) // after a's last decision: b applies them as new events

	b := startLogReplicaWith(t, s, "b", withKeep)
	eventually(t, "b owns partition 3 and is ready", func() bool { return b.group.Releasable(org, clk.now()) })
	eventually(t, "b applied every event of partition 3", func() bool { return holdsAll(t, b.replica, pub, []int{p}) })
	got := inheritedBy(t, b, p)
	var want []uint64
	for at, n := range said {
		if !at.Before(horizon) {
			want = append(want, n)
		}
	}
	if len(got) != len(want) || len(want) != 2 {
		t.Fatalf("b replayed %d records (%+v); want the %d a made since the horizon %v (%v)", len(got), got, len(want), horizon, want)
	}
	for _, r := range got {
		if r.said != want[0] && r.said != want[1] {
			t.Errorf("b replayed a record of %d events; the ones kept say %v", r.said, want)
		}
	}
	if fb := b.group.FrozenBefore(p); !fb.Equal(horizon) || b.group.Releasable(org, horizon.Add(-time.Hour)) || !b.group.Releasable(org, horizon) {
		t.Errorf("b: windows frozen before %v; want exactly those begun before the horizon %v", fb, horizon)
	}
	if n, err := b.decide(p); err != nil || n != uint64(len(pub.idsOf(p))) {
		t.Fatalf("b decides: %d, %v; want every event of partition %d (%d)", n, err, p, len(pub.idsOf(p)))
	}
}

// TestLogCheckpointBeforeItsPurgeReadsAsPurged: a prune that appended its checkpoint and had
// not purged yet when another replica took the partition over (the purge is a second step):
// the new owner ignores the records before the checkpoint's From, present or not, so it does
// what it would have done after the purge.
func TestLogCheckpointBeforeItsPurgeReadsAsPurged(t *testing.T) {
	s := natstest.Start(t)
	clk := &testClock{t: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}
	withKeep := func(c *partition.Config) { c.Clock, c.LogKeep = clk.now, 2*week }
	a := startLogReplicaWith(t, s, "a", withKeep)
	const p = 3
	org := orgOf(p)
	eventually(t, "a owns every partition and is ready", func() bool {
		return len(a.group.Owned()) == parts && a.group.Releasable(org, clk.now())
	})
	pub := &published{ids: map[string]int{}}
	said := weeklyDecisions(t, a, clk, p, 4, pub, nil)
	before := logCount(t, a.bus.JetStream(), p)

	// a's checkpoint, as PruneLog appends it (after a's last record), keeping the last record.
	recs := readSubjectSeqs(t, a.bus.JetStream(), p)
	last := recs[len(recs)-1]
	var lastSeq uint64
	if err := a.db.View(func(tx *bolt.Tx) error { lastSeq = partition.LogSeq(tx, p); return nil }); err != nil || lastSeq != last.seq {
		t.Fatalf("a's last record at %d, its store says %d (%v)", last.seq, lastSeq, err)
	}
	horizon := clk.now().Add(-2 * week)
	data, _ := json.Marshal(partition.Record{Replica: "a", Owner: 1, Time: clk.now(), Checkpoint: true, From: last.seq, Horizon: horizon})
	m := nats.NewMsg(partition.LogSubject("test", p))
	m.Data = data
	if _, err := a.bus.JetStream().PublishMsg(context.Background(), m, jetstream.WithExpectLastSequencePerSubject(last.seq)); err != nil {
		t.Fatal(err)
	}
	if c := logCount(t, a.bus.JetStream(), p); c != before+1 {
		t.Fatalf("the log holds %d messages; want the %d before and the checkpoint, none purged", c, before)
	}

	b := startLogReplicaWith(t, s, "b", withKeep)
	eventually(t, "b owns partition 3 and is ready", func() bool { return b.group.Releasable(org, clk.now()) })
	got := inheritedBy(t, b, p)
	if want := said[last.rec.Time]; len(got) != 1 || got[0].said != want {
		t.Errorf("b replayed %+v; want only the record from the checkpoint's From on (%d events)", got, want)
	}
	if fb := b.group.FrozenBefore(p); !fb.Equal(horizon) {
		t.Errorf("b: windows frozen before %v; want before the checkpoint's horizon %v", fb, horizon)
	}
}

type seqRecord struct {
	seq uint64
	rec partition.Record
}

// readSubjectSeqs reads every record of partition p's log with its sequence.
func readSubjectSeqs(t *testing.T, js jetstream.JetStream, p int) []seqRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, partition.LogStreamName("test"))
	if err != nil {
		t.Fatal(err)
	}
	subj := partition.LogSubject("test", p)
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []seqRecord
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil || m.Subject != subj {
			continue
		}
		var r partition.Record
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, seqRecord{seq, r})
	}
	return out
}
