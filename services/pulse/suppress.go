package pulse

import (
	"cmp"
	"slices"

	"github.com/voix-dev/voix/services/platform/segment"
)

// tree is the segment tree of one survey's results: the audience at the root and every
// segment between it and a respondent's segment (or a segment with a headcount). Results of
// every prefix are cut from the one tree, and suppression is decided on the whole tree at once:
// deciding it per requested prefix would let a reader un-hide a segment hidden in its parent's
// view with the view in which it is the prefix.
type tree struct {
	paths    []string
	index    map[string]int
	parent   []int // -1 for the root
	children [][]int
	order    []int // top-down
}

// newTree builds the tree under root holding every path of paths within root and their
// ancestors down from root.
func newTree(root segment.Path, paths []segment.Path) *tree {
	t := &tree{index: map[string]int{}}
	t.add(root.String(), -1)
	for _, p := range paths {
		if !p.Within(root) {
			continue
		}
		// Walk down from root, adding the missing levels.
		parent := 0
		for _, a := range p.Ancestors()[root.Depth():] {
			if i, ok := t.index[a.String()]; ok {
				parent = i
				continue
			}
			parent = t.add(a.String(), parent)
		}
	}
	for _, c := range t.children {
		// A stable order makes the choice among equally small nodes deterministic.
		slices.SortFunc(c, func(a, b int) int { return cmp.Compare(t.paths[a], t.paths[b]) })
	}
	var walk func(i int)
	walk = func(i int) {
		t.order = append(t.order, i)
		for _, c := range t.children[i] {
			walk(c)
		}
	}
	walk(0)
	return t
}

func (t *tree) add(path string, parent int) int {
	i := len(t.paths)
	t.paths = append(t.paths, path)
	t.index[path] = i
	t.parent = append(t.parent, parent)
	t.children = append(t.children, nil)
	if parent >= 0 {
		t.children[parent] = append(t.children[parent], i)
	}
	return i
}

// suppress returns which nodes must not be shown, given the people behind each node (its
// whole subtree: a parent counts its children's people and its own) and a set already hidden
// for another reason (pre, may be nil).
//
// What a reader can derive from the visible nodes by adding and subtracting them is exactly
// the unions of regions: for each visible node V, the people of V in none of V's nearest
// visible descendants. So every region must hold no one or at least k people. A node with
// 1..k-1 people is hidden (primary suppression); then, while a visible node's region holds
// 1..k-1 people, one of its nearest visible descendants is hidden too, the smallest that
// fixes it, which merges that descendant into the region (complementary suppression). Every
// step hides one more node, so it ends. With one level of children and nobody attached to the
// parent itself, this means that hidden children come at least two at a time.
func (t *tree) suppress(people []int, k int, pre []bool) []bool {
	hidden := make([]bool, len(t.paths))
	for i := range hidden {
		hidden[i] = (pre != nil && pre[i]) || (people[i] > 0 && people[i] < k)
	}
	var frontier func(i int, out []int) []int
	frontier = func(i int, out []int) []int {
		for _, c := range t.children[i] {
			switch {
			case people[c] <= 0:
			case !hidden[c]:
				out = append(out, c)
			default:
				out = frontier(c, out)
			}
		}
		return out
	}
	region := func(i int, front []int) int {
		r := people[i]
		for _, f := range front {
			r -= people[f]
		}
		return r
	}
	for changed := true; changed; {
		changed = false
		for _, i := range t.order {
			if hidden[i] || people[i] <= 0 {
				continue
			}
			front := frontier(i, nil)
			if r := region(i, front); r <= 0 || r >= k || len(front) == 0 {
				continue
			}
			// Prefer a node whose own region is not empty, so that hiding it fixes this
			// region at once; among those, the smallest.
			best, bestFix := -1, false
			for _, f := range front {
				fix := region(f, frontier(f, nil)) > 0
				if best < 0 || (fix && !bestFix) || (fix == bestFix && people[f] < people[best]) {
					best, bestFix = f, fix
				}
			}
			hidden[best] = true
			changed = true
		}
	}
	return hidden
}
