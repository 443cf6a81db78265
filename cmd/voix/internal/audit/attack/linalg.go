package attack

import "slices"

// entry is one non-zero of a sparse rational vector.
type entry struct {
	col int
	val q
}

// sparse is a rational vector as its non-zeros, ascending by column.
type sparse []entry

// find returns the value at col, zero when absent.
func (s sparse) find(col int) q {
	i, ok := slices.BinarySearchFunc(s, col, func(e entry, c int) int { return e.col - c })
	if !ok {
		return q{}
	}
	return s[i].val
}

// acc accumulates a rational vector densely over n columns and hands it back sparse.
type acc struct {
	vals    []q
	set     []bool
	touched []int
}

func newAcc(n int) *acc {
	return &acc{vals: make([]q, n), set: make([]bool, n)}
}

func (a *acc) touch(col int) {
	if !a.set[col] {
		a.set[col] = true
		a.touched = append(a.touched, col)
	}
}

// addInt adds v at col.
func (a *acc) addInt(col int, v int64) {
	a.touch(col)
	a.vals[col] = qAdd(a.vals[col], qInt(v))
}

// sub subtracts s.
func (a *acc) sub(s sparse) {
	for _, e := range s {
		a.touch(e.col)
		a.vals[e.col] = qSub(a.vals[e.col], e.val)
	}
}

// add adds s.
func (a *acc) add(s sparse) {
	for _, e := range s {
		a.touch(e.col)
		a.vals[e.col] = qAdd(a.vals[e.col], e.val)
	}
}

// drain returns the accumulated vector and resets the accumulator to zero.
func (a *acc) drain() sparse {
	slices.Sort(a.touched)
	var out sparse
	for _, c := range a.touched {
		if !a.vals[c].isZero() {
			out = append(out, entry{c, a.vals[c]})
		}
		a.vals[c] = q{}
		a.set[c] = false
	}
	a.touched = a.touched[:0]
	return out
}

// isZero reports whether the accumulated vector is zero, and resets the accumulator.
func (a *acc) isZero() bool {
	zero := true
	for _, c := range a.touched {
		if !a.vals[c].isZero() {
			zero = false
		}
		a.vals[c] = q{}
		a.set[c] = false
	}
	a.touched = a.touched[:0]
	return zero
}

// basis keeps the span of the vectors inserted so far in reduced row echelon form: every row
// has a pivot column where it is 1 and every other row is 0. Each row also carries its
// expression as a combination of the inserted vectors, so that a vector found in the span
// can be written as a combination of what the reader was shown.
//
// Columns marked preferred are chosen as pivots before any other column. Because a row
// whose pivot is not preferred then never has a non-zero in a preferred column (an
// invariant insert keeps), the rows with other pivots span exactly the part of the span
// that is zero on every preferred column.
type basis struct {
	rows      []sparse
	combs     []sparse
	pivotRow  []int          // column -> row, or -1
	colRows   []map[int]bool // column -> rows with a non-zero there
	preferred []bool         // by column
	colAcc    *acc           // scratch over columns
	combAcc   *acc           // scratch over vector ids
}

func newBasis(cols, vectors int, preferred []bool) *basis {
	b := &basis{
		pivotRow:  make([]int, cols),
		colRows:   make([]map[int]bool, cols),
		preferred: preferred,
		colAcc:    newAcc(cols),
		combAcc:   newAcc(vectors),
	}
	for i := range b.pivotRow {
		b.pivotRow[i] = -1
	}
	return b
}

// insert adds the 0/1 vector with non-zeros at cols (ascending, distinct), which is vector
// id minus the vectors minus. It reports whether it was independent of those before it.
func (b *basis) insert(cols []int, id int, minus []int) bool {
	for _, c := range cols {
		b.colAcc.addInt(c, 1)
	}
	b.combAcc.addInt(id, 1)
	for _, u := range minus {
		b.combAcc.addInt(u, -1)
	}
	// Rows are fully reduced, so subtracting one leaves the other pivot columns of the
	// vector alone: each pivot column still holds its original 1.
	for _, c := range cols {
		if r := b.pivotRow[c]; r >= 0 {
			b.colAcc.sub(b.rows[r])
			b.combAcc.sub(b.combs[r])
		}
	}
	v := b.colAcc.drain()
	if len(v) == 0 {
		b.combAcc.isZero()
		return false
	}
	comb := b.combAcc.drain()

	// Pivot: a preferred column if there is one, then the column fewest rows use (least
	// fill when it is eliminated from them), then the lowest.
	p := -1
	for _, e := range v {
		if p < 0 || b.better(e.col, p) {
			p = e.col
		}
	}
	inv := qInv(v.find(p))
	scale(v, inv)
	scale(comb, inv)

	r := len(b.rows)
	users := make([]int, 0, len(b.colRows[p]))
	for t := range b.colRows[p] {
		users = append(users, t)
	}
	slices.Sort(users)
	for _, t := range users {
		f := b.rows[t].find(p)
		b.rows[t] = b.subScaled(t, b.rows[t], v, f, true)
		b.combs[t] = b.subScaled(t, b.combs[t], comb, f, false)
	}
	b.rows = append(b.rows, v)
	b.combs = append(b.combs, comb)
	b.pivotRow[p] = r
	for _, e := range v {
		b.addColRow(e.col, r)
	}
	return true
}

func (b *basis) better(c, than int) bool {
	if b.preferred[c] != b.preferred[than] {
		return b.preferred[c]
	}
	if len(b.colRows[c]) != len(b.colRows[than]) {
		return len(b.colRows[c]) < len(b.colRows[than])
	}
	return c < than
}

func (b *basis) addColRow(c, r int) {
	if b.colRows[c] == nil {
		b.colRows[c] = make(map[int]bool)
	}
	b.colRows[c][r] = true
}

// subScaled returns x - f*y for row t; when track is set it keeps colRows up to date.
func (b *basis) subScaled(t int, x, y sparse, f q, track bool) sparse {
	out := make(sparse, 0, len(x)+len(y))
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case j == len(y) || (i < len(x) && x[i].col < y[j].col):
			out = append(out, x[i])
			i++
		case i == len(x) || y[j].col < x[i].col:
			out = append(out, entry{y[j].col, qNeg(qMul(y[j].val, f))})
			if track {
				b.addColRow(y[j].col, t)
			}
			j++
		default:
			if v := qSub(x[i].val, qMul(y[j].val, f)); !v.isZero() {
				out = append(out, entry{x[i].col, v})
			} else if track {
				delete(b.colRows[x[i].col], t)
			}
			i++
			j++
		}
	}
	return out
}

func scale(s sparse, f q) {
	for i := range s {
		s[i].val = qMul(s[i].val, f)
	}
}
