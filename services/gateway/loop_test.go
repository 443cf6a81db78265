package gateway_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/pulse"
)

var threadCodeRE = regexp.MustCompile("follow-up code is `([A-Z2-7]{26})`")

// TestSurveyCommentThreadThroughTheBot: /pulse answer with a comment gives the person the
// follow-up code of the thread their comment opened, and "you said, we did" (the plans of
// their team and above, not another team's, without owner group); from the next day the
// comment is a feedback item that /feedback status and reply reach with that code, and that
// HR reads as a SURVEY comment.
func TestSurveyCommentThreadThroughTheBot(t *testing.T) {
	f := start(t, "")
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	p, err := pulse.Start(context.Background(), pulse.Config{Listen: "127.0.0.1:0", DataDir: f.env.DataDir, NATS: f.env.NATSConfig(),
		Now: clock, ScheduleEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	f.restartGateway(t, p.Addr())
	f.register(t, acmeTeams)
	hr := f.env.As(context.Background(), auth.RoleHR)
	client := pulsev1.NewPulseServiceClient(servicetest.Dial(t, p.Addr()))
	if _, err := client.CreateSurvey(hr, &pulsev1.CreateSurveyRequest{Survey: &pulsev1.Survey{
		Title: lt("Weekly pulse"), Audience: "acme", Cadence: pulsev1.Cadence_CADENCE_WEEKLY, DefaultLanguage: "en",
		Schedule: &pulsev1.Schedule{FirstOpensAt: timestamppb.New(now.Add(-time.Hour))},
		Questions: []*pulsev1.Question{
			{Id: "mood", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: commonv1.Dimension_DIMENSION_WORKLOAD, Text: lt("My workload is manageable")},
			{Id: "say", Kind: commonv1.QuestionKind_QUESTION_KIND_TEXT, Dimension: commonv1.Dimension_DIMENSION_WORKLOAD, Text: lt("Anything to add?")},
		},
	}}); err != nil {
		t.Fatalf("CreateSurvey: %v", err)
	}
	for _, pl := range []struct{ seg, title string }{{"acme/eng", "On-call rota review"}, {"acme/sales", "Quota reset"}} {
		if _, err := f.feedback.CreateActionPlan(hr, &feedbackv1.CreateActionPlanRequest{Plan: &feedbackv1.ActionPlan{
			Segment: pl.seg, Dimension: commonv1.Dimension_DIMENSION_WORKLOAD, Title: pl.title, OwnerGroup: "secret-owners",
			DueTime: timestamppb.New(now.Add(30 * 24 * time.Hour)),
		}}); err != nil {
			t.Fatalf("CreateActionPlan: %v", err)
		}
	}
	js := f.env.JetStream(t)
	poll.Until(t, 10*time.Second, 10*time.Millisecond, func() error {
		c, err := js.Consumer(context.Background(), events.Feedback.Name, events.DurablePulseActions)
		if err != nil {
			return err
		}
		info, err := c.Info(context.Background())
		if err != nil {
			return err
		}
		if info.Delivered.Consumer < 2 || info.NumPending > 0 || info.NumAckPending > 0 {
			return fmt.Errorf("pulse has applied %d plan events", info.Delivered.Consumer)
		}
		return nil
	})

	if got := f.command(t, "team acme/eng"); !strings.Contains(got, "Got it") {
		t.Fatalf("team: %q", got)
	}
	listing := f.slash(t, "/pulse", "")
	m := surveyRE.FindStringSubmatch(listing)
	if m == nil {
		t.Fatal("no survey listed")
	}
	if strings.Contains(listing, "closing soon") {
		t.Errorf("a wave open for an hour of its five days is listed as closing soon: %q", listing)
	}
	// Three days into the five-day window the listing reminds the person, who has not answered.
	mu.Lock()
	now = now.Add(3 * 24 * time.Hour)
	mu.Unlock()
	if listing := f.slash(t, "/pulse", ""); !strings.Contains(listing, "closing soon") {
		t.Errorf("listing after 3 days of the window: %q, want a reminder", listing)
	}
	got := f.slash(t, "/pulse", "answer "+m[1]+" 2; the on-call rota leaves no time to rest")
	code := threadCodeRE.FindStringSubmatch(got)
	if !strings.Contains(got, "are in") || code == nil {
		t.Fatalf("answer: %q, want the thanks and a follow-up code", got)
	}
	if !strings.Contains(got, "On-call rota review") || strings.Contains(got, "Quota reset") || strings.Contains(got, "secret-owners") {
		t.Errorf("answer: %q, want the team's plan only, without owner group", got)
	}

	// The next day (the wave is still open) the comment is released to the feedback service.
	mu.Lock()
	now = now.Add(24 * time.Hour)
	mu.Unlock()
	poll.Until(t, 15*time.Second, 20*time.Millisecond, func() error {
		if st := f.command(t, "status "+code[1]); !strings.Contains(st, "Your feedback of") {
			return fmt.Errorf("status: %q", st)
		}
		return nil
	})
	// Pasted as Slack shows it, in backticks, or typed in lower case, the code still opens the thread.
	if st := f.command(t, "status `"+strings.ToLower(code[1])+"`"); !strings.Contains(st, "Your feedback of") {
		t.Fatalf("status with the code pasted in backticks, lower case: %q", st)
	}
	if got := f.command(t, "reply "+code[1]+" it has been like this since March"); !strings.Contains(got, "Sent") {
		t.Fatalf("reply: %q", got)
	}
	cs := f.comments(t, "acme")
	if len(cs) != 1 || cs[0].Channel != feedbackv1.Channel_CHANNEL_SURVEY || cs[0].Text != "the on-call rota leaves no time to rest" || cs[0].MessageCount != 1 {
		t.Fatalf("hr reads %v, want the survey comment with the reply", cs)
	}
}

// TestMomentOfTruthThroughTheBot: HR reports a moment of truth (an anniversary) for a chat
// user; /pulse then lists the moment's survey to that person only, in their language (French
// here, questions and the bot's words), and the answer goes in without opening a thread: HR
// knows whom a moment asked.
func TestMomentOfTruthThroughTheBot(t *testing.T) {
	f := start(t, "")
	p, err := pulse.Start(context.Background(), pulse.Config{Listen: "127.0.0.1:0", DataDir: f.env.DataDir, NATS: f.env.NATSConfig(),
		ScheduleEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	f.restartGateway(t, p.Addr())
	f.register(t, acmeTeams)
	hr := f.env.As(context.Background(), auth.RoleHR)
	client := pulsev1.NewPulseServiceClient(servicetest.Dial(t, p.Addr()))
	sv, err := client.CreateSurvey(hr, &pulsev1.CreateSurveyRequest{Survey: &pulsev1.Survey{TemplateId: "anniversary", Audience: "acme/eng"}})
	if err != nil {
		t.Fatalf("CreateSurvey: %v", err)
	}
	title := sv.Survey.Title.Translations["fr"]
	f.command(t, "team acme/eng")
	f.command(t, "lang fr")
	f.commandAs(t, teamID, "U0COLLEAGUE", "/feedback", "team acme/eng")
	if _, err := client.TriggerLifecycleSurvey(hr, &pulsev1.TriggerLifecycleSurveyRequest{
		Event: pulsev1.LifecycleEvent_LIFECYCLE_EVENT_ANNIVERSARY, SubmitterRef: "slack:" + teamID + ":" + userID, Segment: "acme/eng",
	}); err != nil {
		t.Fatalf("TriggerLifecycleSurvey: %v", err)
	}
	var listing string
	poll.Until(t, 15*time.Second, 20*time.Millisecond, func() error {
		if listing = f.slash(t, "/pulse", ""); !strings.Contains(listing, sv.Survey.Id) {
			return fmt.Errorf("/pulse lists %q", listing)
		}
		return nil
	})
	if !strings.Contains(listing, "*"+title+"*") || !strings.Contains(listing, "Répondez avec `/pulse answer "+sv.Survey.Id) {
		t.Errorf("the moment's listing %q: want its French title %q and the French instructions", listing, title)
	}
	if other := f.commandAs(t, teamID, "U0COLLEAGUE", "/pulse", ""); strings.Contains(other, sv.Survey.Id) {
		t.Errorf("a colleague who had no anniversary is asked about it: %q", other)
	}
	var answers []string
	for _, q := range sv.Survey.Questions {
		switch q.Kind {
		case commonv1.QuestionKind_QUESTION_KIND_SCALE:
			answers = append(answers, "4")
		case commonv1.QuestionKind_QUESTION_KIND_ENPS:
			answers = append(answers, "9")
		case commonv1.QuestionKind_QUESTION_KIND_CHOICE:
			answers = append(answers, "a")
		default:
			answers = append(answers, "Une belle année, merci")
		}
	}
	got := f.slash(t, "/pulse", "answer "+sv.Survey.Id+" "+strings.Join(answers, "; "))
	if !strings.Contains(got, "Merci, vos réponses à *"+title+"*") || strings.Contains(got, "code de suivi") || codeRE.MatchString(got) {
		t.Errorf("answer to the moment: %q, want the French thanks and no thread", got)
	}
}
