// Package release decides, node by node, when an aggregate of a segment tree may show its
// new value, so that no combination of everything ever shown (across the hierarchy and across
// releases over time) isolates fewer than k people, and no team waits for its siblings.
//
// The model. The members of each segment (its own people, not its sub-segments') contribute
// over time. Time is counted in flushes, the moments releases are decided. Releasing node v at
// flush n shows the sum of every contribution in v's subtree up to n. A reader may add and
// subtract everything ever shown. Every shown value is then a sum of "atoms": classes of
// contributions that belong to exactly the same shown values. Anything a reader can derive
// that is a set of contributions (a 0/1 combination) is a union of atoms, so if every atom
// holds no one or at least k distinct people, no group of 1..k-1 people can be isolated.
//
// Release keeps that invariant. Contributions of one segment's members between two cuts (the
// flushes at which the segment or one of its ancestors released) form a cell, and all of a
// cell's contributions share their shown values, so atoms are unions of cells: cells whose
// signature (for each ancestor, the first release at or after the cell's end) is the same.
// Cells of one segment always differ in signature, so an atom's people are the sum of its
// cells' people. A release is tried by cutting the open cells below the node and regrouping:
// it is kept if every atom still holds no one or at least k people, and undone otherwise, in
// which case the node keeps showing its previous value.
//
// Each cell needs only its number of distinct people once closed, so the state is small: per
// segment, one count per interval between releases of its ancestors.
//
// The work is incremental. The tree keeps the people of every atom (signature -> people) and
// how many atoms are small. A release of v at n changes the signature of exactly the cells of
// v's subtree that end after v's previous release (the open ones close at n): only those move
// from one atom to another, only the atoms they leave or join are checked, and an undo moves
// them back. A release costs the cells it regroups, not the tree's history.
package release

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strings"
)

// Cell is the contributions of one segment's own members between two cuts.
type Cell struct {
	// End is the flush that closed the cell; 0 for the open cell, which no release includes.
	End uint64
	// People is the number of distinct people in it.
	People int
}

// Node is a segment of the tree with its release history and the cells of its own members.
type Node struct {
	// Path is the segment path; Parent the parent's ("" for the root).
	Path, Parent string
	// Releases are the flushes at which the node released, increasing.
	Releases []uint64
	// Cells are its own members' cells, closed ones by End, then the open one if any.
	Cells []Cell
}

// Tree is the release state of one tree: an organisation's segments for one dimension and
// window. Its nodes change only through its methods (it keeps their atoms).
type Tree struct {
	// K is the minimum group size.
	K     int
	nodes map[string]*tnode
	// atoms holds the people of every non-empty atom by signature (sig); small counts the
	// atoms of 1..K-1 people: the tree is valid when it is 0.
	atoms map[string]int
	small int
	// Scratch space of cut, reused.
	buf    []byte
	cells  []cellAt
	closed []*tnode
	moves  []regrouped
}

// tnode is a node with what the tree derives once from its place: a small id for
// signatures, its ancestors by Parent (itself first, up to the first missing one) and its
// children: the nodes whose nearest ancestor present in the tree, by path, it is.
type tnode struct {
	*Node
	id   uint64
	anc  []*tnode
	kids []*tnode
}

// New returns a tree of the given nodes. Every node's parent should be in nodes, except the
// root's, and each node's cells must be in order (closed ones by End, then the open one). A
// node whose parent is missing is still below its nearest ancestor present (by path: a
// release of that ancestor includes it), but no release above the gap is in its cells'
// signatures nor covers its people.
func New(k int, nodes []*Node) *Tree {
	t := &Tree{K: k, nodes: make(map[string]*tnode, len(nodes)), atoms: map[string]int{}}
	for i, n := range nodes {
		t.nodes[n.Path] = &tnode{Node: n, id: uint64(i)}
	}
	for _, n := range t.nodes {
		for a := n; a != nil; a = t.nodes[a.Parent] {
			n.anc = append(n.anc, a)
			if a.Parent == "" {
				break
			}
		}
		for p := n.Path; ; {
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				break
			}
			p = p[:i]
			if a := t.nodes[p]; a != nil {
				a.kids = append(a.kids, n)
				break
			}
		}
	}
	for _, n := range t.nodes {
		for _, c := range n.Cells {
			if c.End != 0 && c.People > 0 {
				t.move(t.sig(n, c.End), c.People)
			}
		}
	}
	return t
}

// Node returns the node of path, or nil.
func (t *Tree) Node(path string) *Node {
	if n := t.nodes[path]; n != nil {
		return n.Node
	}
	return nil
}

// Nodes lists the nodes in path order.
func (t *Tree) Nodes() []*Node {
	out := make([]*Node, 0, len(t.nodes))
	for _, n := range t.nodes {
		out = append(out, n.Node)
	}
	slices.SortFunc(out, func(a, b *Node) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// within reports whether path is v or below it.
func within(path, v string) bool {
	return path == v || strings.HasPrefix(path, v+"/")
}

// last is the node's last release, 0 if none.
func last(n *Node) uint64 {
	if len(n.Releases) == 0 {
		return 0
	}
	return n.Releases[len(n.Releases)-1]
}

// Pending reports whether v has contributions below it that its last release does not
// include: open cells, or cells closed after it by releases of other nodes.
func (t *Tree) Pending(v string) bool {
	node := t.nodes[v]
	if node == nil {
		for p, n := range t.nodes {
			if within(p, v) && pendingAfter(n.Node, 0) {
				return true
			}
		}
		return false
	}
	return pendingBelow(node, last(node.Node))
}

// pendingBelow reports whether n or a node below it has people in a cell open or closed after
// flush l.
func pendingBelow(n *tnode, l uint64) bool {
	if pendingAfter(n.Node, l) {
		return true
	}
	for _, c := range n.kids {
		if pendingBelow(c, l) {
			return true
		}
	}
	return false
}

// pendingAfter reports whether n has people in a cell open or closed after flush l.
func pendingAfter(n *Node, l uint64) bool {
	for i := len(n.Cells) - 1; i >= 0; i-- {
		c := n.Cells[i]
		if c.End != 0 && c.End <= l {
			break
		}
		if c.People > 0 {
			return true
		}
	}
	return false
}

// Add counts people new distinct people in the open cell of segment path (the caller
// deduplicates within the open cell).
func (t *Tree) Add(path string, people int) {
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
func (t *Tree) Release(n uint64, candidates []string, final bool) []string {
	type cand struct {
		path  string
		depth int
	}
	cands := make([]cand, len(candidates))
	for i, c := range candidates {
		cands[i] = cand{c, strings.Count(c, "/")}
	}
	slices.SortFunc(cands, func(a, b cand) int {
		return cmp.Or(cmp.Compare(b.depth, a.depth), strings.Compare(a.path, b.path))
	})
	var out []string
	for _, c := range cands {
		v := c.path
		node := t.nodes[v]
		if node == nil || !pendingBelow(node, last(node.Node)) || (!final && takesUnreleased(node)) {
			continue
		}
		t.cut(node, n)
		if t.small == 0 {
			out = append(out, v)
		} else {
			t.undo(node)
		}
	}
	return out
}

// takesUnreleased reports whether a release of v would include people of a strict
// descendant of v that no release of that descendant, or of a node between it and v,
// includes yet: people in a cell open, or closed after the last release of every node from
// the descendant up to (not including) v.
func takesUnreleased(v *tnode) bool {
	for _, c := range v.kids {
		if uncovered(v, c, 0) {
			return true
		}
	}
	return false
}

// uncovered reports whether n (a child of above) or a node below it has people in a cell
// that no release of theirs, nor one of cover (the last release of the nodes above n, up to
// the one released), includes. Past a missing parent, the nodes above it do not cover.
func uncovered(above, n *tnode, cover uint64) bool {
	if n.Parent != above.Path {
		cover = 0
	}
	cover = max(cover, last(n.Node))
	if pendingAfter(n.Node, cover) {
		return true
	}
	for _, c := range n.kids {
		if uncovered(n, c, cover) {
			return true
		}
	}
	return false
}

// regrouped is a cell whose atom a cut changed: its people left atom from ("" for none: the
// cell was open) and joined atom to.
type regrouped struct {
	from, to string
	people   int
}

// cellAt is cell i of a node.
type cellAt struct {
	node *tnode
	i    int
}

// cut releases v at n: v's history gains n and the open cells below v close at n. Exactly the
// cells of v's subtree that end after v's previous release, or are open, change signature
// (they gain v=n), so only they move between atoms. undo(v) undoes it.
func (t *Tree) cut(v *tnode, n uint64) {
	l := last(v.Node)
	t.cells, t.closed = t.cells[:0], t.closed[:0]
	t.collect(v, l)
	moves := slices.Grow(t.moves[:0], len(t.cells))[:len(t.cells)]
	for j, c := range t.cells {
		cell := c.node.Cells[c.i]
		moves[j] = regrouped{people: cell.People}
		if cell.End != 0 {
			moves[j].from = t.sig(c.node, cell.End)
		}
	}
	v.Releases = append(v.Releases, n)
	for _, m := range t.closed {
		m.Cells[len(m.Cells)-1].End = n
	}
	for j, c := range t.cells {
		moves[j].to = t.sig(c.node, c.node.Cells[c.i].End)
		t.move(moves[j].from, -moves[j].people)
		t.move(moves[j].to, moves[j].people)
	}
	t.moves = moves
}

// collect gathers, in n's subtree, the nodes whose last cell is open (t.closed) and the cells
// with people that are open or end after l (t.cells).
func (t *Tree) collect(n *tnode, l uint64) {
	if k := len(n.Cells); k > 0 && n.Cells[k-1].End == 0 {
		t.closed = append(t.closed, n)
	}
	for i := len(n.Cells) - 1; i >= 0; i-- {
		c := n.Cells[i]
		if c.End != 0 && c.End <= l {
			break
		}
		if c.People > 0 {
			t.cells = append(t.cells, cellAt{n, i})
		}
	}
	for _, c := range n.kids {
		t.collect(c, l)
	}
}

// undo undoes the last cut, of v.
func (t *Tree) undo(v *tnode) {
	for _, m := range t.moves {
		t.move(m.to, -m.people)
		t.move(m.from, m.people)
	}
	v.Releases = v.Releases[:len(v.Releases)-1]
	for _, m := range t.closed {
		m.Cells[len(m.Cells)-1].End = 0
	}
}

// sig is the signature of a cell of node n that ends at end: for each ancestor (n itself
// first) the first release at or after end, which includes all of the cell, while every
// release before it includes none of it (cuts never fall inside a cell). Ancestors with no
// such release are left out; "" means no release includes the cell.
func (t *Tree) sig(n *tnode, end uint64) string {
	b := t.buf[:0]
	for _, a := range n.anc {
		if i, _ := slices.BinarySearch(a.Releases, end); i < len(a.Releases) {
			b = binary.AppendUvarint(b, a.id)
			b = binary.AppendUvarint(b, a.Releases[i])
		}
	}
	t.buf = b
	return string(b)
}

// move adds people to the atom of signature s ("" is no atom) and keeps the count of small
// atoms.
func (t *Tree) move(s string, people int) {
	if s == "" || people == 0 {
		return
	}
	before := t.atoms[s]
	after := before + people
	if before > 0 && before < t.K {
		t.small--
	}
	if after > 0 && after < t.K {
		t.small++
	}
	if after == 0 {
		delete(t.atoms, s)
	} else {
		t.atoms[s] = after
	}
}
