package attack

import (
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
)

// TestDifferencingTree: segments of a tree, some suppressed. A reader who sees a parent and
// every child but one gets the hidden child as the parent minus the others, with the signs
// to prove it; complementary suppression (a second sibling hidden so that the hidden ones
// add up to k) hides them, until a filter cuts across it. Where the observations are
// independent the witness is unique and checked term by term.
func TestDifferencingTree(t *testing.T) {
	const k = 5
	// acme = eng + sales
	// eng = platform (10) + data (8) + infra (3) + sre (6) + ml (6)
	// sales = emea (12) + us (8) + apac (3) + latam (7)
	platform, data, infra, sre, ml := seq(0, 10), seq(10, 18), seq(18, 21), seq(21, 27), seq(27, 33)
	emea, us, apac, latam := seq(33, 45), seq(45, 53), seq(53, 56), seq(56, 63)
	eng, sales := union(platform, data, infra, sre, ml), union(emea, us, apac, latam)
	acme := union(eng, sales)
	ob := func(q string, people []int) Observation { return Observation{Query: q, People: people} }

	type want struct {
		people []int
		terms  []string // "+1 × q" in observation order; nil when not unique
	}
	cases := []struct {
		name string
		obs  []Observation
		want []want
	}{{
		name: "parent and all children but one",
		obs:  []Observation{ob("sales", sales), ob("emea", emea), ob("us", us), ob("latam", latam)},
		want: []want{{apac, []string{"+1 × sales", "-1 × emea", "-1 × us", "-1 × latam"}}},
	}, {
		name: "hidden child two levels down",
		obs: []Observation{
			ob("acme", acme), ob("sales", sales),
			ob("platform", platform), ob("data", data), ob("sre", sre), ob("ml", ml),
		},
		want: []want{{infra, []string{"+1 × acme", "-1 × sales", "-1 × platform", "-1 × data", "-1 × sre", "-1 × ml"}}},
	}, {
		name: "hidden children found through redundant views",
		obs: []Observation{
			ob("acme", acme), ob("eng", eng), ob("sales", sales),
			ob("platform", platform), ob("data", data), ob("sre", sre), ob("ml", ml),
			ob("emea", emea), ob("us", us), ob("latam", latam),
		},
		want: []want{{infra, nil}, {apac, nil}},
	}, {
		name: "complementary suppression",
		obs: []Observation{
			ob("acme", acme), ob("eng", eng), ob("sales", sales),
			ob("platform", platform), ob("data", data), ob("sre", sre), // infra+ml hidden: 9
			ob("emea", emea), ob("us", us), // apac+latam hidden: 10
		},
	}, {
		name: "complementary suppression repeated over weeks",
		obs: []Observation{
			ob("acme w1", acme), ob("eng w1", eng), ob("platform w1", platform), ob("data w1", data), ob("sre w1", sre),
			ob("acme w2", acme), ob("eng w2", eng), ob("platform w2", platform), ob("data w2", data), ob("sre w2", sre),
			ob("sales w2", sales), ob("emea w2", emea), ob("us w2", us),
		},
	}, {
		name: "complementary suppression undone by a filter",
		obs: []Observation{
			ob("eng", eng), ob("sales", sales),
			ob("platform", platform), ob("data", data), ob("sre", sre),
			ob("emea", emea), ob("us", us),
			// "tenure<1y" inside eng: everyone but infra
			ob("eng tenure<1y", union(platform, data, sre, ml)),
		},
		want: []want{{infra, []string{"+1 × eng", "-1 × eng tenure<1y"}}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Differencing(c.obs, k)
			for _, r := range got {
				checkWitness(t, c.obs, r)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d reconstructions, want %d:\n%v", len(got), len(c.want), got)
			}
			for i, w := range c.want {
				r := got[i]
				if r.Kind != KindDifferencing || !slices.Equal(r.People, w.people) {
					t.Errorf("reconstruction %d = %v, want differencing of %v", i, r, w.people)
				}
				if w.terms != nil && !slices.Equal(r.Queries, w.terms) {
					t.Errorf("reconstruction %d queries = %q, want %q", i, r.Queries, w.terms)
				}
			}
		})
	}
}

// TestDifferencingReleasesOverTime: the same group's results before and after a few people
// joined isolate the joiners.
func TestDifferencingReleasesOverTime(t *testing.T) {
	const k = 5
	before := seq(0, 20)
	after := union(before, []int{31, 27, 40})
	obs := []Observation{
		{Query: "GetResults wave=q3 acme/eng day=1 (count)", People: before},
		{Query: "GetResults wave=q3 acme/eng day=1 (sum)", People: slices.Clone(before)},
		{Query: "GetResults wave=q3 acme/eng day=2 (count)", People: after},
		{Query: "GetResults wave=q3 acme/eng day=2 (sum)", People: after},
	}
	got := Differencing(obs, k)
	if len(got) != 1 {
		t.Fatalf("got %v, want one reconstruction", got)
	}
	r := got[0]
	checkWitness(t, obs, r)
	if r.Kind != KindDifferencing || !slices.Equal(r.People, []int{27, 31, 40}) {
		t.Errorf("got %v, want the joiners 27, 31, 40 by differencing", r)
	}
	// Identical vectors are merged; the witness cites the first query of each.
	want := []string{"-1 × " + obs[0].Query, "+1 × " + obs[2].Query}
	if !slices.Equal(r.Queries, want) {
		t.Errorf("queries = %q, want %q", r.Queries, want)
	}

	// Once k people have joined, the difference is a group of k: nothing isolated.
	later := union(after, []int{50, 51})
	obs = append(obs, Observation{Query: "day=3", People: later})
	obs = obs[2:] // forget day 1: days 2 and 3 differ by two people
	if got := Differencing(obs, k); len(got) != 1 || !slices.Equal(got[0].People, []int{50, 51}) {
		t.Errorf("days 2 and 3: got %v, want the two late joiners", got)
	}
	obs = []Observation{{Query: "day=1", People: before}, {Query: "day=3", People: later}}
	if got := Differencing(obs, k); len(got) != 0 {
		t.Errorf("days 1 and 3 differ by 5 people: got %v, want nothing", got)
	}
}

// TestDifferencingRationalWitness: some groups are isolated only by halves.
func TestDifferencingRationalWitness(t *testing.T) {
	a, b, c := seq(0, 3), seq(3, 6), seq(6, 9)
	obs := []Observation{
		{Query: "a+b", People: union(a, b)},
		{Query: "b+c", People: union(b, c)},
		{Query: "a+c", People: union(a, c)},
	}
	got := Differencing(obs, 5)
	if want := []string{fmt.Sprint(a), fmt.Sprint(b), fmt.Sprint(c)}; !slices.Equal(peopleSets(got, KindDifferencing), want) || len(got) != 3 {
		t.Fatalf("got %v, want a, b and c", got)
	}
	for _, r := range got {
		checkWitness(t, obs, r)
	}
	if want := []string{"+1/2 × a+b", "-1/2 × b+c", "+1/2 × a+c"}; !slices.Equal(got[0].Queries, want) {
		t.Errorf("a: queries %q, want %q", got[0].Queries, want)
	}
	if !strings.Contains(got[0].String(), "differencing: 3 people [0 1 2]\n  +1/2 × a+b") {
		t.Errorf("String() = %q", got[0].String())
	}
}

// TestDifferencingAtoms: people who always appear together are isolated together or not at
// all, depending on the group's size.
func TestDifferencingAtoms(t *testing.T) {
	obs := []Observation{
		{Query: "all", People: seq(0, 10)},
		{Query: "most", People: seq(0, 7)},
	}
	for k, want := range map[int][]string{3: nil, 4: {"[7 8 9]"}, 5: {"[7 8 9]"}} {
		var st Stats
		got := Differencing(obs, k, WithStats(&st))
		if !slices.Equal(peopleSets(got, ""), want) {
			t.Errorf("k=%d: got %v, want %v", k, got, want)
		}
		if st.Atoms != 2 || st.People != 10 || st.Vectors != 2 || st.Rank != 2 {
			t.Errorf("k=%d: stats %+v, want 2 atoms of 10 people, 2 vectors of rank 2", k, st)
		}
	}
}

// TestDifferencingDirect: a shown group below k is reported once, as shown, whatever order
// or repeats its people come in; differencing does not report it again.
func TestDifferencingDirect(t *testing.T) {
	obs := []Observation{
		{Query: "big", People: seq(0, 12)},
		{Query: "small", People: []int{4, 2, 3, 2}},
		{Query: "small again", People: []int{2, 3, 4}},
		{Query: "rest", People: seq(5, 12)},
		{Query: "empty", People: nil},
	}
	got := Differencing(obs, 5)
	if len(got) != 2 {
		t.Fatalf("got %v, want the small group directly and 0,1 by differencing", got)
	}
	for _, r := range got {
		checkWitness(t, obs, r)
	}
	if r := got[0]; r.Kind != KindDirect || !slices.Equal(r.People, []int{2, 3, 4}) || !slices.Equal(r.Queries, []string{"small"}) {
		t.Errorf("got %v, want direct [2 3 4] by query small", r)
	}
	if r := got[1]; r.Kind != KindDifferencing || !slices.Equal(r.People, []int{0, 1}) {
		t.Errorf("got %v, want differencing [0 1]", r)
	}
	if got := Differencing(obs, 1); got != nil {
		t.Errorf("k=1: got %v, want nothing", got)
	}
}

// TestDifferencingMeasures: numbers of different quantities are not combined.
func TestDifferencingMeasures(t *testing.T) {
	obs := []Observation{
		{Query: "eng WORKLOAD w48", Measure: "WORKLOAD w48", People: seq(0, 20)},
		{Query: "eng WORKLOAD w49", Measure: "WORKLOAD w49", People: seq(0, 22)},
		{Query: "eng STRESS w49", Measure: "STRESS w49", People: seq(0, 20)},
	}
	if got := Differencing(obs, 5); len(got) != 0 {
		t.Errorf("got %v, want nothing across measures", got)
	}
	obs = append(obs, Observation{Query: "eng STRESS w49 tenure>1y", Measure: "STRESS w49", People: seq(3, 20)})
	var st Stats
	got := Differencing(obs, 5, WithStats(&st))
	if len(got) != 1 || got[0].Measure != "STRESS w49" || !slices.Equal(got[0].People, []int{0, 1, 2}) {
		t.Fatalf("got %v, want [0 1 2] within STRESS w49", got)
	}
	checkWitness(t, obs, got[0])
	if st.Measures != 3 || st.Observations != 4 {
		t.Errorf("stats %+v, want 3 measures, 4 observations", st)
	}
}

// TestDifferencingMaxSearchNodes: a bounded search says when it stopped early.
func TestDifferencingMaxSearchNodes(t *testing.T) {
	var obs []Observation
	for w := range 6 {
		var s []int
		for p := range 12 {
			if (p*7+w*5)%3 != 0 {
				s = append(s, p)
			}
		}
		obs = append(obs, Observation{Query: fmt.Sprint("w", w), People: s})
	}
	var full, cut Stats
	all := Differencing(obs, 5, WithStats(&full))
	Differencing(obs, 5, MaxSearchNodes(2), WithStats(&cut))
	if full.Truncated || !cut.Truncated || full.SearchNodes <= 2 {
		t.Errorf("unbounded %+v, bounded %+v: want only the bounded one truncated", full, cut)
	}
	if len(all) == 0 {
		t.Errorf("want some reconstruction from rotating respondents")
	}
}

func TestDifferencingNegativeID(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), `"bad"`) {
			t.Errorf("recover() = %v, want a panic naming the query", r)
		}
	}()
	Differencing([]Observation{{Query: "bad", People: []int{1, -1}}}, 5)
}

// TestPrimes: the moduli the search uses are primes that avoid the given denominators.
func TestPrimes(t *testing.T) {
	p := choosePrime(1<<61+1, nil)
	if p != 1<<61-1 {
		t.Errorf("first prime %d, want 2^61-1", p)
	}
	p2 := choosePrime(p, []*big.Int{big.NewInt(6), new(big.Int).SetUint64(p)})
	if p2 >= p || !new(big.Int).SetUint64(p2).ProbablyPrime(20) {
		t.Errorf("next prime %d after %d", p2, p)
	}
	avoid := new(big.Int).Mul(new(big.Int).SetUint64(p2), big.NewInt(3))
	if r := choosePrime(p, []*big.Int{avoid}); r == p2 {
		t.Errorf("choosePrime returned %d, which divides a denominator", r)
	}
	v := ratMod(q{n: -3, d: 7}, p2)
	// 7v ≡ -3 (mod q)
	lhs := new(big.Int).Mul(big.NewInt(7), new(big.Int).SetUint64(v))
	lhs.Add(lhs, big.NewInt(3)).Mod(lhs, new(big.Int).SetUint64(p2))
	if lhs.Sign() != 0 {
		t.Errorf("ratMod(-3/7, %d) = %d, not -3/7", p2, v)
	}
}

// TestDifferencingSparseIDs: ids need not be dense; results name the ids given.
func TestDifferencingSparseIDs(t *testing.T) {
	id := func(i int) int { return 1_000_000_007 * (i + 1) }
	ids := func(from, to int) []int {
		var out []int
		for i := from; i < to; i++ {
			out = append(out, id(i))
		}
		return out
	}
	obs := []Observation{
		{Query: "eng", People: ids(0, 20)},
		{Query: "platform", People: ids(0, 9)},
		{Query: "data", People: ids(9, 17)},
	}
	got := Differencing(obs, 5)
	if len(got) != 1 || !slices.Equal(got[0].People, ids(17, 20)) {
		t.Fatalf("got %v, want %v", got, ids(17, 20))
	}
	checkWitness(t, obs, got[0])
}

// TestDifferencingOwners: with units (a person's items of one day), a group is counted in
// people: six units of one person are a group of one, five units of five people are not a
// group.
func TestDifferencingOwners(t *testing.T) {
	const days = 6
	unit := func(person, day int) int { return person*days + day }
	var owners []int
	for u := range 7 * days {
		owners = append(owners, u/days)
	}
	units := func(people []int, ds []int) []int {
		var out []int
		for _, p := range people {
			for _, d := range ds {
				out = append(out, unit(p, d))
			}
		}
		return out
	}
	all := seq(0, days)
	obs := []Observation{
		{Query: "team week", People: units(seq(0, 6), all)},
		{Query: "team week location=berlin", People: units(seq(1, 6), all)}, // everyone but person 0
	}
	for d := range days - 1 { // the last day hidden
		obs = append(obs, Observation{Query: fmt.Sprint("team day ", d), People: units(seq(0, 6), []int{d})})
	}
	// Person 6 answered once, on day 5, in a view of five people.
	obs = append(obs, Observation{Query: "late answers", People: []int{unit(1, 5), unit(2, 5), unit(3, 5), unit(4, 5), unit(6, 5)}})

	got := Differencing(obs, 5, WithOwners(owners))
	if len(got) != 1 {
		t.Fatalf("got %v, want person 0's week", got)
	}
	r := got[0]
	checkWitness(t, obs, r)
	if r.Kind != KindDifferencing || !slices.Equal(r.People, units([]int{0}, all)) || !slices.Equal(r.Owners, []int{0}) {
		t.Errorf("got %v, want person 0's six units", r)
	}
	if want := []string{"+1 × team week", "-1 × team week location=berlin"}; !slices.Equal(r.Queries, want) {
		t.Errorf("queries %q, want %q", r.Queries, want)
	}
	if want := "differencing: 1 person [0] by units [0 1 2 3 4 5]"; !strings.HasPrefix(r.String(), want) {
		t.Errorf("String() = %q, want it to start %q", r.String(), want)
	}

	// Counted as people, the six units are six: nothing to report.
	if got := Differencing(obs, 5); len(got) != 0 {
		t.Errorf("without owners: got %v, want nothing", got)
	}
	// A view of fewer than k owners is shown directly, however many units; and berlin
	// minus it is three people.
	obs = append(obs, Observation{Query: "team week tenure<1y", People: units([]int{2, 3}, all)})
	got = Differencing(obs, 5, WithOwners(owners))
	if len(got) != 3 || got[0].Kind != KindDirect || !slices.Equal(got[0].Owners, []int{2, 3}) || len(got[0].People) != 2*days ||
		!slices.Equal(got[1].Owners, []int{0}) || !slices.Equal(got[2].Owners, []int{1, 4, 5}) {
		t.Errorf("got %v, want the tenure view directly, then person 0, then people 1, 4, 5", got)
	}
	for _, r := range got {
		checkWitness(t, obs, r)
	}

	defer func() {
		if recover() == nil {
			t.Errorf("a unit without an owner does not panic")
		}
	}()
	Differencing([]Observation{{Query: "q", People: []int{len(owners)}}}, 5, WithOwners(owners))
}
