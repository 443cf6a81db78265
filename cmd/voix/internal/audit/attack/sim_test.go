package attack

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// simOrg is a simulated organisation: teams in departments in divisions in one org, every
// person with one of three locations.
type simOrg struct {
	people    int
	teams     [][]int // people of each team
	depts     [][]int // teams of each department
	divisions [][]int // departments of each division
	location  []int   // by person
}

// newSimOrg makes teams of 6..24 people (15 on average), 10 teams a department, 4
// departments a division.
func newSimOrg(rng *rand.Rand, teams int) *simOrg {
	o := &simOrg{}
	for t := range teams {
		size := 6 + rng.IntN(19)
		o.teams = append(o.teams, seq(o.people, o.people+size))
		o.people += size
		if t%10 == 0 {
			o.depts = append(o.depts, nil)
			if len(o.depts)%4 == 1 {
				o.divisions = append(o.divisions, nil)
			}
			o.divisions[len(o.divisions)-1] = append(o.divisions[len(o.divisions)-1], len(o.depts)-1)
		}
		o.depts[len(o.depts)-1] = append(o.depts[len(o.depts)-1], t)
	}
	for range o.people {
		o.location = append(o.location, rng.IntN(3))
	}
	return o
}

// simWeek is what a reader is shown in one week.
type simWeek struct {
	obs []Observation
	// leaks are the respondents of teams hidden alone in a department where every other team
	// is shown: with naive suppression, the department minus the rest.
	leaks [][]int
}

// week simulates one week: each person answers with probability rate; the reader sees, for
// the org, each division, each department and each team, and for the org, divisions and
// departments by location, a count and a sum of the answers, wherever at least k people
// answered.
func (o *simOrg) week(rng *rand.Rand, w, k int, rate float64, measure string) simWeek {
	answered := make([]bool, o.people)
	for p := range answered {
		answered[p] = rng.Float64() < rate
	}
	var sw simWeek
	show := func(name string, people []int) bool {
		var resp []int
		for _, p := range people {
			if answered[p] {
				resp = append(resp, p)
			}
		}
		if len(resp) < k {
			return false
		}
		for _, stat := range []string{"count", "sum"} {
			sw.obs = append(sw.obs, Observation{
				Query:   fmt.Sprintf("GetSentiment %s dim=WORKLOAD week=%d %s", name, w, stat),
				Measure: measure,
				People:  resp,
			})
		}
		return true
	}
	byLocation := func(name string, people []int) {
		for loc := range 3 {
			var in []int
			for _, p := range people {
				if o.location[p] == loc {
					in = append(in, p)
				}
			}
			show(fmt.Sprintf("%s location=%d", name, loc), in)
		}
	}
	var all []int
	for v, depts := range o.divisions {
		var div []int
		for _, d := range depts {
			var dept, hidden []int
			hiddenTeams := 0
			for _, t := range o.depts[d] {
				dept = append(dept, o.teams[t]...)
				if !show(fmt.Sprintf("acme/div%d/dept%d/team%d", v, d, t), o.teams[t]) {
					hiddenTeams++
					hidden = o.teams[t]
				}
			}
			if show(fmt.Sprintf("acme/div%d/dept%d", v, d), dept) && hiddenTeams == 1 {
				var resp []int
				for _, p := range hidden {
					if answered[p] {
						resp = append(resp, p)
					}
				}
				if len(resp) > 0 {
					sw.leaks = append(sw.leaks, resp)
				}
			}
			byLocation(fmt.Sprintf("acme/div%d/dept%d", v, d), dept)
			div = append(div, dept...)
		}
		show(fmt.Sprintf("acme/div%d", v), div)
		byLocation(fmt.Sprintf("acme/div%d", v), div)
		all = append(all, div...)
	}
	show("acme", all)
	byLocation("acme", all)
	return sw
}

// TestDifferencingSimulatedOrg: weekly results of a simulated org with naive suppression
// (a team is hidden when fewer than k answered, nothing else). Every week is its own
// measure. Every team hidden alone in its department leaks, and must be found: its
// respondents are a disjoint union of reported groups. Every witness must hold.
func TestDifferencingSimulatedOrg(t *testing.T) {
	const k = 5
	rng := rand.New(rand.NewPCG(5, 6))
	org := newSimOrg(rng, 40)
	var obs []Observation
	var leaks [][]int
	var leakMeasures []string
	for w := range 6 {
		m := fmt.Sprintf("WORKLOAD week=%d", w)
		sw := org.week(rng, w, k, 0.7, m)
		obs = append(obs, sw.obs...)
		for _, l := range sw.leaks {
			leaks = append(leaks, l)
			leakMeasures = append(leakMeasures, m)
		}
	}
	var st Stats
	got := Differencing(obs, k, WithStats(&st))
	if len(leaks) < 3 {
		t.Fatalf("only %d planted leaks: simulation too kind", len(leaks))
	}
	t.Logf("%d observations, %d leaks planted, %d reconstructions, stats %+v", len(obs), len(leaks), len(got), st)
	for _, r := range got {
		checkWitness(t, obs, r)
		if len(r.People) >= k {
			t.Errorf("%v: %d people, k is %d", r, len(r.People), k)
		}
	}
	for i, leak := range leaks {
		// The leak is isolatable, so it is a disjoint union of minimal isolatable groups,
		// each of them reported: find such a cover among the reported groups inside it.
		var inside [][]int
		for _, r := range got {
			if r.Measure == leakMeasures[i] && !slices.ContainsFunc(r.People, func(p int) bool { return !slices.Contains(leak, p) }) {
				inside = append(inside, r.People)
			}
		}
		if !exactCover(leak, inside) {
			t.Errorf("%s: hidden team answered by %v, not a union of reported groups %v", leakMeasures[i], leak, inside)
		}
	}
}

// exactCover reports whether set is a disjoint union of some of parts.
func exactCover(set []int, parts [][]int) bool {
	if len(set) == 0 {
		return true
	}
	for i, part := range parts {
		if !slices.Contains(part, set[0]) {
			continue
		}
		var rest []int
		for _, p := range set {
			if !slices.Contains(part, p) {
				rest = append(rest, p)
			}
		}
		if len(rest) == len(set)-len(part) && exactCover(rest, parts[i+1:]) {
			return true
		}
	}
	return false
}

// benchOrg builds the benchmark's observations: 200 teams (about 3,000 people) over 8
// weeks, about 5,000 observations. With one measure for all of them the weeks are combined,
// as when every week's numbers aggregate the same per-person quantity, the hardest case.
func benchOrg(perWeek bool) ([]Observation, int) {
	rng := rand.New(rand.NewPCG(7, 8))
	org := newSimOrg(rng, 200)
	var obs []Observation
	for w := range 8 {
		m := ""
		if perWeek {
			m = fmt.Sprint("week=", w)
		}
		obs = append(obs, org.week(rng, w, 5, 0.7, m).obs...)
	}
	return obs, org.people
}

func BenchmarkDifferencingOrg(b *testing.B) {
	for _, perWeek := range []bool{false, true} {
		obs, people := benchOrg(perWeek)
		b.Run(fmt.Sprintf("measurePerWeek=%v", perWeek), func(b *testing.B) {
			var st Stats
			var got []Reconstruction
			for b.Loop() {
				got = Differencing(obs, 5, WithStats(&st))
			}
			b.ReportMetric(float64(people), "people")
			b.ReportMetric(float64(len(obs)), "observations")
			b.ReportMetric(float64(st.Atoms), "atoms")
			b.ReportMetric(float64(st.Rank), "rank")
			b.ReportMetric(float64(st.SearchNodes), "nodes")
			b.ReportMetric(float64(len(got)), "found")
		})
	}
}

// TestDifferencingOrgScale runs the benchmark's instance once, checks every witness and
// bounds the time, so that a change that makes the analysis impractical fails a test.
func TestDifferencingOrgScale(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	obs, people := benchOrg(false)
	start := time.Now()
	var st Stats
	got := Differencing(obs, 5, WithStats(&st))
	took := time.Since(start)
	t.Logf("%d people, %d observations: %d reconstructions in %v; stats %+v", people, len(obs), len(got), took, st)
	if st.Truncated {
		t.Errorf("search truncated")
	}
	for _, r := range got {
		checkWitness(t, obs, r)
	}
	if took > 2*time.Minute {
		t.Errorf("took %v", took)
	}
}

// unitObservations simulates weekly sentiment with units: each day a person answers (with
// probability 1/2) makes one unit per dimension, owned by them. The reader sees per team,
// department and department by location, per week, the sum of each dimension and of all of
// them, wherever at least k people answered. It returns the observations and the owners.
func (o *simOrg) unitObservations(rng *rand.Rand, weeks, dims, k int) ([]Observation, []int) {
	const days = 5
	var owners []int
	ids := make(map[[3]int]int)
	unit := func(p, day, dim int) int {
		key := [3]int{p, day, dim}
		u, ok := ids[key]
		if !ok {
			u = len(owners)
			ids[key] = u
			owners = append(owners, p)
		}
		return u
	}
	var obs []Observation
	for w := range weeks {
		answered := make([][days]bool, o.people)
		for p := range answered {
			for d := range days {
				answered[p][d] = rng.IntN(2) == 0
			}
		}
		show := func(name string, people []int) {
			var resp []int
			for _, p := range people {
				if slices.Contains(answered[p][:], true) {
					resp = append(resp, p)
				}
			}
			if len(resp) < k {
				return
			}
			var all []int
			for dim := range dims {
				var us []int
				for _, p := range resp {
					for d := range days {
						if answered[p][d] {
							us = append(us, unit(p, w*days+d, dim))
						}
					}
				}
				all = append(all, us...)
				obs = append(obs, Observation{Query: fmt.Sprintf("GetSentiment %s week=%d dim=%d", name, w, dim), Measure: "sentiment", People: us})
			}
			obs = append(obs, Observation{Query: fmt.Sprintf("GetSentiment %s week=%d", name, w), Measure: "sentiment", People: all})
		}
		for d, teams := range o.depts {
			var dept []int
			for _, t := range teams {
				show(fmt.Sprintf("dept%d/team%d", d, t), o.teams[t])
				dept = append(dept, o.teams[t]...)
			}
			show(fmt.Sprintf("dept%d", d), dept)
			for loc := range 3 {
				var in []int
				for _, p := range dept {
					if o.location[p] == loc {
						in = append(in, p)
					}
				}
				show(fmt.Sprintf("dept%d location=%d", d, loc), in)
			}
		}
	}
	return obs, owners
}

// BenchmarkDifferencingOwners: 200 teams over 8 weeks and 5 dimensions, as units of one
// person's answers of one day in one dimension: about 300,000 units and 13,000
// observations, atoms sharing owners.
func BenchmarkDifferencingOwners(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	org := newSimOrg(rng, 200)
	obs, owners := org.unitObservations(rng, 8, 5, 5)
	var st Stats
	var got []Reconstruction
	for b.Loop() {
		got = Differencing(obs, 5, WithOwners(owners), WithStats(&st))
	}
	b.ReportMetric(float64(len(owners)), "units")
	b.ReportMetric(float64(len(obs)), "observations")
	b.ReportMetric(float64(st.SmallAtoms), "smallatoms")
	b.ReportMetric(float64(st.SearchNodes), "nodes")
	b.ReportMetric(float64(len(got)), "found")
}
