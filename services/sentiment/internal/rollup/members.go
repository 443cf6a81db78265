package rollup

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// The contributors of a window are kept as a log, so that a commit writes a few pages at the
// end of a bucket instead of most pages of a bucket keyed by random tags (which cost most of
// the apply CPU: every commit rewrote the week's contributor pages).
//
// rollup_member_log: window code (uint32 BE) + record sequence (uint64 BE) → the contributors
// a Writer changed in one Flush, each as segment id (uint32 BE) + the first 8 bytes of the
// opened tag + uvarint length + the member record (member.encode). A later record of the same
// contributor replaces the earlier ones. When a window's log holds more than twice its
// contributors, a Flush rewrites it as one record. The key 0x00000000 + "store" holds a
// random identity of this set of aggregates (the live one, or a rebuild's staging).
//
// The contributors of the windows a Writer adds to are kept in memory (memberCache), by store
// identity and window, with the sequence of the last record they include. A Writer uses them
// only after checking, once per window, that the log ends at that sequence and that no other
// transaction left changes it did not log (a transaction rolled back): otherwise it reads the
// window's log again.
var bucketMemberLog = []byte("rollup_member_log")

// storeIDKey holds the store identity in rollup_member_log (window code 0 is never assigned).
var storeIDKey = []byte("\x00\x00\x00\x00store")

// memberID is a contributor of one window: segment id + the first 8 bytes of the opened tag.
type memberID [12]byte

func newMemberID(seg uint32, tag []byte) memberID {
	var id memberID
	binary.BigEndian.PutUint32(id[:4], seg)
	copy(id[4:], tag)
	return id
}

// memberWindow is the contributors of one window of one store, as its log says up to seq.
type memberWindow struct {
	members map[memberID]member
	seq     uint64 // the sequence of the last log record included
	logged  int    // contributor records in the log (a compaction is due beyond 2 × members)
	used    uint64 // memberStore.tick when last used
	// changes made by tx and not logged yet (by every Writer of tx)
	tx       *bolt.Tx
	unlogged int
}

// memberStore is the windows of one store identity.
type memberStore struct {
	windows map[uint32]*memberWindow
	tick    uint64 // counts uses, for used
}

// maxMemberWindows bounds the windows a store keeps in memory: beyond it, the one used least
// recently is dropped (a rebuild replays a year of weeks; the live consumers write one or two
// windows at a time). One with changes not logged yet is kept.
const maxMemberWindows = 4

// memberCache holds the stores' windows in memory. Each store's windows are read and written
// only in its database's write transactions, one at a time; the mutex guards the map.
var memberCache struct {
	sync.Mutex
	stores map[string]*memberStore
}

// maxMemberStores bounds memberCache: stores no longer written (a staging swapped in or
// dropped, a closed database) are forgotten when there are more, and read again if needed.
const maxMemberStores = 8

// txOf returns the transaction of rb: rb itself, or the transaction of a staging bucket.
func txOf(rb Buckets) (*bolt.Tx, error) {
	switch b := rb.(type) {
	case *bolt.Tx:
		return b, nil
	case *bolt.Bucket:
		return b.Tx(), nil
	}
	return nil, fmt.Errorf("rollup: buckets of type %T have no transaction", rb)
}

// memberStoreOf returns the in-memory windows of the store whose log is b, giving the store an
// identity if it has none. Copies of one store opened as two databases are kept apart.
func memberStoreOf(b *bolt.Bucket) (*memberStore, error) {
	id := b.Get(storeIDKey)
	if len(id) == 0 {
		fresh := make([]byte, 16)
		if _, err := rand.Read(fresh); err != nil {
			return nil, err
		}
		if err := b.Put(storeIDKey, fresh); err != nil {
			return nil, err
		}
		id = fresh
	}
	key := cacheKey(b, id)
	memberCache.Lock()
	defer memberCache.Unlock()
	ms := memberCache.stores[key]
	if ms == nil {
		if memberCache.stores == nil || len(memberCache.stores) >= maxMemberStores {
			memberCache.stores = map[string]*memberStore{}
		}
		ms = &memberStore{windows: map[uint32]*memberWindow{}}
		memberCache.stores[key] = ms
	}
	return ms, nil
}

// cacheKey names the store identity id in the database of b.
func cacheKey(b *bolt.Bucket, id []byte) string {
	return fmt.Sprintf("%p/%x", b.Tx().DB(), id)
}

// forgetWindow drops the in-memory contributors of window code in the store of log b (sealed).
func forgetWindow(b *bolt.Bucket, code uint32) {
	id := b.Get(storeIDKey)
	if len(id) == 0 {
		return
	}
	key := cacheKey(b, id)
	memberCache.Lock()
	defer memberCache.Unlock()
	if ms := memberCache.stores[key]; ms != nil {
		delete(ms.windows, code)
	}
}

// lastSeq is the sequence of the last log record of window code in b, 0 if none.
func lastSeq(b *bolt.Bucket, code uint32) uint64 {
	c := b.Cursor()
	var k []byte
	if code == ^uint32(0) {
		k, _ = c.Last()
	} else if k, _ = c.Seek(binary.BigEndian.AppendUint32(nil, code+1)); k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if len(k) != 12 || binary.BigEndian.Uint32(k) != code {
		return 0
	}
	return binary.BigEndian.Uint64(k[4:])
}

// loadWindow reads the contributors of window code from its log.
func loadWindow(b *bolt.Bucket, code uint32) (*memberWindow, error) {
	mw := &memberWindow{members: map[memberID]member{}}
	prefix := binary.BigEndian.AppendUint32(nil, code)
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != 12 {
			continue
		}
		n, err := decodeLogRecord(v, func(id memberID, m member) { mw.members[id] = m })
		if err != nil {
			return nil, fmt.Errorf("rollup member log %x: %w", k, err)
		}
		mw.logged += n
		mw.seq = binary.BigEndian.Uint64(k[4:])
	}
	return mw, nil
}

// appendLogEntry appends one contributor to a log record.
func appendLogEntry(v []byte, id memberID, m member) []byte {
	v = append(v, id[:]...)
	enc := m.encode()
	v = binary.AppendUvarint(v, uint64(len(enc)))
	return append(v, enc...)
}

// decodeLogRecord calls f with each contributor of a log record, and returns how many.
func decodeLogRecord(v []byte, f func(memberID, member)) (int, error) {
	n := 0
	for len(v) > 0 {
		if len(v) < 13 {
			return n, errors.New("truncated record")
		}
		var id memberID
		copy(id[:], v[:12])
		size, k := binary.Uvarint(v[12:])
		if k <= 0 || uint64(len(v)-12-k) < size {
			return n, errors.New("malformed record")
		}
		body := v[12+k : 12+k+int(size)]
		m, err := decodeMember(body)
		if err != nil {
			return n, err
		}
		f(id, m)
		n++
		v = v[12+k+int(size):]
	}
	return n, nil
}

// members returns the contributors of window code for w's transaction, read from the log if
// what memory holds is not exactly what the log says in this transaction.
func (w *Writer) members(code uint32) (*memberWindow, error) {
	if mw := w.mwins[code]; mw != nil {
		return mw, nil
	}
	tx, err := txOf(w.rb)
	if err != nil {
		return nil, err
	}
	b := w.rb.Bucket(bucketMemberLog)
	if w.mstore == nil {
		if w.mstore, err = memberStoreOf(b); err != nil {
			return nil, err
		}
	}
	ms := w.mstore
	mw := ms.windows[code]
	if mw == nil || (mw.tx != tx && (mw.unlogged > 0 || mw.seq != lastSeq(b, code))) {
		if mw, err = loadWindow(b, code); err != nil {
			return nil, err
		}
		ms.windows[code] = mw
	}
	ms.tick++
	mw.used = ms.tick
	ms.evict()
	w.mwins[code] = mw
	return mw, nil
}

// evict drops the least recently used window beyond maxMemberWindows, unless it has changes
// not logged yet.
func (ms *memberStore) evict() {
	for len(ms.windows) > maxMemberWindows {
		var (
			oldest uint32
			found  bool
		)
		for code, mw := range ms.windows {
			if mw.unlogged == 0 && (!found || mw.used < ms.windows[oldest].used) {
				oldest, found = code, true
			}
		}
		if !found {
			return
		}
		delete(ms.windows, oldest)
	}
}

// changeMember notes that w changed contributor id of window code (mw), to log at Flush.
func (w *Writer) changeMember(code uint32, mw *memberWindow, id memberID) error {
	tx, err := txOf(w.rb)
	if err != nil {
		return err
	}
	ch := w.mchanged[code]
	if ch == nil {
		ch = map[memberID]struct{}{}
		w.mchanged[code] = ch
	}
	if _, ok := ch[id]; !ok {
		ch[id] = struct{}{}
		mw.tx = tx
		mw.unlogged++
	}
	return nil
}

// flushMembers writes one log record per window of the contributors w changed.
func (w *Writer) flushMembers() error {
	if len(w.mchanged) == 0 {
		return nil
	}
	b := w.rb.Bucket(bucketMemberLog)
	for code, ch := range w.mchanged {
		mw := w.mwins[code]
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		compact := mw.logged+len(ch) > 2*len(mw.members)+1024
		var v []byte
		if compact {
			// The whole window in one record; the earlier ones go.
			prefix := binary.BigEndian.AppendUint32(nil, code)
			c := b.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
				if err := c.Delete(); err != nil {
					return err
				}
			}
			for id, m := range mw.members {
				v = appendLogEntry(v, id, m)
			}
			mw.logged = len(mw.members)
		} else {
			for id := range ch {
				v = appendLogEntry(v, id, mw.members[id])
			}
			mw.logged += len(ch)
		}
		key := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(make([]byte, 0, 12), code), seq)
		if err := b.Put(key, v); err != nil {
			return err
		}
		mw.seq = seq
		if mw.unlogged -= len(ch); mw.unlogged <= 0 {
			mw.unlogged, mw.tx = 0, nil
		}
	}
	clear(w.mchanged)
	return nil
}

// migrateMembers moves the contributors of the second layout (rollup_members: one key per
// contributor, window code + segment id + 8 bytes of tag) into rollup_member_log, one record
// per window, and deletes the old bucket. It returns how many it moved.
func migrateMembers(tx *bolt.Tx) (int, error) {
	old := tx.Bucket(bucketMembers)
	if old == nil {
		return 0, nil
	}
	dst, err := tx.CreateBucketIfNotExists(bucketMemberLog)
	if err != nil {
		return 0, err
	}
	records := map[uint32][]byte{}
	var codes []uint32
	moved := 0
	err = old.ForEach(func(k, v []byte) error {
		if len(k) != 16 {
			return nil // not a key this package wrote
		}
		m, err := decodeMember(v)
		if err != nil {
			return err
		}
		code := binary.BigEndian.Uint32(k)
		if _, ok := records[code]; !ok {
			codes = append(codes, code)
		}
		var id memberID
		copy(id[:], k[4:])
		records[code] = appendLogEntry(records[code], id, m)
		moved++
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, code := range codes {
		seq, err := dst.NextSequence()
		if err != nil {
			return 0, err
		}
		key := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(nil, code), seq)
		if err := dst.Put(key, records[code]); err != nil {
			return 0, err
		}
	}
	return moved, tx.DeleteBucket(bucketMembers)
}
