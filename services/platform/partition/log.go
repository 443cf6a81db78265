package partition

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
)

// The partition log carries what an owner decided (for sentiment: its releases) to the
// replicas that own the partition after it, so that a new owner goes on from exactly the
// decisions the previous ones made instead of freezing what it inherits (Config.Inherit).
//
//   - The log of partition p is the subject LogSubject(group, p) of the stream
//     LogStreamName(group) (file storage, Config.Replicas replicas, nothing expires).
//   - An owner appends a Record with the publish expectation "the last message of this subject
//     is the one I appended last" (Nats-Expected-Last-Subject-Sequence). A new owner first
//     appends a marker without expectation: from then on every append of a previous owner fails
//     (the subject's last message is the marker), so the records before the marker are final.
//     There is no loop to win: one publish fences, one bounded read (up to the marker's
//     sequence) reads.
//   - A record carries, per source, the stream sequence up to which the writer had applied the
//     partition's events when it decided (its checkpoints, in the transaction that decided), so
//     that the new owner applies exactly those events before it replays the decision.
//   - The service appends before the transaction that makes its decision visible commits, and
//     commits only if the append succeeded (Group.Append): every decision anyone saw is in the
//     log before the next owner's marker. A record whose commit then failed describes a
//     decision no one saw, which the service's rules allowed all the same.
//   - The store keeps the sequence of the last record it committed (its own or replayed), so
//     that a replica regaining a partition replays only what others decided since.

// Record is one entry of a partition log.
type Record struct {
	// Replica and Owner name the writer: its replica name and its ownership epoch of the
	// partition (the epoch bucket's count when it took the partition).
	Replica string `json:"replica"`
	Owner   uint64 `json:"owner"`
	// Marker is set on the record a new owner appends before anything else.
	Marker bool `json:"marker,omitempty"`
	// Time is the service's clock (Config.Clock) when the record was made.
	Time time.Time `json:"time"`
	// Positions are, by source name, the stream sequence through which the writer had applied
	// the partition's events when it decided.
	Positions map[string]uint64 `json:"positions,omitempty"`
	// Data is the service's own description of its decision.
	Data json.RawMessage `json:"data,omitempty"`
	// Checkpoint is set on a record the owner appends when it prunes the log (PruneLog): the
	// records of the subject before sequence From are gone, or about to be, and are to be
	// ignored; the windows begun before Horizon are frozen for every owner after it.
	Checkpoint bool      `json:"checkpoint,omitempty"`
	From       uint64    `json:"from,omitempty"`
	Horizon    time.Time `json:"horizon,omitzero"`
}

// LogStreamName is the stream of group's partition logs.
func LogStreamName(group string) string { return "VOIX_PARTLOG_" + strings.ToUpper(group) }

// LogSubject is the subject of partition p's log in group.
func LogSubject(group string, p int) string { return "voix_partlog." + group + "." + strconv.Itoa(p) }

// ErrLogFenced says another owner appended its marker to the partition's log: this replica
// no longer owns it and must not commit what it was about to record.
var ErrLogFenced = errors.New("partition: another replica took the partition's log over")

// ErrNotReady says this replica does not own the partition, or has not finished replaying
// what it inherited, so it cannot record a decision for it.
var ErrNotReady = errors.New("partition: not the partition's ready owner")

// appendTimeout bounds one Append or marker.
const appendTimeout = 5 * time.Second

func openLogStream(ctx context.Context, js jetstream.JetStream, group string, replicas int) (jetstream.Stream, error) {
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        LogStreamName(group),
		Description: "voix partition logs: what each owner decided, for the owner that takes the partition next",
		Subjects:    []string{"voix_partlog." + group + ".>"},
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("partition: log stream %s: %w", LogStreamName(group), err)
	}
	return st, nil
}

func logSeqKey(p int) []byte { return binary.BigEndian.AppendUint32([]byte("logseq\x00"), uint32(p)) }

// LogSeq is the sequence of the last record of partition p's log the store committed (its own
// or replayed), 0 if none.
func LogSeq(tx *bolt.Tx, p int) uint64 {
	b := tx.Bucket(checkpointBucket)
	if b == nil {
		return 0
	}
	v := b.Get(logSeqKey(p))
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func putLogSeq(tx *bolt.Tx, p int, seq uint64) error {
	b, err := tx.CreateBucketIfNotExists(checkpointBucket)
	if err != nil {
		return err
	}
	return b.Put(logSeqKey(p), binary.BigEndian.AppendUint64(nil, seq))
}

// publishRecord appends rec to p's log: after the message at seq expect (any if expect is 0
// and marker), under the message id id. It returns the record's sequence. A failed answer is
// resolved by reading the subject's last message: if it is this record (by its id), the append
// succeeded; another one after expect fences.
func (g *Group) publishRecord(ctx context.Context, p int, rec Record, expect uint64, id string) (uint64, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return 0, err
	}
	subj := LogSubject(g.cfg.Group, p)
	for attempt := 0; ; attempt++ {
		m := nats.NewMsg(subj)
		m.Data = data
		m.Header.Set(nats.MsgIdHdr, id)
		opts := []jetstream.PublishOpt{}
		if !rec.Marker {
			opts = append(opts, jetstream.WithExpectLastSequencePerSubject(expect))
		}
		ack, err := g.cfg.JS.PublishMsg(ctx, m, opts...)
		if err == nil {
			return ack.Sequence, nil
		}
		last, lerr := g.logStream.GetLastMsgForSubject(ctx, subj)
		if lerr == nil && last.Header.Get(nats.MsgIdHdr) == id {
			return last.Sequence, nil // stored by an earlier attempt whose answer was lost
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
			return 0, fmt.Errorf("%w (partition %d)", ErrLogFenced, p)
		}
		if attempt == 2 || ctx.Err() != nil {
			return 0, fmt.Errorf("partition: append to the log of partition %d: %w", p, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Append records, in partition p's log, the decision data the service is making in tx, with
// the partition's checkpoints in tx as its positions, and notes it in tx. It must be called
// inside the transaction that makes the decision visible, and that transaction must commit
// only if Append succeeded. ErrLogFenced: another replica took the partition over (this
// replica records nothing more for it); ErrNotReady: not owned, or still inheriting. Any other
// error leaves the outcome unknown: the partition records nothing more until it is regained.
// Without Config.Inherit there is no log: Append does nothing.
func (g *Group) Append(tx *bolt.Tx, p int, data []byte) error {
	if g.cfg.Inherit == nil {
		return nil
	}
	g.mu.Lock()
	h := g.held[p]
	g.mu.Unlock()
	if h == nil {
		return fmt.Errorf("%w (partition %d)", ErrNotReady, p)
	}
	h.appending.Lock()
	defer h.appending.Unlock()
	g.mu.Lock()
	ok := g.held[p] == h && h.ready && !h.broken && time.Now().Before(h.until)
	var expect, owner uint64
	if ok {
		expect, owner = h.logLast, h.owner
	}
	g.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w (partition %d)", ErrNotReady, p)
	}
	rec := Record{Replica: g.cfg.Replica, Owner: owner, Time: g.cfg.Clock(), Positions: map[string]uint64{}, Data: data}
	for _, src := range g.cfg.Sources {
		rec.Positions[src.Name] = Checkpoint(tx, src.Name, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
	defer cancel()
	seq, err := g.publishRecord(ctx, p, rec, expect, fmt.Sprintf("%s/%d/%d/%d", g.cfg.Replica, p, owner, expect))
	if err != nil {
		g.appendFailed(h, err)
		return err
	}
	g.mu.Lock()
	if g.held[p] == h {
		h.logLast = seq
	}
	g.mu.Unlock()
	return putLogSeq(tx, p, seq)
}

// appendFailed marks h broken after an append to its log failed: it records nothing more, and
// unless it was fenced (the outcome is unknown) it is handed back.
func (g *Group) appendFailed(h *held, err error) {
	g.mu.Lock()
	if g.held[h.p] == h {
		h.broken = true
	}
	g.mu.Unlock()
	g.cfg.Log.Warn("partition: log append failed; recording nothing more for the partition until it is regained",
		"group", g.cfg.Group, "partition", h.p, "err", err)
	if !errors.Is(err, ErrLogFenced) {
		// The outcome is unknown: hand the partition back, so that an owner (this replica or
		// another) takes it over with the log as it is.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
			defer cancel()
			g.release(ctx, h)
		}()
	}
}

// PruneLog prunes partition p's log, if this replica is its ready owner and Config.LogKeep is
// set: the records made more than LogKeep before now (Config.Clock) at the head of the log
// are removed, with the checkpoints before them. It appends, as its next record (fenced like
// any other), a checkpoint naming the first record kept (From) and a horizon (now - LogKeep,
// or the partition's frozen bound if later): every owner after it ignores the records before
// From and freezes the windows begun before the horizon, as this one does. Then it purges the
// subject below From (JetStream's purge by subject and sequence). It returns the number of
// records removed.
//
// A take-over racing a prune loses nothing it needs: a checkpoint appended after the new
// owner's marker is refused (the publish expects this owner's last record), so nothing is
// purged; one appended before the marker is in the new owner's read, which ignores the
// records before From whether the purge ran yet or not. A failed purge leaves records that
// every reader ignores and the next pass removes.
func (g *Group) PruneLog(ctx context.Context, p int) (int, error) {
	if g.cfg.Inherit == nil || g.cfg.LogKeep <= 0 {
		return 0, nil
	}
	g.mu.Lock()
	h := g.held[p]
	g.mu.Unlock()
	if h == nil {
		return 0, fmt.Errorf("%w (partition %d)", ErrNotReady, p)
	}
	horizon, from, dropped, err := g.checkpointLog(ctx, h)
	if err != nil || dropped == 0 {
		return 0, err
	}
	if horizon.After(g.FrozenBefore(p)) {
		g.freeze(p, horizon, "the log was pruned: the records of the windows begun before the horizon are gone")
	}
	if err := g.logStream.Purge(ctx, jetstream.WithPurgeSubject(LogSubject(g.cfg.Group, p)), jetstream.WithPurgeSequence(from)); err != nil {
		return 0, fmt.Errorf("partition: purge of the log of partition %d below %d (the checkpoint stands; the next pass purges): %w", p, from, err)
	}
	g.cfg.Log.Info("partition: log pruned", "group", g.cfg.Group, "partition", p, "records", dropped, "from", from, "horizon", horizon)
	return dropped, nil
}

// checkpointLog reads h's log through its last record and, if records can go, appends the
// checkpoint; it returns the checkpoint's horizon and From and the records it drops (0: none
// to drop, nothing appended).
func (g *Group) checkpointLog(ctx context.Context, h *held) (time.Time, uint64, int, error) {
	p := h.p
	h.pruning.Lock() // one prune of the partition at a time: each reads the checkpoint of the last
	defer h.pruning.Unlock()
	g.mu.Lock()
	ok := g.held[p] == h && h.ready && !h.broken && time.Now().Before(h.until)
	read := h.logLast
	g.mu.Unlock()
	if !ok {
		return time.Time{}, 0, 0, fmt.Errorf("%w (partition %d)", ErrNotReady, p)
	}
	if read == 0 {
		return time.Time{}, 0, 0, nil // nothing appended yet (a ready owner has its marker)
	}
	// Read without holding the appends back: a record appended meanwhile follows read, so
	// the first record kept (at most read+1) stays the first kept.
	op, cancel := context.WithTimeout(ctx, time.Minute)
	recs, err := g.readLogThrough(op, p, read)
	cancel()
	if err != nil {
		return time.Time{}, 0, 0, err
	}
	now := g.cfg.Clock()
	cut := now.Add(-g.cfg.LogKeep)
	horizon := cut
	var prevFrom uint64
	for _, l := range recs {
		if l.rec.Checkpoint {
			prevFrom = l.rec.From
			if l.rec.Horizon.After(horizon) {
				horizon = l.rec.Horizon
			}
		}
	}
	from, dropped := read+1, 0
	for _, l := range recs {
		switch {
		case l.rec.Checkpoint:
			continue // superseded by the new one
		case l.seq < prevFrom || l.rec.Time.Before(cut):
			dropped++
			continue
		}
		from = l.seq
		break
	}
	if dropped == 0 {
		return time.Time{}, 0, 0, nil
	}
	h.appending.Lock()
	defer h.appending.Unlock()
	g.mu.Lock()
	ok = g.held[p] == h && h.ready && !h.broken && time.Now().Before(h.until)
	expect, owner, frozen := h.logLast, h.owner, g.frozen[p]
	g.mu.Unlock()
	if !ok {
		return time.Time{}, 0, 0, fmt.Errorf("%w (partition %d)", ErrNotReady, p)
	}
	if frozen.After(horizon) {
		horizon = frozen
	}
	rec := Record{Replica: g.cfg.Replica, Owner: owner, Time: now, Checkpoint: true, From: from, Horizon: horizon}
	op, cancel = context.WithTimeout(ctx, appendTimeout)
	seq, err := g.publishRecord(op, p, rec, expect, fmt.Sprintf("%s/%d/%d/%d/checkpoint", g.cfg.Replica, p, owner, expect))
	cancel()
	if err != nil {
		g.appendFailed(h, err)
		return time.Time{}, 0, 0, err
	}
	g.mu.Lock()
	if g.held[p] == h {
		h.logLast = seq
	}
	g.mu.Unlock()
	return horizon, from, dropped, nil
}

// pruneLogs prunes the log of each partition this replica holds ready (PruneLog).
func (g *Group) pruneLogs(ctx context.Context) {
	if g.cfg.Inherit == nil || g.cfg.LogKeep <= 0 {
		return
	}
	for _, p := range g.Owned() {
		if _, err := g.PruneLog(ctx, p); err != nil && !errors.Is(err, ErrNotReady) && ctx.Err() == nil {
			g.cfg.Log.Warn("partition: log not pruned", "group", g.cfg.Group, "partition", p, "err", err)
		}
	}
}

// readLogThrough reads partition p's log through the message at seq last (an owner's own last
// record), or up to the subject's end if that is gone.
func (g *Group) readLogThrough(ctx context.Context, p int, last uint64) ([]logged, error) {
	return g.readLog(ctx, p, last+1, true)
}

// Inheriting reports whether this replica holds org's partition and is still replaying what
// it inherited: its changes are not to be decided yet, nor forgotten.
func (g *Group) Inheriting(org string) bool {
	p := Of(org, g.cfg.Partitions)
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.held[p]
	return h != nil && !h.ready
}

// logged is a record read from a log, with its sequence.
type logged struct {
	seq uint64
	rec Record
}

// readLogBefore reads partition p's log up to (not including) the message at seq marker,
// which is on the subject: the read ends there, whatever is appended meanwhile.
func (g *Group) readLogBefore(ctx context.Context, p int, marker uint64) ([]logged, error) {
	return g.readLog(ctx, p, marker, false)
}

// readLog reads partition p's log records below seq end; with orEnd it also stops at the
// subject's last message.
func (g *Group) readLog(ctx context.Context, p int, end uint64, orEnd bool) ([]logged, error) {
	r, err := openOrdered(ctx, g.cfg.JS, LogStreamName(g.cfg.Group), LogSubject(g.cfg.Group, p), 0, 256)
	if err != nil {
		return nil, err
	}
	defer r.close()
	var out []logged
	for {
		m, md, err := r.next(ctx, stallAfter)
		if err != nil {
			return nil, err
		}
		if md.Sequence.Stream >= end {
			return out, nil
		}
		var rec Record
		if err := json.Unmarshal(m.Data(), &rec); err != nil {
			return nil, fmt.Errorf("partition: log of partition %d, record at %d: %w", p, md.Sequence.Stream, err)
		}
		out = append(out, logged{seq: md.Sequence.Stream, rec: rec})
		if md.Sequence.Stream+1 == end || (orEnd && md.NumPending == 0) {
			return out, nil
		}
	}
}

// stallAfter is how long a read of the log or of a stream during a take-over waits for a
// message it knows exists before giving up.
const stallAfter = 30 * time.Second

// errStalled says an ordered read got no message for stallAfter.
var errStalled = errors.New("partition: no message for " + stallAfter.String())

// ordered reads a stream in order through one ordered consumer (a Fetch per step would
// recreate the consumer each time, which a loaded cluster makes slow).
type ordered struct {
	it   jetstream.MessagesContext
	ch   chan delivery
	quit chan struct{}
}

// openOrdered starts reading stream's messages on filter from sequence start (the first if 0).
func openOrdered(ctx context.Context, js jetstream.JetStream, stream, filter string, start uint64, buffer int) (*ordered, error) {
	occ := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverAllPolicy}
	if start > 1 {
		occ.DeliverPolicy, occ.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start
	}
	cons, err := js.OrderedConsumer(ctx, stream, occ)
	if err != nil {
		return nil, fmt.Errorf("ordered consumer on %s: %w", stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(buffer))
	if err != nil {
		return nil, err
	}
	r := &ordered{it: it, ch: make(chan delivery, buffer), quit: make(chan struct{})}
	go func() {
		for {
			m, err := it.Next()
			select {
			case r.ch <- delivery{m, err}:
			case <-r.quit:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return r, nil
}

// next returns the next message, waiting at most wait (errStalled).
func (r *ordered) next(ctx context.Context, wait time.Duration) (jetstream.Msg, *jetstream.MsgMetadata, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-t.C:
		return nil, nil, errStalled
	case d := <-r.ch:
		if d.err != nil {
			return nil, nil, d.err
		}
		md, err := d.m.Metadata()
		if err != nil {
			return nil, nil, err
		}
		return d.m, md, nil
	}
}

func (r *ordered) close() {
	close(r.quit)
	r.it.Stop()
}

// replayReader applies one source's events of a partition up to successive positions, reading
// the stream once from the store's checkpoint.
type replayReader struct {
	g    *Group
	h    *held
	src  Source
	r    *ordered
	held jetstream.Msg // read ahead: after the last position asked
	seq  uint64        // of held
	// last is the sequence of the last message read; drained is set when it was the last
	// the stream had then (no message later can be at or before a position already written).
	last    uint64
	drained bool
}

// upTo applies the partition's events through stream sequence pos, in batches as the readers
// do.
func (rr *replayReader) upTo(ctx context.Context, pos uint64) error {
	var cp uint64
	if err := rr.g.cfg.DB.View(func(tx *bolt.Tx) error { cp = Checkpoint(tx, rr.src.Name, rr.h.p); return nil }); err != nil {
		return err
	}
	if cp >= pos {
		return nil
	}
	if rr.r == nil {
		r, err := openOrdered(ctx, rr.g.cfg.JS, rr.src.Stream, rr.src.Subject, cp+1, 2*rr.g.cfg.Batch)
		if err != nil {
			return err
		}
		rr.r = r
	}
	var batch []jetstream.Msg
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := rr.g.apply(rr.h, rr.src, batch)
		batch = nil
		return err
	}
	for {
		if rr.held == nil {
			if rr.last >= pos || rr.drained {
				break
			}
			m, md, err := rr.r.next(ctx, stallAfter)
			if err != nil {
				return err
			}
			rr.held, rr.seq, rr.last, rr.drained = m, md.Sequence.Stream, md.Sequence.Stream, md.NumPending == 0
		}
		if rr.seq > pos {
			break
		}
		if rr.seq > cp {
			batch = append(batch, rr.held)
		}
		rr.held = nil
		if len(batch) >= rr.g.cfg.Batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func (rr *replayReader) close() {
	if rr.r != nil {
		rr.r.close()
		rr.r = nil
	}
}

// inherit runs when this replica gains h's partition and the service carries its decisions
// (Config.Inherit), before the partition's readers start: it appends its marker, reads the
// log before it, and replays each record its store did not commit: the partition's events up
// to the record's positions, then Config.Inherit with the record, in one transaction under
// the lease. known says whether the epoch bucket could be read (adopt).
//
// The inherited windows are frozen (as without a log) when the log cannot account for every
// decision: records missing at its start (a log begun after the partition had owners, e.g.
// replicas upgraded mid-way) freeze the windows begun before the first record; a record the
// service refuses (its events no longer reproduce its values) or a store that applied events
// past a record it must replay (it held the partition, and another owner decided on fewer
// events meanwhile) freezes those begun before now. It returns false if h was lost meanwhile.
func (g *Group) inherit(ctx context.Context, h *held, known bool) bool {
	p := h.p
	g.mu.Lock()
	rev := h.rev // names this take-over's marker: a lease revision is never reused
	g.mu.Unlock()
	var marker uint64
	for {
		op, cancel := context.WithTimeout(ctx, appendTimeout)
		seq, err := g.publishRecord(op, p, Record{Replica: g.cfg.Replica, Owner: h.owner, Marker: true, Time: g.cfg.Clock()},
			0, fmt.Sprintf("%s/%d/%d/marker/%d", g.cfg.Replica, p, h.owner, rev))
		cancel()
		if err == nil {
			marker = seq
			break
		}
		g.cfg.Log.Warn("partition: take-over marker not appended; retrying", "group", g.cfg.Group, "partition", p, "err", err)
		if !sleepCtx(ctx, retryDelay) {
			return false
		}
	}
	var recs []logged
	for {
		op, cancel := context.WithTimeout(ctx, time.Minute)
		var err error
		recs, err = g.readLogBefore(op, p, marker)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		g.cfg.Log.Warn("partition: log not read; retrying", "group", g.cfg.Group, "partition", p, "err", err)
		if !sleepCtx(ctx, retryDelay) {
			return false
		}
	}
	now := g.cfg.Clock()
	// A pruned log: the last checkpoint says which records are to be ignored (gone, or about
	// to be: whether its purge ran yet or not, this read decides the same).
	var cpt *Record
	for i := range recs {
		if recs[i].rec.Checkpoint {
			cpt = &recs[i].rec
		}
	}
	if cpt != nil {
		var kept []logged
		for _, l := range recs {
			if l.seq >= cpt.From && !l.rec.Checkpoint {
				kept = append(kept, l)
			}
		}
		recs = kept
	}
	// Complete: the first record is the marker of the partition's first owner ever (epoch 1),
	// or there is none and this replica is that owner, or the log was pruned behind a
	// checkpoint by an owner that held it complete (or froze what it could not account for,
	// which the checkpoint's horizon carries on).
	complete := known && (cpt != nil || (len(recs) > 0 && recs[0].rec.Marker && recs[0].rec.Owner == 1) || (len(recs) == 0 && h.owner == 1))
	if known && cpt != nil && !cpt.Horizon.IsZero() {
		g.freeze(p, cpt.Horizon, "the log was pruned: the records of the windows begun before the horizon are gone")
	}
	if !complete {
		at := now
		if len(recs) > 0 {
			at = recs[0].rec.Time
		}
		g.freeze(p, at, "the log does not start with the partition's first owner")
	}
	var stored uint64
	if err := g.cfg.DB.View(func(tx *bolt.Tx) error { stored = LogSeq(tx, p); return nil }); err != nil {
		g.freeze(p, now, err.Error())
	}
	replayed, toReplay := 0, 0
	for _, l := range recs {
		if !l.rec.Marker && l.seq > stored {
			toReplay++
		}
	}
	if toReplay > 0 {
		g.cfg.Log.Info("partition: replaying what the previous owners released", "group", g.cfg.Group, "partition", p, "records", toReplay)
	}
	readers := make([]*replayReader, len(g.cfg.Sources))
	for i, src := range g.cfg.Sources {
		readers[i] = &replayReader{g: g, h: h, src: src}
		defer readers[i].close()
	}
	began := time.Now()
replay:
	for _, l := range recs {
		if l.rec.Marker || l.seq <= stored {
			continue
		}
		for _, rr := range readers {
			pos := l.rec.Positions[rr.src.Name]
			var cp uint64
			_ = g.cfg.DB.View(func(tx *bolt.Tx) error { cp = Checkpoint(tx, rr.src.Name, p); return nil })
			if cp > pos {
				g.freeze(p, now, fmt.Sprintf("the store applied %s through %d, past the record at %d (through %d)", rr.src.Name, cp, l.seq, pos))
				break replay
			}
			err := rr.upTo(ctx, pos)
			for try := 1; err != nil && try < 3 && ctx.Err() == nil && !errors.Is(err, errFenced); try++ {
				g.cfg.Log.Warn("partition: replay of the inherited log failed; retrying", "group", g.cfg.Group, "partition", p,
					"source", rr.src.Name, "err", err)
				rr.close()
				rr.r, rr.held, rr.last, rr.drained = nil, nil, 0, false
				if !sleepCtx(ctx, retryDelay) {
					return false
				}
				err = rr.upTo(ctx, pos)
			}
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, errFenced) {
					return false
				}
				g.freeze(p, now, fmt.Sprintf("events up to %d of %s not applied: %v", pos, rr.src.Name, err))
				break replay
			}
		}
		err := g.cfg.DB.Update(func(tx *bolt.Tx) error {
			if err := g.cfg.Inherit(tx, p, l.rec); err != nil {
				return err
			}
			if err := putLogSeq(tx, p, l.seq); err != nil {
				return err
			}
			if !g.holds(h) {
				return errFenced
			}
			return nil
		})
		if errors.Is(err, errFenced) || ctx.Err() != nil {
			return false
		}
		if err != nil {
			g.freeze(p, now, fmt.Sprintf("record at %d by %s refused: %v", l.seq, l.rec.Replica, err))
			break
		}
		replayed++
	}
	g.mu.Lock()
	lost := g.held[p] != h
	if !lost {
		h.ready, h.logLast = true, marker
	}
	g.mu.Unlock()
	if !lost {
		g.cfg.Log.Info("partition: inherited the log", "group", g.cfg.Group, "partition", p, "records", len(recs),
			"replayed", replayed, "took", time.Since(began).Round(time.Millisecond), "frozen_before", g.FrozenBefore(p))
	}
	return !lost
}

// freeze records that the windows of p begun before at are not this store's to release.
func (g *Group) freeze(p int, at time.Time, why string) {
	err := g.cfg.DB.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(checkpointBucket)
		if err != nil {
			return err
		}
		fk := binary.BigEndian.AppendUint32([]byte("frozen\x00"), uint32(p))
		if v := b.Get(fk); len(v) == 8 && !time.Unix(0, int64(binary.BigEndian.Uint64(v))).Before(at) {
			return nil
		}
		return b.Put(fk, binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano())))
	})
	if err != nil {
		g.cfg.Log.Error("partition: cannot record the freeze; freezing in memory", "partition", p, "err", err)
	}
	g.mu.Lock()
	if at.After(g.frozen[p]) {
		g.frozen[p] = at
	}
	g.mu.Unlock()
	g.cfg.Log.Warn("partition: inherited windows frozen", "group", g.cfg.Group, "partition", p, "before", at, "why", why)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
