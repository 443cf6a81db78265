package attack

import (
	"fmt"
	"math/big"
	"math/bits"
	"slices"
	"testing"
)

// span is an independent, dense, exact check of span membership over people: the reduced
// row echelon form of the observations' indicator vectors.
type span struct {
	n      int
	rows   [][]big.Rat
	pivots []int
}

func newSpan(n int, sets [][]int) *span {
	s := &span{n: n}
	for _, set := range sets {
		v := make([]big.Rat, n)
		for _, p := range set {
			v[p].SetInt64(1)
		}
		s.add(v)
	}
	return s
}

// reduce reduces v against the rows in place.
func (s *span) reduce(v []big.Rat) {
	var t big.Rat
	for i, row := range s.rows {
		c := s.pivots[i]
		if v[c].Sign() == 0 {
			continue
		}
		f := new(big.Rat).Set(&v[c])
		for j := range v {
			if row[j].Sign() != 0 {
				t.Mul(f, &row[j])
				v[j].Sub(&v[j], &t)
			}
		}
	}
}

func (s *span) add(v []big.Rat) {
	s.reduce(v)
	c := slices.IndexFunc(v, func(x big.Rat) bool { return x.Sign() != 0 })
	if c < 0 {
		return
	}
	inv := new(big.Rat).Inv(&v[c])
	for j := range v {
		v[j].Mul(&v[j], inv)
	}
	var t big.Rat
	for _, row := range s.rows {
		if row[c].Sign() == 0 {
			continue
		}
		f := new(big.Rat).Set(&row[c])
		for j := range row {
			t.Mul(f, &v[j])
			row[j].Sub(&row[j], &t)
		}
	}
	s.rows = append(s.rows, v)
	s.pivots = append(s.pivots, c)
}

func (s *span) contains(set []int) bool {
	v := make([]big.Rat, s.n)
	for _, p := range set {
		v[p].SetInt64(1)
	}
	s.reduce(v)
	return !slices.ContainsFunc(v, func(x big.Rat) bool { return x.Sign() != 0 })
}

// maskSet returns the people in mask.
func maskSet(mask uint64) []int {
	var set []int
	for ; mask != 0; mask &= mask - 1 {
		set = append(set, bits.TrailingZeros64(mask))
	}
	return set
}

func setMask(set []int) uint64 {
	var m uint64
	for _, p := range set {
		m |= 1 << p
	}
	return m
}

// checkWitness fails t unless r's terms add up to exactly r's people.
func checkWitness(t *testing.T, obs []Observation, r Reconstruction) {
	t.Helper()
	if r.Kind == KindElimination {
		return
	}
	if len(r.People) == 0 {
		t.Errorf("%v: no people", r)
		return
	}
	sum := make(map[int]*big.Rat)
	for _, term := range r.Terms {
		if term.Coef.Sign() == 0 {
			t.Errorf("%v: zero coefficient", r)
		}
		if term.Index < 0 || term.Index >= len(obs) {
			t.Errorf("%v: term index %d out of range", r, term.Index)
			continue
		}
		o := obs[term.Index]
		if o.Query != term.Query || o.Measure != r.Measure {
			t.Errorf("%v: term %d is %q of measure %q, want %q of %q", r, term.Index, term.Query, r.Measure, o.Query, o.Measure)
		}
		seen := make(map[int]bool)
		for _, p := range o.People {
			if seen[p] {
				continue
			}
			seen[p] = true
			if sum[p] == nil {
				sum[p] = new(big.Rat)
			}
			sum[p].Add(sum[p], term.Coef)
		}
	}
	want := make(map[int]bool)
	for _, p := range r.People {
		want[p] = true
	}
	for p, v := range sum {
		w := big.NewRat(0, 1)
		if want[p] {
			w.SetInt64(1)
		}
		if v.Cmp(w) != 0 {
			t.Errorf("%v: witness gives person %d weight %v, want %v", r, p, v.RatString(), w.RatString())
		}
	}
	for p := range want {
		if sum[p] == nil {
			t.Errorf("%v: witness does not cover person %d", r, p)
		}
	}
	if len(r.Queries) != len(r.Terms) {
		t.Errorf("%v: %d queries for %d terms", r, len(r.Queries), len(r.Terms))
	}
}

// peopleSets returns the reconstructions' people sets as strings, sorted, for comparisons.
func peopleSets(rs []Reconstruction, kind string) []string {
	var out []string
	for _, r := range rs {
		if kind == "" || r.Kind == kind {
			out = append(out, fmt.Sprint(r.People))
		}
	}
	slices.Sort(out)
	return out
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func union(sets ...[]int) []int {
	var out []int
	for _, s := range sets {
		out = append(out, s...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
