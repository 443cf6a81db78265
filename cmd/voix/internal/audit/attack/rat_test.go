package attack

import (
	"math/big"
	"math/rand/v2"
	"testing"
)

// TestQ checks the rational arithmetic against math/big on small values, values near the
// int64 limit (which must overflow into big.Rat and come back) and large ones.
func TestQ(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	pick := func() *big.Rat {
		var n, d *big.Int
		switch rng.IntN(4) {
		case 0: // small
			n, d = big.NewInt(rng.Int64N(41)-20), big.NewInt(1+rng.Int64N(12))
		case 1: // around the limit
			n = big.NewInt(qLimit - rng.Int64N(1000))
			if rng.IntN(2) == 0 {
				n.Neg(n)
			}
			d = big.NewInt(1 + rng.Int64N(3))
		case 2: // a small numerator over a large denominator
			n, d = big.NewInt(rng.Int64N(7)-3), big.NewInt(qLimit-rng.Int64N(1000))
		default: // beyond int64
			n = new(big.Int).Lsh(big.NewInt(rng.Int64N(1000)-500), 70)
			d = new(big.Int).Lsh(big.NewInt(1+rng.Int64N(1000)), uint(rng.IntN(80)))
		}
		return new(big.Rat).SetFrac(n, d)
	}
	check := func(op string, got q, want *big.Rat) {
		t.Helper()
		if got.rat().Cmp(want) != 0 {
			t.Fatalf("%s = %v, want %v", op, got.rat(), want)
		}
		if got.b == nil && (got.d <= 0 || gcd(abs(got.n), got.d) != 1 && got.n != 0) {
			t.Fatalf("%s = %d/%d: not in lowest terms", op, got.n, got.d)
		}
		if got.b != nil && qFromRat(want).b == nil {
			t.Fatalf("%s = %v kept as big.Rat though it fits", op, want)
		}
		if got.sign() != want.Sign() || got.isInt() != want.IsInt() {
			t.Fatalf("%s = %v: sign %d, isInt %v", op, want, got.sign(), got.isInt())
		}
		if got.num().Cmp(want.Num()) != 0 || got.denom().Cmp(want.Denom()) != 0 {
			t.Fatalf("%s = %v: num %v denom %v", op, want, got.num(), got.denom())
		}
	}
	for range 20000 {
		x, y := pick(), pick()
		qx, qy := qFromRat(x), qFromRat(y)
		check("x+y", qAdd(qx, qy), new(big.Rat).Add(x, y))
		check("x-y", qSub(qx, qy), new(big.Rat).Sub(x, y))
		check("x*y", qMul(qx, qy), new(big.Rat).Mul(x, y))
		check("-x", qNeg(qx), new(big.Rat).Neg(x))
		if x.Sign() != 0 {
			check("1/x", qInv(qx), new(big.Rat).Inv(x))
		}
	}
	var zero q
	if !zero.isZero() || !zero.isInt() || zero.rat().Sign() != 0 {
		t.Errorf("zero value is not 0")
	}
	check("0+1/2", qAdd(zero, q{n: 1, d: 2}), big.NewRat(1, 2))
}
