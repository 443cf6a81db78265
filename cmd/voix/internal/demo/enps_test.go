package demo

import (
	"math/rand/v2"
	"testing"
)

// enpsOf is the eNPS (promoters minus detractors, in percent) of answers.
func enpsOf(answers []int32) int {
	promoters, detractors := 0, 0
	for _, v := range answers {
		switch {
		case v >= 9:
			promoters++
		case v <= 6:
			detractors++
		}
	}
	return 100 * (promoters - detractors) / len(answers)
}

// TestENPSAnswersLookReal: the default organisation's eNPS answers, drawn from its seeded
// world, give the company a middling eNPS, differ from team to team and from department to
// department, and follow the story: the overloaded team's eNPS falls over the weeks and the
// recognised team's rises.
func TestENPSAnswersLookReal(t *testing.T) {
	w := newWorld(rand.New(rand.NewPCG(1, 1)), "acme", DefaultPeople)
	rng := rand.New(rand.NewPCG(1, 3))
	const draws = 20 // answers per person, so that a team's eNPS is its people's, not luck's
	at := func(f float64) (org int, byTeam map[*team]int, byDept map[string]int) {
		var all []int32
		teams, depts := map[*team][]int32{}, map[string][]int32{}
		for _, p := range w.people {
			for range draws {
				v := p.enps(rng, f)
				if v < 0 || v > 10 {
					t.Fatalf("an eNPS answer of %d", v)
				}
				all = append(all, v)
				teams[p.team] = append(teams[p.team], v)
				depts[p.team.dept] = append(depts[p.team.dept], v)
			}
		}
		byTeam, byDept = map[*team]int{}, map[string]int{}
		for tm, a := range teams {
			byTeam[tm] = enpsOf(a)
		}
		for d, a := range depts {
			byDept[d] = enpsOf(a)
		}
		return enpsOf(all), byTeam, byDept
	}
	org0, teams0, depts0 := at(0)
	org1, teams1, _ := at(1)
	t.Logf("eNPS of the organisation: %+d at the start, %+d at the end; departments at the start: %v", org0, org1, depts0)
	for _, org := range []int{org0, org1} {
		if org < -15 || org > 35 {
			t.Errorf("the organisation's eNPS is %+d, want a middling one, -15..+35", org)
		}
	}
	lo, hi := 100, -100
	for _, e := range teams0 {
		lo, hi = min(lo, e), max(hi, e)
	}
	if hi-lo < 40 {
		t.Errorf("team eNPS at the start ranges over %+d..%+d, want teams at least 40 points apart", lo, hi)
	}
	dlo, dhi := 100, -100
	for _, e := range depts0 {
		dlo, dhi = min(dlo, e), max(dhi, e)
	}
	if len(depts0) != 3 || dhi-dlo < 5 {
		t.Errorf("department eNPS at the start: %v, want three departments at least 5 points apart", depts0)
	}
	for _, tm := range w.teams {
		switch tm.story {
		case overload:
			if teams1[tm] > teams0[tm]-30 {
				t.Errorf("overloaded team %s: eNPS %+d at the start, %+d at the end, want a fall of 30 points or more", tm.path, teams0[tm], teams1[tm])
			}
		case recognition:
			if teams1[tm] < teams0[tm]+20 {
				t.Errorf("recognised team %s: eNPS %+d at the start, %+d at the end, want a rise of 20 points or more", tm.path, teams0[tm], teams1[tm])
			}
		}
	}
}
