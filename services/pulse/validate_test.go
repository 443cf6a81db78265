package pulse_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

func TestCreateSurveyValidation(t *testing.T) {
	f := start(t)
	manyQuestions := func(n int) []*pulsev1.Question {
		qs := make([]*pulsev1.Question, n)
		for i := range qs {
			qs[i] = &pulsev1.Question{Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: commonv1.Dimension_DIMENSION_GROWTH,
				Text: lt("en", fmt.Sprintf("Question %d", i))}
		}
		return qs
	}
	options := func(n int) []*pulsev1.ChoiceOption {
		os := make([]*pulsev1.ChoiceOption, n)
		for i := range os {
			os[i] = opt(fmt.Sprintf("o%d", i), fmt.Sprintf("Option %d", i))
		}
		return os
	}
	window := func(d time.Duration) *durationpb.Duration { return durationpb.New(d) }
	tests := []struct {
		name   string
		mutate func(r *pulsev1.CreateSurveyRequest)
		ctx    context.Context // default: hr of acme
		code   codes.Code
		field  string
	}{
		{"valid", func(r *pulsev1.CreateSurveyRequest) {}, nil, codes.OK, ""},
		{"survey missing", func(r *pulsev1.CreateSurveyRequest) { r.Survey = nil }, nil, codes.InvalidArgument, "survey"},
		{"idempotency key too long", func(r *pulsev1.CreateSurveyRequest) { r.IdempotencyKey = strings.Repeat("k", 129) }, nil, codes.InvalidArgument, "idempotency_key"},
		{"idempotency key 128 bytes", func(r *pulsev1.CreateSurveyRequest) { r.IdempotencyKey = strings.Repeat("k", 128) }, nil, codes.OK, ""},
		{"template unknown", func(r *pulsev1.CreateSurveyRequest) { r.Survey.TemplateId = "weekly-pulse2" }, nil, codes.InvalidArgument, "survey.template_id"},
		{"template", func(r *pulsev1.CreateSurveyRequest) { r.Survey.TemplateId = "weekly-pulse" }, nil, codes.OK, ""},
		{"lifecycle kind", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Kind = pulsev1.SurveyKind_SURVEY_KIND_EXIT
			r.Survey.Cadence = pulsev1.Cadence_CADENCE_UNSPECIFIED
		}, nil, codes.OK, ""},
		{"lifecycle kind, weekly", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Kind = pulsev1.SurveyKind_SURVEY_KIND_EXIT }, nil, codes.InvalidArgument, "survey.cadence"},
		{"lifecycle kind, rotation", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Kind = pulsev1.SurveyKind_SURVEY_KIND_ONBOARDING
			r.Survey.Cadence = pulsev1.Cadence_CADENCE_MONTHLY
			r.Survey.QuestionsPerWave = 2
		}, nil, codes.InvalidArgument, "survey.questions_per_wave"},
		{"lifecycle delay 366d", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Kind = pulsev1.SurveyKind_SURVEY_KIND_ONBOARDING
			r.Survey.Cadence = pulsev1.Cadence_CADENCE_UNSPECIFIED
			r.Survey.LifecycleDelay = durationpb.New(366 * 24 * time.Hour)
		}, nil, codes.OK, ""},
		{"lifecycle delay 367d", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Kind = pulsev1.SurveyKind_SURVEY_KIND_ONBOARDING
			r.Survey.Cadence = pulsev1.Cadence_CADENCE_UNSPECIFIED
			r.Survey.LifecycleDelay = durationpb.New(367 * 24 * time.Hour)
		}, nil, codes.InvalidArgument, "survey.lifecycle_delay"},
		{"lifecycle delay negative", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Kind = pulsev1.SurveyKind_SURVEY_KIND_EXIT
			r.Survey.Cadence = pulsev1.Cadence_CADENCE_UNSPECIFIED
			r.Survey.LifecycleDelay = durationpb.New(-time.Hour)
		}, nil, codes.InvalidArgument, "survey.lifecycle_delay"},
		{"lifecycle delay on a pulse", func(r *pulsev1.CreateSurveyRequest) { r.Survey.LifecycleDelay = durationpb.New(time.Hour) }, nil, codes.InvalidArgument, "survey.lifecycle_delay"},
		{"quarterly", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Cadence = pulsev1.Cadence_CADENCE_QUARTERLY }, nil, codes.OK, ""},
		{"unknown kind", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Kind = 42 }, nil, codes.InvalidArgument, "survey.kind"},
		{"diagnostic kind", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Kind = pulsev1.SurveyKind_SURVEY_KIND_DIAGNOSTIC }, nil, codes.OK, ""},
		{"default language missing", func(r *pulsev1.CreateSurveyRequest) { r.Survey.DefaultLanguage = "" }, nil, codes.InvalidArgument, "survey.default_language"},
		{"default language unknown", func(r *pulsev1.CreateSurveyRequest) { r.Survey.DefaultLanguage = "de" }, nil, codes.InvalidArgument, "survey.default_language"},
		{"title missing", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Title = nil }, nil, codes.InvalidArgument, "survey.title"},
		{"title no language", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Title = lt() }, nil, codes.InvalidArgument, "survey.title"},
		{"title unknown language", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Title.Translations["de"] = "Puls" }, nil, codes.InvalidArgument, `survey.title.translations["de"]`},
		{"title empty text", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Title.Translations["fr"] = "" }, nil, codes.InvalidArgument, `survey.title.translations["fr"]`},
		{"title blank text", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Title.Translations["en"] = " \t " }, nil, codes.InvalidArgument, `survey.title.translations["en"]`},
		{"title 1001 runes", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Title.Translations["en"] = strings.Repeat("é", 1001) }, nil, codes.InvalidArgument, `survey.title.translations["en"]`},
		{"title 1000 runes", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Title.Translations["en"] = strings.Repeat("é", 1000) }, nil, codes.OK, ""},
		{"title lacks default language", func(r *pulsev1.CreateSurveyRequest) { delete(r.Survey.Title.Translations, "en") }, nil, codes.InvalidArgument, "survey.title"},
		{"audience missing", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Audience = "" }, nil, codes.InvalidArgument, "survey.audience"},
		{"audience malformed", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Audience = "Acme/Eng" }, nil, codes.InvalidArgument, "survey.audience"},
		{"audience outside token", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Audience = "globex/eng" }, nil, codes.PermissionDenied, "survey.audience"},
		{"cadence missing", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Cadence = pulsev1.Cadence_CADENCE_UNSPECIFIED }, nil, codes.InvalidArgument, "survey.cadence"},
		{"cadence unknown", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Cadence = 42 }, nil, codes.InvalidArgument, "survey.cadence"},
		{"schedule missing", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Schedule = nil }, nil, codes.InvalidArgument, "survey.schedule"},
		{"first_opens_at missing", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Schedule.FirstOpensAt = nil }, nil, codes.InvalidArgument, "survey.schedule.first_opens_at"},
		{"first_opens_at invalid", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Schedule.FirstOpensAt = &timestamppb.Timestamp{Seconds: 1 << 62}
		}, nil, codes.InvalidArgument, "survey.schedule.first_opens_at"},
		{"first wave already over", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Schedule.FirstOpensAt = timestamppb.New(t0.Add(-6 * 24 * time.Hour))
		}, nil, codes.InvalidArgument, "survey.schedule.first_opens_at"},
		{"first wave in the future", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Schedule.FirstOpensAt = timestamppb.New(t0.Add(24 * time.Hour))
		}, nil, codes.OK, ""},
		{"time zone unknown", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Schedule.TimeZone = "Mars/Olympus_Mons" }, nil, codes.InvalidArgument, "survey.schedule.time_zone"},
		{"time zone local", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Schedule.TimeZone = "Local" }, nil, codes.InvalidArgument, "survey.schedule.time_zone"},
		{"time zone IANA", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Schedule.TimeZone = "Europe/Paris" }, nil, codes.OK, ""},
		{"window under 1h", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Schedule.ResponseWindow = window(59 * time.Minute) }, nil, codes.InvalidArgument, "survey.schedule.response_window"},
		{"window over 31d", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Schedule.ResponseWindow = window(31*24*time.Hour + time.Second)
		}, nil, codes.InvalidArgument, "survey.schedule.response_window"},
		{"window negative", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Schedule.ResponseWindow = window(-time.Hour) }, nil, codes.InvalidArgument, "survey.schedule.response_window"},
		{"window invalid", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Schedule.ResponseWindow = &durationpb.Duration{Seconds: 3600, Nanos: -1}
		}, nil, codes.InvalidArgument, "survey.schedule.response_window"},
		{"window 1h", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Schedule.FirstOpensAt = timestamppb.New(t0)
			r.Survey.Schedule.ResponseWindow = window(time.Hour)
		}, nil, codes.OK, ""},
		{"window 1h, closing now", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Schedule.ResponseWindow = window(time.Hour) }, nil, codes.InvalidArgument, "survey.schedule.first_opens_at"},
		{"window 31d, once", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Cadence = pulsev1.Cadence_CADENCE_ONCE
			r.Survey.Schedule.ResponseWindow = window(31 * 24 * time.Hour)
		}, nil, codes.OK, ""},
		{"window over a week, weekly", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Schedule.ResponseWindow = window(7*24*time.Hour + time.Second)
		}, nil, codes.InvalidArgument, "survey.schedule.response_window"},
		{"window a week, weekly", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Schedule.ResponseWindow = window(7 * 24 * time.Hour) }, nil, codes.OK, ""},
		{"window 28d, monthly", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Cadence = pulsev1.Cadence_CADENCE_MONTHLY
			r.Survey.Schedule.ResponseWindow = window(28 * 24 * time.Hour)
		}, nil, codes.OK, ""},
		{"window 29d, monthly", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Cadence = pulsev1.Cadence_CADENCE_MONTHLY
			r.Survey.Schedule.ResponseWindow = window(29 * 24 * time.Hour)
		}, nil, codes.InvalidArgument, "survey.schedule.response_window"},
		{"no questions", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions = nil }, nil, codes.InvalidArgument, "survey.questions"},
		{"101 questions", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions = manyQuestions(101) }, nil, codes.InvalidArgument, "survey.questions"},
		{"100 questions, ids generated", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions = manyQuestions(100) }, nil, codes.OK, ""},
		{"question missing", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[1] = nil }, nil, codes.InvalidArgument, "survey.questions[1]"},
		{"question id malformed", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[qMood].Id = "Mood" }, nil, codes.InvalidArgument, "survey.questions[0].id"},
		{"question id starts with dash", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[qMood].Id = "-mood" }, nil, codes.InvalidArgument, "survey.questions[0].id"},
		{"question id 64 chars", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[qMood].Id = strings.Repeat("m", 64) }, nil, codes.InvalidArgument, "survey.questions[0].id"},
		{"question id 63 chars", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[qMood].Id = strings.Repeat("m", 63) }, nil, codes.OK, ""},
		{"question id duplicate", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[qEnps].Id = "mood" }, nil, codes.InvalidArgument, "survey.questions[1].id"},
		{"question kind missing", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Questions[qMood].Kind = commonv1.QuestionKind_QUESTION_KIND_UNSPECIFIED
		}, nil, codes.InvalidArgument, "survey.questions[0].kind"},
		{"question kind unknown", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[qMood].Kind = 42 }, nil, codes.InvalidArgument, "survey.questions[0].kind"},
		{"question dimension missing", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Questions[qMood].Dimension = commonv1.Dimension_DIMENSION_UNSPECIFIED
		}, nil, codes.InvalidArgument, "survey.questions[0].dimension"},
		{"question dimension unknown", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[qMood].Dimension = 42 }, nil, codes.InvalidArgument, "survey.questions[0].dimension"},
		{"question text missing", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[qMood].Text = nil }, nil, codes.InvalidArgument, "survey.questions[0].text"},
		{"question text too long", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Questions[qMood].Text.Translations["en"] = strings.Repeat("x", 1001)
		}, nil, codes.InvalidArgument, `survey.questions[0].text.translations["en"]`},
		{"question text unknown language", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Questions[qMood].Text.Translations["es"] = "Mi carga"
		}, nil, codes.InvalidArgument, `survey.questions[0].text.translations["es"]`},
		{"question text lacks default language", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Questions[qEnps].Text = lt("fr", "Recommanderiez-vous ?")
		}, nil, codes.InvalidArgument, "survey.questions[1].text"},
		{"choice with one option", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[qTools].Options = options(1) }, nil, codes.InvalidArgument, "survey.questions[2].options"},
		{"choice with 21 options", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[qTools].Options = options(21) }, nil, codes.InvalidArgument, "survey.questions[2].options"},
		{"choice with 20 options", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[qTools].Options = options(20) }, nil, codes.OK, ""},
		{"options on a scale question", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[qMood].Options = options(2) }, nil, codes.InvalidArgument, "survey.questions[0].options"},
		{"multiple on a text question", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[qSay].Multiple = true }, nil, codes.InvalidArgument, "survey.questions[4].multiple"},
		{"option missing", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[qTools].Options[1] = nil }, nil, codes.InvalidArgument, "survey.questions[2].options[1]"},
		{"option id malformed", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[qTools].Options[0].Id = "C I" }, nil, codes.InvalidArgument, "survey.questions[2].options[0].id"},
		{"option id empty", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[qTools].Options[0].Id = "" }, nil, codes.InvalidArgument, "survey.questions[2].options[0].id"},
		{"option id duplicate", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[qTools].Options[1].Id = "ci" }, nil, codes.InvalidArgument, "survey.questions[2].options[1].id"},
		{"option label missing", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[qTools].Options[0].Label = nil }, nil, codes.InvalidArgument, "survey.questions[2].options[0].label"},
		{"option label too long", func(r *pulsev1.CreateSurveyRequest) {
			r.Survey.Questions[qTools].Options[0].Label.Translations["fr"] = strings.Repeat("y", 1001)
		}, nil, codes.InvalidArgument, `survey.questions[2].options[0].label.translations["fr"]`},
		{"every_nth_wave without always", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[qMood].EveryNthWave = 2 }, nil, codes.InvalidArgument, "survey.questions[0].every_nth_wave"},
		{"every_nth_wave with always", func(r *pulsev1.CreateSurveyRequest) { r.Survey.Questions[qEnps].EveryNthWave = 4 }, nil, codes.OK, ""},
		{"questions_per_wave over bank", func(r *pulsev1.CreateSurveyRequest) { r.Survey.QuestionsPerWave = 6 }, nil, codes.InvalidArgument, "survey.questions_per_wave"},
		{"questions_per_wave equal to bank", func(r *pulsev1.CreateSurveyRequest) { r.Survey.QuestionsPerWave = 5 }, nil, codes.OK, ""},
		{"min_group_size 2", func(r *pulsev1.CreateSurveyRequest) { r.Survey.MinGroupSize = 2 }, nil, codes.InvalidArgument, "survey.min_group_size"},
		{"min_group_size 3", func(r *pulsev1.CreateSurveyRequest) { r.Survey.MinGroupSize = 3; r.Survey.CommentThreshold = 3 }, nil, codes.OK, ""},
		{"comment_threshold under k", func(r *pulsev1.CreateSurveyRequest) { r.Survey.MinGroupSize = 8; r.Survey.CommentThreshold = 7 }, nil, codes.InvalidArgument, "survey.comment_threshold"},
		{"comment_threshold under default k", func(r *pulsev1.CreateSurveyRequest) { r.Survey.CommentThreshold = 4 }, nil, codes.InvalidArgument, "survey.comment_threshold"},
		{"no token", func(r *pulsev1.CreateSurveyRequest) {}, servicetest.WithToken(context.Background(), ""), codes.Unauthenticated, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := &pulsev1.CreateSurveyRequest{Survey: validSurvey()}
			tc.mutate(req)
			ctx := tc.ctx
			if ctx == nil {
				ctx = f.hr()
			}
			_, err := f.client.CreateSurvey(ctx, req)
			wantStatus(t, err, tc.code, tc.field)
		})
	}
}

func TestCreateSurveyRoles(t *testing.T) {
	f := start(t)
	for _, tc := range []struct {
		role auth.Role
		code codes.Code
	}{
		{auth.RoleSubmitter, codes.PermissionDenied},
		{auth.RoleManager, codes.PermissionDenied},
		{auth.RoleHR, codes.OK},
		{auth.RoleAdmin, codes.OK},
	} {
		t.Run(string(tc.role), func(t *testing.T) {
			_, err := f.client.CreateSurvey(f.as(tc.role), &pulsev1.CreateSurveyRequest{Survey: validSurvey()})
			wantStatus(t, err, tc.code, "")
		})
	}
}

func TestSubmitResponseValidation(t *testing.T) {
	f := start(t)
	sv := f.createSurvey(t, validSurvey())
	other, err := f.client.CreateSurvey(servicetest.WithToken(context.Background(), f.env.OtherHR),
		&pulsev1.CreateSurveyRequest{Survey: func() *pulsev1.Survey { s := validSurvey(); s.Audience = "globex"; return s }()})
	if err != nil {
		t.Fatalf("CreateSurvey for globex: %v", err)
	}
	answer := func(qid string, v any) *pulsev1.Answer {
		a := &pulsev1.Answer{QuestionId: qid}
		switch v := v.(type) {
		case int:
			if qid == "enps" {
				a.Value = &pulsev1.Answer_Enps{Enps: int32(v)}
			} else {
				a.Value = &pulsev1.Answer_Scale{Scale: int32(v)}
			}
		case []string:
			a.Value = &pulsev1.Answer_Choice{Choice: &pulsev1.ChoiceAnswer{OptionIds: v}}
		case string:
			a.Value = &pulsev1.Answer_Text{Text: v}
		}
		return a
	}
	one := func(a *pulsev1.Answer) func(r *pulsev1.SubmitResponseRequest) {
		return func(r *pulsev1.SubmitResponseRequest) { r.Answers = []*pulsev1.Answer{a} }
	}
	tests := []struct {
		name   string
		mutate func(r *pulsev1.SubmitResponseRequest)
		code   codes.Code
		field  string
	}{
		{"valid", func(r *pulsev1.SubmitResponseRequest) {}, codes.OK, ""},
		{"survey_id missing", func(r *pulsev1.SubmitResponseRequest) { r.SurveyId = "" }, codes.InvalidArgument, "survey_id"},
		{"survey unknown", func(r *pulsev1.SubmitResponseRequest) { r.SurveyId = "NOSUCHSURVEY" }, codes.NotFound, "survey"},
		{"survey of another org", func(r *pulsev1.SubmitResponseRequest) { r.SurveyId = other.Survey.Id }, codes.NotFound, "survey"},
		{"submitter_ref missing", func(r *pulsev1.SubmitResponseRequest) { r.SubmitterRef = "" }, codes.InvalidArgument, "submitter_ref"},
		{"submitter_ref 257 bytes", func(r *pulsev1.SubmitResponseRequest) { r.SubmitterRef = strings.Repeat("u", 257) }, codes.InvalidArgument, "submitter_ref"},
		{"submitter_ref 256 bytes", func(r *pulsev1.SubmitResponseRequest) { r.SubmitterRef = strings.Repeat("u", 256) }, codes.OK, ""},
		{"idempotency_key too long", func(r *pulsev1.SubmitResponseRequest) { r.IdempotencyKey = strings.Repeat("k", 129) }, codes.InvalidArgument, "idempotency_key"},
		{"segment missing", func(r *pulsev1.SubmitResponseRequest) { r.Segment = "" }, codes.InvalidArgument, "segment"},
		{"segment malformed", func(r *pulsev1.SubmitResponseRequest) { r.Segment = "acme//eng" }, codes.InvalidArgument, "segment"},
		{"segment outside token", func(r *pulsev1.SubmitResponseRequest) { r.Segment = "globex/eng" }, codes.PermissionDenied, "segment"},
		{"segment outside audience", func(r *pulsev1.SubmitResponseRequest) { r.Segment = "acme/sales" }, codes.InvalidArgument, "segment"},
		{"segment is the audience", func(r *pulsev1.SubmitResponseRequest) { r.Segment = "acme/eng" }, codes.OK, ""},
		{"wave not opened yet", func(r *pulsev1.SubmitResponseRequest) { r.Wave = 2 }, codes.FailedPrecondition, "wave"},
		{"wave 1 by number", func(r *pulsev1.SubmitResponseRequest) { r.Wave = 1 }, codes.OK, ""},
		{"no answers", func(r *pulsev1.SubmitResponseRequest) { r.Answers = nil }, codes.InvalidArgument, "answers"},
		{"more answers than questions", func(r *pulsev1.SubmitResponseRequest) {
			r.Answers = append(fullAnswers(), answer("mood", 3))
		}, codes.InvalidArgument, "answers"},
		{"answer missing", func(r *pulsev1.SubmitResponseRequest) { r.Answers[1] = nil }, codes.InvalidArgument, "answers[1]"},
		{"unknown question", one(answer("nope", 3)), codes.InvalidArgument, "answers[0].question_id"},
		{"question answered twice", func(r *pulsev1.SubmitResponseRequest) {
			r.Answers = []*pulsev1.Answer{answer("mood", 3), answer("mood", 4)}
		}, codes.InvalidArgument, "answers[1].question_id"},
		{"no value", one(&pulsev1.Answer{QuestionId: "mood"}), codes.InvalidArgument, "answers[0]"},
		{"text for a scale question", one(answer("mood", "fine")), codes.InvalidArgument, "answers[0]"},
		{"scale for an enps question", one(&pulsev1.Answer{QuestionId: "enps", Value: &pulsev1.Answer_Scale{Scale: 3}}), codes.InvalidArgument, "answers[0]"},
		{"enps for a scale question", one(&pulsev1.Answer{QuestionId: "mood", Value: &pulsev1.Answer_Enps{Enps: 3}}), codes.InvalidArgument, "answers[0]"},
		{"choice for a text question", one(answer("say", []string{"ci"})), codes.InvalidArgument, "answers[0]"},
		{"scale 0", one(answer("mood", 0)), codes.InvalidArgument, "answers[0].scale"},
		{"scale 6", one(answer("mood", 6)), codes.InvalidArgument, "answers[0].scale"},
		{"scale 1", one(answer("mood", 1)), codes.OK, ""},
		{"scale 5", one(answer("mood", 5)), codes.OK, ""},
		{"enps -1", one(answer("enps", -1)), codes.InvalidArgument, "answers[0].enps"},
		{"enps 11", one(answer("enps", 11)), codes.InvalidArgument, "answers[0].enps"},
		{"enps 0", one(answer("enps", 0)), codes.OK, ""},
		{"enps 10", one(answer("enps", 10)), codes.OK, ""},
		{"choice empty", one(answer("team", []string{})), codes.InvalidArgument, "answers[0].choice.option_ids"},
		{"choice nil", one(&pulsev1.Answer{QuestionId: "team", Value: &pulsev1.Answer_Choice{}}), codes.InvalidArgument, "answers[0].choice.option_ids"},
		{"two options on a single choice", one(answer("team", []string{"yes", "no"})), codes.InvalidArgument, "answers[0].choice.option_ids"},
		{"unknown option", one(answer("tools", []string{"ci", "jira"})), codes.InvalidArgument, "answers[0].choice.option_ids"},
		{"option chosen twice", one(answer("tools", []string{"ci", "ci"})), codes.InvalidArgument, "answers[0].choice.option_ids"},
		{"all options of a multiple choice", one(answer("tools", []string{"wiki", "vpn", "ci"})), codes.OK, ""},
		{"text empty", one(answer("say", "")), codes.InvalidArgument, "answers[0].text"},
		{"text blank", one(answer("say", "  \n ")), codes.InvalidArgument, "answers[0].text"},
		{"text 2001 runes", one(answer("say", strings.Repeat("ç", 2001))), codes.InvalidArgument, "answers[0].text"},
		{"text 2000 runes", one(answer("say", strings.Repeat("ç", 2000))), codes.OK, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := &pulsev1.SubmitResponseRequest{
				SurveyId:     sv.Id,
				Segment:      "acme/eng/platform",
				SubmitterRef: fmt.Sprintf("U%04d", i), // one person per case: no AlreadyExists
				Answers:      fullAnswers(),
			}
			tc.mutate(req)
			_, err := f.client.SubmitResponse(f.submitter(), req)
			wantStatus(t, err, tc.code, tc.field)
		})
	}
}

func TestSubmitResponseRoles(t *testing.T) {
	f := start(t)
	sv := f.createSurvey(t, validSurvey())
	for _, role := range []auth.Role{auth.RoleManager, auth.RoleHR, auth.RoleAdmin} {
		_, err := f.client.SubmitResponse(f.as(role), &pulsev1.SubmitResponseRequest{
			SurveyId: sv.Id, Segment: "acme/eng", SubmitterRef: "U1", Answers: fullAnswers(),
		})
		wantStatus(t, err, codes.PermissionDenied, "")
	}
}
