// Package sharedconf keeps what operators configure the same on every replica of a service
// (issue 16): surveys for pulse, routing rules, notification targets and action plans for
// feedback. The configuration lives in a JetStream key-value bucket, one key per record, whose
// value is the whole record. Every replica watches the bucket and applies each value to its
// own bbolt store in one transaction with the revision applied, skipping a value whose
// revision is not higher, so a replayed or older value changes nothing; the service reads its
// store as before.
//
// A change writes the bucket first (Create, or Update at the revision read: compare and swap,
// read again on a conflict), then applies the written value to the local store. So:
//   - NATS unreachable: the change fails with Unavailable naming the bucket, and nothing is
//     written anywhere.
//   - Killed between the bucket and the store: the watch applies the value at the next start.
//   - A replica down during a change: at start, Start waits (up to Config.CatchUp) until the
//     bucket's latest value of every key is applied; past that the replica serves, and Ready
//     answers Unavailable until it has caught up, so calls that read the configuration can
//     refuse rather than answer from an old copy.
//   - A record written a moment ago on another replica and not delivered by the watch yet:
//     Fetch reads its key from the bucket and applies it (fetch on miss).
//   - Upgrade: records of a store that ran alone are copied into the bucket (Create, so a
//     record another replica put there first wins) once the first catch-up is done.
package sharedconf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Defaults of Config.
const (
	DefaultHistory   = 8
	DefaultCatchUp   = 15 * time.Second
	DefaultTimeout   = 5 * time.Second
	DefaultRevisions = "config_revisions"
	// editTries bounds the compare-and-swap retries of an edit racing others.
	editTries = 8
)

// ErrUnreadable is wrapped by an Apply error for a value this version cannot read: it is
// logged and skipped (retrying would not help), and its revision is not recorded.
var ErrUnreadable = errors.New("sharedconf: value this version cannot read")

// Entry is a key and its value.
type Entry struct {
	Key   string
	Value []byte
}

// Config configures a replica's handle on a bucket.
type Config struct {
	// JS reaches JetStream. Required.
	JS jetstream.JetStream
	// Bucket is the key-value bucket's name. Required.
	Bucket string
	// Description is the bucket's, set when this replica creates it.
	Description string
	// Replicas is the bucket's stream replicas (--stream-replicas). Default 1.
	Replicas int
	// History is how many values of a key the bucket keeps (one is enough to catch up; the
	// others are for an operator's `nats kv history`). Default DefaultHistory.
	History uint8
	// DB is the replica's store. Required.
	DB *bolt.DB
	// Revisions names the bbolt bucket of the revisions applied (key: the bucket's key, value:
	// big-endian uint64). Created if missing. Default DefaultRevisions.
	Revisions string
	// Apply writes revision rev of key to the store in tx; val is nil when the key was
	// deleted. It runs only for a revision higher than the one applied. Required.
	Apply func(tx *bolt.Tx, key string, val []byte, rev uint64) error
	// Seed lists the records of the store as entries of the bucket, for the upgrade from a
	// store that ran alone: those whose key has no applied revision are put in the bucket
	// after the first catch-up. Optional.
	Seed func(tx *bolt.Tx) ([]Entry, error)
	// Service prefixes errors ("pulse"). What names the configuration in errors and logs
	// ("the shared survey definitions").
	Service, What string
	// Log receives the watch's problems. Default: discarded.
	Log *slog.Logger
	// CatchUp is how long Start waits for the first catch-up. Default DefaultCatchUp.
	CatchUp time.Duration
	// Timeout bounds each key-value call of a request. Default DefaultTimeout.
	Timeout time.Duration
}

// Shared is a replica's handle on the bucket and the state of its watch.
type Shared struct {
	cfg Config
	rev []byte

	kvMu sync.Mutex // held while the bucket is opened
	kv   jetstream.KeyValue

	ready     chan struct{} // closed once the values at the first watch are applied
	readyOnce sync.Once

	mu      sync.Mutex // guards applied and changed
	applied uint64     // the highest revision applied
	changed chan struct{}
}

// Start opens the shared configuration: it runs the watch with spawn (a goroutine bound to the
// service's life, as host.Go) and waits up to cfg.CatchUp for the first catch-up.
func Start(cfg Config, spawn func(func(context.Context))) (*Shared, error) {
	if cfg.JS == nil || cfg.Bucket == "" || cfg.DB == nil || cfg.Apply == nil {
		return nil, errors.New("sharedconf: JS, Bucket, DB and Apply are required")
	}
	if cfg.History == 0 {
		cfg.History = DefaultHistory
	}
	if cfg.CatchUp == 0 {
		cfg.CatchUp = DefaultCatchUp
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Revisions == "" {
		cfg.Revisions = DefaultRevisions
	}
	if cfg.What == "" {
		cfg.What = "the shared configuration"
	}
	if cfg.Service == "" {
		cfg.Service = "sharedconf"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Shared{cfg: cfg, rev: []byte(cfg.Revisions), ready: make(chan struct{}), changed: make(chan struct{})}
	if err := cfg.DB.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(s.rev)
		return err
	}); err != nil {
		return nil, fmt.Errorf("sharedconf: bucket %s: %w", cfg.Revisions, err)
	}
	spawn(s.run)
	select {
	case <-s.ready:
	case <-time.After(cfg.CatchUp):
		cfg.Log.Warn("sharedconf: not caught up; calls that read it are refused with Unavailable until it is", "what", cfg.What, "bucket", cfg.Bucket)
	}
	return s, nil
}

// Name is the bucket's name.
func (s *Shared) Name() string { return s.cfg.Bucket }

// Timeout is Config.Timeout.
func (s *Shared) Timeout() time.Duration { return s.cfg.Timeout }

// Unavailable is the status of a change refused because the bucket cannot be reached.
func (s *Shared) Unavailable(err error) error {
	return status.Errorf(codes.Unavailable, "%s: %s (NATS key-value bucket %s) cannot be reached, nothing was changed: %v", s.cfg.Service, s.cfg.What, s.cfg.Bucket, err)
}

// Ready fails with Unavailable until the first catch-up is done.
func (s *Shared) Ready() error {
	select {
	case <-s.ready:
		return nil
	default:
		return status.Errorf(codes.Unavailable, "%s: this replica is still reading %s (NATS key-value bucket %s); retry", s.cfg.Service, s.cfg.What, s.cfg.Bucket)
	}
}

// Bucket opens the bucket, creating it on first use.
func (s *Shared) Bucket(ctx context.Context) (jetstream.KeyValue, error) {
	s.kvMu.Lock()
	defer s.kvMu.Unlock()
	if s.kv != nil {
		return s.kv, nil
	}
	kv, err := s.cfg.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: s.cfg.Bucket, History: s.cfg.History, Storage: jetstream.FileStorage,
		Replicas: max(s.cfg.Replicas, 1), Description: s.cfg.Description,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = s.cfg.JS.KeyValue(ctx, s.cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", s.cfg.Bucket, err)
	}
	s.kv = kv
	return kv, nil
}

// run watches the bucket until ctx ends, re-creating the watch after an error.
func (s *Shared) run(ctx context.Context) {
	for {
		err := s.watch(ctx)
		if ctx.Err() != nil {
			return
		}
		s.cfg.Log.Warn("sharedconf: watch stopped; starting again", "bucket", s.cfg.Bucket, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// watch applies the latest value of every key, deletions included, then every new value,
// until ctx ends or the watch fails.
func (s *Shared) watch(ctx context.Context) error {
	kv, err := s.Bucket(ctx)
	if err != nil {
		return err
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return errors.New("watch closed")
			case e == nil: // the values at the start of the watch are applied
				s.readyOnce.Do(func() {
					s.seed(ctx, kv)
					close(s.ready)
				})
			case e.Operation() == jetstream.KeyValuePut:
				if err := s.Apply(e.Key(), e.Value(), e.Revision(), nil); err != nil {
					return err
				}
			default: // deleted or purged
				if err := s.Apply(e.Key(), nil, e.Revision(), nil); err != nil {
					return err
				}
			}
		}
	}
}

// seed puts in the bucket the records of this store that have no applied revision: those
// written before the service ran as a replica. A key already there (another replica seeded
// it) reaches the store through the watch.
func (s *Shared) seed(ctx context.Context, kv jetstream.KeyValue) {
	if s.cfg.Seed == nil {
		return
	}
	var todo []Entry
	err := s.cfg.DB.View(func(tx *bolt.Tx) error {
		all, err := s.cfg.Seed(tx)
		if err != nil {
			return err
		}
		for _, e := range all {
			if rev, err := s.AppliedRevision(tx, e.Key); err != nil || rev > 0 {
				if err != nil {
					return err
				}
				continue
			}
			todo = append(todo, e)
		}
		return nil
	})
	if err != nil {
		s.cfg.Log.Error("sharedconf: seed the bucket from the store", "bucket", s.cfg.Bucket, "err", err)
		return
	}
	for _, e := range todo {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		rev, err := kv.Create(cctx, e.Key, e.Value)
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrKeyExists):
			continue
		case err != nil:
			s.cfg.Log.Warn("sharedconf: seed the bucket from the store (retried at the next start)", "bucket", s.cfg.Bucket, "key", e.Key, "err", err)
			continue
		}
		if err := s.Apply(e.Key, e.Value, rev, nil); err != nil {
			s.cfg.Log.Warn("sharedconf: seed the bucket from the store", "bucket", s.cfg.Bucket, "key", e.Key, "err", err)
			continue
		}
		s.cfg.Log.Info("sharedconf: record shared with the other replicas", "bucket", s.cfg.Bucket, "key", e.Key)
	}
}

// AppliedRevision is the revision of key this store applied, 0 for none.
func (s *Shared) AppliedRevision(tx *bolt.Tx, key string) (uint64, error) {
	bk := tx.Bucket(s.rev)
	if bk == nil {
		return 0, nil
	}
	v := bk.Get([]byte(key))
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("sharedconf: revision of %q: %d bytes, want 8", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Apply applies revision rev of key (val nil: deleted) to the store unless it holds that
// revision or a later one, then runs also (if not nil) in the same transaction either way:
// the writer's own effects of a change (an outbox event), which must happen once even when
// the watch applied the value first.
func (s *Shared) Apply(key string, val []byte, rev uint64, also func(tx *bolt.Tx) error) error {
	err := s.cfg.DB.Update(func(tx *bolt.Tx) error {
		applied, err := s.AppliedRevision(tx, key)
		if err != nil {
			return err
		}
		if rev > applied {
			if err := s.cfg.Apply(tx, key, val, rev); err != nil {
				return err
			}
			bk, err := tx.CreateBucketIfNotExists(s.rev)
			if err != nil {
				return err
			}
			if err := bk.Put([]byte(key), binary.BigEndian.AppendUint64(nil, rev)); err != nil {
				return err
			}
		}
		if also != nil {
			return also(tx)
		}
		return nil
	})
	if errors.Is(err, ErrUnreadable) {
		s.cfg.Log.Error("sharedconf: skip a value this version cannot read", "bucket", s.cfg.Bucket, "key", key, "revision", rev, "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("apply %s revision %d: %w", key, rev, err)
	}
	s.noteApplied(rev)
	return nil
}

// Fetch applies key from the bucket when this store may not have it yet (written on another
// replica a moment ago, not delivered by the watch yet). It reports whether the bucket holds
// it; Unavailable when the bucket cannot be reached.
func (s *Shared) Fetch(key string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	kv, err := s.Bucket(ctx)
	if err != nil {
		return false, s.Unavailable(err)
	}
	e, err := kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return false, nil
	case err != nil:
		return false, s.Unavailable(err)
	}
	return true, s.Apply(e.Key(), e.Value(), e.Revision(), nil)
}

// Change is what Edit writes: Value, or a deletion of the key.
type Change struct {
	Value  []byte
	Delete bool
}

// Edit changes key by compare and swap: it reads the key's value (nil if absent or deleted),
// asks change for the new one (nil: no change) and writes it at the revision read (Create if
// absent), reading again when another replica wrote in between; then it applies the written
// value to the store and runs also in the same transaction. With no change, the value read
// is applied (so the store holds at least it) and also does not run. It reports whether it
// wrote. Errors of change are returned as they are; a bucket that cannot be reached is
// Unavailable, and nothing is written.
func (s *Shared) Edit(key string, change func(cur []byte) (*Change, error), also func(tx *bolt.Tx) error) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.cfg.Timeout)
	defer cancel()
	kv, err := s.Bucket(ctx)
	if err != nil {
		return false, s.Unavailable(err)
	}
	for range editTries {
		var cur []byte
		var rev uint64
		e, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		case err != nil:
			return false, s.Unavailable(err)
		default:
			cur, rev = e.Value(), e.Revision()
		}
		c, err := change(cur)
		if err != nil {
			return false, err
		}
		if c == nil {
			if rev > 0 {
				return false, s.Apply(key, cur, rev, nil)
			}
			return false, nil
		}
		var next uint64
		switch {
		case c.Delete && rev == 0:
			return false, nil // nothing to delete
		case c.Delete:
			next, err = s.deleteAt(ctx, key, rev)
		case rev == 0:
			next, err = kv.Create(ctx, key, c.Value)
		default:
			next, err = kv.Update(ctx, key, c.Value, rev)
		}
		switch {
		case errors.Is(err, jetstream.ErrKeyExists), isWrongRevision(err):
			continue // another replica changed it in between: read again
		case err != nil:
			return false, s.Unavailable(err)
		}
		val := c.Value
		if c.Delete {
			val = nil
		}
		return true, s.Apply(key, val, next, also)
	}
	return false, status.Errorf(codes.Unavailable, "%s: %s is being changed by other replicas at the same time; retry", s.cfg.Service, key)
}

// isWrongRevision reports a compare and swap lost to another writer (10071, or 10164 from a
// replicated stream).
func isWrongRevision(err error) bool {
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// deleteAt deletes key if its revision is still rev and returns the deletion's revision. It
// publishes the deletion marker itself (the key-value layout: subject $KV.<bucket>.<key>,
// header KV-Operation: DEL), as KeyValue.Delete does, because Delete does not return it.
func (s *Shared) deleteAt(ctx context.Context, key string, rev uint64) (uint64, error) {
	m := nats.NewMsg("$KV." + s.cfg.Bucket + "." + key)
	m.Header.Set("KV-Operation", "DEL")
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(rev, 10))
	ack, err := s.cfg.JS.PublishMsg(ctx, m)
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// noteApplied records that revision rev was applied.
func (s *Shared) noteApplied(rev uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rev > s.applied {
		s.applied = rev
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

// WaitApplied waits until a revision at least rev is applied (tests, tools).
func (s *Shared) WaitApplied(ctx context.Context, rev uint64) error {
	for {
		s.mu.Lock()
		got, changed := s.applied, s.changed
		s.mu.Unlock()
		if got >= rev {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("revision %d of %s not applied (at %d): %w", rev, s.cfg.Bucket, got, ctx.Err())
		case <-changed:
		}
	}
}
