package pulse_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

func (f *fixture) trigger(t testing.TB, ev pulsev1.LifecycleEvent, ref, seg string, at *timestamppb.Timestamp) []string {
	t.Helper()
	resp, err := f.client.TriggerLifecycleSurvey(f.hr(), &pulsev1.TriggerLifecycleSurveyRequest{
		Event: ev, SubmitterRef: ref, Segment: seg, EffectiveTime: at,
	})
	if err != nil {
		t.Fatalf("TriggerLifecycleSurvey: %v", err)
	}
	return resp.SurveyIds
}

func TestLifecycleSurveys(t *testing.T) {
	f := start(t)
	onb := f.createSurvey(t, &pulsev1.Survey{TemplateId: "onboarding-30", Audience: "acme/eng"})
	exit := f.createSurvey(t, &pulsev1.Survey{TemplateId: "exit", Audience: "acme"})
	if onb.Cadence != pulsev1.Cadence_CADENCE_MONTHLY || len(onb.Waves) != 1 || !onb.Waves[0].OpensAt.AsTime().Equal(t0) {
		t.Fatalf("onboarding survey: cadence %v, waves %v; want a monthly cohort from now", onb.Cadence, onb.Waves)
	}
	if p := pending(t, f, secretRef, "acme/eng/web", ""); len(p) != 0 {
		t.Fatalf("pending before any trigger: %v", ids(p))
	}
	answers := []*pulsev1.Answer{scale("welcome", 4), scale("role-clear", 5)}
	submit := func(surveyID, ref string) error {
		_, err := f.client.SubmitResponse(f.submitter(), &pulsev1.SubmitResponseRequest{
			SurveyId: surveyID, Segment: "acme/eng/web", SubmitterRef: ref, Answers: answers,
		})
		return err
	}

	if got := f.trigger(t, pulsev1.LifecycleEvent_LIFECYCLE_EVENT_STARTED, secretRef, "acme/eng/web", nil); !slices.Equal(got, []string{onb.Id}) {
		t.Fatalf("started: pending surveys %v, want [%s]", got, onb.Id)
	}
	if p := pending(t, f, secretRef, "acme/eng/web", ""); len(p) != 0 {
		t.Fatalf("pending on the first day: %v, want none before 30 days", ids(p))
	}
	wantStatus(t, submit(onb.Id, secretRef), codes.FailedPrecondition, "")

	// 30 days on, from midnight UTC of that day, still in the first monthly cohort.
	day30 := time.Date(2026, 4, 9, 0, 0, 0, 0, time.UTC)
	f.tick(t, day30)
	p := pending(t, f, secretRef, "acme/eng/web", "fr")
	if len(p) != 1 || p[0].SurveyId != onb.Id || p[0].Wave != 1 || !p[0].ClosesAt.AsTime().Equal(day30.Add(14*24*time.Hour)) {
		t.Fatalf("pending at 30 days = %v, want the onboarding survey, cohort 1 (until 10 April), closing 14 days on", p)
	}
	if p[0].Title != "Intégration : 30 jours" || len(p[0].Questions) != 5 {
		t.Fatalf("pending in French = %v", p[0])
	}
	if p := pending(t, f, "someone-else", "acme/eng/web", ""); len(p) != 0 {
		t.Fatalf("pending for a person never reported: %v", ids(p))
	}
	wantStatus(t, submit(onb.Id, "someone-else"), codes.FailedPrecondition, "")
	if err := submit(onb.Id, secretRef); err != nil {
		t.Fatalf("answer: %v", err)
	}
	wantStatus(t, submit(onb.Id, secretRef), codes.AlreadyExists, "")
	if p := pending(t, f, secretRef, "acme/eng/web", ""); len(p) != 0 {
		t.Fatalf("pending after answering: %v", ids(p))
	}
	// Answered once per person: a second start does not invite again.
	if got := f.trigger(t, pulsev1.LifecycleEvent_LIFECYCLE_EVENT_STARTED, secretRef, "acme/eng/web", nil); len(got) != 0 {
		t.Fatalf("second start: %v, want nothing pending", got)
	}
	// The deadline passes.
	f.trigger(t, pulsev1.LifecycleEvent_LIFECYCLE_EVENT_STARTED, "late", "acme/eng/web", timestamppb.New(t0))
	f.clock.Set(day30.Add(14 * 24 * time.Hour))
	wantStatus(t, submit(onb.Id, "late"), codes.FailedPrecondition, "")

	// Leaving: exit is pending at once (no delay), anywhere under its audience.
	leaving := timestamppb.New(day30.Add(15*24*time.Hour + 10*time.Hour))
	f.clock.Set(leaving.AsTime())
	if got := f.trigger(t, pulsev1.LifecycleEvent_LIFECYCLE_EVENT_LEAVING, secretRef, "acme/eng/web", leaving); !slices.Equal(got, []string{exit.Id}) {
		t.Fatalf("leaving: %v, want [%s]", got, exit.Id)
	}
	f.tick(t, leaving.AsTime())
	if p := pending(t, f, secretRef, "acme/eng/web", ""); len(p) != 1 || p[0].SurveyId != exit.Id {
		t.Fatalf("pending when leaving: %v", ids(p))
	}

	// Cohort waves are not announced: bots would prompt everybody.
	if got := publishedIDs(t, f, events.PulseWaveOpened.All()); len(got) != 0 {
		t.Fatalf("wave_opened events for lifecycle surveys: %v", got)
	}

	other := servicetest.WithToken(context.Background(), f.env.OtherHR)
	for _, tc := range []struct {
		name string
		ctx  context.Context
		req  *pulsev1.TriggerLifecycleSurveyRequest
		code codes.Code
		fld  string
	}{
		{"event missing", f.hr(), &pulsev1.TriggerLifecycleSurveyRequest{SubmitterRef: "U", Segment: "acme"}, codes.InvalidArgument, "event"},
		{"event unknown", f.hr(), &pulsev1.TriggerLifecycleSurveyRequest{Event: 9, SubmitterRef: "U", Segment: "acme"}, codes.InvalidArgument, "event"},
		{"ref missing", f.hr(), &pulsev1.TriggerLifecycleSurveyRequest{Event: 1, Segment: "acme"}, codes.InvalidArgument, "submitter_ref"},
		{"segment missing", f.hr(), &pulsev1.TriggerLifecycleSurveyRequest{Event: 1, SubmitterRef: "U"}, codes.InvalidArgument, "segment"},
		{"segment outside the token", other, &pulsev1.TriggerLifecycleSurveyRequest{Event: 1, SubmitterRef: "U", Segment: "acme"}, codes.PermissionDenied, "segment"},
		{"bad time", f.hr(), &pulsev1.TriggerLifecycleSurveyRequest{Event: 1, SubmitterRef: "U", Segment: "acme", EffectiveTime: &timestamppb.Timestamp{Nanos: -1}}, codes.InvalidArgument, "effective_time"},
		{"manager", f.as(auth.RoleManager), &pulsev1.TriggerLifecycleSurveyRequest{Event: 1, SubmitterRef: "U", Segment: "acme"}, codes.PermissionDenied, ""},
		{"admin", f.as(auth.RoleAdmin), &pulsev1.TriggerLifecycleSurveyRequest{Event: 2, SubmitterRef: "U", Segment: "acme/sales"}, codes.OK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.TriggerLifecycleSurvey(tc.ctx, tc.req)
			wantStatus(t, err, tc.code, tc.fld)
		})
	}

	// Only keyed tags of the person are stored.
	if err := f.svc.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(f.env.DataDir, "pulse", "pulse.db"))
	if err != nil {
		t.Fatalf("read store: %v", err)
	}
	if needle, found := findRef(data); found {
		t.Fatalf("the store holds the person's ref (%s)", needle)
	}
}
