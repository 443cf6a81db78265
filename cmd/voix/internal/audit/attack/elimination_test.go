package attack

import (
	"slices"
	"testing"
)

func TestElimination(t *testing.T) {
	const k = 10 // the comment threshold
	type want struct {
		comment string
		people  []int
		queries []string
	}
	cases := []struct {
		name string
		pl   []Placement
		want []want
	}{{
		name: "shown under a segment of fewer than k",
		pl:   []Placement{{Query: "eng", Comment: "c1", Candidates: seq(0, 9)}},
		want: []want{{"c1", seq(0, 9), []string{"eng"}}},
	}, {
		name: "shown under a segment of k",
		pl:   []Placement{{Query: "eng", Comment: "c1", Candidates: seq(0, 10)}},
	}, {
		name: "one candidate",
		pl:   []Placement{{Query: "eng minus named teams", Comment: "c1", Candidates: []int{7}}},
		want: []want{{"c1", []int{7}, []string{"eng minus named teams"}}},
	}, {
		name: "repeats in candidates do not count",
		pl:   []Placement{{Query: "eng", Comment: "c1", Candidates: append(seq(0, 9), 3, 3, 3)}},
		want: []want{{"c1", seq(0, 9), []string{"eng"}}},
	}, {
		name: "intersection across filters",
		pl: []Placement{
			{Query: "acme", Comment: "c1", Candidates: seq(0, 40)},
			{Query: "acme tenure<1y", Comment: "c1", Candidates: seq(20, 35)},
			{Query: "acme location=berlin", Comment: "c1", Candidates: union(seq(0, 5), seq(30, 60))},
			{Query: "acme role=ic", Comment: "c1", Candidates: seq(0, 60)}, // narrows nothing
		},
		want: []want{{"c1", seq(30, 35), []string{"acme tenure<1y", "acme location=berlin"}}},
	}, {
		name: "intersection still at least k",
		pl: []Placement{
			{Query: "acme", Comment: "c1", Candidates: seq(0, 40)},
			{Query: "acme tenure<1y", Comment: "c1", Candidates: seq(20, 60)},
		},
	}, {
		name: "comments are not mixed",
		pl: []Placement{
			{Query: "acme tenure<1y", Comment: "c1", Candidates: seq(0, 12)},
			{Query: "acme location=berlin", Comment: "c2", Candidates: seq(6, 20)},
			{Query: "acme", Comment: "c3", Candidates: seq(0, 40)},
			{Query: "acme role=ic", Comment: "c3", Candidates: seq(35, 50)},
		},
		want: []want{{"c3", seq(35, 40), []string{"acme role=ic", "acme"}}},
	}, {
		name: "contradicting placements are not a reconstruction",
		pl: []Placement{
			{Query: "eng", Comment: "c1", Candidates: seq(0, 20)},
			{Query: "sales", Comment: "c1", Candidates: seq(20, 40)},
			{Query: "nowhere", Comment: "c2", Candidates: nil},
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Elimination(c.pl, k)
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %d reconstructions", got, len(c.want))
			}
			for i, w := range c.want {
				r := got[i]
				if r.Kind != KindElimination || r.Comment != w.comment || !slices.Equal(r.People, w.people) || !slices.Equal(r.Queries, w.queries) {
					t.Errorf("got %v\nwant comment %q by %v from %q", r, w.comment, w.people, w.queries)
				}
			}
		})
	}
	// The input is not modified.
	pl := []Placement{{Query: "b", Comment: "c", Candidates: []int{3, 1, 2}}, {Query: "a", Comment: "c", Candidates: []int{2, 1}}}
	Elimination(pl, k)
	if !slices.Equal(pl[0].Candidates, []int{3, 1, 2}) || pl[0].Query != "b" {
		t.Errorf("input modified: %v", pl)
	}
}
