package release

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/voix-dev/voix/services/platform/anonymity/suppress"
)

// TestVisibilityAgainstAStaticOracle simulates 12 weeks of a 2,000-person organisation: 200
// teams in 20 departments, people answering a few at a time over each week (about 60% of them
// each week), releases decided every flush, and between two weeks about 5% of the people
// moving to another team (so teams grow and shrink from week to week). At each week's end it
// compares what HR sees of that week's window with a static oracle: the same suppression
// (suppress.Hidden) run once on the week's final counts, with no history to protect. It also
// checks, on the same run, that nothing shown isolates fewer than k people. (A person moving
// in the middle of a week is not simulated: the window counts them where they answered.)
func TestVisibilityAgainstAStaticOracle(t *testing.T) {
	const (
		k       = 5
		weeks   = 12
		flushes = 100
	)
	var worst float64 = 1
	for seed := range 3 {
		rng := rand.New(rand.NewPCG(uint64(seed), 11))
		segs := []string{"acme"}
		var teams []string
		for d := range 20 {
			dep := fmt.Sprintf("acme/d%02d", d)
			segs = append(segs, dep)
			for tm := range 10 {
				team := fmt.Sprintf("%s/t%02d", dep, tm)
				segs = append(segs, team)
				teams = append(teams, team)
			}
		}
		var teamOf []string // person -> team
		for _, team := range teams {
			for range 5 + rng.IntN(11) {
				teamOf = append(teamOf, team)
			}
		}
		weekWorst, oracleCells, shownCells, extraCells, moved := 1.0, 0, 0, 0, 0
		for week := range weeks {
			if week > 0 {
				for p := range teamOf {
					if rng.Float64() < 0.05 {
						teamOf[p] = teams[rng.IntN(len(teams))]
						moved++
					}
				}
			}
			s := newSim(k, segs)
			arrivalsAt := make([][]int, flushes+1)
			for p := range teamOf {
				if rng.Float64() < 0.6 {
					f := 1 + rng.IntN(flushes)
					arrivalsAt[f] = append(arrivalsAt[f], p)
				}
			}
			final := map[string]int{}
			for f := 1; f <= flushes; f++ {
				for _, p := range arrivalsAt[f] {
					s.contribute(p, teamOf[p], f)
					for _, anc := range ancestorsOf(teamOf[p]) {
						final[anc]++
					}
				}
				s.flushFinal(f, f == flushes)
			}
			var nodes []suppress.Node
			for _, seg := range segs {
				nodes = append(nodes, suppress.Node{ID: seg, Parent: parentPath(seg), People: final[seg]})
			}
			hidden := suppress.Hidden(nodes, k)
			shown := map[string]bool{}
			for _, v := range s.shown {
				shown[v.node] = true
			}
			oracle, both, extra := 0, 0, 0
			for _, seg := range segs {
				if final[seg] >= k && !hidden[seg] {
					oracle++
					if shown[seg] {
						both++
					}
				} else if shown[seg] {
					extra++
				}
			}
			if oracle == 0 {
				t.Fatalf("seed %d week %d: the oracle shows nothing; the simulation is wrong", seed, week)
			}
			weekWorst = min(weekWorst, float64(both)/float64(oracle))
			oracleCells, shownCells, extraCells = oracleCells+oracle, shownCells+both, extraCells+extra
			s.checkAtoms(t, k)
		}
		worst = min(worst, weekWorst)
		t.Logf("seed %d: %d people, %d moves over %d weeks; the oracle shows %d cells in all, voix %d of them (%.1f%%; worst week %.1f%%) and %d others",
			seed, len(teamOf), moved, weeks, oracleCells, shownCells, 100*float64(shownCells)/float64(oracleCells), 100*weekWorst, extraCells)
	}
	if worst < 0.95 {
		t.Fatalf("in its worst week voix shows %.1f%% of the cells a static oracle shows, want at least 95%%", 100*worst)
	}
}

func parentPath(seg string) string {
	for i := len(seg) - 1; i > 0; i-- {
		if seg[i] == '/' {
			return seg[:i]
		}
	}
	return ""
}

func ancestorsOf(seg string) []string {
	out := []string{seg}
	for p := parentPath(seg); p != ""; p = parentPath(p) {
		out = append(out, p)
	}
	return out
}
