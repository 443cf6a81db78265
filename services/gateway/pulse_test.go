package gateway_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
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
	f.register(t, acmeTeams)
	if got := f.slash(t, "/pulse", ""); !strings.Contains(got, "/feedback team") {
		t.Fatalf("unknown user: %q", got)
	}
	if got := f.command(t, "team acme/eng"); !strings.Contains(got, "Got it") {
		t.Fatalf("team: %q", got)
	}
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

func both(en, fr string) *commonv1.LocalizedText {
	return &commonv1.LocalizedText{Translations: map[string]string{"en": en, "fr": fr}}
}

// TestPulseSpeaksThePersonsLanguage: /pulse asks the questions in the language the person
// chose (/pulse lang, /feedback lang, even before picking a team) or HR set (directory JSON or
// CSV), else in the survey's default; survey text reaches Slack escaped, with the bot's bold
// kept; a person without a team is asked to pick one among the registered teams.
func TestPulseSpeaksThePersonsLanguage(t *testing.T) {
	dir := t.TempDir()
	csvFile := filepath.Join(dir, "people.csv")
	if err := os.WriteFile(csvFile, []byte("user_id,segment,team_id,language\nU0CSVFRENCH,acme/sales,"+teamID+",FR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := start(t, csvFile)
	f.register(t, acmeTeams)
	p, err := pulse.Start(context.Background(), pulse.Config{Listen: "127.0.0.1:0", DataDir: f.env.DataDir, NATS: f.env.NATSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	f.restartGateway(t, p.Addr())
	client := pulsev1.NewPulseServiceClient(servicetest.Dial(t, p.Addr()))
	_, err = client.CreateSurvey(f.env.As(context.Background(), auth.RoleHR), &pulsev1.CreateSurveyRequest{Survey: &pulsev1.Survey{
		Title: both("R&D <weekly> pulse", "Pouls R&D"), Audience: "acme", Cadence: pulsev1.Cadence_CADENCE_WEEKLY, DefaultLanguage: "en",
		Schedule: &pulsev1.Schedule{FirstOpensAt: timestamppb.New(time.Now().Add(-time.Hour))},
		Questions: []*pulsev1.Question{
			{Id: "mood", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: commonv1.Dimension_DIMENSION_WORKLOAD,
				Text: both("My workload is manageable", "Ma charge de travail est gérable")},
		},
	}})
	if err != nil {
		t.Fatalf("CreateSurvey: %v", err)
	}
	const english, french = "My workload is manageable", "Ma charge de travail est gérable"

	if got := f.commandAs(t, teamID, "U0NOTEAM", "/pulse", ""); !strings.Contains(got, "I don't know your team") || !strings.Contains(got, "`acme/eng`") {
		t.Errorf("person without a team: %q, want to be asked to pick among the teams", got)
	}

	// The language first, the team after.
	if got := f.slash(t, "/pulse", "lang fr"); !strings.Contains(got, "en français") {
		t.Fatalf("/pulse lang fr: %q, want the confirmation in French", got)
	}
	f.command(t, "team acme/eng")
	listing := f.slash(t, "/pulse", "")
	if !strings.Contains(listing, french) || strings.Contains(listing, english) {
		t.Errorf("after /pulse lang fr: %q, want the question in French", listing)
	}
	// The bot's own words are French too.
	for _, want := range []string{"(ouvert jusqu'au ", "(de 1 à 5)", "Répondez avec `/pulse answer ", "Voyez vos questionnaires ouverts"} {
		if !strings.Contains(listing, want) {
			t.Errorf("French listing %q lacks %q", listing, want)
		}
	}
	for _, bad := range []string{"open until", "Answer with", "See your open surveys"} {
		if strings.Contains(listing, bad) {
			t.Errorf("French listing %q holds English %q", listing, bad)
		}
	}
	m := surveyRE.FindStringSubmatch(listing)
	if m == nil {
		t.Fatalf("no survey in %q", listing)
	}
	if got := f.slash(t, "/pulse", "answer "+m[1]+" 9"); !strings.Contains(got, "Rien n'a été envoyé : la réponse 1 doit être un nombre de 1 à 5.") {
		t.Errorf("French answer out of range: %q", got)
	}
	if got := f.slash(t, "/pulse", "answer "+m[1]+" 4"); !strings.Contains(got, "Merci, vos réponses à *Pouls R&amp;D* sont bien arrivées") {
		t.Errorf("French answer: %q", got)
	}
	if got := f.slash(t, "/pulse", "answer "+m[1]+" 4"); !strings.Contains(got, "Vous n'avez pas de questionnaire ouvert") {
		t.Errorf("French answer once more: %q", got)
	}
	if got := f.slash(t, "/pulse", "bogus"); !strings.Contains(got, "Voyez vos questionnaires ouverts") {
		t.Errorf("French help: %q", got)
	}

	if got := f.commandAs(t, teamID, "U0ENGLISH", "/feedback", "team acme/eng"); !strings.Contains(got, "Got it") {
		t.Fatalf("team: %q", got)
	}
	got := f.commandAs(t, teamID, "U0ENGLISH", "/pulse", "")
	for _, want := range []string{english, "*R&amp;D &lt;weekly&gt; pulse*"} {
		if !strings.Contains(got, want) {
			t.Errorf("default language: %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "<weekly>") {
		t.Errorf("survey title reached Slack unescaped: %q", got)
	}
	f.commandAs(t, teamID, "U0ENGLISH", "/feedback", "LANG French")
	if got := f.commandAs(t, teamID, "U0ENGLISH", "/pulse", ""); !strings.Contains(got, french) || !strings.Contains(got, "*Pouls R&amp;D*") {
		t.Errorf("after /feedback LANG French: %q", got)
	}

	if code, out := f.put(t, f.env.Tokens[auth.RoleHR], "application/json",
		`[{"team_id":"`+teamID+`","user_id":"U0HRFRENCH","segment":"acme/sales","language":"fr"}]`); code != http.StatusOK {
		t.Fatalf("PUT: HTTP %d %s", code, out)
	}
	for _, user := range []string{"U0HRFRENCH", "U0CSVFRENCH"} {
		if got := f.commandAs(t, teamID, user, "/pulse", ""); !strings.Contains(got, french) {
			t.Errorf("%s, French in the directory: %q", user, got)
		}
	}
	if code, out := f.put(t, f.env.Tokens[auth.RoleHR], "application/json",
		`[{"team_id":"`+teamID+`","user_id":"U0HRFRENCH","segment":"acme/sales","language":"de"}]`); code != http.StatusBadRequest {
		t.Errorf("PUT with language de: HTTP %d %s, want 400", code, out)
	}
	if got := f.slash(t, "/pulse", "lang de"); !strings.Contains(got, "/pulse lang fr") || !strings.Contains(got, "Rien n'a été changé") {
		t.Errorf("/pulse lang de: %q, want help in French", got)
	}
	// The answer of a text question must not carry a follow-up code either.
	if got := f.slash(t, "/pulse", "answer x 4; see AAAAAAAAAAAAAAAAAAAAAAAAAA"); !strings.Contains(got, "code de suivi") {
		t.Errorf("answer holding a code: %q", got)
	}
	f.commandAs(t, teamID, "U0ENGLISH2", "/feedback", "team acme/eng")
	if got := f.commandAs(t, teamID, "U0ENGLISH2", "/pulse", "answer x 4; see AAAAAAAAAAAAAAAAAAAAAAAAAA"); !strings.Contains(got, "follow-up code") {
		t.Errorf("answer holding a code, in English: %q", got)
	}
}
