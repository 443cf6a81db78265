package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
)

// The organisation: three departments and their teams, in the order they are cut when the
// organisation is smaller than 25 teams. The first team of engineering and of operations carry
// the story (overload and recognition), so every size has them.
var departments = []struct {
	name  string
	teams []string
}{
	{"engineering", []string{"platform", "mobile", "web", "data", "security", "infra", "qa", "payments", "search", "identity"}},
	{"sales", []string{"enterprise", "smb", "partnerships", "customer-success", "presales", "inside-sales", "sales-ops"}},
	{"operations", []string{"support", "finance", "people", "legal", "logistics", "facilities", "procurement", "it"}},
}

// story is what happens to a team over the weeks.
type story int

const (
	steady story = iota
	// overload: the team's workload gets worse week after week, and the rest with it.
	overload
	// recognition: the team's work gets recognised more and more, and the mood follows.
	recognition
)

type team struct {
	path, dept string
	size       int
	base       float64 // the team's mood, added to every answer
	part       float64 // how much the team answers surveys
	story      story
}

type person struct {
	id       int
	team     *team
	lang     string // "fr" or "en"
	chat     bool   // uses the chat app (the gateway); the others use an intranet app (gRPC)
	known    bool   // a chat user HR put in the directory; the others pick their team in chat
	user     string // chat user id
	ref      string // submitter ref an intranet app gives for them
	mood     float64
	zeal     float64 // how willing to answer surveys
	talk     float64 // how willing to comment
	newcomer bool    // joined just before the demo: the onboarding survey asks them
	joined   int     // days before the demo's first day the newcomer joined
}

type world struct {
	org    string
	teams  []*team
	people []*person
}

// newWorld builds the organisation of n people from rng.
func newWorld(rng *rand.Rand, org string, n int) *world {
	w := &world{org: org}
	nTeams := min(max(int(math.Round(float64(n)/12)), 6), 25)
	// Teams per department in proportion to the pools (10, 7, 8), at least two each.
	eng := max(2, int(math.Round(float64(nTeams)*10/25)))
	sales := max(2, int(math.Round(float64(nTeams)*7/25)))
	perDept := []int{eng, sales, max(2, nTeams-eng-sales)}
	var weights []float64
	total := 0.0
	for i, d := range departments {
		for j := range perDept[i] {
			t := &team{
				path: fmt.Sprintf("%s/%s/%s", org, d.name, d.teams[j]),
				dept: fmt.Sprintf("%s/%s", org, d.name),
				base: rng.Float64()*0.7 - 0.35,
				part: 0.62 + rng.Float64()*0.23,
			}
			switch {
			case i == 0 && j == 0:
				t.story, t.base, t.part = overload, 0.25, 0.86
			case i == 2 && j == 0:
				t.story, t.base, t.part = recognition, -0.15, 0.66
			}
			wt := 0.6 + rng.Float64()*0.9
			weights, total = append(weights, wt), total+wt
			w.teams = append(w.teams, t)
		}
	}
	// Team sizes in proportion to the weights, at least 6 people each.
	left := n
	for i, t := range w.teams {
		t.size = max(6, int(float64(n)*weights[i]/total))
		left -= t.size
	}
	for i := 0; left != 0; i = (i + 1) % len(w.teams) {
		switch t := w.teams[i]; {
		case left > 0:
			t.size++
			left--
		case t.size > 6:
			t.size--
			left++
		}
	}
	newcomers := max(5, n/20)
	for _, t := range w.teams {
		for range t.size {
			p := &person{id: len(w.people), team: t, lang: "fr", mood: rng.NormFloat64() * 0.45,
				zeal: 0.75 + rng.Float64()*0.45, talk: rng.ExpFloat64()}
			if rng.Float64() < 0.4 {
				p.lang = "en"
			}
			p.chat = rng.Float64() < 0.7
			p.known = p.chat && rng.Float64() < 0.9
			p.user = fmt.Sprintf("U%08X", rng.Uint32())
			p.ref = fmt.Sprintf("intranet:%05d", 10000+p.id)
			w.people = append(w.people, p)
		}
	}
	// Newcomers answer the onboarding survey through the intranet app: the HR system that
	// reports their start knows them by the id that app gives them.
	var intranet []*person
	for _, p := range w.people {
		if !p.chat {
			intranet = append(intranet, p)
		}
	}
	for _, i := range rng.Perm(len(intranet))[:min(newcomers, len(intranet))] {
		intranet[i].newcomer = true
		intranet[i].joined = 20 + rng.IntN(17)
	}
	return w
}

// segments is every registered segment with its headcount: the organisation, its departments
// and its teams, in path order of the tree.
func (w *world) segments() (paths []string, headcounts map[string]int) {
	headcounts = map[string]int{w.org: len(w.people)}
	paths = []string{w.org}
	for _, t := range w.teams {
		if _, ok := headcounts[t.dept]; !ok {
			paths = append(paths, t.dept)
		}
		headcounts[t.dept] += t.size
		headcounts[t.path] = t.size
		paths = append(paths, t.path)
	}
	return paths, headcounts
}

// deptEffect is how a department feels about a dimension, whatever the week.
func deptEffect(dept string, d commonv1.Dimension) float64 {
	switch {
	case strings.HasSuffix(dept, "/engineering") && d == commonv1.Dimension_DIMENSION_ECOSYSTEM:
		return -0.35 // slow tools
	case strings.HasSuffix(dept, "/engineering") && d == commonv1.Dimension_DIMENSION_GROWTH:
		return 0.2
	case strings.HasSuffix(dept, "/sales") && (d == commonv1.Dimension_DIMENSION_WORKLOAD || d == commonv1.Dimension_DIMENSION_RECOGNITION):
		return -0.2
	case strings.HasSuffix(dept, "/sales") && d == commonv1.Dimension_DIMENSION_IMAGE:
		return 0.25
	case strings.HasSuffix(dept, "/operations") && d == commonv1.Dimension_DIMENSION_CONNECTIONS:
		return 0.25
	}
	return 0
}

// mean is the expected answer (1..5) of p about dimension d at fraction f of the demo (0 at
// its start, 1 at its end).
func (p *person) mean(d commonv1.Dimension, f float64) float64 {
	m := 3.55 + p.team.base + p.mood + deptEffect(p.team.dept, d)
	switch p.team.story {
	case overload:
		switch d {
		case commonv1.Dimension_DIMENSION_WORKLOAD:
			m += 0.3 - 2.4*f
		case commonv1.Dimension_DIMENSION_ENGAGEMENT:
			m -= 1.1 * f
		default:
			m -= 0.5 * f
		}
	case recognition:
		switch d {
		case commonv1.Dimension_DIMENSION_RECOGNITION:
			m += -0.9 + 2.2*f
		case commonv1.Dimension_DIMENSION_ENGAGEMENT:
			m += 0.6 * f
		default:
			m += 0.3 * f
		}
	}
	return m
}

// scale is p's answer to a 1–5 statement about d.
func (p *person) scale(rng *rand.Rand, d commonv1.Dimension, f float64) int32 {
	return int32(min(max(math.Round(p.mean(d, f)+rng.NormFloat64()*0.75), 1), 5))
}

// enps is p's answer to "would you recommend this company as a place to work?", 0–10: how
// engaged p is and how proud of the company (so a team's mood and story, and sales' pride in
// its image, show), centred so that a company like the demo's scores a little above zero,
// with teams from well below to well above it.
func (p *person) enps(rng *rand.Rand, f float64) int32 {
	m := 0.6*p.mean(commonv1.Dimension_DIMENSION_ENGAGEMENT, f) + 0.4*p.mean(commonv1.Dimension_DIMENSION_IMAGE, f)
	return int32(min(max(math.Round(2.4*m-0.75+rng.NormFloat64()*1.4), 0), 10))
}

// participation is the chance that p answers a weekly wave at fraction f.
func (p *person) participation(f float64) float64 {
	q := p.team.part * p.zeal
	switch p.team.story {
	case overload:
		q -= 0.3 * f
	case recognition:
		q += 0.25 * f
	}
	return min(max(q, 0.05), 0.97)
}

// topic is what p comments about at fraction f, and how they feel about it.
func (p *person) topic(rng *rand.Rand, f float64) (commonv1.Dimension, polarity) {
	d := dimensions[rng.IntN(len(dimensions))]
	switch {
	case p.team.story == overload && rng.Float64() < 0.3+0.5*f:
		d = commonv1.Dimension_DIMENSION_WORKLOAD
	case p.team.story == recognition && rng.Float64() < 0.25+0.45*f:
		d = commonv1.Dimension_DIMENSION_RECOGNITION
	case strings.HasSuffix(p.team.dept, "/engineering") && rng.Float64() < 0.25:
		d = commonv1.Dimension_DIMENSION_ECOSYSTEM
	}
	v := p.mean(d, f) + rng.NormFloat64()*0.8 - 3.3
	switch {
	case v > 0.35:
		return d, positive
	case v < -0.35:
		return d, negative
	}
	return d, suggestion
}

var dimensions = []commonv1.Dimension{
	commonv1.Dimension_DIMENSION_MEANING, commonv1.Dimension_DIMENSION_GROWTH, commonv1.Dimension_DIMENSION_CONNECTIONS,
	commonv1.Dimension_DIMENSION_IMAGE, commonv1.Dimension_DIMENSION_ECOSYSTEM, commonv1.Dimension_DIMENSION_RECOGNITION,
	commonv1.Dimension_DIMENSION_WORKLOAD, commonv1.Dimension_DIMENSION_ENGAGEMENT,
}
