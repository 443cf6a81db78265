package cx

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/store"
)

var now = time.Date(2026, 11, 18, 12, 0, 0, 0, time.UTC)

func open(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "cx.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := store.EnsureBuckets(db, Buckets()...); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestSignalsSumPerWindowAndCountOnce(t *testing.T) {
	db := open(t)
	sup, supx := segment.MustParse("acme/support"), segment.MustParse("acme/supportx")
	csat := commonv1.CustomerMetric_CUSTOMER_METRIC_CSAT
	put := func(s Signal) bool {
		t.Helper()
		if err := Validate(s, now); err != nil {
			t.Fatalf("Validate(%+v): %v", s, err)
		}
		var replaced bool
		if err := db.Update(func(tx *bolt.Tx) error {
			var err error
			replaced, err = UnsafePut(tx, s)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return replaced
	}
	day := now.Truncate(24 * time.Hour)
	a := Signal{Segment: sup, Metric: csat, Value: 90, Responses: 10, Time: day.Add(time.Hour), SourceID: "a"}
	b := Signal{Segment: sup, Metric: csat, Value: 60, Responses: 30, Time: day.Add(2 * time.Hour), SourceID: "b"}
	if put(a) || put(b) {
		t.Fatal("a first put says replaced")
	}
	if !put(a) {
		t.Fatal("the same signal again does not say replaced")
	}
	put(Signal{Segment: sup, Metric: csat, Value: 10, Responses: 99, Time: day.Add(-time.Hour), SourceID: "before"})
	put(Signal{Segment: supx, Metric: csat, Value: 10, Responses: 99, Time: day.Add(time.Hour), SourceID: "sibling"})
	put(Signal{Segment: sup, Metric: commonv1.CustomerMetric_CUSTOMER_METRIC_COMPLAINTS, Value: 3, Responses: 40, Time: day.Add(time.Hour), SourceID: "c1"})
	put(Signal{Segment: sup, Metric: commonv1.CustomerMetric_CUSTOMER_METRIC_COMPLAINTS, Value: 2, Responses: 40, Time: day.Add(time.Hour), SourceID: "c2"})

	err := db.View(func(tx *bolt.Tx) error {
		sum, err := Range(tx, sup, csat, day, day.Add(24*time.Hour))
		if err != nil {
			return err
		}
		if want := (90.0*10 + 60*30) / 40; sum.Responses != 40 || math.Abs(sum.Value(csat)-want) > 1e-12 {
			t.Errorf("CSAT of the day = %+v (value %v); want 40 responses, %v", sum, sum.Value(csat), want)
		}
		cm := commonv1.CustomerMetric_CUSTOMER_METRIC_COMPLAINTS
		if sum, err := Range(tx, sup, cm, day, day.Add(24*time.Hour)); err != nil || sum.Value(cm) != 5 || sum.Responses != 80 {
			t.Errorf("complaints of the day = %+v, %v; want 5 over 80 contacts", sum, err)
		}
		list, err := List(tx, segment.MustParse("acme/support"))
		if err != nil {
			return err
		}
		if len(list) != 2 || !list[0].Segment.Equal(sup) || list[0].Metric != csat || !list[1].Segment.Equal(sup) || list[1].Metric != cm {
			t.Errorf("List(acme/support) = %v; want its CSAT and COMPLAINTS, not acme/supportx", list)
		}
		if list, _ := List(tx, segment.MustParse("acme")); len(list) != 3 {
			t.Errorf("List(acme) = %v; want 3 series", list)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRegistryKeepsTheHighestVersion(t *testing.T) {
	db := open(t)
	seg := segment.MustParse("acme/support")
	apply := func(headcount uint32, version uint64) {
		t.Helper()
		if err := db.Update(func(tx *bolt.Tx) error { return UnsafeRegister(tx, seg, headcount, version) }); err != nil {
			t.Fatal(err)
		}
	}
	registered := func() (ok bool) {
		_ = db.View(func(tx *bolt.Tx) error { ok, _ = Registered(tx, seg); return nil })
		return ok
	}
	if registered() {
		t.Fatal("registered before any entry")
	}
	apply(12, 2)
	apply(0, 1) // an older entry redelivered
	if !registered() {
		t.Fatal("an older entry unregistered the segment")
	}
	apply(0, 3)
	if registered() {
		t.Fatal("headcount 0 at a newer version still registered")
	}
}

// checkValidate is what Validate must do, said independently: an accepted signal is in its
// metric's range, not in the future beyond MaxSkew, with a printable source id of 1..128
// characters; a refused one names one of the signal's fields.
func checkValidate(t *testing.T, s Signal, err error) {
	t.Helper()
	if err != nil {
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("Validate(%+v) = %v, not a FieldError", s, err)
		}
		switch fe.Field {
		case "segment", "metric", "value", "time", "source_id":
		default:
			t.Fatalf("Validate(%+v) names field %q", s, fe.Field)
		}
		if fe.Rule == "" {
			t.Fatalf("Validate(%+v): no rule", s)
		}
		return
	}
	v := s.Value
	var ok bool
	switch s.Metric {
	case commonv1.CustomerMetric_CUSTOMER_METRIC_CSAT:
		ok = v >= 0 && v <= 100
	case commonv1.CustomerMetric_CUSTOMER_METRIC_NPS:
		ok = v >= -100 && v <= 100
	case commonv1.CustomerMetric_CUSTOMER_METRIC_CES:
		ok = v >= 1 && v <= 7
	case commonv1.CustomerMetric_CUSTOMER_METRIC_COMPLAINTS:
		ok = v >= 0 && math.Floor(v) == v && v <= math.MaxUint32
	}
	if !ok {
		t.Fatalf("Validate accepted %v %v", s.Metric, v)
	}
	if s.Time.After(now.Add(MaxSkew)) || s.Time.Year() < 2000 {
		t.Fatalf("Validate accepted time %v", s.Time)
	}
	if n := utf8.RuneCountInString(s.SourceID); n < 1 || n > 128 || !utf8.ValidString(s.SourceID) ||
		strings.ContainsFunc(s.SourceID, func(r rune) bool { return !unicode.IsPrint(r) }) {
		t.Fatalf("Validate accepted source id %q", s.SourceID)
	}
}

func FuzzValidate(f *testing.F) {
	f.Add(int32(1), 70.0, int64(0), "zendesk-1")
	f.Add(int32(2), -100.0, int64(-3600), "nps")
	f.Add(int32(3), 7.0, int64(299), "ces")
	f.Add(int32(4), 2.5, int64(0), "half")
	f.Add(int32(4), 4294967296.0, int64(0), "too many")
	f.Add(int32(0), 1.0, int64(301), "")
	f.Add(int32(9), math.NaN(), int64(-1e9), "a\x00b")
	f.Fuzz(func(t *testing.T, metric int32, value float64, offset int64, source string) {
		s := Signal{Segment: segment.MustParse("acme/support"), Metric: commonv1.CustomerMetric(metric), Value: value,
			Responses: 5, Time: now.Add(time.Duration(offset) * time.Second), SourceID: source}
		checkValidate(t, s, Validate(s, now))
	})
}
