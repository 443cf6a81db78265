package store

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
)

func openDB(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "pulse.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := Init(db); err != nil {
		t.Fatalf("init: %v", err)
	}
	return db
}

func TestInitChecksSchema(t *testing.T) {
	db := openDB(t)
	if err := Init(db); err != nil {
		t.Fatalf("second Init: %v", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(Meta).Put([]byte("schema"), []byte("99")) }); err != nil {
		t.Fatalf("set schema: %v", err)
	}
	if err := Init(db); !errors.Is(err, ErrSchema) {
		t.Fatalf("Init on schema 99 = %v, want ErrSchema", err)
	}
}

// The audience index must page through exactly the surveys under a prefix, skipping keys
// that only share its spelling ("acme-corp", "acme0" for "acme"), which sort between them.
func TestListSurveysPagesThroughPrefix(t *testing.T) {
	db := openDB(t)
	audiences := map[string]string{
		"s1": "acme", "s2": "acme-corp", "s3": "acme/eng", "s4": "acme0", "s5": "acme/eng", "s6": "acme/sales", "s7": "acm",
	}
	err := db.Update(func(tx *bolt.Tx) error {
		for id, a := range audiences {
			if err := UnsafePutSurvey(tx, &pulsev1.Survey{Id: id, Audience: a}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	for _, limit := range []int{1, 2, 3, 10} {
		var got []string
		var after []byte
		for pages := 0; pages < 10; pages++ {
			var page []*pulsev1.Survey
			err := db.View(func(tx *bolt.Tx) (err error) {
				page, after, err = UnsafeListSurveys(tx, "acme", after, limit)
				return err
			})
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if len(page) > limit {
				t.Fatalf("page of %d, limit %d", len(page), limit)
			}
			for _, s := range page {
				got = append(got, s.Id)
			}
			if after == nil {
				break
			}
		}
		if want := []string{"s1", "s3", "s5", "s6"}; !slices.Equal(got, want) {
			t.Fatalf("limit %d: listed %v, want %v", limit, got, want)
		}
	}
	var exact []*pulsev1.Survey
	if err := db.View(func(tx *bolt.Tx) (err error) { exact, err = UnsafeSurveysWithAudience(tx, "acme/eng"); return err }); err != nil {
		t.Fatalf("by audience: %v", err)
	}
	var got []string
	for _, s := range exact {
		got = append(got, s.Id)
	}
	if slices.Sort(got); !slices.Equal(got, []string{"s3", "s5"}) {
		t.Fatalf("surveys with audience acme/eng = %v, want [s3 s5]", got)
	}
}
