// Package rollup owns the sentiment aggregates kept in bbolt: one Stats per segment, dimension
// and window, and the set of distinct contributors behind each, so that the minimum group
// size counts people rather than comments. Functions named Unsafe… need the caller's write
// transaction: the consumer applies events, their rollups and their event ids in one commit.
//
// Besides its people, an aggregate counts the distinct people behind each of its parts: those
// with a scored item, those with an eNPS answer, and those whose text carried each emotion.
// Readers are shown a part only when its own people reach k.
//
// Each aggregate has a live value, which every event updates, and a released one, which is
// all readers and subscribers ever see. Stats.Pending counts the distinct people who
// contributed since the last release of the aggregate.
//
// Storage is sized for volume. Values are compact binary (version byte, then varints; records
// written as JSON by earlier versions still read). A contributor is one record per segment and
// window, named by segment id (4 bytes) and the first 8 bytes of the opened tag → per
// dimension they count in: the dimension, flags (which parts and emotions), the pending epoch
// and the open-cell epoch in which they were last counted, as uvarints. The records are kept
// in a log per window, appended once per transaction (rollup_member_log, members.go), and the
// windows being written in memory.
// Starting a new pending count or a new open cell is a new epoch in the Stats, not a scan. Two people whose tags share 8 bytes
// count as one: fewer people, never more, so a collision can only hide. Once a window is
// over by SealAfter, and no event has counted in it for as long, its members are deleted and
// the window is sealed (rollup_windows): its aggregates keep their counts, and a late event
// no longer counts in it (it could not be told apart from a person already counted).
//
// Buckets, each key → value:
//   - rollups: aggregate key (window, 0x00, segment, 0x00, dimension uint32 BE; Key.bytes) → Stats
//   - rollup_meta: "keys" → "window-first" once the keys are in that layout (layout.go)
//   - rollup_released: aggregate key → the released Stats
//   - rollup_published: aggregate key → the version last published, uint64 BE
//   - rollup_segments: segment → empty, every segment with an aggregate
//   - rollup_dirty: aggregate key → empty, changed since the publisher last took it
//   - rollup_member_log: see above and members.go (rollup_members, a key per contributor,
//     is the layout before it: Migrate)
//   - rollup_windows: window → code uint32 BE, state (0; 1 once sealed, 2 once its members are
//     all deleted), the last day an event counted in it (days since 1970, uint32 BE)
//   - rollup_segment_ids: segment → id uint32 BE
//   - rollup_releases, rollup_cells, rollup_flushes, rollup_waiting: the release state below
package rollup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/voix-dev/voix/services/platform/anonymity/release"
	"github.com/voix-dev/voix/services/platform/segment"
)

var (
	bucketStats    = []byte("rollups")
	bucketSegments = []byte("rollup_segments")
	bucketDirty    = []byte("rollup_dirty")
	bucketSent     = []byte("rollup_published")
	bucketReleased = []byte("rollup_released")
	bucketMembers  = []byte("rollup_members")
	bucketWindows  = []byte("rollup_windows")
	bucketSegIDs   = []byte("rollup_segment_ids")
	// The release state (package release): per aggregate, the flushes at which it released
	// and the cells of the segment's own members; per tree, the flushes decided so far.
	bucketReleases = []byte("rollup_releases")
	bucketCells    = []byte("rollup_cells")
	bucketFlushes  = []byte("rollup_flushes")
	// Trees with people waiting to be shown until their window is over, by tree, with the
	// window's end (Unix seconds).
	bucketWaiting = []byte("rollup_waiting")
)

// Buckets of the first layout, with one key per contributor and part (aggregate key + 0x00
// [+ part + 0x00] + the whole opened tag): Migrate moves them into rollup_members.
var (
	legacyPeople   = []byte("rollup_people")
	legacyPending  = []byte("rollup_pending")
	legacyOpen     = []byte("rollup_open")
	legacyPeopleOf = []byte("rollup_people_of")
)

// Buckets is where the aggregates live: a transaction (the live store) or the staging bucket
// of a rebuild. Both *bolt.Tx and *bolt.Bucket are Buckets.
type Buckets interface {
	Bucket(name []byte) *bolt.Bucket
}

// Names lists the buckets this package writes, for store.EnsureBuckets.
func Names() [][]byte {
	return [][]byte{bucketStats, bucketMemberLog, bucketWindows, bucketSegIDs, bucketSegments, bucketDirty, bucketSent, bucketReleased,
		bucketReleases, bucketCells, bucketFlushes, bucketWaiting, bucketMeta}
}

// Key names one aggregate. Dimension 0 means all dimensions together. Window is
// "<granularity>:<key>", as in events.v1.ContributorTag ("week:2026-W48").
type Key struct {
	Segment   string
	Dimension int32
	Window    string
}

// parseKey is the inverse of Key.bytes.
func parseKey(b []byte) (Key, error) {
	i := bytes.IndexByte(b, 0)
	if i < 0 || len(b) < i+6 || b[len(b)-5] != 0 {
		return Key{}, fmt.Errorf("rollup key %q is malformed", b)
	}
	return Key{
		Window:    string(b[:i]),
		Segment:   string(b[i+1 : len(b)-5]),
		Dimension: int32(binary.BigEndian.Uint32(b[len(b)-4:])),
	}, nil
}

// bytes is the key of k in the buckets of aggregates: window, 0x00, segment, 0x00, dimension
// (uint32 BE). Window first, so that the aggregates one transaction changes (those of the
// current week, mostly) share a few pages rather than one page per segment and dimension.
func (k Key) bytes() []byte {
	b := make([]byte, 0, len(k.Window)+len(k.Segment)+6)
	b = append(append(append(b, k.Window...), 0), k.Segment...)
	return binary.BigEndian.AppendUint32(append(b, 0), uint32(k.Dimension))
}

// oldKeyBytes is the key of k before the window came first (layoutWindowFirst): segment, 0x00,
// dimension (uint32 BE), window.
func oldKeyBytes(k Key) []byte {
	var b bytes.Buffer
	b.WriteString(k.Segment)
	b.WriteByte(0)
	var d [4]byte
	binary.BigEndian.PutUint32(d[:], uint32(k.Dimension))
	b.Write(d[:])
	b.WriteString(k.Window)
	return b.Bytes()
}

// parseOldKey is the inverse of oldKeyBytes.
func parseOldKey(b []byte) (Key, error) {
	i := bytes.IndexByte(b, 0)
	if i < 0 || len(b) < i+5 {
		return Key{}, fmt.Errorf("rollup key %q is malformed", b)
	}
	return Key{
		Segment:   string(b[:i]),
		Dimension: int32(binary.BigEndian.Uint32(b[i+1 : i+5])),
		Window:    string(b[i+5:]),
	}, nil
}

// Stats is one aggregate. Sums allow means and variances without keeping the items.
type Stats struct {
	People   uint32 `json:"p"`
	Count    uint32 `json:"n"`
	Positive uint32 `json:"pos"`
	Neutral  uint32 `json:"neu"`
	Negative uint32 `json:"neg"`
	// MicroSum and MicroSquares are the sums of the scores and of their squares in millionths,
	// as integers: each item adds its own rounded term, so the sums are the same whatever the
	// order the items arrived in (float sums are not), and a rebuild answers exactly as the
	// incremental store.
	MicroSum     int64  `json:"s"`
	MicroSquares int64  `json:"ss"`
	Promoters    uint32 `json:"pr,omitempty"`
	Passives     uint32 `json:"pa,omitempty"`
	Detractors   uint32 `json:"de,omitempty"`
	// Version increases with every change, so published updates can be ordered and deduplicated.
	Version uint64 `json:"v"`
	// Pending counts the distinct people who contributed since the last release of the tree
	// (all of them before the first), and is zero in a released value.
	Pending uint32 `json:"q,omitempty"`
	// ScoredPeople counts the distinct people with at least one scored item (Count), and
	// ENPSPeople those with at least one eNPS answer (the eNPS counters): a part of the
	// aggregate is shown only when its own people reach k. Aggregates written before these
	// counts existed read them as zero, so their parts stay hidden until a rebuild.
	ScoredPeople uint32 `json:"sp,omitempty"`
	ENPSPeople   uint32 `json:"ep,omitempty"`
	// Emotions counts, per emotion (Item.Emotion), the distinct people with an item that
	// carried it.
	Emotions map[string]uint32 `json:"em,omitempty"`
	// PendingEpoch and OpenEpoch number the current pending count and open cell: a member
	// last counted in an earlier one counts again.
	PendingEpoch uint32 `json:"-"`
	OpenEpoch    uint32 `json:"-"`
}

// Mean is the mean score, 0 with no items.
func (s Stats) Mean() float64 {
	if s.Count == 0 {
		return 0
	}
	return s.Sum() / float64(s.Count)
}

// Sum is the sum of the scores.
func (s Stats) Sum() float64 { return float64(s.MicroSum) / micro }

// SumSquares is the sum of the squared scores.
func (s Stats) SumSquares() float64 { return float64(s.MicroSquares) / micro }

// micro is the fixed-point unit of the sums.
const micro = 1e6

// ENPS is promoters minus detractors in percent of ENPS answers, and whether there were any.
func (s Stats) ENPS() (float64, bool) {
	n := s.Promoters + s.Passives + s.Detractors
	if n == 0 {
		return 0, false
	}
	return 100 * (float64(s.Promoters) - float64(s.Detractors)) / float64(n), true
}

// Label is the three-class label of one scored item.
type Label int

// Labels of scored items.
const (
	Negative Label = -1
	Neutral  Label = 0
	Positive Label = 1
)

// Item is what one contribution adds to an aggregate. A zero Item with ENPS set adds only to
// the eNPS counters; Scored says whether Score and Label count.
type Item struct {
	Scored bool
	Score  float64
	Label  Label
	// ENPS is the 0..10 answer plus one, so that zero means "no eNPS answer".
	ENPS int
	// Emotion is the dominant emotion of the item's text, as the analyzer names it ("stress"),
	// or empty for none. It counts the contributor among the people of that emotion.
	Emotion string
}

// Parts of an aggregate whose people are counted apart (bucketPeopleOf).
const (
	partScore   = "score"
	partENPS    = "enps"
	partEmotion = "emotion/"
)

// Get reads an aggregate; a missing one is the zero Stats.
func Get(tx Buckets, k Key) (Stats, error) {
	var s Stats
	v := tx.Bucket(bucketStats).Get(k.bytes())
	if v == nil {
		return s, nil
	}
	if err := s.decode(v); err != nil {
		return s, fmt.Errorf("rollup %q/%d/%s: %w", k.Segment, k.Dimension, k.Window, err)
	}
	return s, nil
}

// UnsafeAdd adds item to the aggregate k, counting tag as a person if this is the first item of
// that tag in k, and returns the aggregate after the change. own says that the contributor is
// a member of k's segment itself (not of a sub-segment): they then count in the segment's open
// cell too, once per cell (package release).
//
// A new aggregate starts its version after the last one published, so that versions keep
// increasing across a rebuild. In a sealed window nothing changes.
func UnsafeAdd(tx Buckets, k Key, tag []byte, it Item, own bool) (Stats, error) {
	return UnsafeAddAll(tx, k, tag, []Item{it}, own)
}

// UnsafeAddAll is UnsafeAdd for several items of one contributor: one read and one write of
// the aggregate and of the contributor's record.
func UnsafeAddAll(tx Buckets, k Key, tag []byte, items []Item, own bool) (Stats, error) {
	w := NewWriter(tx)
	if err := w.Add(k.Segment, k.Window, tag, own, []int32{k.Dimension}, [][]Item{items}); err != nil {
		return Stats{}, err
	}
	st := w.stats[string(k.bytes())]
	if err := w.Flush(); err != nil {
		return Stats{}, err
	}
	if st == nil {
		return Get(tx, k) // a sealed window: unchanged
	}
	return st.st, nil
}

// Writer adds to the aggregates of one write transaction (or of a rebuild's staging in it),
// keeping each aggregate it changes in memory until Flush: events applied in one transaction
// read and write each aggregate once, not once per event. Contributors and cells are read and
// written at once. Flush must run before the transaction commits, and a Writer must not
// outlive it.
type Writer struct {
	rb      Buckets
	stats   map[string]*cached
	windows map[string]windowState
	segIDs  map[string]uint32
	day     uint32 // At; 0: not noted
	// contributors (members.go): the store's windows in memory, those checked for this
	// transaction, and the contributors changed per window, to log at Flush
	mstore   *memberStore
	mwins    map[uint32]*memberWindow
	mchanged map[uint32]map[memberID]struct{}
}

type windowState struct {
	code    uint32
	sealed  bool
	lastDay uint32 // the last day (since 1970-01-01) an event counted in the window
	touched bool   // lastDay to write at Flush
}

type cached struct {
	key     Key
	st      Stats
	created bool
	// cells of the segment's own members, once read (changed: to write at Flush)
	cells                []release.Cell
	cellsRead, cellsDone bool
}

// NewWriter returns a Writer on rb.
func NewWriter(rb Buckets) *Writer {
	return &Writer{rb: rb, stats: map[string]*cached{}, windows: map[string]windowState{}, segIDs: map[string]uint32{},
		mwins: map[uint32]*memberWindow{}, mchanged: map[uint32]map[memberID]struct{}{}}
}

// At makes w note, per window it adds to, the day of now as the last day an event counted in
// it (Windows, at most one write per window and day), and returns w.
func (w *Writer) At(now time.Time) *Writer {
	w.day = uint32(now.Unix() / 86400)
	return w
}

// On reports whether w writes to rb.
func (w *Writer) On(rb Buckets) bool { return w.rb == rb }

// Add adds, for one contributor (tag, none if empty) of segment seg in window win, items[i] to
// the aggregate of dimension dims[i], for each i. own says that the contributor is a member of
// seg itself, not of a sub-segment. In a sealed window nothing changes.
func (w *Writer) Add(seg, win string, tag []byte, own bool, dims []int32, items [][]Item) error {
	ws, err := w.window(win)
	if err != nil || ws.sealed {
		return err
	}
	if w.day > ws.lastDay {
		ws.lastDay, ws.touched = w.day, true
		w.windows[win] = ws
	}
	aggs := make([]*cached, len(dims))
	for i, d := range dims {
		k := Key{Segment: seg, Dimension: d, Window: win}
		kb := k.bytes()
		c := w.stats[string(kb)]
		if c == nil {
			st, err := Get(w.rb, k)
			if err != nil {
				return err
			}
			c = &cached{key: k, st: st}
			if c.created = st.Version == 0; c.created {
				c.st.Version = Published(w.rb, k)
			}
			w.stats[string(kb)] = c
		}
		aggs[i] = c
	}
	if len(tag) > 0 {
		if err := w.addMember(ws.code, seg, tag, own, aggs, items); err != nil {
			return err
		}
	}
	for i, c := range aggs {
		for _, it := range items[i] {
			c.st.addItem(it)
		}
		c.st.Version++
	}
	return nil
}

// Flush writes the aggregates w changed, marks them for the publisher, and forgets them.
func (w *Writer) Flush() error {
	if err := w.flushMembers(); err != nil {
		return err
	}
	stats, segs, dirty := w.rb.Bucket(bucketStats), w.rb.Bucket(bucketSegments), w.rb.Bucket(bucketDirty)
	// In key order: each page of the buckets is then visited once, in a row.
	keys := make([]string, 0, len(w.stats))
	for kb := range w.stats {
		keys = append(keys, kb)
	}
	slices.Sort(keys)
	for _, kb := range keys {
		c := w.stats[kb]
		if err := stats.Put([]byte(kb), c.st.encode()); err != nil {
			return err
		}
		if c.cellsDone {
			if err := UnsafePutCells(w.rb, c.key, c.cells); err != nil {
				return err
			}
		}
		// Marks already present are not written again: an unchanged put still dirties its page.
		if c.created && segs.Get([]byte(c.key.Segment)) == nil {
			if err := segs.Put([]byte(c.key.Segment), []byte{}); err != nil {
				return err
			}
			if _, err := segs.NextSequence(); err != nil { // SegmentsVersion
				return err
			}
		}
		if dirty.Get([]byte(kb)) == nil {
			if err := dirty.Put([]byte(kb), []byte{}); err != nil {
				return err
			}
		}
	}
	clear(w.stats)
	windows := w.rb.Bucket(bucketWindows)
	for name, ws := range w.windows {
		if ws.touched {
			if err := windows.Put([]byte(name), windowValue(ws.code, 0, ws.lastDay)); err != nil {
				return err
			}
			ws.touched = false
			w.windows[name] = ws
		}
	}
	return nil
}

func (w *Writer) window(win string) (windowState, error) {
	if ws, ok := w.windows[win]; ok {
		return ws, nil
	}
	code, state, last, err := windowCode(w.rb, win)
	if err != nil {
		return windowState{}, err
	}
	ws := windowState{code: code, sealed: state != 0, lastDay: last}
	w.windows[win] = ws
	return ws, nil
}

func (w *Writer) segmentID(seg string) (uint32, error) {
	if id, ok := w.segIDs[seg]; ok {
		return id, nil
	}
	id, err := segmentID(w.rb, seg)
	if err == nil {
		w.segIDs[seg] = id
	}
	return id, err
}

// addItem adds the sums and counters of one item.
func (s *Stats) addItem(it Item) {
	if it.Scored {
		score := math.Max(-1, math.Min(1, it.Score))
		s.Count++
		s.MicroSum += int64(math.Round(score * micro))
		s.MicroSquares += int64(math.Round(score * score * micro))
		switch it.Label {
		case Positive:
			s.Positive++
		case Negative:
			s.Negative++
		default:
			s.Neutral++
		}
	}
	switch {
	case it.ENPS >= 10: // 9 or 10
		s.Promoters++
	case it.ENPS >= 8: // 7 or 8
		s.Passives++
	case it.ENPS >= 1: // 0 to 6
		s.Detractors++
	}
}

// Member flags: the parts of an aggregate a contributor counts in.
const (
	flagScore uint64 = 1 << iota
	flagENPS
	flagOpen // counted in the open cell of epoch entry.open
	flagEmotion0
)

// emotionBits are the flag bits of the analyzer's emotions; another name takes a bit from its
// hash among the rest (two names sharing a bit count a person once: fewer, never more).
var emotionBits = map[string]uint{"joy": 0, "gratitude": 1, "pride": 2, "frustration": 3, "sadness": 4, "stress": 5, "fatigue": 6}

func emotionFlag(name string) uint64 {
	bit, ok := emotionBits[name]
	if !ok {
		h := fnv.New32a()
		h.Write([]byte(name))
		bit = 8 + uint(h.Sum32()%50)
	}
	return flagEmotion0 << bit
}

// entry is a contributor's state in the aggregate of one dimension.
type entry struct {
	dim        int32
	flags      uint64
	pend, open uint32
}

// member is a contributor's record in one segment and window: an entry per dimension.
type member []entry

func (m member) encode() []byte {
	v := make([]byte, 0, 6*len(m))
	for _, e := range m {
		v = binary.AppendUvarint(v, uint64(uint32(e.dim)))
		v = binary.AppendUvarint(v, e.flags)
		v = binary.AppendUvarint(v, uint64(e.pend))
		v = binary.AppendUvarint(v, uint64(e.open))
	}
	return v
}

func decodeMember(v []byte) (member, error) {
	var m member
	for len(v) > 0 {
		var vals [4]uint64
		for i := range vals {
			x, n := binary.Uvarint(v)
			if n <= 0 {
				return nil, fmt.Errorf("rollup member record %x is malformed", v)
			}
			vals[i], v = x, v[n:]
		}
		m = append(m, entry{dim: int32(uint32(vals[0])), flags: vals[1], pend: uint32(vals[2]), open: uint32(vals[3])})
	}
	return m, nil
}

// memberKey is window code + segment id + the first 8 bytes of the opened tag.
func memberKey(win, seg uint32, tag []byte) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint32(k, win)
	binary.BigEndian.PutUint32(k[4:], seg)
	copy(k[8:], tag)
	return k
}

// addMember counts tag, in each aggregate of aggs, among its people, its pending people, the
// people of each part its items add to (scores, eNPS, emotions), and its open cell when own;
// each once.
func (w *Writer) addMember(win uint32, seg string, tag []byte, own bool, aggs []*cached, items [][]Item) error {
	sid, err := w.segmentID(seg)
	if err != nil {
		return err
	}
	mw, err := w.members(win)
	if err != nil {
		return err
	}
	id := newMemberID(sid, tag)
	// A copy: the record in memory changes only once the change is noted for the log.
	m := slices.Clone(mw.members[id])
	changed := false
	for i, c := range aggs {
		s := &c.st
		j := slices.IndexFunc(m, func(e entry) bool { return e.dim == c.key.Dimension })
		if j < 0 {
			m = append(m, entry{dim: c.key.Dimension, pend: s.PendingEpoch})
			j = len(m) - 1
			s.People++
			s.Pending++
			changed = true
		} else if m[j].pend != s.PendingEpoch {
			m[j].pend = s.PendingEpoch
			s.Pending++
			changed = true
		}
		e := &m[j]
		for _, it := range items[i] {
			if it.Scored && e.flags&flagScore == 0 {
				e.flags |= flagScore
				s.ScoredPeople++
				changed = true
			}
			if it.ENPS > 0 && e.flags&flagENPS == 0 {
				e.flags |= flagENPS
				s.ENPSPeople++
				changed = true
			}
			if it.Emotion != "" {
				if f := emotionFlag(it.Emotion); e.flags&f == 0 {
					e.flags |= f
					if s.Emotions == nil {
						s.Emotions = map[string]uint32{}
					}
					s.Emotions[it.Emotion]++
					changed = true
				}
			}
		}
		if own && (e.flags&flagOpen == 0 || e.open != s.OpenEpoch) {
			e.flags |= flagOpen
			e.open = s.OpenEpoch
			changed = true
			if !c.cellsRead {
				if c.cells, err = Cells(w.rb, c.key); err != nil {
					return err
				}
				c.cellsRead = true
			}
			if n := len(c.cells); n == 0 || c.cells[n-1].End != 0 {
				c.cells = append(c.cells, release.Cell{})
			}
			c.cells[len(c.cells)-1].People++
			c.cellsDone = true
		}
	}
	if !changed {
		return nil
	}
	mw.members[id] = m
	return w.changeMember(win, mw, id)
}

// segmentID returns the id of seg in rollup_segment_ids, assigning one if it has none.
func segmentID(tx Buckets, seg string) (uint32, error) {
	b := tx.Bucket(bucketSegIDs)
	if v := b.Get([]byte(seg)); len(v) == 4 {
		return binary.BigEndian.Uint32(v), nil
	}
	n, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	if n > math.MaxUint32 {
		return 0, errors.New("rollup: segment ids exhausted")
	}
	return uint32(n), b.Put([]byte(seg), binary.BigEndian.AppendUint32(nil, uint32(n)))
}

// windowCode returns the code of window w in rollup_windows, assigning one if it has none,
// its state (0, or sealing, sealed) and the last day an event counted in it (0 if unknown).
func windowCode(tx Buckets, w string) (code uint32, state byte, lastDay uint32, err error) {
	b := tx.Bucket(bucketWindows)
	if v := b.Get([]byte(w)); len(v) >= 4 {
		code, state, lastDay = parseWindowValue(v)
		return code, state, lastDay, nil
	}
	n, err := b.NextSequence()
	if err != nil {
		return 0, 0, 0, err
	}
	if n > math.MaxUint32 {
		return 0, 0, 0, errors.New("rollup: window codes exhausted")
	}
	return uint32(n), 0, 0, b.Put([]byte(w), windowValue(uint32(n), 0, 0))
}

// windowValue is a value of rollup_windows: code, state, last day, each big-endian.
func windowValue(code uint32, state byte, lastDay uint32) []byte {
	v := binary.BigEndian.AppendUint32(make([]byte, 0, 9), code)
	v = append(v, state)
	return binary.BigEndian.AppendUint32(v, lastDay)
}

func parseWindowValue(v []byte) (code uint32, state byte, lastDay uint32) {
	if len(v) >= 4 {
		code = binary.BigEndian.Uint32(v)
	}
	if len(v) >= 5 {
		state = v[4]
	}
	if len(v) >= 9 {
		lastDay = binary.BigEndian.Uint32(v[5:])
	}
	return code, state, lastDay
}

// Window states after the code in rollup_windows.
const (
	windowSealing byte = 1 // sealed; members being deleted
	windowSealed  byte = 2 // sealed; no members left
)

// SealAfter is how long after a window's end, and after the last day an event counted in it,
// its contributors are forgotten: an event that arrives later (a consumer that lagged by
// more than that, and nothing else for as long) no longer counts in it.
const SealAfter = 7 * 24 * time.Hour

// Window is a window with aggregates: its name (ContributorTag.Window) and the last day an
// event counted in it (zero if not noted, Writer.At).
type Window struct {
	Name    string
	LastDay time.Time
}

// Windows lists the windows that have aggregates and are not fully sealed.
func Windows(tx Buckets) []string {
	var out []string
	for _, w := range OpenWindows(tx) {
		out = append(out, w.Name)
	}
	return out
}

// OpenWindows is Windows with the last day an event counted in each.
func OpenWindows(tx Buckets) []Window {
	var out []Window
	_ = tx.Bucket(bucketWindows).ForEach(func(k, v []byte) error {
		_, state, last := parseWindowValue(v)
		if state != windowSealed {
			w := Window{Name: string(k)}
			if last > 0 {
				w.LastDay = time.Unix(int64(last)*86400, 0).UTC()
			}
			out = append(out, w)
		}
		return nil
	})
	return out
}

// UnsafeSeal seals window w, so that no event counts in it any more, and deletes up to limit
// of its members. It reports whether none are left (call again otherwise).
func UnsafeSeal(tx Buckets, w string, limit int) (done bool, err error) {
	b := tx.Bucket(bucketWindows)
	v := b.Get([]byte(w))
	if len(v) < 4 {
		return true, nil
	}
	code, state0, last := parseWindowValue(v)
	if state0 == windowSealed {
		return true, nil
	}
	prefix := binary.BigEndian.AppendUint32(nil, code)
	log := tx.Bucket(bucketMemberLog)
	forgetWindow(log, code)
	c := log.Cursor()
	n := 0
	k, _ := c.Seek(prefix)
	for ; k != nil && bytes.HasPrefix(k, prefix) && n < limit; k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return false, err
		}
		n++
	}
	state := windowSealing
	if k == nil || !bytes.HasPrefix(k, prefix) {
		state = windowSealed
	}
	if err := b.Put([]byte(w), windowValue(code, state, last)); err != nil {
		return false, err
	}
	return state == windowSealed, nil
}

// Segments returns the segments that have any aggregate within prefix (segment.Path.Within),
// in lexicographic order: the nodes of the tree the hiding rules work on.
func Segments(tx Buckets, prefix segment.Path) ([]segment.Path, error) {
	var out []segment.Path
	// Every segment within the prefix is in the range of keys that start with its bytes.
	start := []byte(prefix.String())
	c := tx.Bucket(bucketSegments).Cursor()
	for k, _ := c.Seek(start); k != nil && bytes.HasPrefix(k, start); k, _ = c.Next() {
		seg, err := segment.Parse(string(k))
		if err != nil {
			return nil, fmt.Errorf("rollup segment %q: %w", k, err)
		}
		if seg.Within(prefix) {
			out = append(out, seg)
		}
	}
	return out, nil
}

// SegmentsVersion changes whenever a segment gets its first aggregate (Segments lists one
// more), so that a reader can keep what it derived from Segments until then.
func SegmentsVersion(tx Buckets) uint64 { return tx.Bucket(bucketSegments).Sequence() }

// UnsafeTakeDirty returns up to limit aggregates changed since they were last taken, and
// forgets them: the publisher reads and clears them in the transaction that queues their
// events, so a crash either publishes and clears or does neither.
func UnsafeTakeDirty(tx Buckets, limit int) ([]Key, error) {
	var keys []Key
	c := tx.Bucket(bucketDirty).Cursor()
	for k, _ := c.First(); k != nil && len(keys) < limit; k, _ = c.First() {
		key, err := parseKey(k)
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
		if err := c.Delete(); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// Published returns the version of k last published, 0 if none.
func Published(tx Buckets, k Key) uint64 {
	v := tx.Bucket(bucketSent).Get(k.bytes())
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// UnsafeSetPublished records that version of k was queued for publication.
func UnsafeSetPublished(tx Buckets, k Key, version uint64) error {
	return tx.Bucket(bucketSent).Put(k.bytes(), binary.BigEndian.AppendUint64(nil, version))
}

// Released returns the value of k last released, and whether there is one.
func Released(tx Buckets, k Key) (Stats, bool, error) {
	var s Stats
	v := tx.Bucket(bucketReleased).Get(k.bytes())
	if v == nil {
		return s, false, nil
	}
	if err := s.decode(v); err != nil {
		return s, false, fmt.Errorf("released rollup %q/%d/%s: %w", k.Segment, k.Dimension, k.Window, err)
	}
	return s, true, nil
}

// UnsafeRelease makes the live value st of k the released one and starts counting pending
// people afresh.
func UnsafeRelease(tx Buckets, k Key, st Stats) error {
	st.Pending = 0
	if err := tx.Bucket(bucketReleased).Put(k.bytes(), st.encode()); err != nil {
		return err
	}
	if err := UnsafeResetPending(tx, k, st); err != nil {
		return err
	}
	return UnsafeSetPublished(tx, k, st.Version)
}

// UnsafeResetPending starts counting pending people of k afresh, without releasing it: the
// release that just happened around it includes its contributions. st is the live value the
// caller read; the stored one is updated, so an epoch changed since is kept.
func UnsafeResetPending(tx Buckets, k Key, st Stats) error {
	cur, err := Get(tx, k)
	if err != nil {
		return err
	}
	if cur.Version == 0 {
		cur = st
	}
	cur.Pending = 0
	cur.PendingEpoch++
	return tx.Bucket(bucketStats).Put(k.bytes(), cur.encode())
}

// Cells returns the cells of the own members of k's segment: closed ones by their end, then
// the open one if any.
func Cells(tx Buckets, k Key) ([]release.Cell, error) {
	v := tx.Bucket(bucketCells).Get(k.bytes())
	if len(v)%12 != 0 {
		return nil, fmt.Errorf("cells of %q/%d/%s: %d bytes", k.Segment, k.Dimension, k.Window, len(v))
	}
	out := make([]release.Cell, 0, len(v)/12)
	for i := 0; i < len(v); i += 12 {
		out = append(out, release.Cell{End: binary.BigEndian.Uint64(v[i:]), People: int(binary.BigEndian.Uint32(v[i+8:]))})
	}
	return out, nil
}

// UnsafePutCells stores the cells of k's segment's own members.
func UnsafePutCells(tx Buckets, k Key, cells []release.Cell) error {
	v := make([]byte, 0, 12*len(cells))
	for _, c := range cells {
		v = binary.BigEndian.AppendUint64(v, c.End)
		v = binary.BigEndian.AppendUint32(v, uint32(c.People))
	}
	return tx.Bucket(bucketCells).Put(k.bytes(), v)
}

// UnsafeCloseOpen starts a new open cell for k, whose previous one a cut just closed: a person
// who comes back counts in the next cell.
func UnsafeCloseOpen(tx Buckets, k Key) error {
	cur, err := Get(tx, k)
	if err != nil || cur.Version == 0 {
		return err
	}
	cur.OpenEpoch++
	return tx.Bucket(bucketStats).Put(k.bytes(), cur.encode())
}

// Releases returns the flushes at which k released, increasing.
func Releases(tx Buckets, k Key) []uint64 {
	v := tx.Bucket(bucketReleases).Get(k.bytes())
	out := make([]uint64, 0, len(v)/8)
	for i := 0; i+8 <= len(v); i += 8 {
		out = append(out, binary.BigEndian.Uint64(v[i:]))
	}
	return out
}

// UnsafeAddRelease records that k released at flush n.
func UnsafeAddRelease(tx Buckets, k Key, n uint64) error {
	v := bytes.Clone(tx.Bucket(bucketReleases).Get(k.bytes()))
	return tx.Bucket(bucketReleases).Put(k.bytes(), binary.BigEndian.AppendUint64(v, n))
}

// Flushes returns how many flushes the tree named tree (an organisation, dimension and
// window, as the caller encodes it) has had.
func Flushes(tx Buckets, tree string) uint64 {
	v := tx.Bucket(bucketFlushes).Get([]byte(tree))
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// UnsafeSetFlushes records the flushes of tree.
func UnsafeSetFlushes(tx Buckets, tree string, n uint64) error {
	return tx.Bucket(bucketFlushes).Put([]byte(tree), binary.BigEndian.AppendUint64(nil, n))
}

// UnsafeSetWaiting records that tree has people waiting for its window, which ends at end,
// to be over.
func UnsafeSetWaiting(tx Buckets, tree string, end time.Time) error {
	return tx.Bucket(bucketWaiting).Put([]byte(tree), binary.BigEndian.AppendUint64(nil, uint64(end.Unix())))
}

// UnsafeClearWaiting forgets that tree waits.
func UnsafeClearWaiting(tx Buckets, tree string) error {
	return tx.Bucket(bucketWaiting).Delete([]byte(tree))
}

// DueWaiting lists the waiting trees whose window is over at now.
func DueWaiting(tx Buckets, now time.Time) []string {
	var out []string
	_ = tx.Bucket(bucketWaiting).ForEach(func(k, v []byte) error {
		if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) <= now.Unix() {
			out = append(out, string(k))
		}
		return nil
	})
	return out
}

var bucketStaging = []byte("rollup_staging")

// UnsafeStartStaging creates an empty set of aggregates beside the live one, for a rebuild to
// fill over many transactions, and returns it. A staging left by a rebuild that failed is
// dropped first. The published versions are copied, so that versions keep increasing.
func UnsafeStartStaging(tx *bolt.Tx) (*bolt.Bucket, error) {
	if err := tx.DeleteBucket(bucketStaging); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
		return nil, err
	}
	st, err := tx.CreateBucket(bucketStaging)
	if err != nil {
		return nil, err
	}
	for _, name := range Names() {
		if _, err := st.CreateBucket(name); err != nil {
			return nil, err
		}
	}
	if err := markLayout(st); err != nil {
		return nil, err
	}
	dst := st.Bucket(bucketSent)
	err = tx.Bucket(bucketSent).ForEach(func(k, v []byte) error { return dst.Put(bytes.Clone(k), bytes.Clone(v)) })
	return st, err
}

// Staging returns the staging set of a rebuild in progress, or nil.
func Staging(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket(bucketStaging) }

// UnsafeSwapStaging replaces the live aggregates with the staging ones, in tx.
func UnsafeSwapStaging(tx *bolt.Tx) error {
	st := tx.Bucket(bucketStaging)
	if st == nil {
		return errors.New("rollup: no staging to swap in")
	}
	for _, name := range Names() {
		if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return err
		}
		if err := tx.MoveBucket(name, st, nil); err != nil {
			return fmt.Errorf("rollup: swap %s: %w", name, err)
		}
	}
	return tx.DeleteBucket(bucketStaging)
}

// UnsafeDropStaging deletes the staging set of a rebuild that failed.
func UnsafeDropStaging(tx *bolt.Tx) error {
	if err := tx.DeleteBucket(bucketStaging); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
		return err
	}
	return nil
}
