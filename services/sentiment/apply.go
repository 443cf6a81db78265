package sentiment

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/window"
	"github.com/voix-dev/voix/services/sentiment/internal/analyzer"
	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

// contribution is one scored part of an event: it counts for the dimensions listed (plus "all")
// in every segment and window the event's contributor tags name.
type contribution struct {
	item rollup.Item
	dims []commonv1.Dimension
	// only leaves "all dimensions" out: a clause's score counts for its dimension, while the
	// comment counts once, with its overall score, in the total.
	only bool
}

// applyFeedback scores a submitted comment, adds it to the rollups of its segment and
// ancestors, and queues ItemScored plus any aggregate update that may now be shown. It runs in
// the consumer's transaction, which also records the event id. The comment is usually
// prepared already (prepare.go).
func (s *Service) applyFeedback(tx *bolt.Tx, ev bus.Event) error {
	p, ok := s.preparedComments.get(ev)
	if !ok {
		p = s.prepareFeedback(ev, true)
	}
	return s.applyPreparedFeedback(tx, tx, p, true)
}

// applyFeedbackTo is applyFeedback, queueing ItemScored only when emit is set: a rebuild
// replaying a comment the feedback service already has a score for does not send it again.
//
// The rollups it changes are in rb: the live store, or a rebuild's staging.
func (s *Service) applyFeedbackTo(tx *bolt.Tx, rb rollup.Buckets, ev bus.Event, emit bool) error {
	return s.applyPreparedFeedback(tx, rb, s.prepareFeedback(ev, emit), emit)
}

// applyResponse adds a survey response to the rollups: SCALE answers as scores mapped onto
// [-1, 1], ENPS answers to the eNPS counters, TEXT answers scored by the analyzer.
func (s *Service) applyResponse(tx *bolt.Tx, ev bus.Event) error { return s.applyResponseTo(tx, ev) }

// applyResponseTo is applyResponse with the rollups in rb.
func (s *Service) applyResponseTo(rb rollup.Buckets, ev bus.Event) error {
	return s.applyPrepared(rb, s.prepareResponse(ev))
}

// preparedResponse is a survey response decoded, its tags opened and checked, ready to add
// (applyPrepared): everything of applyResponseTo that reads no rollup, which a rebuild does on
// another goroutine ahead of the one writing.
type preparedResponse struct {
	seg    segment.Path
	tags   []tagRef
	opened [][]byte
	parts  []contribution
	err    error // what applying it returns, without writing anything
}

// prepareResponse decodes and checks a ResponseSubmitted for applyPrepared.
func (s *Service) prepareResponse(ev bus.Event) *preparedResponse {
	var m responseView
	if err := decodeResponse(ev.Data, &m); err != nil {
		return &preparedResponse{err: fmt.Errorf("%w: decode ResponseSubmitted %s: %v", consumer.ErrPermanent, ev.ID, err)}
	}
	seg, err := parsedSegments.get(m.segment)
	if err != nil {
		return &preparedResponse{err: fmt.Errorf("%w: ResponseSubmitted %s: segment: %v", consumer.ErrPermanent, ev.ID, err)}
	}
	parts := make([]contribution, 0, len(m.answers))
	for _, a := range m.answers {
		dims := []commonv1.Dimension{a.dim}
		switch a.kind {
		case commonv1.QuestionKind_QUESTION_KIND_SCALE:
			if a.value < 1 || a.value > 5 {
				continue
			}
			score := float64(a.value-3) / 2
			parts = append(parts, contribution{item: rollup.Item{Scored: true, Score: score, Label: labelOf(score)}, dims: dims})
		case commonv1.QuestionKind_QUESTION_KIND_ENPS:
			if a.value < 0 || a.value > 10 {
				continue
			}
			parts = append(parts, contribution{item: rollup.Item{ENPS: int(a.value) + 1}, dims: dims})
		case commonv1.QuestionKind_QUESTION_KIND_TEXT:
			res := s.analyze(a.text, "")
			it := rollup.Item{Scored: true, Score: res.Score, Label: rollup.Label(res.Label), Emotion: string(res.Emotion)}
			if !s.confident(res) {
				it = rollup.Item{} // its author still takes part (countable)
			}
			parts = append(parts, contribution{item: it, dims: dims})
		default:
			// A CHOICE answer still makes its author a participant.
			parts = append(parts, contribution{dims: dims})
		}
	}
	opened, err := s.openTags(seg, m.tags)
	return &preparedResponse{seg: seg, tags: m.tags, opened: opened, parts: parts, err: err}
}

// applyPrepared adds a prepared response to the rollups in rb.
func (s *Service) applyPrepared(rb rollup.Buckets, p *preparedResponse) error {
	if p.err != nil {
		return p.err
	}
	return s.addParts(rb, p.seg, p.tags, p.opened, p.parts)
}

// openTags opens and checks every contributor tag of an event of segment seg. Every tag is
// checked before anything is written: a rebuild applies events in one shared transaction,
// where a half-applied event could not be rolled back alone.
func (s *Service) openTags(seg segment.Path, tags []tagRef) ([][]byte, error) {
	opened := make([][]byte, len(tags))
	for i, t := range tags {
		tag, err := s.host.Secret.OpenTag(t.segment, t.window, t.tag)
		if err != nil {
			return nil, fmt.Errorf("%w: contributor tag of %s: %v", consumer.ErrPermanent, t.window, err)
		}
		opened[i] = tag
		tagSeg, err := parsedSegments.get(t.segment)
		if err != nil || !seg.Within(tagSeg) {
			return nil, fmt.Errorf("%w: contributor tag segment %q is not %q or one of its ancestors", consumer.ErrPermanent, t.segment, seg)
		}
		if _, err := parsedWindows.get(t.window); err != nil {
			return nil, fmt.Errorf("%w: contributor tag window: %v", consumer.ErrPermanent, err)
		}
	}
	return opened, nil
}

// addParts adds the parts to every rollup the contributor tags name, once the tags are opened
// and checked (openTags). The rollups it changes are marked for the publisher (flush), which
// decides what may be shown.
func (s *Service) addParts(rb rollup.Buckets, seg segment.Path, tags []tagRef, opened [][]byte, parts []contribution) error {
	// The items of each dimension, so that each aggregate, and each contributor's record, is
	// read and written once per tag.
	var (
		dims  []int32
		items [][]rollup.Item
	)
	for _, p := range parts {
		ds := dimensionsWithAll(p.dims)
		if p.only {
			ds = ds[1:]
		}
		for _, d := range ds {
			j := slices.Index(dims, int32(d))
			if j < 0 {
				dims, items = append(dims, int32(d)), append(items, make([]rollup.Item, 0, len(parts)))
				j = len(dims) - 1
			}
			items[j] = append(items[j], p.item)
		}
	}
	w, deferred := s.writer(rb)
	for i, t := range tags {
		if !s.aggregated(t.window) {
			continue
		}
		if err := w.Add(t.segment, t.window, opened[i], t.segment == seg.String(), dims, items); err != nil {
			return err
		}
	}
	if deferred {
		return nil // written by flushWriter, before the commit
	}
	return w.Flush()
}

// parsed memoizes a parser of the strings every event repeats (its segment, its tags'
// segments and windows): an organisation has few of each, and parsing them again for every
// tag of every event was a tenth of the apply CPU. Only valid strings are kept; the values
// are immutable.
type parsed[T any] struct {
	mu    sync.Mutex
	m     map[string]T
	parse func(string) (T, error)
}

// maxParsed bounds each memo; beyond it, it starts afresh.
const maxParsed = 1 << 14

var (
	parsedSegments = &parsed[segment.Path]{parse: segment.Parse}
	parsedWindows  = &parsed[window.Window]{parse: anonymity.ParseContributorWindow}
)

func (p *parsed[T]) get(s string) (T, error) {
	p.mu.Lock()
	v, ok := p.m[s]
	p.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := p.parse(s)
	if err != nil {
		return v, err
	}
	p.mu.Lock()
	if p.m == nil || len(p.m) >= maxParsed {
		p.m = map[string]T{}
	}
	p.m[s] = v
	p.mu.Unlock()
	return v, nil
}

// grouped wraps a live handler so that the aggregates the events of one transaction change are
// read and written once (rollup.Writer); the consumer's Flush (flushWriter) writes them.
func (s *Service) grouped(h consumer.Handler) consumer.Handler {
	return func(tx *bolt.Tx, ev bus.Event) error {
		s.openWriter(tx)
		return h(tx, ev)
	}
}

// openWriter makes the deferred writer of rb current, unless it already is: one left by a
// transaction rolled back is dropped with it.
func (s *Service) openWriter(rb rollup.Buckets) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.w == nil || !s.w.On(rb) {
		s.w = rollup.NewWriter(rb).At(s.cfg.Now())
	}
}

// writer returns the deferred writer of rb if one is open, else a writer of its own, which
// the caller flushes.
func (s *Service) writer(rb rollup.Buckets) (w *rollup.Writer, deferred bool) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.w != nil && s.w.On(rb) {
		return s.w, true
	}
	return rollup.NewWriter(rb).At(s.cfg.Now()), false
}

// flushWriter writes what the deferred writer of rb holds, in rb's transaction.
func (s *Service) flushWriter(rb rollup.Buckets) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.w == nil || !s.w.On(rb) {
		return nil
	}
	w := s.w
	s.w = nil
	return w.Flush()
}

// aggregated says whether the service keeps aggregates of window w (a ContributorTag.Window):
// weeks, for the alerts and when weeks are published, and months when months are. Days are
// never read nor published (a day could be subtracted from its week), nor is the length not
// published, so counting them would only cost; a change of Config.Publish to months takes a
// rebuild to fill the months before it.
func (s *Service) aggregated(w string) bool {
	g, _, _ := strings.Cut(w, ":")
	return g == window.Week.String() || (g == window.Month.String() && s.cfg.Publish == window.Month)
}

// commentParts is what one comment adds: its overall score to "all dimensions" and to the
// dimensions the author tagged that the analyzer did not find, and to each dimension the
// analyzer found, the score of the clause that mentions it. The comment's emotion goes with
// every part: its author expressed it in each aggregate the comment counts in.
func commentParts(res analyzer.Result, tagged []commonv1.Dimension) []contribution {
	item := func(score float64, l analyzer.Label) rollup.Item {
		return rollup.Item{Scored: true, Score: score, Label: rollup.Label(l), Emotion: string(res.Emotion)}
	}
	found := map[commonv1.Dimension]bool{}
	parts := make([]contribution, 0, 1+len(res.Dimensions))
	for _, h := range res.Dimensions {
		d := commonv1.Dimension(h.Dimension)
		found[d] = true
		parts = append(parts, contribution{item: item(h.Score, h.Label), dims: []commonv1.Dimension{d}, only: true})
	}
	var rest []commonv1.Dimension
	for _, d := range tagged {
		if !found[d] {
			rest = append(rest, d)
		}
	}
	return append(parts, contribution{item: item(res.Score, res.Label), dims: rest})
}

// dimensionScores renders the analyzer's dimension hits for events and responses.
func dimensionScores(res analyzer.Result) []*eventsv1.DimensionScore {
	var out []*eventsv1.DimensionScore
	for _, h := range res.Dimensions {
		out = append(out, &eventsv1.DimensionScore{Dimension: commonv1.Dimension(h.Dimension), Score: h.Score})
	}
	return out
}

// dimensionsWithAll returns "all dimensions" (UNSPECIFIED) followed by the distinct known
// dimensions of dims.
func dimensionsWithAll(dims []commonv1.Dimension) []commonv1.Dimension {
	out := []commonv1.Dimension{commonv1.Dimension_DIMENSION_UNSPECIFIED}
	for _, d := range dims {
		if _, known := commonv1.Dimension_name[int32(d)]; !known || d == commonv1.Dimension_DIMENSION_UNSPECIFIED {
			continue
		}
		dup := false
		for _, o := range out {
			dup = dup || o == d
		}
		if !dup {
			out = append(out, d)
		}
	}
	return out
}

func labelOf(score float64) rollup.Label {
	switch {
	case score > 0.05:
		return rollup.Positive
	case score < -0.05:
		return rollup.Negative
	}
	return rollup.Neutral
}

func labelProto(l analyzer.Label) commonv1.SentimentLabel {
	switch l {
	case analyzer.Positive:
		return commonv1.SentimentLabel_SENTIMENT_LABEL_POSITIVE
	case analyzer.Negative:
		return commonv1.SentimentLabel_SENTIMENT_LABEL_NEGATIVE
	}
	return commonv1.SentimentLabel_SENTIMENT_LABEL_NEUTRAL
}

func granularityProto(g window.Granularity) commonv1.Granularity {
	switch g {
	case window.Day:
		return commonv1.Granularity_GRANULARITY_DAY
	case window.Month:
		return commonv1.Granularity_GRANULARITY_MONTH
	}
	return commonv1.Granularity_GRANULARITY_WEEK
}

// aggregateProto renders an aggregate; a hidden one carries its identity and no numbers. In a
// shown one, each part needs k distinct people of its own (minGroup, anonymity.MeetsMinimum):
// the scores k people with a scored item, eNPS k people with an eNPS answer, each emotion k
// people who expressed it. A part below that is left out (score_hidden, no enps, no entry).
func aggregateProto(k rollup.Key, w window.Window, st rollup.Stats, hidden bool, minGroup int) *commonv1.Aggregate {
	return aggregateIn(k, timeWindowProto(w), st, hidden, minGroup)
}

func timeWindowProto(w window.Window) *commonv1.TimeWindow {
	return &commonv1.TimeWindow{
		Granularity: granularityProto(w.Granularity),
		Start:       timestamppb.New(w.Start),
		End:         timestamppb.New(w.End),
		Key:         w.Key(),
	}
}

// aggregateIn is aggregateProto with the window rendered once by the caller (tw, shared by the
// aggregates of one answer and never changed).
func aggregateIn(k rollup.Key, tw *commonv1.TimeWindow, st rollup.Stats, hidden bool, minGroup int) *commonv1.Aggregate {
	a := &commonv1.Aggregate{
		Segment:     k.Segment,
		Dimension:   commonv1.Dimension(k.Dimension),
		Window:      tw,
		Hidden:      hidden,
		ScoreHidden: true,
	}
	if hidden {
		return a
	}
	a.People = st.People
	if scoreShown(st, minGroup) {
		a.ScoreHidden = false
		a.Count = st.Count
		a.Positive, a.Neutral, a.Negative = st.Positive, st.Neutral, st.Negative
		a.MeanScore = st.Mean()
	}
	if score, ok := st.ENPS(); ok && anonymity.MeetsMinimum(int(st.ENPSPeople), minGroup) {
		a.Enps = &commonv1.Enps{Score: score, Promoters: st.Promoters, Passives: st.Passives, Detractors: st.Detractors}
	}
	for _, e := range shownEmotions {
		if n := st.Emotions[string(e)]; anonymity.MeetsMinimum(int(n), minGroup) {
			a.Emotions = append(a.Emotions, &commonv1.EmotionCount{Emotion: emotionProto(e).String(), People: n})
		}
	}
	return a
}

// scoreShown says whether the score numbers of st (count, labels, mean, interval) may be
// shown: k distinct people with a scored item, hence k scored items too.
func scoreShown(st rollup.Stats, minGroup int) bool {
	return anonymity.MeetsMinimum(int(st.ScoredPeople), minGroup) && anonymity.MeetsMinimum(int(st.Count), minGroup)
}

// shownEmotions are the emotions an aggregate counts, in the order of sentimentv1.Emotion.
var shownEmotions = []analyzer.Emotion{
	analyzer.Joy, analyzer.Gratitude, analyzer.Pride, analyzer.Frustration,
	analyzer.Sadness, analyzer.Stress, analyzer.Fatigue,
}
