package gateway_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/pulse"
)

func lt(text string) *commonv1.LocalizedText {
	return &commonv1.LocalizedText{Translations: map[string]string{"en": text}}
}

// slash sends a signed slash command and returns the ephemeral text.
func (f *fixture) slash(t *testing.T, command, text string) string {
	t.Helper()
	return f.commandWith(t, command, text)
}

var surveyRE = regexp.MustCompile("/pulse answer ([A-Za-z0-9_-]+) ")

func TestPulseListsAndAnswersPendingQuestions(t *testing.T) {
	f := start(t, "")
	p, err := pulse.Start(context.Background(), pulse.Config{Listen: "127.0.0.1:0", DataDir: f.env.DataDir, NATS: f.env.NATSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	f.restartGateway(t, p.Addr())
	client := pulsev1.NewPulseServiceClient(servicetest.Dial(t, p.Addr()))
	_, err = client.CreateSurvey(f.env.As(context.Background(), auth.RoleHR), &pulsev1.CreateSurveyRequest{Survey: &pulsev1.Survey{
		Title: lt("Weekly pulse"), Audience: "acme", Cadence: pulsev1.Cadence_CADENCE_WEEKLY, DefaultLanguage: "en",
		Schedule: &pulsev1.Schedule{FirstOpensAt: timestamppb.New(time.Now().Add(-time.Hour))},
		Questions: []*pulsev1.Question{
			{Id: "mood", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: commonv1.Dimension_DIMENSION_WORKLOAD, Text: lt("My workload is manageable")},
			{Id: "enps", Kind: commonv1.QuestionKind_QUESTION_KIND_ENPS, Dimension: commonv1.Dimension_DIMENSION_ENGAGEMENT, Text: lt("Would you recommend us?")},
			{Id: "tools", Kind: commonv1.QuestionKind_QUESTION_KIND_CHOICE, Dimension: commonv1.Dimension_DIMENSION_ECOSYSTEM, Text: lt("Which tools slow you down?"), Multiple: true,
				Options: []*pulsev1.ChoiceOption{{Id: "ci", Label: lt("CI")}, {Id: "vpn", Label: lt("VPN")}}},
			{Id: "say", Kind: commonv1.QuestionKind_QUESTION_KIND_TEXT, Dimension: commonv1.Dimension_DIMENSION_CONNECTIONS, Text: lt("Anything to add?")},
		},
	}})
	if err != nil {
		t.Fatalf("CreateSurvey: %v", err)
	}
	if got := f.slash(t, "/pulse", ""); !strings.Contains(got, "/feedback team") {
		t.Fatalf("unknown user: %q", got)
	}
	f.command(t, "team acme/eng")
	list := f.slash(t, "/pulse", "")
	for _, want := range []string{"Weekly pulse", "My workload is manageable (1–5)", "(0–10)", "a) CI", "b) VPN"} {
		if !strings.Contains(list, want) {
			t.Errorf("listing %q lacks %q", list, want)
		}
	}
	m := surveyRE.FindStringSubmatch(list)
	if m == nil {
		t.Fatalf("listing %q names no survey to answer", list)
	}
	id := m[1]
	for _, tc := range []struct{ answers, want string }{
		{"4; 9", "4 questions"},
		{"6; 9; a; ok", "answer 1 must be a number from 1 to 5"},
		{"4; 11; a; ok", "answer 2 must be a number from 0 to 10"},
		{"4; 9; z; ok", "answer 3 must be option letters"},
	} {
		if got := f.slash(t, "/pulse", "answer "+id+" "+tc.answers); !strings.Contains(got, tc.want) {
			t.Errorf("answer %q: %q, want %q", tc.answers, got, tc.want)
		}
	}
	if got := f.slash(t, "/pulse", "answer "+id+" 4; 9; a, b; fine; really"); !strings.Contains(got, "are in") {
		t.Fatalf("answer: %q", got)
	}
	if got := f.slash(t, "/pulse", ""); !strings.Contains(got, "No survey is waiting") {
		t.Errorf("after answering: %q", got)
	}
	if got := f.slash(t, "/pulse", "answer "+id+" 4; 9; a; again"); !strings.Contains(got, "no open survey") {
		t.Errorf("second answer: %q", got)
	}
}
