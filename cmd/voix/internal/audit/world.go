package audit

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	"github.com/voix-dev/voix/services/platform/segment"
)

// Org is the simulated organisation: teams with the number of people in each, so that the
// ground truth of who is where is known. Teams of 4, 3 and 6 sit beside teams of 12 and 11:
// the sizes that made leaks.
var teams = []struct {
	path string
	size int
}{
	{"acme/eng/platform", 12},
	{"acme/eng/mobile", 11},
	{"acme/eng/data", 4},
	{"acme/sales", 9},
	{"acme/ops/support", 6},
	{"acme/ops/facilities", 3},
}

// person is one simulated employee. Chat users speak through the gateway (their chat user id
// is a value that must never reach a file); the others through an internal app calling gRPC
// with a submitter_ref (equally secret).
type person struct {
	id     int
	team   segment.Path
	chat   bool
	userID string // chat user id, when chat
	ref    string // the app's submitter_ref, when not chat
	// known is false for chat users the HR directory does not list: they pick their team.
	known bool
	lang  string
}

// item is one thing a person said, as the harness knows it.
type item struct {
	person int
	day    int
	kind   string // "comment", "response", or "survey" (a TEXT answer's feedback item)
	id     string // feedback id or response id
	code   string // follow-up code of a comment or a survey comment
	// from is the response a survey comment came from: the two must not be linkable.
	from *item
	text string
	wave uint32
	// dims are the dimensions the item counts in (besides "all"), as the sentiment service
	// applies them: a comment's analyzer dimensions and tagged ones, an answer's question's.
	dims []commonv1.Dimension
	// scored and enps count the item's parts: the number of scored parts and of eNPS answers,
	// per dimension (key 0 is "all").
	scored map[commonv1.Dimension]int
	enps   map[commonv1.Dimension]int
}

// world is the simulation's ground truth.
type world struct {
	rng    *rand.Rand
	people []*person
	items  []*item
	// base is day 0 at noon UTC; day d of the audit is base + d days.
	base time.Time
}

func newWorld(seed uint64, base time.Time) *world {
	w := &world{rng: rand.New(rand.NewPCG(seed, 0x766f6978)), base: base}
	id := 0
	for ti, t := range teams {
		for i := range t.size {
			p := &person{id: id, team: segment.MustParse(t.path), lang: []string{"fr", "en"}[(ti+i)%2]}
			// Two in three speak through chat; one chat user in four is unknown to the
			// directory and picks a team.
			if id%3 != 2 {
				p.chat = true
				p.userID = fmt.Sprintf("U0AUDIT%04dX", id)
				p.known = id%4 != 1
			} else {
				p.ref = fmt.Sprintf("hris-E%05d-audit", 10000+id)
			}
			w.people = append(w.people, p)
			id++
		}
	}
	return w
}

// day returns the instant of day d.
func (w *world) day(d int) time.Time { return w.base.AddDate(0, 0, d) }

// segments are every segment of the org with its headcount, ancestors included.
func (w *world) segments() map[string]int {
	out := map[string]int{}
	for _, p := range w.people {
		for _, a := range p.team.Ancestors() {
			out[a.String()]++
		}
	}
	return out
}

// within lists the people whose team is within seg.
func (w *world) within(seg segment.Path) []int {
	var out []int
	for _, p := range w.people {
		if p.team.Within(seg) {
			out = append(out, p.id)
		}
	}
	return out
}

// pick returns n distinct people, at random.
func (w *world) pick(n int) []*person {
	idx := w.rng.Perm(len(w.people))[:n]
	out := make([]*person, n)
	for i, j := range idx {
		out[i] = w.people[j]
	}
	return out
}

// Comment texts, in both languages, about every dimension; written for the audit.
var commentTexts = map[string][]string{
	"fr": {
		"Trop de réunions cette semaine, on est débordés",
		"Le nouvel outil de déploiement est vraiment bien",
		"Je ne vois aucune perspective d'évolution ici",
		"Merci à l'équipe pour l'accueil, super ambiance",
		"Le salaire est correct mais les horaires sont lourds",
		"On manque de visibilité sur la stratégie",
		"La climatisation du 2e étage ne marche plus",
		"Mon manager m'écoute et ça fait du bien",
	},
	"en": {
		"Too many meetings this week, we are swamped",
		"The new deploy tool is really good",
		"I see no career growth here",
		"Thanks to the team for the welcome, great atmosphere",
		"Pay is fine but the hours are heavy",
		"We lack visibility on the strategy",
		"The air conditioning on the second floor is broken",
		"My manager listens and that helps",
	},
}

func (w *world) commentText(p *person) string {
	ts := commentTexts[p.lang]
	return ts[w.rng.IntN(len(ts))]
}

// units: a reader adds and subtracts shown numbers; what they could isolate is a set of the
// smallest things every shown number is a sum of. For sentiment aggregates that is one item of
// one person in one dimension ("all dimensions" and each dimension are different sums; a week
// is the sum of its items, whatever their day: a release can fall between two items of one
// person's day). For survey results, one person's answer to one question of one wave. Each unit has an owner: a reconstruction is a set of
// units whose owners are fewer than k people.
type unitKey struct {
	family string // "sentiment" or "pulse"
	person int
	a, b   string
}

type units struct {
	ids    map[unitKey]int
	owners []int
}

func newUnits() *units { return &units{ids: map[unitKey]int{}} }

func (u *units) id(k unitKey) int {
	if i, ok := u.ids[k]; ok {
		return i
	}
	i := len(u.owners)
	u.ids[k] = i
	u.owners = append(u.owners, k.person)
	return i
}

// cell is a sentiment aggregate's history as the harness knows it: the events applied to it
// in order, each with the units it added and the counters it moved. A shown aggregate is the
// cell after some prefix of its events (a release); its counters pin which prefix.
type cell struct {
	events []cellEvent
}

type cellEvent struct {
	units  []int
	people []int // distinct people after this event
	count  int   // scored items after this event
	enps   int   // eNPS answers after this event
}

type cellKey struct {
	seg  string
	dim  commonv1.Dimension
	gran commonv1.Granularity
	from string // window start, RFC 3339 day
}

// windows of a day: the day, its ISO week and its month, as the sentiment service keys them.
func windows(t time.Time) map[commonv1.Granularity]time.Time {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	wd := (int(day.Weekday()) + 6) % 7 // Monday = 0
	return map[commonv1.Granularity]time.Time{
		commonv1.Granularity_GRANULARITY_DAY:   day,
		commonv1.Granularity_GRANULARITY_WEEK:  day.AddDate(0, 0, -wd),
		commonv1.Granularity_GRANULARITY_MONTH: time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC),
	}
}

// ledger follows every sentiment cell as items are applied, in the order the harness waited
// for them to be applied.
type ledger struct {
	w       *world
	u       *units
	cells   map[cellKey]*cell
	applied int // items applied so far: the index of the next one names its units
}

func newLedger(w *world, u *units) *ledger { return &ledger{w: w, u: u, cells: map[cellKey]*cell{}} }

// apply records an item's contribution to every cell it reaches.
func (l *ledger) apply(it *item) {
	l.applied++
	p := l.w.people[it.person]
	at := l.w.day(it.day)
	dims := append([]commonv1.Dimension{commonv1.Dimension_DIMENSION_UNSPECIFIED}, it.dims...)
	slices.Sort(dims)
	dims = slices.Compact(dims)
	for _, a := range p.team.Ancestors() {
		for _, d := range dims {
			for g, from := range windows(at) {
				k := cellKey{a.String(), d, g, from.Format(time.DateOnly)}
				c := l.cells[k]
				if c == nil {
					c = &cell{}
					l.cells[k] = c
				}
				ev := cellEvent{}
				if n := len(c.events); n > 0 {
					last := c.events[n-1]
					ev.people, ev.count, ev.enps = slices.Clone(last.people), last.count, last.enps
				}
				ev.units = []int{l.u.id(unitKey{"sentiment", p.id, fmt.Sprint(l.applied), d.String()})}
				if !slices.Contains(ev.people, p.id) {
					ev.people = append(ev.people, p.id)
				}
				ev.count += it.scored[d]
				ev.enps += it.enps[d]
				c.events = append(c.events, ev)
			}
		}
	}
}

// shown maps a shown aggregate to the units behind it: the prefix of the cell's events whose
// counters match (enps < 0: the eNPS is not shown and does not count). It reports false when no prefix matches, which means the service shows a
// number the harness cannot explain.
func (l *ledger) shown(k cellKey, people, count, enps int) ([]int, bool) {
	c := l.cells[k]
	if c == nil {
		return nil, false
	}
	for i := len(c.events) - 1; i >= 0; i-- {
		e := c.events[i]
		if len(e.people) == people && e.count == count && (enps < 0 || e.enps == enps) {
			var us []int
			for _, ev := range c.events[:i+1] {
				us = append(us, ev.units...)
			}
			slices.Sort(us)
			return slices.Compact(us), true
		}
	}
	return nil, false
}

func (k cellKey) String() string {
	return fmt.Sprintf("%s %s %s %s", k.seg, strings.TrimPrefix(k.dim.String(), "DIMENSION_"), strings.TrimPrefix(k.gran.String(), "GRANULARITY_"), k.from)
}
