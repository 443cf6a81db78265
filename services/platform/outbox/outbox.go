// Package outbox is the transactional outbox: a service writes an event in the same bbolt
// transaction as the change that caused it, and a relay moves it to JetStream afterwards. An
// event is therefore published if and only if its transaction committed, whatever crashes in
// between. The relay deletes a record only after JetStream acknowledged it; a crash between
// the ack and the delete republishes the record with the same Nats-Msg-Id, which JetStream
// drops as a duplicate (and consumers dedup by event id beyond its window).
package outbox

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/bus"
)

// Buckets owned by this package.
const (
	// BucketName holds pending records keyed by a big-endian sequence, so key order is commit
	// order.
	BucketName = "outbox"
	// DeadBucketName holds records that cannot be decoded and so can never be published; they
	// are moved aside, with an error logged, so they do not block the records behind them.
	DeadBucketName = "outbox_dead"
)

var bucket, deadBucket = []byte(BucketName), []byte(DeadBucketName)

// Relay timing.
const (
	// PollInterval is how often the relay looks for records without being woken: a safety net,
	// since every commit that adds a record wakes it.
	PollInterval = time.Second
	// MinBackoff and MaxBackoff bound the pause after a failed publish; it doubles each time.
	MinBackoff = 50 * time.Millisecond
	MaxBackoff = 5 * time.Second
	// BatchSize is how many records the relay reads per read transaction, and deletes per
	// write transaction once they are all acknowledged.
	BatchSize = 256
)

// ErrRunning is returned by Run when the relay is already running: two relays would publish
// the same records twice.
var ErrRunning = errors.New("outbox: relay already running")

// Publisher delivers an event and returns once the broker has it. *bus.Bus satisfies it.
type Publisher interface {
	Publish(ctx context.Context, ev bus.Event) error
}

// BatchPublisher is a Publisher that can pipeline: it sends events in order without waiting
// for each ack, and reports how many, from the first, are acknowledged. *bus.Bus satisfies it;
// the relay uses it when available.
type BatchPublisher interface {
	Publisher
	PublishBatch(ctx context.Context, evs []bus.Event) (acked int, err error)
}

// Writer runs a write transaction and returns once it is committed: (*bolt.DB).Update, or a
// group committer (platform/groupcommit) that shares one commit among many writers.
type Writer interface {
	Update(fn func(*bolt.Tx) error) error
}

// Outbox stores events in a service's bbolt file and relays them to a Publisher.
type Outbox struct {
	db      *bolt.DB
	pub     Publisher
	log     *slog.Logger
	wake    chan struct{}
	running atomic.Bool
	writer  atomic.Pointer[Writer]
	lag     lagMarks
}

// WriteThrough makes the relay delete published records (and move undecodable ones aside)
// through w instead of transactions of its own. With a group committer, the deletion of a
// published batch rides in the commit of the writes that arrive meanwhile, instead of taking
// the writer lock and two fsyncs of its own between them. Safe to call while Run runs.
func (o *Outbox) WriteThrough(w Writer) { o.writer.Store(&w) }

// update runs fn in a write transaction: through the Writer given to WriteThrough, or its own.
func (o *Outbox) update(fn func(*bolt.Tx) error) error {
	if w := o.writer.Load(); w != nil {
		return (*w).Update(fn)
	}
	return o.db.Update(fn)
}

// New ensures the outbox buckets in db. log may be nil (discard).
func New(db *bolt.DB, pub Publisher, log *slog.Logger) (*Outbox, error) {
	if db == nil || pub == nil {
		return nil, errors.New("outbox: New needs a db and a publisher")
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucket, deadBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("outbox: create bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	o := &Outbox{db: db, pub: pub, log: log.With("component", "outbox"), wake: make(chan struct{}, 1)}
	o.lag.start = time.Now()
	return o, nil
}

// Add stores ev in tx, the caller's write transaction (Update or Batch), and wakes the relay
// when tx commits. If tx rolls back, the record goes with it and nothing is published; that
// is also why Add is safe in a Batch function that bbolt runs a second time: the first run's
// transaction was rolled back. The record keeps the event's day (bus.Day; today for a zero
// ev.Time), never an instant, so retries carry the same time and the store no finer one.
func (o *Outbox) Add(tx *bolt.Tx, ev bus.Event) error {
	r, err := Prepare(ev)
	if err != nil {
		return err
	}
	return o.AddRecord(tx, r)
}

// Record is an event validated and encoded for the outbox by Prepare, to be stored by
// AddRecord.
type Record struct {
	typ string
	v   []byte
}

// Prepare validates and encodes ev as Add would, outside any transaction: a caller that
// writes through a group committer prepares before its Update, so that the committer's
// serial part only stores the bytes. The Record may be added by several runs of one function
// (a group commit may run it twice); it must not be added to two committed transactions.
func Prepare(ev bus.Event) (Record, error) {
	if err := ev.Validate(); err != nil {
		return Record{}, err
	}
	ev.Time = bus.Day(ev.Time).UTC()
	return Record{typ: ev.Type, v: encodeRecord(ev)}, nil
}

// AddRecord is Add for an event Prepare encoded.
func (o *Outbox) AddRecord(tx *bolt.Tx, r Record) error {
	if r.v == nil {
		return errors.New("outbox: AddRecord needs a Record made by Prepare")
	}
	b := tx.Bucket(bucket)
	if b == nil {
		return fmt.Errorf("outbox: bucket %q missing: create the Outbox with New on this db", BucketName)
	}
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("outbox: next sequence: %w", err)
	}
	// bbolt keeps v until the commit; nothing writes to it after Prepare.
	if err := b.Put(key(seq), r.v); err != nil {
		return fmt.Errorf("outbox: store event %s: %w", r.typ, err)
	}
	tx.OnCommit(func() { o.lag.mark(seq); o.notify() })
	return nil
}

func key(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

func (o *Outbox) notify() {
	select {
	case o.wake <- struct{}{}:
	default: // already woken
	}
}

// Pending is the number of records not yet published.
func (o *Outbox) Pending() (int, error) {
	var n int
	err := o.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	})
	return n, err
}

// lagMarks remembers, in memory only, the first record committed in each second: enough to
// tell the age of the oldest pending record to the second (OldestAge) without storing an
// instant next to an event. One mark per second of backlog.
type lagMarks struct {
	start time.Time    // records left by an earlier run count from here
	last  atomic.Int64 // the second (Unix) of the newest mark
	mu    sync.Mutex
	marks []lagMark // in sequence order
}

type lagMark struct {
	seq uint64
	at  time.Time
}

// mark notes that record seq committed now, if it is the first of its second.
func (l *lagMarks) mark(seq uint64) {
	now := time.Now()
	if l.last.Load() == now.Unix() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last.Swap(now.Unix()) == now.Unix() {
		return
	}
	if n := len(l.marks); n > 0 && l.marks[n-1].seq > seq {
		return // commit callbacks ran out of order: the earlier mark already covers seq
	}
	l.marks = append(l.marks, lagMark{seq, now})
}

// since is when the record seq committed, to the second (from the last mark at or before
// it), and drops the marks before that one: the relay publishes in sequence order.
func (l *lagMarks) since(seq uint64) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := sort.Search(len(l.marks), func(i int) bool { return l.marks[i].seq > seq })
	if i == 0 {
		return l.start
	}
	l.marks = l.marks[i-1:]
	return l.marks[0].at
}

// OldestAge is how long the oldest record not yet published has waited since its commit (to
// the second; a record left by an earlier run counts from New), and 0 when there is none:
// the relay's lag.
func (o *Outbox) OldestAge() (time.Duration, error) {
	var seq uint64
	err := o.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucket).Cursor().First(); len(k) == 8 {
			seq = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	if err != nil || seq == 0 {
		return 0, err
	}
	return time.Since(o.lag.since(seq)), nil
}

// Run relays records until ctx is done, then returns ctx.Err(). It first drains what a
// previous run left (crash recovery), then waits for commits or the poll tick. Records are
// published in key order; a failed publish is retried after a capped exponential backoff,
// never dropped. The first failure is a warning (with the number of records kept), the
// retries that fail too are debug lines, and the first success after them an info line: a
// NATS outage logs two lines here, not one every few seconds. With a BatchPublisher the publishes of a batch are
// pipelined: when one fails, later ones of the batch may already be stored, so after a
// failure the stream order can differ from commit order. Consumers must not rely on order
// across events.
func (o *Outbox) Run(ctx context.Context) error {
	if !o.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer o.running.Store(false)

	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	backoff := time.Duration(0)
	for {
		err := o.drain(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			level := slog.LevelDebug
			if backoff == 0 {
				level = slog.LevelWarn
			}
			backoff = min(max(2*backoff, MinBackoff), MaxBackoff)
			n, _ := o.Pending()
			o.log.Log(ctx, level, "outbox relay: publish failed; records kept, retrying", "err", err, "pending", n, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			continue
		}
		if backoff != 0 {
			o.log.Info("outbox relay: publishing again")
		}
		backoff = 0
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-o.wake:
		case <-tick.C:
		}
	}
}

type pending struct {
	key []byte
	ev  bus.Event
}

// drain publishes batches until the outbox is empty or a publish fails.
//
// The deletion of a published batch commits while the next batch is read and published: with
// a group committer (WriteThrough) a deletion waits for the commit in progress and then its
// own, and the relay waiting for it would leave the broker idle for that long. The next batch
// is read from after the last published key, so a record whose deletion has not committed
// yet is not sent twice. One deletion is in flight at a time, and drain returns only once it
// has committed (or failed): a record is still deleted only after its event was stored, and
// a deletion that failed leaves its records for the next drain, which reads from the start.
func (o *Outbox) drain(ctx context.Context) error {
	var after []byte        // key of the last record published by this drain
	var deleting chan error // the deletion in flight, if any
	settle := func() error {
		if deleting == nil {
			return nil
		}
		err := <-deleting
		deleting = nil
		return err
	}
	for {
		batch, dead, err := o.load(after)
		if err != nil {
			return errors.Join(err, settle())
		}
		if len(dead) > 0 {
			if err := o.bury(dead); err != nil {
				return errors.Join(err, settle())
			}
		}
		if len(batch) == 0 {
			if len(dead) > 0 {
				continue
			}
			return settle()
		}
		n, pubErr := o.publish(ctx, batch)
		done := make([][]byte, 0, n)
		for _, p := range batch[:n] {
			done = append(done, p.key)
		}
		if err := settle(); err != nil {
			// Published but not deleted: republished later, and dropped as duplicates.
			return errors.Join(pubErr, err)
		}
		if len(done) > 0 {
			after = done[len(done)-1]
			ch := make(chan error, 1)
			go func() { ch <- o.remove(done) }()
			deleting = ch
		}
		if pubErr != nil {
			return errors.Join(pubErr, settle())
		}
	}
}

// AtomicPublisher is a BatchPublisher that can also store a batch of one stream's events as
// one JetStream atomic batch: all or none, and one fsync for the batch on a server that syncs
// every write (*bus.Bus, PublishAtomic). The relay then uses it for each run of consecutive
// records of one stream, and falls back to PublishBatch for a run the server refuses.
type AtomicPublisher interface {
	BatchPublisher
	PublishAtomic(ctx context.Context, evs []bus.Event) error
}

// publish sends batch in order and returns how many, from the first, are acknowledged.
//
// With an AtomicPublisher, each run of records of one stream goes as one atomic batch. Why:
// with sync_interval always, JetStream syncs each message it stores, so one message at a time
// (even pipelined) is capped by the disk's fsync rate; an atomic batch is synced once. Failure
// modes: a crash (or a lost commit answer) after the server stored a batch and before the
// records are deleted makes the relay send them again; an atomic batch holding an id already
// stored is refused as a whole, so the relay then sends that run one by one (PublishBatch),
// where JetStream drops each duplicate within its window and consumers drop the rest
// (processed_events). A batch cut short by a lost connection is never committed: the server
// drops it after its batch timeout, and the relay retries. No record is deleted before its
// event is stored.
func (o *Outbox) publish(ctx context.Context, batch []pending) (int, error) {
	if ap, ok := o.pub.(AtomicPublisher); ok {
		done := 0
		for done < len(batch) {
			end := done + 1
			stream := bus.StreamOf(batch[done].ev.Subject)
			for end < len(batch) && end-done < bus.MaxAtomicBatch && bus.StreamOf(batch[end].ev.Subject) == stream {
				end++
			}
			evs := make([]bus.Event, end-done)
			for i, p := range batch[done:end] {
				evs[i] = p.ev
			}
			if stream != "" && len(evs) > 1 {
				if err := ap.PublishAtomic(ctx, evs); err == nil {
					done = end
					continue
				} else {
					o.log.Debug("outbox: atomic batch not stored; publishing its events one by one", "events", len(evs), "err", err)
				}
			}
			n, err := ap.PublishBatch(ctx, evs)
			done += n
			if err != nil {
				return done, fmt.Errorf("outbox: %w", err)
			}
		}
		return done, nil
	}
	if bp, ok := o.pub.(BatchPublisher); ok {
		evs := make([]bus.Event, len(batch))
		for i, p := range batch {
			evs[i] = p.ev
		}
		n, err := bp.PublishBatch(ctx, evs)
		if err != nil {
			err = fmt.Errorf("outbox: %w", err)
		}
		return n, err
	}
	for i, p := range batch {
		if err := o.pub.Publish(ctx, p.ev); err != nil {
			return i, fmt.Errorf("outbox: publish %s: %w", p.ev.Type, err)
		}
	}
	return len(batch), nil
}

// load reads up to BatchSize records in key order after key after (from the first when nil),
// copying them out of the transaction. Undecodable records come back in dead.
func (o *Outbox) load(after []byte) (batch []pending, dead [][]byte, err error) {
	err = o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		k, v := c.First()
		if after != nil {
			k, v = c.Seek(append(bytes.Clone(after), 0)) // the first key after it
		}
		for ; k != nil && len(batch)+len(dead) < BatchSize; k, v = c.Next() {
			kc := append([]byte(nil), k...)
			ev, err := DecodeRecord(v) // copies out of v
			if err != nil {
				o.log.Error("outbox: undecodable record moved to dead bucket", "bucket", DeadBucketName, "key", fmt.Sprintf("%x", k), "err", err)
				dead = append(dead, kc)
				continue
			}
			batch = append(batch, pending{kc, ev})
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("outbox: read records: %w", err)
	}
	return batch, dead, nil
}

func (o *Outbox) remove(keys [][]byte) error {
	if len(keys) == 0 {
		return nil
	}
	// Deleting a key that is gone already is no error: fn may run twice (groupcommit).
	err := o.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox: delete %d published records: %w", len(keys), err)
	}
	o.lag.since(binary.BigEndian.Uint64(keys[len(keys)-1]) + 1) // forget the marks of published records
	return nil
}

func (o *Outbox) bury(keys [][]byte) error {
	err := o.update(func(tx *bolt.Tx) error {
		b, d := tx.Bucket(bucket), tx.Bucket(deadBucket)
		for _, k := range keys {
			v := b.Get(k)
			if v == nil {
				continue // moved by an earlier run of this function
			}
			if err := d.Put(k, append([]byte(nil), v...)); err != nil {
				return err
			}
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox: move %d undecodable records aside: %w", len(keys), err)
	}
	return nil
}
