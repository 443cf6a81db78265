package attack

import (
	"fmt"
	"math/big"
	"slices"
)

// The search for sets of small atoms that the span contains.
//
// Let R be the span of the observations restricted to vectors that are zero on every large
// atom, in reduced row echelon form over the small atoms (the basis rows whose pivot is a
// small atom). A set S of small atoms is isolatable exactly when its indicator 1_S is in R,
// which, R being in reduced form, holds exactly when 1_S equals the sum of the rows whose
// pivots are in S. The difference lives on the free (non-pivot) columns only, so give every
// small atom a signature over the free columns, its column of a null-space basis:
//
//	free atom f:  +1 at f
//	pivot atom a: -(row of a) at each free column, the pivot itself left out
//
// and S is isolatable exactly when its signatures sum to zero. The search grows S from its
// lowest atom, always adding an atom that is non-zero in some column where the running sum
// is non-zero (some atom of S must cancel it), choosing the column with the fewest such
// atoms; a set whose sum reaches zero is recorded and not grown further. When no more than
// one more atom fits in the size budget, the one atom that would cancel the sum is looked up
// by hash instead. Every minimal isolatable set is found this way: following its own atoms
// in that order never meets a zero sum early, or a subset would be isolatable. Each set is
// grown once, whatever order its atoms were reached in, and a sum with more non-zeros than
// the atoms that still fit could touch is abandoned. The running sum is kept dense and
// updated in place, with an additive hash, so that adding an atom costs the length of its
// signature, not of the sum.
//
// With owners shared between atoms (WithOwners, one person's units of different days) a
// group's cost is its number of distinct owners, which adding an atom of people already in
// the group does not raise: the search then counts owners, may add any number of atoms,
// and does without the shortcuts that assume every atom costs at least the smallest atom.
//
// Signatures are added modulo a prime p that divides none of their denominators, which
// makes the search fast: a sum that is zero over the rationals is zero modulo p, so following
// the residues modulo p finds every set the rationals would. Each set found is checked
// exactly. A set whose sum is zero modulo p but not over the rationals (p divides every
// numerator of the sum: with p near 2^61 this is not expected to happen, ever) would have
// stopped the search from growing it into a set that is isolatable, so the whole search is
// then run again with another prime.

type mentry struct {
	col int32
	val uint64
}

// mvec is a vector modulo p as its non-zeros, ascending by column.
type mvec []mentry

type searcher struct {
	p         uint64
	size      []int     // by atom
	sig       []mvec    // by atom; meaningful for small atoms
	colAtoms  [][]int32 // by free column: small atoms non-zero there, ascending
	byHash    map[uint64][]int32
	lens      map[int]bool // lengths of the small atoms' signatures
	reach     []int        // reach[t]: the most non-zeros t signatures have together
	minSize   int
	budget    int // k-1
	maxNodes  int
	nodes     int
	truncated bool
	found     map[string][]int
	verify    func([]int) bool
	collided  bool
	explored  map[string]bool // sets grown so far from the current lowest atom
	key       []int           // scratch

	// With shared owners: the owners of each small atom, as dense indices, how many atoms
	// of the set being grown each owner has, and how many owners have some.
	shared     bool
	atomOwners [][]int32
	refs       []int32
	owned      int

	// The running sum of the signatures of the set being grown.
	val    []uint64 // by column
	pos    []int32  // by column: index in supp, or -1
	supp   []int32  // columns where val is not zero
	hash   uint64   // sum of term(col, val) over supp
	colKey []uint64 // by column, for term
}

// search returns every minimal set of small atoms (some non-minimal ones too) of 1..k-1
// people whose indicator is in the span, as ascending atom lists, fewest atoms first. own
// are the people (owners) of each atom, shared says whether atoms share any, and verify
// tells exactly whether a set's indicator is in the span.
func search(b *basis, own [][]int, large []bool, k, maxNodes int, shared bool, verify func([]int) bool, st *Stats) [][]int {
	size := make([]int, len(own))
	var small []int
	minSize := 0
	for a := range own {
		size[a] = len(own[a])
		if !large[a] {
			small = append(small, a)
			if minSize == 0 || size[a] < minSize {
				minSize = size[a]
			}
		}
	}
	if len(small) == 0 {
		return nil
	}
	for _, a := range small {
		if b.pivotRow[a] < 0 {
			st.Freedom++
		}
	}
	var atomOwners [][]int32
	owners := 0
	if shared {
		atomOwners = make([][]int32, len(own))
		dense := make(map[int]int32)
		for _, a := range small {
			for _, p := range own[a] {
				d, ok := dense[p]
				if !ok {
					d = int32(len(dense))
					dense[p] = d
				}
				atomOwners[a] = append(atomOwners[a], d)
			}
		}
		owners = len(dense)
	}
	dens := denominators(b, small)
	p := uint64(1<<61 + 1) // choosePrime starts below it, at 2^61-1
	for try := 0; ; try++ {
		if try == 8 {
			// Eight primes each dividing every numerator of some sum is not chance.
			panic("attack: internal error: search and exact check disagree under 8 primes")
		}
		p = choosePrime(p, dens)
		s := &searcher{
			p:          p,
			size:       size,
			sig:        make([]mvec, len(size)),
			colAtoms:   make([][]int32, len(size)),
			byHash:     make(map[uint64][]int32),
			lens:       make(map[int]bool),
			minSize:    minSize,
			budget:     k - 1,
			maxNodes:   maxNodes,
			found:      make(map[string][]int),
			verify:     verify,
			explored:   make(map[string]bool),
			shared:     shared,
			atomOwners: atomOwners,
			refs:       make([]int32, owners),
			val:        make([]uint64, len(size)),
			pos:        make([]int32, len(size)),
			colKey:     make([]uint64, len(size)),
		}
		for i := range s.pos {
			s.pos[i] = -1
			s.colKey[i] = mix(uint64(i))
		}
		s.run(b, small, large)
		st.SearchNodes += s.nodes
		if s.collided {
			continue
		}
		st.Truncated = st.Truncated || s.truncated
		out := make([][]int, 0, len(s.found))
		for _, set := range s.found {
			out = append(out, set)
		}
		slices.SortFunc(out, func(x, y []int) int {
			if len(x) != len(y) {
				return len(x) - len(y)
			}
			return slices.Compare(x, y)
		})
		return out
	}
}

func (s *searcher) run(b *basis, small []int, large []bool) {
	for _, a := range small {
		r := b.pivotRow[a]
		if r < 0 {
			s.sig[a] = mvec{{int32(a), 1}}
			continue
		}
		var sig mvec
		for _, e := range b.rows[r] {
			if e.col == a {
				continue
			}
			if large[e.col] || b.pivotRow[e.col] >= 0 {
				panic(fmt.Sprintf("attack: internal error: row of small atom %d has column %d (large %v, pivot %v)",
					a, e.col, large[e.col], b.pivotRow[e.col] >= 0))
			}
			if v := ratMod(e.val, s.p); v != 0 {
				sig = append(sig, mentry{int32(e.col), s.p - v})
			}
		}
		s.sig[a] = sig
	}
	var lens []int
	for _, a := range small {
		var h uint64 // hash of -sig
		for _, e := range s.sig[a] {
			s.colAtoms[e.col] = append(s.colAtoms[e.col], int32(a))
			h += s.term(e.col, s.p-e.val)
		}
		s.byHash[h] = append(s.byHash[h], int32(a))
		s.lens[len(s.sig[a])] = true
		lens = append(lens, len(s.sig[a]))
	}
	slices.Sort(lens)
	slices.Reverse(lens)
	s.reach = make([]int, s.budget+1)
	for t := 1; t <= s.budget; t++ {
		s.reach[t] = s.reach[t-1]
		if t <= len(lens) {
			s.reach[t] += lens[t-1]
		}
	}

	set := make([]int, 1, s.budget+1)
	for _, a := range small {
		if s.stop() {
			return
		}
		if len(s.sig[a]) == 0 {
			s.record([]int{a})
			continue
		}
		set[0] = a
		clear(s.explored)
		s.add(a, false)
		if s.shared {
			s.own(a, 1)
			s.growShared(a, set[:1])
			s.own(a, -1)
		} else {
			s.grow(a, set, s.budget-s.size[a])
		}
		s.add(a, true)
	}
}

// own counts atom a's owners in (d = 1) or out (d = -1) of the set being grown.
func (s *searcher) own(a int, d int32) {
	for _, p := range s.atomOwners[a] {
		if s.refs[p] == 0 {
			s.owned++
		}
		s.refs[p] += d
		if s.refs[p] == 0 {
			s.owned--
		}
	}
}

// newOwners returns how many owners atom a would add to the set being grown.
func (s *searcher) newOwners(a int) int {
	n := 0
	for _, p := range s.atomOwners[a] {
		if s.refs[p] == 0 {
			n++
		}
	}
	return n
}

// growShared is grow when atoms share owners: the budget is k-1 owners, and an atom of
// owners already in the set costs nothing, so the set may grow to any number of atoms.
func (s *searcher) growShared(lo int, set []int) {
	var cands []int32
	for i, c := range s.supp {
		ca := s.colAtoms[c]
		from, _ := slices.BinarySearch(ca, int32(lo+1))
		if i == 0 || len(ca)-from < len(cands) {
			cands = ca[from:]
		}
	}
	for _, b := range cands {
		if s.stop() {
			return
		}
		if slices.Contains(set, int(b)) || s.owned+s.newOwners(int(b)) > s.budget {
			continue
		}
		next := append(set, int(b))
		s.add(int(b), false)
		if len(s.supp) == 0 {
			s.record(next)
		} else {
			s.key = append(s.key[:0], next...)
			slices.Sort(s.key)
			if k := intsKey(s.key); !s.explored[k] {
				s.explored[k] = true
				s.own(int(b), 1)
				s.growShared(lo, next)
				s.own(int(b), -1)
			}
		}
		s.add(int(b), true)
	}
}

func (s *searcher) stop() bool {
	if s.collided {
		return true
	}
	s.nodes++
	if s.maxNodes > 0 && s.nodes > s.maxNodes {
		s.truncated = true
		return true
	}
	return false
}

func (s *searcher) record(set []int) {
	set = slices.Clone(set)
	slices.Sort(set)
	key := intsKey(set)
	if _, ok := s.found[key]; ok {
		return
	}
	if !s.verify(set) {
		s.collided = true
		return
	}
	s.found[key] = set
}

// add adds atom a's signature to the running sum, or subtracts it when undo is set.
func (s *searcher) add(a int, undo bool) {
	for _, e := range s.sig[a] {
		c, v := e.col, e.val
		if undo {
			v = s.p - v
		}
		old := s.val[c]
		nv := old + v // both < p < 2^63
		if nv >= s.p {
			nv -= s.p
		}
		if old != 0 {
			s.hash -= s.term(c, old)
		} else {
			s.pos[c] = int32(len(s.supp))
			s.supp = append(s.supp, c)
		}
		if nv != 0 {
			s.hash += s.term(c, nv)
		} else {
			i, last := s.pos[c], s.supp[len(s.supp)-1]
			s.supp[i], s.pos[last] = last, i
			s.supp = s.supp[:len(s.supp)-1]
			s.pos[c] = -1
		}
		s.val[c] = nv
	}
}

// cancels reports whether atom b's signature is minus the running sum.
func (s *searcher) cancels(b int) bool {
	if len(s.sig[b]) != len(s.supp) {
		return false
	}
	for _, e := range s.sig[b] {
		if s.val[e.col] != s.p-e.val {
			return false
		}
	}
	return true
}

// grow extends set, lowest atom lo, whose signatures sum to the running sum (not zero), by
// atoms above lo within budget people. set has room to grow in place.
func (s *searcher) grow(lo int, set []int, budget int) {
	if budget < s.minSize || len(s.supp) > s.reach[budget/s.minSize] {
		return
	}
	if budget < 2*s.minSize {
		// Only one more atom fits: it must be the one whose signature is minus the sum.
		if !s.lens[len(s.supp)] {
			return
		}
		for _, b := range s.byHash[s.hash] {
			if s.stop() {
				return
			}
			if int(b) > lo && s.size[b] <= budget && !slices.Contains(set, int(b)) && s.cancels(int(b)) {
				s.record(append(set, int(b)))
			}
		}
		return
	}
	// Some atom still to add is non-zero where the sum is; take the column with fewest.
	var cands []int32
	for i, c := range s.supp {
		ca := s.colAtoms[c]
		from, _ := slices.BinarySearch(ca, int32(lo+1))
		if i == 0 || len(ca)-from < len(cands) {
			cands = ca[from:]
		}
	}
	for _, b := range cands {
		if s.stop() {
			return
		}
		if s.size[b] > budget || slices.Contains(set, int(b)) {
			continue
		}
		left := budget - s.size[b]
		if len(s.supp)-len(s.sig[b]) > s.reach[left/s.minSize] {
			continue // b leaves more non-zeros than the atoms that still fit can reach
		}
		next := append(set, int(b))
		s.add(int(b), false)
		switch {
		case len(s.supp) == 0:
			s.record(next)
		case left < s.minSize:
		case left < 2*s.minSize:
			s.grow(lo, next, left)
		default:
			// What grows from a set depends on the set only, not on the order its atoms
			// were added in: grow each once.
			s.key = append(s.key[:0], next...)
			slices.Sort(s.key)
			if k := intsKey(s.key); !s.explored[k] {
				s.explored[k] = true
				s.grow(lo, next, left)
			}
		}
		s.add(int(b), true)
	}
}

// term is the hash of one non-zero of a vector; a vector's hash is the sum of its terms.
// Values are residues modulo a prime near 2^61, as good as random; the column's key keeps
// equal values in different columns apart.
func (s *searcher) term(col int32, val uint64) uint64 {
	return (val ^ s.colKey[col]) * 0xbf58476d1ce4e5b9
}

// mix is the splitmix64 finaliser.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// denominators returns the denominators other than 1 in the rows of the small pivot atoms.
func denominators(b *basis, small []int) []*big.Int {
	var dens []*big.Int
	for _, a := range small {
		if r := b.pivotRow[a]; r >= 0 {
			for _, e := range b.rows[r] {
				if !e.val.isInt() {
					dens = append(dens, e.val.denom())
				}
			}
		}
	}
	return dens
}

// choosePrime returns the largest prime below below that divides none of dens.
func choosePrime(below uint64, dens []*big.Int) uint64 {
	p := new(big.Int).SetUint64(below - 2)
	var rem big.Int
	two := big.NewInt(2)
next:
	for ; ; p.Sub(p, two) {
		if !p.ProbablyPrime(20) {
			continue
		}
		for _, d := range dens {
			if rem.Mod(d, p).Sign() == 0 {
				continue next
			}
		}
		return p.Uint64()
	}
}

// ratMod returns x modulo p; x's denominator must not be a multiple of p.
func ratMod(x q, p uint64) uint64 {
	m := new(big.Int).SetUint64(p)
	n := new(big.Int).Mod(x.num(), m)
	if !x.isInt() {
		inv := new(big.Int).ModInverse(new(big.Int).Mod(x.denom(), m), m)
		n.Mul(n, inv).Mod(n, m)
	}
	return n.Uint64()
}
