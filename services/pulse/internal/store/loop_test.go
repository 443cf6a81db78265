package store

import (
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestHeldSurveyCommentsByDay: SurveyCommentsBefore returns the comments of earlier days only,
// day by day, and a released comment is gone.
func TestHeldSurveyCommentsByDay(t *testing.T) {
	db := openDB(t)
	d0 := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)
	days := []time.Time{d0.AddDate(0, 0, 2), d0, d0.AddDate(0, 0, 1), d0}
	ids := []string{"Z2", "Y0", "X1", "A0"}
	if err := db.Update(func(tx *bolt.Tx) error {
		for i, id := range ids {
			if err := UnsafePutSurveyComment(tx, SurveyComment{ID: id, Segment: "acme", Text: "t", Day: days[i], FollowUpHash: []byte{1}}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before := func(day time.Time) []string {
		var out []string
		if err := db.View(func(tx *bolt.Tx) error {
			cs, err := SurveyCommentsBefore(tx, day)
			for _, c := range cs {
				out = append(out, c.ID)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := before(d0); len(got) != 0 {
		t.Fatalf("before the first day: %v", got)
	}
	if got := before(d0.AddDate(0, 0, 1)); len(got) != 2 || got[0] != "A0" || got[1] != "Y0" {
		t.Fatalf("before day 1: %v, want the day-0 comments A0, Y0", got)
	}
	if got := before(d0.AddDate(0, 0, 3)); len(got) != 4 || got[2] != "X1" || got[3] != "Z2" {
		t.Fatalf("before day 3: %v, want all, day by day", got)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return UnsafeDeleteSurveyComment(tx, SurveyComment{ID: "Y0", Day: d0})
	}); err != nil {
		t.Fatal(err)
	}
	if got := before(d0.AddDate(0, 0, 1)); len(got) != 1 || got[0] != "A0" {
		t.Fatalf("after releasing Y0: %v", got)
	}
}

// TestPlanNewsOfASegmentOnly: PlanNewsOf reads the plans of one segment, not of a segment whose
// path merely starts alike, nor of its sub-segments.
func TestPlanNewsOfASegmentOnly(t *testing.T) {
	db := openDB(t)
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, p := range []PlanNews{{ID: "a", Segment: "acme/eng"}, {ID: "b", Segment: "acme/eng2"}, {ID: "c", Segment: "acme/eng/web"}, {ID: "d", Segment: "acme/eng", Seq: 2}} {
			if err := UnsafePutPlanNews(tx, p); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := db.View(func(tx *bolt.Tx) error {
		return PlanNewsOf(tx, "acme/eng", func(p PlanNews) error { got = append(got, p.ID); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "a" || got[1] != "d" {
		t.Fatalf("plans of acme/eng: %v, want a and d", got)
	}
}
