package alert

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

// week builds the Stats of n items drawn around mean with spread sd, from people people, and
// enps answers (0..10) when given.
func week(rng *rand.Rand, n, people int, mean, sd float64, enps ...int) rollup.Stats {
	s := rollup.Stats{People: uint32(people)}
	for range n {
		x := math.Max(-1, math.Min(1, mean+sd*rng.NormFloat64()))
		s.Count++
		s.MicroSum += int64(math.Round(x * 1e6))
		s.MicroSquares += int64(math.Round(x * x * 1e6))
	}
	for _, a := range enps {
		switch {
		case a >= 9:
			s.Promoters++
		case a >= 7:
			s.Passives++
		default:
			s.Detractors++
		}
	}
	return s
}

func TestARealDropFires(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var base []rollup.Stats
	for range BaselineWeeks {
		base = append(base, week(rng, 25, 12, 0.35, 0.3))
	}
	drops := Detect(base, week(rng, 25, 12, -0.15, 0.3), 5)
	if len(drops) != 1 || drops[0].Metric != MetricScore || drops[0].Baseline-drops[0].Observed < MinScoreDrop || drops[0].Z < MinZ {
		t.Fatalf("Detect = %+v, want one score drop of at least %.2f with z >= %.2f", drops, MinScoreDrop, MinZ)
	}
}

func TestENPSDropFires(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	good := []int{10, 9, 9, 10, 8, 7, 9, 10, 6, 9, 10, 9}
	bad := []int{3, 5, 6, 9, 2, 6, 4, 7, 6, 5, 1, 8}
	var base []rollup.Stats
	for range 5 {
		base = append(base, week(rng, 0, 12, 0, 0, good...))
	}
	drops := Detect(base, week(rng, 0, 12, 0, 0, bad...), 5)
	if len(drops) != 1 || drops[0].Metric != MetricENPS || drops[0].Baseline-drops[0].Observed < MinENPSDrop {
		t.Fatalf("Detect = %+v, want one eNPS drop", drops)
	}
}

func TestNoiseAndSmallGroupsDoNotFire(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	fired := 0
	const trials = 2000
	for range trials {
		var base []rollup.Stats
		for range BaselineWeeks {
			base = append(base, week(rng, 5+rng.IntN(30), 6+rng.IntN(10), 0.2, 0.5))
		}
		// Same distribution, small to medium n: only noise.
		if len(Detect(base, week(rng, 3+rng.IntN(15), 5+rng.IntN(5), 0.2, 0.5), 5)) > 0 {
			fired++
		}
	}
	// One-sided p < 0.01 plus a minimum drop: well under 1% of pure-noise weeks may fire.
	if fired > trials/100 {
		t.Fatalf("%d of %d noise weeks fired", fired, trials)
	}
	t.Logf("noise weeks that fired: %d of %d", fired, trials)

	var base []rollup.Stats
	for range BaselineWeeks {
		base = append(base, week(rng, 25, 12, 0.5, 0.1))
	}
	if d := Detect(base, week(rng, 30, 4, -0.9, 0.05), 5); d != nil {
		t.Fatalf("a group of 4 people (k=5) fired: %+v", d)
	}
	if d := Detect(base, week(rng, 6, 6, -0.9, 0.05), 5); d != nil {
		t.Fatalf("a week of 6 items (< %d) fired: %+v", MinItems, d)
	}
	if d := Detect(base[:MinBaselineWeeks-1], week(rng, 30, 12, -0.9, 0.05), 5); d != nil {
		t.Fatalf("a baseline of %d weeks fired: %+v", MinBaselineWeeks-1, d)
	}
}
