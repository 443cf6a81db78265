package sentiment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/platform/anonymity/release"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

// rebuildChunk is how many events one transaction of a rebuild applies at most. Each commit
// rewrites the pages the transaction changed and syncs them; a week's aggregates and
// contributors are the same few pages for every event, so bigger transactions write fewer
// pages per event (200k events: 8,909 pages at 20,000, 18,502 at 2,000) and hold a few MB.
// The staging is thrown away if the process dies before the swap, but it shares the file and
// the commits of the live store, whose durability (acked = synced) is not weakened for it.
const rebuildChunk = 20000

// source is one kind of event the aggregates are computed from, with the durable consumer
// that applies it live and the handlers of the live consumer and of a rebuild. Start and the
// rebuild both take their streams and filters from here.
type source struct {
	stream, subject, durable string
	live                     consumer.Handler
	apply                    func(tx *bolt.Tx, rb rollup.Buckets, ev bus.Event, emit bool) error
	// windows lists the windows of an event's contributor tags (ok false: it cannot be read).
	windows func(ev bus.Event) (windows []string, ok bool)
	// prepare, if set, does ahead what apply does without the store (the rebuild's reader
	// goroutine), for applyPrepared.
	prepare func(ev bus.Event) *preparedResponse
}

func (s *Service) sources() []source {
	return []source{
		{events.FeedbackSubmitted.Stream.Name, events.FeedbackSubmitted.All(), events.DurableSentimentFeedback, s.applyFeedback, s.applyFeedbackTo,
			func(ev bus.Event) ([]string, bool) {
				var m eventsv1.FeedbackSubmitted
				if proto.Unmarshal(ev.Data, &m) != nil {
					return nil, false
				}
				return tagWindows(tagRefs(m.Contributors)), true
			}, nil},
		{events.PulseResponded.Stream.Name, events.PulseResponded.All(), events.DurableSentimentPulse, s.applyResponse,
			func(_ *bolt.Tx, rb rollup.Buckets, ev bus.Event, _ bool) error { return s.applyResponseTo(rb, ev) },
			func(ev bus.Event) ([]string, bool) {
				var m responseView
				if decodeResponse(ev.Data, &m) != nil {
					return nil, false
				}
				return tagWindows(m.tags), true
			}, s.prepareResponse},
	}
}

func tagWindows(tags []tagRef) []string {
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = t.window
	}
	return out
}

// countsNowhere reports whether applying ev to the staging would change nothing because
// every window it names is sealed there (copied, copySealed): the log of a store drops such
// events once their windows are sealed (pruneLog), so the replay meets them as events it
// does not know, and skips them rather than defer them.
func (r *replay) countsNowhere(st *bolt.Bucket, pe pending) bool {
	if len(r.sealed) == 0 {
		return false
	}
	wins, ok := pe.src.src.windows(pe.ev)
	if !ok {
		return false
	}
	for _, w := range wins {
		if r.s.aggregated(w) && !rollup.Sealed(st, w) {
			return false
		}
	}
	return true
}

// rebuiltBucket, inside the staging, lists the events the rebuild applied that the live
// consumers had not: they are recorded as applied for them only when the staging is swapped
// in, so that a rebuild that fails half way leaves the live store exactly as it was.
// stagedBucket lists the events the staging holds that the live store had not (durable + 0x00
// + id), so that each is staged once.
var (
	rebuiltBucket = []byte("rebuild_applied")
	stagedBucket  = []byte("rebuild_staged")
)

// rebuildProgress counts a running rebuild's work, for its log lines and GetRebuildStatus.
type rebuildProgress struct {
	replayed, total atomic.Uint64
	// pinned is set when the rebuild reproduces every release of the store (the release log
	// is complete); a rebuild from scratch decides releases anew and may withdraw.
	pinned atomic.Bool
	// Where a rebuild's wall time went, in nanoseconds: waiting for the streams' messages,
	// inside its transactions (reads included), and committing them (writes and syncs).
	readWait, inTx, commit atomic.Int64
}

// liveHandler is the live consumer's handler of source i: it applies an event to the live
// rollups and notes it in the release log. While a rebuild swaps its staging in, it fails, so
// that the consumer retries the event on the rollups swapped in.
func (s *Service) liveHandler(src source) consumer.Handler {
	i := slices.IndexFunc(s.sources(), func(o source) bool { return o.durable == src.durable })
	return func(tx *bolt.Tx, ev bus.Event) error {
		if s.gate.Load() {
			return errSwapping
		}
		if _, err := liveLog(tx); err != nil { // before the first event: a new store's log is complete
			return err
		}
		if err := src.live(tx, ev); err != nil {
			return err
		}
		return s.noteApplied(tx, i, src.durable, ev.ID)
	}
}

// rebuild recomputes every rollup by replaying the streams into a staging set and swaps it
// in, and returns how many events it applied. The live consumers and the publisher keep
// running meanwhile; the replay follows them through the release log (releaselog.go):
//
//   - Each event the live store applied is applied to the staging in its epoch, and at the end
//     of each epoch the releases the live store decided then are forced (release.Cut): the
//     same cuts on the same contributions, so every value ever shown stays shown, with the
//     same numbers (the same analysis), and the staging's release history is the live one.
//     The forced trees are checked anyway (checkForced): a replay that differs (an analysis
//     that moves people between aggregates) is refused rather than shown.
//   - Events the live store never applied (it had refused them, or had not reached them when
//     the swap begins) come after the last release, in the open cells: the publisher decides
//     them after the swap with the usual checks.
//   - An event the live store applied that the replay cannot find or apply (deleted from the
//     stream, refused now) refuses the rebuild: the values that include it could not be
//     reproduced, and the difference would isolate its author.
//   - A store whose log is not complete (written before the log existed, or lost) is rebuilt
//     from scratch: releases are decided anew after the swap and values already shown may be
//     withdrawn. The rebuild says so in its log (a warning, and pinned=false in the line of
//     the swap); the staging's log is complete, so later rebuilds are pinned.
//
// At the end the consumers and the publisher are held (gate) for two transactions: the
// first applies what the live store applied since, forces its last releases and applies the
// events it never had; the second swaps the staging in and records for the live consumers
// the events it applied that they had not. An error or a crash before the swap leaves the
// live store as it was. The publisher then decides, on the swapped store, what may be shown
// of what the live store had not released.
func (s *Service) rebuild(ctx context.Context) (uint64, error) {
	if !s.rebuilding.CompareAndSwap(false, true) {
		return 0, fmt.Errorf("rebuild: %w", errRebuildRunning)
	}
	defer s.rebuilding.Store(false)
	s.progress.replayed.Store(0)
	s.progress.readWait.Store(0)
	s.progress.inTx.Store(0)
	s.progress.commit.Store(0)
	s.progress.total.Store(0)
	r, err := s.newReplay(ctx)
	if err != nil {
		return 0, err
	}
	defer r.close()
	defer context.AfterFunc(ctx, r.close)() // a caller gone stops the reads
	if err := r.run(ctx); err != nil {
		s.dropStaging()
		return r.applied, err
	}
	// Release what the live store had not released yet, at once.
	for {
		var taken int
		err := s.host.DB.Update(func(tx *bolt.Tx) error {
			var err error
			_, taken, err = s.unsafeFlush(tx, tx, maxDirtyPerFlush)
			return err
		})
		if err != nil {
			s.host.Log.Warn("release after a rebuild (the publisher retries)", "err", err)
			break
		}
		if taken < maxDirtyPerFlush {
			break
		}
	}
	return r.applied, nil
}

// rebuildStepHook, for tests, runs after each transaction of the replay.
var rebuildStepHook atomic.Pointer[func()]

// replay is the state of one rebuild.
type replay struct {
	s       *Service
	ctx     context.Context
	pinned  bool
	streams []*replayStream
	// known maps each event of the live log to its epoch<<1, |1 once applied to the staging.
	known map[uint64]uint64
	// left, per source, the events of each epoch not applied yet, by epoch; need, per
	// source, those of epochs up to p; unapplied, all of them.
	left      []map[uint64]int
	need      []int
	unapplied int
	// pins not forced yet, by epoch, and their epochs in order; p is the first (MaxUint64
	// when none).
	pins   map[uint64][]pin
	epochs []uint64
	p      uint64
	// open is the live log's open epoch.
	open uint64
	// lastEv and lastPin are the last keys of the live log read.
	lastEv, lastPin []byte
	// waiting holds events read ahead of the pins before their epoch.
	waiting map[uint64][]pending
	// logBuf is what the staging's log gains in the current transaction, per source and epoch;
	// logWins, the windows its events may count in (every window the transaction's writers
	// added to).
	logBuf  map[[2]uint64][]byte
	logWins map[string]struct{}
	applied uint64
	// final is set for the last transaction, while the live consumers are held.
	final  bool
	closed sync.Once
	// forced lists the trees with forced releases, for checkForced.
	forced map[string]bool
	// sealed lists the windows copied from the live store, sealed (copySealed): the replay
	// changes nothing in them and forces none of their releases.
	sealed map[string]bool
}

// replayStream reads one source's stream in order.
type replayStream struct {
	src source
	idx int
	st  jetstream.Stream
	// msgs streams the messages in order, fetched ahead in batches: one request per message
	// (Consumer.Next) made the replay wait on a round trip for each.
	msgs jetstream.MessagesContext
	// feed holds the messages a goroutine of their own (prefetch) read and decoded ahead, so
	// that reading overlaps applying on a second core; stop ends it.
	feed chan fetched
	stop chan struct{}
	// consumed and avail count the stream's matching messages read and known to be there.
	consumed, avail uint64
	// held is a message read and not applied: an event the live consumer has not reached
	// yet (it must not be put before a release that may not include it).
	held *pending
	// floor is the live consumer's ack floor (stream sequence) read before the current
	// transaction: an event at or below it that the log lacks was never applied live.
	floor uint64
	// deferred lists events the live store never applied, applied after every forced release.
	deferred []uint64
	// limit, in the last transaction, is the stream's last sequence when the consumers were
	// held: later events are the live consumers' after the swap.
	limit uint64
	// counted is set once the current step asked the stream how many messages it holds.
	counted bool
}

// pending is one event read from a stream.
type pending struct {
	ev   bus.Event
	seq  uint64
	hash uint64
	src  *replayStream
	// prep is the event prepared by the reader (source.prepare), if its source does that.
	prep *preparedResponse
}

// apply applies the event to the staging st.
func (pe pending) apply(s *Service, tx *bolt.Tx, st *bolt.Bucket, emit bool) error {
	if pe.prep != nil {
		return s.applyPrepared(st, pe.prep)
	}
	return pe.src.src.apply(tx, st, pe.ev, emit)
}

func (s *Service) newReplay(ctx context.Context) (*replay, error) {
	r := &replay{s: s, ctx: ctx, known: map[uint64]uint64{}, pins: map[uint64][]pin{}, p: math.MaxUint64,
		waiting: map[uint64][]pending{}, logBuf: map[[2]uint64][]byte{}, logWins: map[string]struct{}{}, forced: map[string]bool{}, sealed: map[string]bool{}}
	js := s.host.Bus.JetStream()
	for i, src := range s.sources() {
		st, err := js.Stream(ctx, src.stream)
		if err != nil {
			return nil, fmt.Errorf("rebuild: stream %s: %w", src.stream, err)
		}
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(src.subject))
		if err != nil {
			return nil, fmt.Errorf("rebuild: stream %s: %w", src.stream, err)
		}
		if info.State.FirstSeq > 1 {
			// Events older than the stream's retention are gone: replaying the rest would drop
			// them from every aggregate, including values already published.
			return nil, fmt.Errorf("history: %w: stream %s no longer holds its first %d events (MaxAge %v: the oldest kept is from %s): "+
				"a rebuild would drop them from every aggregate, so it is refused; the aggregates stay as they are",
				errHistoryAgedOut, src.stream, info.State.FirstSeq-1, info.Config.MaxAge, info.State.FirstTime.Format("2006-01-02"))
		}
		rs := &replayStream{src: src, idx: i, st: st}
		for _, c := range info.State.Subjects {
			rs.avail += c
		}
		s.progress.total.Add(rs.avail)
		// The whole stream, filtered here (prefetch): a consumer filtered on a wildcard has the
		// server match every stored message's subject against it, which cost the server more
		// CPU than the rebuild's decoding; the other kinds of a stream are few.
		cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
		if err != nil {
			r.close()
			return nil, fmt.Errorf("rebuild: read %s: %w", src.stream, err)
		}
		if rs.msgs, err = cons.Messages(jetstream.PullMaxMessages(1024)); err != nil {
			r.close()
			return nil, fmt.Errorf("rebuild: read %s: %w", src.stream, err)
		}
		rs.feed, rs.stop = make(chan fetched, prefetchDepth), make(chan struct{})
		go rs.prefetch()
		r.streams = append(r.streams, rs)
		r.left = append(r.left, map[uint64]int{})
		r.need = append(r.need, 0)
	}
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		b, err := liveLog(tx)
		if err != nil {
			return err
		}
		r.pinned = logComplete(b)
		st, err := rollup.UnsafeStartStaging(tx)
		if err != nil {
			return err
		}
		for _, name := range [][]byte{stagedBucket, rebuiltBucket} {
			if _, err := st.CreateBucket(name); err != nil {
				return err
			}
		}
		return r.copySealed(tx, st)
	})
	if err != nil {
		return nil, err
	}
	s.progress.pinned.Store(r.pinned)
	if !r.pinned {
		s.host.Log.Warn("rebuild from scratch: the store has no complete record of the releases it decided (it predates the release log, or was lost), " +
			"so releases are decided anew and a value already shown may be withdrawn; the rebuilt store records its releases, later rebuilds keep them")
	}
	return r, nil
}

// copySealed copies into the staging st, as they are, the windows the live store has sealed
// and the staging does not have sealed yet (rollup.UnsafeCopySealed): a sealed window is final
// (no event counts in it, its contributors are gone, no release is decided in it), so the
// rebuilt store shows exactly what the live one showed of it and, like the live one, counts
// no late event in it. A replay that recomputed it would count the events that arrived after
// the seal, which the live store ignored, and leave it open to later ones. The staging's
// releases forced in a window sealed live during the rebuild are replaced by the copy.
func (r *replay) copySealed(tx *bolt.Tx, st *bolt.Bucket) error {
	for _, w := range rollup.SealedWindows(tx) {
		if r.sealed[w] {
			continue
		}
		isTree := func(k []byte) bool {
			tk, ok := parseTreeName(string(k))
			return ok && tk.win == w
		}
		if err := rollup.UnsafeCopySealed(st, tx, w, isTree); err != nil {
			return err
		}
		r.sealed[w] = true
		for tree := range r.forced {
			if isTree([]byte(tree)) {
				delete(r.forced, tree)
			}
		}
	}
	return nil
}

// close stops reading the streams.
func (r *replay) close() {
	r.closed.Do(func() {
		for _, rs := range r.streams {
			if rs.msgs != nil {
				rs.msgs.Stop()
			}
			if rs.stop != nil {
				close(rs.stop)
			}
		}
	})
}

// run replays until the staging has caught up with the live store, then holds the live
// consumers for the last transaction and the swap.
func (r *replay) run(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.readFloors(); err != nil {
			return err
		}
		var progress bool
		err := r.update(func(tx *bolt.Tx) error {
			var err error
			progress, err = r.step(tx)
			return err
		})
		if err != nil {
			return err
		}
		r.s.host.Log.Info("rebuild progress", "replayed", r.applied, "of", r.s.progress.total.Load())
		if f := rebuildStepHook.Load(); f != nil && *f != nil {
			(*f)()
		}
		if !progress {
			break
		}
	}
	r.s.gate.Store(true)
	defer r.s.gate.Store(false)
	r.final = true
	for _, rs := range r.streams {
		info, err := rs.st.Info(ctx)
		if err != nil {
			return fmt.Errorf("rebuild: stream %s: %w", rs.src.stream, err)
		}
		rs.limit = info.State.LastSeq
	}
	if err := r.update(r.finish); err != nil {
		return err
	}
	// The swap is a transaction of its own: bbolt moves a bucket as last committed, so
	// changes made to it in the same transaction would be left behind. The events the live
	// consumers had not reached are recorded for them in the same transaction as the swap,
	// so that they are never marked applied while the live rollups lack them.
	return r.s.host.DB.Update(func(tx *bolt.Tx) error {
		st := rollup.Staging(tx)
		err := st.Bucket(rebuiltBucket).ForEach(func(k, _ []byte) error {
			durable, id, _ := bytes.Cut(k, []byte{0})
			_, err := consumer.UnsafeRecord(tx, string(durable), string(id))
			return err
		})
		if err != nil {
			return err
		}
		if err := tx.DeleteBucket(logBucket); err != nil && tx.Bucket(logBucket) != nil {
			return err
		}
		if err := tx.MoveBucket(logBucket, st, nil); err != nil {
			return fmt.Errorf("rebuild: swap the release log: %w", err)
		}
		tx.OnCommit(r.s.reads.swapped)
		tx.OnCommit(func() {
			deferred := 0
			for _, rs := range r.streams {
				deferred += len(rs.deferred)
			}
			r.s.host.Log.Info("rebuild swapped in", "events", r.applied, "pinned", r.pinned, "trees_with_releases_kept", len(r.forced),
				"events_the_store_never_applied", deferred)
		})
		return rollup.UnsafeSwapStaging(tx)
	})
}

// update runs fn in a transaction of the store, counting its time in the progress.
func (r *replay) update(fn func(tx *bolt.Tx) error) error {
	t0 := time.Now()
	var body time.Duration
	err := r.s.host.DB.Update(func(tx *bolt.Tx) error {
		t1 := time.Now()
		defer func() { body = time.Since(t1) }()
		return fn(tx)
	})
	total := time.Since(t0)
	r.s.progress.inTx.Add(int64(body))
	r.s.progress.commit.Add(int64(total - body))
	return err
}

// readFloors reads each live consumer's ack floor, before the transaction that uses it.
func (r *replay) readFloors() error {
	for _, rs := range r.streams {
		c, err := r.s.host.Bus.JetStream().Consumer(r.ctx, rs.src.stream, rs.src.durable)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			rs.floor = 0
			continue
		}
		if err != nil {
			return fmt.Errorf("rebuild: consumer %s: %w", rs.src.durable, err)
		}
		info, err := c.Info(r.ctx)
		if err != nil {
			return fmt.Errorf("rebuild: consumer %s: %w", rs.src.durable, err)
		}
		rs.floor = info.AckFloor.Stream
	}
	return nil
}

// refresh reads what the live log gained since the last read.
func (r *replay) refresh(tx *bolt.Tx) error {
	b := tx.Bucket(logBucket)
	if b == nil || !r.pinned {
		return nil
	}
	r.open = u64(b.Bucket(logMeta).Get(metaEpoch))
	c := b.Bucket(logEvents).Cursor()
	var last []byte
	for k, v := after(c, r.lastEv); k != nil; k, v = c.Next() {
		last = k
		src, epoch, ok := parseEventsKey(k)
		if !ok || src >= len(r.streams) {
			continue
		}
		for i := 0; i+8 <= len(v); i += 8 {
			h := u64(v[i : i+8])
			if _, dup := r.known[h]; dup {
				continue
			}
			r.known[h] = epoch << 1
			r.left[src][epoch]++
			r.unapplied++
			if epoch <= r.p {
				r.need[src]++
			}
		}
	}
	if last != nil {
		r.lastEv = bytes.Clone(last)
	}
	last = nil
	c = b.Bucket(logPins).Cursor()
	for k, v := after(c, r.lastPin); k != nil; k, v = c.Next() {
		last = k
		if len(k) < 16 {
			continue
		}
		p := parsePin(k, v)
		if _, ok := r.pins[p.epoch]; !ok {
			r.epochs = append(r.epochs, p.epoch)
		}
		r.pins[p.epoch] = append(r.pins[p.epoch], p)
	}
	if last != nil {
		r.lastPin = bytes.Clone(last)
	}
	r.advance()
	return nil
}

// advance sets p to the first epoch with pins not forced yet, counting in need the events
// up to it.
func (r *replay) advance() {
	p := uint64(math.MaxUint64)
	if len(r.epochs) > 0 {
		p = r.epochs[0]
	}
	if p == r.p {
		return
	}
	r.p = p
	for src := range r.need {
		r.need[src] = 0
		for e, n := range r.left[src] {
			if e <= p {
				r.need[src] += n
			}
		}
	}
}

// step applies up to rebuildChunk events into the staging, forcing the releases whose
// epochs it completes. It reports whether it got anywhere.
func (r *replay) step(tx *bolt.Tx) (bool, error) {
	if err := r.refresh(tx); err != nil {
		return false, err
	}
	st := rollup.Staging(tx)
	if st == nil {
		return false, errors.New("rebuild: staging vanished")
	}
	r.s.openWriter(st)
	for _, rs := range r.streams {
		rs.counted = false
	}
	before := r.applied
	forced := false
	for budget := rebuildChunk; budget > 0; {
		if r.p != math.MaxUint64 && r.needTotal() == 0 {
			if err := r.force(tx, st); err != nil {
				return false, err
			}
			forced = true
			continue
		}
		rs := r.next()
		if rs == nil {
			break
		}
		pe, ok, err := rs.read(r)
		if err != nil {
			return false, err
		}
		if !ok {
			break
		}
		done, err := r.take(tx, st, pe)
		if err != nil {
			return false, err
		}
		if done {
			budget--
		}
	}
	if err := r.flushWriter(st); err != nil {
		return false, err
	}
	if err := r.writeLog(st); err != nil {
		return false, err
	}
	r.s.progress.replayed.Store(r.applied)
	return r.applied > before || forced, nil
}

func (r *replay) needTotal() int {
	n := 0
	for _, x := range r.need {
		n += x
	}
	return n
}

// next chooses the stream to read: one that holds events the next forced release needs, or
// any with messages left once no release is waiting. nil when none can go on now.
func (r *replay) next() *replayStream {
	for _, rs := range r.streams {
		needed := r.p != math.MaxUint64 && r.need[rs.idx] > 0
		if r.p != math.MaxUint64 && !needed {
			continue
		}
		if rs.held != nil {
			if r.resolvable(rs) {
				return rs
			}
			continue
		}
		if rs.consumed < rs.avail {
			return rs
		}
		// Messages that arrived since the stream was counted (once per step): the replay
		// follows the live traffic, so the last transaction, with the consumers held, has
		// little left to apply.
		if !rs.counted && rs.more(r) {
			return rs
		}
	}
	return nil
}

// more checks whether messages arrived since the stream was last counted, once per step.
func (rs *replayStream) more(r *replay) bool {
	rs.counted = true
	info, err := rs.st.Info(r.ctx, jetstream.WithSubjectFilter(rs.src.subject))
	if err != nil {
		return false
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	if n > rs.avail {
		rs.avail = n
	}
	return rs.consumed < rs.avail && info.State.LastSeq > 0
}

// resolvable reports whether the held message can be taken now: the log knows it, or the
// live consumer will never apply it before the swap.
func (r *replay) resolvable(rs *replayStream) bool {
	h := rs.held
	if h.seq > rs.limit && r.final {
		return false
	}
	if _, ok := r.known[h.hash]; ok {
		return true
	}
	return r.final || h.seq <= rs.floor
}

// read returns the stream's next message: the held one, or a new one.
func (rs *replayStream) read(r *replay) (pending, bool, error) {
	if rs.held != nil {
		pe := *rs.held
		rs.held = nil
		return pe, true, nil
	}
	var f fetched
	select {
	case f = <-rs.feed:
	default:
		t0 := time.Now()
		f = <-rs.feed
		r.s.progress.readWait.Add(int64(time.Since(t0)))
	}
	if f.err != nil {
		return pending{}, false, fmt.Errorf("rebuild: read %s after %d events: %w", rs.src.stream, rs.consumed, f.err)
	}
	rs.consumed++
	if f.bad != nil {
		r.s.host.Log.Warn("rebuild skips an event that cannot be applied", "stream", rs.src.stream, "seq", f.pe.seq, "err", f.bad)
		return pending{}, true, nil // nothing to apply: pe.ev.ID == ""
	}
	f.pe.src = rs
	return f.pe, true, nil
}

// prefetchDepth is how many messages a stream's reader may hold ahead of the replay.
const prefetchDepth = 4096

// fetched is one message read ahead: the event (without src), or why it cannot be applied
// (bad), or why the stream cannot be read on (err, the last one).
type fetched struct {
	pe       pending
	bad, err error
}

// prefetch reads the stream's messages of the source's subjects in order and decodes them
// into feed, until the replay stops it (close) or a read fails.
func (rs *replayStream) prefetch() {
	prefix := strings.TrimSuffix(rs.src.subject, ">") // subject is "kind.>": at least one more token
	for {
		var f fetched
		msg, err := rs.msgs.Next()
		if err == nil && (len(msg.Subject()) <= len(prefix) || !strings.HasPrefix(msg.Subject(), prefix)) {
			continue // another kind of the stream
		}
		if err == nil {
			var meta *jetstream.MsgMetadata
			if meta, err = msg.Metadata(); err == nil {
				f.pe.seq = meta.Sequence.Stream
				if f.pe.ev, f.bad = bus.EventFromMsg(msg); f.bad == nil {
					f.pe.hash = eventHash(rs.src.durable, f.pe.ev.ID)
					if rs.src.prepare != nil {
						f.pe.prep = rs.src.prepare(f.pe.ev)
					}
				}
			}
		}
		f.err = err
		select {
		case rs.feed <- f:
		case <-rs.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// take places one event: applies it now, keeps it for after a forced release, holds it or
// defers it. It reports whether it applied it.
func (r *replay) take(tx *bolt.Tx, st *bolt.Bucket, pe pending) (bool, error) {
	if pe.ev.ID == "" {
		return false, nil
	}
	rs := pe.src
	if r.final && pe.seq > rs.limit {
		rs.held = &pe // the live consumers' after the swap
		return false, nil
	}
	v, known := r.known[pe.hash]
	switch {
	case known && v&1 == 1:
		return false, nil // a republished copy
	case known && v>>1 > r.p:
		r.waiting[v>>1] = append(r.waiting[v>>1], pe)
		return false, nil
	case known:
		return true, r.applyKnown(tx, st, pe, v>>1)
	case !r.pinned:
		return r.applyNew(tx, st, pe, r.openEpoch())
	case r.final || pe.seq <= rs.floor:
		if !r.countsNowhere(st, pe) {
			rs.deferred = append(rs.deferred, pe.seq)
		}
		return false, nil
	default:
		rs.held = &pe
		return false, nil
	}
}

// applyKnown applies an event of the live log in its epoch.
func (r *replay) applyKnown(tx *bolt.Tx, st *bolt.Bucket, pe pending, epoch uint64) error {
	src := pe.src
	if err := pe.apply(r.s, tx, st, false); err != nil {
		if errors.Is(err, consumer.ErrPermanent) || errors.Is(err, bus.ErrInvalidEvent) {
			return fmt.Errorf("history: %w: event %s of stream %s (sequence %d) counts in values already shown, and the rebuild cannot apply it (%v): "+
				"the values without it would isolate its author, so the rebuild is refused; the aggregates stay as they are",
				errHistoryAgedOut, pe.ev.ID, src.src.stream, pe.seq, err)
		}
		return err
	}
	r.known[pe.hash] |= 1
	r.left[src.idx][epoch]--
	if r.left[src.idx][epoch] == 0 {
		delete(r.left[src.idx], epoch)
	}
	r.need[src.idx]--
	r.unapplied--
	r.applied++
	r.logEvent(src.idx, epoch, pe.hash)
	return nil
}

// applyNew applies an event the live store never applied, in epoch, unless the staging has
// it already. It reports whether it applied it.
func (r *replay) applyNew(tx *bolt.Tx, st *bolt.Bucket, pe pending, epoch uint64) (bool, error) {
	src := pe.src.src
	key := []byte(src.durable + "\x00" + pe.ev.ID)
	staged := st.Bucket(stagedBucket)
	if staged.Get(key) != nil {
		return false, nil // a republished copy
	}
	fresh := !consumer.Applied(tx, src.durable, pe.ev.ID)
	// Every check of a handler comes before its first write, so a permanent failure leaves
	// nothing half-applied in this shared transaction.
	if err := pe.apply(r.s, tx, st, fresh); err != nil {
		if errors.Is(err, consumer.ErrPermanent) || errors.Is(err, bus.ErrInvalidEvent) {
			r.s.host.Log.Warn("rebuild skips an event that cannot be applied", "stream", src.stream, "seq", pe.seq, "err", err)
			return false, nil
		}
		return false, err
	}
	if err := staged.Put(key, []byte{}); err != nil {
		return false, err
	}
	if fresh {
		if err := st.Bucket(rebuiltBucket).Put(key, []byte{}); err != nil {
			return false, err
		}
	}
	r.applied++
	r.logEvent(pe.src.idx, epoch, pe.hash)
	return true, nil
}

// flushWriter writes what the staging's writer holds, noting its windows for the log records.
func (r *replay) flushWriter(st *bolt.Bucket) error {
	r.s.writerWindows(st, r.logWins)
	return r.s.flushWriter(st)
}

func (r *replay) logEvent(src int, epoch, h uint64) {
	k := [2]uint64{uint64(src), epoch}
	r.logBuf[k] = be64append(r.logBuf[k], h)
}

func be64append(b []byte, x uint64) []byte { return append(b, be64(x)...) }

// writeLog writes the staging's log records of this transaction.
func (r *replay) writeLog(st *bolt.Bucket) error {
	b, err := stagingLog(st)
	if err != nil {
		return err
	}
	keys := make([][2]uint64, 0, len(r.logBuf))
	for k := range r.logBuf {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]uint64) int {
		if a[1] != b[1] {
			if a[1] < b[1] {
				return -1
			}
			return 1
		}
		return int(a[0]) - int(b[0])
	})
	for _, k := range keys {
		hashes := make([][]byte, k[0]+1)
		hashes[k[0]] = r.logBuf[k]
		if err := putEvents(b, hashes, k[1], r.logWins); err != nil {
			return err
		}
	}
	clear(r.logBuf)
	clear(r.logWins)
	return nil
}

// stagingLog returns the staging's log, creating it (complete: the staging's history is all
// the rebuild's) if missing.
func stagingLog(st *bolt.Bucket) (*bolt.Bucket, error) {
	if b := st.Bucket(logBucket); b != nil {
		return b, nil
	}
	b, err := st.CreateBucket(logBucket)
	if err != nil {
		return nil, err
	}
	return b, initLog(b, true, 1)
}

// force makes, in the staging, the releases the live store decided at the end of epoch p,
// and moves on to the next epoch with releases.
func (r *replay) force(tx *bolt.Tx, st *bolt.Bucket) error {
	if err := r.flushWriter(st); err != nil {
		return err
	}
	b, err := stagingLog(st)
	if err != nil {
		return err
	}
	pins := r.pins[r.p]
	sort.Slice(pins, func(i, j int) bool { return pins[i].tree < pins[j].tree })
	for _, p := range pins {
		if tk, ok := parseTreeName(p.tree); ok && r.sealed[tk.win] {
			continue // copied as the live store has it (copySealed)
		}
		if err := r.s.forceRelease(st, p); err != nil {
			return err
		}
		r.forced[p.tree] = true
		if err := putPin(b, p.epoch, p.tree, p.n, p.paths); err != nil {
			return err
		}
	}
	delete(r.pins, r.p)
	r.epochs = r.epochs[1:]
	r.advance()
	r.s.openWriter(st)
	// Events read ahead of this release.
	var ready []uint64
	for e := range r.waiting {
		if e <= r.p {
			ready = append(ready, e)
		}
	}
	slices.Sort(ready)
	for _, e := range ready {
		for _, pe := range r.waiting[e] {
			if err := r.applyKnown(tx, st, pe, e); err != nil {
				return err
			}
		}
		delete(r.waiting, e)
	}
	return nil
}

// forceRelease makes, in the staging st, the release p the live store decided: the nodes
// below the paths released, built from the staging as releaseTree builds them, are cut at p.n
// for each path (release.Cut, Tree.Force without the atoms), without the check the live store
// made on the same contributions. A cut changes only the released node and the open cells below it, so only
// that subtree is read. No update is queued and no alert evaluated: the live store did both
// when it decided the release. The trees are checked whole at the end (checkForced).
func (s *Service) forceRelease(st *bolt.Bucket, p pin) error {
	tk, ok := parseTreeName(p.tree)
	if !ok {
		return fmt.Errorf("rebuild: the release log names a tree %q that is not one", p.tree)
	}
	var (
		nodes []*release.Node
		keys  = map[string]rollup.Key{}
		live  = map[string]rollup.Stats{}
	)
	for _, path := range p.paths {
		top, err := segment.Parse(path)
		if err != nil {
			return fmt.Errorf("rebuild: the release log names a segment %q that is not one: %w", path, err)
		}
		segs, err := rollup.Segments(st, top)
		if err != nil {
			return err
		}
		for _, seg := range segs {
			key := rollup.Key{Segment: seg.String(), Dimension: tk.dim, Window: tk.win}
			if _, dup := keys[key.Segment]; dup {
				continue
			}
			// Only the released nodes' values are read: a node without people in this tree
			// has no cells and no releases, and the cut leaves it as it is.
			cells, err := rollup.Cells(st, key)
			if err != nil {
				return err
			}
			nodes = append(nodes, &release.Node{Path: key.Segment, Parent: parentID(seg), Releases: rollup.Releases(st, key), Cells: cells})
			keys[key.Segment] = key
		}
	}
	for _, path := range p.paths {
		cur, err := rollup.Get(st, keys[path])
		if err != nil {
			return err
		}
		live[path] = cur
	}
	for _, path := range p.paths {
		if err := release.Cut(nodes, p.n, path); err != nil {
			return fmt.Errorf("history: %w: the replay does not reproduce the release of %v in %s/%d/%s at flush %d (%v): "+
				"the events the streams hold are not the ones the store released, so the rebuild is refused; the aggregates stay as they are",
				errHistoryAgedOut, p.paths, tk.org, tk.dim, tk.win, p.n, err)
		}
	}
	if err := rollup.UnsafeSetFlushes(st, p.tree, p.n); err != nil {
		return err
	}
	for _, node := range nodes {
		if c := node.Cells; len(c) > 0 && c[len(c)-1].End == p.n {
			if err := rollup.UnsafePutCells(st, keys[node.Path], c); err != nil {
				return err
			}
			if err := rollup.UnsafeCloseOpen(st, keys[node.Path]); err != nil {
				return err
			}
		}
	}
	for _, path := range p.paths {
		if err := rollup.UnsafeAddRelease(st, keys[path], p.n); err != nil {
			return err
		}
		if err := rollup.UnsafeRelease(st, keys[path], live[path]); err != nil {
			return err
		}
	}
	return nil
}

// checkForced checks each tree with forced releases whole in the staging (release.Tree.Valid):
// a replay whose contributions differ from the ones the live store released (an analysis
// that moves people between aggregates) is refused rather than shown. Checking the end is
// enough: later releases only split atoms (a cell's signature gains entries, two cells never
// come to share one), so if every atom of the whole history holds no one or k people, every
// atom at every earlier release was a union of such atoms.
func (s *Service) checkForced(st *bolt.Bucket, trees map[string]bool) error {
	names := make([]string, 0, len(trees))
	for name := range trees {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		tk, ok := parseTreeName(name)
		if !ok {
			continue
		}
		org, err := segment.Parse(tk.org)
		if err != nil {
			return err
		}
		segs, err := rollup.Segments(st, org)
		if err != nil {
			return err
		}
		var nodes []*release.Node
		for _, seg := range segs {
			key := rollup.Key{Segment: seg.String(), Dimension: tk.dim, Window: tk.win}
			cur, err := rollup.Get(st, key)
			if err != nil {
				return err
			}
			if cur.People == 0 && cur.Count == 0 {
				continue
			}
			cells, err := rollup.Cells(st, key)
			if err != nil {
				return err
			}
			nodes = append(nodes, &release.Node{Path: key.Segment, Parent: parentID(seg), Releases: rollup.Releases(st, key), Cells: cells})
		}
		if !release.New(s.cfg.MinGroupSize, nodes).Valid() {
			return fmt.Errorf("history: %w: replayed, the releases the store decided in %s/%d/%s would isolate fewer than k people: "+
				"the events the streams hold are not the ones the store released (a changed analysis?), so the rebuild is refused; the aggregates stay as they are",
				errHistoryAgedOut, tk.org, tk.dim, tk.win)
		}
	}
	return nil
}

// finish is the last transaction before the swap, with the live consumers and publisher held:
// it applies what the live store applied since the last step and forces its last releases,
// then applies the events the live store never had, after every release, and checks that
// every event the live store applied is in the staging.
func (r *replay) finish(tx *bolt.Tx) error {
	for {
		progress, err := r.step(tx)
		if err != nil {
			return err
		}
		if !progress {
			break
		}
	}
	if r.pinned && (r.unapplied > 0 || len(r.epochs) > 0) {
		return fmt.Errorf("history: %w: %d events counted in values already shown are no longer in the streams (deleted?): "+
			"the values without them would isolate their authors, so the rebuild is refused; the aggregates stay as they are",
			errHistoryAgedOut, r.unapplied)
	}
	st := rollup.Staging(tx)
	if err := r.copySealed(tx, st); err != nil {
		return err
	}
	if err := r.s.checkForced(st, r.forced); err != nil {
		return err
	}

	r.s.openWriter(st)
	for _, rs := range r.streams {
		slices.Sort(rs.deferred)
		for _, seq := range slices.Compact(rs.deferred) {
			raw, err := rs.st.GetMsg(r.ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("rebuild: read %s #%d: %w", rs.src.stream, seq, err)
			}
			ev, err := bus.EventFromNATSMsg(&nats.Msg{Subject: raw.Subject, Header: raw.Header, Data: raw.Data})
			if err != nil {
				r.s.host.Log.Warn("rebuild skips an event that cannot be applied", "stream", rs.src.stream, "seq", seq, "err", err)
				continue
			}
			if _, err := r.applyNew(tx, st, pending{ev: ev, seq: seq, hash: eventHash(rs.src.durable, ev.ID), src: rs}, r.openEpoch()); err != nil {
				return err
			}
		}
	}
	if err := r.flushWriter(st); err != nil {
		return err
	}
	if err := r.writeLog(st); err != nil {
		return err
	}
	b, err := stagingLog(st)
	if err != nil {
		return err
	}
	if _, err := pruneLog(b, st); err != nil { // of the windows copied sealed
		return err
	}
	r.s.progress.replayed.Store(r.applied)
	return b.Bucket(logMeta).Put(metaEpoch, be64(r.openEpoch()))
}

// openEpoch is the epoch of the staging's log after the last forced release: the live log's
// open one, or 1 for a rebuild from scratch.
func (r *replay) openEpoch() uint64 {
	if !r.pinned {
		return 1
	}
	return max(r.open, 1)
}

// dropStaging deletes a failed rebuild's staging.
func (s *Service) dropStaging() {
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		if rollup.Staging(tx) == nil {
			return nil
		}
		return rollup.UnsafeDropStaging(tx)
	})
	if err != nil {
		s.host.Log.Warn("drop the staging of a failed rebuild", "err", err)
	}
}
