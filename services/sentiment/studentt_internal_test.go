package sentiment

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// TestTQuantileMatchesTheTables: the 0.975 quantiles of Student's t printed in every textbook
// table (to the 3 decimals they give), and gonum's to 1e-9 from 1 to 100,000 degrees of
// freedom, tending to the normal 1.95996.
func TestTQuantileMatchesTheTables(t *testing.T) {
	table := map[float64]float64{1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 9: 2.262, 10: 2.228, 20: 2.086, 30: 2.042, 60: 2.000, 120: 1.980}
	for df, want := range table {
		if got := tQuantile975(df); math.Abs(got-want) > 5e-4 {
			t.Errorf("t(0.975, %g) = %.5f, want %.3f", df, got, want)
		}
	}
	for _, df := range []float64{1, 2, 3, 4, 5, 7, 11, 19, 29, 49, 99, 365, 999, 4999, 1e4, 1e5} {
		want := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Quantile(0.975)
		if got := tQuantile975(df); math.Abs(got-want) > 1e-9 {
			t.Errorf("t(0.975, %g) = %.12f, gonum says %.12f", df, got, want)
		}
	}
	if got := tQuantile975(1e7); math.Abs(got-1.959963984540054) > 1e-6 {
		t.Errorf("t(0.975, 1e7) = %.9f, want the normal 1.959964", got)
	}
	if got := tQuantile975(0); !math.IsNaN(got) {
		t.Errorf("t(0.975, 0) = %g, want NaN: no degrees of freedom", got)
	}
}
