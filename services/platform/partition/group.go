package partition

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
)

// Defaults for Config.
const (
	DefaultLeaseTTL = 10 * time.Second
	DefaultBatch    = 512
)

// retryDelay is the pause before a partition's reader starts again after a failure.
const retryDelay = time.Second

// Source is a kind of event the replicas apply: its stream, its filter subject and a name
// that scopes its checkpoints and applied ids in the store (the durable consumer name the
// service uses unpartitioned, so a republished copy is recognised in both modes).
type Source struct {
	Name, Stream, Subject string
	// Handle and Flush, if set, replace Config.Handle and Config.Flush for this source.
	Handle consumer.Handler
	Flush  func(tx *bolt.Tx) error
	// KeepApplied is how long the ids of the source's applied events are kept, as
	// consumer.Config.KeepApplied, with the same rule (consumer.Horizon): 0 forever, else at
	// least a day, and never less than twice the stream's duplicate window plus a day. The
	// replica prunes them at start and every consumer.PruneEvery.
	KeepApplied time.Duration
}

// Config configures a replica's membership of a group.
type Config struct {
	// JS reaches JetStream. Required.
	JS jetstream.JetStream
	// Group names the service, e.g. "sentiment": its leases are in the key-value bucket
	// "voix_partitions_<Group>". Required.
	Group string
	// Replica names this replica, unique in the group (e.g. the host name). Required.
	Replica string
	// Address is where this replica serves, given to readers that look an owner up.
	Address string
	// Partitions is the number of partitions, the same for every replica of the group (the
	// bucket records it and refuses another). At least 1.
	Partitions int
	// Replicas of the lease bucket: 3 on a three-node cluster. Default 1.
	Replicas int
	// LeaseTTL is how long a lease outlives its last renewal, so how long the partitions of a
	// dead replica wait before another takes them. Renewed every LeaseTTL/4. Default 10s.
	LeaseTTL time.Duration
	// DB is the replica's store: the handler's writes, the applied ids, the checkpoints and
	// the owner log. Required.
	DB *bolt.DB
	// Sources are the kinds of event applied. At least one.
	Sources []Source
	// Handle applies one event within tx (as consumer.Handler: an error wrapping
	// consumer.ErrPermanent skips the event, any other is retried). Required.
	Handle consumer.Handler
	// Flush, if set, runs before each commit that applied events (consumer.Config.Flush).
	Flush func(tx *bolt.Tx) error
	// Batch is the most events applied in one transaction. Default DefaultBatch.
	Batch int
	// OnGain and OnLoss, if set, are called when this replica gains or loses a partition
	// (OnLoss after its readers stopped).
	OnGain, OnLoss func(p int)
	// Log receives ownership changes and failures. Default: discarded.
	Log *slog.Logger
	// Clock is the service's clock, which dates its windows (a demo runs weeks in the past):
	// a gained partition's windows that began before its time are frozen (Releasable). The
	// leases and the fence use the real time whatever it says. Default time.Now.
	Clock func() time.Time
	// Inherit, if set, carries the service's decisions across owners through the partition
	// log (log.go) instead of freezing what a new owner inherits: on gaining a partition, this
	// replica appends its marker, then, for each record of the previous owners its store did
	// not commit, applies the partition's events up to the record's positions and calls
	// Inherit with it, in one transaction; an error refuses the record (the windows begun
	// before now are frozen, as without a log). The service records its own decisions with
	// Group.Append.
	Inherit func(tx *bolt.Tx, p int, rec Record) error
	// LogKeep, with Inherit, is how long (by Clock) a partition log's records are kept: the
	// owner of a partition prunes the records made longer ago behind a checkpoint (log.go,
	// Group.PruneLog) at start and every consumer.PruneEvery, and the windows begun before
	// the checkpoint's horizon are frozen for every owner after it. It must outlast what a
	// record is replayed on: the events of the windows it released (sentiment: the streams'
	// retention plus the longest window). 0 keeps every record.
	LogKeep time.Duration
}

func (c *Config) validate() error {
	switch {
	case c.JS == nil:
		return errors.New("partition: Config.JS is required")
	case c.Group == "" || c.Replica == "":
		return errors.New("partition: Config.Group and Config.Replica are required")
	case c.Partitions < 1:
		return fmt.Errorf("partition: Config.Partitions must be at least 1, not %d", c.Partitions)
	case c.DB == nil:
		return errors.New("partition: Config.DB is required")
	case len(c.Sources) == 0:
		return errors.New("partition: Config.Sources needs at least one source")
	}
	for i := range c.Sources {
		src := &c.Sources[i]
		if src.Handle == nil {
			src.Handle = c.Handle
		}
		if src.Flush == nil {
			src.Flush = c.Flush
		}
		if src.Name == "" || src.Stream == "" || src.Subject == "" || src.Handle == nil {
			return fmt.Errorf("partition: source %d needs a name, a stream, a subject and a handler (its own or Config.Handle)", i)
		}
		if src.KeepApplied < 0 || (src.KeepApplied > 0 && src.KeepApplied < 24*time.Hour) {
			return fmt.Errorf("partition: source %s: KeepApplied must be 0 (keep forever) or at least a day, not %v", src.Name, src.KeepApplied)
		}
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.LeaseTTL < 500*time.Millisecond {
		return fmt.Errorf("partition: Config.LeaseTTL must be at least 500ms, not %v", c.LeaseTTL)
	}
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	if c.Replicas < 1 {
		c.Replicas = 1
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return nil
}

// Lease is the value of a partition's key: who holds it and where it serves.
type Lease struct {
	Replica string `json:"replica"`
	Address string `json:"address,omitempty"`
}

// BucketName is the key-value bucket of group's leases.
func BucketName(group string) string { return "voix_partitions_" + group }

func leaseKey(p int) string             { return "p." + strconv.Itoa(p) }
func presenceKey(replica string) string { return "r." + replica }
func description(n int) string          { return "voix partition leases; partitions=" + strconv.Itoa(n) }

// held is a lease this replica holds: its revision, the local deadline before which the
// server cannot have removed it, and its readers.
type held struct {
	p      int
	rev    uint64
	until  time.Time
	cancel context.CancelFunc
	wg     sync.WaitGroup
	terms  map[string]*Term // by source: the current term, once it applied something
	// owner is this ownership's epoch; ready is set once what it inherited is replayed
	// (at once without Config.Inherit); logLast is the sequence of its last record in the
	// partition log; broken is set when an append's outcome is unknown (log.go).
	owner   uint64
	ready   bool
	broken  bool
	logLast uint64
	// appending is held across an append to the partition's log (Append, PruneLog): the
	// appends of one owner follow one another, each expecting the last.
	appending sync.Mutex
	// pruning is held across PruneLog.
	pruning sync.Mutex
}

// Group is a running member of a partitioned group.
type Group struct {
	cfg    Config
	kv     jetstream.KeyValue
	epochs jetstream.KeyValue
	// logStream holds the partition logs (Config.Inherit).
	logStream jetstream.Stream
	value     []byte
	ttl       time.Duration

	mu     sync.Mutex
	held   map[int]*held
	frozen map[int]time.Time // by partition: windows that began before are not this store's to release

	cancel context.CancelFunc
	done   chan struct{}
	pruned chan struct{} // closed when pruneLoop returned
}

// openBucket creates or opens the lease bucket and checks that its partition count and TTL
// are this replica's: replicas that disagree on either could both own an organisation.
func openBucket(ctx context.Context, js jetstream.JetStream, group string, n, replicas int, ttl time.Duration) (jetstream.KeyValue, error) {
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: BucketName(group), Description: description(n), History: 1, TTL: ttl,
		Storage: jetstream.FileStorage, Replicas: replicas,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, BucketName(group))
	}
	if err != nil {
		return nil, fmt.Errorf("partition: lease bucket %s: %w", BucketName(group), err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("partition: lease bucket %s: %w", BucketName(group), err)
	}
	info := st.(*jetstream.KeyValueBucketStatus).StreamInfo()
	if info.Config.Description != description(n) || st.TTL() != ttl {
		return nil, fmt.Errorf("partition: lease bucket %s is for %q with lease TTL %v; this replica has partitions=%d and TTL %v: every replica of a group needs the same",
			BucketName(group), info.Config.Description, st.TTL(), n, ttl)
	}
	return kv, nil
}

// Start joins the group: it opens the lease bucket, then takes and renews leases in the
// background, starting a reader per source of each partition it gains.
func Start(ctx context.Context, cfg Config) (*Group, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := checkStore(cfg.DB, cfg.Partitions, cfg.Sources); err != nil {
		return nil, err
	}
	kv, err := openBucket(ctx, cfg.JS, cfg.Group, cfg.Partitions, cfg.Replicas, cfg.LeaseTTL)
	if err != nil {
		return nil, err
	}
	epochs, err := cfg.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: EpochBucketName(cfg.Group), Description: "voix partition owners, for the releases a new owner inherits",
		History: 1, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("partition: epoch bucket %s: %w", EpochBucketName(cfg.Group), err)
	}
	frozen, err := loadFrozen(cfg.DB)
	if err != nil {
		return nil, err
	}
	var logStream jetstream.Stream
	if cfg.Inherit != nil {
		if logStream, err = openLogStream(ctx, cfg.JS, cfg.Group, cfg.Replicas); err != nil {
			return nil, err
		}
	}
	value, _ := json.Marshal(Lease{Replica: cfg.Replica, Address: cfg.Address})
	run, cancel := context.WithCancel(context.Background())
	g := &Group{cfg: cfg, kv: kv, epochs: epochs, logStream: logStream, value: value, ttl: cfg.LeaseTTL, held: map[int]*held{}, frozen: frozen,
		cancel: cancel, done: make(chan struct{}), pruned: make(chan struct{})}
	go g.manage(run)
	go g.pruneLoop(run)
	return g, nil
}

// checkStore records the partition count in the store, or refuses another: checkpoints are
// per partition, and another count would give them other events.
//
// A store that applied events unpartitioned (ids recorded under a source's name, no count)
// is refused too: its applied ids are pruned after a while, so replaying the streams into it
// from each partition's start would apply the older events a second time.
func checkStore(db *bolt.DB, n int, sources []Source) error {
	return db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(checkpointBucket)
		if err != nil {
			return err
		}
		want := []byte(strconv.Itoa(n))
		switch have := b.Get([]byte("partitions")); {
		case have == nil:
			for _, src := range sources {
				if applied := tx.Bucket([]byte(consumer.ProcessedBucketName)); applied != nil {
					if seen := applied.Bucket([]byte(src.Name)); seen != nil && seen.Stats().KeyN > 0 {
						return fmt.Errorf("partition: the store already applied events of %s unpartitioned: start this replica on an empty store (it rebuilds from the streams)", src.Name)
					}
				}
			}
			return b.Put([]byte("partitions"), want)
		case string(have) != string(want):
			return fmt.Errorf("partition: the store was built with %s partitions, not %d: start this replica on an empty store (it rebuilds from the streams)", have, n)
		}
		return nil
	})
}

// StoreCount is the partition count a store was built with, 0 if it never ran partitioned. A
// service starting unpartitioned on a store built partitioned must refuse it: the store holds
// only some organisations, and windows frozen for them.
func StoreCount(db *bolt.DB) (int, error) {
	n := 0
	err := db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(checkpointBucket); b != nil {
			if v := b.Get([]byte("partitions")); v != nil {
				n, _ = strconv.Atoi(string(v))
			}
		}
		return nil
	})
	return n, err
}

// Owned lists the partitions this replica holds now.
func (g *Group) Owned() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []int
	for p := range g.held {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Owns reports whether this replica holds the partition of org now.
func (g *Group) Owns(org string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.held[Of(org, g.cfg.Partitions)]
	return ok
}

// Stop leaves the group: it stops the readers, then releases the leases (deleting each at
// the revision held), so that other replicas take the partitions at once rather than after
// the TTL. A replica that cannot reach NATS leaves them to expire.
func (g *Group) Stop() {
	g.cancel()
	<-g.done
	<-g.pruned
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	g.mu.Lock()
	hs := make([]*held, 0, len(g.held))
	for _, h := range g.held {
		hs = append(hs, h)
	}
	g.mu.Unlock()
	for _, h := range hs {
		g.release(ctx, h)
	}
	_ = g.kv.Delete(ctx, presenceKey(g.cfg.Replica))
}

// holds is the fence: h is still this replica's lease of its partition and the local deadline
// (renewal start + TTL, minus a tenth for clock drift) has not passed. The server removes a
// lease no sooner than TTL after storing its last renewal, which came after that renewal
// started, so until the deadline no other replica can have created it.
func (g *Group) holds(h *held) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held[h.p] == h && time.Now().Before(h.until)
}

func (g *Group) manage(ctx context.Context) {
	defer close(g.done)
	t := time.NewTicker(g.ttl / 4)
	defer t.Stop()
	// The first round only announces this replica, so that replicas started together see
	// each other before taking partitions, rather than one taking all and handing half over.
	op, cancel := context.WithTimeout(ctx, g.ttl/4)
	if _, err := g.kv.Put(op, presenceKey(g.cfg.Replica), g.value); err != nil {
		g.cfg.Log.Warn("partition: presence not announced", "group", g.cfg.Group, "err", err)
	}
	cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		g.tick(ctx)
	}
}

func (g *Group) tick(ctx context.Context) {
	op, cancel := context.WithTimeout(ctx, g.ttl/4)
	defer cancel()
	if _, err := g.kv.Put(op, presenceKey(g.cfg.Replica), g.value); err != nil {
		g.cfg.Log.Warn("partition: presence not renewed", "group", g.cfg.Group, "err", err)
	}
	g.mu.Lock()
	hs := make([]*held, 0, len(g.held))
	for _, h := range g.held {
		hs = append(hs, h)
	}
	g.mu.Unlock()
	for _, h := range hs {
		start := time.Now()
		rev, err := g.kv.Update(op, leaseKey(h.p), g.value, h.rev)
		g.mu.Lock()
		if err == nil {
			h.rev, h.until = rev, start.Add(g.ttl-g.ttl/10)
		}
		lost := err != nil && (isTaken(err) || !time.Now().Before(h.until))
		g.mu.Unlock()
		if lost {
			g.cfg.Log.Warn("partition: lease lost", "group", g.cfg.Group, "partition", h.p, "err", err)
			g.lose(h)
		}
	}
	if ctx.Err() != nil {
		return
	}
	live := g.liveReplicas(op)
	if live == 0 {
		return // cannot tell: neither take nor give
	}
	n := g.cfg.Partitions
	want := (n + live - 1) / live
	owned := g.Owned()
	if len(owned) > want {
		// Give the highest above the fair share back, so that a replica that joined takes them.
		for _, p := range owned[want:] {
			g.mu.Lock()
			h := g.held[p]
			g.mu.Unlock()
			if h != nil {
				g.cfg.Log.Info("partition: releasing for a joining replica", "group", g.cfg.Group, "partition", p)
				g.release(op, h)
			}
		}
		return
	}
	// Take free partitions up to the fair share, starting at a point of our own so that
	// replicas do not all contend for the same one (the compare-and-swap settles it anyway).
	first := Of(g.cfg.Replica, n)
	for i := 0; i < n && len(g.Owned()) < want; i++ {
		p := (first + i) % n
		if slices.Contains(owned, p) {
			continue
		}
		start := time.Now()
		rev, err := g.kv.Create(op, leaseKey(p), g.value)
		if err != nil {
			g.cfg.Log.Debug("partition: not taken", "group", g.cfg.Group, "partition", p, "err", err)
			continue // held by another (or unreachable): next one
		}
		owner, known := g.adopt(op, p, g.cfg.Clock())
		g.gain(p, rev, start, owner, known)
	}
}

// isTaken reports whether a renewal failed because the lease is no longer ours: the key
// moved on to another revision, or is gone.
func isTaken(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyExists) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence)
}

// liveReplicas counts the replicas whose presence has not expired, this one included; 0 if
// the bucket cannot be read.
func (g *Group) liveReplicas(ctx context.Context) int {
	l, err := g.kv.ListKeysFiltered(ctx, "r.>")
	if err != nil {
		g.cfg.Log.Warn("partition: cannot list the live replicas", "group", g.cfg.Group, "err", err)
		return 0
	}
	n := 0
	for range l.Keys() {
		n++
	}
	_ = l.Stop() // the lister has finished: Stop only unsubscribes what is left
	return n
}

// epoch is the value of a partition's key in the epoch bucket: how many times the partition
// changed hands, and who took it last. It has no TTL: it outlives the leases.
type epoch struct {
	N       uint64 `json:"n"`
	Replica string `json:"replica"`
}

// EpochBucketName is the key-value bucket of group's ownership epochs.
func EpochBucketName(group string) string { return BucketName(group) + "_epochs" }

// adopt records, before p's readers start, that this store takes p at the next epoch, and
// whether it inherits another store's releases: if another replica held p since this store
// last did (or this store never held it and someone did), the windows that began before now
// were released, maybe, by that replica, whose release history this store does not have.
// They are frozen here (Releasable): what was shown stays as shown; the windows that begin
// from now on are this store's. If the epochs cannot be read, the windows are frozen too.
// With Config.Inherit nothing is frozen here: inherit decides from the partition log. It
// returns this ownership's epoch and whether the epochs could be read.
func (g *Group) adopt(ctx context.Context, p int, at time.Time) (owner uint64, known bool) {
	key := leaseKey(p)
	var prev epoch
	var rev uint64
	inherited, known := true, true
	e, err := g.epochs.Get(ctx, key)
	switch {
	case err == nil:
		rev = e.Revision()
		if json.Unmarshal(e.Value(), &prev) != nil {
			prev = epoch{}
		}
	case errors.Is(err, jetstream.ErrKeyNotFound):
		inherited = false // nobody ever held it
	default:
		known = false
		g.cfg.Log.Warn("partition: epochs unreadable; freezing the partition's current windows", "partition", p, "err", err)
	}
	if g.cfg.Inherit != nil {
		inherited = false // the partition log decides (inherit)
	}
	next, _ := json.Marshal(epoch{N: prev.N + 1, Replica: g.cfg.Replica})
	err = g.cfg.DB.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(checkpointBucket)
		if err != nil {
			return err
		}
		ek := binary.BigEndian.AppendUint32([]byte("epoch\x00"), uint32(p))
		if inherited && prev.N > 0 {
			if v := b.Get(ek); len(v) == 8 && binary.BigEndian.Uint64(v) == prev.N {
				inherited = false // nobody held it since this store did
			}
		}
		if err := b.Put(ek, binary.BigEndian.AppendUint64(nil, prev.N+1)); err != nil {
			return err
		}
		if !inherited {
			return nil
		}
		fk := binary.BigEndian.AppendUint32([]byte("frozen\x00"), uint32(p))
		return b.Put(fk, binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano())))
	})
	if err != nil {
		g.cfg.Log.Error("partition: cannot record the epoch; freezing in memory", "partition", p, "err", err)
		inherited = true
	}
	if inherited {
		g.mu.Lock()
		if at.After(g.frozen[p]) {
			g.frozen[p] = at
		}
		g.mu.Unlock()
		g.cfg.Log.Info("partition: inherited; windows begun before now stay as the previous owner released them",
			"group", g.cfg.Group, "partition", p, "previous", prev.Replica)
	}
	if rev == 0 {
		_, err = g.epochs.Create(ctx, key, next)
	} else {
		_, err = g.epochs.Update(ctx, key, next, rev)
	}
	if err != nil {
		g.cfg.Log.Warn("partition: epoch not recorded", "partition", p, "err", err)
	}
	return prev.N + 1, known
}

// loadFrozen reads the frozen-before times of the store's partitions.
func loadFrozen(db *bolt.DB) (map[int]time.Time, error) {
	out := map[int]time.Time{}
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(checkpointBucket)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		prefix := []byte("frozen\x00")
		for k, v := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, v = c.Next() {
			if len(k) == len(prefix)+4 && len(v) == 8 {
				out[int(binary.BigEndian.Uint32(k[len(prefix):]))] = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
			}
		}
		return nil
	})
	return out, err
}

// Releasable reports whether this replica may release (publish, show) aggregates of org's
// window that began at start: it holds org's partition, its lease deadline has not passed,
// and it did not inherit the window from another replica (adopt).
func (g *Group) Releasable(org string, start time.Time) bool {
	p := Of(org, g.cfg.Partitions)
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.held[p]
	return h != nil && h.ready && !h.broken && time.Now().Before(h.until) && !start.Before(g.frozen[p])
}

// FrozenBefore is the time before which windows of partition p are frozen in this store
// (zero if none).
func (g *Group) FrozenBefore(p int) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.frozen[p]
}

func (g *Group) gain(p int, rev uint64, start time.Time, owner uint64, known bool) {
	run, cancel := context.WithCancel(context.Background())
	h := &held{p: p, rev: rev, until: start.Add(g.ttl - g.ttl/10), cancel: cancel, terms: map[string]*Term{},
		owner: owner, ready: g.cfg.Inherit == nil}
	g.mu.Lock()
	g.held[p] = h
	g.mu.Unlock()
	g.cfg.Log.Info("partition: gained", "group", g.cfg.Group, "replica", g.cfg.Replica, "partition", p)
	startReaders := func() {
		for _, src := range g.cfg.Sources {
			h.wg.Add(1) // while the caller's count is held, or before anyone waits
			go func() {
				defer h.wg.Done()
				g.read(run, h, src)
			}()
		}
	}
	if g.cfg.Inherit == nil {
		startReaders()
	} else {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			if g.inherit(run, h, known) {
				startReaders()
			}
		}()
	}
	if g.cfg.OnGain != nil {
		g.cfg.OnGain(p)
	}
}

// lose forgets h and stops its readers.
func (g *Group) lose(h *held) {
	g.mu.Lock()
	if g.held[h.p] == h {
		delete(g.held, h.p)
	}
	g.mu.Unlock()
	h.cancel()
	h.wg.Wait()
	g.cfg.Log.Info("partition: lost", "group", g.cfg.Group, "replica", g.cfg.Replica, "partition", h.p)
	if g.cfg.OnLoss != nil {
		g.cfg.OnLoss(h.p)
	}
}

// release stops h's readers, then deletes its lease at the revision held, so that another
// replica can take it before the TTL.
func (g *Group) release(ctx context.Context, h *held) {
	g.lose(h)
	if err := g.kv.Delete(ctx, leaseKey(h.p), jetstream.LastRevision(h.rev)); err != nil {
		g.cfg.Log.Warn("partition: lease not released; it expires", "group", g.cfg.Group, "partition", h.p, "err", err)
	}
}

// read applies src's events of h's partition from the store's checkpoint until h is lost,
// starting again from the checkpoint after any failure.
func (g *Group) read(ctx context.Context, h *held, src Source) {
	for ctx.Err() == nil {
		err := g.readOnce(ctx, h, src)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errFenced) {
			g.cfg.Log.Warn("partition: lease passed its deadline; not applying", "group", g.cfg.Group, "partition", h.p)
		} else {
			g.cfg.Log.Warn("partition: reader failed; restarting from the checkpoint", "group", g.cfg.Group,
				"partition", h.p, "source", src.Name, "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(retryDelay):
		}
	}
}

type delivery struct {
	m   jetstream.Msg
	err error
}

func (g *Group) readOnce(ctx context.Context, h *held, src Source) error {
	var cp uint64
	if err := g.cfg.DB.View(func(tx *bolt.Tx) error { cp = Checkpoint(tx, src.Name, h.p); return nil }); err != nil {
		return err
	}
	occ := jetstream.OrderedConsumerConfig{FilterSubjects: []string{src.Subject}, DeliverPolicy: jetstream.DeliverAllPolicy}
	if cp > 0 {
		occ.DeliverPolicy, occ.OptStartSeq = jetstream.DeliverByStartSequencePolicy, cp+1
	}
	cons, err := g.cfg.JS.OrderedConsumer(ctx, src.Stream, occ)
	if err != nil {
		return fmt.Errorf("ordered consumer on %s: %w", src.Stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(2 * g.cfg.Batch))
	if err != nil {
		return err
	}
	ch := make(chan delivery, g.cfg.Batch)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		for {
			m, err := it.Next()
			select {
			case ch <- delivery{m, err}:
			case <-quit:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer it.Stop()
	for {
		var d delivery
		select {
		case <-ctx.Done():
			return ctx.Err()
		case d = <-ch:
		}
		if d.err != nil {
			return d.err
		}
		batch := []jetstream.Msg{d.m}
	drain:
		for len(batch) < g.cfg.Batch {
			select {
			case d = <-ch:
				if d.err != nil {
					break drain
				}
				batch = append(batch, d.m)
			default:
				break drain
			}
		}
		if err := g.apply(h, src, batch); err != nil {
			return err
		}
		if d.err != nil {
			return d.err
		}
	}
}

// apply applies the events of h's partition among batch in one transaction, with their ids,
// the checkpoint and the owner log, and commits only if h is still held.
func (g *Group) apply(h *held, src Source, batch []jetstream.Msg) error {
	skip := map[uint64]bool{} // events whose handler failed for good
	for {
		var term *Term
		var failed uint64
		err := g.cfg.DB.Update(func(tx *bolt.Tx) error {
			start := time.Now()
			var last, first, lastApplied, applied uint64
			for _, m := range batch {
				md, err := m.Metadata()
				if err != nil {
					return err
				}
				seq := md.Sequence.Stream
				last = seq
				if skip[seq] || OfSubject(m.Subject(), g.cfg.Partitions) != h.p {
					continue
				}
				ev, err := bus.EventFromMsg(m)
				if err != nil {
					g.cfg.Log.Error("partition: undecodable event skipped", "subject", m.Subject(), "seq", seq, "err", err)
					continue
				}
				if consumer.Applied(tx, src.Name, ev.ID) {
					continue
				}
				if err := src.Handle(tx, ev); err != nil {
					if errors.Is(err, consumer.ErrPermanent) {
						failed = seq
					}
					return err
				}
				if _, err := consumer.UnsafeRecord(tx, src.Name, ev.ID); err != nil {
					return err
				}
				if first == 0 {
					first = seq
				}
				lastApplied = seq
				applied++
			}
			if applied > 0 && src.Flush != nil {
				if err := src.Flush(tx); err != nil {
					return err
				}
			}
			if err := putCheckpoint(tx, src.Name, h.p, last); err != nil {
				return err
			}
			if applied > 0 {
				t := Term{Replica: g.cfg.Replica, Partition: h.p, Source: src.Name, Start: start, First: first}
				g.mu.Lock()
				if cur := h.terms[src.Name]; cur != nil {
					t = *cur
				}
				g.mu.Unlock()
				t.Last, t.Applied = lastApplied, t.Applied+applied
				t.End = time.Now()
				if err := putTerm(tx, t); err != nil {
					return err
				}
				term = &t
			}
			if !g.holds(h) {
				return errFenced
			}
			return nil
		})
		if failed != 0 && err != nil && errors.Is(err, consumer.ErrPermanent) {
			g.cfg.Log.Error("partition: event cannot be applied; skipped", "source", src.Name, "seq", failed, "err", err)
			skip[failed] = true
			continue
		}
		if err == nil && term != nil {
			g.mu.Lock()
			h.terms[src.Name] = term
			g.mu.Unlock()
		}
		return err
	}
}

// Lookup returns the replica that owns org's partition now (for forwarding a read to it), and
// the partition; jetstream.ErrKeyNotFound when no replica holds it.
func Lookup(ctx context.Context, js jetstream.JetStream, group, org string) (Lease, int, error) {
	kv, err := js.KeyValue(ctx, BucketName(group))
	if err != nil {
		return Lease{}, 0, fmt.Errorf("partition: lease bucket %s: %w", BucketName(group), err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return Lease{}, 0, err
	}
	desc := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Description
	count, ok := strings.CutPrefix(desc, strings.TrimSuffix(description(0), "0"))
	n, err := strconv.Atoi(count)
	if !ok || err != nil || n < 1 {
		return Lease{}, 0, fmt.Errorf("partition: lease bucket %s: description %q names no partition count", BucketName(group), desc)
	}
	return readLease(ctx, kv, Of(org, n))
}

// readLease reads partition p's lease: an error wrapping jetstream.ErrKeyNotFound when no
// replica holds it.
func readLease(ctx context.Context, kv jetstream.KeyValue, p int) (Lease, int, error) {
	e, err := kv.Get(ctx, leaseKey(p))
	if err != nil {
		return Lease{}, p, err
	}
	var l Lease
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		return Lease{}, p, fmt.Errorf("partition: lease %s: %w", leaseKey(p), err)
	}
	return l, p, nil
}

// Owner is Lookup through this replica's open lease bucket (one read of the partition's
// key): the replica that holds org's partition now, and the partition; an error wrapping
// jetstream.ErrKeyNotFound when no replica holds it.
func (g *Group) Owner(ctx context.Context, org string) (Lease, int, error) {
	return readLease(ctx, g.kv, Of(org, g.cfg.Partitions))
}

// Replica is this replica's name in the group.
func (g *Group) Replica() string { return g.cfg.Replica }
