package pulse_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/auth"
)

func (f *fixture) templates(t testing.TB, lang string) map[string]*pulsev1.Template {
	t.Helper()
	resp, err := f.client.ListTemplates(f.hr(), &pulsev1.ListTemplatesRequest{Language: lang})
	if err != nil {
		t.Fatalf("ListTemplates: %v", err)
	}
	out := map[string]*pulsev1.Template{}
	for _, tp := range resp.Templates {
		out[tp.Id] = tp
	}
	return out
}

func fromTemplate(id, audience string) *pulsev1.Survey {
	return &pulsev1.Survey{TemplateId: id, Audience: audience, Schedule: &pulsev1.Schedule{FirstOpensAt: timestamppb.New(t0)}}
}

func TestTemplates(t *testing.T) {
	f := start(t)
	fr, en := f.templates(t, "fr"), f.templates(t, "")
	want := []string{"weekly-pulse", "quarterly-enps", "onboarding-30", "onboarding-60", "onboarding-90", "exit", "ex-maturity",
		"candidate", "internal-move", "manager-change", "return-from-leave", "anniversary"}
	if len(fr) != len(want) {
		t.Fatalf("%d templates, want %d", len(fr), len(want))
	}
	for _, id := range want {
		tp := fr[id]
		if tp == nil || tp.Description == "" || tp.Description == en[id].Description || tp.Survey.TemplateId != id {
			t.Fatalf("template %s = %v: want French and English descriptions", id, tp)
		}
		// Every text in both languages.
		texts := []*commonv1.LocalizedText{tp.Survey.Title}
		for _, q := range tp.Survey.Questions {
			texts = append(texts, q.Text)
			for _, o := range q.Options {
				texts = append(texts, o.Label)
			}
		}
		for _, lt := range texts {
			if lt.Translations["fr"] == "" || lt.Translations["en"] == "" || lt.Translations["fr"] == lt.Translations["en"] {
				t.Fatalf("template %s: text %v not in French and English", id, lt.Translations)
			}
		}
		// Each makes a valid survey with nothing but an audience and a schedule.
		created, err := f.client.CreateSurvey(f.hr(), &pulsev1.CreateSurveyRequest{Survey: fromTemplate(id, "acme")})
		if err != nil {
			t.Fatalf("CreateSurvey from %s: %v", id, err)
		}
		if created.Survey.TemplateId != id || len(created.Survey.Questions) != len(tp.Survey.Questions) {
			t.Fatalf("survey from %s = %v", id, created.Survey)
		}
	}
	dims := map[commonv1.Dimension]bool{}
	for _, q := range fr["weekly-pulse"].Survey.Questions {
		dims[q.Dimension] = true
	}
	if len(dims) != 8 {
		t.Fatalf("weekly pulse covers %d dimensions, want the 8", len(dims))
	}
	perDim := map[commonv1.Dimension]int{}
	for _, q := range fr["ex-maturity"].Survey.Questions {
		if q.Kind != commonv1.QuestionKind_QUESTION_KIND_SCALE {
			t.Fatalf("diagnostic statement %s is %v", q.Id, q.Kind)
		}
		perDim[q.Dimension]++
	}
	for _, d := range []commonv1.Dimension{commonv1.Dimension_DIMENSION_MEANING, commonv1.Dimension_DIMENSION_GROWTH,
		commonv1.Dimension_DIMENSION_CONNECTIONS, commonv1.Dimension_DIMENSION_IMAGE, commonv1.Dimension_DIMENSION_ECOSYSTEM} {
		if perDim[d] != 5 {
			t.Fatalf("diagnostic has %d statements on %v, want 5 (all: %v)", perDim[d], d, perDim)
		}
	}
	if q := fr["quarterly-enps"].Survey; q.Cadence != pulsev1.Cadence_CADENCE_QUARTERLY {
		t.Fatalf("quarterly eNPS cadence %v", q.Cadence)
	}
	for i, days := range []int{30, 60, 90} {
		s := fr[fmt.Sprintf("onboarding-%d", days)].Survey
		if s.Kind != pulsev1.SurveyKind_SURVEY_KIND_ONBOARDING || s.LifecycleDelay.AsDuration() != time.Duration(days)*24*time.Hour {
			t.Fatalf("onboarding %d: kind %v delay %v", i, s.Kind, s.LifecycleDelay.AsDuration())
		}
	}

	// Overrides win, the rest comes from the template.
	in := fromTemplate("weekly-pulse", "acme/eng")
	in.Title = lt("fr", "Notre pulse", "en", "Our pulse")
	in.DefaultLanguage = "fr"
	in.QuestionsPerWave = 2
	in.MinGroupSize = 7
	sv := f.createSurvey(t, in)
	if sv.Title.Translations["fr"] != "Notre pulse" || sv.DefaultLanguage != "fr" || sv.QuestionsPerWave != 2 || sv.MinGroupSize != 7 ||
		sv.CommentThreshold != 10 || sv.Cadence != pulsev1.Cadence_CADENCE_WEEKLY || len(sv.Questions) != 18 {
		t.Fatalf("overridden survey = %v", sv)
	}
	// Wave 1: the two first rotating statements, the eNPS (every 4th wave from 1) and the comment.
	if got := sv.Waves[0].QuestionIds; !slices.Equal(got, []string{"meaning-mission", "meaning-worthwhile", "enps", "comment"}) {
		t.Fatalf("wave 1 asks %v", got)
	}
	_, err := f.client.ListTemplates(f.hr(), &pulsev1.ListTemplatesRequest{Language: "es"})
	wantStatus(t, err, codes.InvalidArgument, "language")
	_, err = f.client.ListTemplates(f.as(auth.RoleManager), &pulsev1.ListTemplatesRequest{})
	wantStatus(t, err, codes.PermissionDenied, "")
}

func TestMaturityDiagnostic(t *testing.T) {
	f := start(t)
	sv := f.createSurvey(t, fromTemplate("ex-maturity", "acme/eng"))
	if sv.Kind != pulsev1.SurveyKind_SURVEY_KIND_DIAGNOSTIC {
		t.Fatalf("kind %v", sv.Kind)
	}
	// Per dimension, what everybody answers: meaning 5 (mature), fulfilment 3 (developing),
	// connections 2 (emerging), image 4 (mature), ecosystem 3 or 4 by person: 3.5 (developing).
	score := map[commonv1.Dimension]int32{
		commonv1.Dimension_DIMENSION_MEANING: 5, commonv1.Dimension_DIMENSION_GROWTH: 3,
		commonv1.Dimension_DIMENSION_CONNECTIONS: 2, commonv1.Dimension_DIMENSION_IMAGE: 4,
	}
	for p := range 6 {
		var answers []*pulsev1.Answer
		for _, q := range sv.Questions {
			v, ok := score[q.Dimension]
			if !ok {
				v = int32(3 + p%2)
			}
			answers = append(answers, scale(q.Id, v))
		}
		f.submit(t, sv.Id, fmt.Sprintf("U%d", p), "acme/eng/web", answers...)
	}
	f.submit(t, sv.Id, "U-small", "acme/eng/api", scale(sv.Questions[0].Id, 1))
	f.clock.Set(t0.Add(15 * 24 * time.Hour))
	r := f.results(t, f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id, Language: "fr"})
	m := r.Total.Maturity
	if len(m) != 6 {
		t.Fatalf("maturity %v: want overall and five dimensions", m)
	}
	want := []struct {
		dim   commonv1.Dimension
		level pulsev1.MaturityLevel
		score float64
	}{
		{commonv1.Dimension_DIMENSION_UNSPECIFIED, pulsev1.MaturityLevel_MATURITY_LEVEL_DEVELOPING, 0}, // checked below
		{commonv1.Dimension_DIMENSION_MEANING, pulsev1.MaturityLevel_MATURITY_LEVEL_MATURE, 0},
		{commonv1.Dimension_DIMENSION_GROWTH, pulsev1.MaturityLevel_MATURITY_LEVEL_DEVELOPING, 3},
		{commonv1.Dimension_DIMENSION_CONNECTIONS, pulsev1.MaturityLevel_MATURITY_LEVEL_EMERGING, 2},
		{commonv1.Dimension_DIMENSION_IMAGE, pulsev1.MaturityLevel_MATURITY_LEVEL_MATURE, 4},
		{commonv1.Dimension_DIMENSION_ECOSYSTEM, pulsev1.MaturityLevel_MATURITY_LEVEL_DEVELOPING, 3.5},
	}
	// The small api group answered one meaning statement with 1: 30 answers of 5 and one of 1.
	want[1].score = (30*5 + 1) / 31.0
	want[0].score = (want[1].score + 3 + 2 + 4 + 3.5) / 5
	for i, w := range want {
		if m[i].Dimension != w.dim || m[i].Level != w.level || !near(m[i].Score, w.score) || len(m[i].Actions) == 0 {
			t.Fatalf("maturity %d = %v, want %v level %v score %v with actions", i, m[i], w.dim, w.level, w.score)
		}
	}
	if a := m[3].Actions[0]; a != "Mettre en place des entretiens individuels réguliers entre managers et collaborateurs." {
		t.Fatalf("emerging connections action in French = %q", a)
	}
	// The api group is below k, and web is hidden with it (else total minus web is api): no
	// levels for either.
	wantHiddenGroup(t, child(r, "acme/eng/api"))
	wantHiddenGroup(t, child(r, "acme/eng/web"))
}
