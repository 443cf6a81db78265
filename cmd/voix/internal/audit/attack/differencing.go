package attack

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"slices"
)

// Differencing returns every group of 1..k-1 people whose contributions a reader can
// isolate by adding and subtracting multiples of the shown numbers obs: those an
// observation shows directly (KindDirect, each distinct group once, with the first query
// that shows it) and, within each Measure, every minimal group some rational combination
// of observations adds up to exactly (KindDifferencing, with the combination). Any group
// the reader can isolate is a disjoint union of reported ones. k below 2 finds nothing.
//
// Results come per Measure in the order measures first appear: direct ones in observation
// order, then differencing ones by number of owners, of people (or units), then ids.
func Differencing(obs []Observation, k int, opts ...Option) []Reconstruction {
	var o options
	for _, f := range opts {
		f(&o)
	}
	var st Stats
	if o.stats != nil {
		defer func() { *o.stats = st }()
	}
	var measures []string
	groups := make(map[string][]int)
	for i, ob := range obs {
		for _, p := range ob.People {
			if p < 0 {
				panic(fmt.Sprintf("attack: observation %d (%q) has negative person id %d", i, ob.Query, p))
			}
			if o.owners != nil && p >= len(o.owners) {
				panic(fmt.Sprintf("attack: observation %d (%q) has unit %d, but only %d units have owners", i, ob.Query, p, len(o.owners)))
			}
		}
		if len(ob.People) == 0 {
			continue
		}
		if _, ok := groups[ob.Measure]; !ok {
			measures = append(measures, ob.Measure)
		}
		groups[ob.Measure] = append(groups[ob.Measure], i)
	}
	st.Measures = len(measures)
	if k < 2 {
		return nil
	}
	var out []Reconstruction
	for _, m := range measures {
		out = append(out, differencing(obs, groups[m], m, k, &o, &st)...)
	}
	return out
}

// vector is one distinct people set among the observations of a measure.
type vector struct {
	people []int // ascending, distinct
	rep    int   // index of the first observation with this set
}

// ownersOf returns the distinct owners of ids, ascending: ids themselves without owners.
func (o *options) ownersOf(ids []int) []int {
	if o.owners == nil {
		return slices.Clone(ids)
	}
	out := make([]int, len(ids))
	for i, u := range ids {
		out[i] = o.owners[u]
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// differencing analyses the observations idx, all of measure.
func differencing(obs []Observation, idx []int, measure string, k int, o *options, st *Stats) []Reconstruction {
	var out []Reconstruction

	// Distinct people sets; the small ones are shown directly.
	var vecs []vector
	seen := make(map[string]bool)
	direct := make(map[string]bool)
	for _, i := range idx {
		st.Observations++
		people := slices.Clone(obs[i].People)
		slices.Sort(people)
		people = slices.Compact(people)
		key := intsKey(people)
		if seen[key] {
			continue
		}
		seen[key] = true
		vecs = append(vecs, vector{people, i})
		if owners := o.ownersOf(people); len(owners) < k {
			direct[key] = true
			out = append(out, Reconstruction{
				Kind:    KindDirect,
				People:  people,
				Owners:  owners,
				Queries: []string{obs[i].Query},
				Terms:   []Term{{Coef: big.NewRat(1, 1), Index: i, Query: obs[i].Query}},
				Measure: measure,
			})
		}
	}
	st.Vectors += len(vecs)

	// Atoms: people in exactly the same vectors. Every vector, and so everything in their
	// span, is constant on an atom, so only unions of whole atoms can be isolated, and the
	// span is studied over atoms: vector v becomes the 0/1 vector of the atoms it covers.
	// Person ids are indexed densely, in ascending order, whatever their range.
	var ids []int
	for _, v := range vecs {
		ids = append(ids, v.people...)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	index := make(map[int]int, len(ids))
	for i, p := range ids {
		index[p] = i
	}
	member := make([][]int, len(ids))
	for v, x := range vecs {
		for _, p := range x.people {
			member[index[p]] = append(member[index[p]], v)
		}
	}
	atomOf := make([]int, len(ids))
	var atoms [][]int // people (ids) of each atom, ascending
	atomByKey := make(map[string]int)
	for i, p := range ids {
		key := intsKey(member[i])
		a, ok := atomByKey[key]
		if !ok {
			a = len(atoms)
			atomByKey[key] = a
			atoms = append(atoms, nil)
		}
		atomOf[i] = a
		atoms[a] = append(atoms[a], p)
	}
	st.People += len(ids)
	st.Atoms += len(atoms)

	// What an atom costs is the number of people behind it; with owners, atoms may share
	// people, and then a group's cost is not the sum of its atoms'.
	own := make([][]int, len(atoms))
	large := make([]bool, len(atoms))
	shared := false
	ownerAtom := make(map[int]int)
	for a, ps := range atoms {
		own[a] = o.ownersOf(ps)
		large[a] = len(own[a]) >= k
		if !large[a] {
			st.SmallAtoms++
			for _, p := range own[a] {
				if b, ok := ownerAtom[p]; ok && b != a {
					shared = true
				}
				ownerAtom[p] = a
			}
		}
	}
	cols := make([][]int, len(vecs))
	last := make([]int, len(atoms))
	for a := range last {
		last[a] = -1
	}
	for v, x := range vecs {
		for _, p := range x.people {
			if a := atomOf[index[p]]; last[a] != v {
				last[a] = v
				cols[v] = append(cols[v], a)
			}
		}
		slices.Sort(cols[v])
	}

	// Reduced row echelon basis of the span, large atoms pivoted first so that the rows
	// pivoted on small atoms span the part of the span that is zero on every large atom,
	// where any isolatable group lies. Narrow vectors first: they are the local ones (teams
	// before their department), which keeps the rows sparse. A wide vector is first
	// stripped of the narrower vectors it is a disjoint union of (a department of its
	// shown teams, the org of its divisions): exact, and it spares the rational
	// reduction the wide sums whose common denominators grow large even though they
	// cancel.
	order := make([]int, len(vecs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int { return len(cols[x]) - len(cols[y]) })
	b := newBasis(len(atoms), len(vecs), large)
	strip := newStripper(len(atoms), len(vecs))
	for _, v := range order {
		rest, minus := strip.strip(cols, v)
		b.insert(rest, v, minus)
	}
	st.Rank += len(b.rows)

	// inSpan reports whether the indicator of the atom set is in the span: being in reduced
	// form, it is if and only if it equals the sum of the rows pivoted on its atoms.
	inSpan := func(set []int) bool {
		for _, a := range set {
			b.colAcc.addInt(a, 1)
			if r := b.pivotRow[a]; r >= 0 {
				b.colAcc.sub(b.rows[r])
			}
		}
		return b.colAcc.isZero()
	}
	sets := search(b, own, large, k, o.maxNodes, shared, inSpan, st)

	// Keep the minimal sets: those that contain no other set found. The search finds every
	// minimal set, and a set inside another has fewer atoms, so it is decided first.
	var diff []Reconstruction
	var kept [][]int
	keptWith := make([][]int, len(atoms)) // atom -> kept sets that have it
	hits := make(map[int]int)
	for _, set := range sets {
		inside := false
		for _, a := range set {
			for _, t := range keptWith[a] {
				hits[t]++
				inside = inside || hits[t] == len(kept[t])
			}
		}
		clear(hits)
		if inside {
			continue
		}
		for _, a := range set {
			keptWith[a] = append(keptWith[a], len(kept))
		}
		kept = append(kept, set)

		var people []int
		for _, a := range set {
			people = append(people, atoms[a]...)
		}
		slices.Sort(people)
		if direct[intsKey(people)] {
			continue
		}
		for _, a := range set {
			if r := b.pivotRow[a]; r >= 0 {
				b.combAcc.add(b.combs[r])
			}
		}
		var terms []Term
		for _, e := range b.combAcc.drain() {
			i := vecs[e.col].rep
			terms = append(terms, Term{Coef: e.val.rat(), Index: i, Query: obs[i].Query})
		}
		slices.SortFunc(terms, func(x, y Term) int { return x.Index - y.Index })
		queries := make([]string, len(terms))
		for i, t := range terms {
			queries[i] = formatTerm(t)
		}
		diff = append(diff, Reconstruction{
			Kind:    KindDifferencing,
			People:  people,
			Owners:  o.ownersOf(people),
			Queries: queries,
			Terms:   terms,
			Measure: measure,
		})
	}
	slices.SortFunc(diff, func(x, y Reconstruction) int {
		if len(x.Owners) != len(y.Owners) {
			return len(x.Owners) - len(y.Owners)
		}
		if len(x.People) != len(y.People) {
			return len(x.People) - len(y.People)
		}
		return slices.Compare(x.People, y.People)
	})
	return append(out, diff...)
}

// stripper finds, among the vectors seen so far, disjoint ones inside a new vector.
type stripper struct {
	byAtom  [][]int // atom -> vectors seen that cover it
	count   []int   // by vector: atoms shared with the vector being stripped
	touched []int
	used    []int // by atom: stamp of the strip that covered it
	stamp   int
}

func newStripper(atoms, vectors int) *stripper {
	return &stripper{byAtom: make([][]int, atoms), count: make([]int, vectors), used: make([]int, atoms)}
}

// strip returns vector v (atoms cols[v]) minus a greedy choice, largest first, of disjoint
// vectors seen before that lie inside it, and those vectors; then records v as seen.
func (s *stripper) strip(cols [][]int, v int) (rest, minus []int) {
	for _, a := range cols[v] {
		for _, u := range s.byAtom[a] {
			if s.count[u] == 0 {
				s.touched = append(s.touched, u)
			}
			s.count[u]++
		}
	}
	var inside []int
	for _, u := range s.touched {
		if s.count[u] == len(cols[u]) {
			inside = append(inside, u)
		}
		s.count[u] = 0
	}
	s.touched = s.touched[:0]
	slices.SortFunc(inside, func(x, y int) int {
		if len(cols[x]) != len(cols[y]) {
			return len(cols[y]) - len(cols[x])
		}
		return x - y
	})
	s.stamp++
	for _, u := range inside {
		if slices.ContainsFunc(cols[u], func(a int) bool { return s.used[a] == s.stamp }) {
			continue
		}
		for _, a := range cols[u] {
			s.used[a] = s.stamp
		}
		minus = append(minus, u)
	}
	for _, a := range cols[v] {
		if s.used[a] != s.stamp {
			rest = append(rest, a)
		}
		s.byAtom[a] = append(s.byAtom[a], v)
	}
	return rest, minus
}

// intsKey encodes a list of non-negative ints as a map key.
func intsKey(xs []int) string {
	buf := make([]byte, 0, 2*len(xs))
	for _, x := range xs {
		buf = binary.AppendUvarint(buf, uint64(x))
	}
	return string(buf)
}
