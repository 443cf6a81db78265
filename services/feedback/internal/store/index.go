package store

import (
	"bytes"
	"encoding/binary"
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

// UnsafePutDayKey indexes a comment in by_day, without its author segment (see
// UnsafePutDayEntry).
func UnsafePutDayKey(tx WriteTx, key []byte) error { return UnsafePutDayEntry(tx, key, "") }

// UnsafePutDayEntry indexes a comment in by_day with its author segment as the value, so that
// a listing below the organisation can skip the comments shown elsewhere without reading them.
// It writes to by_day_recent, whose finished days UnsafeSealDays moves (recent.go).
func UnsafePutDayEntry(tx WriteTx, key []byte, author string) error {
	bk, err := ByDayRecent.writable(tx)
	if err != nil {
		return err
	}
	return bk.Put(key, []byte(author))
}

// ScanDays calls fn with each by_day key under prefix from start on (from the first if
// start is nil), in key order, until fn returns false. The key is only valid during the call.
func ScanDays(tx ReadTx, prefix, start []byte, fn func(k []byte) (bool, error)) error {
	return ScanDayEntries(tx, prefix, start, func(k, _ []byte) (bool, error) { return fn(k) })
}

// ScanDayEntries is ScanDays with each entry's value: the comment's author segment, or empty
// for an entry written before by_day kept it.
func ScanDayEntries(tx ReadTx, prefix, start []byte, fn func(k, author []byte) (bool, error)) error {
	c, err := dayTiers(tx)
	if err != nil {
		return err
	}
	if start == nil || bytes.Compare(start, prefix) < 0 {
		start = prefix
	}
	for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// DeadlineKind says which deadline a comment can miss.
type DeadlineKind byte

// The deadlines of a comment.
const (
	DeadlineAck     DeadlineKind = 1
	DeadlineResolve DeadlineKind = 2
)

func markKey(kind DeadlineKind) []byte {
	return []byte{'d', 'e', 'a', 'd', 'l', 'i', 'n', 'e', '/', byte('0' + kind)}
}

// DeadlineMark returns the last day of comments whose deadline of kind was checked; zero
// before the first check.
func DeadlineMark(tx ReadTx, kind DeadlineKind) (time.Time, error) {
	bk, err := Meta.in(tx)
	if err != nil {
		return time.Time{}, err
	}
	v := bk.Get(markKey(kind))
	if len(v) != 8 {
		return time.Time{}, nil
	}
	return time.Unix(int64(binary.BigEndian.Uint64(v)), 0).UTC(), nil
}

// UnsafeSetDeadlineMark records that comments made up to day had their deadline of kind checked.
func UnsafeSetDeadlineMark(tx WriteTx, kind DeadlineKind, day time.Time) error {
	bk, err := Meta.writable(tx)
	if err != nil {
		return err
	}
	return bk.Put(markKey(kind), binary.BigEndian.AppendUint64(nil, uint64(day.Unix())))
}

// ScanDayRange calls fn with every comment, of every organisation, made on a day in
// (after, upTo]: those of by_day, then those of by_day_recent. A zero after means from the
// first day.
func ScanDayRange(tx ReadTx, after, upTo time.Time, fn func(day time.Time, id string) error) error {
	for _, b := range []Bucket{ByDay, ByDayRecent} {
		bk, err := b.in(tx)
		if err != nil {
			return err
		}
		if err := scanDayRange(bk, after, upTo, fn); err != nil {
			return err
		}
	}
	return nil
}

func scanDayRange(bk *bolt.Bucket, after, upTo time.Time, fn func(day time.Time, id string) error) error {
	c := bk.Cursor()
	for _, org := range dayOrgs(bk) {
		for k, _ := c.Seek(binary.BigEndian.AppendUint64(bytes.Clone(org), ^uint64(upTo.Unix()))); k != nil && bytes.HasPrefix(k, org); k, _ = c.Next() {
			day, id, ok := SplitDayKey(org, k)
			if !ok {
				continue
			}
			if !after.IsZero() && !day.After(after) {
				break // older days follow
			}
			if err := fn(day, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// dayOrgs returns the prefix (organisation and 0x00) of every organisation with an entry in
// bk, a tier of by_day, seeking from one to the next.
func dayOrgs(bk *bolt.Bucket) [][]byte {
	var orgs [][]byte
	c := bk.Cursor()
	for k, _ := c.First(); k != nil; {
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			k, _ = c.Next()
			continue
		}
		org := bytes.Clone(k[:i+1])
		orgs = append(orgs, org)
		k, _ = c.Seek(nextOrg(org))
	}
	return orgs
}

// nextOrg is where the organisation after the one of prefix org+0x00 starts: org names never
// hold bytes below 0x01.
func nextOrg(prefix []byte) []byte {
	next := bytes.Clone(prefix)
	next[len(next)-1] = 1
	return next
}

// OldestDay is the earliest day of any comment in the by-day index (both tiers), of every
// organisation, and false when it holds none.
func OldestDay(tx ReadTx) (time.Time, bool, error) {
	var oldest time.Time
	found := false
	for _, b := range []Bucket{ByDay, ByDayRecent} {
		bk, err := b.in(tx)
		if err != nil {
			return time.Time{}, false, err
		}
		if day, ok := oldestDay(bk); ok && (!found || day.Before(oldest)) {
			oldest, found = day, true
		}
	}
	return oldest, found, nil
}

// oldestDay is OldestDay of one tier. Within an organisation days are stored newest first, so
// it reads each organisation's last key.
func oldestDay(bk *bolt.Bucket) (time.Time, bool) {
	var oldest time.Time
	found := false
	c := bk.Cursor()
	for _, org := range dayOrgs(bk) {
		last, _ := c.Seek(nextOrg(org))
		if last == nil {
			last, _ = c.Last()
		} else {
			last, _ = c.Prev()
		}
		if day, _, ok := SplitDayKey(org, last); ok && (!found || day.Before(oldest)) {
			oldest, found = day, true
		}
	}
	return oldest, found
}

// Deadline is one comment's deadline of one kind.
type Deadline struct {
	Due        time.Time
	Kind       DeadlineKind
	FeedbackID string
}
