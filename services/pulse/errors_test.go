package pulse_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// Every domain error names its field first, then the rule, then the detail: "<field>: <rule>:
// <detail>". A survey the caller may not see reads exactly like one that does not exist.
func TestErrorMessagesNameTheFieldFirst(t *testing.T) {
	f := start(t)
	sv := f.createSurvey(t, validSurvey())
	later := validSurvey()
	later.Schedule.FirstOpensAt = timestamppb.New(t0.Add(time.Hour))
	later.Schedule.ResponseWindow = durationpb.New(2 * time.Hour)
	future := f.createSurvey(t, later)
	closed := f.createSurvey(t, validSurvey())
	if _, err := f.client.CloseSurvey(f.hr(), &pulsev1.CloseSurveyRequest{SurveyId: closed.Id}); err != nil {
		t.Fatalf("CloseSurvey: %v", err)
	}
	exit := f.createSurvey(t, &pulsev1.Survey{TemplateId: "exit", Audience: "acme"})
	keyed := &pulsev1.CreateSurveyRequest{Survey: validSurvey(), IdempotencyKey: "k1"}
	if _, err := f.client.CreateSurvey(f.hr(), keyed); err != nil {
		t.Fatalf("CreateSurvey: %v", err)
	}
	f.submit(t, sv.Id, "U1", "acme/eng", scale("mood", 3))
	submit := func(id string, wave uint32, ref string) error {
		_, err := f.client.SubmitResponse(f.submitter(), &pulsev1.SubmitResponseRequest{
			SurveyId: id, Wave: wave, Segment: "acme/eng", SubmitterRef: ref, Answers: []*pulsev1.Answer{scale("mood", 4)},
		})
		return err
	}
	k := uint32(7)
	other := servicetest.WithToken(context.Background(), f.env.OtherHR)

	for _, tc := range []struct {
		name   string
		call   func() error
		code   codes.Code
		prefix string // the message starts with it
		exact  bool   // the message is it
	}{
		{"unknown survey", func() error {
			_, err := f.client.GetSurvey(f.hr(), &pulsev1.GetSurveyRequest{SurveyId: "NOSUCH"})
			return err
		}, codes.NotFound, `survey_id: not found: survey "NOSUCH"`, true},
		{"survey of another org", func() error {
			_, err := f.client.GetSurvey(other, &pulsev1.GetSurveyRequest{SurveyId: sv.Id})
			return err
		}, codes.NotFound, fmt.Sprintf(`survey_id: not found: survey %q`, sv.Id), true},
		{"results of a survey of another org", func() error {
			_, err := f.client.GetResults(other, &pulsev1.GetResultsRequest{SurveyId: sv.Id})
			return err
		}, codes.NotFound, fmt.Sprintf(`survey_id: not found: survey %q`, sv.Id), true},
		{"idempotency key reused", func() error {
			changed := &pulsev1.CreateSurveyRequest{Survey: validSurvey(), IdempotencyKey: "k1"}
			changed.Survey.Title = lt("en", "Another survey")
			_, err := f.client.CreateSurvey(f.hr(), changed)
			return err
		}, codes.InvalidArgument, "idempotency_key: already used for a different request: ", false},
		{"no open wave", func() error { return submit(future.Id, 0, "U2") }, codes.FailedPrecondition, "wave: wave is not open: ", false},
		{"wave not open yet", func() error { return submit(future.Id, 1, "U2") }, codes.FailedPrecondition, "wave: wave is not open: wave 1 opens at ", false},
		{"wave never planned", func() error { return submit(sv.Id, 9, "U2") }, codes.FailedPrecondition, "wave: wave is not open: wave 9 ", false},
		{"closed survey", func() error { return submit(closed.Id, 0, "U2") }, codes.FailedPrecondition, "survey_id: survey is closed: ", false},
		{"second response", func() error { return submit(sv.Id, 0, "U1") }, codes.AlreadyExists, "submitter_ref: already answered this wave: ", false},
		{"not invited", func() error {
			_, err := f.client.SubmitResponse(f.submitter(), &pulsev1.SubmitResponseRequest{
				SurveyId: exit.Id, Segment: "acme/eng", SubmitterRef: "U3", Answers: []*pulsev1.Answer{scale("manager-support", 4)},
			})
			return err
		}, codes.FailedPrecondition, "submitter_ref: not invited: ", false},
		{"results of an open wave", func() error {
			_, err := f.client.GetResults(f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id})
			return err
		}, codes.FailedPrecondition, "first_wave: results not readable yet: ", false},
		{"results of an open wave, named", func() error {
			_, err := f.client.GetResults(f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id, FirstWave: 1})
			return err
		}, codes.FailedPrecondition, "first_wave: results not readable yet: wave 1 is open until ", false},
		{"k after the first response", func() error {
			_, err := f.client.UpdateSurveySettings(f.hr(), &pulsev1.UpdateSurveySettingsRequest{SurveyId: sv.Id, MinGroupSize: &k})
			return err
		}, codes.FailedPrecondition, "min_group_size: fixed once the first response arrived: ", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := status.Convert(tc.call())
			if st.Code() != tc.code {
				t.Fatalf("code = %v (%q), want %v", st.Code(), st.Message(), tc.code)
			}
			if tc.exact && st.Message() != tc.prefix {
				t.Fatalf("message %q, want %q", st.Message(), tc.prefix)
			}
			if !strings.HasPrefix(st.Message(), tc.prefix) || (!tc.exact && len(st.Message()) == len(tc.prefix)) {
				t.Fatalf("message %q, want %q and a detail", st.Message(), tc.prefix)
			}
		})
	}
}
