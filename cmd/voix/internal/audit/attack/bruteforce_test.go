package attack

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"
)

// randomObservations returns m observations over n people in one of several shapes.
func randomObservations(rng *rand.Rand, n, m int) []Observation {
	var sets [][]int
	switch rng.IntN(4) {
	case 0: // uniform random subsets of random density
		d := 0.15 + 0.7*rng.Float64()
		for range m {
			var s []int
			for p := range n {
				if rng.Float64() < d {
					s = append(s, p)
				}
			}
			sets = append(sets, s)
		}
	case 1: // a random tree of groups, some shown
		for len(sets) < m {
			lo := rng.IntN(n)
			hi := lo + 1 + rng.IntN(n-lo)
			sets = append(sets, seq(lo, hi))
		}
	case 2: // a group growing over time
		perm := rng.Perm(n)
		for len(sets) < m {
			sets = append(sets, slices.Clone(perm[:1+rng.IntN(n)]))
		}
	default: // weekly respondents of two teams and their union
		split := 1 + rng.IntN(n-1)
		for len(sets) < m {
			var a, b []int
			for p := range n {
				if rng.IntN(4) != 0 {
					if p < split {
						a = append(a, p)
					} else {
						b = append(b, p)
					}
				}
			}
			for _, s := range [][]int{a, b, union(a, b)} {
				if len(sets) < m && rng.IntN(3) != 0 {
					sets = append(sets, s)
				}
			}
		}
	}
	obs := make([]Observation, len(sets))
	for i, s := range sets {
		rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
		if len(s) > 0 && rng.IntN(5) == 0 {
			s = append(s, s[0]) // repeats do not matter
		}
		obs[i] = Observation{Query: fmt.Sprintf("q%d", i), People: s}
	}
	return obs
}

// ownerCount returns the number of distinct owners of the units in mask (the units
// themselves without owners).
func ownerCount(mask uint64, owners []int) int {
	if owners == nil {
		return bits.OnesCount64(mask)
	}
	seen := make(map[int]bool)
	for _, u := range maskSet(mask) {
		seen[owners[u]] = true
	}
	return len(seen)
}

// bruteForce returns every isolatable set of units with 1..k-1 owners (as masks) by testing
// every such indicator vector against the span.
func bruteForce(obs []Observation, n, k int, owners []int) map[uint64]bool {
	var sets [][]int
	for _, o := range obs {
		sets = append(sets, o.People)
	}
	sp := newSpan(n, sets)
	out := make(map[uint64]bool)
	for mask := uint64(1); mask < 1<<n; mask++ {
		if ownerCount(mask, owners) < k && sp.contains(maskSet(mask)) {
			out[mask] = true
		}
	}
	return out
}

// crossCheck compares Differencing with brute force on one instance; owners may be nil.
func crossCheck(t *testing.T, obs []Observation, n, k int, owners []int) {
	t.Helper()
	var opts []Option
	if owners != nil {
		opts = append(opts, WithOwners(owners))
	}
	got := Differencing(obs, k, opts...)
	iso := bruteForce(obs, n, k, owners)

	// Minimal isolatable sets: no isolatable proper non-empty subset.
	minimal := make(map[uint64]bool)
	for m := range iso {
		isMin := true
		for sub := (m - 1) & m; sub != 0; sub = (sub - 1) & m {
			if iso[sub] {
				isMin = false
				break
			}
		}
		if isMin {
			minimal[m] = true
		}
	}
	directWant := make(map[uint64]bool)
	for _, o := range obs {
		if m := setMask(o.People); m != 0 && ownerCount(m, owners) < k {
			directWant[m] = true
		}
	}

	reported := make(map[uint64]bool)
	directGot := make(map[uint64]bool)
	for _, r := range got {
		checkWitness(t, obs, r)
		m := setMask(r.People)
		if !slices.IsSorted(r.People) || bits.OnesCount64(m) != len(r.People) {
			t.Errorf("%v: people not ascending and distinct", r)
		}
		wantOwners := r.People
		if owners != nil {
			wantOwners = nil
			for _, u := range r.People {
				wantOwners = append(wantOwners, owners[u])
			}
			slices.Sort(wantOwners)
			wantOwners = slices.Compact(wantOwners)
		}
		if !slices.Equal(r.Owners, wantOwners) {
			t.Errorf("%v: owners %v, want %v", r, r.Owners, wantOwners)
		}
		if reported[m] {
			t.Errorf("%v: reported twice", r)
		}
		reported[m] = true
		if !iso[m] {
			t.Errorf("%v: brute force says it is not isolatable", r)
		}
		switch r.Kind {
		case KindDirect:
			directGot[m] = true
		case KindDifferencing:
			if !minimal[m] {
				t.Errorf("%v: not minimal", r)
			}
			if directWant[m] {
				t.Errorf("%v: shown directly, reported as differencing", r)
			}
		default:
			t.Errorf("%v: unexpected kind", r)
		}
	}
	for m := range directWant {
		if !directGot[m] {
			t.Errorf("shown set %v not reported as direct", maskSet(m))
		}
	}
	for m := range directGot {
		if !directWant[m] {
			t.Errorf("%v reported as direct but not shown", maskSet(m))
		}
	}
	for m := range minimal {
		if !reported[m] {
			t.Errorf("minimal isolatable set %v not reported", maskSet(m))
		}
	}
	if (len(iso) > 0) != (len(got) > 0) {
		t.Errorf("brute force finds %d isolatable sets, Differencing reports %d", len(iso), len(got))
	}
	if t.Failed() {
		t.Logf("k=%d owners=%v", k, owners)
		for _, o := range obs {
			t.Logf("  %s: %v", o.Query, o.People)
		}
		t.FailNow()
	}
}

// TestDifferencingBruteForce cross-checks random instances of up to 12 people and 8
// observations against all 2^12 indicator vectors.
func TestDifferencingBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	instances := 600
	if testing.Short() {
		instances = 100
	}
	var withSome, withDiff int
	for i := range instances {
		n := 2 + rng.IntN(11)
		m := 1 + rng.IntN(8)
		k := 2 + rng.IntN(5)
		obs := randomObservations(rng, n, m)
		t.Run(fmt.Sprintf("%d_n%d_m%d_k%d", i, n, m, k), func(t *testing.T) {
			crossCheck(t, obs, n, k, nil)
		})
		got := Differencing(obs, k)
		if len(got) > 0 {
			withSome++
		}
		if slices.ContainsFunc(got, func(r Reconstruction) bool { return r.Kind == KindDifferencing }) {
			withDiff++
		}
	}
	// The generator must exercise both answers, or the cross-check proves little.
	if withDiff < instances/10 || instances-withSome < instances/10 {
		t.Errorf("%d of %d instances have a reconstruction, %d by differencing: generator too one-sided",
			withSome, instances, withDiff)
	}
}

// TestDifferencingBruteForceWider cross-checks instances with more people and observations
// (so more atoms, larger witnesses and deeper searches), still exhaustively.
func TestDifferencingBruteForceWider(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 40 {
		n := 14 + rng.IntN(5)
		m := 6 + rng.IntN(15)
		k := 3 + rng.IntN(4)
		obs := randomObservations(rng, n, m)
		t.Run(fmt.Sprintf("%d_n%d_m%d_k%d", i, n, m, k), func(t *testing.T) {
			crossCheck(t, obs, n, k, nil)
		})
	}
}

// TestDifferencingBruteForceOwners cross-checks random instances whose ids are units owned
// by fewer people (a person's answers of several days), so that atoms share owners and a
// group is counted in owners, against all 2^12 sets of units.
func TestDifferencingBruteForceOwners(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	instances := 600
	if testing.Short() {
		instances = 100
	}
	var withDiff, manyUnits, withShared int
	for i := range instances {
		n := 2 + rng.IntN(11)
		m := 1 + rng.IntN(8)
		k := 2 + rng.IntN(4)
		people := 1 + rng.IntN(n)
		owners := make([]int, n)
		for u := range owners {
			owners[u] = 100 + rng.IntN(people) // ids need not start at 0
		}
		obs := randomObservations(rng, n, m)
		t.Run(fmt.Sprintf("%d_n%d_m%d_k%d_p%d", i, n, m, k, people), func(t *testing.T) {
			crossCheck(t, obs, n, k, owners)
		})
		var st Stats
		for _, r := range Differencing(obs, k, WithOwners(owners), WithStats(&st)) {
			if r.Kind == KindDifferencing {
				withDiff++
				if len(r.People) >= k {
					manyUnits++
				}
			}
		}
		if people < n && st.SmallAtoms > 1 {
			withShared++
		}
	}
	// The generator must exercise groups of more units than k and atoms sharing owners.
	if withDiff < instances/10 || manyUnits < instances/50 || withShared < instances/4 {
		t.Errorf("%d differencing results, %d of k units or more, %d instances with shared owners: generator too kind",
			withDiff, manyUnits, withShared)
	}
}
