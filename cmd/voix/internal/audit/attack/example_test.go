package attack_test

import (
	"fmt"

	"github.com/voix-dev/voix/cmd/voix/internal/audit/attack"
)

func Example() {
	// eng = platform (people 0-5) + data (6-11) + infra (12-14). infra has fewer than 5
	// people, so its results are hidden, but eng's and the other teams' are shown.
	obs := []attack.Observation{
		{Query: "GetSentiment acme/eng dim=WORKLOAD week=2026-W48 as hr", People: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}},
		{Query: "GetSentiment acme/eng/platform dim=WORKLOAD week=2026-W48 as hr", People: []int{0, 1, 2, 3, 4, 5}},
		{Query: "GetSentiment acme/eng/data dim=WORKLOAD week=2026-W48 as hr", People: []int{6, 7, 8, 9, 10, 11}},
	}
	for _, r := range attack.Differencing(obs, 5) {
		fmt.Println(r)
	}

	// A comment shown under acme/eng, whose teams with 10 or more people show comments
	// under their own name, could only have been written in infra; the same comment under
	// a tenure filter narrows it to two people.
	pl := []attack.Placement{
		{Query: "ListComments acme/eng as hr", Comment: "c-17", Candidates: []int{12, 13, 14}},
		{Query: "ListComments acme/eng tenure<1y as hr", Comment: "c-17", Candidates: []int{4, 13, 14}},
	}
	for _, r := range attack.Elimination(pl, 10) {
		fmt.Println(r)
	}
	// Output:
	// differencing: 3 people [12 13 14]
	//   +1 × GetSentiment acme/eng dim=WORKLOAD week=2026-W48 as hr
	//   -1 × GetSentiment acme/eng/platform dim=WORKLOAD week=2026-W48 as hr
	//   -1 × GetSentiment acme/eng/data dim=WORKLOAD week=2026-W48 as hr
	// elimination: 2 people [13 14] wrote comment "c-17"
	//   ListComments acme/eng as hr
	//   ListComments acme/eng tenure<1y as hr
}
