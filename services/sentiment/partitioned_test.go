package sentiment_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/partition"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/sentiment"
)

const testPartitions = 4

// copyDeployment gives a second replica the deployment's secret and tokens in a data dir of
// its own.
func copyDeployment(t testing.TB, from string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []func(string) string{host.DefaultSecretFile, host.DefaultTokensFile} {
		b, err := os.ReadFile(f(from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(f(dir)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f(dir), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func startReplica(t testing.TB, env *servicetest.Env, name, dir string) *sentiment.Service {
	return startReplicaTTL(t, env, name, dir, 2*time.Second)
}

// startReplicaTTL is startReplica with a lease TTL of its own.
func startReplicaTTL(t testing.TB, env *servicetest.Env, name, dir string, ttl time.Duration) *sentiment.Service {
	t.Helper()
	svc, err := sentiment.Start(context.Background(), sentiment.Config{
		Listen: "127.0.0.1:0", DataDir: dir, NATS: env.NATSConfig(),
		Now: func() time.Time { return now }, PublishInterval: time.Hour,
		Partitions: testPartitions, Replica: name, LeaseTTL: ttl,
	})
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// appliedBy sums the events the owner log of svc says it applied.
func appliedBy(t testing.TB, svc *sentiment.Service) uint64 {
	t.Helper()
	terms, err := svc.OwnerLog()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, tm := range terms {
		n += tm.Applied
	}
	return n
}

func TestPartitionedReplicasTakeOverAndApplyEachEventOnce(t *testing.T) {
	env := servicetest.New(t)
	f := producer(t, env)

	// r2 first, alone, then r1 joins and takes half: r2 keeps two partitions from the start.
	dir2 := copyDeployment(t, env.DataDir)
	r2 := startReplica(t, env, "r2", dir2)
	waitFor(t, "r2 owns every partition", func() bool { return len(r2.Owned()) == testPartitions })
	r1 := startReplica(t, env, "r1", env.DataDir)
	waitFor(t, "r1 and r2 share the partitions", func() bool {
		return len(r1.Owned()) == testPartitions/2 && len(r2.Owned()) == testPartitions/2
	})

	orgs := []string{"acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka"}
	people := 0
	publishRound := func() {
		for _, org := range orgs {
			for range 6 { // more than k people per organisation
				people++
				f.comment(t, fmt.Sprintf("person-%d", people), org+"/eng", "the new process is great and I love it")
			}
		}
	}
	publishRound()
	waitFor(t, "the owners applied the first round", func() bool { return appliedBy(t, r1)+appliedBy(t, r2) == uint64(people) })

	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	publishRound()
	waitFor(t, "r2 took every partition over and applied every event", func() bool {
		return len(r2.Owned()) == testPartitions && appliedBy(t, r2) >= uint64(people)
	})
	if err := r2.Flush(); err != nil {
		t.Fatal(err)
	}
	// r2 releases every organisation, those it took over mid-week too: r1 released nothing
	// (its log says so: partitioned_log.go), so their windows are r2's to go on with.
	released := func(org string) int {
		return len(env.PublishedIDs(t, events.Sentiment.Name, events.SentimentUpdated.Prefix+"."+org))
	}
	waitFor(t, "r2 released every organisation, kept or taken over", func() bool {
		for _, org := range orgs {
			if released(org) == 0 {
				return false
			}
		}
		return true
	})
	r2log, err := r2.OwnerLog()
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Close(); err != nil {
		t.Fatal(err)
	}
	var all []partition.Term
	all = append(all, r2log...)
	all = append(all, readLog(t, env.DataDir)...)
	for _, o := range partition.Overlaps(all) {
		t.Errorf("partition %d held by two replicas at once: %+v and %+v", o[0].Partition, o[0], o[1])
	}
	if got := countApplied(t, dir2); got != people || appliedBy0(r2log) != uint64(people) {
		t.Errorf("r2 holds %d applied ids after %d applications, published %d", got, appliedBy0(r2log), people)
	}
	// r1's store holds only the organisations r1 owned: unpartitioned, it is refused.
	if svc, err := sentiment.Start(context.Background(), sentiment.Config{Listen: "127.0.0.1:0", DataDir: env.DataDir,
		NATS: env.NATSConfig(), Now: func() time.Time { return now }}); err == nil {
		svc.Close()
		t.Error("an unpartitioned service started on a partitioned replica's store")
	}
}

func appliedBy0(terms []partition.Term) uint64 {
	var n uint64
	for _, tm := range terms {
		n += tm.Applied
	}
	return n
}

func openStore(t *testing.T, dir string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "sentiment", "sentiment.db"), 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// readLog reads the owner log of a stopped replica's store.
func readLog(t *testing.T, dir string) []partition.Term {
	t.Helper()
	terms, err := partition.ReadLog(openStore(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	return terms
}

// countApplied counts the comment ids a stopped replica's store recorded as applied.
func countApplied(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := openStore(t, dir).View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(consumer.ProcessedBucketName))
		if b == nil {
			return nil
		}
		if d := b.Bucket([]byte(events.DurableSentimentFeedback)); d != nil {
			n = d.Stats().KeyN
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPartitionedReplicaPrunesAppliedIDs: a partitioned replica drops the applied ids older
// than the durable consumers' horizon (consumer.Horizon: keepApplied, or twice the stream's
// duplicate window plus a day), keeps the younger ones, and a copy of an event it applied,
// republished outside JetStream's deduplication, is still applied once.
func TestPartitionedReplicaPrunesAppliedIDs(t *testing.T) {
	env := servicetest.New(t)
	f := producer(t, env)
	const org, seg = "acme", "acme/eng"
	src, p := events.DurableSentimentFeedback, partition.Of(org, testPartitions)

	r1 := startReplica(t, env, "r1", env.DataDir)
	waitFor(t, "r1 owns every partition", func() bool { return len(r1.Owned()) == testPartitions })
	f.comment(t, "person-1", seg, "the new process is great and I love it")
	waitFor(t, "r1 applied the comment", func() bool { return appliedBy(t, r1) == 1 })
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}

	// Ids applied long ago, dated as consumer records them (the UTC day, Unix seconds,
	// big-endian): one beyond the horizon by two days, one within it by two days.
	st, err := f.js.Stream(context.Background(), events.Feedback.Name)
	if err != nil {
		t.Fatal(err)
	}
	horizon := consumer.Horizon(sentiment.KeepApplied, st.CachedInfo().Config.Duplicates)
	seeded := map[string]time.Time{
		"old":    time.Now().Add(-horizon - 48*time.Hour),
		"recent": time.Now().Add(-horizon + 48*time.Hour),
	}
	db, err := bolt.Open(filepath.Join(env.DataDir, "sentiment", "sentiment.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(consumer.ProcessedBucketName)).Bucket([]byte(src))
		for id, at := range seeded {
			day := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)
			if err := b.Put([]byte(id), binary.BigEndian.AppendUint64(nil, uint64(day.Unix()))); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	// The comment again, under another Nats-Msg-Id: JetStream stores it a second time.
	last := f.lastOn(t, events.FeedbackSubmitted, seg)
	msg := nats.NewMsg(last.Subject)
	msg.Data, msg.Header = last.Data, last.Header
	msg.Header.Set("Nats-Msg-Id", last.Header.Get("Nats-Msg-Id")+"-again")
	ack, err := f.js.PublishMsg(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}

	r1 = startReplica(t, env, "r1", env.DataDir)
	view := func(fn func(tx *bolt.Tx) error) {
		if err := r1.ViewStore(fn); err != nil {
			t.Fatal(err)
		}
	}
	applied := func(id string) (ok bool) {
		view(func(tx *bolt.Tx) error { ok = consumer.Applied(tx, src, id); return nil })
		return ok
	}
	waitFor(t, "r1 read the republished copy", func() (ok bool) {
		view(func(tx *bolt.Tx) error { ok = partition.Checkpoint(tx, src, p) >= ack.Sequence; return nil })
		return ok
	})
	waitFor(t, "r1 pruned the id older than the horizon", func() bool { return !applied("old") })
	if !applied("recent") {
		t.Errorf("the id applied %v ago, within the horizon of %v, was pruned", time.Since(seeded["recent"]).Round(time.Hour), horizon)
	}
	if !applied(last.Header.Get("ce-id")) {
		t.Error("the comment's id, applied today, was pruned")
	}
	if n := appliedBy(t, r1); n != 1 {
		t.Errorf("the owner log counts %d applications of one comment published twice, want 1", n)
	}
}
