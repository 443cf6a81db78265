package demo

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"
)

// planKinds plans a run of people over weeks from base, and counts its actions by kind.
func planKinds(t *testing.T, seed uint64, people, weeks int, base time.Time) map[string]int {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		loc = time.UTC
	}
	r := &run{cfg: Config{Seed: seed, People: people}, base: base, weeks: weeks, loc: loc,
		weekly: "W", diagnostic: "D", onboarding: "O", stop: base.Add(time.Duration(weeks) * week)}
	r.scheduleWeekly()
	if r.nWaves != weeks {
		t.Fatalf("%d weeks from %v: %d weekly waves", weeks, base, r.nWaves)
	}
	// The last wave opens in the ISO week of the end, and its answers come before the end.
	if last := r.weeklyOpens(r.nWaves); !last.Before(r.stop) || isoWeek(last) != isoWeek(r.stop) && r.stop.Sub(last) > time.Hour {
		t.Fatalf("from %v to %v: the last wave opens at %v", base, r.stop, last)
	}
	r.w = newWorld(rand.New(rand.NewPCG(seed, 1)), "acme", people)
	kinds := map[string]int{}
	for _, a := range r.plan(rand.New(rand.NewPCG(seed, 2))) {
		kinds[a.kind]++
		if a.kind == "weekly" && a.at.After(r.stop) {
			t.Fatalf("an answer at %v, after the end %v", a.at, r.stop)
		}
		if a.dep != nil && !a.dep.at.Before(a.at) {
			t.Fatalf("a %s at %v follows a %s at %v", a.kind, a.at, a.dep.kind, a.dep.at)
		}
	}
	return kinds
}

// TestPlanDependsOnTheSeedOnly: a seed plans the same answers and comments whatever the day
// and time the demo clock starts, and the same plan twice from one start, so two runs with one
// seed create the same counts; another seed plans other things. (What follows a comment, a
// reply or a status change, may differ with the weekday: the comments that would fall in the
// current week are moved just before it, and what follows them must fit before the end.)
func TestPlanDependsOnTheSeedOnly(t *testing.T) {
	people := func(m map[string]int) map[string]int {
		return map[string]int{"weekly": m["weekly"], "diagnostic": m["diagnostic"], "onboarding": m["onboarding"], "comment": m["comment"]}
	}
	for _, size := range []struct{ people, weeks int }{{300, 12}, {40, 2}, {60, 3}} {
		first := time.Date(2026, 3, 2, 0, 10, 0, 0, time.UTC) // a Monday, just after midnight
		want := planKinds(t, 1, size.people, size.weeks, first)
		if again := planKinds(t, 1, size.people, size.weeks, first); !maps.Equal(again, want) {
			t.Errorf("%d people, %d weeks from %v: %v, then %v", size.people, size.weeks, first, want, again)
		}
		for _, base := range []time.Time{
			first.Add(23*time.Hour + 40*time.Minute), first.Add(3*24*time.Hour + 13*time.Hour),
			time.Date(2026, 10, 24, 22, 59, 0, 0, time.UTC), // the eve of a daylight saving change
			time.Date(2027, 1, 3, 12, 0, 0, 0, time.UTC),
		} {
			if got := planKinds(t, 1, size.people, size.weeks, base); !maps.Equal(people(got), people(want)) {
				t.Errorf("%d people, %d weeks from %v: %v; from %v: %v", size.people, size.weeks, first, want, base, got)
			}
		}
		if size.weeks >= 3 && (want["weekly"] == 0 || want["diagnostic"] == 0 || want["onboarding"] == 0 || want["comment"] == 0 ||
			want["status"] == 0 || want["reply"] == 0 || want["follow-up"] == 0 || want["upvote"] == 0) {
			t.Errorf("%d people, %d weeks: a kind of action is missing: %v", size.people, size.weeks, want)
		}
		if other := planKinds(t, 2, size.people, size.weeks, first); maps.Equal(other, want) {
			t.Errorf("seeds 1 and 2 plan the same: %v", want)
		}
	}
}

func isoWeek(t time.Time) string {
	y, w := t.UTC().ISOWeek()
	return fmt.Sprintf("%d-W%02d", y, w)
}
