package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ShuffleSize is the length of the keyed shuffle value in a by_day key.
const ShuffleSize = 8

// DayKey is a comment's key in by_day: comments of one organisation, newest day first, and
// within a day in the order of shuffle, a keyed hash of the id, so that the order says nothing
// about when in the day a comment came.
func DayKey(org string, day time.Time, shuffle []byte, id string) []byte {
	k := make([]byte, 0, len(org)+1+8+ShuffleSize+len(id))
	k = append(k, org...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, ^uint64(day.Unix()))
	k = append(k, shuffle[:ShuffleSize]...)
	return append(k, id...)
}

// DayPrefix is the by_day key prefix of an organisation's comments, and with a day, of the
// comments of that day and older.
func DayPrefix(org string) []byte { return append([]byte(org), 0) }

// SplitDayKey returns the day and the feedback id of a by_day key under prefix.
func SplitDayKey(prefix, k []byte) (time.Time, string, bool) {
	if !bytes.HasPrefix(k, prefix) || len(k) <= len(prefix)+8+ShuffleSize {
		return time.Time{}, "", false
	}
	day := time.Unix(int64(^binary.BigEndian.Uint64(k[len(prefix):])), 0).UTC()
	return day, string(k[len(prefix)+8+ShuffleSize:]), true
}

// UnsafePutDayKey indexes a comment in by_day.
func UnsafePutDayKey(tx *bolt.Tx, key []byte) error {
	bk, err := ByDay.in(tx)
	if err != nil {
		return err
	}
	return bk.Put(key, nil)
}

// errStop ends a scan early without an error.
var errStop = errors.New("stop")

// UnsafeScanDays calls fn with each by_day key under prefix from start on (from the first if
// start is nil), in key order, until fn returns false. The key is only valid during the call.
func UnsafeScanDays(tx *bolt.Tx, prefix, start []byte, fn func(k []byte) (bool, error)) error {
	bk, err := ByDay.in(tx)
	if err != nil {
		return err
	}
	if start == nil || bytes.Compare(start, prefix) < 0 {
		start = prefix
	}
	c := bk.Cursor()
	for k, _ := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		more, err := fn(k)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// DeadlineKind says which deadline an entry of deadlines is.
type DeadlineKind byte

// The deadlines of a comment.
const (
	DeadlineAck     DeadlineKind = 1
	DeadlineResolve DeadlineKind = 2
)

// Deadline is an entry of the deadlines bucket.
type Deadline struct {
	Due        time.Time
	Kind       DeadlineKind
	FeedbackID string
}

func (d Deadline) key() []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 9+len(d.FeedbackID)), uint64(d.Due.Unix()))
	k = append(k, byte(d.Kind))
	return append(k, d.FeedbackID...)
}

// UnsafePutDeadline records that d is pending.
func UnsafePutDeadline(tx *bolt.Tx, d Deadline) error {
	bk, err := Deadlines.in(tx)
	if err != nil {
		return err
	}
	return bk.Put(d.key(), nil)
}

// UnsafeDeleteDeadline forgets d: it was met, or its overdue event is queued.
func UnsafeDeleteDeadline(tx *bolt.Tx, d Deadline) error {
	bk, err := Deadlines.in(tx)
	if err != nil {
		return err
	}
	return bk.Delete(d.key())
}

// UnsafeDueDeadlines returns up to limit pending deadlines due at or before now, earliest first.
func UnsafeDueDeadlines(tx *bolt.Tx, now time.Time, limit int) ([]Deadline, error) {
	bk, err := Deadlines.in(tx)
	if err != nil {
		return nil, err
	}
	var out []Deadline
	c := bk.Cursor()
	for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
		if len(k) < 10 {
			continue
		}
		due := time.Unix(int64(binary.BigEndian.Uint64(k)), 0).UTC()
		if due.After(now) {
			break
		}
		out = append(out, Deadline{Due: due, Kind: DeadlineKind(k[8]), FeedbackID: string(k[9:])})
	}
	return out, nil
}
