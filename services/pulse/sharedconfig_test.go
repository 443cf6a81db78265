package pulse_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/pulse"
)

// freshReplicas starts two replicas on empty data dirs, sharing NATS, secret and tokens.
func freshReplicas(t *testing.T) (f *fixture, r1, r2 *replica, d1 string) {
	t.Helper()
	f = &fixture{env: servicetest.New(t), clock: newClock(t0)}
	d1 = t.TempDir()
	return f, startReplica(t, f, d1, "r1", 0), startReplica(t, f, t.TempDir(), "r2", 0), d1
}

// configRevision is the shared bucket's revision of survey id, read by the test.
func configRevision(t testing.TB, f *fixture, id string) uint64 {
	t.Helper()
	ctx := context.Background()
	kv, err := f.env.JetStream(t).KeyValue(ctx, pulse.ConfigBucket)
	if err != nil {
		t.Fatalf("bucket %s: %v", pulse.ConfigBucket, err)
	}
	e, err := kv.Get(ctx, "survey."+id)
	if err != nil {
		t.Fatalf("survey %s in %s: %v", id, pulse.ConfigBucket, err)
	}
	return e.Revision()
}

// applied waits until r applied revision rev of the shared surveys.
func applied(t testing.TB, r *replica, rev uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.svc.WaitConfig(ctx, rev); err != nil {
		t.Fatal(err)
	}
}

func create(t *testing.T, f *fixture, r *replica, key string) string {
	t.Helper()
	resp, err := r.client.CreateSurvey(f.hr(), &pulsev1.CreateSurveyRequest{Survey: validSurvey(), IdempotencyKey: key})
	if err != nil {
		t.Fatalf("CreateSurvey: %v", err)
	}
	return resp.Survey.Id
}

func TestSurveyCreatedOnOneReplicaTakesAnswersOnTheOther(t *testing.T) {
	f, r1, r2, _ := freshReplicas(t)
	ctx := f.submitter()
	// At once: the survey reaches r2 by the watch or, if r2 is asked first, from the bucket.
	id := create(t, f, r1, "")
	if _, err := r2.client.SubmitResponse(ctx, answer(id, "U1", "")); err != nil {
		t.Fatalf("answer on r2 to a survey created on r1: %v", err)
	}
	_, err := r1.client.SubmitResponse(ctx, answer(id, "U1", ""))
	wantStatus(t, err, codes.AlreadyExists, "submitter_ref")
	if _, err := r1.client.SubmitResponse(ctx, answer(id, "U2", "")); err != nil {
		t.Fatalf("answer on r1: %v", err)
	}

	// Through the watch: a survey created on r2 is listed on r1 once applied, same as on r2.
	id2 := create(t, f, r2, "")
	applied(t, r1, configRevision(t, f, id2))
	for i, r := range []*replica{r1, r2} {
		got, err := r.client.GetSurvey(f.hr(), &pulsev1.GetSurveyRequest{SurveyId: id2})
		if err != nil {
			t.Fatalf("GetSurvey on r%d: %v", i+1, err)
		}
		if len(got.Survey.Waves) != 1 || got.Survey.State != pulsev1.SurveyState_SURVEY_STATE_ACTIVE {
			t.Fatalf("survey on r%d: %v", i+1, got.Survey)
		}
	}
	list, err := r1.client.ListSurveys(f.hr(), &pulsev1.ListSurveysRequest{SegmentPrefix: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Surveys) != 2 {
		t.Fatalf("r1 lists %d surveys, want both", len(list.Surveys))
	}
	responded(t, f, 2)
}

func TestCreateSurveyRetriedOnAnotherReplicaReturnsTheSameSurvey(t *testing.T) {
	f, r1, r2, _ := freshReplicas(t)
	id := create(t, f, r1, "q1-pulse")
	if again := create(t, f, r2, "q1-pulse"); again != id {
		t.Fatalf("retry on r2 created survey %s, want %s", again, id)
	}
	other := validSurvey()
	other.Audience = "acme/sales"
	_, err := r2.client.CreateSurvey(f.hr(), &pulsev1.CreateSurveyRequest{Survey: other, IdempotencyKey: "q1-pulse"})
	wantStatus(t, err, codes.InvalidArgument, "idempotency_key")
}

func TestSurveyClosedOnOneReplicaRefusesAnswersOnTheOther(t *testing.T) {
	f, r1, r2, _ := freshReplicas(t)
	ctx := f.submitter()
	id := create(t, f, r1, "")
	if _, err := r1.client.SubmitResponse(ctx, answer(id, "U1", "")); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.client.CloseSurvey(f.hr(), &pulsev1.CloseSurveyRequest{SurveyId: id}); err != nil {
		t.Fatalf("CloseSurvey on r2: %v", err)
	}
	applied(t, r1, configRevision(t, f, id))
	_, err := r1.client.SubmitResponse(ctx, answer(id, "U2", ""))
	wantStatus(t, err, codes.FailedPrecondition, "survey_id")
	got, err := r1.client.GetSurvey(f.hr(), &pulsev1.GetSurveyRequest{SurveyId: id})
	if err != nil {
		t.Fatal(err)
	}
	if got.Survey.State != pulsev1.SurveyState_SURVEY_STATE_CLOSED || !got.Survey.Waves[0].Closed {
		t.Fatalf("survey on r1 after the close on r2: %v", got.Survey)
	}
}

func TestReplicaDownDuringAnEditSeesItBeforeTakingAnswers(t *testing.T) {
	f, r1, r2, d1 := freshReplicas(t)
	ctx := f.submitter()
	id := create(t, f, r1, "")
	applied(t, r2, configRevision(t, f, id))
	if err := r1.svc.Close(); err != nil {
		t.Fatal(err)
	}
	live := true
	if _, err := r2.client.UpdateSurveySettings(f.hr(), &pulsev1.UpdateSurveySettingsRequest{SurveyId: id, LiveResults: &live}); err != nil {
		t.Fatalf("UpdateSurveySettings on r2: %v", err)
	}
	if _, err := r2.client.CloseSurvey(f.hr(), &pulsev1.CloseSurveyRequest{SurveyId: id}); err != nil {
		t.Fatalf("CloseSurvey on r2: %v", err)
	}
	// Back on its old store: the edits are there as soon as it serves, no waiting.
	r1 = startReplica(t, f, d1, "r1", 0)
	_, err := r1.client.SubmitResponse(ctx, answer(id, "U1", ""))
	wantStatus(t, err, codes.FailedPrecondition, "survey_id")
	got, err := r1.client.GetSurvey(f.hr(), &pulsev1.GetSurveyRequest{SurveyId: id})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Survey.LiveResults || got.Survey.State != pulsev1.SurveyState_SURVEY_STATE_CLOSED {
		t.Fatalf("survey on the restarted r1: live_results %v, state %v; want the edits made while it was down", got.Survey.LiveResults, got.Survey.State)
	}
}

func TestReplicasFixKOnceAWaveOpened(t *testing.T) {
	f, r1, _, _ := freshReplicas(t)
	id := create(t, f, r1, "")
	k := uint32(7)
	_, err := r1.client.UpdateSurveySettings(f.hr(), &pulsev1.UpdateSurveySettingsRequest{SurveyId: id, MinGroupSize: &k})
	wantStatus(t, err, codes.FailedPrecondition, "min_group_size")
}

func TestReplicasWithoutNATSCreateNoSurvey(t *testing.T) {
	f, r1, _, _ := freshReplicas(t)
	natstest.Stop(f.env.NATS)
	_, err := r1.client.CreateSurvey(f.hr(), &pulsev1.CreateSurveyRequest{Survey: validSurvey()})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), pulse.ConfigBucket) {
		t.Fatalf("CreateSurvey with NATS down: %v; want Unavailable naming %s", err, pulse.ConfigBucket)
	}
	list, err := r1.client.ListSurveys(f.hr(), &pulsev1.ListSurveysRequest{SegmentPrefix: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Surveys) != 0 {
		t.Fatalf("r1 stored %d surveys while NATS was down", len(list.Surveys))
	}
}

// TestSurveyOfASingleServiceIsSharedWhenItBecomesAReplica: a store that ran alone puts its
// surveys in the bucket at its first start as a replica.
func TestSurveyOfASingleServiceIsSharedWhenItBecomesAReplica(t *testing.T) {
	f := &fixture{env: servicetest.New(t), clock: newClock(t0)}
	d1 := t.TempDir()
	alone := startReplica(t, f, d1, "", 0)
	id := create(t, f, alone, "")
	if err := alone.svc.Close(); err != nil {
		t.Fatal(err)
	}
	r1 := startReplica(t, f, d1, "r1", 0) // seeds the bucket before it serves
	r2 := startReplica(t, f, t.TempDir(), "r2", 0)
	if _, err := r2.client.SubmitResponse(f.submitter(), answer(id, "U1", "")); err != nil {
		t.Fatalf("answer on r2 to a survey r1 kept from before: %v", err)
	}
	_, err := r1.client.SubmitResponse(f.submitter(), answer(id, "U1", ""))
	wantStatus(t, err, codes.AlreadyExists, "submitter_ref")
}

func TestMomentTriggeredOnOneReplicaIsAnsweredOnTheOther(t *testing.T) {
	f, r1, r2, _ := freshReplicas(t)
	resp, err := r1.client.CreateSurvey(f.hr(), &pulsev1.CreateSurveyRequest{Survey: &pulsev1.Survey{TemplateId: "onboarding-30", Audience: "acme/eng"}})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.Survey.Id
	// Started 30 days ago: the onboarding survey is pending today.
	if _, err := r1.client.TriggerLifecycleSurvey(f.hr(), &pulsev1.TriggerLifecycleSurveyRequest{
		Event: pulsev1.LifecycleEvent_LIFECYCLE_EVENT_STARTED, SubmitterRef: "U1", Segment: "acme/eng/web",
		EffectiveTime: timestamppb.New(t0.Add(-30 * 24 * time.Hour)),
	}); err != nil {
		t.Fatalf("TriggerLifecycleSurvey on r1: %v", err)
	}
	submit := func(r *replica, ref string) error {
		_, err := r.client.SubmitResponse(f.submitter(), &pulsev1.SubmitResponseRequest{
			SurveyId: id, Segment: "acme/eng/web", SubmitterRef: ref, Answers: []*pulsev1.Answer{scale("welcome", 4), scale("role-clear", 5)},
		})
		return err
	}
	if err := submit(r2, "U1"); err != nil {
		t.Fatalf("U1 on r2, invited on r1: %v", err)
	}
	wantStatus(t, submit(r1, "U1"), codes.AlreadyExists, "submitter_ref")
	wantStatus(t, submit(r2, "U2"), codes.FailedPrecondition, "submitter_ref")
}

// TestSegmentRegistryIsOneAcrossReplicas: headcounts set through either replica are versions
// of one entry, so each change is announced under its own event id (with a registry per
// replica both would be version 1, and the stream would drop the second as a duplicate).
func TestSegmentRegistryIsOneAcrossReplicas(t *testing.T) {
	f, r1, r2, _ := freshReplicas(t)
	for i, c := range []struct {
		r *replica
		n uint32
	}{{r1, 12}, {r2, 15}} {
		if _, err := c.r.client.UpsertSegment(f.hr(), &pulsev1.UpsertSegmentRequest{Path: "acme/eng", Headcount: c.n}); err != nil {
			t.Fatalf("UpsertSegment %d: %v", i, err)
		}
	}
	want := []string{events.SegmentUpsertedID("acme/eng", 1), events.SegmentUpsertedID("acme/eng", 2)}
	if ids := eventIDs(t, f, events.PulseSegmentUpserted.All(), len(want)); !slices.Equal(ids, want) {
		t.Fatalf("SegmentUpserted ids %v, want %v", ids, want)
	}
	// r1 starts from r2's headcount: setting it again is no change.
	got, err := r1.client.UpsertSegment(f.hr(), &pulsev1.UpsertSegmentRequest{Path: "acme/eng", Headcount: 15})
	if err != nil || got.Segment.Headcount != 15 {
		t.Fatalf("UpsertSegment on r1 = %v, %v", got, err)
	}
}

// TestConcurrentEditsOnTwoReplicasBothLand: a close on one replica and a settings change on the
// other at the same time are both kept (compare and swap: the loser reads again), and both
// replicas end with the same survey.
func TestConcurrentEditsOnTwoReplicasBothLand(t *testing.T) {
	f, r1, r2, _ := freshReplicas(t)
	id := create(t, f, r1, "")
	live := true
	errs := make(chan error, 2)
	go func() {
		_, err := r1.client.CloseSurvey(f.hr(), &pulsev1.CloseSurveyRequest{SurveyId: id})
		errs <- err
	}()
	go func() {
		_, err := r2.client.UpdateSurveySettings(f.hr(), &pulsev1.UpdateSurveySettingsRequest{SurveyId: id, LiveResults: &live})
		errs <- err
	}()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent edit: %v", err)
		}
	}
	rev := configRevision(t, f, id)
	var seen []*pulsev1.Survey
	for i, r := range []*replica{r1, r2} {
		applied(t, r, rev)
		got, err := r.client.GetSurvey(f.hr(), &pulsev1.GetSurveyRequest{SurveyId: id})
		if err != nil {
			t.Fatal(err)
		}
		if !got.Survey.LiveResults || got.Survey.State != pulsev1.SurveyState_SURVEY_STATE_CLOSED {
			t.Fatalf("survey on r%d: live_results %v, state %v; want both edits", i+1, got.Survey.LiveResults, got.Survey.State)
		}
		seen = append(seen, got.Survey)
	}
	if !proto.Equal(seen[0], seen[1]) {
		t.Fatalf("the replicas disagree:\n%v\n%v", seen[0], seen[1])
	}
}

// BenchmarkCloseReachesTheOtherReplica measures the window of a close: from CloseSurvey's
// answer on one replica until the other applied it (window-µs, an upper bound: it includes the
// benchmark's own read of the revision), one survey per iteration.
func BenchmarkCloseReachesTheOtherReplica(b *testing.B) {
	f := &fixture{env: servicetest.New(b), clock: newClock(t0)}
	r1 := startReplica(b, f, b.TempDir(), "r1", 0)
	r2 := startReplica(b, f, b.TempDir(), "r2", 0)
	ctx := context.Background()
	kv, err := f.env.JetStream(b).KeyValue(ctx, pulse.ConfigBucket)
	if err != nil {
		b.Fatal(err)
	}
	var window time.Duration
	for b.Loop() {
		resp, err := r1.client.CreateSurvey(f.hr(), &pulsev1.CreateSurveyRequest{Survey: validSurvey()})
		if err != nil {
			b.Fatal(err)
		}
		id := resp.Survey.Id
		if _, err := r2.client.CloseSurvey(f.hr(), &pulsev1.CloseSurveyRequest{SurveyId: id}); err != nil {
			b.Fatal(err)
		}
		closed := time.Now()
		e, err := kv.Get(ctx, "survey."+id)
		if err != nil {
			b.Fatal(err)
		}
		if err := r1.svc.WaitConfig(ctx, e.Revision()); err != nil {
			b.Fatal(err)
		}
		window += time.Since(closed)
	}
	b.ReportMetric(float64(window.Microseconds())/float64(b.N), "window-µs")
}
