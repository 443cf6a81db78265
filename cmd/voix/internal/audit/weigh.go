package audit

import (
	"fmt"
	"slices"
	"strings"

	"github.com/voix-dev/voix/cmd/voix/internal/audit/attack"
	"github.com/voix-dev/voix/services/platform/segment"
)

// attack weighs everything the readers were shown: the numbers, by differencing, and the
// comment placements, by elimination.
func (r *run) attack() error {
	r.logf("attack: %d shown numbers, %d placements", len(r.obs), len(r.placements))
	var obs []attack.Observation
	for _, o := range r.obs {
		obs = append(obs, attack.Observation{Query: o.query, Measure: o.family, People: o.units})
	}
	var st attack.Stats
	recs := attack.Differencing(obs, minGroupSize, attack.WithOwners(r.u.owners), attack.WithStats(&st), attack.MaxSearchNodes(5_000_000))
	if st.Truncated {
		r.res.Notes = append(r.res.Notes, "the differencing search was cut short: it proves nothing")
	}
	for _, rc := range recs {
		r.res.Reconstructions = append(r.res.Reconstructions, r.describe(rc))
	}
	r.res.Observations = len(obs)

	var pls []attack.Placement
	for _, p := range r.placements {
		pls = append(pls, attack.Placement{Query: p.query, Comment: p.comment, Candidates: r.candidates(p)})
	}
	for _, rc := range attack.Elimination(pls, commentThreshold) {
		r.res.Reconstructions = append(r.res.Reconstructions, r.describe(rc))
	}
	r.res.Placements = len(pls)
	return nil
}

// candidates are the people who could have written a placed comment: the people of the
// segment it is shown under, minus those of the sub-segments the reader saw show comments of
// their own.
func (r *run) candidates(p placement) []int {
	shown := segment.MustParse(p.shown)
	below := p.below
	if !p.pulse {
		for s := range r.shownSegs {
			below = append(below, s)
		}
	}
	var out []int
	for _, id := range r.w.within(shown) {
		team := r.w.people[id].team
		out = append(out, id)
		for _, b := range below {
			if bp := segment.MustParse(b); !bp.Equal(shown) && bp.Within(shown) && team.Within(bp) {
				out = out[:len(out)-1]
				break
			}
		}
	}
	return out
}

// describe prints a reconstruction with the people's teams, so that it reads as the attack.
func (r *run) describe(rc attack.Reconstruction) string {
	owners := map[int]bool{}
	for _, u := range rc.People {
		if rc.Kind == attack.KindElimination {
			owners[u] = true
		} else {
			owners[r.u.owners[u]] = true
		}
	}
	var who []string
	for p := range owners {
		who = append(who, fmt.Sprintf("person %d of %s", p, r.w.people[p].team))
	}
	slices.Sort(who)
	var b strings.Builder
	fmt.Fprintf(&b, "%s isolates %s", rc.Kind, strings.Join(who, ", "))
	for _, q := range rc.Queries {
		b.WriteString("\n    ")
		b.WriteString(q)
	}
	return b.String()
}
