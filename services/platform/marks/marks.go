// Package marks keeps the write path's "already done" marks where every replica of a service
// sees them: the one-response-per-wave marker of pulse and the SubmitFeedback idempotency
// record of feedback, when a service runs as several replicas that each accept submissions
// for any organisation (issue 16). A mark lives in a JetStream key-value bucket (R3 on a
// cluster) under the same keyed hash of the person the service already stores locally, so the
// bucket says nothing more about who answered than the local store does.
//
// # Protocol
//
// A replica that takes a submission first claims its mark: Create of the key with a pending
// value (replica name, a random claim id) and a per-key TTL (Config.ClaimTTL). Create fails
// when the key exists, so of two replicas claiming at once one wins; the other reads the mark
// and answers from it: done and made by the same request (same idempotency value) is a retry,
// done otherwise is a duplicate, pending is a submission still being stored elsewhere
// (Unavailable: retry later).
//
// The winner commits its bbolt transaction (the item, the outbox event and a local record of
// the unsettled claim) only while its claim is surely still its own: the commit checks
// Claim.Live, local time before Create plus 90% of the TTL (the server cannot have expired the
// key earlier). Then Confirm turns the mark into done at the claim's revision (compare and
// swap), without the claim's TTL: a done mark lasts for the keep time given at Claim (0:
// forever). A submission refused by the local checks Releases its claim (delete at revision).
//
// # Failure modes
//
//   - Killed after the claim and before the commit: nothing is stored; the claim expires after
//     ClaimTTL and the person can submit again on any replica. Until then other replicas say
//     Unavailable, never AlreadyExists.
//   - Killed after the commit and before Confirm: the local record of the claim survives in
//     the store. The replica's settle loop (Run) confirms it at the next start, at the claim's
//     revision while the claim lives, or by creating the done mark if it expired unclaimed.
//     If the replica stays down longer than ClaimTTL and the same person submits on another
//     replica in between, the item is counted twice: the loop then finds another replica's
//     mark, logs it as a conflict and counts it (Conflicts). The window is one key-value round
//     trip after a commit, times a replica down for longer than the claim TTL.
//   - NATS unavailable: Claim fails and the service answers Unavailable, naming the cause;
//     nothing is stored. A Confirm that fails after the commit leaves the record for the loop,
//     which retries every SettleEvery.
//   - A stuck replica (paused past its claim): Live is false at commit, nothing is stored, the
//     caller gets Unavailable and may retry.
package marks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/events"
)

// Defaults for Config.
const (
	DefaultClaimTTL    = 30 * time.Second
	DefaultTimeout     = 5 * time.Second
	DefaultSettleEvery = time.Second
	// MinClaimTTL is the shortest claim a replica may take: its commit must fit in the 90%
	// of it that Live allows.
	MinClaimTTL = 2 * time.Second
)

// unsettledBucket is the bbolt bucket of the claims this replica committed and has not yet
// confirmed: key = mark key, value = a JSON record.
var unsettledBucket = []byte("marks_unsettled")

// ErrLost is returned by Confirm when the claim's mark was taken by another replica (it
// expired before Confirm): the submission was counted twice.
var ErrLost = errors.New("marks: the claim expired and another replica took the mark")

// Config configures a replica's marks.
type Config struct {
	// JS reaches JetStream. Required. The bucket is opened on first use, so a service may
	// start while NATS is down.
	JS jetstream.JetStream
	// Bucket is the key-value bucket, e.g. "voix_marks_pulse". Required.
	Bucket string
	// Replica names this replica in the marks it writes. Required.
	Replica string
	// Replicas of the bucket: 3 on a three-node cluster. Default 1.
	Replicas int
	// ClaimTTL is how long a claim outlives a replica that died before settling it, so how
	// long the person waits before submitting again. At least 2 s. Default DefaultClaimTTL.
	ClaimTTL time.Duration
	// Timeout bounds each key-value call. Default DefaultTimeout.
	Timeout time.Duration
	// DB is the replica's store, where the unsettled claims are recorded. Required.
	DB *bolt.DB
	// Update runs a write on DB: the service's group committer, so that the settle loop's
	// deletions share its commits. Default DB.Update.
	Update func(func(*bolt.Tx) error) error
	// SettleEvery is how often the settle loop runs. Default DefaultSettleEvery.
	SettleEvery time.Duration
	// Log receives the loop's errors and conflicts. Default: discarded.
	Log *slog.Logger
}

// Mark is the value of a key.
type Mark struct {
	// Done is false while the claim's submission is being stored.
	Done bool `json:"done,omitempty"`
	// Replica and Claim say who claimed it.
	Replica string `json:"replica"`
	Claim   string `json:"claim"`
	// Idem is the request's idempotency value (pulse: the marker's value), Result what a retry
	// answers (feedback: the comment id).
	Idem   []byte `json:"idem,omitempty"`
	Result string `json:"result,omitempty"`
}

// Marks is a replica's handle on the bucket.
type Marks struct {
	cfg Config

	mu        sync.Mutex
	kv        jetstream.KeyValue
	inflight  map[string]bool // keys claimed by this process, not settled yet
	settled   map[string]bool // keys whose local record can go
	conflicts atomic.Int64
}

// Replica is a service's replica settings (its --replica and --claim-ttl flags): the name,
// unique among the service's replicas, and how long its claims live. An empty Name means the
// service runs alone and keeps no marks.
type Replica struct {
	Name     string
	ClaimTTL time.Duration
}

// Start opens replica r's marks with cfg (its Replica and ClaimTTL taken from r) and runs
// their settle loop with spawn (a host's Go). Without a name it opens nothing and returns nil.
// The name must fit a durable name (events.CheckReplicaName), since the service's per-replica
// consumers end with it.
func Start(r Replica, cfg Config, spawn func(func(context.Context))) (*Marks, error) {
	if r.Name == "" {
		return nil, nil
	}
	if err := events.CheckReplicaName(r.Name); err != nil {
		return nil, fmt.Errorf("--replica: %w", err)
	}
	cfg.Replica, cfg.ClaimTTL = r.Name, r.ClaimTTL
	m, err := New(cfg)
	if err != nil {
		return nil, err
	}
	spawn(m.Run) // settles the claims a crash left unconfirmed
	return m, nil
}

// New checks cfg. It does not reach NATS.
func New(cfg Config) (*Marks, error) {
	switch {
	case cfg.JS == nil, cfg.DB == nil:
		return nil, errors.New("marks: JS and DB are required")
	case cfg.Bucket == "", cfg.Replica == "":
		return nil, errors.New("marks: Bucket and Replica are required")
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.ClaimTTL == 0 {
		cfg.ClaimTTL = DefaultClaimTTL
	}
	if cfg.ClaimTTL < MinClaimTTL {
		return nil, fmt.Errorf("marks: ClaimTTL %v: must be at least %v", cfg.ClaimTTL, MinClaimTTL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.SettleEvery <= 0 {
		cfg.SettleEvery = DefaultSettleEvery
	}
	if cfg.Update == nil {
		cfg.Update = cfg.DB.Update
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := cfg.DB.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(unsettledBucket)
		return err
	}); err != nil {
		return nil, fmt.Errorf("marks: %w", err)
	}
	return &Marks{cfg: cfg, inflight: map[string]bool{}, settled: map[string]bool{}}, nil
}

// Key is the bucket key of a keyed tag.
func Key(tag []byte) string { return hex.EncodeToString(tag) }

// bucket opens the bucket, creating it on first use.
func (m *Marks) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.kv != nil {
		return m.kv, nil
	}
	kv, err := m.cfg.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: m.cfg.Bucket, History: 1, Storage: jetstream.FileStorage, Replicas: m.cfg.Replicas,
		// Required for per-key TTLs (the claims); the markers left by an expired claim go
		// after as long again.
		LimitMarkerTTL: m.cfg.ClaimTTL,
		Description:    "voix cross-replica marks (services/platform/marks)",
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = m.cfg.JS.KeyValue(ctx, m.cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("marks bucket %s: %w", m.cfg.Bucket, err)
	}
	m.kv = kv
	return kv, nil
}

// Claim is a replica's hold on a key while it stores the submission.
type Claim struct {
	m        *Marks
	key      string
	rev      uint64
	mark     Mark
	keep     time.Duration
	deadline time.Time
}

// Claim claims the key of tag for a submission with idempotency value idem (nil: none); the
// done mark will last keep (0: forever). When another replica (or an earlier request) holds
// the key, it returns its mark instead. An error is NATS's: the caller must not store.
func (m *Marks) Claim(ctx context.Context, tag, idem []byte, keep time.Duration) (*Claim, *Mark, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	kv, err := m.bucket(ctx)
	if err != nil {
		return nil, nil, err
	}
	c := &Claim{m: m, key: Key(tag), keep: keep, mark: Mark{Replica: m.cfg.Replica, Claim: rand.Text(), Idem: idem}}
	val, err := json.Marshal(c.mark)
	if err != nil {
		return nil, nil, err
	}
	for range 3 {
		start := time.Now()
		rev, err := kv.Create(ctx, c.key, val, jetstream.KeyTTL(m.cfg.ClaimTTL))
		if err == nil {
			c.rev, c.deadline = rev, start.Add(m.cfg.ClaimTTL*9/10)
			m.mu.Lock()
			m.inflight[c.key] = true
			m.mu.Unlock()
			return c, nil, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, nil, fmt.Errorf("claim mark: %w", err)
		}
		e, err := kv.Get(ctx, c.key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue // expired or released between the two calls
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read mark: %w", err)
		}
		var prev Mark
		if err := json.Unmarshal(e.Value(), &prev); err != nil {
			return nil, nil, fmt.Errorf("read mark: %w", err)
		}
		return nil, &prev, nil
	}
	return nil, nil, errors.New("claim mark: the key keeps changing")
}

// Live says whether the claim is surely still held: a commit may rely on it only while Live.
// Nil (no cross-replica marks) is always live.
func (c *Claim) Live() bool { return c == nil || time.Now().Before(c.deadline) }

// Deadline is when the claim stops being Live.
func (c *Claim) Deadline() time.Time { return c.deadline }

// SetIdem replaces the idempotency value the done mark will hold (pulse: the local marker's,
// when the local store already had one).
func (c *Claim) SetIdem(idem []byte) {
	if c != nil {
		c.mark.Idem = idem
	}
}

// record is what the store keeps of an unsettled claim.
type record struct {
	Mark
	Rev  uint64        `json:"rev"`
	Keep time.Duration `json:"keep,omitempty"`
}

// UnsafeRecord records the claim in tx, the transaction that stores its submission, with the
// result a retry will get. Nil does nothing.
func (c *Claim) UnsafeRecord(tx *bolt.Tx, result string) error {
	if c == nil {
		return nil
	}
	c.mark.Result = result
	v, err := json.Marshal(record{Mark: c.mark, Rev: c.rev, Keep: c.keep})
	if err != nil {
		return err
	}
	return tx.Bucket(unsettledBucket).Put([]byte(c.key), v)
}

// Confirm makes the mark done (after the submission was committed). On failure the record
// stays for the settle loop; ErrLost means another replica took the mark. Nil does nothing.
func (c *Claim) Confirm(ctx context.Context) error {
	if c == nil {
		return nil
	}
	m := c.m
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	err := m.done(ctx, c.key, c.mark, c.rev, c.keep)
	m.mu.Lock()
	delete(m.inflight, c.key)
	if err == nil {
		m.settled[c.key] = true
	}
	m.mu.Unlock()
	return err
}

// Release gives the claim up (the submission was not stored). Nil does nothing.
func (c *Claim) Release(ctx context.Context) error {
	if c == nil {
		return nil
	}
	m := c.m
	m.mu.Lock()
	delete(m.inflight, c.key)
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	kv, err := m.bucket(ctx)
	if err != nil {
		return err
	}
	err = kv.Delete(ctx, c.key, jetstream.LastRevision(c.rev))
	if wrongSequence(err) || errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil // expired, and maybe taken since: not ours to delete
	}
	return err
}

// wrongSequence reports a compare-and-swap conflict: the key is not at the expected revision.
func wrongSequence(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// done writes mark as done at revision rev, keeping it keep (0: forever). A mark already done
// by the same claim is success.
func (m *Marks) done(ctx context.Context, key string, mark Mark, rev uint64, keep time.Duration) error {
	kv, err := m.bucket(ctx)
	if err != nil {
		return err
	}
	mark.Done = true
	val, err := json.Marshal(mark)
	if err != nil {
		return err
	}
	opts := []jetstream.PublishOpt{jetstream.WithExpectLastSequencePerSubject(rev)}
	if keep > 0 {
		opts = append(opts, jetstream.WithMsgTTL(max(keep, time.Second)))
	}
	_, err = m.cfg.JS.Publish(ctx, "$KV."+m.cfg.Bucket+"."+key, val, opts...)
	if err == nil {
		return nil
	}
	if !wrongSequence(err) {
		return fmt.Errorf("confirm mark: %w", err)
	}
	e, gerr := kv.Get(ctx, key)
	if gerr != nil && !errors.Is(gerr, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("confirm mark: %w", gerr)
	}
	if gerr == nil {
		var cur Mark
		if json.Unmarshal(e.Value(), &cur) == nil && cur.Claim == mark.Claim && cur.Done {
			return nil
		}
	}
	return ErrLost
}

// Conflicts counts the claims found, when settled, to have been taken by another replica
// after they expired: submissions counted twice. It should stay 0.
func (m *Marks) Conflicts() int64 { return m.conflicts.Load() }

// Run settles the claims recorded in the store until ctx is done: at once, then every
// SettleEvery. A claim recorded before a restart is confirmed at its revision while it
// lives, created done if it expired and no one took it, and counted as a conflict if another
// replica did. Settled records are deleted.
func (m *Marks) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.SettleEvery)
	defer t.Stop()
	for {
		if _, err := m.Settle(ctx); err != nil && ctx.Err() == nil {
			m.cfg.Log.Warn("marks: settle claims", "bucket", m.cfg.Bucket, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Settle runs one pass of Run and returns how many records are left.
func (m *Marks) Settle(ctx context.Context) (int, error) {
	var recs = map[string]record{}
	if err := m.cfg.DB.View(func(tx *bolt.Tx) error {
		return tx.Bucket(unsettledBucket).ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("unsettled claim record: %w", err)
			}
			recs[string(k)] = r
			return nil
		})
	}); err != nil {
		return 0, err
	}
	var firstErr error
	for key, r := range recs {
		m.mu.Lock()
		skip := m.inflight[key] || m.settled[key]
		m.mu.Unlock()
		if skip {
			continue
		}
		err := m.settleOne(ctx, key, r)
		switch {
		case errors.Is(err, ErrLost):
			m.conflicts.Add(1)
			m.cfg.Log.Error("marks: a claim expired before it was confirmed and another replica took the mark: one submission counted twice",
				"bucket", m.cfg.Bucket, "replica", m.cfg.Replica)
		case err != nil:
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		m.mu.Lock()
		m.settled[key] = true
		m.mu.Unlock()
	}
	m.mu.Lock()
	var gone [][]byte
	for k := range m.settled {
		gone = append(gone, []byte(k))
	}
	m.mu.Unlock()
	if len(gone) > 0 {
		if err := m.cfg.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(unsettledBucket)
			for _, k := range gone {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return len(recs), err
		}
		m.mu.Lock()
		for _, k := range gone {
			delete(m.settled, string(k))
		}
		m.mu.Unlock()
	}
	left := 0
	for k := range recs {
		if !slices.ContainsFunc(gone, func(g []byte) bool { return string(g) == k }) {
			left++
		}
	}
	return left, firstErr
}

// settleOne settles one recorded claim.
func (m *Marks) settleOne(ctx context.Context, key string, r record) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	kv, err := m.bucket(ctx)
	if err != nil {
		return err
	}
	e, err := kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted):
		// Expired unclaimed: write it done again.
		mark := r.Mark
		mark.Done = true
		val, err := json.Marshal(mark)
		if err != nil {
			return err
		}
		var opts []jetstream.KVCreateOpt
		if r.Keep > 0 {
			opts = append(opts, jetstream.KeyTTL(max(r.Keep, time.Second)))
		}
		if _, err := kv.Create(ctx, key, val, opts...); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				return fmt.Errorf("settle mark: taken meanwhile, next pass decides")
			}
			return fmt.Errorf("settle mark: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("settle mark: %w", err)
	}
	var cur Mark
	if err := json.Unmarshal(e.Value(), &cur); err != nil {
		return fmt.Errorf("settle mark: %w", err)
	}
	if cur.Claim != r.Claim {
		return ErrLost
	}
	if cur.Done {
		return nil
	}
	return m.done(ctx, key, r.Mark, e.Revision(), r.Keep)
}
