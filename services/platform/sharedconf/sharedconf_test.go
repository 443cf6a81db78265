package sharedconf_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/sharedconf"
)

const bucket = "voix_config_test"

var things = []byte("things")

// replica is one store with its handle on the bucket, as a service would hold them.
type replica struct {
	db     *bolt.DB
	shared *sharedconf.Shared
	stop   func()
}

func connect(t *testing.T, srv *server.Server) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func openDB(t *testing.T, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(things)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return db
}

// start opens the store at path and the shared configuration on it; each value is a thing
// under its key.
func start(t *testing.T, js jetstream.JetStream, path string, catchUp time.Duration) *replica {
	t.Helper()
	db := openDB(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	sh, err := sharedconf.Start(sharedconf.Config{
		JS: js, Bucket: bucket, DB: db, Service: "test", What: "the test things", CatchUp: catchUp, Timeout: time.Second,
		Apply: func(tx *bolt.Tx, key string, val []byte, rev uint64) error {
			if val == nil {
				return tx.Bucket(things).Delete([]byte(key))
			}
			return tx.Bucket(things).Put([]byte(key), val)
		},
		Seed: func(tx *bolt.Tx) ([]sharedconf.Entry, error) {
			var out []sharedconf.Entry
			err := tx.Bucket(things).ForEach(func(k, v []byte) error {
				out = append(out, sharedconf.Entry{Key: string(k), Value: append([]byte(nil), v...)})
				return nil
			})
			return out, err
		},
	}, func(f func(context.Context)) {
		wg.Go(func() { f(ctx) })
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{db: db, shared: sh}
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			db.Close()
		})
	}
	t.Cleanup(r.stop)
	return r
}

func (r *replica) get(t *testing.T, key string) string {
	t.Helper()
	var v string
	if err := r.db.View(func(tx *bolt.Tx) error {
		v = string(tx.Bucket(things).Get([]byte(key)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

func set(val string) func([]byte) (*sharedconf.Change, error) {
	return func([]byte) (*sharedconf.Change, error) { return &sharedconf.Change{Value: []byte(val)}, nil }
}

func del([]byte) (*sharedconf.Change, error) { return &sharedconf.Change{Delete: true}, nil }

// revision is the bucket's latest revision of key, deletions included.
func revision(t *testing.T, js jetstream.JetStream, key string) uint64 {
	t.Helper()
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.Watch(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var rev uint64
	for e := range w.Updates() {
		if e == nil {
			break
		}
		rev = e.Revision()
	}
	return rev
}

func waitApplied(t *testing.T, r *replica, rev uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.shared.WaitApplied(ctx, rev); err != nil {
		t.Fatal(err)
	}
}

func TestAChangeOnOneReplicaReachesTheOther(t *testing.T) {
	srv := natstest.Start(t)
	a := start(t, connect(t, srv), filepath.Join(t.TempDir(), "a.db"), 0)
	b := start(t, connect(t, srv), filepath.Join(t.TempDir(), "b.db"), 0)

	// Fetch on miss: b asks the bucket before its watch may have delivered the value.
	if _, err := a.shared.Edit("thing.1", set("one"), nil); err != nil {
		t.Fatal(err)
	}
	if found, err := b.shared.Fetch("thing.1"); err != nil || !found {
		t.Fatalf("Fetch on b: found %v, %v", found, err)
	}
	if got := b.get(t, "thing.1"); got != "one" {
		t.Fatalf("b holds %q after Fetch, want the value written on a", got)
	}
	// By the watch: an edit and a deletion.
	if _, err := b.shared.Edit("thing.1", set("uno"), nil); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, a, revision(t, connect(t, srv), "thing.1"))
	if got := a.get(t, "thing.1"); got != "uno" {
		t.Fatalf("a holds %q, want the edit made on b", got)
	}
	if wrote, err := a.shared.Edit("thing.1", del, nil); err != nil || !wrote {
		t.Fatalf("delete on a: wrote %v, %v", wrote, err)
	}
	waitApplied(t, b, revision(t, connect(t, srv), "thing.1"))
	if got := b.get(t, "thing.1"); got != "" {
		t.Fatalf("b still holds %q after the deletion on a", got)
	}
	if found, err := b.shared.Fetch("thing.1"); err != nil || found {
		t.Fatalf("Fetch of a deleted key: found %v, %v", found, err)
	}
}

func TestAReplicaDownDuringAChangeHasItWhenStartReturns(t *testing.T) {
	srv := natstest.Start(t)
	js := connect(t, srv)
	pathA := filepath.Join(t.TempDir(), "a.db")
	a := start(t, js, pathA, 0)
	b := start(t, js, filepath.Join(t.TempDir(), "b.db"), 0)
	for _, k := range []string{"thing.1", "thing.2"} {
		if _, err := a.shared.Edit(k, set("v1"), nil); err != nil {
			t.Fatal(err)
		}
	}
	a.stop()
	if _, err := b.shared.Edit("thing.1", del, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.shared.Edit("thing.2", set("v2"), nil); err != nil {
		t.Fatal(err)
	}
	a = start(t, js, pathA, 10*time.Second)
	if err := a.shared.Ready(); err != nil {
		t.Fatalf("Ready after Start: %v", err)
	}
	if got1, got2 := a.get(t, "thing.1"), a.get(t, "thing.2"); got1 != "" || got2 != "v2" {
		t.Fatalf("restarted a holds thing.1=%q thing.2=%q; want the deletion and the edit made while it was down", got1, got2)
	}
}

func TestNATSDownChangesNothing(t *testing.T) {
	srv := natstest.Start(t)
	a := start(t, connect(t, srv), filepath.Join(t.TempDir(), "a.db"), 0)
	if _, err := a.shared.Edit("thing.1", set("one"), nil); err != nil {
		t.Fatal(err)
	}
	natstest.Stop(srv)
	for name, change := range map[string]func([]byte) (*sharedconf.Change, error){"edit": set("two"), "delete": del} {
		_, err := a.shared.Edit("thing.1", change, nil)
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), bucket) {
			t.Fatalf("%s with NATS down: %v; want Unavailable naming %s", name, err, bucket)
		}
		if got := a.get(t, "thing.1"); got != "one" {
			t.Fatalf("%s with NATS down: the store holds %q, want it unchanged", name, got)
		}
	}
	if _, err := a.shared.Edit("thing.2", set("new"), nil); status.Code(err) != codes.Unavailable {
		t.Fatalf("create with NATS down: %v; want Unavailable", err)
	}
	if got := a.get(t, "thing.2"); got != "" {
		t.Fatalf("create with NATS down stored %q", got)
	}
}

func TestNotCaughtUpIsUnavailable(t *testing.T) {
	srv := natstest.Start(t)
	js := connect(t, srv)
	natstest.Stop(srv)
	a := start(t, js, filepath.Join(t.TempDir(), "a.db"), time.Millisecond)
	err := a.shared.Ready()
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), bucket) {
		t.Fatalf("Ready before the catch-up: %v; want Unavailable naming %s", err, bucket)
	}
}

// TestSeedCopiesLocalRecordsOnce: the records of a store that ran alone go to the bucket at
// its first start as a replica, except a key another replica put there first.
func TestSeedCopiesLocalRecordsOnce(t *testing.T) {
	srv := natstest.Start(t)
	js := connect(t, srv)
	b := start(t, js, filepath.Join(t.TempDir(), "b.db"), 0)
	if _, err := b.shared.Edit("thing.2", set("from b"), nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "alone.db")
	db := openDB(t, path)
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(things).Put([]byte("thing.1"), []byte("alone")); err != nil {
			return err
		}
		return tx.Bucket(things).Put([]byte("thing.2"), []byte("alone"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	a := start(t, js, path, 10*time.Second)
	waitApplied(t, b, revision(t, js, "thing.1"))
	if got := b.get(t, "thing.1"); got != "alone" {
		t.Fatalf("b holds %q, want the record a kept from before", got)
	}
	if got := a.get(t, "thing.2"); got != "from b" {
		t.Fatalf("a holds %q for a key b shared first, want b's", got)
	}
}

// TestConcurrentEditsAllLand: edits racing on one key from two replicas are all kept
// (compare and swap: the loser reads again).
func TestConcurrentEditsAllLand(t *testing.T) {
	srv := natstest.Start(t)
	js := connect(t, srv)
	a := start(t, js, filepath.Join(t.TempDir(), "a.db"), 0)
	b := start(t, js, filepath.Join(t.TempDir(), "b.db"), 0)
	const each = 3
	incr := func(cur []byte) (*sharedconf.Change, error) {
		n, _ := strconv.Atoi(string(cur))
		return &sharedconf.Change{Value: []byte(strconv.Itoa(n + 1))}, nil
	}
	errs := make(chan error, 2*each)
	var wg sync.WaitGroup
	for _, r := range []*replica{a, b} {
		wg.Go(func() {
			for range each {
				_, err := r.shared.Edit("counter", incr, nil)
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rev := revision(t, js, "counter")
	for _, r := range []*replica{a, b} {
		waitApplied(t, r, rev)
		if got := r.get(t, "counter"); got != strconv.Itoa(2*each) {
			t.Fatalf("counter = %s, want %d", got, 2*each)
		}
	}
}

// TestAlsoRunsOnceWithTheWriter: the writer's own effect runs with its write even when the
// watch applied the value first, and never for a watch delivery.
func TestAlsoRunsOnceWithTheWriter(t *testing.T) {
	srv := natstest.Start(t)
	js := connect(t, srv)
	a := start(t, js, filepath.Join(t.TempDir(), "a.db"), 0)
	b := start(t, js, filepath.Join(t.TempDir(), "b.db"), 0)
	also := func(r *replica) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			bk := tx.Bucket(things)
			n, _ := strconv.Atoi(string(bk.Get([]byte("effects"))))
			return bk.Put([]byte("effects"), []byte(strconv.Itoa(n+1)))
		}
	}
	for i := range 3 {
		if _, err := a.shared.Edit("thing.1", set(strconv.Itoa(i)), also(a)); err != nil {
			t.Fatal(err)
		}
	}
	waitApplied(t, b, revision(t, js, "thing.1"))
	if got := a.get(t, "effects"); got != "3" {
		t.Fatalf("the writer's effects ran %s times, want 3", got)
	}
	if got := b.get(t, "effects"); got != "" {
		t.Fatalf("the other replica ran the writer's effects %s times", got)
	}
	if got := b.get(t, "thing.1"); got != "2" {
		t.Fatalf("b holds %q, want the last edit", got)
	}
}
