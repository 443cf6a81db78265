// Package cx keeps the customer side of the customer mirror: the customer signals CX tools
// send for a team (a metric, a value, a number of responses and a time), and the copy of the
// segment registry that says which teams exist. It holds nothing about employees, and no
// person: a signal is a team's figure from a CX tool.
//
// One signal is one key: segment, metric, time and the CX tool's source id. Recording it
// again (a retry, a NATS redelivery, a republish) writes the same key, so it counts once.
package cx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	"github.com/voix-dev/voix/services/platform/segment"
)

// The buckets, top level: the signals by key, and the registered segments.
var (
	bucketSignals  = []byte("cx_signals")
	bucketSegments = []byte("cx_segments")
)

// Buckets lists the buckets this package writes, for store.EnsureBuckets.
func Buckets() [][]byte { return [][]byte{bucketSignals, bucketSegments} }

// Reader is what reads need: a read or write transaction.
type Reader interface {
	Bucket(name []byte) *bolt.Bucket
}

// Writer is what writes need: a write transaction (*bolt.Tx in db.Update).
type Writer interface {
	Reader
	Writable() bool
}

// Signal is one customer signal.
type Signal struct {
	Segment   segment.Path
	Metric    commonv1.CustomerMetric
	Value     float64
	Responses uint32
	Time      time.Time
	SourceID  string
}

// MaxSkew is how far in the future a signal's time may be: clocks of CX tools drift.
const MaxSkew = 5 * time.Minute

// minTime is the earliest time a signal may carry.
var minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// maxSourceID bounds the source id, in characters.
const maxSourceID = 128

// FieldError is a signal's field breaking a rule: "value: CSAT must be in 0..100".
type FieldError struct{ Field, Rule string }

func (e *FieldError) Error() string { return e.Field + ": " + e.Rule }

// Validate checks a signal's value range for its metric, its responses, time and source id
// (not that its segment is registered: Registered does). now is the service's clock. The
// error is a *FieldError naming the field and the rule.
func Validate(s Signal, now time.Time) error {
	bad := func(field, rule string) error { return &FieldError{field, rule} }
	if s.Segment.IsZero() {
		return bad("segment", "required")
	}
	v := s.Value
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return bad("value", "must be a finite number")
	}
	switch s.Metric {
	case commonv1.CustomerMetric_CUSTOMER_METRIC_CSAT:
		if v < 0 || v > 100 {
			return bad("value", "CSAT must be in 0..100 (percentage of satisfied answers)")
		}
	case commonv1.CustomerMetric_CUSTOMER_METRIC_NPS:
		if v < -100 || v > 100 {
			return bad("value", "NPS must be in -100..100")
		}
	case commonv1.CustomerMetric_CUSTOMER_METRIC_CES:
		if v < 1 || v > 7 {
			return bad("value", "CES must be in 1..7 (mean answer on the 7-point scale)")
		}
	case commonv1.CustomerMetric_CUSTOMER_METRIC_COMPLAINTS:
		if v < 0 || v != math.Trunc(v) || v > math.MaxUint32 {
			return bad("value", "COMPLAINTS must be a whole count >= 0")
		}
	case commonv1.CustomerMetric_CUSTOMER_METRIC_UNSPECIFIED:
		return bad("metric", "required")
	default:
		return bad("metric", "must be a known CustomerMetric")
	}
	if s.Time.IsZero() {
		return bad("time", "required")
	}
	if s.Time.Before(minTime) {
		return bad("time", "must be in 2000 or later")
	}
	if s.Time.After(now.Add(MaxSkew)) {
		return bad("time", "must not be more than 5 minutes in the future")
	}
	id := s.SourceID
	if id == "" {
		return bad("source_id", "required: the CX tool's id of this measure, so that a repeat counts once")
	}
	if !utf8.ValidString(id) || utf8.RuneCountInString(id) > maxSourceID {
		return bad("source_id", "must be 1..128 characters of valid UTF-8")
	}
	if strings.IndexFunc(id, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return bad("source_id", "must be printable (no control characters)")
	}
	return nil
}

// key is segment 0x00 metric(1) time(8, Unix nanoseconds, big-endian) source id: the signals
// of one segment and metric are contiguous and in time order. Segment paths never hold 0x00.
func key(s Signal) []byte {
	seg := s.Segment.String()
	k := make([]byte, 0, len(seg)+10+len(s.SourceID))
	k = append(k, seg...)
	k = append(k, 0, byte(s.Metric))
	k = binary.BigEndian.AppendUint64(k, uint64(s.Time.UnixNano()))
	return append(k, s.SourceID...)
}

// value is value(8, float64 bits) responses(4).
func value(s Signal) []byte {
	v := binary.BigEndian.AppendUint64(nil, math.Float64bits(s.Value))
	return binary.BigEndian.AppendUint32(v, s.Responses)
}

// UnsafePut records s (validated) in tx; replaced reports that the same signal was there.
func UnsafePut(tx Writer, s Signal) (replaced bool, err error) {
	b := tx.Bucket(bucketSignals)
	if b == nil {
		return false, errors.New("cx: bucket cx_signals is missing (store.EnsureBuckets)")
	}
	k := key(s)
	replaced = b.Get(k) != nil
	return replaced, b.Put(k, value(s))
}

// Sum is what the signals of one segment, metric and window add up to.
type Sum struct {
	// Responses is the total of their responses.
	Responses uint64
	// Weighted is the sum of value × responses (CSAT, NPS, CES); Count the sum of values
	// (COMPLAINTS).
	Weighted, Count float64
}

// Value is the window's customer value: the mean of the values weighted by their responses,
// or for COMPLAINTS their sum.
func (s Sum) Value(m commonv1.CustomerMetric) float64 {
	if m == commonv1.CustomerMetric_CUSTOMER_METRIC_COMPLAINTS {
		return s.Count
	}
	if s.Responses == 0 {
		return 0
	}
	return s.Weighted / float64(s.Responses)
}

// Range sums the signals of seg and metric with a time in [from, to).
func Range(tx Reader, seg segment.Path, m commonv1.CustomerMetric, from, to time.Time) (Sum, error) {
	var sum Sum
	b := tx.Bucket(bucketSignals)
	if b == nil {
		return sum, errors.New("cx: bucket cx_signals is missing (store.EnsureBuckets)")
	}
	// Signals are between minTime and now: clamping keeps UnixNano in its range.
	from, to = clampTime(from), clampTime(to)
	prefix := append([]byte(seg.String()), 0, byte(m))
	start := binary.BigEndian.AppendUint64(bytes.Clone(prefix), uint64(from.UnixNano()))
	end := binary.BigEndian.AppendUint64(bytes.Clone(prefix), uint64(to.UnixNano()))
	c := b.Cursor()
	for k, v := c.Seek(start); k != nil && bytes.Compare(k, end) < 0; k, v = c.Next() {
		if len(v) != 12 {
			return sum, fmt.Errorf("cx: signal %q has a %d-byte value", k, len(v))
		}
		val := math.Float64frombits(binary.BigEndian.Uint64(v))
		n := binary.BigEndian.Uint32(v[8:])
		sum.Responses += uint64(n)
		sum.Weighted += val * float64(n)
		sum.Count += val
	}
	return sum, nil
}

// maxTime is past any signal's time (which is at most now plus MaxSkew).
var maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

func clampTime(t time.Time) time.Time {
	switch {
	case t.Before(minTime):
		return minTime
	case t.After(maxTime):
		return maxTime
	}
	return t
}

// Series is a segment and a metric that have signals.
type Series struct {
	Segment segment.Path
	Metric  commonv1.CustomerMetric
}

// List returns the segments within prefix (segment.Path.Within) and metrics that have
// signals, in order of segment then metric.
func List(tx Reader, prefix segment.Path) ([]Series, error) {
	b := tx.Bucket(bucketSignals)
	if b == nil {
		return nil, errors.New("cx: bucket cx_signals is missing (store.EnsureBuckets)")
	}
	var out []Series
	start := []byte(prefix.String())
	c := b.Cursor()
	for k, _ := c.Seek(start); k != nil && bytes.HasPrefix(k, start); {
		i := bytes.IndexByte(k, 0)
		if i < 0 || i+1 >= len(k) {
			return nil, fmt.Errorf("cx: malformed signal key %q", k)
		}
		seg, err := segment.Parse(string(k[:i]))
		if err != nil {
			return nil, fmt.Errorf("cx: signal key %q: %w", k, err)
		}
		m := k[i+1]
		if seg.Within(prefix) {
			out = append(out, Series{Segment: seg, Metric: commonv1.CustomerMetric(m)})
		}
		// Skip the rest of this segment and metric: the next key starts after metric+1.
		next := append(bytes.Clone(k[:i+1]), m+1)
		if m == 0xff {
			next = append(bytes.Clone(k[:i]), 1)
		}
		k, _ = c.Seek(next)
	}
	return out, nil
}

// UnsafeRegister applies a registry entry (events.v1.SegmentUpserted): the highest version
// of each segment wins, so a redelivered older entry changes nothing.
func UnsafeRegister(tx Writer, seg segment.Path, headcount uint32, version uint64) error {
	b := tx.Bucket(bucketSegments)
	if b == nil {
		return errors.New("cx: bucket cx_segments is missing (store.EnsureBuckets)")
	}
	k := []byte(seg.String())
	if v := b.Get(k); len(v) == 12 && binary.BigEndian.Uint64(v) >= version {
		return nil
	}
	v := binary.BigEndian.AppendUint64(nil, version)
	return b.Put(k, binary.BigEndian.AppendUint32(v, headcount))
}

// Registered says whether seg is in the registry with people in it; known, whether the
// registry copy has an entry for it at all (headcount 0 included).
func Registered(tx Reader, seg segment.Path) (registered, known bool) {
	b := tx.Bucket(bucketSegments)
	if b == nil {
		return false, false
	}
	v := b.Get([]byte(seg.String()))
	if len(v) != 12 {
		return false, false
	}
	return binary.BigEndian.Uint32(v[8:]) > 0, true
}
