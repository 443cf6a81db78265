package pulse

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// Invalid UTF-8 cannot travel through gRPC (protobuf rejects it in proto3 strings on both
// ends), so the server-side checks that back it up are tested here, directly.
func TestInvalidUTF8IsInvalidArgument(t *testing.T) {
	const bad = "caf\xe9"
	check := func(t *testing.T, err error, field string) {
		t.Helper()
		st := status.Convert(err)
		if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), field) || !strings.Contains(st.Message(), "UTF-8") {
			t.Fatalf("got %v %q, want InvalidArgument naming %s and UTF-8", st.Code(), st.Message(), field)
		}
	}
	t.Run("localized text", func(t *testing.T) {
		lt := &commonv1.LocalizedText{Translations: map[string]string{"en": bad}}
		check(t, checkLocalized("survey.title", lt, "en"), `survey.title.translations["en"]`)
	})
	t.Run("text answer", func(t *testing.T) {
		asked := map[string]*pulsev1.Question{"say": {Id: "say", Kind: commonv1.QuestionKind_QUESTION_KIND_TEXT}}
		_, err := scoreAnswers([]*pulsev1.Answer{{QuestionId: "say", Value: &pulsev1.Answer_Text{Text: bad}}}, asked)
		check(t, err, "answers[0].text")
	})
}

func TestContaining(t *testing.T) {
	var got []string
	for _, p := range containing(segment.MustParse("acme/eng/web")) {
		got = append(got, p.String())
	}
	want := []string{"acme/eng/web", "acme/eng", "acme"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("containing = %v, want %v", got, want)
	}
}

// A response validated while its wave was open but committed after the wave closed is
// refused: results of a closed wave never change.
func TestSubmitRechecksTheWaveAtCommit(t *testing.T) {
	env := servicetest.New(t)
	now := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	svc, err := Start(context.Background(), Config{
		Listen: "127.0.0.1:0", DataDir: env.DataDir, NATS: env.NATSConfig(), ScheduleEvery: time.Hour,
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	in := &pulsev1.Survey{
		Title: &commonv1.LocalizedText{Translations: map[string]string{"en": "Pulse"}}, Audience: "acme", DefaultLanguage: "en",
		Cadence:  pulsev1.Cadence_CADENCE_WEEKLY,
		Schedule: &pulsev1.Schedule{FirstOpensAt: timestamppb.New(now.Add(-time.Hour))},
		Questions: []*pulsev1.Question{{Id: "q", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE,
			Dimension: commonv1.Dimension_DIMENSION_MEANING, Text: &commonv1.LocalizedText{Translations: map[string]string{"en": "Q"}}}},
	}
	norm, audience, err := normalizeSurvey(in, now, anonymity.DefaultMinGroupSize)
	if err != nil {
		t.Fatalf("normalize: %v", err)
	}
	sv, err := svc.createSurvey("hr", &pulsev1.CreateSurveyRequest{Survey: in}, &survey{Survey: norm, audience: audience}, now)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	sub := submission{survey: sv, wave: 1, seg: segment.MustParse("acme"), ref: "U1",
		answers: []*eventsv1.ScoredAnswer{{QuestionId: "q", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Value: 3}}}
	if _, err := svc.closeSurvey(sv.Id, now); err != nil {
		t.Fatalf("close: %v", err)
	}
	// sub still holds the survey as read before the close.
	st := status.Convert(toStatus(func() error { _, err := svc.submit(sub, now); return err }()))
	if st.Code() != codes.FailedPrecondition {
		t.Fatalf("submit after close = %v, want FailedPrecondition", st.Err())
	}
	if !strings.HasPrefix(st.Message(), "wave: wave is not open: ") {
		t.Fatalf("submit after close: message %q, want it to start with the field", st.Message())
	}
}
