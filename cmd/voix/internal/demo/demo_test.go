package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/voix-dev/voix/cmd/voix/internal/dev"
	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// startSuite runs voix dev on a demo clock of weeks weeks that catches up in catchUp, on free
// ports with its data in a new directory; it stops in t.Cleanup if not before.
func startSuite(t *testing.T, weeks int, catchUp time.Duration) (*dev.Suite, Config) {
	t.Helper()
	dir := t.TempDir()
	s, err := dev.Start(context.Background(), dev.Config{
		DataDir:         dir,
		NATSPort:        -1,
		PulseListen:     "127.0.0.1:0",
		FeedbackListen:  "127.0.0.1:0",
		SentimentListen: "127.0.0.1:0",
		GatewayListen:   "127.0.0.1:0",
		DemoWeeks:       weeks,
		DemoDuration:    catchUp,
	})
	if err != nil {
		t.Fatalf("start dev suite in %s: %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s, Config{
		DataDir: dir, PulseAddr: s.Pulse.Addr(), FeedbackAddr: s.Feedback.Addr(),
		SentimentAddr: s.Sentiment.Addr(), GatewayAddr: s.Gateway.Addr(),
	}
}

// TestDemoFillsTheSuite runs a small demo twice with one seed, each on a suite of its own, and
// reads what HR sees after the first: closed waves with visible teams, a heatmap with visible
// team cells, comments; and the two runs created the same things. The runs take turns, each
// with its suite alone: the demo has to keep up with its clock, and with the race detector on a
// small machine shared with the rest of `make test`, forty people over two weeks need about
// thirty seconds of real time; the clock gives them thirty-six.
func TestDemoFillsTheSuite(t *testing.T) {
	const weeks, people = 2, 40
	var results [2]*Result
	for i := range 2 {
		s, cfg := startSuite(t, weeks, 36*time.Second)
		var out bytes.Buffer
		cfg.Seed, cfg.People, cfg.Workers, cfg.Out = 7, people, 8, &out
		res, err := Run(context.Background(), cfg)
		t.Logf("run %d:\n%s", i, out.String())
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		out.Reset()
		res.Report(&out)
		t.Logf("run %d report:\n%s", i, out.String())
		results[i] = res
		if i == 0 {
			checkWhatHRSees(t, s, res, weeks)
		}
		if err := s.Close(); err != nil { // before the next run, which needs the machine
			t.Fatalf("stop suite %d: %v", i, err)
		}
	}
	a, b := results[0].Counts, results[1].Counts
	if a != b {
		t.Errorf("two runs with one seed created different things:\n%+v\n%+v", a, b)
	}
	if a.Late > 0 {
		t.Errorf("%d actions came too late", a.Late)
	}
	if a.People != people || a.Waves != weeks || a.ClosedWaves != weeks-1 || a.WeeklyResponses < people || a.ChatComments == 0 || a.WebComments == 0 ||
		a.Replies == 0 || a.StatusChanges == 0 || a.DiagnosticResponses == 0 || a.ChatResponses == 0 {
		t.Errorf("the demo did too little: %+v", a)
	}
}

// checkWhatHRSees reads, as HR, what the demo of res made in suite s.
func checkWhatHRSees(t *testing.T, s *dev.Suite, res *Result, weeks int) {
	t.Helper()
	a := res.Counts
	hr := servicetest.WithToken(context.Background(), s.Tokens.HR)
	pc := pulsev1.NewPulseServiceClient(servicetest.Dial(t, s.Pulse.Addr()))
	sv, err := pc.GetSurvey(hr, &pulsev1.GetSurveyRequest{SurveyId: res.WeeklyID})
	if err != nil {
		t.Fatalf("GetSurvey: %v", err)
	}
	// Every wave asks the eNPS question (the template asks it every fourth week only).
	enpsQ := ""
	for _, q := range sv.Survey.Questions {
		if q.Kind == commonv1.QuestionKind_QUESTION_KIND_ENPS {
			enpsQ = q.Id
		}
	}
	for _, w := range sv.Survey.Waves {
		if enpsQ == "" || !slices.Contains(w.QuestionIds, enpsQ) {
			t.Errorf("wave %d of the weekly pulse asks %v, no eNPS question (%q)", w.Number, w.QuestionIds, enpsQ)
		}
	}
	visible := 0
	for _, w := range sv.Survey.Waves {
		if !w.Closed {
			continue
		}
		r, err := pc.GetResults(hr, &pulsev1.GetResultsRequest{SurveyId: res.WeeklyID, FirstWave: w.Number, SegmentPrefix: "acme/engineering"})
		if err != nil {
			t.Fatalf("GetResults wave %d: %v", w.Number, err)
		}
		for _, g := range r.Children {
			if !g.Hidden {
				visible++
			}
		}
	}
	if visible == 0 {
		t.Errorf("no team of acme/engineering is visible in any closed wave of the weekly pulse")
	}

	sc := sentimentv1.NewSentimentServiceClient(servicetest.Dial(t, s.Sentiment.Addr()))
	// teamCells counts the visible team cells of the week holding at (now: the zero time), and
	// all of them.
	teamCells := func(at time.Time) (visible, total int, err error) {
		for _, dept := range []string{"acme/engineering", "acme/sales", "acme/operations"} {
			req := &sentimentv1.GetHeatmapRequest{SegmentPrefix: dept}
			if !at.IsZero() {
				req.Time = timestamppb.New(at)
			}
			hm, err := sc.GetHeatmap(hr, req)
			if err != nil {
				return 0, 0, fmt.Errorf("GetHeatmap %s: %w", dept, err)
			}
			for _, row := range hm.Rows {
				for _, c := range row.Cells {
					total++
					if !c.Hidden {
						visible++
					}
				}
			}
		}
		return visible, total, nil
	}
	best, total := 0, 0
	for _, w := range sv.Survey.Waves { // the weeks of the closed waves
		if !w.Closed {
			continue
		}
		cells, n, err := teamCells(w.OpensAt.AsTime().Add(24 * time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		best, total = max(best, cells), n
	}
	t.Logf("the best past week's heatmaps show %d of %d team cells", best, total)
	if best*2 < total {
		t.Errorf("the best past week's heatmaps show %d of %d team cells, want at least half", best, total)
	}
	// The current week, which the dashboard opens on, has the last wave's answers: once they
	// are released, at least a third of its team cells show (teams of six or seven here, so
	// some have fewer than five people answering).
	poll.Until(t, 30*time.Second, 100*time.Millisecond, func() error {
		cells, n, err := teamCells(time.Time{})
		if err != nil {
			return err
		}
		if cells*3 < n || n == 0 {
			return fmt.Errorf("this week's heatmaps show %d of %d team cells, want at least a third", cells, n)
		}
		t.Logf("this week's heatmaps show %d of %d team cells", cells, n)
		return nil
	})
	// And the departments, which the dashboard's first page shows: every team is fully
	// released, so none of them waits for the end of the week.
	poll.Until(t, 30*time.Second, 100*time.Millisecond, func() error {
		hm, err := sc.GetHeatmap(hr, &sentimentv1.GetHeatmapRequest{SegmentPrefix: "acme"})
		if err != nil {
			return err
		}
		visible, total := 0, 0
		for _, row := range hm.Rows {
			for _, c := range row.Cells {
				total++
				if !c.Hidden {
					visible++
				}
			}
		}
		if total == 0 || visible*2 < total {
			return fmt.Errorf("this week's heatmap of acme shows %d of %d department cells, want at least half", visible, total)
		}
		t.Logf("this week's heatmap of acme shows %d of %d department cells", visible, total)
		return nil
	})
	// The dashboard's eNPS card reads this week's engagement of its segment (GetSentiment):
	// everyone who answered the last wave answered its eNPS question, so the organisation and
	// every department shown show an eNPS, and at least one department is shown.
	poll.Until(t, 30*time.Second, 100*time.Millisecond, func() error {
		shown := 0
		for _, seg := range []string{"acme", "acme/engineering", "acme/sales", "acme/operations"} {
			g, err := sc.GetSentiment(hr, &sentimentv1.GetSentimentRequest{Segment: seg, Dimension: commonv1.Dimension_DIMENSION_ENGAGEMENT})
			if err != nil {
				return fmt.Errorf("GetSentiment %s: %w", seg, err)
			}
			a := g.Aggregate
			switch {
			case a.GetHidden() && seg == "acme":
				return fmt.Errorf("this week's engagement of acme is hidden")
			case a.GetHidden():
				continue
			case a.GetEnps() == nil:
				return fmt.Errorf("this week's engagement of %s (%d people) shows no eNPS", seg, a.People)
			case a.Enps.Promoters+a.Enps.Passives+a.Enps.Detractors < 5:
				return fmt.Errorf("this week's eNPS of %s counts %+v, fewer than five answers", seg, a.Enps)
			}
			t.Logf("this week's eNPS of %s: %+.0f (%d promoters, %d passives, %d detractors)",
				seg, a.Enps.Score, a.Enps.Promoters, a.Enps.Passives, a.Enps.Detractors)
			if seg != "acme" {
				shown++
			}
		}
		if shown == 0 {
			return fmt.Errorf("no department shows this week's eNPS")
		}
		return nil
	})

	// The customer mirror: the teams' CX tools recorded their customers' weeks, so HR sees teams
	// with customer values beside the employees' released aggregates.
	if a.CustomerSignals == 0 {
		t.Errorf("the demo recorded no customer signals")
	}
	sym, err := sc.GetAttentionSymmetry(hr, &sentimentv1.GetAttentionSymmetryRequest{
		SegmentPrefix: "acme", StartTime: timestamppb.New(sv.Survey.Waves[0].OpensAt.AsTime().Add(-7 * 24 * time.Hour)),
	})
	if err != nil {
		t.Fatalf("GetAttentionSymmetry: %v", err)
	}
	teams, both := 0, 0
	for _, row := range sym.Rows {
		if strings.Count(row.Segment, "/") != 2 {
			continue
		}
		shown := 0
		for _, p := range row.Points {
			if !p.CustomerHidden {
				shown++
				if e := p.Employees; e != nil && !e.Hidden && !e.ScoreHidden {
					both++
				}
			}
		}
		if shown > 0 {
			teams++
		}
	}
	t.Logf("the customer mirror: %d rows, %d team rows with customer values, %d team-weeks with both sides", len(sym.Rows), teams, both)
	if teams == 0 || both == 0 {
		t.Errorf("GetAttentionSymmetry shows %d team rows with customer values and %d team-weeks with both sides, want some of each", teams, both)
	}

	fc := feedbackv1.NewFeedbackServiceClient(servicetest.Dial(t, s.Feedback.Addr()))
	// Survey TEXT answers are feedback items too (channel SURVEY), released the day after their
	// response: the comments the demo filed are the others.
	list := &feedbackv1.ListFeedbackResponse{}
	for req := (&feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", PageSize: 200}); ; {
		page, err := fc.ListFeedback(hr, req)
		if err != nil {
			t.Fatalf("ListFeedback: %v", err)
		}
		for _, f := range page.Feedback {
			if f.Channel != feedbackv1.Channel_CHANNEL_SURVEY {
				list.Feedback = append(list.Feedback, f)
			}
		}
		if req.PageToken = page.NextPageToken; req.PageToken == "" {
			break
		}
	}
	if got, want := len(list.Feedback), a.ChatComments+a.WebComments; got != want {
		t.Errorf("ListFeedback shows %d comments, want the %d the demo filed", got, want)
	}
	// The inbox shows HR at work: comments with messages (replies, follow-ups) and moved on from
	// NEW, and the routing rules applied.
	answered, moved, routed := 0, 0, 0
	for _, f := range list.Feedback {
		if f.MessageCount > 0 {
			answered++
		}
		if f.Status != commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW {
			moved++
		}
		if f.OwnerGroup != "" {
			routed++
		}
	}
	if answered == 0 || moved == 0 || routed == 0 {
		t.Errorf("of %d comments, %d have messages, %d moved on from NEW, %d have an owner; want some of each",
			len(list.Feedback), answered, moved, routed)
	}
}

// TestDemoNeedsTheDemoClock: against a suite on the real clock, the demo says how to start one.
func TestDemoNeedsTheDemoClock(t *testing.T) {
	dir := t.TempDir()
	s, err := dev.Start(context.Background(), dev.Config{DataDir: dir, NATSPort: -1, PulseListen: "127.0.0.1:0",
		FeedbackListen: "127.0.0.1:0", SentimentListen: "127.0.0.1:0", GatewayListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = Run(context.Background(), Config{DataDir: dir, PulseAddr: s.Pulse.Addr()})
	if !errors.Is(err, ErrNoDemoClock) || !strings.Contains(err.Error(), "--demo-weeks") {
		t.Fatalf("Run against a suite on the real clock: %v, want %v with how to start one", err, ErrNoDemoClock)
	}
}
