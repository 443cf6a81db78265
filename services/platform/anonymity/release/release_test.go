package release

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// sim drives a tree with people arriving over flushes, and keeps the raw truth: every
// contribution (person, flush) and every release, so that a test can check what was shown
// without trusting the cells.
type sim struct {
	t        *Tree
	segments []string
	people   map[int]string // person -> segment
	contribs []contrib
	shown    []shownValue
	seen     map[string]map[int]bool // segment -> people in its open cell
}

type contrib struct{ person, flush int }

type shownValue struct {
	node  string
	flush int
}

func newSim(k int, segments []string) *sim {
	var nodes []*Node
	for _, s := range segments {
		parent := ""
		if i := strings.LastIndexByte(s, '/'); i > 0 {
			parent = s[:i]
		}
		nodes = append(nodes, &Node{Path: s, Parent: parent})
	}
	return &sim{t: New(k, nodes), segments: segments, people: map[int]string{}, seen: map[string]map[int]bool{}}
}

// contribute records that person (a member of seg) contributes before flush.
func (s *sim) contribute(person int, seg string, flush int) {
	s.people[person] = seg
	s.contribs = append(s.contribs, contrib{person, flush})
	open := s.seen[seg]
	if open == nil {
		open = map[int]bool{}
		s.seen[seg] = open
	}
	if !open[person] {
		open[person] = true
		s.t.Add(seg, 1)
	}
}

// flush releases what may be released at flush n; cells that closed start afresh.
func (s *sim) flush(n int) []string { return s.flushFinal(n, false) }

// flushFinal is flush, at the window's last flush when final.
func (s *sim) flushFinal(n int, final bool) []string {
	var cands []string
	for _, seg := range s.segments {
		if s.t.Pending(seg) {
			cands = append(cands, seg)
		}
	}
	got := s.t.Release(uint64(n), cands, final)
	for _, v := range got {
		s.shown = append(s.shown, shownValue{v, n})
		for seg := range s.seen {
			if within(seg, v) {
				s.seen[seg] = nil
			}
		}
	}
	return got
}

// includes reports whether the shown value holds contribution c.
func (s *sim) includes(v shownValue, c contrib) bool {
	return c.flush <= v.flush && within(s.people[c.person], v.node)
}

// checkAtoms computes the atoms of everything shown from the raw contributions: classes of
// contributions that belong to exactly the same shown values. Every atom some shown value
// holds must have no one or at least k distinct people.
func (s *sim) checkAtoms(t *testing.T, k int) {
	t.Helper()
	atoms := map[string]map[int]bool{}
	for _, c := range s.contribs {
		var sig strings.Builder
		for i, v := range s.shown {
			if s.includes(v, c) {
				fmt.Fprintf(&sig, "%d,", i)
			}
		}
		if sig.Len() == 0 {
			continue
		}
		if atoms[sig.String()] == nil {
			atoms[sig.String()] = map[int]bool{}
		}
		atoms[sig.String()][c.person] = true
	}
	for sig, people := range atoms {
		if len(people) > 0 && len(people) < k {
			var who []string
			for p := range people {
				who = append(who, fmt.Sprintf("%d@%s", p, s.people[p]))
			}
			slices.Sort(who)
			t.Fatalf("an atom of %d people (%v) is isolable from the shown values %v (signature %s)", len(people), who, s.shown, sig)
		}
	}
}

// TestNoReleaseIsolatesASmallGroup lets people arrive at random in random trees, some of them
// coming back with more, and checks after every flush, from the raw contributions, that
// nothing shown (across the tree and across releases) isolates fewer than k people.
func TestNoReleaseIsolatesASmallGroup(t *testing.T) {
	const k = 5
	shapes := [][]string{
		{"acme", "acme/eng", "acme/eng/platform", "acme/eng/data", "acme/sales"},
		{"acme", "acme/a", "acme/b", "acme/c", "acme/a/x", "acme/a/y", "acme/b/z"},
		{"acme", "acme/one"},
	}
	released := 0
	for seed := range 300 {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		segs := shapes[seed%len(shapes)]
		s := newSim(k, segs)
		person := 0
		var members []int
		for f := 1; f <= 8; f++ {
			for range rng.IntN(9) {
				if len(members) > 0 && rng.IntN(4) == 0 {
					p := members[rng.IntN(len(members))] // someone speaks again
					s.contribute(p, s.people[p], f)
					continue
				}
				seg := segs[rng.IntN(len(segs))]
				s.contribute(person, seg, f)
				members = append(members, person)
				person++
			}
			released += len(s.flushFinal(f, f == 8))
			s.checkAtoms(t, k)
		}
	}
	if released < 300 {
		t.Fatalf("only %d releases in 300 runs: the rule hides everything, which proves nothing", released)
	}
	t.Logf("%d releases over 300 random runs", released)
}

// TestATeamIsNotHeldBackByItsSiblings is the stall seen in use: after acme and acme/eng were
// released, five new people in acme/ops/support stayed hidden as long as any released team
// had one to four new people. Now support shows them at once.
func TestATeamIsNotHeldBackByItsSiblings(t *testing.T) {
	s := newSim(5, []string{"acme", "acme/eng", "acme/ops", "acme/ops/support"})
	p := 0
	for range 12 {
		s.contribute(p, "acme/eng", 1)
		p++
	}
	for range 6 {
		s.contribute(p, "acme/ops/support", 1)
		p++
	}
	first := s.flush(1)
	if !slices.Contains(first, "acme/eng") || !slices.Contains(first, "acme/ops/support") {
		t.Fatalf("first flush released %v", first)
	}
	// Two new people in eng, five in support.
	for range 2 {
		s.contribute(p, "acme/eng", 2)
		p++
	}
	for range 5 {
		s.contribute(p, "acme/ops/support", 2)
		p++
	}
	got := s.flush(2)
	if !slices.Contains(got, "acme/ops/support") {
		t.Fatalf("support's five new people are held back by eng's two: released %v", got)
	}
	if slices.Contains(got, "acme/eng") {
		t.Fatalf("eng moved with two new people: released %v", got)
	}
	s.checkAtoms(t, 5)
}

// TestATeamOfFourteenIsShown: a segment of 14 people stayed hidden.
func TestATeamOfFourteenIsShown(t *testing.T) {
	s := newSim(5, []string{"acme", "acme/eng", "acme/eng/platform", "acme/sales"})
	p := 0
	for i := range 14 {
		s.contribute(p, "acme/eng/platform", 1+i/5) // they arrive over three flushes
		p++
	}
	for range 7 {
		s.contribute(p, "acme/sales", 2)
		p++
	}
	var shown []string
	for f := 1; f <= 4; f++ {
		shown = append(shown, s.flush(f)...)
	}
	if !slices.Contains(shown, "acme/eng/platform") {
		t.Fatalf("a team of 14 people was never shown: %v", shown)
	}
	s.checkAtoms(t, 5)
}
