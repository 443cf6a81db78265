package sentiment_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/sentiment"
	"github.com/voix-dev/voix/services/sentiment/internal/analyzer"
)

// harassment is a comment the analyzer flags for harassment.
const harassment = "My manager harasses me and makes sexist jokes about me in every meeting."

// startWith is start with a MinConfidence.
func startWith(t *testing.T, minConfidence float64) *fixture {
	t.Helper()
	f := &fixture{}
	f.clock.Store(now.UnixNano())
	env := servicetest.New(t)
	svc, err := sentiment.Start(context.Background(), sentiment.Config{
		Listen: "127.0.0.1:0", DataDir: env.DataDir, NATS: env.NATSConfig(),
		Now:             func() time.Time { return time.Unix(0, f.clock.Load()).UTC() },
		PublishInterval: time.Hour,
		MinConfidence:   minConfidence,
	})
	if err != nil {
		t.Fatalf("start sentiment: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	secret, err := anonymity.LoadOrCreateSecret(host.DefaultSecretFile(env.DataDir))
	if err != nil {
		t.Fatalf("load secret: %v", err)
	}
	nc, err := nats.Connect(env.NATS.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	f.env, f.svc, f.secret, f.js = env, svc, secret, js
	f.client = sentimentv1.NewSentimentServiceClient(servicetest.Dial(t, svc.Addr()))
	return f
}

// flagNames names flags the way the analyzer does ("harassment,quit", "-" for none), from the
// enum names, so that the mapping is checked against an independent spelling.
func flagNames(fs []commonv1.RiskFlag) string {
	if len(fs) == 0 {
		return "-"
	}
	var names []string
	for _, f := range fs {
		names = append(names, strings.ToLower(strings.TrimPrefix(f.String(), "RISK_FLAG_")))
	}
	return strings.Join(names, ",")
}

// TestAnalyzeTextReturnsProbabilitiesAndRisks: AnalyzeText answers the class probabilities
// (summing to 1, the label the most probable) and the analyzer's risk flags.
func TestAnalyzeTextReturnsProbabilitiesAndRisks(t *testing.T) {
	f := start(t)
	a := analyzer.New("en")
	texts := []string{
		harassment,
		"I want to quit, I am sending my resignation letter next week.",
		"I am burnt out and cry every evening after work.",
		"The forklift brakes failed again, someone will get hurt in the warehouse.",
		"Great team, thanks for the lovely lunch.",
		"The meeting moved to Tuesday.",
	}
	for _, text := range texts {
		res := f.analyze(t, text)
		p := res.GetProbabilities()
		if p == nil || math.Abs(p.Negative+p.Neutral+p.Positive-1) > 1e-9 {
			t.Fatalf("AnalyzeText(%q).probabilities = %v, want three summing to 1", text, p)
		}
		top := map[commonv1.SentimentLabel]float64{
			commonv1.SentimentLabel_SENTIMENT_LABEL_NEGATIVE: p.Negative,
			commonv1.SentimentLabel_SENTIMENT_LABEL_NEUTRAL:  p.Neutral,
			commonv1.SentimentLabel_SENTIMENT_LABEL_POSITIVE: p.Positive,
		}
		if top[res.Label] < max(p.Negative, p.Neutral, p.Positive) {
			t.Errorf("AnalyzeText(%q): label %v is not the most probable of %v", text, res.Label, p)
		}
		if got, want := flagNames(res.Risks), a.Analyze(text).Risks.String(); got != want {
			t.Errorf("AnalyzeText(%q).risks = %s, want the analyzer's %s", text, got, want)
		}
	}
	if got := f.analyze(t, harassment).Risks; !slices.Contains(got, commonv1.RiskFlag_RISK_FLAG_HARASSMENT) {
		t.Errorf("AnalyzeText(%q).risks = %v, want HARASSMENT", harassment, got)
	}
}

// TestItemScoredCarriesRisksNeverText: the ItemScored of a flagged comment carries the flag,
// and none of the comment's words.
func TestItemScoredCarriesRisksNeverText(t *testing.T) {
	f := start(t)
	f.comment(t, "H1", "acme/ops", harassment)
	var scored eventsv1.ItemScored
	msg := f.lastOn(t, events.SentimentScored, "acme/ops")
	if err := proto.Unmarshal(msg.Data, &scored); err != nil {
		t.Fatalf("decode ItemScored: %v", err)
	}
	if !slices.Contains(scored.Risks, commonv1.RiskFlag_RISK_FLAG_HARASSMENT) {
		t.Errorf("ItemScored.risks = %v, want HARASSMENT", scored.Risks)
	}
	for _, w := range []string{"harasses", "sexist", "manager harasses"} {
		if strings.Contains(string(msg.Data), w) {
			t.Errorf("ItemScored holds %q from the comment's text", w)
		}
	}
}

// TestMinConfidenceLeavesUnsureItemsOutOfScores: with --min-confidence, a comment whose top
// class is less probable counts its author as a person but adds no score, label or emotion;
// it is still scored and its ItemScored published. A TEXT answer under it likewise.
func TestMinConfidenceLeavesUnsureItemsOutOfScores(t *testing.T) {
	a := analyzer.New("en")
	pool := []string{
		"Great manager, thanks, I love working with this team!",
		"Fantastic onboarding, everyone was so helpful and kind.",
		"I am exhausted and overwhelmed, this workload is terrible.",
		"The tools are awful and nothing ever works, what a mess.",
		"Excellent training, I learned a lot and loved it.",
		"The meeting moved to Tuesday.",
		"It is fine I guess, but maybe not.",
		"Comment number 3 about the build servers",
		"Okay.",
		"We have a new coffee machine, not sure yet.",
		"Salary is correct but no prospects.",
	}
	top := func(s string) float64 {
		p := a.Analyze(s).Probabilities
		return max(p.Negative, p.Neutral, p.Positive)
	}
	sort.SliceStable(pool, func(i, j int) bool { return top(pool[i]) > top(pool[j]) })
	sure, unsure := pool[:5], pool[len(pool)-3:]
	if top(sure[4]) <= top(unsure[0]) {
		t.Fatalf("the analyzer gives no gap between %q (%.4f) and %q (%.4f)", sure[4], top(sure[4]), unsure[0], top(unsure[0]))
	}
	threshold := (top(sure[4]) + top(unsure[0])) / 2

	f := startWith(t, threshold)
	var want float64
	for i, text := range sure {
		want += a.Analyze(text).Score
		f.comment(t, fmt.Sprintf("S%d", i), "acme/ops", text)
	}
	for i, text := range unsure {
		f.comment(t, fmt.Sprintf("U%d", i), "acme/ops", text)
	}
	f.waitAcked(t, events.DurableSentimentFeedback, events.Feedback.Name, 8)
	got := f.get(t, "acme/ops", commonv1.Dimension_DIMENSION_UNSPECIFIED)
	if got.Hidden || got.People != 8 || got.Count != 5 || math.Abs(got.MeanScore-want/5) > 1e-6 {
		t.Errorf("acme/ops = %+v; want 8 people, 5 scored items (the sure ones), mean %.4f", got, want/5)
	}
	// Every comment is still scored and published, the unsure ones too.
	poll.Until(t, 10*time.Second, 20*time.Millisecond, func() error {
		st, err := f.js.Stream(context.Background(), events.Sentiment.Name)
		if err != nil {
			return err
		}
		subject := events.SentimentScored.Subject(segment.MustParse("acme/ops"))
		info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(subject))
		if err != nil {
			return err
		}
		if n := info.State.Subjects[subject]; n != 8 {
			return fmt.Errorf("%d ItemScored on acme/ops, want 8", n)
		}
		return nil
	})

	// A survey TEXT answer under the threshold makes its author a participant, no score.
	for i := range 5 {
		text := sure[i]
		if i >= 3 {
			text = unsure[i-3]
		}
		f.publish(t, events.PulseResponded.Subject(segment.MustParse("acme/sales")), events.PulseResponded.Type, &eventsv1.ResponseSubmitted{
			ResponseId: fmt.Sprintf("r%d", i), SurveyId: "s1", Wave: 1, Segment: "acme/sales",
			Answers: []*eventsv1.ScoredAnswer{
				{QuestionId: "q1", Kind: commonv1.QuestionKind_QUESTION_KIND_TEXT, Dimension: commonv1.Dimension_DIMENSION_GROWTH, Text: text},
			},
			Contributors: f.contributors(t, fmt.Sprintf("R%d", i), "acme/sales"),
		})
	}
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, 5)
	growth := f.get(t, "acme/sales", commonv1.Dimension_DIMENSION_GROWTH)
	if growth.Hidden || growth.People != 5 || !growth.ScoreHidden {
		t.Errorf("acme/sales GROWTH = %+v; want 5 people and the score hidden (3 scored people < k)", growth)
	}
}

// TestMinConfidenceOutOfRangeIsRefused: Start refuses a MinConfidence outside [0, 1].
func TestMinConfidenceOutOfRangeIsRefused(t *testing.T) {
	env := servicetest.New(t)
	for _, v := range []float64{-0.01, 1.01, math.NaN()} {
		svc, err := sentiment.Start(context.Background(), sentiment.Config{
			Listen: "127.0.0.1:0", DataDir: env.DataDir, NATS: env.NATSConfig(), MinConfidence: v,
		})
		if err == nil {
			svc.Close()
			t.Errorf("Start with MinConfidence %v: nil error, want a refusal", v)
		} else if !strings.Contains(err.Error(), "MinConfidence") {
			t.Errorf("Start with MinConfidence %v: %v, want it named", v, err)
		}
	}
}
