package rollup

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/anonymity/release"
	"github.com/voix-dev/voix/services/platform/store"
)

func open(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "rollup.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := store.EnsureBuckets(db, Names()...); err != nil {
		t.Fatal(err)
	}
	return db
}

func tag(b byte) []byte {
	t := make([]byte, 32)
	t[0] = b
	return t
}

// TestPartsCountTheirOwnDistinctPeople: besides People, an aggregate counts the distinct people
// with a scored item, with an eNPS answer, and per emotion, each person once per part
// whatever the number of their items.
func TestPartsCountTheirOwnDistinctPeople(t *testing.T) {
	db := open(t)
	k := Key{Segment: "acme/sales", Window: "week:2026-W47"}
	adds := []struct {
		who byte
		it  Item
	}{
		{1, Item{Scored: true, Score: -0.5, Label: Negative, Emotion: "stress"}},
		{1, Item{Scored: true, Score: -0.7, Label: Negative, Emotion: "stress", ENPS: 4}},
		{1, Item{ENPS: 3}},
		{2, Item{ENPS: 11}}, // an eNPS answer only
		{3, Item{}},         // a CHOICE answer: a person, nothing else
		{4, Item{Scored: true, Score: 0.5, Label: Positive, Emotion: "joy"}},
		{5, Item{Scored: true, Emotion: "stress"}},
	}
	var st Stats
	err := db.Update(func(tx *bolt.Tx) error {
		for _, a := range adds {
			var err error
			if st, err = UnsafeAdd(tx, k, tag(a.who), a.it, true); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint32{"stress": 2, "joy": 1}
	if st.People != 5 || st.Count != 4 || st.ScoredPeople != 3 || st.ENPSPeople != 2 || !reflect.DeepEqual(st.Emotions, want) {
		t.Fatalf("stats = %+v; want 5 people, 4 scored items of 3 people, eNPS of 2 people, emotions %v", st, want)
	}
	if st.Promoters != 1 || st.Detractors != 2 {
		t.Fatalf("eNPS counters = %d promoters, %d detractors; want 1 and 2 (answers, not people)", st.Promoters, st.Detractors)
	}
}

// TestRecordsWithoutPartCountsStayReadable: an aggregate stored before the part counts existed
// reads with them at zero (its parts hidden, failing closed), and further items count their
// people from there.
func TestRecordsWithoutPartCountsStayReadable(t *testing.T) {
	db := open(t)
	k := Key{Segment: "acme", Dimension: 7, Window: "week:2026-W47"}
	old := `{"p":6,"n":6,"pos":3,"neu":1,"neg":2,"s":1500000,"ss":2500000,"pr":2,"de":1,"v":7}`
	err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketStats).Put(k.bytes(), []byte(old)) })
	if err != nil {
		t.Fatal(err)
	}
	var before, after Stats
	err = db.Update(func(tx *bolt.Tx) error {
		var err error
		if before, err = Get(tx, k); err != nil {
			return err
		}
		after, err = UnsafeAdd(tx, k, tag(9), Item{Scored: true, Score: 1, Label: Positive, Emotion: "pride", ENPS: 10}, false)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if before.People != 6 || before.Count != 6 || before.Promoters != 2 || before.Version != 7 ||
		before.ScoredPeople != 0 || before.ENPSPeople != 0 || before.Emotions != nil {
		t.Fatalf("old record read as %+v; want its numbers, and no part counts", before)
	}
	if after.People != 7 || after.Count != 7 || after.ScoredPeople != 1 || after.ENPSPeople != 1 || after.Emotions["pride"] != 1 || after.Version != 8 {
		t.Fatalf("after one more person: %+v; want 7 people, part counts of 1", after)
	}
}

// TestMigrateKeepsWhoWasCounted: contributors stored in the first layout (whole tags, one key
// per part) move to rollup_members; the same people adding again are not counted twice, the
// pending and open-cell ones stay so, and a new person counts.
func TestMigrateKeepsWhoWasCounted(t *testing.T) {
	db := open(t)
	k := Key{Segment: "acme/sales", Dimension: 3, Window: "week:2026-W47"}
	err := db.Update(func(tx *bolt.Tx) error {
		old := `{"p":2,"n":2,"pos":2,"s":1000000,"v":4,"q":1,"sp":2,"em":{"joy":1}}`
		if err := tx.Bucket(bucketStats).Put(oldKeyBytes(k), []byte(old)); err != nil {
			return err
		}
		for _, name := range [][]byte{legacyPeople, legacyPending, legacyOpen, legacyPeopleOf} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		put := func(bucket []byte, suffix string, who byte) error {
			key := append(append(oldKeyBytes(k), 0), suffix...)
			return tx.Bucket(bucket).Put(append(key, tag(who)...), []byte{})
		}
		for _, p := range []struct {
			bucket []byte
			suffix string
			who    byte
		}{
			{legacyPeople, "", 1}, {legacyPeople, "", 2}, {legacyPending, "", 2}, {legacyOpen, "", 1},
			{legacyPeopleOf, "score\x00", 1}, {legacyPeopleOf, "score\x00", 2}, {legacyPeopleOf, "emotion/joy\x00", 1},
		} {
			if err := put(p.bucket, p.suffix, p.who); err != nil {
				return err
			}
		}
		return UnsafePutCells(tx, k, []release.Cell{{People: 1}})
	})
	if err != nil {
		t.Fatal(err)
	}
	moved, err := Migrate(db)
	if err != nil || moved != 2 {
		t.Fatalf("Migrate = %d, %v; want 2 contributors moved", moved, err)
	}
	var after Stats
	var cells []release.Cell
	err = db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(legacyPeople) != nil {
			return errors.New("the old buckets are still there")
		}
		if _, err := UnsafeAdd(tx, k, tag(1), Item{Scored: true, Score: 1, Label: Positive, Emotion: "joy"}, true); err != nil {
			return err
		}
		if _, err := UnsafeAdd(tx, k, tag(2), Item{Scored: true, Score: 1, Label: Positive}, true); err != nil {
			return err
		}
		var err error
		if after, err = UnsafeAdd(tx, k, tag(3), Item{}, false); err != nil {
			return err
		}
		cells, err = Cells(tx, k)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// People 1 and 2 were known; 3 is new. Pending: 2 was, 1 becomes, 3 is: 3. Scored people
	// stay 2; joy stays 1 (person 1 had it). Open cell: 1 was in it, 2 joins: 2.
	if after.People != 3 || after.Pending != 3 || after.ScoredPeople != 2 || after.Emotions["joy"] != 1 || after.Count != 4 {
		t.Fatalf("after migration and three adds: %+v; want 3 people, 3 pending, 2 scored, joy 1, 4 items", after)
	}
	if len(cells) != 1 || cells[0].People != 2 {
		t.Fatalf("cells = %+v; want one open cell of 2 people", cells)
	}
}

// TestSealedWindowKeepsItsCounts: sealing deletes a window's contributors and freezes its
// aggregates; a late event no longer changes them.
func TestSealedWindowKeepsItsCounts(t *testing.T) {
	db := open(t)
	k := Key{Segment: "acme", Window: "week:2026-W40"}
	var before, after Stats
	err := db.Update(func(tx *bolt.Tx) error {
		for who := range byte(6) {
			if _, err := UnsafeAdd(tx, k, tag(who), Item{Scored: true, Score: 0.5, Label: Positive}, true); err != nil {
				return err
			}
		}
		var err error
		if before, err = Get(tx, k); err != nil {
			return err
		}
		for done := false; !done; {
			if done, err = UnsafeSeal(tx, k.Window, 4); err != nil {
				return err
			}
		}
		n := 0
		_ = tx.Bucket(bucketMemberLog).ForEach(func(k, _ []byte) error {
			if len(k) == 12 {
				n++
			}
			return nil
		})
		if n != 0 {
			return fmt.Errorf("%d contributor records left after sealing", n)
		}
		if _, err := UnsafeAdd(tx, k, tag(9), Item{Scored: true, Score: -1, Label: Negative}, true); err != nil {
			return err
		}
		after, err = Get(tx, k)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if before.People != 6 || !reflect.DeepEqual(before, after) {
		t.Fatalf("sealed aggregate changed: before %+v, after %+v", before, after)
	}
	if ws := func() []string {
		var w []string
		_ = db.View(func(tx *bolt.Tx) error { w = Windows(tx); return nil })
		return w
	}(); len(ws) != 0 {
		t.Fatalf("Windows after sealing = %v; want none left to seal", ws)
	}
}
