package pulse

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/voix-dev/voix/services/platform/segment"
)

// On random trees of any depth, with people attached to inner segments too, every region a
// reader can compute from the shown nodes (a shown node minus its nearest shown descendants)
// holds nobody or at least k people, and no node below k is shown.
func TestSuppressRegions(t *testing.T) {
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 7))
		k := 3 + rng.IntN(5)
		var paths []segment.Path
		for i := range 2 + rng.IntN(25) {
			p := "acme"
			for d := range 1 + rng.IntN(3) {
				p += fmt.Sprintf("/s%d", (i+d)%(1+rng.IntN(4)))
			}
			paths = append(paths, segment.MustParse(p))
		}
		tr := newTree(segment.MustParse("acme"), paths)
		own := make([]int, len(tr.paths))
		for i := range own {
			if rng.IntN(3) > 0 {
				own[i] = rng.IntN(2 * k)
			}
		}
		people := make([]int, len(own))
		for j := len(tr.order) - 1; j >= 0; j-- {
			i := tr.order[j]
			people[i] += own[i]
			if p := tr.parent[i]; p >= 0 {
				people[p] += people[i]
			}
		}
		hidden := tr.suppress(people, k, nil)
		var frontier func(i int) int
		frontier = func(i int) (sum int) {
			for _, c := range tr.children[i] {
				if !hidden[c] {
					sum += people[c]
				} else {
					sum += frontier(c)
				}
			}
			return sum
		}
		for i := range people {
			if people[i] > 0 && people[i] < k && !hidden[i] {
				t.Fatalf("seed %d: %s with %d < k=%d people shown", seed, tr.paths[i], people[i], k)
			}
			if hidden[i] {
				continue
			}
			if r := people[i] - frontier(i); r > 0 && r < k {
				t.Fatalf("seed %d: region of %s holds %d people, k=%d", seed, tr.paths[i], r, k)
			}
		}
	}
}
