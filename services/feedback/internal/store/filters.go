package store

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
)

// Filter is one value of a comment field that ListFeedback filters on and by_filter indexes:
// a status, an owner group or a dimension. Its entries in by_filter are in by_day's order (the
// by_day key's day, shuffle and id follow the filter), so a filtered listing reads the same
// order, and the same page tokens, as an unfiltered one, without reading the comments that do
// not match.
type Filter struct {
	kind  byte
	value string
}

// The kinds of Filter.
const (
	filterStatus    = 's'
	filterOwner     = 'o'
	filterDimension = 'd'
)

// StatusFilter is the filter of comments with status st.
func StatusFilter(st commonv1.FeedbackStatus) Filter {
	return Filter{filterStatus, string([]byte{byte(st)})}
}

// OwnerFilter is the filter of comments owned by group g, not empty.
func OwnerFilter(g string) Filter { return Filter{filterOwner, g} }

// DimensionFilter is the filter of comments that carry dimension d.
func DimensionFilter(d commonv1.Dimension) Filter {
	return Filter{filterDimension, string([]byte{byte(d)})}
}

// Filters is every Filter comment c is listed under. Enumerations are below 256 and owner
// groups never hold a 0x00 (segment.Rule), so the keys of two filters never share a prefix.
func Filters(c *Comment) []Filter {
	fs := []Filter{StatusFilter(c.Status)}
	if c.OwnerGroup != "" {
		fs = append(fs, OwnerFilter(c.OwnerGroup))
	}
	for _, d := range c.Dimensions {
		fs = append(fs, DimensionFilter(d))
	}
	return fs
}

// filterPrefix is the by_filter key prefix of f's comments of organisation org.
func filterPrefix(org []byte, f Filter) []byte {
	k := make([]byte, 0, len(org)+3+len(f.value))
	k = append(k, org...)
	k = append(k, 0, f.kind)
	k = append(k, f.value...)
	return append(k, 0)
}

// splitOrg returns the organisation and what follows it (day, shuffle, id) of a by_day key.
func splitOrg(dayKey []byte) (org, rest []byte, err error) {
	i := bytes.IndexByte(dayKey, 0)
	if i < 0 {
		return nil, nil, fmt.Errorf("store: by_day key %q without an organisation", dayKey)
	}
	return dayKey[:i], dayKey[i+1:], nil
}

// UnsafePutFilters indexes the comment of by_day key dayKey under each of fs, with an empty
// value: the author segment is by_day's value (ScanFiltered reads it there). Entries written
// before issue 12's bytes-per-comment work hold it as their value, and read the same.
func UnsafePutFilters(tx WriteTx, dayKey []byte, fs []Filter) error {
	return unsafeFilters(tx, dayKey, fs, true)
}

// UnsafeDeleteFilters removes the comment of by_day key dayKey from each of fs.
func UnsafeDeleteFilters(tx WriteTx, dayKey []byte, fs []Filter) error {
	return unsafeFilters(tx, dayKey, fs, false)
}

func unsafeFilters(tx WriteTx, dayKey []byte, fs []Filter, put bool) error {
	if len(fs) == 0 {
		return nil
	}
	bk, err := ByFilter.writable(tx)
	if err != nil {
		return err
	}
	org, rest, err := splitOrg(dayKey)
	if err != nil {
		return err
	}
	for _, f := range fs {
		k := append(filterPrefix(org, f), rest...)
		if put {
			err = bk.Put(k, nil)
		} else {
			err = bk.Delete(k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// UnsafeClearFilters empties by_filter, before it is built again from the comments.
func UnsafeClearFilters(tx *bolt.Tx) error {
	if err := tx.DeleteBucket(ByFilter); err != nil {
		return err
	}
	_, err := tx.CreateBucket(ByFilter)
	return err
}

// ScanFiltered is ScanDays over the comments of organisation org indexed under any of fs: it
// calls fn with the by_day key of each, from start on (a by_day key of org, or nil for the
// first), in by_day order, once even when several of fs match, until fn returns false, with
// the author segment as ScanDayEntries gives it: the entry's value when it holds one (as
// entries written before did), else by_day's. Both are only valid during the call.
func ScanFiltered(tx ReadTx, org string, fs []Filter, start []byte, fn func(dayKey, author []byte) (bool, error)) error {
	bk, err := ByFilter.in(tx)
	if err != nil {
		return err
	}
	days, err := ByDay.in(tx)
	if err != nil {
		return err
	}
	day := DayPrefix(org)
	var rest []byte
	if start != nil && bytes.HasPrefix(start, day) {
		rest = start[len(day):]
	}
	// One cursor per filter; the next key is the least of their heads (by what follows the
	// filter's prefix, which is by_day's order).
	type head struct {
		c      *bolt.Cursor
		prefix []byte
		k, v   []byte
	}
	heads := make([]*head, 0, len(fs))
	for _, f := range fs {
		p := filterPrefix([]byte(org), f)
		h := &head{c: bk.Cursor(), prefix: p}
		h.k, h.v = h.c.Seek(append(bytes.Clone(p), rest...))
		heads = append(heads, h)
	}
	var last []byte
	key := bytes.Clone(day)
	for {
		var best *head
		for _, h := range heads {
			if h.k == nil || !bytes.HasPrefix(h.k, h.prefix) {
				h.k = nil
				continue
			}
			if best == nil || bytes.Compare(h.k[len(h.prefix):], best.k[len(best.prefix):]) < 0 {
				best = h
			}
		}
		if best == nil {
			return nil
		}
		r := best.k[len(best.prefix):]
		if last == nil || !bytes.Equal(last, r) {
			key = append(key[:len(day)], r...)
			author := best.v
			if len(author) == 0 {
				author = days.Get(key)
			}
			more, err := fn(key, author)
			if err != nil || !more {
				return err
			}
			last = append(last[:0], r...)
		}
		best.k, best.v = best.c.Next()
	}
}

var filtersBuiltKey = []byte("filters")

// FiltersBuilt reports whether by_filter holds every comment (meta "filters").
func FiltersBuilt(tx ReadTx) (bool, error) {
	bk, err := Meta.in(tx)
	if err != nil {
		return false, err
	}
	return string(bk.Get(filtersBuiltKey)) == "1", nil
}

// UnsafeSetFiltersBuilt records that by_filter holds every comment.
func UnsafeSetFiltersBuilt(tx WriteTx) error {
	bk, err := Meta.writable(tx)
	if err != nil {
		return err
	}
	return bk.Put(filtersBuiltKey, []byte("1"))
}

// ForEachComment calls fn with every stored comment, in id order, until fn returns an error.
func ForEachComment(tx ReadTx, fn func(c *Comment) error) error {
	bk, err := Comments.in(tx)
	if err != nil {
		return err
	}
	return bk.ForEach(func(k, v []byte) error {
		c, err := decodeComment(string(k), v)
		if err != nil {
			return err
		}
		return fn(c)
	})
}
