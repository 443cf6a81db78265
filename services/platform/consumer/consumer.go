// Package consumer runs durable JetStream consumers whose every event is applied exactly once
// to a service's bbolt store: the handler's changes and the event's id are written in one
// transaction, and the message is acknowledged only after it commits. A redelivery (lost ack,
// crash before the ack, a republish outside JetStream's duplicate window) finds the id already
// recorded and changes nothing.
package consumer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/bus"
)

// ProcessedBucketName is the top-level bucket that records applied event ids, in one nested
// bucket per durable consumer name: two consumers of one store that receive the same event
// (say, a live consumer and a rebuild) each apply it once. Values are the day applied (Unix
// seconds of its UTC midnight, big-endian), for pruning: never the instant.
const ProcessedBucketName = "processed_events"

var processedBucket = []byte(ProcessedBucketName)

// ErrPermanent marks input that can never be applied (an undecodable payload, a reference
// that cannot exist). A Handler wraps it (fmt.Errorf("...: %w", consumer.ErrPermanent)); the
// message is then terminated and logged, never retried. Any other error is retried.
var ErrPermanent = errors.New("consumer: permanent failure")

// Handler applies ev within tx. Its changes commit together with the record of ev.ID, or not
// at all. It must not keep slices read from tx after it returns.
type Handler func(tx *bolt.Tx, ev bus.Event) error

// Defaults for Config.
const (
	DefaultAckWait       = 30 * time.Second
	DefaultMaxDeliver    = -1
	DefaultBatch         = 64
	DefaultRetryDelay    = time.Second
	DefaultMaxRetryDelay = time.Minute
)

// stopTimeout bounds each wait in Stop.
const stopTimeout = 2 * time.Second

// Config configures a durable consumer.
type Config struct {
	// Stream to consume, e.g. "FEEDBACK" (events.Feedback.Name). Required.
	Stream string
	// Durable is the consumer's name, kept by the server across restarts, and the scope of
	// the applied event ids in the store. Required.
	Durable string
	// FilterSubjects restricts the subjects consumed. Default: the whole stream.
	FilterSubjects []string
	// DB is the store the handler writes to. Required.
	DB *bolt.DB
	// Handle applies one event. Required.
	Handle Handler
	// Log receives one line per failure. Default: discarded.
	Log *slog.Logger
	// AckWait is how long the server waits for an ack before redelivering. Default 30s.
	AckWait time.Duration
	// MaxDeliver is how many times a message is delivered before the server gives up on it.
	// Default -1, unlimited: an event given up on would be missing from the aggregates
	// forever. Input that can never succeed is terminated through ErrPermanent instead, and
	// transient failures back off (RetryDelay), so unlimited does not mean a hot loop.
	MaxDeliver int
	// Batch is how many messages the client buffers ahead of the handler. Default 64: AckWait
	// runs while they wait, so the buffer is sized to what one handler applies well within it.
	Batch int
	// Workers is how many messages are applied at once. Default 1: in order, one bbolt commit
	// (two fsyncs) per event. More workers apply through db.Batch, which shares commits
	// between them (much higher throughput, e.g. for a rebuild) but applies them in no
	// particular order, and may run a Handler twice in a transaction that is then rolled back:
	// a Handler must then have no effect outside tx.
	Workers int
	// RetryDelay is the delay before the first redelivery after a transient failure; it
	// doubles with each delivery, up to MaxRetryDelay. Defaults 1s and 1 minute.
	RetryDelay, MaxRetryDelay time.Duration
}

// Check reports what Start would refuse in c (a missing stream, durable, store or handler)
// without reaching NATS, so that a caller that starts consumers later (the service host,
// while NATS is away) can refuse a bad one at once.
func (c Config) Check() error { return c.validate() }

func (c *Config) validate() error {
	switch {
	case c.Stream == "":
		return errors.New("consumer: Config.Stream is required (e.g. FEEDBACK, events.Feedback.Name)")
	case c.Durable == "":
		return errors.New("consumer: Config.Durable is required (a stable name per service and purpose)")
	case c.DB == nil:
		return fmt.Errorf("consumer %s: Config.DB is required", c.Durable)
	case c.Handle == nil:
		return fmt.Errorf("consumer %s: Config.Handle is required", c.Durable)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	if c.Workers <= 0 {
		c.Workers = 1
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = DefaultRetryDelay
	}
	if c.MaxRetryDelay <= 0 {
		c.MaxRetryDelay = DefaultMaxRetryDelay
	}
	return nil
}

// Consumer is a running durable consumer.
type Consumer struct {
	cfg      Config
	js       jetstream.JetStream
	log      *slog.Logger
	cc       jetstream.ConsumeContext
	mu       sync.Mutex
	stopped  bool
	inflight sync.WaitGroup
	slots    chan struct{} // one per worker
	done     chan struct{}
	stopOnce sync.Once
}

// Start creates the durable consumer (or updates its configuration), delivering from the
// first message of the stream for a new durable, and starts consuming. It stops when ctx is
// done or on Stop.
func Start(ctx context.Context, js jetstream.JetStream, cfg Config) (*Consumer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := ensureProcessed(cfg.DB); err != nil {
		return nil, err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, cfg.Stream, jetstream.ConsumerConfig{
		Durable:        cfg.Durable,
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckWait:        cfg.AckWait,
		MaxDeliver:     cfg.MaxDeliver,
		FilterSubjects: cfg.FilterSubjects,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: create on stream %s: %w", cfg.Durable, cfg.Stream, err)
	}
	c := &Consumer{
		cfg:   cfg,
		js:    js,
		log:   cfg.Log.With("consumer", cfg.Durable, "stream", cfg.Stream),
		done:  make(chan struct{}),
		slots: make(chan struct{}, cfg.Workers),
	}
	c.cc, err = cons.Consume(c.handle,
		jetstream.PullMaxMessages(cfg.Batch),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			// Mostly connection trouble during a NATS restart; Consume recovers by itself.
			c.log.Debug("consume", "err", err)
		}))
	if err != nil {
		return nil, fmt.Errorf("consumer %s: consume: %w", cfg.Durable, err)
	}
	go func() {
		select {
		case <-ctx.Done():
			c.Stop()
		case <-c.done:
		}
	}()
	return c, nil
}

// Stop stops fetching and waits for the event being applied, if any. Buffered messages not
// applied are redelivered later. Safe to call more than once.
func (c *Consumer) Stop() {
	c.stopOnce.Do(func() {
		c.mu.Lock()
		c.stopped = true
		c.mu.Unlock()
		c.cc.Stop()
		c.inflight.Wait()
		// Make sure the server has dropped our pull request before returning: a message it
		// delivered to a request nobody reads would wait AckWait before going to the next
		// consumer instance.
		select {
		case <-c.cc.Closed():
		case <-time.After(stopTimeout):
		}
		if nc := c.js.Conn(); nc != nil && nc.IsConnected() {
			_ = nc.FlushTimeout(stopTimeout)
		}
		close(c.done)
	})
}

func (c *Consumer) handle(m jetstream.Msg) {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		_ = m.Nak() // hand it back at once rather than after AckWait
		return
	}
	c.inflight.Add(1)
	c.mu.Unlock()
	if c.cfg.Workers == 1 {
		defer c.inflight.Done()
		c.process(m, Apply)
		return
	}
	c.slots <- struct{}{}
	go func() {
		defer func() { <-c.slots; c.inflight.Done() }()
		c.process(m, ApplyBatch)
	}()
}

func (c *Consumer) process(m jetstream.Msg, apply func(*bolt.DB, string, Handler, bus.Event) (bool, error)) {
	ev, err := bus.EventFromMsg(m)
	if err != nil {
		c.log.Error("terminating undecodable message", "seq", seq(m), "err", err)
		_ = m.TermWithReason("undecodable envelope")
		return
	}
	applied, err := apply(c.cfg.DB, c.cfg.Durable, c.cfg.Handle, ev)
	switch {
	case err == nil:
		if !applied {
			c.log.Debug("event already applied", "type", ev.Type, "seq", seq(m))
		}
		// A lost ack means a redelivery, which Apply absorbs.
		_ = m.Ack()
	case errors.Is(err, ErrPermanent):
		c.log.Error("terminating event that can never be applied", "type", ev.Type, "seq", seq(m), "err", err)
		_ = m.TermWithReason(trim(err.Error(), 200))
	default:
		delay := c.retryDelay(m)
		c.log.Warn("event not applied, will retry", "type", ev.Type, "seq", seq(m), "err", err, "retry_in", delay)
		_ = m.NakWithDelay(delay)
	}
}

// seq is the message's stream sequence, which is how log lines name an event: never by its id
// or subject, which name an item or a team next to the log line's exact time. The stream
// already holds the sequence with its own receive time, so the log adds nothing to it.
func seq(m jetstream.Msg) uint64 {
	md, err := m.Metadata()
	if err != nil {
		return 0
	}
	return md.Sequence.Stream
}

func (c *Consumer) retryDelay(m jetstream.Msg) time.Duration {
	d := c.cfg.RetryDelay
	md, err := m.Metadata()
	if err != nil {
		return d
	}
	for n := uint64(1); n < md.NumDelivered && d < c.cfg.MaxRetryDelay; n++ {
		d *= 2
	}
	return min(d, c.cfg.MaxRetryDelay)
}

func trim(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func ensureProcessed(db *bolt.DB) error {
	err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(processedBucket)
		return err
	})
	if err != nil {
		return fmt.Errorf("consumer: create bucket %s: %w", ProcessedBucketName, err)
	}
	return nil
}

// Apply applies ev with h in one db.Update, unless ev.ID was already applied under durable:
// then it returns applied=false and changes nothing. On error nothing is written, and ev can
// be applied again. Start uses it for every message; tests call it to simulate deliveries.
func Apply(db *bolt.DB, durable string, h Handler, ev bus.Event) (applied bool, err error) {
	return apply(db.Update, durable, h, ev)
}

// ApplyBatch is Apply through db.Batch: concurrent callers share a commit. h may run more
// than once (in a transaction that is rolled back), so it must have no effect outside tx.
func ApplyBatch(db *bolt.DB, durable string, h Handler, ev bus.Event) (applied bool, err error) {
	return apply(db.Batch, durable, h, ev)
}

func apply(update func(func(*bolt.Tx) error) error, durable string, h Handler, ev bus.Event) (applied bool, err error) {
	if durable == "" {
		return false, errors.New("consumer: Apply needs the durable name that scopes applied ids")
	}
	if ev.ID == "" {
		return false, fmt.Errorf("consumer %s: event without id: %w", durable, ErrPermanent)
	}
	err = update(func(tx *bolt.Tx) error {
		applied = false // a Batch may run this again after a rollback
		seen, err := seenBucket(tx, durable)
		if err != nil {
			return err
		}
		if seen.Get([]byte(ev.ID)) != nil {
			return nil
		}
		if err := h(tx, ev); err != nil {
			return err
		}
		if err := record(seen, ev.ID); err != nil {
			return err
		}
		applied = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("consumer %s: apply %s %s: %w", durable, ev.Type, ev.ID, err)
	}
	return applied, nil
}

// UnsafeRecord records in tx that the event id was applied under durable, and reports whether
// it already was. A replay that applies events itself (a rebuild, with the live consumer
// stopped) uses it so that the live consumer, once restarted, skips what the replay applied.
func UnsafeRecord(tx *bolt.Tx, durable, id string) (already bool, err error) {
	seen, err := seenBucket(tx, durable)
	if err != nil {
		return false, err
	}
	if seen.Get([]byte(id)) != nil {
		return true, nil
	}
	return false, record(seen, id)
}

// Applied reports whether the event id was recorded as applied under durable.
func Applied(tx *bolt.Tx, durable, id string) bool {
	root := tx.Bucket(processedBucket)
	if root == nil {
		return false
	}
	seen := root.Bucket([]byte(durable))
	return seen != nil && seen.Get([]byte(id)) != nil
}

func seenBucket(tx *bolt.Tx, durable string) (*bolt.Bucket, error) {
	root, err := tx.CreateBucketIfNotExists(processedBucket)
	if err != nil {
		return nil, err
	}
	return root.CreateBucketIfNotExists([]byte(durable))
}

// record notes id as applied, with the day it was (for pruning), never the instant: the id
// names an item, and the time it reached this service is close to the time its author spoke.
func record(seen *bolt.Bucket, id string) error {
	v := make([]byte, 8)
	binary.BigEndian.PutUint64(v, uint64(bus.Day(time.Now()).Unix()))
	return seen.Put([]byte(id), v)
}
