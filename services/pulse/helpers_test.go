package pulse_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/pulse"
)

// t0 is the tests' "now": a Tuesday mid-morning, so day, week and month windows all differ
// from the instant.
var t0 = time.Date(2026, 3, 10, 10, 17, 42, 0, time.UTC)

// clock is an injectable Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *clock { return &clock{now: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// fixture is one pulse service in a servicetest.Env, with a client.
type fixture struct {
	env    *servicetest.Env
	clock  *clock
	svc    *pulse.Service
	client pulsev1.PulseServiceClient
	js     jetstream.JetStream // a test client of the Env's NATS, made on first use
}

func start(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{env: servicetest.New(t), clock: newClock(t0)}
	f.launch(t)
	return f
}

// launch starts the service on f's data dir and clock, and dials it.
func (f *fixture) launch(t testing.TB) {
	t.Helper()
	svc, err := pulse.Start(context.Background(), pulse.Config{
		Listen:  "127.0.0.1:0",
		DataDir: f.env.DataDir,
		NATS:    f.env.NATSConfig(),
		Now:     f.clock.Now,
		// Tests drive the scheduler with Tick; the background pass stays out of their way.
		ScheduleEvery: time.Hour,
	})
	if err != nil {
		t.Fatalf("start pulse: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	f.svc = svc
	f.client = pulsev1.NewPulseServiceClient(servicetest.Dial(t, svc.Addr()))
}

func (f *fixture) as(role auth.Role) context.Context { return f.env.As(context.Background(), role) }

func (f *fixture) hr() context.Context        { return f.as(auth.RoleHR) }
func (f *fixture) submitter() context.Context { return f.as(auth.RoleSubmitter) }

func lt(kv ...string) *commonv1.LocalizedText {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &commonv1.LocalizedText{Translations: m}
}

func opt(id, en string) *pulsev1.ChoiceOption {
	return &pulsev1.ChoiceOption{Id: id, Label: lt("en", en, "fr", en+" (fr)")}
}

// Question indexes of validSurvey.
const (
	qMood  = 0 // SCALE
	qEnps  = 1 // ENPS, English only
	qTools = 2 // CHOICE, multiple
	qTeam  = 3 // CHOICE, single
	qSay   = 4 // TEXT
)

// validSurvey is a survey every rule accepts, open at t0 (wave 1: t0-1h .. t0-1h+5d).
func validSurvey() *pulsev1.Survey {
	return &pulsev1.Survey{
		Title:           lt("en", "Weekly pulse", "fr", "Pouls de la semaine"),
		Audience:        "acme/eng",
		Cadence:         pulsev1.Cadence_CADENCE_WEEKLY,
		Schedule:        &pulsev1.Schedule{FirstOpensAt: timestamppb.New(t0.Add(-time.Hour))},
		DefaultLanguage: "en",
		Questions: []*pulsev1.Question{
			{Id: "mood", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: commonv1.Dimension_DIMENSION_WORKLOAD,
				Text: lt("en", "My workload is manageable", "fr", "Ma charge de travail est gérable")},
			{Id: "enps", Kind: commonv1.QuestionKind_QUESTION_KIND_ENPS, Dimension: commonv1.Dimension_DIMENSION_ENGAGEMENT,
				Text: lt("en", "Would you recommend working here?"), Always: true},
			{Id: "tools", Kind: commonv1.QuestionKind_QUESTION_KIND_CHOICE, Dimension: commonv1.Dimension_DIMENSION_ECOSYSTEM,
				Text: lt("en", "Which tools slow you down?", "fr", "Quels outils vous ralentissent ?"), Multiple: true,
				Options: []*pulsev1.ChoiceOption{opt("ci", "CI"), opt("vpn", "VPN"), opt("wiki", "Wiki")}},
			{Id: "team", Kind: commonv1.QuestionKind_QUESTION_KIND_CHOICE, Dimension: commonv1.Dimension_DIMENSION_CONNECTIONS,
				Text:    lt("en", "Do you feel heard by your team?", "fr", "Vous sentez-vous écouté ?"),
				Options: []*pulsev1.ChoiceOption{opt("yes", "Yes"), opt("no", "No")}},
			{Id: "say", Kind: commonv1.QuestionKind_QUESTION_KIND_TEXT, Dimension: commonv1.Dimension_DIMENSION_CONNECTIONS,
				Text: lt("en", "Anything to add?", "fr", "Autre chose ?")},
		},
	}
}

func (f *fixture) createSurvey(t testing.TB, sv *pulsev1.Survey) *pulsev1.Survey {
	t.Helper()
	resp, err := f.client.CreateSurvey(f.hr(), &pulsev1.CreateSurveyRequest{Survey: sv})
	if err != nil {
		t.Fatalf("CreateSurvey: %v", err)
	}
	return resp.Survey
}

// fullAnswers answers every question of validSurvey.
func fullAnswers() []*pulsev1.Answer {
	return []*pulsev1.Answer{
		{QuestionId: "mood", Value: &pulsev1.Answer_Scale{Scale: 4}},
		{QuestionId: "enps", Value: &pulsev1.Answer_Enps{Enps: 9}},
		{QuestionId: "tools", Value: &pulsev1.Answer_Choice{Choice: &pulsev1.ChoiceAnswer{OptionIds: []string{"ci", "wiki"}}}},
		{QuestionId: "team", Value: &pulsev1.Answer_Choice{Choice: &pulsev1.ChoiceAnswer{OptionIds: []string{"yes"}}}},
		{QuestionId: "say", Value: &pulsev1.Answer_Text{Text: "Ping me at jane.doe@acme.example if you want details"}},
	}
}

// wantStatus fails unless err has code and, for errors, a message naming field.
func wantStatus(t testing.TB, err error, code codes.Code, field string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("code = %v (%q), want %v", st.Code(), st.Message(), code)
	}
	if code != codes.OK && field != "" && !strings.Contains(st.Message(), field) {
		t.Fatalf("message %q does not name the field %q", st.Message(), field)
	}
}

// restart closes the service and starts it again on the same data dir and clock, running
// fn (if any) on the store file while the service is down.
func (f *fixture) restart(t testing.TB, fn func(db *bolt.DB)) {
	t.Helper()
	if err := f.svc.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if fn != nil {
		path := filepath.Join(f.env.DataDir, "pulse", "pulse.db")
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		fn(db)
		if err := db.Close(); err != nil {
			t.Fatalf("close %s: %v", path, err)
		}
	}
	f.launch(t)
}

// submit answers sv's open wave as ref in seg.
func (f *fixture) submit(t testing.TB, surveyID, ref, seg string, answers ...*pulsev1.Answer) {
	t.Helper()
	_, err := f.client.SubmitResponse(f.submitter(), &pulsev1.SubmitResponseRequest{
		SurveyId: surveyID, Segment: seg, SubmitterRef: ref, Answers: answers,
	})
	if err != nil {
		t.Fatalf("SubmitResponse %s in %s: %v", ref, seg, err)
	}
}

func scale(q string, v int32) *pulsev1.Answer {
	return &pulsev1.Answer{QuestionId: q, Value: &pulsev1.Answer_Scale{Scale: v}}
}

func enpsAnswer(q string, v int32) *pulsev1.Answer {
	return &pulsev1.Answer{QuestionId: q, Value: &pulsev1.Answer_Enps{Enps: v}}
}

func choice(q string, ids ...string) *pulsev1.Answer {
	return &pulsev1.Answer{QuestionId: q, Value: &pulsev1.Answer_Choice{Choice: &pulsev1.ChoiceAnswer{OptionIds: ids}}}
}

func text(q, s string) *pulsev1.Answer {
	return &pulsev1.Answer{QuestionId: q, Value: &pulsev1.Answer_Text{Text: s}}
}
