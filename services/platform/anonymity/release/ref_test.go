package release

import (
	"slices"
	"sort"
	"strconv"
	"strings"
)

// refTree is the release package as it was before the incremental atoms (commit bf8a292):
// every try recomputes every atom of the whole tree. It is kept as the reference the
// incremental Tree must match exactly.
type refTree struct {
	// K is the minimum group size.
	K     int
	nodes map[string]*Node
}

// newRef is New for the reference.
func newRef(k int, nodes []*Node) *refTree {
	t := &refTree{K: k, nodes: make(map[string]*Node, len(nodes))}
	for _, n := range nodes {
		t.nodes[n.Path] = n
	}
	return t
}

// Node returns the node of path, or nil.
func (t *refTree) Node(path string) *Node { return t.nodes[path] }

// Nodes lists the nodes in path order.
func (t *refTree) Nodes() []*Node {
	out := make([]*Node, 0, len(t.nodes))
	for _, n := range t.nodes {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *Node) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// ancestors lists path and its ancestors present in the tree, the node itself first.
func (t *refTree) ancestors(path string) []*Node {
	var out []*Node
	for n := t.nodes[path]; n != nil; n = t.nodes[n.Parent] {
		out = append(out, n)
		if n.Parent == "" {
			break
		}
	}
	return out
}

// Pending reports whether v has contributions below it that its last release does not
// include: open cells, or cells closed after it by releases of other nodes.
func (t *refTree) Pending(v string) bool {
	last := uint64(0)
	if n := t.nodes[v]; n != nil && len(n.Releases) > 0 {
		last = n.Releases[len(n.Releases)-1]
	}
	for p, n := range t.nodes {
		if !within(p, v) {
			continue
		}
		for _, c := range n.Cells {
			if c.People > 0 && (c.End == 0 || c.End > last) {
				return true
			}
		}
	}
	return false
}

// Add counts people new distinct people in the open cell of segment path (the caller
// deduplicates within the open cell).
func (t *refTree) Add(path string, people int) {
	n := t.nodes[path]
	if k := len(n.Cells); k == 0 || n.Cells[k-1].End != 0 {
		n.Cells = append(n.Cells, Cell{})
	}
	n.Cells[len(n.Cells)-1].People += people
}

// Release tries candidates at flush n, deepest first then by path, keeping each release that
// leaves every atom with no one or at least K people. Deepest first is what lets a team with k
// new people show them while its department waits for its other teams: a department released
// first would merge the team's newcomers with a sibling's few into one atom, which the team's
// own release would then split. It returns the nodes released, in that order. n must be
// greater than every flush before it.
//
// Unless final, a node does not take in its descendants' new people that no release of theirs
// includes yet: those few would sit in the node's release, and the descendant's own release,
// when it comes, would split them off as a small atom, so the team could never show them. The
// node waits for its teams (each shows as soon as it has k new people) and catches up when
// they have. final is for the window's last flush, when no later release can split anything:
// then everything that may be shown is.
func (t *refTree) Release(n uint64, candidates []string, final bool) []string {
	cands := slices.Clone(candidates)
	sort.Slice(cands, func(i, j int) bool {
		di, dj := strings.Count(cands[i], "/"), strings.Count(cands[j], "/")
		if di != dj {
			return di > dj
		}
		return cands[i] < cands[j]
	})
	var out []string
	for _, v := range cands {
		node := t.nodes[v]
		if node == nil || !t.Pending(v) || (!final && t.takesUnreleased(v)) {
			continue
		}
		undo := t.cut(v, n)
		if t.valid() {
			out = append(out, v)
		} else {
			undo()
		}
	}
	return out
}

// takesUnreleased reports whether a release of v would include people of a strict
// descendant of v that no release of that descendant, or of a node between it and v,
// includes yet.
func (t *refTree) takesUnreleased(v string) bool {
	for p, m := range t.nodes {
		if p == v || !within(p, v) {
			continue
		}
		for _, c := range m.Cells {
			if c.People == 0 {
				continue
			}
			covered := false
			for _, a := range t.ancestors(p) {
				if a.Path == v {
					break
				}
				if c.End != 0 {
					if i, _ := slices.BinarySearch(a.Releases, c.End); i < len(a.Releases) {
						covered = true
						break
					}
				}
			}
			if !covered {
				return true
			}
		}
	}
	return false
}

// cut releases v at n: v's history gains n and the open cells below v close at n. It returns
// the function that undoes it.
func (t *refTree) cut(v string, n uint64) func() {
	node := t.nodes[v]
	node.Releases = append(node.Releases, n)
	var closed []*Node
	for p, m := range t.nodes {
		if within(p, v) && len(m.Cells) > 0 && m.Cells[len(m.Cells)-1].End == 0 {
			m.Cells[len(m.Cells)-1].End = n
			closed = append(closed, m)
		}
	}
	return func() {
		node.Releases = node.Releases[:len(node.Releases)-1]
		for _, m := range closed {
			m.Cells[len(m.Cells)-1].End = 0
		}
	}
}

// valid reports whether every atom holds no one or at least K people.
func (t *refTree) valid() bool {
	for _, people := range t.atoms() {
		if people > 0 && people < t.K {
			return false
		}
	}
	return true
}

// atoms groups the closed cells by signature and sums their people. Cells no release
// includes (every ancestor's releases end before them) are left out: nothing shown holds them.
func (t *refTree) atoms() map[string]int {
	out := map[string]int{}
	var b strings.Builder
	for _, node := range t.nodes {
		anc := t.ancestors(node.Path)
		for _, c := range node.Cells {
			if c.End == 0 || c.People == 0 {
				continue
			}
			b.Reset()
			for _, a := range anc {
				// The first release of a at or after the cell's end includes all of it, and
				// every release before that none of it: cuts never fall inside a cell.
				i, _ := slices.BinarySearch(a.Releases, c.End)
				if i < len(a.Releases) {
					b.WriteString(a.Path)
					b.WriteByte('=')
					b.WriteString(strconv.FormatUint(a.Releases[i], 10))
					b.WriteByte(';')
				}
			}
			if b.Len() > 0 {
				out[b.String()] += c.People
			}
		}
	}
	return out
}
