package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/segment"
)

// ScanFiltered over several filters yields each matching comment once, in by_day order, from
// a start key on, and nothing of another organisation or filter.
func TestScanFilteredMergesInDayOrder(t *testing.T) {
	db := open(t)
	d0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	type entry struct {
		key []byte
		fs  []store.Filter
	}
	var want []string // by_day keys of acme under GROWTH or WORKLOAD, in key order
	var entries []entry
	for i := range 40 {
		org := []string{"acme", "acme2"}[i%2]
		shuffle := []byte{byte(i * 37), 0, 0, 0, 0, 0, 0, byte(i)}
		k := store.DayKey(org, d0.AddDate(0, 0, i%5), shuffle, fmt.Sprintf("id%02d", i))
		var fs []store.Filter
		if i%3 == 0 {
			fs = append(fs, store.DimensionFilter(commonv1.Dimension_DIMENSION_GROWTH))
		}
		if i%4 == 0 {
			fs = append(fs, store.DimensionFilter(commonv1.Dimension_DIMENSION_WORKLOAD))
		}
		fs = append(fs, store.OwnerFilter("legal"))
		entries = append(entries, entry{k, fs})
		if org == "acme" && (i%3 == 0 || i%4 == 0) {
			want = append(want, string(k))
		}
	}
	slices.Sort(want)
	// The author segment is by_day's value.
	author := func(i int) string { return fmt.Sprintf("acme/team%d", i%7) }
	err := db.Update(func(tx *bolt.Tx) error {
		for i, e := range entries {
			if err := store.UnsafePutFilters(tx, e.key, e.fs); err != nil {
				return err
			}
			if err := store.UnsafePutDayEntry(tx, e.key, author(i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	scan := func(start []byte) []string {
		var got []string
		err := db.View(func(tx *bolt.Tx) error {
			return store.ScanFiltered(tx, "acme", []store.Filter{
				store.DimensionFilter(commonv1.Dimension_DIMENSION_WORKLOAD),
				store.DimensionFilter(commonv1.Dimension_DIMENSION_GROWTH),
			}, start, func(k, a []byte) (bool, error) {
				got = append(got, string(k))
				i := slices.IndexFunc(entries, func(e entry) bool { return bytes.Equal(e.key, k) })
				if i < 0 || string(a) != author(i) {
					t.Errorf("entry %d (%q) read with author %q, want %q", i, k, a, author(max(i, 0)))
				}
				return true, nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := scan(nil); !slices.Equal(got, want) {
		t.Fatalf("scanned\n%q\nwant\n%q", got, want)
	}
	if got := scan([]byte(want[3])); !slices.Equal(got, want[3:]) {
		t.Fatalf("from the 4th: scanned %q, want %q", got, want[3:])
	}
	if got := scan(append([]byte(want[3]), 0)); !slices.Equal(got, want[4:]) {
		t.Fatalf("from after the 4th: scanned %q, want %q", got, want[4:])
	}
	// Removing a filter's entry removes the comment from that filter only.
	if err := db.Update(func(tx *bolt.Tx) error {
		return store.UnsafeDeleteFilters(tx, entries[0].key, []store.Filter{store.DimensionFilter(commonv1.Dimension_DIMENSION_WORKLOAD)})
	}); err != nil {
		t.Fatal(err)
	}
	if got := scan(nil); !slices.Equal(got, want) { // entry 0 is still under GROWTH
		t.Fatalf("after deleting one filter of entry 0: scanned %q, want %q", got, want)
	}
}

// A by_filter entry holds a comment's day and shuffle, not its id: by_day gives the id. Two
// comments of one day that share a shuffle (a chance of about n²/2⁶⁵ a day) share their
// entries; each is listed under its own filters only, and removing a filter from one keeps
// the entry while the other still carries it.
func TestCommentsSharingAShuffleKeepTheirOwnFilters(t *testing.T) {
	db := open(t)
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	shuffle := []byte{7, 7, 7, 7, 7, 7, 7, 7}
	legal, growth := store.OwnerFilter("legal"), store.DimensionFilter(commonv1.Dimension_DIMENSION_GROWTH)
	comments := []*store.Comment{
		{ID: "AAA", AuthorSegment: segment.MustParse("acme/eng"), Status: commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW, OwnerGroup: "legal", CreateDay: day},
		{ID: "BBB", AuthorSegment: segment.MustParse("acme/ops"), Status: commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW, Dimensions: []commonv1.Dimension{commonv1.Dimension_DIMENSION_GROWTH}, CreateDay: day},
		// Another day, the same shuffle: its own entries.
		{ID: "CCC", AuthorSegment: segment.MustParse("acme/eng"), Status: commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW, OwnerGroup: "legal", CreateDay: day.AddDate(0, 0, -1)},
	}
	keys := make([][]byte, len(comments))
	put := func(tx *bolt.Tx, c *store.Comment, k []byte) error {
		if err := store.UnsafePutComment(tx, c); err != nil {
			return err
		}
		if err := store.UnsafePutDayEntry(tx, k, c.AuthorSegment.String()); err != nil {
			return err
		}
		return store.UnsafePutFilters(tx, k, store.Filters(c))
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for i, c := range comments {
			keys[i] = store.DayKey("acme", c.CreateDay, shuffle, c.ID)
			if err := put(tx, c, keys[i]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	scan := func(fs ...store.Filter) []string {
		var got []string
		if err := db.View(func(tx *bolt.Tx) error {
			return store.ScanFiltered(tx, "acme", fs, nil, func(k, _ []byte) (bool, error) {
				_, id, _ := store.SplitDayKey(store.DayPrefix("acme"), k)
				got = append(got, id)
				return true, nil
			})
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := scan(legal); !slices.Equal(got, []string{"AAA", "CCC"}) {
		t.Errorf("owner legal: %v, want [AAA CCC]", got)
	}
	if got := scan(growth); !slices.Equal(got, []string{"BBB"}) {
		t.Errorf("growth: %v, want [BBB]", got)
	}
	status := store.StatusFilter(commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW)
	if got := scan(status, legal); !slices.Equal(got, []string{"AAA", "BBB", "CCC"}) {
		t.Errorf("new or legal: %v, want [AAA BBB CCC], each once", got)
	}
	// AAA is acknowledged: it leaves NEW, which BBB still carries, and nothing else moves.
	acked := store.StatusFilter(commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED)
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := store.UnsafeDeleteFilters(tx, keys[0], []store.Filter{status}); err != nil {
			return err
		}
		comments[0].Status = commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED
		if err := store.UnsafePutFilters(tx, keys[0], []store.Filter{acked}); err != nil {
			return err
		}
		return store.UnsafePutComment(tx, comments[0])
	}); err != nil {
		t.Fatal(err)
	}
	if got := scan(status); !slices.Equal(got, []string{"BBB", "CCC"}) {
		t.Errorf("new after AAA's acknowledgement: %v, want [BBB CCC]", got)
	}
	if got := scan(acked); !slices.Equal(got, []string{"AAA"}) {
		t.Errorf("acknowledged: %v, want [AAA]", got)
	}
	// BBB leaves NEW too: now no comment of that day and shuffle carries it.
	if err := db.Update(func(tx *bolt.Tx) error {
		return store.UnsafeDeleteFilters(tx, keys[1], []store.Filter{status})
	}); err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error {
		order := store.DayKey("", day, shuffle, "")[1:]
		for _, tier := range []store.Bucket{store.ByFilter, store.ByFilterRecent} {
			sub := tx.Bucket(tier).Bucket(append([]byte("acme\x00"), store.FilterKeyPart(status)...))
			if sub == nil {
				continue
			}
			// A cursor, not Get: an entry's value is empty.
			if k, _ := sub.Cursor().Seek(order); bytes.Equal(k, order) {
				t.Errorf("%s: a NEW entry is left for the day and shuffle no NEW comment holds", tier)
			}
		}
		return nil
	})
}

// CommentAuthor reads the author segment GetComment decodes, and ErrNotFound for no comment.
func TestCommentAuthor(t *testing.T) {
	db := open(t)
	c := &store.Comment{ID: "ABC", AuthorSegment: segment.MustParse("acme/eng-x/platform_2"), Text: `"author_segment":"acme/other"`}
	if err := db.Update(func(tx *bolt.Tx) error { return store.UnsafePutComment(tx, c) }); err != nil {
		t.Fatal(err)
	}
	err := db.View(func(tx *bolt.Tx) error {
		got, err := store.CommentAuthor(tx, "ABC")
		if err != nil || got != c.AuthorSegment.String() {
			t.Errorf("CommentAuthor = %q, %v; want %q", got, err, c.AuthorSegment)
		}
		if _, err := store.CommentAuthor(tx, "NOPE"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CommentAuthor of no comment: %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The placement version of an organisation moves with each change of its headcounts, in the
// same transaction, and not with another organisation's.
func TestPlacementVersionMovesWithHeadcounts(t *testing.T) {
	db := open(t)
	version := func(org string) uint64 {
		var v uint64
		if err := db.View(func(tx *bolt.Tx) (err error) { v, err = store.PlacementVersion(tx, org); return }); err != nil {
			t.Fatal(err)
		}
		return v
	}
	a0, g0 := version("acme"), version("globex")
	if err := db.Update(func(tx *bolt.Tx) error {
		return store.UnsafePutHeadcount(tx, segment.MustParse("acme/eng"), store.Headcount{People: 12, Version: 1})
	}); err != nil {
		t.Fatal(err)
	}
	if a1, g1 := version("acme"), version("globex"); a1 == a0 || g1 != g0 {
		t.Fatalf("acme %d -> %d, globex %d -> %d: want acme's to move, globex's not", a0, a1, g0, g1)
	}
	// A failed transaction leaves it.
	a1 := version("acme")
	_ = db.Update(func(tx *bolt.Tx) error {
		if err := store.UnsafePutHeadcount(tx, segment.MustParse("acme/eng"), store.Headcount{People: 3, Version: 2}); err != nil {
			return err
		}
		return bolt.ErrTxClosed // any error rolls back
	})
	if a2 := version("acme"); a2 != a1 {
		t.Fatalf("a rolled-back change moved the version %d -> %d", a1, a2)
	}
}

// UnsafeIndexFilters builds by_filter from by_day a chunk at a time, the same whatever the
// chunk, and, appending each filter's entries in order, fills its pages.
func TestIndexFiltersInChunks(t *testing.T) {
	db := open(t)
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	statuses := []commonv1.FeedbackStatus{commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW, commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED}
	dims := []commonv1.Dimension{commonv1.Dimension_DIMENSION_GROWTH, commonv1.Dimension_DIMENSION_WORKLOAD}
	const n = 3000
	want := map[store.Filter][]string{} // by_day keys under each filter
	if err := db.Update(func(tx *bolt.Tx) error {
		for i := range n {
			c := &store.Comment{ID: fmt.Sprintf("C%05d", i), AuthorSegment: segment.MustParse("acme/eng"),
				Status: statuses[i%2], CreateDay: day.AddDate(0, 0, -i%9)}
			if i%3 == 0 {
				c.OwnerGroup = "legal"
			}
			if i%5 < 2 {
				c.Dimensions = []commonv1.Dimension{dims[i%5]}
			}
			shuffle := []byte{byte(i * 7919 >> 8), byte(i * 7919), byte(i), 0, 0, 0, 0, 0}
			k := store.DayKey("acme", c.CreateDay, shuffle, c.ID)
			for _, f := range store.Filters(c) {
				want[f] = append(want[f], string(k))
			}
			if err := store.UnsafePutComment(tx, c); err != nil {
				return err
			}
			if err := store.UnsafePutDayEntry(tx, k, "acme/eng"); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var after []byte
	chunks := 0
	for {
		var last []byte
		if err := db.Update(func(tx *bolt.Tx) (err error) {
			last, err = store.UnsafeIndexFilters(tx, after, 700)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if last == nil {
			break
		}
		after, chunks = last, chunks+1
	}
	if chunks != (n+699)/700 {
		t.Errorf("%d chunks of up to 700 for %d comments", chunks, n)
	}
	for f, keys := range want {
		slices.Sort(keys)
		var got []string
		if err := db.View(func(tx *bolt.Tx) error {
			return store.ScanFiltered(tx, "acme", []store.Filter{f}, nil, func(k, _ []byte) (bool, error) {
				got = append(got, string(k))
				return true, nil
			})
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, keys) {
			t.Errorf("filter %q: %d comments listed, want %d (or another order)", store.FilterKeyPart(f), len(got), len(keys))
		}
	}
	db.View(func(tx *bolt.Tx) error {
		s := tx.Bucket(store.ByFilter).Stats()
		if full := float64(s.LeafInuse) / float64(s.LeafAlloc); s.LeafPageN < 10 || full < 0.9 {
			t.Errorf("by_filter built in %d leaf pages, %.0f%% full; want at least 10 pages at 90%%", s.LeafPageN, 100*full)
		}
		return nil
	})
}
