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
	// The author segment is by_day's value; an entry written before holds it as its own value
	// (entry 0 here, whose by_day value is left empty so that only that value can give it).
	author := func(i int) string { return fmt.Sprintf("acme/team%d", i%7) }
	err := db.Update(func(tx *bolt.Tx) error {
		for i, e := range entries {
			if err := store.UnsafePutFilters(tx, e.key, e.fs); err != nil {
				return err
			}
			if i == 0 {
				if err := store.UnsafePutDayKey(tx, e.key); err != nil {
					return err
				}
				org, rest, _ := bytes.Cut(e.key, []byte{0})
				for _, f := range e.fs {
					k := append(append(append(bytes.Clone(org), 0), store.FilterKeyPart(f)...), rest...)
					if err := tx.Bucket(store.ByFilter).Put(k, []byte(author(i))); err != nil {
						return err
					}
				}
				continue
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
