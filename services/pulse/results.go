package pulse

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/anonymity/suppress"
	"github.com/voix-dev/voix/services/platform/rpcerr"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/window"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// tree is the segment tree of one survey's results: the audience at the root and every
// segment between it and a respondent's segment (or a segment with a headcount). Results of
// every prefix are cut from the one tree, and suppression is decided on the whole tree at once:
// deciding it per requested prefix would let a reader un-hide a segment hidden in its parent's
// view with the view in which it is the prefix.
type tree struct {
	paths    []string
	index    map[string]int
	parent   []int // -1 for the root
	children [][]int
	order    []int // top-down
}

// newTree builds the tree under root holding every path of paths within root and their
// ancestors down from root.
func newTree(root segment.Path, paths []segment.Path) *tree {
	t := &tree{index: map[string]int{}}
	t.add(root.String(), -1)
	for _, p := range paths {
		if !p.Within(root) {
			continue
		}
		// Walk down from root, adding the missing levels.
		parent := 0
		for _, a := range p.Ancestors()[root.Depth():] {
			if i, ok := t.index[a.String()]; ok {
				parent = i
				continue
			}
			parent = t.add(a.String(), parent)
		}
	}
	for _, c := range t.children {
		// Children are listed in path order.
		slices.SortFunc(c, func(a, b int) int { return cmp.Compare(t.paths[a], t.paths[b]) })
	}
	var walk func(i int)
	walk = func(i int) {
		t.order = append(t.order, i)
		for _, c := range t.children[i] {
			walk(c)
		}
	}
	walk(0)
	return t
}

func (t *tree) add(path string, parent int) int {
	i := len(t.paths)
	t.paths = append(t.paths, path)
	t.index[path] = i
	t.parent = append(t.parent, parent)
	t.children = append(t.children, nil)
	if parent >= 0 {
		t.children[parent] = append(t.children[parent], i)
	}
	return i
}

// hide applies the suppression rule of docs/design.md, Anonymity (services/platform/anonymity/
// suppress) to the tree, given the people behind each node (its whole subtree: a parent
// counts its children's people and its own) and the nodes already hidden by an earlier pass
// (pre, may be nil), which stay hidden. It returns which nodes must not be shown.
func (t *tree) hide(people []int, k int, pre []bool) []bool {
	nodes := make([]suppress.Node, len(t.paths))
	for i, p := range t.paths {
		nodes[i] = suppress.Node{ID: p, People: people[i], Hidden: pre != nil && pre[i]}
		if up := t.parent[i]; up >= 0 {
			nodes[i].Parent = t.paths[up]
		}
	}
	h := suppress.Hidden(nodes, k)
	hidden := make([]bool, len(t.paths))
	for i, p := range t.paths {
		hidden[i] = h[p]
	}
	return hidden
}

// qTally is one question's answers in one group.
type qTally struct {
	answers         int
	buckets         map[string]int
	sum             int // SCALE, ENPS
	fav             int // SCALE 4-5
	prom, pass, det int // ENPS
	texts           []listedText
}

func (q *qTally) add(a store.Answer) {
	q.answers++
	switch a.Kind {
	case store.QuestionScale:
		q.bucket(strconv.Itoa(int(a.Value)), 1)
		q.sum += int(a.Value)
		if a.Value >= 4 {
			q.fav++
		}
	case store.QuestionENPS:
		q.bucket(strconv.Itoa(int(a.Value)), 1)
		q.sum += int(a.Value)
		switch {
		case a.Value >= 9:
			q.prom++
		case a.Value >= 7:
			q.pass++
		default:
			q.det++
		}
	case store.QuestionChoice:
		for _, id := range a.OptionIDs {
			q.bucket(id, 1)
		}
	}
}

func (q *qTally) bucket(v string, n int) {
	if q.buckets == nil {
		q.buckets = map[string]int{}
	}
	q.buckets[v] += n
}

func (q *qTally) merge(o *qTally) {
	q.mergeCounts(o)
	q.texts = append(q.texts, o.texts...)
}

// mergeCounts is merge without the texts: for sums whose texts nobody reads.
func (q *qTally) mergeCounts(o *qTally) {
	q.answers += o.answers
	for v, n := range o.buckets {
		q.bucket(v, n)
	}
	q.sum += o.sum
	q.fav += o.fav
	q.prom += o.prom
	q.pass += o.pass
	q.det += o.det
}

// readTallies returns one wave's responses by segment from the store's tallies (all of them,
// or with before not zero those of the days before it): what results read.
func readTallies(tx store.ReadTx, surveyID string, wave uint32, before time.Time) (map[string]*gTally, error) {
	out := map[string]*gTally{}
	err := store.ForEachTally(tx, surveyID, wave, before, func(seg string, st *store.Tally) error {
		out[seg] = tallyCells(st)
		return nil
	})
	return out, err
}

// tallyCells is one segment's tally as results count it. It holds st's maps.
func tallyCells(st *store.Tally) *gTally {
	g := &gTally{respondents: st.Respondents}
	for id, sq := range st.Questions {
		qt := g.question(id)
		qt.answers = sq.Answers
		qt.buckets = sq.Buckets
		qt.sum = int(sq.Sum)
		for v, n := range sq.Buckets {
			qt.count(sq.Kind, v, n)
		}
	}
	return g
}

// readTexts puts the TEXT answers of one wave, with their order values, in the cells of the
// shown nodes (each node holding its subtree's), for the questions of need: the only texts
// results can show.
func readTexts(tx store.ReadTx, t *tree, wr *waveResult, surveyID string, before time.Time, shown map[int]bool, need map[string]bool, o *orderer) error {
	return store.ForEachText(tx, surveyID, wr.wave.Number, before, func(seg, questionID, responseID, text string) error {
		if need[questionID] {
			placeText(t, wr, shown, seg, questionID, text, func() [orderSize]byte { return o.of(questionID, responseID) })
		}
		return nil
	})
}

// placeText puts one TEXT answer, given in seg to questionID, in the cells of the shown nodes
// holding seg; order is its order value, computed only if it is placed.
func placeText(t *tree, wr *waveResult, shown map[int]bool, seg, questionID, text string, order func() [orderSize]byte) {
	lt := listedText{text: text}
	ordered := false
	for j, ok := t.index[seg]; ok && j >= 0; j = t.parent[j] {
		if shown[j] {
			if !ordered {
				lt.order, ordered = order(), true
			}
			qt := wr.cells[j].question(questionID)
			qt.texts = append(qt.texts, lt)
		}
	}
}

// readResponses is readTallies computed by decoding every response of the wave, as results
// did before the tallies, with every TEXT answer: tests compare the two.
func readResponses(tx store.ReadTx, surveyID string, wave uint32, before time.Time, o *orderer) (map[string]*gTally, error) {
	out := map[string]*gTally{}
	err := store.ForEachResponse(tx, surveyID, wave, func(r store.Response) error {
		if !before.IsZero() && !r.Day.Before(before) {
			return nil
		}
		g := out[r.Segment]
		if g == nil {
			g = &gTally{}
			out[r.Segment] = g
		}
		g.respondents++
		for _, a := range r.Answers {
			qt := g.question(a.QuestionID)
			qt.add(a)
			if a.Kind == store.QuestionText {
				qt.texts = append(qt.texts, listedText{text: a.Text, order: o.of(a.QuestionID, r.ID)})
			}
		}
		return nil
	})
	return out, err
}

// count adds n SCALE or ENPS answers of value v to the favourable, promoter, passive and
// detractor counts, as add does for one.
func (q *qTally) count(kind store.QuestionKind, v string, n int) {
	if kind != store.QuestionScale && kind != store.QuestionENPS {
		return
	}
	x, err := strconv.Atoi(v)
	if err != nil {
		return
	}
	switch {
	case kind == store.QuestionScale:
		if x >= 4 {
			q.fav += n
		}
	case x >= 9:
		q.prom += n
	case x >= 7:
		q.pass += n
	default:
		q.det += n
	}
}

// gTally is one group's responses in one wave.
type gTally struct {
	respondents int
	q           map[string]*qTally
}

func (g *gTally) question(id string) *qTally {
	if g.q == nil {
		g.q = map[string]*qTally{}
	}
	t := g.q[id]
	if t == nil {
		t = &qTally{}
		g.q[id] = t
	}
	return t
}

// waveResult is one wave counted over the whole tree, with what must be hidden.
type waveResult struct {
	wave      *pulsev1.Wave
	live      bool  // the wave is open: live results
	headcount []int // per node, as the wave closed
	cells     []gTally
	group     []bool            // group hidden
	hidden    map[string][]bool // question hidden, by question id
	texts     map[string][]bool // TEXT answers hidden, by question id
}

// resultsQuery is a validated GetResults.
type resultsQuery struct {
	survey      *survey
	raw         []byte // the survey's stored bytes, as survey was decoded from
	first, last uint32
	prefix      segment.Path
	lang        string
	now         time.Time
	// The page of comments: at most size, after the key after (nil: the first page), with
	// the next token in listing fp.
	size      int
	after, fp []byte
}

// results answers GetResults: the computation of the request (computeResults), from the
// cache while the store and the clock say the same as when it was computed (resultsStamp),
// then the page of comments asked for.
func (s *Service) results(ctx context.Context, q resultsQuery) (*pulsev1.GetResultsResponse, error) {
	sv := q.survey
	waves := sv.Waves[q.first-1 : q.last]
	// Live results of an open wave count the days before today only: two reads on the same
	// day agree, so waiting for one more person and reading again tells nothing. (Reads on
	// two days still differ by a day's responses; live results are an admin's opt-in.)
	today := window.Of(window.Day, q.now).Start
	live := make([]bool, len(waves))
	for i, w := range waves {
		live[i] = !(w.Closed || sv.State == pulsev1.SurveyState_SURVEY_STATE_CLOSED || !q.now.Before(w.ClosesAt.AsTime()))
	}
	key := resultsKey{survey: sv.Id, first: q.first, last: q.last, prefix: q.prefix.String(), lang: q.lang}
	// Replicas: the others' raw tallies, merged before suppression (results_replicas.go).
	remote, err := s.remoteTallies(ctx, q, waves, live, today)
	if err != nil {
		return nil, err
	}
	fromResponses := s.resultsFromResponses.Load()
	var res *computedResults
	for attempt := 0; res == nil; attempt++ {
		var missing bool
		err := s.host.DB.View(func(tx *bolt.Tx) error {
			st, cacheable, err := stampOf(tx, q, live, today)
			if err != nil {
				return err
			}
			if remote != nil {
				st.remote = remote.stamp
			}
			if !fromResponses {
				if r, ok := s.resultsCache.get(key, &st); ok {
					res = r
					return nil
				}
			}
			counts, miss, err := waveHeadcounts(tx, sv, waves, live, false)
			if err != nil || miss {
				missing = miss
				return err
			}
			if res, err = s.computeResults(tx, q, waves, live, today, counts, remote); err != nil {
				return err
			}
			if cacheable && !fromResponses {
				s.resultsCache.put(key, st, res)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if missing {
			if attempt > 0 {
				return nil, fmt.Errorf("survey %s: wave headcounts missing after they were stored", sv.Id)
			}
			// A closed wave read for the first time: freeze its headcounts, then compute.
			err := s.host.DB.Update(func(tx *bolt.Tx) error {
				_, _, err := waveHeadcounts(tx, sv, waves, live, true)
				return err
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return res.page(q.size, q.after, q.fp), nil
}

// computeResults computes GetResults in tx, with each wave's headcounts (counts) and the other
// replicas' raw tallies (remote, nil with one replica), added to this store's. Every wave
// is counted and suppressed on the whole audience tree, then the prefix and its children are
// cut from it; a range of waves shows a cell only where every wave of the range shows it, so
// that what a range shows is a sum of what single waves show and nothing can be learned by
// subtracting one range from another.
func (s *Service) computeResults(tx *bolt.Tx, q resultsQuery, waves []*pulsev1.Wave, live []bool, today time.Time, counts []map[string]uint32, remote *remoteTallies) (*computedResults, error) {
	sv := q.survey
	k := int(sv.MinGroupSize)
	order := s.orderer(sv.Id)
	perWave := make([]map[string]*gTally, len(waves)) // per wave, by segment
	var remoteWaves []map[string]*gTally
	var remoteTexts [][]remoteText
	if remote != nil {
		var err error
		if remoteWaves, remoteTexts, err = remote.decode(); err != nil {
			return nil, err
		}
	}
	fromResponses := s.resultsFromResponses.Load()
	cellsOf := readTallies
	if fromResponses {
		cellsOf = func(tx store.ReadTx, surveyID string, wave uint32, before time.Time) (map[string]*gTally, error) {
			return readResponses(tx, surveyID, wave, before, order)
		}
	}
	for i, w := range waves {
		var before time.Time
		if live[i] {
			before = today
		}
		var err error
		if perWave[i], err = cellsOf(tx, sv.Id, w.Number, before); err != nil {
			return nil, err
		}
		if remote == nil {
			continue
		}
		// Raw counts, added before anything is suppressed: suppression runs once, below.
		for seg, g := range remoteWaves[i] {
			if mine := perWave[i][seg]; mine != nil {
				mine.add(g)
			} else {
				perWave[i][seg] = g
			}
		}
	}

	// The segments read from the store are parsed here, once.
	seen := map[string]bool{}
	var paths []segment.Path
	addPath := func(s string) error {
		if seen[s] {
			return nil
		}
		seen[s] = true
		p, err := segment.Parse(s)
		if err != nil {
			return fmt.Errorf("survey %s: stored segment %q: %w", sv.Id, s, err)
		}
		paths = append(paths, p)
		return nil
	}
	for _, m := range counts {
		for p := range m {
			if err := addPath(p); err != nil {
				return nil, err
			}
		}
	}
	for _, cells := range perWave {
		for seg := range cells {
			if err := addPath(seg); err != nil {
				return nil, err
			}
		}
	}
	t := newTree(sv.audience, paths)
	headcounts := make([][]int, len(waves)) // per wave, per node
	for w, m := range counts {
		headcounts[w] = make([]int, len(t.paths))
		for i, p := range t.paths {
			headcounts[w][i] = int(m[p])
		}
	}

	byID := map[string]*pulsev1.Question{}
	for _, qu := range sv.Questions {
		byID[qu.Id] = qu
	}
	wrs := make([]*waveResult, len(waves))
	for i, w := range waves {
		wrs[i] = countWave(t, w, live[i], perWave[i], byID, headcounts[i], k, int(sv.CommentThreshold))
	}

	// Questions asked in the range, in the bank's order.
	asked := map[string]bool{}
	for _, w := range waves {
		for _, id := range w.QuestionIds {
			asked[id] = true
		}
	}
	var questions []*pulsev1.Question
	for _, qu := range sv.Questions {
		if asked[qu.Id] {
			questions = append(questions, qu)
		}
	}

	root, ok := t.index[q.prefix.String()]
	if !ok {
		// Nobody answered under the prefix and it has no headcount: show it empty, or hidden
		// in live results (see countWave).
		root = t.add(q.prefix.String(), -1)
		for _, wr := range wrs {
			wr.cells = append(wr.cells, gTally{})
			wr.group = append(wr.group, wr.live)
			wr.headcount = append(wr.headcount, 0)
			for id := range wr.hidden {
				wr.hidden[id] = append(wr.hidden[id], wr.live)
			}
			for id := range wr.texts {
				wr.texts[id] = append(wr.texts[id], true)
			}
		}
	}
	if !fromResponses {
		// Texts are read for the groups shown, and only where a wave shows them.
		shown := map[int]bool{root: true}
		for _, c := range t.children[root] {
			shown[c] = true
		}
		for i, wr := range wrs {
			need := map[string]bool{}
			for id, th := range wr.texts {
				for j := range shown {
					if !th[j] && !wr.hidden[id][j] {
						need[id] = true
					}
				}
			}
			if len(need) == 0 {
				continue
			}
			var before time.Time
			if live[i] {
				before = today
			}
			if err := readTexts(tx, t, wr, sv.Id, before, shown, need, order); err != nil {
				return nil, err
			}
			if remote != nil {
				for _, rt := range remoteTexts[i] {
					if need[rt.Question] {
						placeText(t, wr, shown, rt.Segment, rt.Question, rt.Text, func() [orderSize]byte { return [orderSize]byte(rt.Order) })
					}
				}
			}
		}
	}
	out := &pulsev1.GetResultsResponse{SurveyId: sv.Id}
	var orders [][][][orderSize]byte // per group (total first), per question, per comment
	g, o := groupView(sv.Survey, t.paths[root], root, wrs, questions, q.lang)
	out.Total, orders = g, append(orders, o)
	for _, c := range t.children[root] {
		g, o := groupView(sv.Survey, t.paths[c], c, wrs, questions, q.lang)
		out.Children, orders = append(out.Children, g), append(orders, o)
	}
	for _, wr := range wrs {
		out.Trend = append(out.Trend, trendPoint(wr, root, byID))
	}
	if sv.Kind == pulsev1.SurveyKind_SURVEY_KIND_DIAGNOSTIC {
		for _, g := range append([]*pulsev1.GroupResult{out.Total}, out.Children...) {
			if !g.Hidden {
				g.Maturity = maturity(g, q.lang)
			}
		}
	}
	return computed(out, orders), nil
}

// countWave tallies one wave's responses on the tree (each node counting its subtree) and
// decides what to hide: groups by respondents, then each question by its answers among the
// groups still shown, then TEXT answers among those groups whose headcount reaches the
// comment threshold. Each step runs the tree suppression again, with what the earlier steps
// hid kept hidden, so that no subtraction of shown numbers, or set difference of shown
// comments, isolates fewer than k people.
//
// In live results (an open wave), a group nobody has answered yet is hidden too, not shown
// empty: read day after day, a group shown with 0 respondents and then hidden would tell that
// 1..k-1 of its people answered in between. Hidden from the start, "nobody" and "a few" look
// the same.
func countWave(t *tree, w *pulsev1.Wave, live bool, leaves map[string]*gTally, byID map[string]*pulsev1.Question, headcount []int, k, threshold int) *waveResult {
	wr := &waveResult{wave: w, live: live, headcount: headcount, cells: make([]gTally, len(t.paths)), hidden: map[string][]bool{}, texts: map[string][]bool{}}
	for seg, leaf := range leaves {
		i, ok := t.index[seg]
		if !ok {
			continue // outside the audience: cannot happen, SubmitResponse checks it
		}
		c := &wr.cells[i]
		c.respondents += leaf.respondents
		for id, qt := range leaf.q {
			if _, known := byID[id]; known {
				c.question(id).merge(qt)
			}
		}
	}
	// Roll up, children before parents.
	for j := len(t.order) - 1; j >= 0; j-- {
		i := t.order[j]
		p := t.parent[i]
		if p < 0 {
			continue
		}
		wr.cells[p].respondents += wr.cells[i].respondents
		for id, qt := range wr.cells[i].q {
			wr.cells[p].question(id).merge(qt)
		}
	}
	people := make([]int, len(t.paths))
	for i := range people {
		people[i] = wr.cells[i].respondents
	}
	var empty []bool
	if live {
		empty = make([]bool, len(t.paths))
		for i := range empty {
			empty[i] = people[i] == 0
		}
	}
	wr.group = t.hide(people, k, empty)
	for _, id := range w.QuestionIds {
		qu, ok := byID[id]
		if !ok {
			continue
		}
		answers := make([]int, len(t.paths))
		for i := range answers {
			if qt := wr.cells[i].q[id]; qt != nil {
				answers[i] = qt.answers
			}
		}
		wr.hidden[id] = t.hide(answers, k, wr.group)
		if qu.Kind == commonv1.QuestionKind_QUESTION_KIND_TEXT {
			pre := slices.Clone(wr.hidden[id])
			for i := range pre {
				pre[i] = pre[i] || headcount[i] < threshold
			}
			wr.texts[id] = t.hide(answers, k, pre)
		}
	}
	return wr
}

// groupView is node i over the waves of the range, with each question's comments in their
// keyed order, and their order values (per question, parallel to its comments).
func groupView(sv *pulsev1.Survey, path string, i int, wrs []*waveResult, questions []*pulsev1.Question, lang string) (*pulsev1.GroupResult, [][][orderSize]byte) {
	// The headcount shown is the latest wave's; participation is over every wave's.
	g := &pulsev1.GroupResult{Segment: path, Headcount: uint32(wrs[len(wrs)-1].headcount[i])}
	respondents, invited := 0, 0
	for _, wr := range wrs {
		if wr.group[i] {
			g.Hidden = true
			return g, nil
		}
		respondents += wr.cells[i].respondents
		invited += wr.headcount[i]
	}
	g.Respondents = uint32(respondents)
	if invited > 0 {
		g.Participation = min(1, float64(respondents)/float64(invited))
	}
	orders := make([][][orderSize]byte, len(questions))
	for qi, qu := range questions {
		text, _ := localize(qu.Text.GetTranslations(), lang, sv.DefaultLanguage)
		qr := &pulsev1.QuestionResult{QuestionId: qu.Id, Text: text, Kind: qu.Kind, Dimension: qu.Dimension}
		g.Questions = append(g.Questions, qr)
		sum := &qTally{}
		textsShown := true
		type comment struct {
			c     *pulsev1.TextAnswer
			order [orderSize]byte
		}
		var comments []comment
		for _, wr := range wrs {
			if h := wr.hidden[qu.Id]; h != nil && h[i] {
				qr.Hidden = true
				break
			}
			qt := wr.cells[i].q[qu.Id]
			if qt == nil {
				continue
			}
			sum.mergeCounts(qt)
			if th := wr.texts[qu.Id]; th != nil && th[i] {
				textsShown = false
			}
			day := timestamppb.New(window.Of(window.Day, wr.wave.ClosesAt.AsTime()).Start)
			for _, t := range qt.texts {
				comments = append(comments, comment{&pulsev1.TextAnswer{Text: t.text, Date: day, Wave: wr.wave.Number}, t.order})
			}
		}
		if qr.Hidden {
			continue
		}
		fillQuestion(qr, qu, sum)
		if qu.Kind == commonv1.QuestionKind_QUESTION_KIND_TEXT && textsShown {
			// The keyed order: stable from page to page, and unrelated to when each came.
			slices.SortFunc(comments, func(a, b comment) int { return bytes.Compare(a.order[:], b.order[:]) })
			for _, c := range comments {
				qr.Comments = append(qr.Comments, c.c)
				orders[qi] = append(orders[qi], c.order)
			}
		}
	}
	return g, orders
}

// fillQuestion writes a visible question's numbers.
func fillQuestion(qr *pulsev1.QuestionResult, qu *pulsev1.Question, t *qTally) {
	qr.Responses = uint32(t.answers)
	var values []string
	switch qu.Kind {
	case commonv1.QuestionKind_QUESTION_KIND_SCALE:
		values = []string{"1", "2", "3", "4", "5"}
	case commonv1.QuestionKind_QUESTION_KIND_ENPS:
		for v := range 11 {
			values = append(values, strconv.Itoa(v))
		}
	case commonv1.QuestionKind_QUESTION_KIND_CHOICE:
		for _, o := range qu.Options {
			values = append(values, o.Id)
		}
	}
	for _, v := range values {
		qr.Distribution = append(qr.Distribution, &pulsev1.Bucket{Value: v, Count: uint32(t.buckets[v])})
	}
	if t.answers == 0 {
		return
	}
	switch qu.Kind {
	case commonv1.QuestionKind_QUESTION_KIND_SCALE:
		qr.Mean = float64(t.sum) / float64(t.answers)
		qr.FavourableShare = float64(t.fav) / float64(t.answers)
	case commonv1.QuestionKind_QUESTION_KIND_ENPS:
		qr.Mean = float64(t.sum) / float64(t.answers)
		qr.Enps = enps(t)
	}
}

func enps(t *qTally) *commonv1.Enps {
	n := t.prom + t.pass + t.det
	e := &commonv1.Enps{Promoters: uint32(t.prom), Passives: uint32(t.pass), Detractors: uint32(t.det)}
	if n > 0 {
		e.Score = float64(t.prom-t.det) * 100 / float64(n)
	}
	return e
}

// trendPoint is node i in one wave: the SCALE answers of the questions shown, mapped from
// 1..5 to [-1, 1], and the eNPS if shown. Only numbers the wave's own result shows go in, so
// the point adds nothing a reader could not compute.
func trendPoint(wr *waveResult, i int, byID map[string]*pulsev1.Question) *pulsev1.WaveTrend {
	p := &pulsev1.WaveTrend{Wave: wr.wave.Number}
	if wr.group[i] {
		p.Hidden = true
		return p
	}
	c := wr.cells[i]
	p.Respondents = uint32(c.respondents)
	scale, e := &qTally{}, &qTally{}
	for _, id := range wr.wave.QuestionIds {
		qu, qt := byID[id], c.q[id]
		if qu == nil || qt == nil || wr.hidden[id][i] {
			continue
		}
		switch qu.Kind {
		case commonv1.QuestionKind_QUESTION_KIND_SCALE:
			scale.mergeCounts(qt)
		case commonv1.QuestionKind_QUESTION_KIND_ENPS:
			e.mergeCounts(qt)
		}
	}
	if scale.answers > 0 {
		p.Score = (float64(scale.sum)/float64(scale.answers) - 3) / 2
	}
	if e.answers > 0 {
		p.Enps = enps(e)
	}
	return p
}

// readable reports whether a wave's results may be read at now: once it closed, or while it is
// open when the survey allows live results (the minimum group size still applies).
func readable(sv *pulsev1.Survey, w *pulsev1.Wave, now time.Time) bool {
	closed := w.Closed || sv.State == pulsev1.SurveyState_SURVEY_STATE_CLOSED || !now.Before(w.ClosesAt.AsTime())
	return closed || (sv.LiveResults && !now.Before(w.OpensAt.AsTime()))
}

// resultWaves resolves GetResults' wave range: first 0 is the latest closed wave, last 0 is
// first.
func resultWaves(sv *pulsev1.Survey, first, last uint32, now time.Time) (uint32, uint32, error) {
	n := uint32(len(sv.Waves))
	if first == 0 {
		for i := len(sv.Waves) - 1; i >= 0; i-- {
			w := sv.Waves[i]
			if w.Closed || sv.State == pulsev1.SurveyState_SURVEY_STATE_CLOSED || !now.Before(w.ClosesAt.AsTime()) {
				first = w.Number
				break
			}
		}
		if first == 0 {
			return 0, 0, fmt.Errorf("first_wave: %w: no wave of survey %s has closed yet; results are readable once one does", errWaveNotClosed, sv.Id)
		}
	}
	if last == 0 {
		last = first
	}
	switch {
	case first > n:
		return 0, 0, rpcerr.InvalidArgument("first_wave", fmt.Sprintf("must be 0..%d: survey %s has %d waves", n, sv.Id, n))
	case last > n:
		return 0, 0, rpcerr.InvalidArgument("last_wave", fmt.Sprintf("must be 0..%d: survey %s has %d waves", n, sv.Id, n))
	case last < first:
		return 0, 0, rpcerr.InvalidArgument("last_wave", fmt.Sprintf("must be 0 or at least first_wave (%d)", first))
	}
	for _, w := range sv.Waves[first-1 : last] {
		if !readable(sv, w, now) {
			field := "last_wave"
			if w.Number == first {
				field = "first_wave"
			}
			return 0, 0, fmt.Errorf("%s: %w: wave %d is open until %s; its results are readable once it closes",
				field, errWaveNotClosed, w.Number, w.ClosesAt.AsTime().Format(time.RFC3339))
		}
	}
	return first, last, nil
}

// waveHeadcounts returns the headcounts under the audience that each wave's results use, in
// tx. A closed wave uses the headcounts of when its results were first read, stored then:
// comments are listed by headcount, and a headcount changed between two reads of the same
// wave would show one segment's comments in one read and its sibling's in the other, whose
// difference could be a group below k. An open wave (live results) uses today's. With write
// false, missing reports a closed wave whose headcounts are not stored yet; with write true
// (tx writable), they are stored.
func waveHeadcounts(tx *bolt.Tx, sv *survey, waves []*pulsev1.Wave, live []bool, write bool) (out []map[string]uint32, missing bool, err error) {
	out = make([]map[string]uint32, len(waves))
	current, err := store.HeadcountsUnder(tx, sv.audience)
	if err != nil {
		return nil, false, err
	}
	for i, w := range waves {
		if live[i] {
			out[i] = current
			continue
		}
		m, ok, err := store.GetWaveHeadcounts(tx, sv.Id, w.Number)
		switch {
		case err != nil:
			return nil, false, err
		case ok:
			out[i] = m
		case write:
			if err := store.UnsafePutWaveHeadcounts(tx, sv.Id, w.Number, current); err != nil {
				return nil, false, err
			}
			out[i] = current
		default:
			missing = true
		}
	}
	return out, missing, nil
}
