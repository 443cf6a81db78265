package rollup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// whoTag is the opened tag of person i: distinct in its first 8 bytes, and spread as tags are.
func whoTag(i int) []byte {
	t := make([]byte, 32)
	binary.BigEndian.PutUint64(t, (uint64(i)+1)*0x9E3779B97F4A7C15)
	return t
}

// addPeople adds person i, for each i in who, to k with one scored item, in one Writer.
func addPeople(rb Buckets, k Key, who ...int) error {
	w := NewWriter(rb)
	for _, i := range who {
		if err := w.Add(k.Segment, k.Window, whoTag(i), true, []int32{k.Dimension}, [][]Item{{{Scored: true, Score: 0.5, Label: Positive}}}); err != nil {
			return err
		}
	}
	return w.Flush()
}

func people(t *testing.T, db *bolt.DB, k Key) uint32 {
	t.Helper()
	var st Stats
	if err := db.View(func(tx *bolt.Tx) error { var err error; st, err = Get(tx, k); return err }); err != nil {
		t.Fatal(err)
	}
	return st.People
}

var errRollback = errors.New("rolled back")

// TestContributorsOfARolledBackTransactionDoNotCount: contributors are kept in memory between
// transactions; those a transaction added and then rolled back (before or after its Writer
// flushed) are not counted as present afterwards, and the log sequence the rolled-back
// transaction used is not mistaken for what it had written.
func TestContributorsOfARolledBackTransactionDoNotCount(t *testing.T) {
	for _, flushed := range []bool{false, true} {
		t.Run(fmt.Sprintf("flushed=%v", flushed), func(t *testing.T) {
			db := open(t)
			k := Key{Segment: "acme/sales", Dimension: 2, Window: "week:2026-W47"}
			if err := db.Update(func(tx *bolt.Tx) error { return addPeople(tx, k, 1) }); err != nil {
				t.Fatal(err)
			}
			err := db.Update(func(tx *bolt.Tx) error {
				w := NewWriter(tx)
				for _, i := range []int{2, 3} {
					if err := w.Add(k.Segment, k.Window, whoTag(i), true, []int32{k.Dimension}, [][]Item{{{}}}); err != nil {
						return err
					}
				}
				if flushed {
					if err := w.Flush(); err != nil {
						return err
					}
				}
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				t.Fatal(err)
			}
			// Person 4 first, in another window's record and this one's: it takes the
			// sequences the rolled-back transaction had used.
			other := Key{Segment: k.Segment, Dimension: k.Dimension, Window: "week:2026-W48"}
			if err := db.Update(func(tx *bolt.Tx) error {
				return errors.Join(addPeople(tx, other, 4), addPeople(tx, k, 4))
			}); err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bolt.Tx) error { return addPeople(tx, k, 1, 2, 3) }); err != nil {
				t.Fatal(err)
			}
			if n := people(t, db, k); n != 4 {
				t.Fatalf("people = %d; want 4 (1, 4, then 2 and 3, whose first adds were rolled back)", n)
			}
		})
	}
}

// TestContributorsSurviveReopeningAndCompaction: what the log holds is what counts after the
// database is reopened (nothing in memory), also once a window's log was rewritten as one
// record, and two copies of one store opened at once keep their own contributors.
func TestContributorsSurviveReopeningAndCompaction(t *testing.T) {
	db := open(t)
	path := db.Path()
	k := Key{Segment: "acme", Window: "week:2026-W47"}
	// The same 50 people again and again: the log grows past twice the window's people.
	for round := range 60 {
		if err := db.Update(func(tx *bolt.Tx) error {
			who := make([]int, 50)
			for i := range who {
				who[i] = (i + round) % 50
			}
			w := NewWriter(tx)
			for _, i := range who {
				// A new emotion each round: every contributor's record changes.
				it := Item{Scored: true, Emotion: fmt.Sprint("e", round)}
				if err := w.Add(k.Segment, k.Window, whoTag(i), true, []int32{0}, [][]Item{{it}}); err != nil {
					return err
				}
			}
			return w.Flush()
		}); err != nil {
			t.Fatal(err)
		}
	}
	records := 0
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMemberLog).ForEach(func(k, _ []byte) error {
			if len(k) == 12 {
				records++
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if records >= 60 {
		t.Fatalf("%d log records for 60 flushes of the same 50 people; want the log rewritten", records)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	memberCache.Lock()
	memberCache.stores = nil
	memberCache.Unlock()
	db2, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if err := db2.Update(func(tx *bolt.Tx) error { return addPeople(tx, k, 0, 49, 50) }); err != nil {
		t.Fatal(err)
	}
	if n := people(t, db2, k); n != 51 {
		t.Fatalf("people = %d; want 51 (50, then one new)", n)
	}
}

// TestMigrateSecondLayout: contributors stored one key each in rollup_members move to the log;
// the same people adding again are not counted twice, and a new person counts.
func TestMigrateSecondLayout(t *testing.T) {
	db := open(t)
	k := Key{Segment: "acme/sales", Dimension: 3, Window: "week:2026-W47"}
	err := db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketMemberLog); err != nil {
			return err
		}
		old, err := tx.CreateBucket(bucketMembers)
		if err != nil {
			return err
		}
		code, _, _, err := windowCode(tx, k.Window)
		if err != nil {
			return err
		}
		sid, err := segmentID(tx, k.Segment)
		if err != nil {
			return err
		}
		st := Stats{People: 2, Count: 2, Positive: 2, ScoredPeople: 2, Version: 3}
		if err := tx.Bucket(bucketStats).Put(k.bytes(), st.encode()); err != nil {
			return err
		}
		for _, who := range []int{1, 2} {
			m := member{{dim: k.Dimension, flags: flagScore}}
			if err := old.Put(memberKey(code, sid, whoTag(who)), m.encode()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	moved, err := Migrate(db)
	if err != nil || moved != 2 {
		t.Fatalf("Migrate = %d, %v; want 2 contributors moved", moved, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMembers) != nil {
			return errors.New("rollup_members is still there")
		}
		return addPeople(tx, k, 1, 2, 3)
	}); err != nil {
		t.Fatal(err)
	}
	var st Stats
	if err := db.View(func(tx *bolt.Tx) error { var err error; st, err = Get(tx, k); return err }); err != nil {
		t.Fatal(err)
	}
	if st.People != 3 || st.ScoredPeople != 3 || st.Count != 5 {
		t.Fatalf("after migration and three adds: %+v; want 3 people, 3 scored, 5 items", st)
	}
}

// TestACommitWritesFewContributorPages: a transaction adding 500 people to a window that
// already has 20,000 writes a few pages, not the window's contributor pages they are spread
// over (the apply cost, BenchmarkMillion). Pages are counted by bbolt, not timed.
func TestACommitWritesFewContributorPages(t *testing.T) {
	db := open(t)
	k := Key{Segment: "acme", Window: "week:2026-W47"}
	const before = 20_000
	for start := 0; start < before; start += 2_000 {
		if err := db.Update(func(tx *bolt.Tx) error {
			who := make([]int, 2_000)
			for i := range who {
				who[i] = start + i
			}
			return addPeople(tx, k, who...)
		}); err != nil {
			t.Fatal(err)
		}
	}
	s0 := db.Stats()
	w0 := s0.TxStats.GetWrite()
	if err := db.Update(func(tx *bolt.Tx) error {
		who := make([]int, 500)
		for i := range who {
			who[i] = before + i*37
		}
		return addPeople(tx, k, who...)
	}); err != nil {
		t.Fatal(err)
	}
	s1 := db.Stats()
	written := s1.TxStats.GetWrite() - w0
	if n := people(t, db, k); n != before+500 {
		t.Fatalf("people = %d; want %d", n, before+500)
	}
	if written > 40 {
		t.Fatalf("adding 500 people wrote %d pages; want at most 40 (a record at the end of the log)", written)
	}
	t.Logf("adding 500 people to 20,000 wrote %d pages", written)
}

// TestMigrateKeysPutsTheWindowFirst: a store whose aggregate keys start with the segment reads
// the same after Migrate, in every bucket keyed by aggregate, and a second Migrate changes
// nothing.
func TestMigrateKeysPutsTheWindowFirst(t *testing.T) {
	db := open(t)
	k := Key{Segment: "acme/sales", Dimension: 5, Window: "week:2026-W47"}
	st := Stats{People: 7, Count: 9, Positive: 9, ScoredPeople: 7, Version: 12}
	err := db.Update(func(tx *bolt.Tx) error {
		for name, v := range map[string][]byte{
			string(bucketStats): st.encode(), string(bucketReleased): st.encode(),
			string(bucketSent): binary.BigEndian.AppendUint64(nil, 11), string(bucketDirty): {},
			string(bucketReleases): binary.BigEndian.AppendUint64(nil, 3),
		} {
			if err := tx.Bucket([]byte(name)).Put(oldKeyBytes(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := Migrate(db); err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			got, err := Get(tx, k)
			if err != nil || !reflect.DeepEqual(got, st) {
				return fmt.Errorf("Get = %+v, %v; want %+v", got, err, st)
			}
			rel, shown, err := Released(tx, k)
			if err != nil || !shown || rel.People != 7 {
				return fmt.Errorf("Released = %+v, %v, %v", rel, shown, err)
			}
			if v := Published(tx, k); v != 11 {
				return fmt.Errorf("Published = %d; want 11", v)
			}
			if r := Releases(tx, k); !reflect.DeepEqual(r, []uint64{3}) {
				return fmt.Errorf("Releases = %v; want [3]", r)
			}
			keys, err := UnsafeTakeDirty(tx, 10)
			if err != nil || !reflect.DeepEqual(keys, []Key{k}) {
				return fmt.Errorf("dirty = %v, %v; want %v", keys, err, k)
			}
			return tx.Bucket(bucketDirty).Put(k.bytes(), []byte{}) // for the second round
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestFewWindowsStayInMemory: a store keeps at most maxMemberWindows windows' contributors in
// memory (a rebuild writes a year of weeks), and a window dropped from memory and written again
// still counts each person once.
func TestFewWindowsStayInMemory(t *testing.T) {
	db := open(t)
	week := func(i int) Key { return Key{Segment: "acme", Window: fmt.Sprintf("week:2026-W%02d", 1+i)} }
	for round := range 2 {
		for i := range 10 {
			if err := db.Update(func(tx *bolt.Tx) error { return addPeople(tx, week(i), 1, 2, round+3) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 10 {
		if n := people(t, db, week(i)); n != 4 {
			t.Fatalf("week %d: people = %d; want 4 (1, 2, 3 and 4)", i, n)
		}
	}
	memberCache.Lock()
	defer memberCache.Unlock()
	for _, ms := range memberCache.stores {
		if len(ms.windows) > maxMemberWindows {
			t.Fatalf("%d windows in memory; want at most %d", len(ms.windows), maxMemberWindows)
		}
	}
}
