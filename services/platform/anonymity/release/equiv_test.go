package release

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// cloneNodes deep-copies nodes, as a tree built again from the store would have them.
func cloneNodes(nodes []*Node) []*Node {
	out := make([]*Node, len(nodes))
	for i, n := range nodes {
		out[i] = &Node{Path: n.Path, Parent: n.Parent, Releases: slices.Clone(n.Releases), Cells: slices.Clone(n.Cells)}
	}
	return out
}

// randomShape is a random tree of 1 to 16 segments under "r", up to three levels below it.
func randomShape(rng *rand.Rand) []string {
	segs := []string{"r"}
	for range rng.IntN(16) {
		p := segs[rng.IntN(len(segs))]
		if strings.Count(p, "/") >= 3 {
			continue
		}
		segs = append(segs, fmt.Sprintf("%s/%c", p, 'a'+rng.IntN(4)))
	}
	slices.Sort(segs)
	return slices.Compact(segs)
}

func nodesOf(segs []string) []*Node {
	var nodes []*Node
	for _, s := range segs {
		parent := ""
		if i := strings.LastIndexByte(s, '/'); i > 0 {
			parent = s[:i]
		}
		nodes = append(nodes, &Node{Path: s, Parent: parent})
	}
	return nodes
}

// sameState fails unless both trees hold the same releases and cells, and the same atoms
// (compared as the sorted list of their people, since the two spell signatures differently).
func sameState(t *testing.T, step string, ref *refTree, got *Tree) {
	t.Helper()
	rn, gn := ref.Nodes(), got.Nodes()
	if len(rn) != len(gn) {
		t.Fatalf("%s: %d nodes, reference %d", step, len(gn), len(rn))
	}
	for i := range rn {
		r, g := rn[i], gn[i]
		if r.Path != g.Path || !slices.Equal(r.Releases, g.Releases) || !slices.Equal(r.Cells, g.Cells) {
			t.Fatalf("%s: node %s: releases %v cells %v, reference %s: releases %v cells %v", step, g.Path, g.Releases, g.Cells, r.Path, r.Releases, r.Cells)
		}
	}
	var ra, ga []int
	small := 0
	for _, p := range ref.atoms() {
		ra = append(ra, p)
		if p > 0 && p < ref.K {
			small++
		}
	}
	for _, p := range got.atoms {
		ga = append(ga, p)
	}
	slices.Sort(ra)
	slices.Sort(ga)
	if !slices.Equal(ra, ga) || small != got.small {
		t.Fatalf("%s: atoms %v (%d small), reference %v (%d small)", step, ga, got.small, ra, small)
	}
}

// TestIncrementalMatchesTheReference drives the incremental tree and the reference (the
// implementation that recomputed every atom at every try) through the same random trees,
// additions and release rounds, final and not, some trees rebuilt from a copy of their state
// midway (as the publisher builds them from the store), some with a node's parent missing, and
// requires the same releases, the same state and the same Pending answers at every step.
func TestIncrementalMatchesTheReference(t *testing.T) {
	released, refused := 0, 0
	for seed := range 1000 {
		rng := rand.New(rand.NewPCG(uint64(seed), 13))
		segs := randomShape(rng)
		if seed%4 == 3 {
			// Gaps: a segment with aggregates under a parent without (its Parent is missing),
			// mostly an inner one.
			for range 1 + rng.IntN(2) {
				var inner []int
				for i, p := range segs {
					if i+1 < len(segs) && strings.HasPrefix(segs[i+1], p+"/") && (p != "r" || rng.IntN(4) == 0) {
						inner = append(inner, i)
					}
				}
				if len(inner) > 0 {
					i := inner[rng.IntN(len(inner))]
					segs = slices.Delete(segs, i, i+1)
				}
			}
		}
		k := 2 + rng.IntN(5)
		ref := newRef(k, nodesOf(segs))
		var got *Tree
		warm := rng.IntN(3) == 0 // start from a state the reference built
		if !warm {
			got = New(k, cloneNodes(ref.Nodes()))
		}
		n := uint64(0)
		rounds := 5 + rng.IntN(40)
		for round := range rounds {
			adds := rng.IntN(12)
			for range adds {
				seg := segs[rng.IntN(len(segs))]
				people := rng.IntN(4)
				ref.Add(seg, people)
				if got != nil {
					got.Add(seg, people)
				}
			}
			if got == nil && (round > rounds/2 || round == rounds-1) || got != nil && rng.IntN(10) == 0 {
				got = New(k, cloneNodes(ref.Nodes())) // built again from the store
			}
			if got == nil {
				n += uint64(1 + rng.IntN(3))
				var cands []string
				for _, s := range segs {
					if ref.Pending(s) {
						cands = append(cands, s)
					}
				}
				ref.Release(n, cands, rng.IntN(8) == 0)
				continue
			}
			var cands []string
			for _, s := range segs {
				if rng.IntN(3) > 0 {
					cands = append(cands, s)
				}
			}
			if rng.IntN(5) == 0 {
				cands = append(cands, "r/zz") // not in the tree
			}
			if len(cands) > 0 && rng.IntN(5) == 0 {
				cands = append(cands, cands[rng.IntN(len(cands))]) // twice
			}
			final := rng.IntN(8) == 0 || round == rounds-1
			n += uint64(1 + rng.IntN(3))
			step := fmt.Sprintf("seed %d round %d (k=%d, n=%d, final=%v, %v)", seed, round, k, n, final, cands)
			want := ref.Release(n, cands, final)
			have := got.Release(n, cands, final)
			if !slices.Equal(want, have) {
				t.Fatalf("%s: released %v, reference %v", step, have, want)
			}
			released += len(have)
			for _, c := range cands {
				if ref.Pending(c) != got.Pending(c) {
					t.Fatalf("%s: Pending(%s) = %v, reference %v", step, c, got.Pending(c), ref.Pending(c))
				}
				if ref.Pending(c) {
					refused++
				}
			}
			sameState(t, step, ref, got)
		}
	}
	if released < 1000 || refused < 1000 {
		t.Fatalf("%d releases, %d refused: the random runs do not exercise both outcomes", released, refused)
	}
	t.Logf("%d releases, %d candidates still pending after their round", released, refused)
}

// releaser is what the benchmark drives: Tree or the reference.
type releaser interface {
	Add(path string, people int)
	Release(n uint64, candidates []string, final bool) []string
}

// BenchmarkRelease is a week of one-second flushes of one tree of 200 teams in 20 departments
// (the publisher decides one tree per organisation, dimension and week): people answer at
// random seconds, each flush with new people decides the nodes they changed, and the last is
// final. One op is the whole week. impl=reference is the implementation that recomputed every
// atom at every try.
//
//	go test -run '^$' -bench Release -benchtime 1x
func BenchmarkRelease(b *testing.B) {
	const week = 7 * 24 * 3600
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
	for _, people := range []int{2_000, 20_000} {
		for _, impl := range []string{"incremental", "reference"} {
			if impl == "reference" && people > 2_000 {
				continue // hours
			}
			b.Run(fmt.Sprintf("people=%d/impl=%s", people, impl), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				at := make([]int, people) // the second each person answers at
				for i := range at {
					at[i] = 1 + rng.IntN(week)
				}
				order := make([]int, people)
				for i := range order {
					order[i] = i
				}
				slices.SortFunc(order, func(x, y int) int { return at[x] - at[y] })
				releases := 0
				for b.Loop() {
					var t releaser
					if impl == "reference" {
						t = newRef(5, nodesOf(segs))
					} else {
						t = New(5, nodesOf(segs))
					}
					dirty := map[string]bool{}
					for i := 0; i < len(order); {
						sec := at[order[i]]
						for ; i < len(order) && at[order[i]] == sec; i++ {
							team := teams[order[i]%len(teams)]
							t.Add(team, 1)
							for p := team; ; p = p[:strings.LastIndexByte(p, '/')] {
								dirty[p] = true
								if !strings.Contains(p, "/") {
									break
								}
							}
						}
						cands := make([]string, 0, len(dirty))
						for p := range dirty {
							cands = append(cands, p)
						}
						for _, v := range t.Release(uint64(sec), cands, i == len(order)) {
							delete(dirty, v)
							releases++
						}
					}
				}
				b.ReportMetric(float64(releases)/float64(b.N), "releases/op")
			})
		}
	}
}

// TestIncrementalMatchesTheReferenceAcrossAGap: r/a/b/c has aggregates but r/a/b has none (its
// Parent is missing). A final release of r/a closes c's cell; r's next release, not final,
// must still wait for c's own release, since no release on c's chain of parents covers it.
func TestIncrementalMatchesTheReferenceAcrossAGap(t *testing.T) {
	segs := []string{"r", "r/a", "r/a/b/c"}
	ref, got := newRef(2, nodesOf(segs)), New(2, nodesOf(segs))
	step := func(n uint64, final bool, cands []string, adds map[string]int) {
		t.Helper()
		for seg, people := range adds {
			ref.Add(seg, people)
			got.Add(seg, people)
		}
		want, have := ref.Release(n, cands, final), got.Release(n, cands, final)
		if !slices.Equal(want, have) {
			t.Fatalf("flush %d: released %v, reference %v", n, have, want)
		}
		sameState(t, fmt.Sprintf("flush %d", n), ref, got)
	}
	step(1, true, []string{"r/a"}, map[string]int{"r/a/b/c": 1, "r/a": 2})
	step(2, false, []string{"r"}, map[string]int{"r": 2})
}
