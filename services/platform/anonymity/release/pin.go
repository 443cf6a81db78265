package release

import "fmt"

// Force releases path at flush n without checking the atoms: a cut a caller already decided.
// It is for replaying a recorded history (a rebuild of the store the releases were decided
// on): the release was checked, when it was decided, on exactly the contributions the replay
// has put before n, so it is kept as it was, and later releases are checked against the whole
// history, this one included. Forcing a release that was never checked breaks the guarantee
// of the package; a caller that cannot prove the contributions are the same checks Valid
// after it.
//
// n must be greater than every release of path, and path a node of the tree.
func (t *Tree) Force(n uint64, path string) error {
	node := t.nodes[path]
	if node == nil {
		return fmt.Errorf("release: force %q at %d: no such node", path, n)
	}
	if r := node.Releases; len(r) > 0 && n <= r[len(r)-1] {
		return fmt.Errorf("release: force %q at %d: it released at %d already", path, n, r[len(r)-1])
	}
	t.cut(node, n)
	return nil
}

// Valid reports whether every atom of the tree holds no one or at least K people: whether
// everything released so far, together, isolates no group of 1..K-1 people.
func (t *Tree) Valid() bool { return t.small == 0 }

// Cut is Force on bare nodes, for a replay that forces many releases and checks the whole
// tree once at the end (New(...).Valid()): it releases path at flush n, closing at n the open
// cells of path and of every node below it, and keeps no atoms, so it costs the subtree's
// nodes rather than the tree's history. nodes holds path and the nodes below it (others are
// ignored); the state it leaves is the one Force leaves.
func Cut(nodes []*Node, n uint64, path string) error {
	var v *Node
	for _, m := range nodes {
		if m.Path == path {
			v = m
		}
	}
	if v == nil {
		return fmt.Errorf("release: force %q at %d: no such node", path, n)
	}
	if r := v.Releases; len(r) > 0 && n <= r[len(r)-1] {
		return fmt.Errorf("release: force %q at %d: it released at %d already", path, n, r[len(r)-1])
	}
	v.Releases = append(v.Releases, n)
	for _, m := range nodes {
		if k := len(m.Cells); within(m.Path, path) && k > 0 && m.Cells[k-1].End == 0 {
			m.Cells[k-1].End = n
		}
	}
	return nil
}
