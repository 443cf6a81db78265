package suppress

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/voix-dev/voix/services/platform/segment"
)

func TestHiddenCases(t *testing.T) {
	const k = 5
	cases := []struct {
		name  string
		nodes []Node
		want  []string
	}{
		{"all large", []Node{{"p", "", 20, false, false}, {"a", "p", 10, false, false}, {"b", "p", 10, false, false}}, nil},
		{"one small child alone would be p minus a", []Node{{"p", "", 10, false, false}, {"a", "p", 6, false, false}, {"b", "p", 4, false, false}}, []string{"a", "b"}},
		{"two small children hide each other", []Node{{"p", "", 12, false, false}, {"a", "p", 6, false, false}, {"b", "p", 3, false, false}, {"c", "p", 3, false, false}}, []string{"b", "c"}},
		{"two small children that add up to less than k", []Node{{"p", "", 10, false, false}, {"a", "p", 6, false, false}, {"b", "p", 2, false, false}, {"c", "p", 2, false, false}}, []string{"a", "b", "c"}},
		{"people at the parent itself are a group too", []Node{{"p", "", 8, false, false}, {"a", "p", 6, false, false}}, []string{"a"}},
		{"a small parent hides everything below", []Node{{"p", "", 4, false, false}, {"a", "p", 3, false, false}, {"b", "a", 1, false, false}}, []string{"p", "a", "b"}},
		{"the smallest visible sibling joins the small ones", []Node{{"p", "", 25, false, false}, {"a", "p", 12, false, false}, {"b", "p", 9, false, false}, {"c", "p", 2, false, false}, {"d", "p", 2, false, false}}, []string{"b", "c", "d"}},
		{"empty nodes are not reported", []Node{{"p", "", 10, false, false}, {"a", "p", 10, false, false}, {"b", "p", 0, false, false}}, nil},
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

		// With some nodes already hidden by an earlier pass: they stay hidden, and still
		// nothing small can be derived from what is shown.
		for i := range nodes {
			nodes[i].Pinned = false
			nodes[i].Hidden = rng.IntN(4) == 0
		}
		hidden = Hidden(nodes, k)
		assertMarkedStayHidden(t, trial, nodes, hidden)
		assertNoDerivableSmallGroup(t, nodes, hidden, k)

		// Both: Check refuses a node that is pinned and marked hidden, and otherwise keeps
		// both promises.
		conflict := false
		for i := range nodes {
			nodes[i].Pinned = rng.IntN(3) == 0
			conflict = conflict || (nodes[i].Pinned && nodes[i].Hidden)
		}
		hidden, ok = Check(nodes, k)
		if conflict && ok {
			t.Fatalf("trial %d: Check accepted a node both pinned and hidden: %v", trial, nodes)
		}
		if ok {
			for _, nd := range nodes {
				if nd.Pinned && hidden[nd.ID] {
					t.Fatalf("trial %d: Check accepted but hides pinned node %s", trial, nd.ID)
				}
			}
			assertMarkedStayHidden(t, trial, nodes, hidden)
			assertNoDerivableSmallGroup(t, nodes, hidden, k)
		}

		// Two passes, as pulse results run them: groups by people, then a count of some of
		// those people (the answers to one question) with the first pass's groups hidden.
		first := Hidden(nodes, k)
		sub := make([]int, n)
		for i := range n {
			sub[i] = rng.IntN(own[i] + 1)
		}
		second := make([]Node, n)
		for i := range n {
			second[i] = Node{ID: nodes[i].ID, Parent: nodes[i].Parent, Hidden: first[nodes[i].ID]}
			for j := i; j >= 0; j = parent[j] {
				second[j].People += sub[i]
			}
		}
		hidden = Hidden(second, k)
		assertMarkedStayHidden(t, trial, second, hidden)
		assertNoDerivableSmallGroup(t, second, hidden, k)
	}
}

// assertMarkedStayHidden fails if a node marked Hidden is missing from hidden, or a node of
// 1..k-1 people is shown.
func assertMarkedStayHidden(t *testing.T, trial int, nodes []Node, hidden map[string]bool) {
	t.Helper()
	for _, nd := range nodes {
		if nd.Hidden && !hidden[nd.ID] {
			t.Fatalf("trial %d: node %s marked hidden is shown; nodes %v, hidden %v", trial, nd.ID, nodes, hidden)
		}
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
		{"nothing pinned behaves as Hidden", []Node{{"p", "", 10, false, false}, {"a", "p", 6, false, false}, {"b", "p", 4, false, false}}, true, []string{"a", "b"}},
		// a and b were shown before b's sibling c arrived: p's region is c alone.
		{"known children leave the parent to hide", []Node{{"p", "", 14, false, false}, {"a", "p", 6, true, false}, {"b", "p", 6, true, false}, {"c", "p", 2, false, false}}, true, []string{"c", "p"}},
		{"a known parent cannot be hidden", []Node{{"p", "", 14, true, false}, {"a", "p", 6, true, false}, {"b", "p", 6, true, false}, {"c", "p", 2, false, false}}, false, nil},
		{"an unknown child is hidden first", []Node{{"p", "", 14, true, false}, {"a", "p", 6, true, false}, {"b", "p", 6, false, false}, {"c", "p", 2, false, false}}, true, []string{"b", "c"}},
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

// On random segment trees of any depth (as pulse builds them for a survey's audience, up to
// 25 segments), with people attached to inner segments too, no node below k is shown, every
// region a reader can compute from the shown nodes (a shown node minus its nearest shown
// descendants) holds nobody or at least k people, and, in a second run with some nodes
// already hidden, those stay hidden and the regions still hold.
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
		// The tree: acme, then every path and its ancestors, parents first.
		nodes := []Node{{ID: "acme"}}
		index := map[string]int{"acme": 0}
		for _, p := range paths {
			for _, a := range p.Ancestors()[1:] {
				if _, ok := index[a.String()]; ok {
					continue
				}
				parent, _ := a.Parent()
				index[a.String()] = len(nodes)
				nodes = append(nodes, Node{ID: a.String(), Parent: parent.String()})
			}
		}
		own := make([]int, len(nodes))
		for i := range own {
			if rng.IntN(3) > 0 {
				own[i] = rng.IntN(2 * k)
			}
		}
		for i := range nodes {
			for j := i; ; j = index[nodes[j].Parent] {
				nodes[j].People += own[i]
				if nodes[j].Parent == "" {
					break
				}
			}
		}
		what := fmt.Sprintf("seed %d", seed)
		assertRegions(t, what, nodes, Hidden(nodes, k), k)
		for i := range nodes {
			nodes[i].Hidden = rng.IntN(4) == 0
		}
		assertRegions(t, what+" with hidden nodes", nodes, Hidden(nodes, k), k)
	}
}

// assertRegions fails if a node of 1..k-1 people or a node marked Hidden is shown, or a shown
// node's region (its people minus its nearest shown descendants') holds 1..k-1 people.
func assertRegions(t *testing.T, what string, nodes []Node, hidden map[string]bool, k int) {
	t.Helper()
	children := map[string][]string{}
	people := map[string]int{}
	for _, n := range nodes {
		children[n.Parent] = append(children[n.Parent], n.ID)
		people[n.ID] = n.People
	}
	var frontier func(id string) int
	frontier = func(id string) (sum int) {
		for _, c := range children[id] {
			if !hidden[c] {
				sum += people[c]
			} else {
				sum += frontier(c)
			}
		}
		return sum
	}
	for _, n := range nodes {
		if n.People > 0 && n.People < k && !hidden[n.ID] {
			t.Fatalf("%s: %s with %d < k=%d people shown", what, n.ID, n.People, k)
		}
		if n.Hidden && !hidden[n.ID] {
			t.Fatalf("%s: %s marked hidden is shown", what, n.ID)
		}
		if hidden[n.ID] {
			continue
		}
		if r := n.People - frontier(n.ID); r > 0 && r < k {
			t.Fatalf("%s: region of %s holds %d people, k=%d", what, n.ID, r, k)
		}
	}
}

func TestHiddenNodesStayHidden(t *testing.T) {
	const k = 5
	cases := []struct {
		name  string
		nodes []Node
		want  []string
	}{
		{"a hidden node of k or more stays hidden, and alone needs nothing more",
			[]Node{{"p", "", 20, false, false}, {"a", "p", 10, false, true}, {"b", "p", 10, false, false}}, []string{"a"}},
		{"an empty hidden node is reported",
			[]Node{{"p", "", 10, false, false}, {"a", "p", 10, false, false}, {"b", "p", 0, false, true}}, []string{"b"}},
		// Without the mark, a hides x and stays shown; with it, p's region would be a's
		// people minus x: y alone.
		{"the people of a hidden node count in its nearest visible ancestor's region",
			[]Node{{"p", "", 12, false, false}, {"a", "p", 12, false, true}, {"x", "a", 8, false, false}, {"y", "a", 4, false, false}}, []string{"a", "x", "y"}},
		// c (4) is below k; without the mark, a (the first of the equally small a and b) would
		// be hidden with it. b already hidden makes p's region b and c, 10 people: enough.
		{"an earlier pass's hidden node can cover a small sibling",
			[]Node{{"p", "", 16, false, false}, {"a", "p", 6, false, false}, {"b", "p", 6, false, true}, {"c", "p", 4, false, false}}, []string{"b", "c"}},
		// p's region is b alone (1); the nodes that can fix it are c and, below the hidden
		// a, x: the smaller, x.
		{"below a hidden node, its visible descendants are the ones to hide",
			[]Node{{"p", "", 22, false, false}, {"a", "p", 6, false, true}, {"b", "p", 1, false, false}, {"c", "p", 15, false, false}, {"x", "a", 6, false, false}}, []string{"a", "b", "x"}},
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

func TestCheckRefusesAPinnedHiddenNode(t *testing.T) {
	nodes := []Node{{"p", "", 20, true, false}, {"a", "p", 10, true, true}, {"b", "p", 10, false, false}}
	if hidden, ok := Check(nodes, 5); ok {
		t.Fatalf("Check accepted node a, pinned and hidden: hidden %v", hidden)
	}
	nodes[1].Pinned = false
	hidden, ok := Check(nodes, 5)
	if !ok || fmt.Sprint(hidden) != fmt.Sprint(map[string]bool{"a": true}) {
		t.Fatalf("Check = %v, %v; want a hidden, ok", hidden, ok)
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
