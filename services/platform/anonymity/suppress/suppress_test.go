package suppress

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestHiddenCases(t *testing.T) {
	const k = 5
	cases := []struct {
		name  string
		nodes []Node
		want  []string
	}{
		{"all large", []Node{{"p", "", 20, false}, {"a", "p", 10, false}, {"b", "p", 10, false}}, nil},
		{"one small child alone would be p minus a", []Node{{"p", "", 10, false}, {"a", "p", 6, false}, {"b", "p", 4, false}}, []string{"a", "b"}},
		{"two small children hide each other", []Node{{"p", "", 12, false}, {"a", "p", 6, false}, {"b", "p", 3, false}, {"c", "p", 3, false}}, []string{"b", "c"}},
		{"two small children that add up to less than k", []Node{{"p", "", 10, false}, {"a", "p", 6, false}, {"b", "p", 2, false}, {"c", "p", 2, false}}, []string{"a", "b", "c"}},
		{"people at the parent itself are a group too", []Node{{"p", "", 8, false}, {"a", "p", 6, false}}, []string{"a"}},
		{"a small parent hides everything below", []Node{{"p", "", 4, false}, {"a", "p", 3, false}, {"b", "a", 1, false}}, []string{"p", "a", "b"}},
		{"the smallest visible sibling joins the small ones", []Node{{"p", "", 25, false}, {"a", "p", 12, false}, {"b", "p", 9, false}, {"c", "p", 2, false}, {"d", "p", 2, false}}, []string{"b", "c", "d"}},
		{"empty nodes are not reported", []Node{{"p", "", 10, false}, {"a", "p", 10, false}, {"b", "p", 0, false}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Hidden(tc.nodes, k)
			want := map[string]bool{}
			for _, id := range tc.want {
				want[id] = true
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("Hidden = %v, want %v", got, want)
			}
			assertNoDerivableSmallGroup(t, tc.nodes, got, k)
		})
	}
}

// TestNoCombinationRevealsASmallGroup builds random trees and checks, by brute force over
// every combination of visible aggregates with coefficients -1, 0 and 1, that none of them
// adds up to a group of 1..k-1 people.
func TestNoCombinationRevealsASmallGroup(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 3000 {
		k := 3 + rng.IntN(4)
		n := 2 + rng.IntN(7)
		own := make([]int, n)
		parent := make([]int, n)
		for i := range n {
			parent[i] = -1
			if i > 0 {
				parent[i] = rng.IntN(i)
			}
			if rng.IntN(3) > 0 {
				own[i] = rng.IntN(2 * k)
			}
		}
		nodes := make([]Node, n)
		for i := range n {
			nodes[i].ID = fmt.Sprint(i)
			if parent[i] >= 0 {
				nodes[i].Parent = fmt.Sprint(parent[i])
			}
			for j := i; j >= 0; j = parent[j] {
				nodes[j].People += own[i]
			}
		}
		hidden := Hidden(nodes, k)
		for _, nd := range nodes {
			if nd.People > 0 && nd.People < k && !hidden[nd.ID] {
				t.Fatalf("trial %d: node %s of %d people (< k=%d) is visible", trial, nd.ID, nd.People, k)
			}
		}
		if t.Failed() {
			return
		}
		assertNoDerivableSmallGroup(t, nodes, hidden, k)

		// With some nodes already known to readers: when Check accepts, none of them is
		// hidden and still nothing small can be derived.
		for i := range nodes {
			nodes[i].Pinned = rng.IntN(3) == 0
		}
		hidden, ok := Check(nodes, k)
		if !ok {
			continue
		}
		for _, nd := range nodes {
			if nd.Pinned && hidden[nd.ID] {
				t.Fatalf("trial %d: Check accepted but hides pinned node %s", trial, nd.ID)
			}
		}
		assertNoDerivableSmallGroup(t, nodes, hidden, k)
	}
}

// assertNoDerivableSmallGroup is the independent check: each node's own people form an atom;
// a visible aggregate is the set of atoms in its subtree; a combination of aggregates that
// gives every non-empty atom a coefficient of 0 or 1 reveals that set of atoms as a group.
func assertNoDerivableSmallGroup(t *testing.T, nodes []Node, hidden map[string]bool, k int) {
	t.Helper()
	idx := map[string]int{}
	for i, n := range nodes {
		idx[n.ID] = i
	}
	// own people of each node = its people minus its children's.
	own := make([]int, len(nodes))
	for i, n := range nodes {
		own[i] = n.People
	}
	for _, n := range nodes {
		if p, ok := idx[n.Parent]; ok {
			own[p] -= n.People
		}
	}
	within := func(a, v int) bool { // atom a lies in the subtree of v
		for j := a; ; {
			if j == v {
				return true
			}
			p, ok := idx[nodes[j].Parent]
			if !ok || nodes[j].Parent == "" {
				return false
			}
			j = p
		}
	}
	var visible []int
	for i, n := range nodes {
		if n.People > 0 && !hidden[n.ID] {
			visible = append(visible, i)
		}
	}
	coef := make([]int, len(visible))
	total := 1
	for range visible {
		total *= 3
	}
	for c := 1; c < total; c++ {
		x := c
		for i := range coef {
			coef[i] = x%3 - 1
			x /= 3
		}
		people, set := 0, true
		for a := range nodes {
			if own[a] == 0 {
				continue
			}
			sum := 0
			for i, v := range visible {
				if within(a, v) {
					sum += coef[i]
				}
			}
			if sum != 0 && sum != 1 {
				set = false
				break
			}
			people += sum * own[a]
		}
		if set && people > 0 && people < k {
			t.Fatalf("visible %v with coefficients %v reveal a group of %d people (k=%d); nodes %v, hidden %v",
				ids(nodes, visible), coef, people, k, nodes, hidden)
		}
	}
}

func ids(nodes []Node, is []int) []string {
	out := make([]string, len(is))
	for j, i := range is {
		out[j] = nodes[i].ID
	}
	return out
}

func TestCheckWithPinnedNodes(t *testing.T) {
	const k = 5
	cases := []struct {
		name   string
		nodes  []Node
		ok     bool
		hidden []string
	}{
		{"nothing pinned behaves as Hidden", []Node{{"p", "", 10, false}, {"a", "p", 6, false}, {"b", "p", 4, false}}, true, []string{"a", "b"}},
		// a and b were shown before b's sibling c arrived: p's region is c alone.
		{"known children leave the parent to hide", []Node{{"p", "", 14, false}, {"a", "p", 6, true}, {"b", "p", 6, true}, {"c", "p", 2, false}}, true, []string{"c", "p"}},
		{"a known parent cannot be hidden", []Node{{"p", "", 14, true}, {"a", "p", 6, true}, {"b", "p", 6, true}, {"c", "p", 2, false}}, false, nil},
		{"an unknown child is hidden first", []Node{{"p", "", 14, true}, {"a", "p", 6, true}, {"b", "p", 6, false}, {"c", "p", 2, false}}, true, []string{"b", "c"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hidden, ok := Check(tc.nodes, k)
			if ok != tc.ok {
				t.Fatalf("Check ok = %v, want %v (hidden %v)", ok, tc.ok, hidden)
			}
			if !ok {
				return
			}
			want := map[string]bool{}
			for _, id := range tc.hidden {
				want[id] = true
			}
			if fmt.Sprint(hidden) != fmt.Sprint(want) {
				t.Fatalf("hidden = %v, want %v", hidden, want)
			}
			assertNoDerivableSmallGroup(t, tc.nodes, hidden, k)
		})
	}
}

func BenchmarkHidden200(b *testing.B) {
	// An organisation of 10 departments of 19 teams: 200 segments.
	var nodes []Node
	nodes = append(nodes, Node{ID: "acme"})
	rng := rand.New(rand.NewPCG(3, 4))
	for d := range 10 {
		dep := fmt.Sprintf("acme/d%d", d)
		depPeople := 0
		for tm := range 19 {
			p := rng.IntN(15)
			depPeople += p
			nodes = append(nodes, Node{ID: fmt.Sprintf("%s/t%d", dep, tm), Parent: dep, People: p})
		}
		nodes = append(nodes, Node{ID: dep, Parent: "acme", People: depPeople})
		nodes[0].People += depPeople
	}
	b.ResetTimer()
	for b.Loop() {
		Hidden(nodes, 5)
	}
}
