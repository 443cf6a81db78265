package alert

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/store"
	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

// week builds the Stats of n items drawn around mean with spread sd, from people people, and
// enps answers (0..10) when given; items and answers are spread over as many of the people as
// they can be.
func week(rng *rand.Rand, n, people int, mean, sd float64, enps ...int) rollup.Stats {
	s := rollup.Stats{People: uint32(people), ScoredPeople: uint32(min(n, people)), ENPSPeople: uint32(min(len(enps), people))}
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

// TestEachMetricNeedsKPeopleOfItsOwn: a week of 12 people whose scores come from 4 of them, or
// whose eNPS answers do, shows neither number (the aggregates hide a part of fewer than k
// people), so it cannot fire on it either; nor do baseline weeks whose metric rests on fewer
// than k people count among the weeks the baseline needs.
func TestEachMetricNeedsKPeopleOfItsOwn(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	good := []int{10, 9, 9, 10, 8, 7, 9, 10, 6, 9, 10, 9}
	bad := []int{3, 5, 6, 9, 2, 6, 4, 7, 6, 5, 1, 8}
	var base []rollup.Stats
	for range BaselineWeeks {
		base = append(base, week(rng, 25, 12, 0.35, 0.3, good...))
	}
	cur := week(rng, 25, 12, -0.15, 0.3, bad...)
	metrics := func(drops []Drop) map[string]bool {
		m := map[string]bool{}
		for _, d := range drops {
			m[d.Metric] = true
		}
		return m
	}
	if got := metrics(Detect(base, cur, 5)); !got[MetricScore] || !got[MetricENPS] {
		t.Fatalf("with 12 people behind each metric: fired %v, want score and enps", got)
	}
	few := cur
	few.ScoredPeople, few.ENPSPeople = 4, 4
	if got := Detect(base, few, 5); got != nil {
		t.Errorf("scores and eNPS answers of 4 people (k=5) fired: %+v", got)
	}
	thin := make([]rollup.Stats, len(base))
	for i, b := range base {
		b.ENPSPeople = 4
		if i >= MinBaselineWeeks-1 {
			b.ScoredPeople = 4
		}
		thin[i] = b
	}
	if got := Detect(thin, cur, 5); got != nil {
		t.Errorf("baselines of %d weeks with k scored people and none with k eNPS people fired: %+v", MinBaselineWeeks-1, got)
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

// TestListWalksASubtreeNewestFirstByCursor: a listing covers the prefix and the segments under
// it on whole elements (not a sibling that shares its letters), newest first, and a page that
// starts after the last key returned neither repeats nor skips an alert when newer ones arrive.
func TestListWalksASubtreeNewestFirstByCursor(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "alerts.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := store.EnsureBuckets(db, Buckets()...); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 18, 12, 0, 0, 0, time.UTC)
	raise := func(id, seg string, at time.Time, dim commonv1.Dimension) {
		t.Helper()
		err := db.Update(func(tx *bolt.Tx) error {
			return UnsafeRaise(tx, &eventsv1.SentimentAlert{AlertId: id, Segment: seg, Dimension: dim, Metric: MetricScore, RaisedAt: timestamppb.New(at)})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	list := func(prefix string, after []byte, limit int) ([]string, bool) {
		t.Helper()
		var ids []string
		var more bool
		err := db.View(func(tx *bolt.Tx) error {
			as, m, err := List(tx, segment.MustParse(prefix), after, limit)
			for _, a := range as {
				ids = append(ids, a.AlertId)
			}
			more = m
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return ids, more
	}
	raise("b", "acme/eng", t0, 1)
	raise("a", "acme/eng/web", t0, 2) // same instant: by id
	raise("c", "acme/eng", t0.Add(-time.Hour), 3)
	raise("x", "acme/engineering", t0.Add(time.Hour), 1)
	raise("y", "acme", t0.Add(time.Hour), 1)

	if got, more := list("acme/eng", nil, 10); fmt.Sprint(got) != "[a b c]" || more {
		t.Fatalf("acme/eng lists %v (more %v), want [a b c] and no more", got, more)
	}
	first, more := list("acme/eng", nil, 1)
	if fmt.Sprint(first) != "[a]" || !more {
		t.Fatalf("first page %v (more %v), want [a] and more", first, more)
	}
	after := SortKey(&eventsv1.SentimentAlert{AlertId: "a", RaisedAt: timestamppb.New(t0)})
	raise("n", "acme/eng/web", t0.Add(time.Minute), 4) // newer than the page: before the cursor
	if got, more := list("acme/eng", after, 10); fmt.Sprint(got) != "[b c]" || more {
		t.Fatalf("after the first page and an insert: %v (more %v), want [b c]", got, more)
	}
	if !ValidSortKey(after) || ValidSortKey(after[:sortTimeSize]) {
		t.Fatal("ValidSortKey does not tell a key from a bare time")
	}
}
