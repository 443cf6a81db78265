package sentiment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"slices"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

// The release log says, for every release the store decided, exactly which contributions it
// included, so that a rebuild can decide the same releases on the same contributions and
// never withdraw or change what was shown (rebuild.go).
//
// Time is cut into epochs. An event applied is recorded in the current epoch; a flush that
// releases anything closes the epoch: its releases include exactly the events of that epoch
// and of every epoch before it (bbolt serialises the consumers' and the publisher's
// transactions, so this is exact, whatever the order the consumers applied events in). The
// log holds, in bucket release_log (in the live store, or inside a rebuild's staging):
//   - events: source index (1 byte) + epoch (8) + a sequence (8) → the 8-byte hashes of the
//     events (durable + 0x00 + event id, FNV-1a 64) one consumer transaction applied
//   - pins: epoch (8) + the tree's flush n (8) + tree name → the paths released at n, joined
//     by 0x00, in the order they were released
//   - meta: "epoch" (the open epoch, uint64 BE), "bumped" (the transaction that closed the
//     last epoch), "complete" (1 when the log describes every release of the store: it was
//     created on an empty store, or by a rebuild; a store written before the log existed has 0)
//   - windows: the key of an events record → the windows its events may count in (a superset:
//     every window the transaction's rollup.Writer added to), joined by 0x00; a record
//     written before this existed has none
//
// Its size is 8 bytes per event plus one record per consumer transaction and per release, of
// the windows not sealed yet: pruneLog keeps it bounded.
//
// Pruning (pruneLog, when a window is sealed, and on a rebuild's staging before the swap).
// The log is read by one thing only: a rebuild, to reproduce every release exactly, so that no
// released value is ever withdrawn or changed (a changed value, differenced with the old one,
// could isolate the people between them). A sealed window is final: no event counts in it any
// more, its contributors are gone, and no release is decided in it again (its last one was
// decided when it ended, rollup_waiting). A rebuild does not recompute it: it copies it from
// the live store as it is (rebuild.go, copySealed), values, release history and cells, so the
// rebuilt store holds exactly the released values the live one held of it, and of every
// other window the values the replay reproduces from the entries kept. Hence:
//   - an events record all of whose windows are sealed is never needed: each of its events,
//     replayed, changes nothing (its windows are sealed in the staging too), and replayed
//     as an event the log does not know it is skipped (replay.take: it counts in no window
//     the staging has open). A record that names one open window is kept whole.
//   - a release (pin) of a tree of a sealed window is never forced: the copy carries it.
//   - a record without windows (written before they were recorded) is kept.
//
// No released value changes, live or rebuilt, so the guarantee is the one the releases
// themselves give (package release: no set of 1..k-1 people is isolable by any combination of
// released values, across the hierarchy and across releases), and pruning cannot weaken it:
// it removes nothing a release or a check reads. What stays is the events and releases of the
// windows not sealed yet: a few weeks' worth, however long the store lives.
var (
	logBucket  = []byte("release_log")
	logEvents  = []byte("events")
	logPins    = []byte("pins")
	logMeta    = []byte("meta")
	logWindows = []byte("windows")

	metaEpoch    = []byte("epoch")
	metaBumped   = []byte("bumped")
	metaComplete = []byte("complete")
)

// errSwapping fails the live consumers' and the publisher's transactions while a rebuild
// swaps its staging in: they are retried after it.
var errSwapping = errors.New("sentiment: a rebuild is swapping its rollups in; retried after it")

// eventHash names an event of a durable consumer in the log.
func eventHash(durable, id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(durable))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return h.Sum64()
}

func u64(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func be64(x uint64) []byte { return binary.BigEndian.AppendUint64(nil, x) }

// initLog creates the sub-buckets of a new log in b, starting at epoch.
func initLog(b *bolt.Bucket, complete bool, epoch uint64) error {
	for _, name := range [][]byte{logEvents, logPins, logMeta} {
		if _, err := b.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := b.Bucket(logMeta)
	c := byte(0)
	if complete {
		c = 1
	}
	if err := meta.Put(metaComplete, []byte{c}); err != nil {
		return err
	}
	return meta.Put(metaEpoch, be64(epoch))
}

// liveLog returns the live store's log, creating it if missing: complete when the store has
// no aggregate yet, so that every release it will decide is recorded.
func liveLog(tx *bolt.Tx) (*bolt.Bucket, error) {
	if b := tx.Bucket(logBucket); b != nil {
		return b, nil
	}
	complete := rollup.SegmentsVersion(tx) == 0
	b, err := tx.CreateBucket(logBucket)
	if err != nil {
		return nil, err
	}
	return b, initLog(b, complete, 1)
}

// logComplete reports whether the log b describes every release of its store.
func logComplete(b *bolt.Bucket) bool {
	v := b.Bucket(logMeta).Get(metaComplete)
	return len(v) == 1 && v[0] == 1
}

// logBuffer holds the hashes of the events the current consumer transaction applied, per
// source, until the consumer's Flush writes them (flushLog). A transaction rolled back leaves
// them behind: the next transaction starts afresh.
type logBuffer struct {
	mu     sync.Mutex
	tx     *bolt.Tx
	epoch  uint64
	hashes [][]byte
}

// noteApplied records, for flushLog, that the live consumer of source src applied event id
// in tx.
func (s *Service) noteApplied(tx *bolt.Tx, src int, durable, id string) error {
	s.lbuf.mu.Lock()
	defer s.lbuf.mu.Unlock()
	if s.lbuf.tx != tx {
		b, err := liveLog(tx)
		if err != nil {
			return err
		}
		s.lbuf.tx, s.lbuf.epoch = tx, u64(b.Bucket(logMeta).Get(metaEpoch))
		s.lbuf.hashes = make([][]byte, len(s.sources()))
	}
	s.lbuf.hashes[src] = binary.BigEndian.AppendUint64(s.lbuf.hashes[src], eventHash(durable, id))
	return nil
}

// flushLog writes what noteApplied buffered for tx: one record per source.
func (s *Service) flushLog(tx *bolt.Tx) error {
	s.lbuf.mu.Lock()
	defer s.lbuf.mu.Unlock()
	if s.lbuf.tx != tx {
		return nil
	}
	hashes, epoch := s.lbuf.hashes, s.lbuf.epoch
	s.lbuf.tx, s.lbuf.hashes = nil, nil
	wins := map[string]struct{}{}
	if !s.writerWindows(tx, wins) {
		wins = nil // unknown: the records are kept
	}
	return putEvents(tx.Bucket(logBucket), hashes, epoch, wins)
}

// writerWindows adds to into the windows the deferred writer of rb added to, and reports
// whether there is one (flushWriter has not written it yet).
func (s *Service) writerWindows(rb rollup.Buckets, into map[string]struct{}) bool {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.w == nil || !s.w.On(rb) {
		return false
	}
	s.w.Windows(into)
	return true
}

// putEvents appends, to the log b, hashes[src] as events of source src in epoch, whose
// windows are among wins (nil: not known).
func putEvents(b *bolt.Bucket, hashes [][]byte, epoch uint64, wins map[string]struct{}) error {
	ev := b.Bucket(logEvents)
	var names []byte
	if len(wins) > 0 {
		list := make([]string, 0, len(wins))
		for w := range wins {
			list = append(list, w)
		}
		slices.Sort(list)
		names = []byte(strings.Join(list, "\x00"))
	}
	for src, h := range hashes {
		if len(h) == 0 {
			continue
		}
		seq, err := ev.NextSequence()
		if err != nil {
			return err
		}
		key := append([]byte{byte(src)}, be64(epoch)...)
		key = binary.BigEndian.AppendUint64(key, seq)
		if err := ev.Put(key, h); err != nil {
			return err
		}
		if names == nil {
			continue
		}
		wb, err := b.CreateBucketIfNotExists(logWindows)
		if err != nil {
			return err
		}
		if err := wb.Put(key, names); err != nil {
			return err
		}
	}
	return nil
}

// sealing, called as window w of rb is about to be sealed, seals it and prunes the live log
// of what only w's entries kept (pruneLog). A staging's log is pruned before its swap.
func (s *Service) sealing(rb rollup.Buckets, w string) error {
	tx, ok := rb.(*bolt.Tx)
	if !ok || rollup.Sealed(rb, w) {
		return nil
	}
	if _, err := rollup.UnsafeSeal(rb, w, 0); err != nil { // sealed, no contributor deleted yet
		return err
	}
	b := tx.Bucket(logBucket)
	if b == nil {
		return nil
	}
	_, err := pruneLog(b, rb)
	return err
}

// pruneLog deletes from the log b what no rebuild can need any more (see the top of this
// file): the events records all of whose windows are sealed in rb, and the releases of trees
// of windows sealed in rb. It returns how many records and releases it deleted.
func pruneLog(b *bolt.Bucket, rb rollup.Buckets) (int, error) {
	memo := map[string]bool{}
	sealed := func(w string) bool {
		v, ok := memo[w]
		if !ok {
			v = rollup.Sealed(rb, w)
			memo[w] = v
		}
		return v
	}
	var drop [][]byte
	if wb := b.Bucket(logWindows); wb != nil {
		_ = wb.ForEach(func(k, v []byte) error {
			for w := range strings.SplitSeq(string(v), "\x00") {
				if !sealed(w) {
					return nil
				}
			}
			drop = append(drop, bytes.Clone(k))
			return nil
		})
		ev := b.Bucket(logEvents)
		for _, k := range drop {
			if err := ev.Delete(k); err != nil {
				return 0, err
			}
			if err := wb.Delete(k); err != nil {
				return 0, err
			}
		}
	}
	n := len(drop)
	drop = drop[:0]
	pins := b.Bucket(logPins)
	_ = pins.ForEach(func(k, _ []byte) error {
		if len(k) < 16 {
			return nil
		}
		if tk, ok := parseTreeName(string(k[16:])); ok && sealed(tk.win) {
			drop = append(drop, bytes.Clone(k))
		}
		return nil
	})
	for _, k := range drop {
		if err := pins.Delete(k); err != nil {
			return 0, err
		}
	}
	return n + len(drop), nil
}

// notePin records in the live log that tree released paths at its flush n, in tx: the first
// release of a transaction closes the epoch, and all of them include the epoch closed. A
// release decided in a rebuild's staging (rb is not tx) is not recorded here: the rebuild
// writes its staging's log itself.
func (s *Service) notePin(tx *bolt.Tx, rb rollup.Buckets, tree string, n uint64, paths []string) error {
	if rb != rollup.Buckets(tx) {
		return nil
	}
	if s.gate.Load() {
		return errSwapping
	}
	b, err := liveLog(tx)
	if err != nil {
		return err
	}
	meta := b.Bucket(logMeta)
	epoch := u64(meta.Get(metaEpoch))
	if txid := uint64(tx.ID()); u64(meta.Get(metaBumped)) != txid {
		if err := meta.Put(metaBumped, be64(txid)); err != nil {
			return err
		}
		if err := meta.Put(metaEpoch, be64(epoch+1)); err != nil {
			return err
		}
	} else {
		epoch-- // closed by an earlier release of this transaction
	}
	return putPin(b, epoch, tree, n, paths)
}

// putPin records, in the log b, the release of paths of tree at its flush n in epoch.
func putPin(b *bolt.Bucket, epoch uint64, tree string, n uint64, paths []string) error {
	key := append(be64(epoch), be64(n)...)
	key = append(key, tree...)
	return b.Bucket(logPins).Put(key, []byte(strings.Join(paths, "\x00")))
}

// pin is a release recorded in the log.
type pin struct {
	epoch, n uint64
	tree     string
	paths    []string
}

func parsePin(k, v []byte) pin {
	p := pin{epoch: u64(k[:8]), n: u64(k[8:16]), tree: string(k[16:])}
	if len(v) > 0 {
		p.paths = strings.Split(string(v), "\x00")
	}
	return p
}

// parseEvents splits a key of the log's events into source, epoch and sequence.
func parseEventsKey(k []byte) (src int, epoch uint64, ok bool) {
	if len(k) != 17 {
		return 0, 0, false
	}
	return int(k[0]), u64(k[1:9]), true
}

// after returns the first key of c strictly after last (the first key when last is nil).
func after(c *bolt.Cursor, last []byte) (k, v []byte) {
	if last == nil {
		return c.First()
	}
	k, v = c.Seek(last)
	if k != nil && bytes.Equal(k, last) {
		return c.Next()
	}
	return k, v
}
