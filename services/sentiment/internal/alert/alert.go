// Package alert decides when a segment's weekly sentiment or eNPS has dropped significantly
// against its own trailing baseline, and keeps the alert episodes and their history in bbolt.
//
// The rule, for the mean score: the baseline pools the items of the BaselineWeeks weeks before
// the current one in which at least k people took part, and needs MinBaselineWeeks such weeks.
// The current week fires when it has at least k people and MinItems items, its mean is at
// least MinScoreDrop below the baseline's, and Welch's z = drop / sqrt(s²b/nb + s²c/nc) is at
// least the one-sided 1% critical value of Student's t with nc-1 degrees of freedom (2.33 for
// large n, about 2.74 at ten items: the Cornish-Fisher approximation MinZ + (MinZ³+MinZ)/4df,
// so that small weeks do not fire more often than large ones). For eNPS, each answer is +1 (promoter), 0 or -1
// (detractor), so eNPS = 100 × their mean and the same test applies with MinENPSDrop points.
// Small groups cannot fire: k people and MinItems items are required before anything is
// computed, and a large z needs a drop that noise at that n rarely produces. Each metric also
// needs k people of its own, as the aggregates show it (rollup.Stats.ScoredPeople,
// ENPSPeople): in the current week, and in each week its baseline pools.
//
// An episode starts when the rule fires and lasts until an evaluation finds it no longer
// holds: one alert per episode, however many times the week changes meanwhile.
package alert

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

// The rule's constants, stated in the package comment.
const (
	BaselineWeeks    = 8
	MinBaselineWeeks = 3
	MinItems         = 10
	MinScoreDrop     = 0.2
	MinENPSDrop      = 15.0
	MinZ             = 2.33
)

// Metrics an alert can be about.
const (
	MetricScore = "score"
	MetricENPS  = "enps"
)

// Drop is the outcome of one evaluation.
type Drop struct {
	Metric             string
	Baseline, Observed float64
	Z                  float64
}

// Detect evaluates the current week against the weeks before it (any order), for minimum group
// size k, and returns the drops that fire: at most one per metric.
func Detect(baseline []rollup.Stats, current rollup.Stats, k int) []Drop {
	if int(current.People) < k {
		return nil
	}
	var usable []rollup.Stats
	for _, b := range baseline {
		if int(b.People) >= k {
			usable = append(usable, b)
		}
	}
	if len(usable) < MinBaselineWeeks {
		return nil
	}
	var out []Drop
	// Mean score.
	var bn, bs, bss float64
	weeks := 0
	for _, b := range usable {
		if int(b.ScoredPeople) < k {
			continue
		}
		weeks++
		bn += float64(b.Count)
		bs += b.Sum()
		bss += b.SumSquares()
	}
	cn := float64(current.Count)
	if cn >= MinItems && bn >= MinItems && weeks >= MinBaselineWeeks && int(current.ScoredPeople) >= k {
		bm, cm := bs/bn, current.Sum()/cn
		bv := math.Max(0, (bss-bn*bm*bm)/(bn-1))
		cv := math.Max(0, (current.SumSquares()-cn*cm*cm)/(cn-1))
		if d := fire(bm, cm, bv, cv, bn, cn, MinScoreDrop); d != nil {
			d.Metric = MetricScore
			out = append(out, *d)
		}
	}
	// eNPS: answers of +1, 0, -1.
	var bp, bd, ba float64
	weeks = 0
	for _, b := range usable {
		if int(b.ENPSPeople) < k {
			continue
		}
		weeks++
		bp += float64(b.Promoters)
		bd += float64(b.Detractors)
		ba += float64(b.Promoters + b.Passives + b.Detractors)
	}
	cp, cd := float64(current.Promoters), float64(current.Detractors)
	ca := float64(current.Promoters + current.Passives + current.Detractors)
	if ca >= MinItems && ba >= MinItems && weeks >= MinBaselineWeeks && int(current.ENPSPeople) >= k {
		bm, cm := (bp-bd)/ba, (cp-cd)/ca
		// Variance of a +1/0/-1 answer: E[x²] - E[x]², with the sample correction.
		bv := math.Max(0, ((bp+bd)/ba-bm*bm)*ba/(ba-1))
		cv := math.Max(0, ((cp+cd)/ca-cm*cm)*ca/(ca-1))
		if d := fire(100*bm, 100*cm, 1e4*bv, 1e4*cv, ba, ca, MinENPSDrop); d != nil {
			d.Metric = MetricENPS
			out = append(out, *d)
		}
	}
	return out
}

// fire applies the drop and Welch z thresholds.
func fire(bm, cm, bv, cv, bn, cn, minDrop float64) *Drop {
	drop := bm - cm
	if drop < minDrop {
		return nil
	}
	se := math.Sqrt(bv/bn + cv/cn)
	z := math.Inf(1)
	if se > 0 {
		z = drop / se
	}
	if df := cn - 1; z < MinZ+(MinZ*MinZ*MinZ+MinZ)/(4*df) {
		return nil
	}
	return &Drop{Baseline: bm, Observed: cm, Z: z}
}

var (
	bucketAlerts = []byte("alerts")
	bucketOpen   = []byte("alert_open")
	// bucketIDs: alert id → its key in alerts, for the alerts raised with a deterministic id.
	bucketIDs = []byte("alert_ids")
)

// Buckets lists the buckets this package writes, for store.EnsureBuckets.
func Buckets() [][]byte { return [][]byte{bucketAlerts, bucketOpen, bucketIDs} }

// ID is the identity of the alert about metric in the aggregate of seg and dim in window (a
// ContributorTag.Window): the same drop gets the same id however often it is evaluated, and
// whether the aggregates were built incrementally or by a rebuild, so a rebuild never
// re-raises an alert under a new id. It is a hash of those four names only: it tells nothing
// the alert does not say.
func ID(metric, seg string, dim int32, window string) string {
	h := sha256.Sum256([]byte("voix/sentiment-alert/v1\x00" + metric + "\x00" + seg + "\x00" + strconv.Itoa(int(dim)) + "\x00" + window))
	return base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(h[:15])
}

// Raised reports whether an alert with id was raised already.
func Raised(tx *bolt.Tx, id string) bool {
	return tx.Bucket(bucketIDs).Get([]byte(id)) != nil
}

// UnsafeReopen opens the episode of seg, dim and metric again for the alert id already raised,
// without a new alert.
func UnsafeReopen(tx *bolt.Tx, seg string, dim int32, metric, id string) error {
	return tx.Bucket(bucketOpen).Put(episodeKey(seg, dim, metric), []byte(id))
}

// episodeKey names the episode state of one segment, dimension and metric.
func episodeKey(seg string, dim int32, metric string) []byte {
	k := append([]byte(seg), 0)
	k = binary.BigEndian.AppendUint32(k, uint32(dim))
	return append(k, metric...)
}

// UnsafeOpen reports whether an episode is open for seg, dim and metric.
func UnsafeOpen(tx *bolt.Tx, seg string, dim int32, metric string) bool {
	return tx.Bucket(bucketOpen).Get(episodeKey(seg, dim, metric)) != nil
}

// UnsafeClose ends the episode of seg, dim and metric, if one is open.
func UnsafeClose(tx *bolt.Tx, seg string, dim int32, metric string) error {
	return tx.Bucket(bucketOpen).Delete(episodeKey(seg, dim, metric))
}

// UnsafeRaise stores a new alert and opens its episode.
func UnsafeRaise(tx *bolt.Tx, a *eventsv1.SentimentAlert) error {
	if err := tx.Bucket(bucketOpen).Put(episodeKey(a.Segment, int32(a.Dimension), a.Metric), []byte(a.AlertId)); err != nil {
		return err
	}
	data, err := proto.Marshal(a)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketIDs).Put([]byte(a.AlertId), alertKey(a)); err != nil {
		return err
	}
	return tx.Bucket(bucketAlerts).Put(alertKey(a), data)
}

// alertKey sorts alerts by segment, then newest first, then id.
func alertKey(a *eventsv1.SentimentAlert) []byte {
	k := append([]byte(a.Segment), 0)
	k = binary.BigEndian.AppendUint64(k, math.MaxUint64-uint64(a.RaisedAt.AsTime().UnixNano()))
	return append(k, a.AlertId...)
}

// sortTimeSize is the size of the time part of a SortKey.
const sortTimeSize = 8

// SortKey is a's place in a listing: newest first, then by id. The time is the raise instant's Unix
// nanoseconds, sign bit flipped (so that signed order is byte order) and inverted (so that the
// newest comes first). A listing carries the key of the last alert it returned in its page
// token, and the next page starts after it, so alerts raised in between (all newer) neither
// shift nor repeat the rest.
func SortKey(a *eventsv1.SentimentAlert) []byte {
	k := binary.BigEndian.AppendUint64(nil, ^(uint64(a.RaisedAt.AsTime().UnixNano()) ^ 1<<63))
	return append(k, a.AlertId...)
}

// ValidSortKey reports whether b has the shape of a SortKey: a time and a non-empty id.
func ValidSortKey(b []byte) bool { return len(b) > sortTimeSize }

// List returns up to limit alerts of prefix and its subtree that come after the sort key after
// (nil for the first page), newest first (SortKey order), and whether more follow.
func List(tx *bolt.Tx, prefix segment.Path, after []byte, limit int) ([]*eventsv1.SentimentAlert, bool, error) {
	type listed struct {
		key []byte
		a   *eventsv1.SentimentAlert
	}
	var all []listed
	c := tx.Bucket(bucketAlerts).Cursor()
	// Keys start with the segment: every alert of the subtree is in the range of keys that
	// start with the prefix's bytes, and Within picks them out of it.
	start := []byte(prefix.String())
	for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, start); k, v = c.Next() {
		raw, _, ok := bytes.Cut(k, []byte{0})
		if !ok {
			return nil, false, fmt.Errorf("alert key %q has no segment", k)
		}
		seg, err := segment.Parse(string(raw))
		if err != nil {
			return nil, false, fmt.Errorf("alert key %q: %w", k, err)
		}
		if !seg.Within(prefix) {
			continue
		}
		a := &eventsv1.SentimentAlert{}
		if err := proto.Unmarshal(v, a); err != nil {
			return nil, false, fmt.Errorf("alert %q: %w", k, err)
		}
		key := SortKey(a)
		if after != nil && bytes.Compare(key, after) <= 0 {
			continue
		}
		all = append(all, listed{key, a})
	}
	slices.SortFunc(all, func(a, b listed) int { return bytes.Compare(a.key, b.key) })
	more := len(all) > limit
	if more {
		all = all[:limit]
	}
	out := make([]*eventsv1.SentimentAlert, len(all))
	for i, l := range all {
		out[i] = l.a
	}
	return out, more, nil
}
