package rollup

import (
	"path/filepath"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"

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
