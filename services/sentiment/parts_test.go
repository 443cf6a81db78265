package sentiment_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/segment"
)

// The tests of this file check that every number a shown aggregate carries rests on k = 5
// distinct people of its own, not only the aggregate as a whole.

// respond publishes one survey response of ref in seg at time at with the answers given.
func (f *fixture) respond(t *testing.T, ref, seg string, at time.Time, answers ...*eventsv1.ScoredAnswer) {
	t.Helper()
	p := segment.MustParse(seg)
	var tags []*eventsv1.ContributorTag
	for _, c := range f.secret.Contributors(ref, p, at) {
		tags = append(tags, &eventsv1.ContributorTag{Segment: c.Segment, Window: c.Window, Tag: c.Tag})
	}
	f.publish(t, events.PulseResponded.Subject(p), events.PulseResponded.Type, &eventsv1.ResponseSubmitted{
		ResponseId: fmt.Sprintf("r-%d", f.seq+1), SurveyId: "s1", Wave: uint32(f.seq + 1), Segment: seg,
		Answers: answers, SubmittedDay: timestamppb.New(at.Truncate(24 * time.Hour)), Contributors: tags,
	})
}

func scale(dim commonv1.Dimension, v int32) *eventsv1.ScoredAnswer {
	return &eventsv1.ScoredAnswer{QuestionId: "scale", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: dim, Value: v}
}

func enpsAnswer(v int32) *eventsv1.ScoredAnswer {
	return &eventsv1.ScoredAnswer{QuestionId: "enps", Kind: commonv1.QuestionKind_QUESTION_KIND_ENPS, Dimension: commonv1.Dimension_DIMENSION_ENGAGEMENT, Value: v}
}

func choice(dim commonv1.Dimension) *eventsv1.ScoredAnswer {
	return &eventsv1.ScoredAnswer{QuestionId: "choice", Kind: commonv1.QuestionKind_QUESTION_KIND_CHOICE, Dimension: dim, OptionIds: []string{"a"}}
}

func textAnswer(dim commonv1.Dimension, text string) *eventsv1.ScoredAnswer {
	return &eventsv1.ScoredAnswer{QuestionId: "text", Kind: commonv1.QuestionKind_QUESTION_KIND_TEXT, Dimension: dim, Text: text}
}

// update waits for the SentimentUpdated of seg and dim in now's week that counts people
// people, and returns the newest such.
func (f *fixture) update(t *testing.T, seg string, dim commonv1.Dimension, people uint32) *commonv1.Aggregate {
	t.Helper()
	var got *eventsv1.SentimentUpdated
	poll.Until(t, 10*time.Second, 20*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := f.js.Stream(ctx, events.Sentiment.Name)
		if err != nil {
			return err
		}
		info, err := st.Info(ctx)
		if err != nil {
			return err
		}
		subject := events.SentimentUpdated.Subject(segment.MustParse(seg))
		got = nil
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
			msg, err := st.GetMsg(ctx, seq)
			if err != nil || msg.Subject != subject {
				continue
			}
			var u eventsv1.SentimentUpdated
			if err := proto.Unmarshal(msg.Data, &u); err != nil {
				t.Fatalf("decode update: %v", err)
			}
			a := u.Aggregate
			if a.Dimension == dim && a.People == people && a.Window.Key == weekKey(now) && (got == nil || u.Version > got.Version) {
				got = &u
			}
		}
		if got == nil {
			return fmt.Errorf("no update of %s/%v with %d people yet", seg, dim, people)
		}
		return nil
	})
	return got.Aggregate
}

// trendPoint reads the GetTrend point of now's week.
func (f *fixture) trendPoint(t *testing.T, seg string, dim commonv1.Dimension) *sentimentv1.TrendPoint {
	t.Helper()
	resp, err := f.client.GetTrend(f.env.As(context.Background(), auth.RoleHR), &sentimentv1.GetTrendRequest{
		Segment: seg, Dimension: dim, StartTime: timestamppb.New(now), EndTime: timestamppb.New(now),
	})
	if err != nil {
		t.Fatalf("GetTrend: %v", err)
	}
	if len(resp.Points) != 1 {
		t.Fatalf("GetTrend of one week: %d points", len(resp.Points))
	}
	return resp.Points[0]
}

// heatmapCell reads the GetHeatmap cell of seg (a child of prefix) and dim in now's week.
func (f *fixture) heatmapCell(t *testing.T, prefix, seg string, dim commonv1.Dimension) *commonv1.Aggregate {
	t.Helper()
	resp, err := f.client.GetHeatmap(f.env.As(context.Background(), auth.RoleManager), &sentimentv1.GetHeatmapRequest{SegmentPrefix: prefix, Time: timestamppb.New(now)})
	if err != nil {
		t.Fatalf("GetHeatmap: %v", err)
	}
	for _, r := range resp.Rows {
		for _, c := range r.Cells {
			if r.Segment == seg && c.Dimension == dim {
				return c
			}
		}
	}
	t.Fatalf("GetHeatmap(%s) has no cell %s/%v", prefix, seg, dim)
	return nil
}

// TestENPSOfFewerThanKPeopleIsNotShown: in a shown aggregate of 14 people, one of them a
// promoter who answered the eNPS question in five surveys this week, the eNPS would be 100 from
// one person. It is absent, with its counters, from GetSentiment, GetTrend, GetHeatmap and
// the published update. Once five people have answered it, it shows.
func TestENPSOfFewerThanKPeopleIsNotShown(t *testing.T) {
	f := start(t)
	wl, all := commonv1.Dimension_DIMENSION_WORKLOAD, commonv1.Dimension_DIMENSION_UNSPECIFIED
	sent := 0
	for i := range 13 {
		f.respond(t, fmt.Sprint("P", i), "acme/sales", now, scale(wl, 4))
		sent++
	}
	for range 5 { // five answers, one person
		f.respond(t, "promoter", "acme/sales", now, scale(wl, 5), enpsAnswer(10))
		sent++
	}
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(sent))

	for _, c := range []struct {
		where string
		a     *commonv1.Aggregate
	}{
		{"GetSentiment", f.get(t, "acme/sales", all)},
		{"GetTrend", f.trendPoint(t, "acme/sales", all).Aggregate},
		{"SentimentUpdated", f.update(t, "acme/sales", all, 14)},
	} {
		if c.a.Hidden || c.a.People != 14 || c.a.ScoreHidden || c.a.Count != 18 {
			t.Errorf("%s: %+v, want 14 people and their 18 scores shown", c.where, c.a)
		}
		if c.a.Enps != nil {
			t.Errorf("%s: eNPS %+v shown from one person", c.where, c.a.Enps)
		}
	}
	// ENGAGEMENT holds only the promoter: hidden whole, as before.
	if cell := f.heatmapCell(t, "acme", "acme/sales", commonv1.Dimension_DIMENSION_ENGAGEMENT); !cell.Hidden || cell.Enps != nil {
		t.Errorf("GetHeatmap ENGAGEMENT of one person: %+v, want hidden", cell)
	}

	// Five more people answer it: six people behind the eNPS, and five new people to release.
	enps := []int32{10, 3, 8, 9, 0}
	for i, v := range enps {
		f.respond(t, fmt.Sprint("E", i), "acme/sales", now, enpsAnswer(v))
		sent++
	}
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(sent))
	// Promoters: the first person's five answers, and 10 and 9; detractors 3 and 0; passive 8.
	want := &commonv1.Enps{Score: 100 * float64(7-2) / 10, Promoters: 7, Passives: 1, Detractors: 2}
	for _, c := range []struct {
		where string
		a     *commonv1.Aggregate
	}{
		{"GetSentiment", f.get(t, "acme/sales", all)},
		{"GetHeatmap ENGAGEMENT", f.heatmapCell(t, "acme", "acme/sales", commonv1.Dimension_DIMENSION_ENGAGEMENT)},
		{"SentimentUpdated", f.update(t, "acme/sales", all, 19)},
	} {
		if c.a.Hidden || !proto.Equal(c.a.Enps, want) {
			t.Errorf("%s: eNPS of six people = %+v (hidden %v), want %+v", c.where, c.a.Enps, c.a.Hidden, want)
		}
	}
}

// TestChoiceOnlyPeopleShowNoMean: CHOICE answers make their authors count as people but carry
// no score. Ten people who answered only CHOICE questions, and one who answered a SCALE
// question in six surveys, show their people but no count, labels, mean or interval
// (score_hidden), where the mean used to show as a neutral 0. Five more people with a score
// show the mean of all twelve scores.
func TestChoiceOnlyPeopleShowNoMean(t *testing.T) {
	f := start(t)
	wl, all := commonv1.Dimension_DIMENSION_WORKLOAD, commonv1.Dimension_DIMENSION_UNSPECIFIED
	sent := 0
	for i := range 10 {
		f.respond(t, fmt.Sprint("C", i), "acme/ops", now, choice(wl))
		sent++
	}
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(sent))
	hiddenScore := func(when string, want uint32, a *commonv1.Aggregate) {
		t.Helper()
		if a.Hidden || a.People != want || !a.ScoreHidden || a.Count != 0 || a.Positive+a.Neutral+a.Negative != 0 || a.MeanScore != 0 {
			t.Errorf("%s: %+v, want %d people shown and no score numbers (score_hidden)", when, a, want)
		}
	}
	hiddenScore("CHOICE only, GetSentiment", 10, f.get(t, "acme/ops", wl))
	hiddenScore("CHOICE only, SentimentUpdated", 10, f.update(t, "acme/ops", wl, 10))
	hiddenScore("CHOICE only, GetHeatmap", 10, f.heatmapCell(t, "acme", "acme/ops", wl))
	p := f.trendPoint(t, "acme/ops", all)
	hiddenScore("CHOICE only, GetTrend", 10, p.Aggregate)
	if p.CiLow != 0 || p.CiHigh != 0 {
		t.Errorf("CHOICE only, GetTrend: interval [%g, %g] of no scores, want none", p.CiLow, p.CiHigh)
	}

	// Six scores of one person: six items, still one person.
	for range 6 {
		f.respond(t, "scorer", "acme/ops", now, scale(wl, 1))
		sent++
	}
	// Four more CHOICE people, so that five new people allow a release.
	for i := range 4 {
		f.respond(t, fmt.Sprint("D", i), "acme/ops", now, choice(wl))
		sent++
	}
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(sent))
	hiddenScore("six scores of one person, GetSentiment", 15, f.get(t, "acme/ops", wl))
	hiddenScore("six scores of one person, SentimentUpdated", 15, f.update(t, "acme/ops", all, 15))

	// Five people with a score each: six people behind twelve scores.
	for i := range 5 {
		f.respond(t, fmt.Sprint("S", i), "acme/ops", now, scale(wl, 5))
		sent++
	}
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(sent))
	wantMean := (6*-1.0 + 5*1.0) / 11
	for _, c := range []struct {
		where string
		a     *commonv1.Aggregate
	}{
		{"GetSentiment", f.get(t, "acme/ops", wl)},
		{"SentimentUpdated", f.update(t, "acme/ops", wl, 20)},
	} {
		if c.a.Hidden || c.a.People != 20 || c.a.ScoreHidden || c.a.Count != 11 || c.a.Negative != 6 || c.a.Positive != 5 || math.Abs(c.a.MeanScore-wantMean) > 1e-6 {
			t.Errorf("%s: %+v, want 20 people, 11 scores of 6 people, mean %.4f", c.where, c.a, wantMean)
		}
	}
	if p := f.trendPoint(t, "acme/ops", wl); p.Aggregate.ScoreHidden || p.CiLow >= wantMean || p.CiHigh <= wantMean {
		t.Errorf("GetTrend with six scored people: %+v, want an interval around %.4f", p, wantMean)
	}
}

// TestDimensionCellNeedsKPeopleInItsDimension: each dimension's aggregate counts its own
// people. Eight people answer about WORKLOAD and three of them about GROWTH too: the overall
// aggregate and WORKLOAD show eight people, GROWTH (three) is hidden, in GetSentiment and in
// the heatmap, and nothing is published for it.
func TestDimensionCellNeedsKPeopleInItsDimension(t *testing.T) {
	f := start(t)
	wl, gr := commonv1.Dimension_DIMENSION_WORKLOAD, commonv1.Dimension_DIMENSION_GROWTH
	for i := range 8 {
		answers := []*eventsv1.ScoredAnswer{scale(wl, 4)}
		if i < 3 {
			answers = append(answers, scale(gr, 1))
		}
		f.respond(t, fmt.Sprint("P", i), "acme/sales", now, answers...)
	}
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, 8)
	if a := f.get(t, "acme/sales", 0); a.Hidden || a.People != 8 || a.Count != 11 {
		t.Errorf("overall: %+v, want 8 people, 11 scores", a)
	}
	if a := f.heatmapCell(t, "acme", "acme/sales", wl); a.Hidden || a.People != 8 || a.Count != 8 {
		t.Errorf("WORKLOAD cell: %+v, want 8 people", a)
	}
	for where, a := range map[string]*commonv1.Aggregate{
		"GetSentiment": f.get(t, "acme/sales", gr),
		"GetHeatmap":   f.heatmapCell(t, "acme", "acme/sales", gr),
		"GetTrend":     f.trendPoint(t, "acme/sales", gr).Aggregate,
	} {
		if !a.Hidden || a.People != 0 || a.Count != 0 || a.MeanScore != 0 {
			t.Errorf("%s: GROWTH of 3 people = %+v, want hidden", where, a)
		}
	}
	// The WORKLOAD update came out in the same flush as any GROWTH one would have.
	f.update(t, "acme/sales", wl, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := f.js.Stream(ctx, events.Sentiment.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		msg, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		var u eventsv1.SentimentUpdated
		if proto.Unmarshal(msg.Data, &u) == nil && u.Aggregate.GetDimension() == gr {
			t.Errorf("published GROWTH of 3 people: %v", &u)
		}
	}
}

// TestTrendIntervalAtFivePeopleIsStudentsT: five scores 0.5, 0.5, 0, 0, -0.5 have mean 0.1 and
// standard error sqrt(0.175/5); the 95% interval is the mean ± t(0.975, 4 df) = 2.776 standard
// errors, the textbook value, where the normal 1.96 was 29% too narrow.
func TestTrendIntervalAtFivePeopleIsStudentsT(t *testing.T) {
	f := start(t)
	wl := commonv1.Dimension_DIMENSION_WORKLOAD
	for i, v := range []int32{4, 4, 3, 3, 2} {
		f.answer(t, fmt.Sprint("P", i), "acme/sales", now, wl, v)
	}
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, 5)
	p := f.trendPoint(t, "acme/sales", wl)
	const t4 = 2.7764451051977987 // t(0.975, 4)
	half := t4 * math.Sqrt(0.175/5)
	if p.Aggregate.Hidden || p.Aggregate.Count != 5 || math.Abs(p.Aggregate.MeanScore-0.1) > 1e-9 ||
		math.Abs(p.CiLow-(0.1-half)) > 1e-6 || math.Abs(p.CiHigh-(0.1+half)) > 1e-6 {
		t.Fatalf("point = mean %.6f [%.6f, %.6f], want 0.1 [%.6f, %.6f]", p.Aggregate.MeanScore, p.CiLow, p.CiHigh, 0.1-half, 0.1+half)
	}
}

// emotionTexts picks, with the analyzer, two texts whose dominant emotions differ.
func (f *fixture) emotionTexts(t *testing.T) (string, sentimentv1.Emotion, string, sentimentv1.Emotion) {
	t.Helper()
	candidates := []string{
		"I'm swamped", "we are exhausted", "thanks for the recognition", "the micromanagement",
		"I have never been so happy here", "Trop de stress cette semaine", "Je suis épuisé",
		"Merci pour la reconnaissance", "super fière de l'équipe", "close to burnout",
	}
	var texts []string
	var emotions []sentimentv1.Emotion
	for _, text := range candidates {
		e := f.analyze(t, text).Emotion
		if e == sentimentv1.Emotion_EMOTION_UNSPECIFIED || (len(emotions) == 1 && e == emotions[0]) {
			continue
		}
		texts, emotions = append(texts, text), append(emotions, e)
		if len(texts) == 2 {
			return texts[0], emotions[0], texts[1], emotions[1]
		}
	}
	t.Fatalf("the analyzer finds fewer than two distinct emotions in %q", candidates)
	return "", 0, "", 0
}

// TestEmotionsOfFewerThanKPeopleAreNotShown: six people express one emotion (three in comments,
// three in TEXT answers, one of them twice) and two another, in an aggregate of eight people.
// The first shows with six people in GetSentiment, GetHeatmap, GetTrend and the published
// update; the second, of two people, is absent.
func TestEmotionsOfFewerThanKPeopleAreNotShown(t *testing.T) {
	f := start(t)
	wl, all := commonv1.Dimension_DIMENSION_WORKLOAD, commonv1.Dimension_DIMENSION_UNSPECIFIED
	many, manyEmotion, few, fewEmotion := f.emotionTexts(t)
	comments, answers := 0, 0
	for i := range 6 {
		ref := fmt.Sprint("M", i)
		if i < 3 {
			f.comment(t, ref, "acme/sales", many, wl)
			comments++
		} else {
			f.respond(t, ref, "acme/sales", now, textAnswer(wl, many))
			answers++
		}
	}
	f.respond(t, "M0", "acme/sales", now, textAnswer(wl, many)) // again: still six people
	answers++
	for i := range 2 {
		f.comment(t, fmt.Sprint("F", i), "acme/sales", few, wl)
		comments++
	}
	f.waitApplied(t, events.DurableSentimentFeedback, events.Feedback.Name, uint64(comments))
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(answers))

	want := []*commonv1.EmotionCount{{Emotion: manyEmotion.String(), People: 6}}
	for _, c := range []struct {
		where string
		a     *commonv1.Aggregate
	}{
		{"GetSentiment", f.get(t, "acme/sales", all)},
		{"GetHeatmap", f.heatmapCell(t, "acme", "acme/sales", wl)},
		{"GetTrend", f.trendPoint(t, "acme/sales", wl).Aggregate},
		{"SentimentUpdated", f.update(t, "acme/sales", all, 8)},
	} {
		if c.a.Hidden || c.a.People != 8 {
			t.Errorf("%s: %+v, want 8 people shown", c.where, c.a)
			continue
		}
		if len(c.a.Emotions) != len(want) || !proto.Equal(c.a.Emotions[0], want[0]) {
			t.Errorf("%s: emotions %v, want only %v (%v of 2 people hidden)", c.where, c.a.Emotions, want, fewEmotion)
		}
		for _, e := range c.a.Emotions {
			if _, known := sentimentv1.Emotion_value[e.Emotion]; !known {
				t.Errorf("%s: emotion %q is not a name of voix.sentiment.v1.Emotion", c.where, e.Emotion)
			}
		}
	}
}
