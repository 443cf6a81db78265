package pulse

import (
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// Every survey the service can store reads back as it was, through its store record and the
// record's encoding: every template (every kind, cadence, question kind and dimension, a
// lifecycle delay of 0 as well as none), with waves, a closed one, a time zone and a state.
func TestSurveyRecordRoundTrip(t *testing.T) {
	now := time.Date(2026, 3, 10, 10, 17, 42, 123456789, time.UTC)
	for _, tpl := range templates() {
		t.Run(tpl.id, func(t *testing.T) {
			in := &pulsev1.Survey{TemplateId: tpl.id, Audience: "acme/eng", LiveResults: true,
				Schedule: &pulsev1.Schedule{FirstOpensAt: timestamppb.New(now), TimeZone: "Europe/Paris"}}
			sv, audience, err := normalizeSurvey(in, now, anonymity.DefaultMinGroupSize)
			if err != nil {
				t.Fatalf("normalize: %v", err)
			}
			sv.Id, sv.State, sv.CreateTime = "SURVEY", pulsev1.SurveyState_SURVEY_STATE_CLOSED, timestamppb.New(now)
			sv.Waves = []*pulsev1.Wave{planWave(sv, 1)}
			sv.Waves = append(sv.Waves, planWave(sv, 2))
			sv.Waves[0].Closed = true

			rec, err := surveyRecord(sv)
			if err != nil {
				t.Fatalf("to record: %v", err)
			}
			data, err := json.Marshal(rec)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			var decoded store.Survey
			if err := json.Unmarshal(data, &decoded); err != nil {
				t.Fatalf("decode: %v", err)
			}
			back, err := surveyFromRecord(decoded)
			if err != nil {
				t.Fatalf("from record: %v", err)
			}
			if !proto.Equal(back.Survey, sv) {
				t.Fatalf("read back %v\nwant %v", back.Survey, sv)
			}
			if !back.audience.Equal(audience) {
				t.Fatalf("audience %v, want %v", back.audience, audience)
			}
			if lifecycleKind(sv.Kind) != (sv.LifecycleDelay != nil) {
				t.Fatalf("lifecycle delay %v on a %v survey", sv.LifecycleDelay, sv.Kind)
			}
		})
	}
}

// A value that has no stored name is an error, not a silent zero.
func TestUnknownEnumIsAnError(t *testing.T) {
	if _, err := surveyRecord(&pulsev1.Survey{Id: "S", Audience: "acme", Kind: 42}); err == nil {
		t.Fatal("survey kind 42 mapped to a record")
	}
	if _, err := surveyFromRecord(store.Survey{ID: "S", Audience: "acme", Kind: "poll"}); err == nil {
		t.Fatal(`stored survey kind "poll" mapped to a survey`)
	}
	if _, err := surveyFromRecord(store.Survey{ID: "S", Audience: "Acme"}); err == nil {
		t.Fatal(`stored audience "Acme" mapped to a survey`)
	}
}
