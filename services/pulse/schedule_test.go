package pulse_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

func (f *fixture) tick(t testing.TB, now time.Time) {
	t.Helper()
	f.clock.Set(now)
	if err := f.svc.Tick(now); err != nil {
		t.Fatalf("Tick(%v): %v", now, err)
	}
}

func (f *fixture) survey(t testing.TB, id string) *pulsev1.Survey {
	t.Helper()
	resp, err := f.client.GetSurvey(f.hr(), &pulsev1.GetSurveyRequest{SurveyId: id})
	if err != nil {
		t.Fatalf("GetSurvey: %v", err)
	}
	return resp.Survey
}

// eventIDs waits for n events on subject and returns the ids of the first n, in stream order.
func eventIDs(t testing.TB, f *fixture, subject string, n int) []string {
	t.Helper()
	var ids []string
	poll.Until(t, 20*time.Second, 20*time.Millisecond, func() error {
		if got := publishedCount(t, f, subject); got < n {
			return fmt.Errorf("%d events on %s, want %d", got, subject, n)
		}
		return nil
	})
	ids = publishedIDs(t, f, subject)
	return ids[:n]
}

// A weekly survey at 9:00 in Paris opens at 9:00 Paris time on both sides of the change to
// summer time, announces each opening and closing once, and after a restart that missed two
// waves it adds both (none skipped) without announcing anything twice.
func TestSchedulerAcrossDSTAndRestart(t *testing.T) {
	f := start(t)
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatalf("load Europe/Paris: %v", err)
	}
	in := validSurvey()
	in.Schedule = &pulsev1.Schedule{
		FirstOpensAt:   timestamppb.New(time.Date(2026, 3, 23, 9, 0, 0, 0, paris)),
		TimeZone:       "Europe/Paris",
		ResponseWindow: durationpb.New(48 * time.Hour),
	}
	in.QuestionsPerWave = 2
	sv := f.createSurvey(t, in)
	if len(sv.Waves) != 1 || len(pending(t, f, "U1", "acme/eng", "")) != 0 {
		t.Fatalf("before its time: waves %v, want wave 1 planned and nothing pending", sv.Waves)
	}

	f.tick(t, time.Date(2026, 3, 23, 8, 0, 0, 0, time.UTC)) // 9:00 in Paris
	if p := pending(t, f, "U1", "acme/eng", ""); len(p) != 1 || p[0].Wave != 1 {
		t.Fatalf("pending at opening = %v, want wave 1", p)
	}
	f.tick(t, time.Date(2026, 3, 23, 9, 0, 0, 0, time.UTC)) // again: nothing new
	f.tick(t, time.Date(2026, 3, 25, 8, 0, 0, 0, time.UTC)) // closes
	f.tick(t, time.Date(2026, 3, 30, 6, 59, 59, 0, time.UTC))
	if got := f.survey(t, sv.Id); len(got.Waves) != 1 {
		t.Fatalf("a second before wave 2: %d waves", len(got.Waves))
	}
	f.tick(t, time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC)) // 9:00 in Paris, summer time
	got := f.survey(t, sv.Id)
	if len(got.Waves) != 2 || !got.Waves[1].OpensAt.AsTime().Equal(time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC)) {
		t.Fatalf("waves after the DST change: %v", got.Waves)
	}
	if w1, w2 := got.Waves[0], got.Waves[1]; !w1.Closed || w2.Closed || slices.Equal(w1.QuestionIds, w2.QuestionIds) {
		t.Fatalf("wave 1 %v, wave 2 %v: want 1 closed, 2 open, asking other questions", w1, w2)
	}

	// Down from before wave 2 closed until wave 4 is open: waves 3 and 4 are added at start.
	f.clock.Set(time.Date(2026, 4, 14, 8, 0, 0, 0, time.UTC))
	f.restart(t, nil)
	got = f.survey(t, sv.Id)
	if len(got.Waves) != 4 {
		t.Fatalf("after the restart: %d waves, want 4", len(got.Waves))
	}
	for i, w := range got.Waves {
		opens := time.Date(2026, 3, 23+7*i, 9, 0, 0, 0, paris)
		if w.Number != uint32(i+1) || !w.OpensAt.AsTime().Equal(opens) || w.Closed != (i < 3) {
			t.Fatalf("wave %d = %v, want number %d opening %v, closed %v", i, w, i+1, opens, i < 3)
		}
	}
	if p := pending(t, f, "U1", "acme/eng", ""); len(p) != 1 || p[0].Wave != 4 {
		t.Fatalf("pending after restart = %v, want wave 4", p)
	}
	f.tick(t, time.Date(2026, 4, 14, 8, 0, 1, 0, time.UTC))
	f.restart(t, nil)

	eng := segment.MustParse("acme/eng")
	opened := eventIDs(t, f, events.PulseWaveOpened.Subject(eng), 4)
	closed := eventIDs(t, f, events.PulseWaveClosed.Subject(eng), 3)
	for i := range 4 {
		if want := events.WaveOpenedID(sv.Id, uint32(i+1)); opened[i] != want {
			t.Fatalf("opened events %v, want waves 1..4 in order", opened)
		}
		if want := events.WaveClosedID(sv.Id, uint32(i+1)); i < 3 && closed[i] != want {
			t.Fatalf("closed events %v, want waves 1..3 in order", closed)
		}
	}
	// Nothing more was published, even under another event id.
	if ids := publishedIDs(t, f, events.PulseWaveOpened.All()); len(ids) != 4 {
		t.Fatalf("wave_opened events %v, want 4", ids)
	}
	if ids := publishedIDs(t, f, events.PulseWaveClosed.All()); len(ids) != 3 {
		t.Fatalf("wave_closed events %v, want 3", ids)
	}
	msg := nextEvent(t, f, events.PulseWaveClosed.Subject(eng))
	var ev eventsv1.WaveClosed
	if err := proto.Unmarshal(msg.Data(), &ev); err != nil {
		t.Fatalf("decode WaveClosed: %v", err)
	}
	if ev.SurveyId != sv.Id || ev.Wave != 1 || ev.Audience != "acme/eng" || !ev.ClosedAt.AsTime().Equal(time.Date(2026, 3, 25, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("WaveClosed = %v", &ev)
	}
}

func TestOnceSurveyHasOneWave(t *testing.T) {
	f := start(t)
	in := validSurvey()
	in.Cadence = pulsev1.Cadence_CADENCE_ONCE
	sv := f.createSurvey(t, in)
	f.tick(t, t0.Add(60*24*time.Hour))
	if got := f.survey(t, sv.Id); len(got.Waves) != 1 || !got.Waves[0].Closed {
		t.Fatalf("ONCE survey two months on: %v", got.Waves)
	}
}

func TestCloseSurvey(t *testing.T) {
	f := start(t)
	sv := f.createSurvey(t, validSurvey())
	for i := range 5 {
		f.submit(t, sv.Id, fmt.Sprintf("U%d", i), "acme/eng", scale("mood", 3))
	}
	later := f.createSurvey(t, func() *pulsev1.Survey {
		s := validSurvey()
		s.Schedule.FirstOpensAt = timestamppb.New(t0.Add(24 * time.Hour))
		return s
	}())

	f.clock.Set(t0.Add(time.Hour))
	resp, err := f.client.CloseSurvey(f.hr(), &pulsev1.CloseSurveyRequest{SurveyId: sv.Id})
	if err != nil {
		t.Fatalf("CloseSurvey: %v", err)
	}
	closed := resp.Survey
	if closed.State != pulsev1.SurveyState_SURVEY_STATE_CLOSED || len(closed.Waves) != 1 || !closed.Waves[0].Closed ||
		!closed.Waves[0].ClosesAt.AsTime().Equal(t0.Add(time.Hour)) {
		t.Fatalf("closed survey = %v", closed)
	}
	_, err = f.client.SubmitResponse(f.submitter(), &pulsev1.SubmitResponseRequest{
		SurveyId: sv.Id, Segment: "acme/eng", SubmitterRef: "U9", Answers: []*pulsev1.Answer{scale("mood", 1)},
	})
	wantStatus(t, err, codes.FailedPrecondition, "")
	if p := pending(t, f, "U9", "acme/eng", ""); len(p) != 0 {
		t.Fatalf("pending after close: %v", ids(p))
	}
	// Data stays readable, at once: the wave closed.
	r := f.results(t, f.hr(), &pulsev1.GetResultsRequest{SurveyId: sv.Id})
	if r.Total.Respondents != 5 {
		t.Fatalf("results after close: %v", r.Total)
	}
	// No wave opens any more.
	f.tick(t, t0.Add(30*24*time.Hour))
	if got := f.survey(t, sv.Id); len(got.Waves) != 1 {
		t.Fatalf("closed survey got waves %v", got.Waves)
	}
	if ids := eventIDs(t, f, events.PulseWaveClosed.Subject(segment.MustParse("acme/eng")), 1); ids[0] != events.WaveClosedID(sv.Id, 1) {
		t.Fatalf("wave_closed events %v", ids)
	}
	// Closing again changes nothing.
	again, err := f.client.CloseSurvey(f.hr(), &pulsev1.CloseSurveyRequest{SurveyId: sv.Id})
	if err != nil || !proto.Equal(again.Survey, f.survey(t, sv.Id)) {
		t.Fatalf("second close: %v, %v", err, again)
	}

	// A survey closed before its first wave opened keeps no wave.
	f.clock.Set(t0.Add(2 * time.Hour))
	resp, err = f.client.CloseSurvey(f.as(auth.RoleAdmin), &pulsev1.CloseSurveyRequest{SurveyId: later.Id})
	if err != nil || len(resp.Survey.Waves) != 0 {
		t.Fatalf("close before opening: %v, %v", err, resp)
	}
	_, err = f.client.GetResults(f.hr(), &pulsev1.GetResultsRequest{SurveyId: later.Id})
	wantStatus(t, err, codes.FailedPrecondition, "")

	for _, tc := range []struct {
		name string
		ctx  context.Context
		id   string
		code codes.Code
	}{
		{"manager", f.as(auth.RoleManager), sv.Id, codes.PermissionDenied},
		{"submitter", f.submitter(), sv.Id, codes.PermissionDenied},
		{"hr of another org", servicetest.WithToken(context.Background(), f.env.OtherHR), sv.Id, codes.NotFound},
		{"unknown", f.hr(), "NOSUCH", codes.NotFound},
		{"missing", f.hr(), "", codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.CloseSurvey(tc.ctx, &pulsev1.CloseSurveyRequest{SurveyId: tc.id})
			wantStatus(t, err, tc.code, "")
		})
	}
}

func TestAnonymitySettingsFixedAfterFirstResponse(t *testing.T) {
	f := start(t)
	sv := f.createSurvey(t, validSurvey())
	u32 := func(v uint32) *uint32 { return &v }
	yes := true
	update := func(req *pulsev1.UpdateSurveySettingsRequest) (*pulsev1.Survey, error) {
		req.SurveyId = sv.Id
		resp, err := f.client.UpdateSurveySettings(f.hr(), req)
		return resp.GetSurvey(), err
	}
	got, err := update(&pulsev1.UpdateSurveySettingsRequest{MinGroupSize: u32(7)})
	if err != nil || got.MinGroupSize != 7 || got.CommentThreshold != 10 {
		t.Fatalf("k to 7: %v, %v", err, got)
	}
	for _, tc := range []struct {
		name string
		req  *pulsev1.UpdateSurveySettingsRequest
		fld  string
	}{
		{"k below 3", &pulsev1.UpdateSurveySettingsRequest{MinGroupSize: u32(2)}, "min_group_size"},
		{"k above the threshold", &pulsev1.UpdateSurveySettingsRequest{MinGroupSize: u32(11)}, "comment_threshold"},
		{"threshold below k", &pulsev1.UpdateSurveySettingsRequest{CommentThreshold: u32(6)}, "comment_threshold"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := update(tc.req)
			wantStatus(t, err, codes.InvalidArgument, tc.fld)
		})
	}
	if got, err := update(&pulsev1.UpdateSurveySettingsRequest{MinGroupSize: u32(12), CommentThreshold: u32(12)}); err != nil || got.MinGroupSize != 12 {
		t.Fatalf("k and threshold to 12: %v, %v", err, got)
	}

	f.submit(t, sv.Id, "U1", "acme/eng", scale("mood", 3))
	_, err = update(&pulsev1.UpdateSurveySettingsRequest{MinGroupSize: u32(5)})
	wantStatus(t, err, codes.FailedPrecondition, "min_group_size")
	_, err = update(&pulsev1.UpdateSurveySettingsRequest{CommentThreshold: u32(20)})
	wantStatus(t, err, codes.FailedPrecondition, "comment_threshold")
	// Setting the same values, or live results, is still fine.
	got, err = update(&pulsev1.UpdateSurveySettingsRequest{MinGroupSize: u32(12), LiveResults: &yes})
	if err != nil || !got.LiveResults || got.MinGroupSize != 12 || got.CommentThreshold != 12 {
		t.Fatalf("live results on: %v, %v", err, got)
	}
	_, err = f.client.UpdateSurveySettings(f.as(auth.RoleManager), &pulsev1.UpdateSurveySettingsRequest{SurveyId: sv.Id, LiveResults: &yes})
	wantStatus(t, err, codes.PermissionDenied, "")
}
