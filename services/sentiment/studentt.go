package sentiment

import "math"

// tQuantile975 is the 0.975 quantile of Student's t with df degrees of freedom (df > 0): the
// half-width, in standard errors, of a two-sided 95% interval of a mean of df+1 items.
// 12.706 at df = 1, 2.776 at df = 4, 1.960 in the limit.
//
// It solves P(|T| < t) = 0.95 by bisection on t, with P(|T| < t) = 1 - I_x(df/2, 1/2) and
// x = df/(df+t²), I the regularized incomplete beta function. Computed here rather than with a
// statistics library so that the service's dependencies stay what every module of the
// workspace already builds with (studentt_internal_test.go checks it against gonum).
func tQuantile975(df float64) float64 {
	if !(df > 0) {
		return math.NaN()
	}
	// Two-sided tail beyond t, decreasing in t.
	tail := func(t float64) float64 { return regIncBeta(df/2, 0.5, df/(df+t*t)) }
	lo, hi := 0.0, 1.0
	for tail(hi) > 0.05 { // 12.7 at df = 1, the widest: a few doublings at most
		lo, hi = hi, 2*hi
	}
	for range 200 {
		mid := (lo + hi) / 2
		if mid == lo || mid == hi {
			break
		}
		if tail(mid) > 0.05 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// regIncBeta is the regularized incomplete beta function I_x(a, b), for a, b > 0 and x in
// [0, 1], by its continued fraction (Numerical Recipes, 6.4), which converges quickly on the
// side of x it is used on.
func regIncBeta(a, b, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(lab - la - lb + a*math.Log(x) + b*math.Log1p(-x))
	if x < (a+1)/(a+b+2) {
		return front * betaFraction(a, b, x) / a
	}
	return 1 - front*betaFraction(b, a, 1-x)/b
}

// betaFraction evaluates the continued fraction of the incomplete beta function by the
// modified Lentz method.
func betaFraction(a, b, x float64) float64 {
	const (
		tiny    = 1e-300
		eps     = 1e-15
		maxIter = 100_000 // about sqrt(max(a, b)) are needed
	)
	clamp := func(v float64) float64 {
		if math.Abs(v) < tiny {
			return tiny
		}
		return v
	}
	c, d := 1.0, 1/clamp(1-(a+b)*x/(a+1))
	h := d
	for m := 1.0; m <= maxIter; m++ {
		// Even step.
		num := m * (b - m) * x / ((a + 2*m - 1) * (a + 2*m))
		d = 1 / clamp(1+num*d)
		c = clamp(1 + num/c)
		h *= d * c
		// Odd step.
		num = -(a + m) * (a + b + m) * x / ((a + 2*m) * (a + 2*m + 1))
		d = 1 / clamp(1+num*d)
		c = clamp(1 + num/c)
		step := d * c
		h *= step
		if math.Abs(step-1) < eps {
			break
		}
	}
	return h
}
