package release

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/voix-dev/voix/services/platform/anonymity/suppress"
)

// TestVisibilityAgainstAStaticOracle simulates a week of a 2,000-person organisation: 200
// teams of 5 to 15 people in 20 departments, people answering a few at a time over the week
// (about 60% of them), releases decided every flush. At the week's end it compares what HR
// sees with a static oracle: the same suppression (suppress.Hidden) run once on the final
// counts, with no history to protect. It also checks, on the same run, that nothing shown
// isolates fewer than k people.
func TestVisibilityAgainstAStaticOracle(t *testing.T) {
	const k = 5
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
		s := newSim(k, segs)
		type arrival struct {
			person int
			team   string
			flush  int
		}
		var arrivals []arrival
		person := 0
		for _, team := range teams {
			size := 5 + rng.IntN(11)
			for range size {
				if rng.Float64() < 0.6 {
					arrivals = append(arrivals, arrival{person, team, 1 + rng.IntN(100)})
				}
				person++
			}
		}
		const flushes = 100
		final := map[string]int{}
		for f := 1; f <= flushes; f++ {
			for _, a := range arrivals {
				if a.flush == f {
					s.contribute(a.person, a.team, f)
					for _, anc := range ancestorsOf(a.team) {
						final[anc]++
					}
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
			o := final[seg] >= k && !hidden[seg]
			if o {
				oracle++
				if shown[seg] {
					both++
				}
			} else if shown[seg] {
				extra++
			}
		}
		ratio := float64(both) / float64(oracle)
		worst = min(worst, ratio)
		t.Logf("seed %d: %d people answered; the oracle shows %d cells, voix %d of them (%.1f%%) and %d others", seed, len(arrivals), oracle, both, 100*ratio, extra)
		s.checkAtoms(t, k)
	}
	if worst < 0.95 {
		t.Fatalf("voix shows %.1f%% of the cells a static oracle shows, want at least 95%%", 100*worst)
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
