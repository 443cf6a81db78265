// Package suppress decides which aggregates of a segment tree may be shown, so that no reader
// can compute the numbers of a group smaller than the minimum size k, neither directly nor by
// subtracting visible aggregates from one another.
//
// The aggregates of one dimension and window form a laminar family: a segment's group is the
// disjoint union of its children's groups and of the people attached to the segment itself.
// What a reader can derive from the visible aggregates by adding and subtracting them is then
// exactly the unions of "regions": for each visible node V, the people of V who are in none of
// V's nearest visible descendants. (The regions are disjoint and every visible aggregate is a
// sum of them; nothing finer can be derived.) So the rule is: every region holds no one or at
// least k people. A node below k is hidden (primary suppression); while some visible node's
// region holds 1..k-1 people, the smallest of its nearest visible descendants is hidden too,
// which merges that descendant's region into its own (complementary suppression). Each step
// hides one node, so it ends.
//
// A caller can mark nodes Hidden: already hidden for a reason of its own (an earlier pass over
// other counts of the same people, as pulse results hide groups by respondents before hiding
// each question by its answers). They stay hidden whatever their size, and the rule above holds
// around them: their people belong to the region of their nearest visible ancestor, which must
// still hold no one or at least k people.
//
// People counts are treated as additive down the tree, which holds when each person belongs to
// one segment; a person who moved teams within a window makes a region look larger than it
// is by one, a risk the callers accept and document.
package suppress

import (
	"cmp"
	"slices"
)

// Node is one aggregate of the tree: a segment with the distinct people behind it, counting
// its whole subtree.
type Node struct {
	// ID names the node; IDs are unique within one call.
	ID string
	// Parent is the ID of the parent node, or "" for the root(s).
	Parent string
	// People is the number of distinct people in the node's subtree.
	People int
	// Pinned nodes are already known to readers (released earlier): they cannot be hidden,
	// so a region they leave too small is a violation instead.
	Pinned bool
	// Hidden nodes are already hidden (by an earlier pass, or a rule of the caller's): they
	// cannot be shown, whatever their people, and are always in the result. Their people
	// count in the region of their nearest visible ancestor, which is checked as any other.
	Hidden bool
}

// Hidden returns the IDs of the nodes that must not be shown for minimum group size k: the
// nodes marked Hidden, and those the rule hides. Other nodes with no one are not reported:
// they have nothing to hide, and the caller shows them as empty. A parent missing from nodes
// is treated as absent: its children are roots. It ignores Pinned.
func Hidden(nodes []Node, k int) map[string]bool {
	h, _ := decide(nodes, k, false)
	return h
}

// Check is Hidden for a tree where some nodes are pinned: it reports false when a pinned
// node would have to be hidden (it is below k, it is marked Hidden, or every node that could
// fix a region is pinned), and the caller must then not show the values it was trying.
func Check(nodes []Node, k int) (map[string]bool, bool) {
	return decide(nodes, k, true)
}

func decide(nodes []Node, k int, pins bool) (map[string]bool, bool) {
	ok := true
	idx := make(map[string]int, len(nodes))
	for i, n := range nodes {
		idx[n.ID] = i
	}
	children := make([][]int, len(nodes))
	var roots []int
	for i, n := range nodes {
		if p, ok := idx[n.Parent]; ok && n.Parent != "" && p != i {
			children[p] = append(children[p], i)
		} else {
			roots = append(roots, i)
		}
	}
	for _, c := range children {
		// A stable order makes the choice among equally small nodes deterministic.
		slices.SortFunc(c, func(a, b int) int { return cmp.Compare(nodes[a].ID, nodes[b].ID) })
	}

	hidden := make([]bool, len(nodes))
	pinned := func(i int) bool { return pins && nodes[i].Pinned }
	for i, n := range nodes {
		hidden[i] = n.Hidden || (n.People > 0 && n.People < k)
		if hidden[i] && pinned(i) {
			ok = false
		}
	}
	// frontier returns the nearest visible non-empty descendants of i.
	var frontier func(i int, out []int) []int
	frontier = func(i int, out []int) []int {
		for _, c := range children[i] {
			switch {
			case nodes[c].People <= 0:
			case !hidden[c]:
				out = append(out, c)
			default:
				out = frontier(c, out)
			}
		}
		return out
	}
	region := func(i int, front []int) int {
		r := nodes[i].People
		for _, f := range front {
			r -= nodes[f].People
		}
		return r
	}

	for changed := true; changed; {
		changed = false
		// Top-down: hiding a node changes its ancestors' regions only through the frontier,
		// which the next pass sees.
		var order []int
		var walk func(i int)
		walk = func(i int) {
			order = append(order, i)
			for _, c := range children[i] {
				walk(c)
			}
		}
		for _, r := range roots {
			walk(r)
		}
		for _, i := range order {
			if hidden[i] || nodes[i].People <= 0 {
				continue
			}
			front := frontier(i, nil)
			r := region(i, front)
			if r <= 0 || r >= k || len(front) == 0 {
				continue
			}
			var free []int
			for _, f := range front {
				if !pinned(f) {
					free = append(free, f)
				}
			}
			if len(free) == 0 {
				// Nothing may be hidden below: the node itself is, unless readers know it too.
				if pinned(i) {
					ok = false
					continue
				}
				hidden[i] = true
				changed = true
				continue
			}
			hidden[pick(nodes, free, frontier, region)] = true
			changed = true
		}
	}
	out := map[string]bool{}
	for i, h := range hidden {
		if h {
			out[nodes[i].ID] = true
		}
	}
	return out, ok
}

// pick chooses which of the frontier nodes to hide: one whose own region is not empty (so that
// hiding it fixes the parent's region at once), the smallest such, by people then ID; if every
// frontier node is fully covered by its own visible descendants, the smallest of them.
func pick(nodes []Node, front []int, frontier func(int, []int) []int, region func(int, []int) int) int {
	best, bestFix := -1, false
	for _, f := range front {
		fix := region(f, frontier(f, nil)) > 0
		switch {
		case best < 0,
			fix && !bestFix,
			fix == bestFix && nodes[f].People < nodes[best].People:
			best, bestFix = f, fix
		}
	}
	return best
}
