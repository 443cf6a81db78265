package store

import (
	"bytes"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
)

// Filter is one value of a comment field that ListFeedback filters on and by_filter indexes:
// a status, an owner group or a dimension. Its entries in by_filter are in by_day's order (the
// by_day key's day and shuffle follow the filter), so a filtered listing reads the same order,
// and the same page tokens, as an unfiltered one, without reading the comments that do not
// match.
//
// Each filter of an organisation is a bucket of its own in by_filter, whose keys are the day
// and shuffle of a by_day key, not its id: by_day gives the id (the listing reads by_day for
// the author segment anyway). An entry is then 16 bytes of key, where it repeated the
// organisation, the filter and the id (26 bytes) before, in the bucket that holds several
// entries per comment. Two comments of one day share a
// shuffle with a chance of about n²/2⁶⁵ for n comments that day; they then share their
// entries, and an entry stands for each of them that carries its filter (ScanFiltered reads
// the comments to tell which, UnsafeDeleteFilters keeps an entry another still carries).
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

// filterPrefix is the name of the bucket of f's comments of organisation org in by_filter.
func filterPrefix(org []byte, f Filter) []byte {
	k := make([]byte, 0, len(org)+3+len(f.value))
	k = append(k, org...)
	k = append(k, 0, f.kind)
	k = append(k, f.value...)
	return append(k, 0)
}

// orderSize is the length of what a by_filter key holds of a by_day key after the
// organisation: the day and the shuffle.
const orderSize = 8 + ShuffleSize

// splitDayKey returns the organisation, the day and shuffle, and the id of a by_day key.
func splitDayKey(dayKey []byte) (org, order, id []byte, err error) {
	i := bytes.IndexByte(dayKey, 0)
	if i < 0 || len(dayKey) <= i+1+orderSize {
		return nil, nil, nil, fmt.Errorf("store: by_day key %q is not organisation, 0x00, day, shuffle and id", dayKey)
	}
	rest := dayKey[i+1:]
	return dayKey[:i], rest[:orderSize], rest[orderSize:], nil
}

// UnsafePutFilters indexes the comment of by_day key dayKey under each of fs, in
// by_filter_recent (UnsafeSealDays moves finished days to by_filter).
func UnsafePutFilters(tx WriteTx, dayKey []byte, fs []Filter) error {
	return putFilters(tx, ByFilterRecent, dayKey, fs, bolt.DefaultFillPercent)
}

// putFilters is UnsafePutFilters into tier, splitting the pages of the filters' buckets at
// fill.
func putFilters(tx WriteTx, tier Bucket, dayKey []byte, fs []Filter, fill float64) error {
	if len(fs) == 0 {
		return nil
	}
	bk, err := tier.writable(tx)
	if err != nil {
		return err
	}
	org, order, _, err := splitDayKey(dayKey)
	if err != nil {
		return err
	}
	for _, f := range fs {
		sub, err := bk.CreateBucketIfNotExists(filterPrefix(org, f))
		if err != nil {
			return err
		}
		sub.FillPercent = fill
		if err := sub.Put(order, nil); err != nil {
			return err
		}
	}
	return nil
}

// UnsafeDeleteFilters removes the comment of by_day key dayKey from each of fs: it deletes the
// entry of a filter unless another comment of the same day and shuffle carries that filter.
func UnsafeDeleteFilters(tx WriteTx, dayKey []byte, fs []Filter) error {
	if len(fs) == 0 {
		return nil
	}
	org, order, id, err := splitDayKey(dayKey)
	if err != nil {
		return err
	}
	others, err := sharers(tx, dayKey[:len(dayKey)-len(id)], dayKey)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if slices.ContainsFunc(others, func(c *Comment) bool { return slices.Contains(Filters(c), f) }) {
			continue
		}
		for _, tier := range []Bucket{ByFilter, ByFilterRecent} {
			bk, err := tier.writable(tx)
			if err != nil {
				return err
			}
			if sub := bk.Bucket(filterPrefix(org, f)); sub != nil {
				if err := sub.Delete(order); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// sharers returns the stored comments other than dayKey's whose by_day key starts with prefix,
// dayKey's organisation, day and shuffle: almost always none.
func sharers(tx ReadTx, prefix, dayKey []byte) ([]*Comment, error) {
	c, err := dayTiers(tx)
	if err != nil {
		return nil, err
	}
	var out []*Comment
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if bytes.Equal(k, dayKey) {
			continue
		}
		other, err := GetComment(tx, string(k[len(prefix):]))
		if err != nil {
			return nil, err
		}
		out = append(out, other)
	}
	return out, nil
}

// UnsafeClearFilters empties by_filter and by_filter_recent, before by_filter is built again
// from the comments.
func UnsafeClearFilters(tx *bolt.Tx) error {
	for _, b := range []Bucket{ByFilter, ByFilterRecent} {
		if err := tx.DeleteBucket(b); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(b); err != nil {
			return err
		}
	}
	return nil
}

// UnsafeIndexFilters indexes in by_filter the comments of by_day after key after (from the
// first when after is nil), at most limit of them, in by_day order, and returns the by_day key
// of the last (nil once none is left). In that order each filter's entries are appended at
// its end, so it fills by_filter's pages (bbolt's FillPercent 1, as its Compact does); the
// entries comments then add later split them as any.
func UnsafeIndexFilters(tx *bolt.Tx, after []byte, limit int) ([]byte, error) {
	c, err := dayTiers(tx)
	if err != nil {
		return nil, err
	}
	k, _ := c.First()
	if after != nil {
		if k, _ = c.Seek(after); bytes.Equal(k, after) {
			k, _ = c.Next()
		}
	}
	var last []byte
	for n := 0; k != nil && n < limit; k, _ = c.Next() {
		_, _, id, err := splitDayKey(k)
		if err != nil {
			return nil, err
		}
		cm, err := GetComment(tx, string(id))
		if err != nil {
			return nil, fmt.Errorf("store: by_day entry %q: %w", k, err)
		}
		if err := putFilters(tx, ByFilter, k, Filters(cm), 1); err != nil {
			return nil, err
		}
		last, n = bytes.Clone(k), n+1
	}
	return last, nil
}

// ScanFiltered is ScanDays over the comments of organisation org indexed under any of fs: it
// calls fn with the by_day key of each, from start on (a by_day key of org, or nil for the
// first), in by_day order, once even when several of fs match, until fn returns false, with
// the author segment, by_day's value. Both are only valid during the call.
func ScanFiltered(tx ReadTx, org string, fs []Filter, start []byte, fn func(dayKey, author []byte) (bool, error)) error {
	sealed, err := ByFilter.in(tx)
	if err != nil {
		return err
	}
	recent, err := ByFilterRecent.in(tx)
	if err != nil {
		return err
	}
	dc, err := dayTiers(tx)
	if err != nil {
		return err
	}
	day := DayPrefix(org)
	var from []byte
	if start != nil && bytes.HasPrefix(start, day) {
		from = start[len(day):]
		from = from[:min(len(from), orderSize)]
	} else {
		start = nil
	}
	// One cursor per filter and tier; the next key is the least of their heads (a day and
	// shuffle, in by_day's order).
	type head struct {
		c *bolt.Cursor
		k []byte
	}
	heads := make([]*head, 0, 2*len(fs))
	for _, f := range fs {
		for _, bk := range []*bolt.Bucket{sealed, recent} {
			sub := bk.Bucket(filterPrefix([]byte(org), f))
			if sub == nil {
				continue // no comment of this tier carries f
			}
			h := &head{c: sub.Cursor()}
			if from == nil {
				h.k, _ = h.c.First()
			} else {
				h.k, _ = h.c.Seek(from)
			}
			heads = append(heads, h)
		}
	}
	var last []byte
	prefix := bytes.Clone(day)
	type entry struct{ k, v []byte }
	var found []entry
	for {
		var best *head
		for _, h := range heads {
			if h.k != nil && (best == nil || bytes.Compare(h.k, best.k) < 0) {
				best = h
			}
		}
		if best == nil {
			return nil
		}
		r := best.k
		if len(r) != orderSize {
			return fmt.Errorf("store: by_filter key %q is not a day and a shuffle", r)
		}
		if last == nil || !bytes.Equal(last, r) {
			// The comments of this day and shuffle: one, unless two share the shuffle.
			prefix = append(prefix[:len(day)], r...)
			found = found[:0]
			for k, v := dc.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = dc.Next() {
				if start == nil || bytes.Compare(k, start) >= 0 {
					found = append(found, entry{k, v})
				}
			}
			for _, e := range found {
				if len(found) > 1 {
					c, err := GetComment(tx, string(e.k[len(prefix):]))
					if err != nil {
						return err
					}
					if !slices.ContainsFunc(Filters(c), func(f Filter) bool { return slices.Contains(fs, f) }) {
						continue
					}
				}
				more, err := fn(e.k, e.v)
				if err != nil || !more {
					return err
				}
			}
			last = append(last[:0], r...)
		}
		best.k, _ = best.c.Next()
	}
}

// filtersLayout is meta "filters" once by_filter holds every comment in the layout above;
// "1" was the layout before, whose entries held the id.
const filtersLayout = "2"

var filtersBuiltKey = []byte("filters")

// FiltersBuilt reports whether by_filter holds every comment, in this layout.
func FiltersBuilt(tx ReadTx) (bool, error) {
	bk, err := Meta.in(tx)
	if err != nil {
		return false, err
	}
	return string(bk.Get(filtersBuiltKey)) == filtersLayout, nil
}

// UnsafeSetFiltersBuilt records that by_filter holds every comment, in this layout.
func UnsafeSetFiltersBuilt(tx WriteTx) error {
	bk, err := Meta.writable(tx)
	if err != nil {
		return err
	}
	return bk.Put(filtersBuiltKey, []byte(filtersLayout))
}
