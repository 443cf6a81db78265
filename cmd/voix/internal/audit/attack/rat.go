package attack

import (
	"math/big"
	"math/bits"
)

// q is an exact rational number. Elimination over the observations' 0/1 vectors meets
// mostly small integers and halves, for which math/big's allocations and GCDs would cost
// far more than the arithmetic: q keeps n/d in two int64s, in lowest terms with d > 0,
// while both stay within ±qLimit, and holds a *big.Rat (b != nil) otherwise. Operations
// never overflow: a result that does not fit is computed with math/big, and demoted back
// to int64s when it fits again. The zero value is 0.
type q struct {
	n, d int64
	b    *big.Rat
}

// qLimit bounds the int64 form, so that a sum of two such numbers, or a negation, cannot
// overflow.
const qLimit = 1<<62 - 1

func qInt(v int64) q { return q{n: v, d: 1} }

func qFromRat(r *big.Rat) q {
	if r.Num().IsInt64() && r.Denom().IsInt64() {
		n, d := r.Num().Int64(), r.Denom().Int64()
		if -qLimit <= n && n <= qLimit && d <= qLimit {
			return q{n: n, d: d}
		}
	}
	return q{b: new(big.Rat).Set(r)}
}

// rat returns x as a new big.Rat.
func (x q) rat() *big.Rat {
	if x.b != nil {
		return new(big.Rat).Set(x.b)
	}
	return big.NewRat(x.n, x.den())
}

// den is the denominator, reading the zero value's 0 as 1.
func (x q) den() int64 {
	if x.d == 0 {
		return 1
	}
	return x.d
}

func (x q) sign() int {
	if x.b != nil {
		return x.b.Sign()
	}
	switch {
	case x.n > 0:
		return 1
	case x.n < 0:
		return -1
	}
	return 0
}

func (x q) isZero() bool { return x.sign() == 0 }

func (x q) isInt() bool {
	if x.b != nil {
		return x.b.IsInt()
	}
	return x.den() == 1
}

// num and denom return the numerator and denominator as big.Ints.
func (x q) num() *big.Int {
	if x.b != nil {
		return new(big.Int).Set(x.b.Num())
	}
	return big.NewInt(x.n)
}

func (x q) denom() *big.Int {
	if x.b != nil {
		return new(big.Int).Set(x.b.Denom())
	}
	return big.NewInt(x.den())
}

func qNeg(x q) q {
	if x.b != nil {
		return q{b: new(big.Rat).Neg(x.b)}
	}
	return q{n: -x.n, d: x.den()}
}

func qAdd(x, y q) q {
	if x.b == nil && y.b == nil {
		xd, yd := x.den(), y.den()
		if xd == 1 && yd == 1 {
			if s := x.n + y.n; -qLimit <= s && s <= qLimit {
				return q{n: s, d: 1}
			}
		} else if a, ok := mul62(x.n, yd); ok {
			if b, ok := mul62(y.n, xd); ok {
				if d, ok := mul62(xd, yd); ok {
					if s := a + b; -qLimit <= s && s <= qLimit {
						return reduced(s, d)
					}
				}
			}
		}
	}
	return qFromRat(new(big.Rat).Add(x.rat(), y.rat()))
}

func qSub(x, y q) q { return qAdd(x, qNeg(y)) }

func qMul(x, y q) q {
	if x.b == nil && y.b == nil {
		xd, yd := x.den(), y.den()
		if x.n == 0 || y.n == 0 {
			return q{d: 1}
		}
		// Cross-cancel first: the product is then in lowest terms.
		g1, g2 := gcd(abs(x.n), yd), gcd(abs(y.n), xd)
		if n, ok := mul62(x.n/g1, y.n/g2); ok {
			if d, ok := mul62(xd/g2, yd/g1); ok {
				return q{n: n, d: d}
			}
		}
	}
	return qFromRat(new(big.Rat).Mul(x.rat(), y.rat()))
}

// qInv returns 1/x; x must not be zero.
func qInv(x q) q {
	if x.b != nil {
		return qFromRat(new(big.Rat).Inv(x.b))
	}
	if x.n < 0 {
		return q{n: -x.den(), d: -x.n}
	}
	return q{n: x.den(), d: x.n}
}

// reduced returns n/d in lowest terms; d > 0.
func reduced(n, d int64) q {
	if n == 0 {
		return q{d: 1}
	}
	if g := gcd(abs(n), d); g != 1 {
		n, d = n/g, d/g
	}
	return q{n: n, d: d}
}

// mul62 returns a*b when its magnitude is at most qLimit.
func mul62(a, b int64) (int64, bool) {
	hi, lo := bits.Mul64(uint64(abs(a)), uint64(abs(b)))
	if hi != 0 || lo > qLimit {
		return 0, false
	}
	p := int64(lo)
	if (a < 0) != (b < 0) {
		p = -p
	}
	return p, true
}

func abs(a int64) int64 {
	if a < 0 {
		return -a
	}
	return a
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
