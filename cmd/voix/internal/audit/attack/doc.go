// Package attack searches what a reader was shown for groups of fewer than k people whose
// contributions can be isolated: the attacks voix's anonymity promise rules out. An audit
// harness drives a simulated organisation whose ground truth it knows (who is in which team,
// who answered what, who wrote which comment), reads everything the APIs show under every
// filter, describes each shown number and each comment placement in terms of the simulated
// people, and asks this package for reconstructions. A reconstruction names the people and
// the queries that isolate them; an empty answer is a proof, within the model below, that
// the reader cannot isolate anyone.
//
// # Differencing
//
// Every shown number is treated as a linear functional of per-person contributions: an
// Observation is the set of people whose contributions it adds up, its indicator vector. A
// reader can add and subtract multiples of shown numbers, so the groups a reader can
// isolate are the 0/1 vectors with 1..k-1 ones in the span of the observations' vectors,
// taken over the rationals (stricter than the integer combinations a reader needs).
// Differencing finds them all, exactly:
//
//   - People who appear in exactly the same observations form an atom. Everything in the
//     span is constant on an atom, so an isolatable group is a union of whole atoms, and the
//     span is studied over atoms. Atoms of k or more people are never part of a group.
//   - Identical vectors are merged, and the rest brought into reduced row echelon form on
//     sparse rows in exact rational arithmetic (int64 fractions that overflow into
//     math/big), each row remembering its combination of observations. Narrow vectors go
//     first, a wide one is first stripped of the narrower ones it is a disjoint union of
//     (the org of its divisions), pivots are chosen for least fill, and large atoms are
//     pivoted first, so that the rows pivoted on small atoms span exactly the part of the
//     span that is zero on large atoms.
//   - A union of small atoms is in the span exactly when the null-space signatures of its
//     atoms sum to zero. A depth-first search grows unions of up to k-1 people from their
//     lowest atom, only ever adding atoms that can cancel what the running sum still has,
//     and records those whose sum reaches zero; it finds every minimal isolatable group
//     (every isolatable group is a disjoint union of minimal ones), each checked exactly
//     and reported with its witness: the observations and multipliers that add up to
//     exactly its people.
//
// Observations of different quantities (different questions, weeks or windows) should carry
// different Measures: they are then never combined. Alternatively, with WithOwners, the ids
// in observations are units, the smallest things every shown number is a sum of (one
// person's items of one day in one dimension), each owned by a person: a group is then a set
// of units whose owners are 1..k-1 people, however many units, and numbers of different
// days or dimensions can be combined soundly in one measure.
//
// # Elimination
//
// A comment shown under a segment was written by one of its Placement's Candidates, which
// the harness computes from the organisation and the placement rule. Elimination intersects
// the candidate sets of every placement of the same comment and reports those of 1..k-1
// people, k being the comment threshold.
//
// # Limits
//
// What is proved is linear: no combination of shown numbers adds up to fewer than k people.
// Not modelled, and so not ruled out:
//
//   - Non-linear statistics. A mean is modelled by its numerator and its denominator as two
//     observations (usually of the same people); a median, a minimum or a distribution is
//     not a linear functional, and the harness must not describe it as one.
//   - Rounding. A rounded number is treated as exact. That overstates what one number tells
//     a reader, but it cannot hide a combination that isolates a group.
//   - Bounds. Knowing that answers lie on a 1..5 scale lets a reader infer extremes (a mean
//     of 5.0 over ten people says every one of them answered 5), which no linear argument
//     sees.
//   - Auxiliary knowledge: who is on leave, who tends to answer, what the reader knows
//     about people outside the data.
//   - Inference across measures: measures are analysed separately.
//   - For comments, only the candidate sets: not the text, timing or style of a comment,
//     nor combining the placements of different comments.
//
// # Cost
//
// The elimination is polynomial. The search is exponential in k: in the worst case it
// visits every union of small atoms of up to k-1 people that the signatures connect. For
// k = 5 on an organisation of 3,000 people in 200 teams, with 5,000 observations over 8
// weeks all in one measure (so that nearly every person is an atom of their own),
// Differencing takes under a second; the same instance takes about 10 seconds for k = 6
// and a minute or two for k = 7. With owners, 300,000 units of the same organisation (8
// weeks, 5 dimensions, 13,000 observations) take about a second. MaxSearchNodes bounds the
// search, and Stats.Truncated then says the answer proves nothing.
package attack
