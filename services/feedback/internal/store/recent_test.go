package store_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/segment"
)

// dayIndex writes comments into by_day and by_filter as the service does (the comment, its
// by_day entry, its filters), and remembers every key, to compare with what reads give back.
type dayIndex struct {
	t    *testing.T
	db   *bolt.DB
	rnd  *rand.Rand
	keys []string                  // every by_day key
	by   map[store.Filter][]string // the by_day keys of each filter's comments
	n    int
}

func newDayIndex(t *testing.T) *dayIndex {
	db := open(t)
	db.NoSync = true // thousands of small transactions; the tests read, they do not crash
	return &dayIndex{t: t, db: db, rnd: rand.New(rand.NewPCG(1, 2)), by: map[store.Filter][]string{}}
}

var sealDims = []commonv1.Dimension{commonv1.Dimension_DIMENSION_GROWTH, commonv1.Dimension_DIMENSION_WORKLOAD, commonv1.Dimension_DIMENSION_ECOSYSTEM}

// add writes n comments of org made on day, with random shuffles (so in random key order),
// in transactions of 500, and returns their by_day keys.
func (x *dayIndex) add(org string, day time.Time, n int) [][]byte {
	x.t.Helper()
	var keys [][]byte
	for done := 0; done < n; {
		if err := x.db.Update(func(tx *bolt.Tx) error {
			for range min(500, n-done) {
				x.n++
				c := &store.Comment{ID: fmt.Sprintf("C%07d", x.n), AuthorSegment: segment.MustParse(org + "/eng"),
					Status: commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW, CreateDay: day,
					Dimensions: []commonv1.Dimension{sealDims[x.n%3]}}
				if x.n%2 == 0 {
					c.OwnerGroup = "managers"
				}
				shuffle := make([]byte, store.ShuffleSize)
				for i := range shuffle {
					shuffle[i] = byte(x.rnd.IntN(256))
				}
				k := store.DayKey(org, day, shuffle, c.ID)
				if err := store.UnsafePutComment(tx, c); err != nil {
					return err
				}
				if err := store.UnsafePutDayEntry(tx, k, c.AuthorSegment.String()); err != nil {
					return err
				}
				if err := store.UnsafePutFilters(tx, k, store.Filters(c)); err != nil {
					return err
				}
				keys = append(keys, k)
				x.keys = append(x.keys, string(k))
				for _, f := range store.Filters(c) {
					x.by[f] = append(x.by[f], string(k))
				}
				done++
			}
			return nil
		}); err != nil {
			x.t.Fatal(err)
		}
	}
	return keys
}

// seal runs UnsafeSealDays until it has moved all it moves, and returns how many it moved.
func (x *dayIndex) seal(before time.Time) int {
	x.t.Helper()
	total := 0
	for {
		var n int
		var more bool
		if err := x.db.Update(func(tx *bolt.Tx) (err error) {
			n, more, err = store.UnsafeSealDays(tx, before)
			return err
		}); err != nil {
			x.t.Fatalf("seal days before %v: %v", before, err)
		}
		total += n
		if !more {
			return total
		}
	}
}

// readsBack checks that ScanDayEntries of org and ScanFiltered of each filter give every
// comment written, once, in key order, with its author segment, from the first key and from
// the middle on (a page token).
func (x *dayIndex) readsBack(org string) {
	x.t.Helper()
	prefix := store.DayPrefix(org)
	var want []string
	for _, k := range x.keys {
		if bytes.HasPrefix([]byte(k), prefix) {
			want = append(want, k)
		}
	}
	slices.Sort(want)
	var got []string
	if err := x.db.View(func(tx *bolt.Tx) error {
		return store.ScanDayEntries(tx, prefix, nil, func(k, author []byte) (bool, error) {
			if string(author) != org+"/eng" {
				x.t.Errorf("%q: author %q", k, author)
			}
			got = append(got, string(k))
			return true, nil
		})
	}); err != nil {
		x.t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		x.t.Fatalf("by_day of %s: %d keys read back, want %d (or another order)", org, len(got), len(want))
	}
	if len(want) > 2 {
		mid := want[len(want)/2]
		var from []string
		if err := x.db.View(func(tx *bolt.Tx) error {
			return store.ScanDays(tx, prefix, []byte(mid), func(k []byte) (bool, error) {
				from = append(from, string(k))
				return true, nil
			})
		}); err != nil {
			x.t.Fatal(err)
		}
		if !slices.Equal(from, want[len(want)/2:]) {
			x.t.Errorf("by_day of %s from the middle: %d keys, want %d", org, len(from), len(want)-len(want)/2)
		}
	}
	for f, keys := range x.by {
		var want []string
		for _, k := range keys {
			if bytes.HasPrefix([]byte(k), prefix) {
				want = append(want, k)
			}
		}
		slices.Sort(want)
		var got []string
		if err := x.db.View(func(tx *bolt.Tx) error {
			return store.ScanFiltered(tx, org, []store.Filter{f}, nil, func(k, _ []byte) (bool, error) {
				got = append(got, string(k))
				return true, nil
			})
		}); err != nil {
			x.t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			x.t.Errorf("filter %q of %s: %d comments read back, want %d (or another order)", store.FilterKeyPart(f), org, len(got), len(want))
		}
	}
}

// leafFill is the share of the leaf pages of bucket b (and its sub-buckets) in use.
func leafFill(t *testing.T, db *bolt.DB, b store.Bucket) (pages int, full float64) {
	t.Helper()
	db.View(func(tx *bolt.Tx) error {
		s := tx.Bucket(b).Stats()
		pages, full = s.LeafPageN, float64(s.LeafInuse)/float64(max(1, s.LeafAlloc))
		return nil
	})
	return pages, full
}

// Days that arrive in random key order (the shuffle) and are sealed as the days go by fill
// the pages of by_day and by_filter, where random inserts leave them about 69% full; and
// every read gives back every comment, once, in the same order, across both tiers.
func TestSealedDaysFillTheirPages(t *testing.T) {
	x := newDayIndex(t)
	d0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	moved := 0
	for d := range 40 {
		day := d0.AddDate(0, 0, d)
		x.add("acme", day, 600)
		// As the service does: days before yesterday.
		moved += x.seal(day.AddDate(0, 0, -1))
	}
	if moved == 0 {
		t.Fatal("nothing was sealed")
	}
	x.readsBack("acme")
	for _, b := range []store.Bucket{store.ByDay, store.ByFilter} {
		if pages, full := leafFill(t, x.db, b); pages < 20 || full < 0.9 {
			t.Errorf("%s: %d leaf pages, %.0f%% full; want at least 20 pages at 90%%", b, pages, 100*full)
		}
	}
	// What is left in the recent tiers is the days not yet sealed: a few days' worth.
	var recent int
	x.db.View(func(tx *bolt.Tx) error { recent = tx.Bucket(store.ByDayRecent).Stats().KeyN; return nil })
	if recent > 5*600 {
		t.Errorf("by_day_recent holds %d entries after the seals, want at most 5 days of 600", recent)
	}
}

// Only finished days move, and only the entries ahead of every sealed one of their
// organisation: an entry written later for a day already sealed (a straggler) and the days
// not finished stay where they are, and a run shorter than SealMinBytes waits.
func TestSealMovesOnlyRunsAheadOfTheSealedDays(t *testing.T) {
	x := newDayIndex(t)
	d0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Enough for a run of its own: about 70 bytes an entry.
	perRun := 2 * store.SealMinBytes / 70
	x.add("acme", d0, perRun)
	x.add("globex", d0, 10) // a short run: it waits
	if n := x.seal(d0); n != 0 {
		t.Errorf("sealing the days before %v moved %d entries of that day", d0, n)
	}
	if n := x.seal(d0.AddDate(0, 0, 1)); n < perRun {
		t.Errorf("sealed %d entries, want at least acme's %d by_day entries", n, perRun)
	}
	inTier := func(b store.Bucket, k []byte) bool {
		var in bool
		x.db.View(func(tx *bolt.Tx) error {
			got, _ := tx.Bucket(b).Cursor().Seek(k)
			in = bytes.Equal(got, k)
			return nil
		})
		return in
	}
	var short [][]byte
	x.db.View(func(tx *bolt.Tx) error {
		return store.ScanDays(tx, store.DayPrefix("globex"), nil, func(k []byte) (bool, error) {
			short = append(short, bytes.Clone(k))
			return true, nil
		})
	})
	for _, k := range short {
		if !inTier(store.ByDayRecent, k) {
			t.Errorf("globex's short run was moved: %q", k)
		}
	}
	// A straggler of a day older than the sealed ones, and the next day's comments.
	straggler := x.add("acme", d0.AddDate(0, 0, -3), 1)[0]
	next := x.add("acme", d0.AddDate(0, 0, 1), perRun)
	if n := x.seal(d0.AddDate(0, 0, 1)); n != 0 {
		t.Errorf("moved %d entries: the straggler sorts after the sealed days, the next day is not over", n)
	}
	if !inTier(store.ByDayRecent, straggler) {
		t.Error("the straggler left by_day_recent")
	}
	if n := x.seal(d0.AddDate(0, 0, 2)); n < perRun {
		t.Errorf("the next day, once over: %d entries moved, want at least %d", n, perRun)
	}
	for _, k := range next {
		if !inTier(store.ByDay, k) {
			t.Fatalf("an entry of the next day stayed behind: %q", k)
		}
	}
	if !inTier(store.ByDayRecent, straggler) {
		t.Error("the straggler was moved behind sealed days")
	}
	x.readsBack("acme")
	x.readsBack("globex")
}

// A run longer than one transaction moves in several, the part next to the sealed days
// first, and reads stay whole after each.
func TestSealLongRunsInSeveralTransactions(t *testing.T) {
	x := newDayIndex(t)
	d0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 3 * store.SealMaxBytes / 2 / 60
	for d := range 3 {
		x.add("acme", d0.AddDate(0, 0, d), n/3)
	}
	txs := 0
	for {
		var more bool
		if err := x.db.Update(func(tx *bolt.Tx) (err error) {
			_, more, err = store.UnsafeSealDays(tx, d0.AddDate(0, 0, 5))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if txs++; txs == 1 || !more {
			x.readsBack("acme")
		}
		if !more {
			break
		}
	}
	if txs < 2 {
		t.Errorf("%d transactions for a run of about %d bytes", txs, 3*store.SealMaxBytes/2)
	}
	var left int
	x.db.View(func(tx *bolt.Tx) error { left = tx.Bucket(store.ByDayRecent).Stats().KeyN; return nil })
	if left != 0 {
		t.Errorf("%d entries left in by_day_recent", left)
	}
	if pages, full := leafFill(t, x.db, store.ByDay); full < 0.9 {
		t.Errorf("by_day: %d leaf pages, %.0f%% full", pages, 100*full)
	}
}

// The deadline scan and the first day see the entries of both tiers.
func TestDayRangeAndOldestDayReadBothTiers(t *testing.T) {
	x := newDayIndex(t)
	d0 := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	perRun := 2 * store.SealMinBytes / 70
	x.add("acme", d0, perRun)
	x.seal(d0.AddDate(0, 0, 1))
	x.add("acme", d0.AddDate(0, 0, 1), 3)
	oldest := func() time.Time {
		var day time.Time
		x.db.View(func(tx *bolt.Tx) (err error) { day, _, err = store.OldestDay(tx); return })
		return day
	}
	if got := oldest(); !got.Equal(d0) {
		t.Errorf("OldestDay = %v, want the sealed %v", got, d0)
	}
	x.add("acme", d0.AddDate(0, 0, -4), 1) // a straggler, in by_day_recent
	if got := oldest(); !got.Equal(d0.AddDate(0, 0, -4)) {
		t.Errorf("OldestDay = %v, want the straggler's %v", got, d0.AddDate(0, 0, -4))
	}
	count := map[time.Time]int{}
	x.db.View(func(tx *bolt.Tx) error {
		return store.ScanDayRange(tx, time.Time{}, d0.AddDate(0, 0, 1), func(day time.Time, _ string) error {
			count[day]++
			return nil
		})
	})
	if count[d0] != perRun || count[d0.AddDate(0, 0, 1)] != 3 || count[d0.AddDate(0, 0, -4)] != 1 {
		t.Errorf("ScanDayRange counted %v", count)
	}
}

// A key in both tiers (as a move would leave it if it were two transactions) is read once,
// and the tiers' keys interleave in key order.
func TestTiersAreReadAsOneIndex(t *testing.T) {
	db := open(t)
	day := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	key := func(s byte) []byte {
		return store.DayKey("acme", day, []byte{s, 0, 0, 0, 0, 0, 0, 0}, fmt.Sprintf("C%d", s))
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, s := range []byte{1, 3, 4, 6} {
			if err := tx.Bucket(store.ByDay).Put(key(s), []byte("acme/eng")); err != nil {
				return err
			}
		}
		for _, s := range []byte{2, 4, 5} {
			if err := tx.Bucket(store.ByDayRecent).Put(key(s), []byte("acme/eng")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var got []string
	db.View(func(tx *bolt.Tx) error {
		return store.ScanDays(tx, store.DayPrefix("acme"), key(2), func(k []byte) (bool, error) {
			_, id, _ := store.SplitDayKey(store.DayPrefix("acme"), k)
			got = append(got, id)
			return true, nil
		})
	})
	if want := []string{"C2", "C3", "C4", "C5", "C6"}; !slices.Equal(got, want) {
		t.Errorf("read from C2 on: %v, want %v", got, want)
	}
}

// Seals at random moments among random writes (comments on the days as they go, a filter put
// on old comments and taken off again, in either tier) never lose, double or reorder an
// entry: every read gives what a plain model of the index holds. Small seal sizes, so that
// runs, transactions cut short and entries behind the sealed days all happen at this scale.
func TestSealsAmongRandomWritesKeepTheIndex(t *testing.T) {
	store.SetSealSizes(t, 700, 3000)
	x := newDayIndex(t)
	late := store.OwnerFilter("late")
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	orgs := []string{"acme", "globex"}
	moved, seals := 0, 0
	for step := range 600 {
		switch r := x.rnd.IntN(20); {
		case r < 10:
			x.add(orgs[x.rnd.IntN(2)], day, 1+x.rnd.IntN(12))
		case r < 12:
			day = day.AddDate(0, 0, 1)
		case r < 15 && len(x.keys) > 0: // an old comment gets the filter, in the recent tier
			k := x.keys[x.rnd.IntN(len(x.keys))]
			if slices.Contains(x.by[late], k) {
				break
			}
			if err := x.db.Update(func(tx *bolt.Tx) error { return store.UnsafePutFilters(tx, []byte(k), []store.Filter{late}) }); err != nil {
				t.Fatal(err)
			}
			x.by[late] = append(x.by[late], k)
		case r < 17 && len(x.by[late]) > 0: // and loses it, from whichever tier holds it
			i := x.rnd.IntN(len(x.by[late]))
			k := x.by[late][i]
			if err := x.db.Update(func(tx *bolt.Tx) error { return store.UnsafeDeleteFilters(tx, []byte(k), []store.Filter{late}) }); err != nil {
				t.Fatal(err)
			}
			x.by[late] = slices.Delete(x.by[late], i, i+1)
		default:
			moved += x.seal(day.AddDate(0, 0, -x.rnd.IntN(3)))
			seals++
		}
		if step%100 == 99 {
			for _, org := range orgs {
				x.readsBack(org)
			}
		}
	}
	moved += x.seal(day.AddDate(0, 0, 1))
	for _, org := range orgs {
		x.readsBack(org)
	}
	var sealed, recent int
	x.db.View(func(tx *bolt.Tx) error {
		sealed, recent = tx.Bucket(store.ByFilter).Stats().KeyN, tx.Bucket(store.ByFilterRecent).Stats().KeyN
		return nil
	})
	if moved == 0 || sealed == 0 || recent == 0 {
		t.Errorf("%d entries moved in %d seals, by_filter %d, by_filter_recent %d: the test did not exercise both tiers", moved, seals, sealed, recent)
	}
	t.Logf("%d comments, %d seals moved %d entries; by_filter %d entries, by_filter_recent %d", len(x.keys), seals, moved, sealed, recent)
}
