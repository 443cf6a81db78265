package attack

import "slices"

// Elimination returns every comment whose author a reader can narrow down to 1..k-1 people
// (k being the comment threshold) from where it is shown: the intersection of the
// candidate sets of all its placements. Queries lists the placements that take part, the
// narrowest first, each one only if it narrows the set further. Results come in the order
// comments first appear.
//
// An empty intersection means the placements contradict each other (nobody could have
// written the comment), which is a harness bug rather than a leak; it is not reported.
func Elimination(pl []Placement, k int) []Reconstruction {
	var comments []string
	byComment := make(map[string][]int)
	for i, p := range pl {
		if _, ok := byComment[p.Comment]; !ok {
			comments = append(comments, p.Comment)
		}
		byComment[p.Comment] = append(byComment[p.Comment], i)
	}
	var out []Reconstruction
	for _, c := range comments {
		idx := byComment[c]
		cands := make([][]int, len(pl))
		for _, i := range idx {
			cs := slices.Clone(pl[i].Candidates)
			slices.Sort(cs)
			cands[i] = slices.Compact(cs)
		}
		slices.SortStableFunc(idx, func(x, y int) int { return len(cands[x]) - len(cands[y]) })
		set := cands[idx[0]]
		queries := []string{pl[idx[0]].Query}
		for _, i := range idx[1:] {
			if next := intersect(set, cands[i]); len(next) < len(set) {
				set = next
				queries = append(queries, pl[i].Query)
			}
		}
		if len(set) >= 1 && len(set) < k {
			out = append(out, Reconstruction{Kind: KindElimination, People: set, Owners: set, Queries: queries, Comment: c})
		}
	}
	return out
}

// intersect returns the common elements of two ascending lists.
func intersect(x, y []int) []int {
	var out []int
	for i, j := 0, 0; i < len(x) && j < len(y); {
		switch {
		case x[i] < y[j]:
			i++
		case y[j] < x[i]:
			j++
		default:
			out = append(out, x[i])
			i++
			j++
		}
	}
	return out
}
