package store_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/feedback/internal/store"
)

func open(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "f.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := store.Init(db, func(store.WriteTx, *store.Comment) error { return nil }); err != nil {
		t.Fatal(err)
	}
	return db
}

// The deadline scan visits the days in (after, upTo] of every organisation, including ones
// whose names extend another's.
func TestScanDayRangeCoversEveryOrganisation(t *testing.T) {
	db := open(t)
	d0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	shuffle := make([]byte, store.ShuffleSize)
	err := db.Update(func(tx *bolt.Tx) error {
		for _, org := range []string{"acme", "acme2", "globex"} {
			for d := range 5 {
				k := store.DayKey(org, d0.AddDate(0, 0, d), shuffle, fmt.Sprintf("%s-%d", org, d))
				if err := store.UnsafePutDayKey(tx, k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	scan := func(after, upTo time.Time) []string {
		var got []string
		err := db.View(func(tx *bolt.Tx) error {
			return store.ScanDayRange(tx, after, upTo, func(day time.Time, id string) error {
				if want := fmt.Sprintf("-%d", int(day.Sub(d0).Hours()/24)); id[len(id)-2:] != want {
					t.Errorf("id %s given with day %v", id, day)
				}
				got = append(got, id)
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		return got
	}
	if got, want := scan(d0.AddDate(0, 0, 1), d0.AddDate(0, 0, 3)), []string{"acme-2", "acme-3", "acme2-2", "acme2-3", "globex-2", "globex-3"}; !slices.Equal(got, want) {
		t.Errorf("(day 1, day 3] = %v, want %v", got, want)
	}
	if got := scan(time.Time{}, d0); !slices.Equal(got, []string{"acme-0", "acme2-0", "globex-0"}) {
		t.Errorf("(start, day 0] = %v", got)
	}
	if got := scan(d0.AddDate(0, 0, 4), d0.AddDate(0, 0, 9)); len(got) != 0 {
		t.Errorf("after the last day: %v", got)
	}
}

func TestMostPeopleCountsDistinctTagsWithinAMonth(t *testing.T) {
	db := open(t)
	err := db.Update(func(tx *bolt.Tx) error {
		for _, e := range []struct{ seg, month, tag string }{
			{"acme/eng", "2026-03", "a"}, {"acme/eng", "2026-03", "a"}, {"acme/eng", "2026-03", "b"},
			{"acme/eng", "2026-04", "a"}, {"acme/eng", "2026-04", "c"}, {"acme/eng", "2026-04", "d"},
			{"acme/engineering", "2026-04", "x"}, {"acme/engineering", "2026-04", "y"},
		} {
			if err := store.UnsafeAddPerson(tx, e.seg, e.month, []byte(e.tag)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(tx *bolt.Tx) error {
		for seg, want := range map[string]int{"acme/eng": 3, "acme/engineering": 2, "acme": 0} {
			if n, err := store.MostPeople(tx, seg); err != nil || n != want {
				t.Errorf("MostPeople(%s) = %d, %v; want %d", seg, n, err, want)
			}
		}
		return nil
	})
}

// OldestDay finds the earliest day of every organisation's comments (each stored newest
// first), the last organisation's included, and says when there is none.
func TestOldestDayAcrossOrganisations(t *testing.T) {
	db := open(t)
	if err := db.View(func(tx *bolt.Tx) error {
		if day, ok, err := store.OldestDay(tx); err != nil || ok {
			t.Errorf("empty index: OldestDay = %v, %v, %v; want none", day, ok, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	d0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	shuffle := make([]byte, store.ShuffleSize)
	for _, c := range []struct {
		oldestOrg string // its days start one day before the others'
	}{{"acme"}, {"acme2"}, {"globex"}} {
		t.Run(c.oldestOrg, func(t *testing.T) {
			db := open(t)
			err := db.Update(func(tx *bolt.Tx) error {
				for _, org := range []string{"acme", "acme2", "globex"} {
					first := 0
					if org == c.oldestOrg {
						first = -1
					}
					for d := first; d < 5; d++ {
						if err := store.UnsafePutDayKey(tx, store.DayKey(org, d0.AddDate(0, 0, d), shuffle, fmt.Sprintf("%s-%d", org, d))); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			_ = db.View(func(tx *bolt.Tx) error {
				day, ok, err := store.OldestDay(tx)
				if want := d0.AddDate(0, 0, -1); err != nil || !ok || !day.Equal(want) {
					t.Errorf("OldestDay = %v, %v, %v; want %v (in %s)", day, ok, err, want, c.oldestOrg)
				}
				return nil
			})
		})
	}
}
