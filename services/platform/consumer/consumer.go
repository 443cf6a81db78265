// Package consumer runs durable JetStream consumers whose every event is applied exactly once
// to a service's bbolt store: the handler's changes and the event's id are written in one
// transaction, and the message is acknowledged only after it commits. A redelivery (lost ack,
// crash before the ack, a republish outside JetStream's duplicate window) finds the id already
// recorded and changes nothing.
//
// For volume, a consumer can apply many events per transaction (Config.Group): one commit,
// then all their acks. Applied ids can be pruned once no copy of their event can arrive any
// more (Config.KeepApplied).
package consumer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
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

// ErrNotYet marks input that refers to something this store does not know yet but may learn
// from another stream (a segment whose registration is still on its way). It is retried like
// any transient failure, but only for Config.WaitFor: then the message is terminated and
// logged, so that a reference that never becomes known does not hold an ack-pending slot and
// come back once a minute forever.
var ErrNotYet = errors.New("consumer: not applicable yet")

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

// PruneEvery is how often a consumer with KeepApplied prunes its applied ids, and
// pruneChunk how many ids one pruning transaction deletes at most.
const (
	PruneEvery = time.Hour
	pruneChunk = 10_000
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
	// Flush, if set, runs in every transaction that applied events, after the last of them
	// and before the commit: a handler that keeps what many events change in memory (say,
	// records it would otherwise read and write once per event) writes it here. An error
	// rolls the transaction back, as the handler's would.
	Flush func(tx *bolt.Tx) error
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
	// Group is the most events applied in one bbolt transaction. Default 1: one commit per
	// event. With more, the consumer takes the messages it has received, up to Group, applies
	// them in delivery order in one transaction, commits, and then acks them all: one commit
	// (two fsyncs) for the lot. If the handler fails on any of them, that transaction is
	// rolled back and each message is applied alone, as with Group 1, so a failing event
	// is retried or terminated on its own and never holds the others back. A Handler may
	// thus run twice for one event, the first time in a transaction rolled back: it must have
	// no effect outside tx. Group and Workers cannot both be above 1. Batch is raised to at
	// least 2×Group, so that a group can fill while the previous one commits.
	Group int
	// KeepApplied is how long the ids of applied events are kept. Default 0: forever; else at
	// least a day. Ids recorded before that many days (rounded up to whole days, and never
	// less than twice the stream's duplicate window plus a day) are deleted once an hour: a
	// copy of an event (a redelivery, a republish by an outbox) must arrive within it to be
	// recognised, which a republish within the stream's duplicate window always is anyway.
	KeepApplied time.Duration
	// WaitFor bounds the retries of an event whose handler fails with ErrNotYet: once the
	// delays between its deliveries to this consumer (RetryDelay, doubling up to
	// MaxRetryDelay) add up to WaitFor, it is terminated with a warning, and OnGiveUp is
	// called. It counts deliveries, which the server keeps per consumer across restarts, so
	// it is at least WaitFor since the first delivery whatever the event's own time (a
	// consumer catching up on old events gives each the full WaitFor). Default 0: forever.
	WaitFor time.Duration
	// OnGiveUp, if set, is called for each event terminated under WaitFor (say, a metric).
	OnGiveUp func(ev bus.Event, err error)
	// Prepare, if set, runs with the events of each group (Group above 1) in delivery order
	// before their transaction, outside it and off the store: the work on an event that reads
	// nothing of the store (decoding it, scoring its text), which it may spread over several
	// goroutines, for Handle to find (by event id) instead of doing it in the transaction, where
	// only one goroutine works. While one group is applied, the next is gathered from what has
	// arrived and prepared, so that preparing overlaps the transaction and its commit. Handle
	// must give the same result whether or not it finds what Prepare did (an event applied
	// alone after its group failed, or redelivered, may or may not be prepared). Release, if
	// not nil, is called once the group is done (acked, retried or terminated). Batch is
	// raised to at least 3×Group: a group applied, the next prepared, and one arriving.
	Prepare func(evs []bus.Event) (release func())
	// Writer, if set, runs the consumer's write transactions instead of DB.Update (and
	// DB.Batch): a group committer (platform/groupcommit) shared with the service's other
	// writers, so that applying events rides in their commits instead of holding the writer
	// lock, and taking two fsyncs, between them. Its function may run more than once (in a
	// transaction then rolled back), so Handle and Flush must have no effect outside tx, as
	// with Group or Workers above 1. Events are still acked only once their commit returned.
	Writer Writer
}

// Writer runs a write transaction and returns once it is committed: (*bolt.DB).Update, or a
// group committer that shares one commit among many writers.
type Writer interface {
	Update(fn func(*bolt.Tx) error) error
}

// update is the consumer's write transaction: through Writer, or DB.Update.
func (c *Config) update() func(func(*bolt.Tx) error) error {
	if c.Writer != nil {
		return c.Writer.Update
	}
	return c.DB.Update
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
	if c.Group <= 0 {
		c.Group = 1
	}
	if c.Group > 1 && c.Workers > 1 {
		return fmt.Errorf("consumer %s: Config.Group and Config.Workers cannot both be above 1", c.Durable)
	}
	if c.Group > 1 {
		c.Batch = max(c.Batch, 2*c.Group)
		if c.Prepare != nil { // one group applied, one prepared, one arriving
			c.Batch = max(c.Batch, 3*c.Group)
		}
	}
	if c.WaitFor < 0 {
		return fmt.Errorf("consumer %s: Config.WaitFor must be 0 (retry forever) or positive, not %v", c.Durable, c.WaitFor)
	}
	if c.KeepApplied < 0 || (c.KeepApplied > 0 && c.KeepApplied < 24*time.Hour) {
		return fmt.Errorf("consumer %s: Config.KeepApplied must be 0 (keep forever) or at least a day", c.Durable)
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
	slots    chan struct{}      // one per worker
	queue    chan jetstream.Msg // with Group > 1: received, not yet applied
	quit     chan struct{}      // closed once Stop has waited for everything in flight
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
		MaxAckPending:  maxAckPending(cfg),
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: create on stream %s: %w", cfg.Durable, cfg.Stream, err)
	}
	c := &Consumer{
		cfg:   cfg,
		js:    js,
		log:   cfg.Log.With("consumer", cfg.Durable, "stream", cfg.Stream),
		done:  make(chan struct{}),
		quit:  make(chan struct{}),
		slots: make(chan struct{}, cfg.Workers),
	}
	if cfg.Group > 1 {
		c.queue = make(chan jetstream.Msg, cfg.Group)
		go c.groupLoop()
	}
	if cfg.KeepApplied > 0 {
		go c.pruneLoop()
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

// serverMaxAckPending is the server's default limit of messages delivered and not yet acked.
const serverMaxAckPending = 1000

// maxAckPending is the consumer's limit of messages awaiting an ack: the server's default (0),
// unless groups are acked only after their commit and Batch (at least two groups) is above
// it; then Batch, or a group could never fill beyond the server's limit.
func maxAckPending(cfg Config) int {
	if cfg.Group > 1 && cfg.Batch > serverMaxAckPending {
		return cfg.Batch
	}
	return 0
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
		close(c.quit)
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
	if c.queue != nil {
		c.queue <- m // groupLoop applies it and marks it done
		return
	}
	if c.cfg.Workers == 1 {
		defer c.inflight.Done()
		c.process(m, c.applyOne)
		return
	}
	c.slots <- struct{}{}
	go func() {
		defer func() { <-c.slots; c.inflight.Done() }()
		c.process(m, c.applyBatch)
	}()
}

func (c *Consumer) applyOne(ev bus.Event) (bool, error) {
	return apply(c.cfg.update(), c.cfg.Durable, c.cfg.Handle, c.cfg.Flush, ev)
}

func (c *Consumer) applyBatch(ev bus.Event) (bool, error) {
	if c.cfg.Writer != nil {
		return apply(c.cfg.Writer.Update, c.cfg.Durable, c.cfg.Handle, c.cfg.Flush, ev)
	}
	return apply(c.cfg.DB.Batch, c.cfg.Durable, c.cfg.Handle, c.cfg.Flush, ev)
}

func (c *Consumer) process(m jetstream.Msg, apply func(bus.Event) (bool, error)) {
	ev, err := bus.EventFromMsg(m)
	if err != nil {
		c.log.Error("terminating undecodable message", "seq", seq(m), "err", err)
		_ = m.TermWithReason("undecodable envelope")
		return
	}
	applied, err := apply(ev)
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
	case errors.Is(err, ErrNotYet) && c.cfg.WaitFor > 0 && c.waited(m) >= c.cfg.WaitFor:
		c.log.Warn("terminating event still not applicable after retrying for WaitFor", "type", ev.Type, "seq", seq(m), "err", err,
			"rule", fmt.Sprintf("an event that refers to what this store does not know is retried for %v, then terminated", c.cfg.WaitFor))
		_ = m.TermWithReason(trim("not applicable after "+c.cfg.WaitFor.String()+": "+err.Error(), 200))
		if c.cfg.OnGiveUp != nil {
			c.cfg.OnGiveUp(ev, err)
		}
	default:
		delay := c.retryDelay(m)
		c.log.Warn("event not applied, will retry", "type", ev.Type, "seq", seq(m), "err", err, "retry_in", delay)
		_ = m.NakWithDelay(delay)
	}
}

// groupLoop applies the queued messages, as many at once as have arrived (up to Group), until
// Stop has seen every one of them done. With Prepare, the next group is gathered and prepared
// while one is applied.
func (c *Consumer) groupLoop() {
	var next *group
	for {
		g := next
		next = nil
		if g == nil {
			select {
			case m := <-c.queue:
				g = c.gather(m)
			case <-c.quit:
				return
			}
		}
		<-g.ready
		if c.cfg.Prepare != nil && len(c.queue) == cap(c.queue) {
			// A whole group is waiting (a backlog): prepare it while g is applied. With less
			// (light traffic, or the server still sending), it waits for g's commit and grows.
			next = c.gather(<-c.queue)
		}
		c.processGroup(g)
		if g.release != nil {
			g.release()
		}
		for range g.msgs {
			c.inflight.Done()
		}
	}
}

// group is the messages of one transaction: received (msgs), and once ready is closed, decoded
// (evs, of msgs ok; the others were terminated) and prepared (release).
type group struct {
	msgs, ok []jetstream.Msg
	evs      []bus.Event
	release  func()
	ready    chan struct{}
}

// gather takes first and the messages already queued after it, up to Group, and decodes and
// prepares them: on a goroutine of its own with Prepare, so that it overlaps the transaction
// of the group before.
func (c *Consumer) gather(first jetstream.Msg) *group {
	g := &group{msgs: []jetstream.Msg{first}, ready: make(chan struct{})}
fill:
	for len(g.msgs) < c.cfg.Group {
		select {
		case m := <-c.queue:
			g.msgs = append(g.msgs, m)
		default:
			break fill
		}
	}
	decode := func() {
		defer close(g.ready)
		g.evs, g.ok = make([]bus.Event, 0, len(g.msgs)), make([]jetstream.Msg, 0, len(g.msgs))
		for _, m := range g.msgs {
			ev, err := bus.EventFromMsg(m)
			if err != nil {
				c.log.Error("terminating undecodable message", "seq", seq(m), "err", err)
				_ = m.TermWithReason("undecodable envelope")
				continue
			}
			g.evs, g.ok = append(g.evs, ev), append(g.ok, m)
		}
		if c.cfg.Prepare != nil && len(g.evs) > 0 {
			g.release = c.cfg.Prepare(g.evs)
		}
	}
	if c.cfg.Prepare == nil {
		decode()
	} else {
		go decode()
	}
	return g
}

// processGroup applies the events of g in one transaction and acks them all once it commits;
// if that fails, it applies each alone.
func (c *Consumer) processGroup(g *group) {
	if len(g.evs) == 0 {
		return
	}
	if _, err := applyGroup(c.cfg.update(), c.cfg.Durable, c.cfg.Handle, c.cfg.Flush, g.evs); err != nil {
		c.log.Debug("group not applied; applying its events one by one", "events", len(g.evs), "err", err)
		for _, m := range g.ok {
			c.process(m, c.applyOne)
		}
		return
	}
	for _, m := range g.ok {
		_ = m.Ack()
	}
}

// pruneLoop deletes applied ids older than KeepApplied, or than twice the stream's duplicate
// window plus a day if that is longer, now and then every PruneEvery, until Stop. A stream
// whose configuration cannot be read (a NATS user without the right) counts with KeepApplied,
// which is at least a day: far beyond JetStream's default duplicate window of 2 minutes.
func (c *Consumer) pruneLoop() {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	keep := StreamHorizon(ctx, c.js, c.cfg.Stream, c.cfg.KeepApplied)
	cancel()
	t := time.NewTicker(PruneEvery)
	defer t.Stop()
	for {
		n, err := Prune(c.cfg.DB, c.cfg.Durable, time.Now().Add(-keep))
		if err != nil {
			c.log.Warn("prune applied ids", "err", err)
		} else if n > 0 {
			c.log.Debug("pruned applied ids", "ids", n)
		}
		select {
		case <-t.C:
		case <-c.done:
			return
		}
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

// Horizon is how long applied ids are kept given KeepApplied keep and the stream's duplicate
// window: keep, or twice the window plus a day if that is longer, so that any copy of an event
// that JetStream's deduplication would not catch still finds its id. The one rule for every
// reader that records applied ids (a durable consumer, a partitioned replica).
func Horizon(keep, duplicates time.Duration) time.Duration {
	return max(keep, 2*duplicates+24*time.Hour)
}

// StreamHorizon is Horizon with stream's duplicate window, read from the server; keep alone
// if the stream's configuration cannot be read (a NATS user without the right): keep is at
// least a day, far beyond JetStream's default duplicate window of 2 minutes.
func StreamHorizon(ctx context.Context, js jetstream.JetStream, stream string, keep time.Duration) time.Duration {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return keep
	}
	return Horizon(keep, st.CachedInfo().Config.Duplicates)
}

// waited is how long m has been retried at the least: the sum of the delays retryDelay gave
// after each of its deliveries but the last.
func (c *Consumer) waited(m jetstream.Msg) time.Duration {
	md, err := m.Metadata()
	if err != nil {
		return 0
	}
	var sum time.Duration
	d := c.cfg.RetryDelay
	for n := uint64(1); n < md.NumDelivered && sum < c.cfg.WaitFor; n++ {
		sum += d
		d = min(2*d, c.cfg.MaxRetryDelay)
	}
	return sum
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
	return apply(db.Update, durable, h, nil, ev)
}

// ApplyBatch is Apply through db.Batch: concurrent callers share a commit. h may run more
// than once (in a transaction that is rolled back), so it must have no effect outside tx.
func ApplyBatch(db *bolt.DB, durable string, h Handler, ev bus.Event) (applied bool, err error) {
	return apply(db.Batch, durable, h, nil, ev)
}

func apply(update func(func(*bolt.Tx) error) error, durable string, h Handler, flush func(*bolt.Tx) error, ev bus.Event) (applied bool, err error) {
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
		if flush != nil {
			return flush(tx)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("consumer %s: apply %s %s: %w", durable, ev.Type, ev.ID, err)
	}
	return applied, nil
}

// ApplyGroup applies evs with h in one db.Update, in order, skipping those already applied
// under durable (applied[i] false), and commits once. On error nothing is written: the caller
// can apply each event alone to find the one that fails. h may run again for the same event in
// a later transaction, so it must have no effect outside tx.
func ApplyGroup(db *bolt.DB, durable string, h Handler, evs []bus.Event) (applied []bool, err error) {
	return ApplyGroupFlush(db, durable, h, nil, evs)
}

// ApplyGroupFlush is ApplyGroup with Config.Flush: flush, if not nil, runs after the last
// event applied, before the commit.
func ApplyGroupFlush(db *bolt.DB, durable string, h Handler, flush func(*bolt.Tx) error, evs []bus.Event) (applied []bool, err error) {
	return applyGroup(db.Update, durable, h, flush, evs)
}

func applyGroup(update func(func(*bolt.Tx) error) error, durable string, h Handler, flush func(*bolt.Tx) error, evs []bus.Event) (applied []bool, err error) {
	if durable == "" {
		return nil, errors.New("consumer: ApplyGroup needs the durable name that scopes applied ids")
	}
	for _, ev := range evs {
		if ev.ID == "" {
			return nil, fmt.Errorf("consumer %s: event without id: %w", durable, ErrPermanent)
		}
	}
	applied = make([]bool, len(evs))
	day := dayValue(time.Now())
	err = update(func(tx *bolt.Tx) error {
		clear(applied) // a Writer may run this again after a rollback
		seen, err := seenBucket(tx, durable)
		if err != nil {
			return err
		}
		for i, ev := range evs {
			if seen.Get([]byte(ev.ID)) != nil {
				continue // applied before, or earlier in this group
			}
			if err := h(tx, ev); err != nil {
				return fmt.Errorf("apply %s %s: %w", ev.Type, ev.ID, err)
			}
			if err := seen.Put([]byte(ev.ID), day); err != nil {
				return err
			}
			applied[i] = true
		}
		if flush != nil && slices.Contains(applied, true) {
			return flush(tx)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: group of %d: %w", durable, len(evs), err)
	}
	return applied, nil
}

// Prune deletes the ids applied under durable on a day before the one of before, and returns
// how many it deleted. A copy of such an event arriving later would be applied again: callers
// keep ids longer than any copy can take to arrive (Config.KeepApplied).
func Prune(db *bolt.DB, durable string, before time.Time) (int, error) {
	limit := uint64(bus.Day(before).Unix())
	total := 0
	var after []byte
	for {
		n, next := 0, []byte(nil)
		err := db.Update(func(tx *bolt.Tx) error {
			root := tx.Bucket(processedBucket)
			if root == nil {
				return nil
			}
			seen := root.Bucket([]byte(durable))
			if seen == nil {
				return nil
			}
			c := seen.Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
			}
			scanned := 0
			for ; k != nil && n < pruneChunk && scanned < 10*pruneChunk; scanned++ {
				if len(v) == 8 && binary.BigEndian.Uint64(v) < limit {
					deleted := bytes.Clone(k)
					if err := c.Delete(); err != nil {
						return err
					}
					n++
					k, v = c.Seek(deleted) // the first key after the deleted one
					continue
				}
				k, v = c.Next()
			}
			if k != nil {
				next = bytes.Clone(k)
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("consumer %s: prune applied ids: %w", durable, err)
		}
		total += n
		if next == nil {
			return total, nil
		}
		after = next
	}
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
	return seen.Put([]byte(id), dayValue(time.Now()))
}

// dayValue is the value of an applied id: the UTC day of t, in Unix seconds, big-endian.
func dayValue(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(bus.Day(t).Unix()))
}
