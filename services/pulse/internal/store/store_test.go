package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/segment"
)

func openDB(t *testing.T) *bolt.DB {
	t.Helper()
	db := openFile(t)
	if err := Init(db, V1{}); err != nil {
		t.Fatalf("init: %v", err)
	}
	return db
}

func openFile(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "pulse.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestInitChecksSchema(t *testing.T) {
	db := openDB(t)
	if err := Init(db, V1{}); err != nil {
		t.Fatalf("second Init: %v", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(Meta).Put([]byte("schema"), []byte("99")) }); err != nil {
		t.Fatalf("set schema: %v", err)
	}
	if err := Init(db, V1{}); !errors.Is(err, ErrSchema) {
		t.Fatalf("Init on schema 99 = %v, want ErrSchema", err)
	}
}

func putSurveys(t *testing.T, db *bolt.DB, audiences map[string]string) {
	t.Helper()
	err := db.Update(func(tx *bolt.Tx) error {
		for id, a := range audiences {
			if err := UnsafePutSurvey(tx, Survey{ID: id, Audience: a}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
}

// listAll pages through ListSurveys with limit, calling between (if any) after each page.
func listAll(t *testing.T, db *bolt.DB, prefix string, limit int, between func(page int)) []string {
	t.Helper()
	var got []string
	var after []byte
	for page := 0; page < 50; page++ {
		var surveys []Survey
		err := db.View(func(tx *bolt.Tx) (err error) {
			surveys, after, err = ListSurveys(tx, segment.MustParse(prefix), after, limit)
			return err
		})
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if len(surveys) > limit {
			t.Fatalf("page of %d, limit %d", len(surveys), limit)
		}
		for _, s := range surveys {
			got = append(got, s.ID)
		}
		if after == nil {
			return got
		}
		if between != nil {
			between(page)
		}
	}
	t.Fatalf("listing %s never ended: %v", prefix, got)
	return nil
}

// The audience index must page through exactly the surveys under a prefix, skipping keys
// that only share its spelling ("acme-corp", "acme0" for "acme"), which sort between them.
func TestListSurveysPagesThroughPrefix(t *testing.T) {
	db := openDB(t)
	putSurveys(t, db, map[string]string{
		"s1": "acme", "s2": "acme-corp", "s3": "acme/eng", "s4": "acme0", "s5": "acme/eng", "s6": "acme/sales", "s7": "acm",
	})
	for _, limit := range []int{1, 2, 3, 10} {
		if got, want := listAll(t, db, "acme", limit, nil), []string{"s1", "s3", "s5", "s6"}; !slices.Equal(got, want) {
			t.Fatalf("limit %d: listed %v, want %v", limit, got, want)
		}
	}
	var exact []Survey
	if err := db.View(func(tx *bolt.Tx) (err error) {
		exact, err = SurveysWithAudience(tx, segment.MustParse("acme/eng"))
		return err
	}); err != nil {
		t.Fatalf("by audience: %v", err)
	}
	var got []string
	for _, s := range exact {
		got = append(got, s.ID)
	}
	if slices.Sort(got); !slices.Equal(got, []string{"s3", "s5"}) {
		t.Fatalf("surveys with audience acme/eng = %v, want [s3 s5]", got)
	}
}

// A prefix lists the surveys whose audience covers it as well as those within it, and only
// those: not siblings, nor paths spelled alike at any level.
func TestListSurveysCoversAndWithin(t *testing.T) {
	db := openDB(t)
	putSurveys(t, db, map[string]string{
		"org": "acme", "eng": "acme/eng", "team": "acme/eng/platform", "sub": "acme/eng/platform/db",
		"alike1": "acme/engineering", "alike2": "acme/eng/platform-x", "alike3": "acme-corp/eng/platform",
		"sibling": "acme/eng/web", "other": "acme/sales", "global": "globex",
	})
	want := []string{"org", "eng", "team", "sub"} // index order: ancestors first, then the subtree
	for _, limit := range []int{1, 2, 3, 10} {
		if got := listAll(t, db, "acme/eng/platform", limit, nil); !slices.Equal(got, want) {
			t.Fatalf("limit %d: listed %v, want %v", limit, got, want)
		}
	}
}

// Surveys created between two pages never make the listing repeat or skip a survey it had
// to list: the cursor is the last index key, not an offset.
func TestListSurveysCursorSurvivesInserts(t *testing.T) {
	db := openDB(t)
	before := map[string]string{}
	for i := range 9 {
		before[fmt.Sprintf("b%d", i)] = []string{"acme", "acme/eng", "acme/eng/web"}[i%3]
	}
	putSurveys(t, db, before)
	inserted := 0
	got := listAll(t, db, "acme/eng", 2, func(page int) {
		if page > 2 {
			return
		}
		// Some sort before the cursor, some after it, at every level.
		add := map[string]string{}
		for _, a := range []string{"acme", "acme/eng", "acme/eng/web", "acme/eng/api"} {
			for _, id := range []string{"a", "z"} {
				add[fmt.Sprintf("%s%d-%s", id, page, strings.ReplaceAll(a, "/", "."))] = a
				inserted++
			}
		}
		putSurveys(t, db, add)
	})
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
		if seen[id] > 1 {
			t.Fatalf("survey %s listed twice: %v", id, got)
		}
	}
	for id := range before {
		if seen[id] != 1 {
			t.Fatalf("survey %s, there before the first page, not listed: %v", id, got)
		}
	}
	if inserted == 0 || len(got) == len(before) {
		t.Fatalf("listed %d surveys, %d inserted meanwhile: the test inserted nothing that sorts after the cursor", len(got), inserted)
	}
}

func TestWritesNeedAWriteTransaction(t *testing.T) {
	db := openDB(t)
	err := db.View(func(tx *bolt.Tx) error {
		return UnsafePutSegment(tx, segment.MustParse("acme"), Segment{Headcount: 3})
	})
	if err == nil {
		t.Fatal("UnsafePutSegment in a read-only transaction succeeded")
	}
}

func TestSegmentRegistry(t *testing.T) {
	db := openDB(t)
	at := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	err := db.Update(func(tx *bolt.Tx) error {
		for path, n := range map[string]uint32{"acme": 100, "acme/eng": 40, "acme/eng/web": 15, "acme-corp": 7, "acme0": 3} {
			if err := UnsafePutSegment(tx, segment.MustParse(path), Segment{Headcount: n, Version: uint64(n), Updated: at}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		s, ok, err := GetSegment(tx, segment.MustParse("acme/eng"))
		if err != nil || !ok || s != (Segment{Headcount: 40, Version: 40, Updated: at}) {
			return fmt.Errorf("acme/eng = %v, %v, %v", s, ok, err)
		}
		if _, ok, err := GetSegment(tx, segment.MustParse("acme/sales")); ok || err != nil {
			return fmt.Errorf("acme/sales found (%v, %v), never set", ok, err)
		}
		m, err := HeadcountsUnder(tx, segment.MustParse("acme"))
		if err != nil {
			return err
		}
		if want := map[string]uint32{"acme": 100, "acme/eng": 40, "acme/eng/web": 15}; fmt.Sprint(m) != fmt.Sprint(want) {
			return fmt.Errorf("headcounts under acme = %v, want %v", m, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// v1Conversions decode the fake schema 1 values the migration tests write: "survey:<id>:<audience>",
// "segment:<headcount>" and "response:<survey>:<wave>:<id>:<segment>".
func v1Conversions(counted *[]string) V1 {
	return V1{
		Survey: func(v []byte) (Survey, error) {
			f := strings.Split(string(v), ":")
			if len(f) != 3 || f[0] != "survey" {
				return Survey{}, fmt.Errorf("not a v1 survey: %q", v)
			}
			return Survey{ID: f[1], Audience: f[2], State: StateActive}, nil
		},
		Segment: func(v []byte) (Segment, error) {
			n, err := strconv.Atoi(strings.TrimPrefix(string(v), "segment:"))
			return Segment{Headcount: uint32(n)}, err
		},
		Response: func(v []byte) (Response, error) {
			f := strings.Split(string(v), ":")
			if len(f) != 5 || f[0] != "response" {
				return Response{}, fmt.Errorf("not a v1 response: %q", v)
			}
			w, err := strconv.Atoi(f[2])
			return Response{SurveyID: f[1], Wave: uint32(w), ID: f[3], Segment: f[4],
				Answers: []Answer{{QuestionID: "q", Kind: QuestionScale, Value: 4}}}, err
		},
		Counted: func(_ *bolt.Tx, path segment.Path, s Segment) error {
			*counted = append(*counted, fmt.Sprintf("%s@%d=%d", path, s.Version, s.Headcount))
			return nil
		},
	}
}

// writeV1 writes a schema 1 store: the same buckets and keys, fake old values.
func writeV1(t *testing.T, db *bolt.DB, responses int) {
	t.Helper()
	err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range []Bucket{Meta, Surveys, SurveyAudience, Segments, Markers, Responses} {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		if err := tx.Bucket(Meta).Put([]byte("schema"), []byte("1")); err != nil {
			return err
		}
		if err := tx.Bucket(Surveys).Put([]byte("S1"), []byte("survey:S1:acme/eng")); err != nil {
			return err
		}
		if err := tx.Bucket(SurveyAudience).Put(audienceKey("acme/eng", "S1"), nil); err != nil {
			return err
		}
		for path, v := range map[string]string{"acme/eng": "segment:40", "acme/eng/web": "segment:0"} {
			if err := tx.Bucket(Segments).Put([]byte(path), []byte(v)); err != nil {
				return err
			}
		}
		for i := range responses {
			id := fmt.Sprintf("R%05d", i)
			k := binary.BigEndian.AppendUint32(append([]byte("S1"), 0), 1)
			if err := tx.Bucket(Responses).Put(append(k, id...), []byte("response:S1:1:"+id+":acme/eng/web")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("write schema 1: %v", err)
	}
}

// A schema 1 file is migrated in place by Init: every value rewritten as a record through the
// service's conversions (more responses than one chunk of the rewrite), segments with a
// headcount at version 1 and announced, and the schema bumped.
func TestInitMigratesSchema1(t *testing.T) {
	db := openFile(t)
	const responses = 2500
	writeV1(t, db, responses)
	var counted []string
	if err := Init(db, v1Conversions(&counted)); err != nil {
		t.Fatalf("Init on schema 1: %v", err)
	}
	if want := []string{"acme/eng@1=40"}; !slices.Equal(counted, want) {
		t.Fatalf("announced %v, want %v (a segment without headcount has no version)", counted, want)
	}
	err := db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(Meta).Get([]byte("schema")); string(v) != SchemaVersion {
			return fmt.Errorf("schema %q after migration, want %q", v, SchemaVersion)
		}
		s, err := GetSurvey(tx, "S1")
		if err != nil || s.ID != "S1" || s.Audience != "acme/eng" || s.State != StateActive {
			return fmt.Errorf("survey S1 = %+v, %v", s, err)
		}
		listed, err := SurveysWithAudience(tx, segment.MustParse("acme/eng"))
		if err != nil || len(listed) != 1 {
			return fmt.Errorf("surveys of acme/eng = %v, %v", listed, err)
		}
		for path, want := range map[string]Segment{"acme/eng": {Headcount: 40, Version: 1}, "acme/eng/web": {}} {
			if s, ok, err := GetSegment(tx, segment.MustParse(path)); err != nil || !ok || s != want {
				return fmt.Errorf("segment %s = %+v, %v, %v; want %+v", path, s, ok, err, want)
			}
		}
		n := 0
		err = ForEachResponse(tx, "S1", 1, func(r Response) error {
			if want := fmt.Sprintf("R%05d", n); r.ID != want || r.SurveyID != "S1" || r.Wave != 1 || r.Segment != "acme/eng/web" ||
				len(r.Answers) != 1 || !reflect.DeepEqual(r.Answers[0], Answer{QuestionID: "q", Kind: QuestionScale, Value: 4}) {
				return fmt.Errorf("response %d = %+v", n, r)
			}
			n++
			return nil
		})
		if err != nil {
			return err
		}
		if n != responses {
			return fmt.Errorf("%d responses after migration, want %d", n, responses)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Migrated once: opening again converts nothing.
	if err := Init(db, V1{}); err != nil {
		t.Fatalf("Init after migration: %v", err)
	}
}

// A migration that fails leaves the file as it was, at schema 1.
func TestFailedMigrationLeavesSchema1(t *testing.T) {
	db := openFile(t)
	writeV1(t, db, 3)
	var counted []string
	v1 := v1Conversions(&counted)
	v1.Response = func([]byte) (Response, error) { return Response{}, errors.New("corrupt") }
	if err := Init(db, v1); err == nil {
		t.Fatal("Init with a failing conversion succeeded")
	}
	err := db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(Meta).Get([]byte("schema")); string(v) != "1" {
			return fmt.Errorf("schema %q after a failed migration, want 1", v)
		}
		if v := tx.Bucket(Surveys).Get([]byte("S1")); string(v) != "survey:S1:acme/eng" {
			return fmt.Errorf("survey S1 = %q after a failed migration, want its schema 1 value", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := Init(db, V1{}); err == nil {
		t.Fatal("Init of a schema 1 file without conversions succeeded")
	}
}
