// Package rollup owns the sentiment aggregates kept in bbolt: one Stats per segment, dimension
// and window, and the set of distinct contributor tags behind each, so that the minimum group
// size counts people rather than comments. Functions named Unsafe… need the caller's write
// transaction: the consumer applies an event, its rollups and its event id in one commit.
//
// Besides its people, an aggregate counts the distinct people behind each of its parts: those
// with a scored item, those with an eNPS answer, and those whose text carried each emotion
// (rollup_people_of). Readers are shown a part only when its own people reach k.
//
// Each aggregate has a live value, which every event updates, and a released one, which is
// all readers and subscribers ever see. Stats.Pending counts the distinct people who
// contributed since the last release of its tree: the service releases a tree only when the
// change since the last release, as well as the new values, hides no group below k.
package rollup

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/voix-dev/voix/services/platform/anonymity/release"
	"github.com/voix-dev/voix/services/platform/segment"
)

var (
	bucketStats    = []byte("rollups")
	bucketPeople   = []byte("rollup_people")
	bucketSegments = []byte("rollup_segments")
	bucketDirty    = []byte("rollup_dirty")
	bucketSent     = []byte("rollup_published")
	bucketPending  = []byte("rollup_pending")
	bucketReleased = []byte("rollup_released")
	// The release state (package release): per aggregate, the flushes at which it released
	// and the cells of the segment's own members; per tree, the flushes decided so far; and
	// the tags of each open cell, to count its people once.
	bucketReleases = []byte("rollup_releases")
	bucketCells    = []byte("rollup_cells")
	bucketOpen     = []byte("rollup_open")
	bucketFlushes  = []byte("rollup_flushes")
	// Trees with people waiting to be shown until their window is over, by tree, with the
	// window's end (Unix seconds).
	bucketWaiting = []byte("rollup_waiting")
	// The distinct people behind one part of an aggregate: aggregate key + 0x00 + part
	// (partScore, partENPS, or partEmotion followed by the emotion's name) + 0x00 + opened
	// contributor tag → empty.
	bucketPeopleOf = []byte("rollup_people_of")
)

// Buckets is where the aggregates live: a transaction (the live store) or the staging bucket
// of a rebuild. Both *bolt.Tx and *bolt.Bucket are Buckets.
type Buckets interface {
	Bucket(name []byte) *bolt.Bucket
}

// Names lists the buckets this package writes, for store.EnsureBuckets.
func Names() [][]byte {
	return [][]byte{bucketStats, bucketPeople, bucketPeopleOf, bucketSegments, bucketDirty, bucketSent, bucketPending, bucketReleased,
		bucketReleases, bucketCells, bucketOpen, bucketFlushes, bucketWaiting}
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
	if i < 0 || len(b) < i+5 {
		return Key{}, fmt.Errorf("rollup key %q is malformed", b)
	}
	return Key{
		Segment:   string(b[:i]),
		Dimension: int32(binary.BigEndian.Uint32(b[i+1 : i+5])),
		Window:    string(b[i+5:]),
	}, nil
}

func (k Key) bytes() []byte {
	var b bytes.Buffer
	b.WriteString(k.Segment)
	b.WriteByte(0)
	var d [4]byte
	binary.BigEndian.PutUint32(d[:], uint32(k.Dimension))
	b.Write(d[:])
	b.WriteString(k.Window)
	return b.Bytes()
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
	if err := json.Unmarshal(v, &s); err != nil {
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
// increasing across a rebuild.
func UnsafeAdd(tx Buckets, k Key, tag []byte, it Item, own bool) (Stats, error) {
	s, err := Get(tx, k)
	if err != nil {
		return s, err
	}
	if s.Version == 0 {
		s.Version = Published(tx, k)
	}
	if len(tag) > 0 {
		pk := append(k.bytes(), 0)
		pk = append(pk, tag...)
		for _, set := range []struct {
			bucket []byte
			n      *uint32
		}{{bucketPeople, &s.People}, {bucketPending, &s.Pending}} {
			b := tx.Bucket(set.bucket)
			if b.Get(pk) == nil {
				if err := b.Put(pk, []byte{}); err != nil {
					return s, err
				}
				*set.n++
			}
		}
		if err := s.addPartPeople(tx, k, tag, it); err != nil {
			return s, err
		}
		if own {
			ob := tx.Bucket(bucketOpen)
			if ob.Get(pk) == nil {
				if err := ob.Put(pk, []byte{}); err != nil {
					return s, err
				}
				cells, err := Cells(tx, k)
				if err != nil {
					return s, err
				}
				if n := len(cells); n == 0 || cells[n-1].End != 0 {
					cells = append(cells, release.Cell{})
				}
				cells[len(cells)-1].People++
				if err := UnsafePutCells(tx, k, cells); err != nil {
					return s, err
				}
			}
		}
	}
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
	s.Version++
	v, err := json.Marshal(s)
	if err != nil {
		return s, err
	}
	if err := tx.Bucket(bucketStats).Put(k.bytes(), v); err != nil {
		return s, err
	}
	// Marks already present are not written again: an unchanged put still dirties its page.
	if segs := tx.Bucket(bucketSegments); segs.Get([]byte(k.Segment)) == nil {
		if err := segs.Put([]byte(k.Segment), []byte{}); err != nil {
			return s, err
		}
	}
	if dirty := tx.Bucket(bucketDirty); dirty.Get(k.bytes()) == nil {
		return s, dirty.Put(k.bytes(), []byte{})
	}
	return s, nil
}

// addPartPeople counts tag among the people of each part of k that it adds to: scores, eNPS,
// its emotion; once per part, like People.
func (s *Stats) addPartPeople(tx Buckets, k Key, tag []byte, it Item) error {
	b := tx.Bucket(bucketPeopleOf)
	add := func(part string) (bool, error) {
		pk := append(k.bytes(), 0)
		pk = append(pk, part...)
		pk = append(pk, 0)
		pk = append(pk, tag...)
		if b.Get(pk) != nil {
			return false, nil
		}
		return true, b.Put(pk, []byte{})
	}
	if it.Scored {
		added, err := add(partScore)
		if err != nil {
			return err
		}
		if added {
			s.ScoredPeople++
		}
	}
	if it.ENPS > 0 {
		added, err := add(partENPS)
		if err != nil {
			return err
		}
		if added {
			s.ENPSPeople++
		}
	}
	if it.Emotion != "" {
		added, err := add(partEmotion + it.Emotion)
		if err != nil {
			return err
		}
		if added {
			if s.Emotions == nil {
				s.Emotions = map[string]uint32{}
			}
			s.Emotions[it.Emotion]++
		}
	}
	return nil
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
	if err := json.Unmarshal(v, &s); err != nil {
		return s, false, fmt.Errorf("released rollup %q/%d/%s: %w", k.Segment, k.Dimension, k.Window, err)
	}
	return s, true, nil
}

// UnsafeRelease makes the live value st of k the released one and starts counting pending
// people afresh.
func UnsafeRelease(tx Buckets, k Key, st Stats) error {
	st.Pending = 0
	v, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketReleased).Put(k.bytes(), v); err != nil {
		return err
	}
	if err := UnsafeResetPending(tx, k, st); err != nil {
		return err
	}
	return UnsafeSetPublished(tx, k, st.Version)
}

// UnsafeResetPending starts counting pending people of k afresh, without releasing it: the
// release that just happened around it includes its contributions.
func UnsafeResetPending(tx Buckets, k Key, st Stats) error {
	st.Pending = 0
	v, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketStats).Put(k.bytes(), v); err != nil {
		return err
	}
	prefix := append(k.bytes(), 0)
	c := tx.Bucket(bucketPending).Cursor()
	for pk, _ := c.Seek(prefix); pk != nil && bytes.HasPrefix(pk, prefix); pk, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
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

// UnsafeCloseOpen forgets the tags of k's open cell, which a cut just closed: a person who
// comes back counts in the next cell.
func UnsafeCloseOpen(tx Buckets, k Key) error {
	prefix := append(k.bytes(), 0)
	c := tx.Bucket(bucketOpen).Cursor()
	for pk, _ := c.Seek(prefix); pk != nil && bytes.HasPrefix(pk, prefix); pk, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
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
