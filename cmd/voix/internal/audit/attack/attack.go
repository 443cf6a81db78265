package attack

import (
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// Kinds of Reconstruction.
const (
	// KindDirect: one shown number aggregates fewer than k people by itself.
	KindDirect = "direct"
	// KindDifferencing: a rational combination of shown numbers aggregates exactly fewer than
	// k people (and is not itself a shown number).
	KindDifferencing = "differencing"
	// KindElimination: a comment is shown where fewer than k people could have written it.
	KindElimination = "elimination"
)

// Observation is one number a reader was shown, described by whose contributions it adds up.
type Observation struct {
	// Query says how the number was obtained, e.g. "GetSentiment acme/eng dim=WORKLOAD
	// week=2026-W48 as hr". It is printed when the observation takes part in a reconstruction.
	Query string
	// Measure names the per-person quantity the number adds up: observations are combined
	// only with observations of the same Measure. Leave it empty when every observation
	// aggregates the same quantity (one answer per person); set it, e.g. to
	// "WORKLOAD 2026-W48", when numbers of different questions or weeks are given together,
	// since subtracting a sum of one week's answers from a sum of another week's isolates
	// nobody's answer.
	Measure string
	// People are the ids (0..N-1) of the people whose contributions the number aggregates:
	// the respondents behind a count, a sum, or a mean's numerator. Order and repeats do not
	// matter. Negative ids are a harness bug and make Differencing panic.
	//
	// With WithOwners they are ids of units instead: the smallest things every shown number
	// is a sum of (one person's items of one day, one answer to one question), each owned
	// by one person.
	People []int
}

// Placement is one place a reader saw a comment.
type Placement struct {
	// Query says how the comment was seen, e.g. "ListComments acme/eng as manager".
	Query string
	// Comment is the comment's id; placements with the same id are the same comment seen
	// under different queries or filters.
	Comment string
	// Candidates are the people who could have written the comment given where it is shown:
	// everyone in the segment it is shown under, minus everyone in the sub-segments whose
	// comments the reader can see are shown under their own name.
	Candidates []int
}

// Term is one shown number in a differencing witness, with the multiplier it takes.
type Term struct {
	// Coef multiplies the number; never zero.
	Coef *big.Rat
	// Index is the observation's index in the slice given to Differencing.
	Index int
	// Query is that observation's Query.
	Query string
}

// Reconstruction is a group of 1..k-1 people whose contributions a reader can isolate, and
// how.
type Reconstruction struct {
	// Kind is KindDirect, KindDifferencing or KindElimination.
	Kind string
	// People are the isolated people's ids, ascending; with WithOwners, the isolated
	// units' ids.
	People []int
	// Owners are the distinct people behind People, ascending: People itself unless
	// WithOwners was given. There are 1..k-1 of them.
	Owners []int
	// Queries is the evidence in print: for KindDifferencing one "+1 × <query>" line per
	// term; for KindDirect the one query; for KindElimination the placements whose
	// candidate sets intersect to People.
	Queries []string
	// Terms is the exact combination behind a KindDirect or KindDifferencing
	// reconstruction: the sum of Coef times the indicator vector of each term's observation
	// is the indicator vector of People.
	Terms []Term
	// Measure is the Measure of the observations combined (differencing and direct only).
	Measure string
	// Comment is the comment id (elimination only).
	Comment string
}

// String prints the reconstruction on several lines: what was isolated, then the queries.
func (r Reconstruction) String() string {
	var b strings.Builder
	who := func(ids []int) string {
		if len(ids) == 1 {
			return fmt.Sprintf("1 person %v", ids)
		}
		return fmt.Sprintf("%d people %v", len(ids), ids)
	}
	if r.Owners == nil || slices.Equal(r.People, r.Owners) {
		fmt.Fprintf(&b, "%s: %s", r.Kind, who(r.People))
	} else {
		fmt.Fprintf(&b, "%s: %s by units %v", r.Kind, who(r.Owners), r.People)
	}
	if r.Comment != "" {
		fmt.Fprintf(&b, " wrote comment %q", r.Comment)
	}
	if r.Measure != "" {
		fmt.Fprintf(&b, " (measure %q)", r.Measure)
	}
	for _, q := range r.Queries {
		b.WriteString("\n  ")
		b.WriteString(q)
	}
	return b.String()
}

// formatTerm prints "+c × query" with c an integer or a fraction.
func formatTerm(t Term) string {
	s := t.Coef.RatString()
	if t.Coef.Sign() > 0 {
		s = "+" + s
	}
	return s + " × " + t.Query
}

// Stats describes the work Differencing did; pass WithStats to get them. Counts are summed
// over measures.
type Stats struct {
	// Measures is the number of distinct Observation.Measure values.
	Measures int
	// Observations is the number of observations with at least one person.
	Observations int
	// Vectors is the number of distinct people sets among them.
	Vectors int
	// People is the number of distinct people (units, with WithOwners) in some observation.
	People int
	// Atoms is the number of classes of people who appear in exactly the same observations.
	Atoms int
	// SmallAtoms is the number of atoms of fewer than k people (owners, with WithOwners):
	// only they can be isolated.
	SmallAtoms int
	// Rank is the dimension of the span of the observations.
	Rank int
	// Freedom is the number of independent ways the small atoms' contributions can change
	// without changing anything shown (with the large atoms fixed): the dimension the search
	// works in.
	Freedom int
	// SearchNodes is the number of candidate sets the search examined.
	SearchNodes int
	// Truncated is set when MaxSearchNodes stopped the search: the result may then miss
	// reconstructions.
	Truncated bool
}

// Option configures Differencing.
type Option func(*options)

type options struct {
	stats    *Stats
	maxNodes int
	owners   []int
}

// WithOwners says that Observation.People are units, not people, and that owners[u] is the
// person unit u belongs to: a group is then a set of units whose owners are 1..k-1 people,
// however many units that is (one person's answers of every day of a month is a group of
// one). Unit ids must index owners; others make Differencing panic.
func WithOwners(owners []int) Option { return func(o *options) { o.owners = owners } }

// WithStats makes Differencing fill s.
func WithStats(s *Stats) Option { return func(o *options) { o.stats = s } }

// MaxSearchNodes bounds the search to about n candidate sets per measure (0, the default,
// means no bound). When the bound is hit the result may be incomplete and Stats.Truncated is
// set: an audit should treat that as a failure to prove anything.
func MaxSearchNodes(n int) Option { return func(o *options) { o.maxNodes = n } }
