package pulse_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/pulse"
)

// replica is one of several pulse services sharing an Env's NATS, secret and tokens, each with
// its own store.
type replica struct {
	svc    *pulse.Service
	client pulsev1.PulseServiceClient
}

func startReplica(t testing.TB, f *fixture, dir, name string, claimTTL time.Duration) *replica {
	t.Helper()
	svc, err := pulse.Start(context.Background(), pulse.Config{
		Listen: "127.0.0.1:0", DataDir: dir, NATS: f.env.NATSConfig(), Now: f.clock.Now,
		TokensFile:    host.DefaultTokensFile(f.env.DataDir),
		Secret:        anonymity.SecretSource{File: host.DefaultSecretFile(f.env.DataDir)},
		ScheduleEvery: time.Hour,
		Replica:       pulse.ReplicaConfig{Name: name, ClaimTTL: claimTTL},
	})
	if err != nil {
		t.Fatalf("start replica %s: %v", name, err)
	}
	t.Cleanup(func() { svc.Close() })
	return &replica{svc: svc, client: pulsev1.NewPulseServiceClient(servicetest.Dial(t, svc.Addr()))}
}

// twoReplicas starts two replicas on their own stores and creates the survey validSurvey on
// the first: the second knows it through the shared survey definitions (sharedconfig.go).
func twoReplicas(t *testing.T, claimTTL time.Duration) (*fixture, *replica, *replica, string) {
	t.Helper()
	f := &fixture{env: servicetest.New(t), clock: newClock(t0)}
	r1 := startReplica(t, f, t.TempDir(), "r1", claimTTL)
	r2 := startReplica(t, f, t.TempDir(), "r2", claimTTL)
	resp, err := r1.client.CreateSurvey(f.hr(), &pulsev1.CreateSurveyRequest{Survey: validSurvey()})
	if err != nil {
		t.Fatalf("CreateSurvey: %v", err)
	}
	applied(t, r2, configRevision(t, f, resp.Survey.Id))
	return f, r1, r2, resp.Survey.Id
}

func answer(id, ref, key string) *pulsev1.SubmitResponseRequest {
	return &pulsev1.SubmitResponseRequest{SurveyId: id, Segment: "acme/eng/web", SubmitterRef: ref, IdempotencyKey: key, Answers: fullAnswers()}
}

// responded waits until n PulseResponded events are published, and fails if there are more.
func responded(t *testing.T, f *fixture, n int) {
	t.Helper()
	poll.Until(t, 10*time.Second, 20*time.Millisecond, func() error {
		if got := len(publishedIDs(t, f, events.PulseResponded.All())); got < n {
			return fmt.Errorf("%d responses published, want %d", got, n)
		}
		return nil
	})
	if got := publishedIDs(t, f, events.PulseResponded.All()); len(got) != n {
		t.Fatalf("%d responses published (%v), want %d: one per person", len(got), got, n)
	}
}

func TestOneResponsePerWaveHoldsAcrossReplicas(t *testing.T) {
	f, r1, r2, id := twoReplicas(t, 0)
	ctx := f.submitter()
	if _, err := r1.client.SubmitResponse(ctx, answer(id, "U1", "")); err != nil {
		t.Fatalf("U1 on r1: %v", err)
	}
	_, err := r2.client.SubmitResponse(ctx, answer(id, "U1", ""))
	wantStatus(t, err, codes.AlreadyExists, "submitter_ref")

	// A retry of one request on the other replica is answered as a retry, not refused.
	if _, err := r1.client.SubmitResponse(ctx, answer(id, "U2", "k-2")); err != nil {
		t.Fatalf("U2 on r1: %v", err)
	}
	if _, err := r2.client.SubmitResponse(ctx, answer(id, "U2", "k-2")); err != nil {
		t.Fatalf("U2's retry on r2: %v", err)
	}
	_, err = r2.client.SubmitResponse(ctx, answer(id, "U2", "k-other"))
	wantStatus(t, err, codes.AlreadyExists, "submitter_ref")

	// One person answering through both replicas at once: one answer counts.
	var mu sync.Mutex
	ok := 0
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			c := []*replica{r1, r2}[i%2].client
			for {
				_, err := c.SubmitResponse(ctx, answer(id, "U3", fmt.Sprint("k3-", i)))
				switch status.Code(err) {
				case codes.Unavailable: // the other replica is storing one
					time.Sleep(10 * time.Millisecond)
					continue
				case codes.OK:
					mu.Lock()
					ok++
					mu.Unlock()
				case codes.AlreadyExists:
				default:
					t.Errorf("U3's answer %d: %v", i, err)
				}
				return
			}
		})
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d of U3's concurrent answers accepted, want 1", ok)
	}
	responded(t, f, 3)
}

func TestReplicaDeadBetweenClaimAndCommitLetsThePersonAnswerAfterItsClaim(t *testing.T) {
	f, r1, r2, id := twoReplicas(t, 2*time.Second)
	ctx := f.submitter()
	r1.svc.AfterClaim(func() error { return errors.New("replica r1 died") })
	if _, err := r1.client.SubmitResponse(ctx, answer(id, "U1", "")); err == nil {
		t.Fatal("r1 stored a response after it died")
	}
	r1.svc.Close()
	// While r1's claim lives, r2 says to retry: the person has not answered.
	_, err := r2.client.SubmitResponse(ctx, answer(id, "U1", ""))
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "r1") {
		t.Fatalf("r2 during r1's claim: %v; want Unavailable naming r1", err)
	}
	poll.Until(t, 15*time.Second, 100*time.Millisecond, func() error {
		_, err := r2.client.SubmitResponse(ctx, answer(id, "U1", ""))
		return err
	})
	_, err = r2.client.SubmitResponse(ctx, answer(id, "U1", ""))
	wantStatus(t, err, codes.AlreadyExists, "submitter_ref")
	responded(t, f, 1)
}

func TestReplicasWithoutNATSRefuseResponses(t *testing.T) {
	f, r1, _, id := twoReplicas(t, 0)
	natstest.Stop(f.env.NATS)
	_, err := r1.client.SubmitResponse(f.submitter(), answer(id, "U1", ""))
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), pulse.MarksBucket) {
		t.Fatalf("response with NATS down: %v; want Unavailable naming %s", err, pulse.MarksBucket)
	}
}

func TestReplicaStuckPastItsClaimStoresNothing(t *testing.T) {
	f, r1, r2, id := twoReplicas(t, 2*time.Second)
	ctx := f.submitter()
	// r1 takes the claim, then stalls (a long pause, a slow disk) until r2 has stored the same
	// person's answer after r1's claim expired.
	stalled, wake := make(chan struct{}), make(chan struct{})
	r1.svc.AfterClaim(func() error {
		close(stalled)
		<-wake
		return nil
	})
	errc := make(chan error, 1)
	go func() {
		_, err := r1.client.SubmitResponse(ctx, answer(id, "U1", "k-r1"))
		errc <- err
	}()
	<-stalled
	poll.Until(t, 15*time.Second, 100*time.Millisecond, func() error {
		_, err := r2.client.SubmitResponse(ctx, answer(id, "U1", "k-r2"))
		return err
	})
	close(wake)
	err := <-errc
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("r1 after its claim expired: %v; want Unavailable, nothing stored", err)
	}
	responded(t, f, 1)
}

// TestEveryReplicaKeepsEveryPlansNews: each replica has its own pulse-actions durable, so
// every replica answers a response with the news of every plan, wherever the response lands.
func TestEveryReplicaKeepsEveryPlansNews(t *testing.T) {
	f, r1, r2, id := twoReplicas(t, 0)
	var want []string
	for i := range 4 {
		pid := fmt.Sprint("p", i)
		publishPlan(t, f, events.FeedbackActionCreated, &eventsv1.ActionPlanChanged{PlanId: pid, Segment: "acme/eng", Title: "Rota review", Status: 1,
			OwnerGroup: "eng-leads", Dimension: commonv1.Dimension_DIMENSION_WORKLOAD, ChangedDay: timestamppb.New(bus.Day(t0)), Seq: 0})
		want = append(want, pid)
	}
	actionConsumersDone(t, f, uint64(len(want)))
	for i, r := range []*replica{r1, r2} {
		resp, err := r.client.SubmitResponse(f.submitter(), answer(id, fmt.Sprint("U", i), ""))
		if err != nil {
			t.Fatalf("response on r%d: %v", i+1, err)
		}
		var got []string
		for _, n := range resp.PlanNews {
			got = append(got, n.PlanId)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("plan news on r%d = %v, want %v", i+1, got, want)
		}
	}
}

// actionConsumersDone waits until every consumer of the plans' events (one per replica, or
// one shared) has acknowledged the stream up to sequence n and has nothing pending.
func actionConsumersDone(t *testing.T, f *fixture, n uint64) {
	t.Helper()
	js := f.env.JetStream(t)
	poll.Until(t, 10*time.Second, 5*time.Millisecond, func() error {
		ctx := context.Background()
		st, err := js.Stream(ctx, events.Feedback.Name)
		if err != nil {
			return err
		}
		found := 0
		names := st.ConsumerNames(ctx)
		for name := range names.Name() {
			if !strings.HasPrefix(name, events.DurablePulseActions) {
				continue
			}
			found++
			c, err := st.Consumer(ctx, name)
			if err != nil {
				return err
			}
			info, err := c.Info(ctx)
			if err != nil {
				return err
			}
			if info.AckFloor.Stream < n || info.NumPending > 0 || info.NumAckPending > 0 {
				return fmt.Errorf("%s acked up to %d, want %d", name, info.AckFloor.Stream, n)
			}
		}
		if found == 0 {
			return fmt.Errorf("no %s consumer", events.DurablePulseActions)
		}
		return names.Err()
	})
}

func TestReplicaNameMustFitADurableName(t *testing.T) {
	f := &fixture{env: servicetest.New(t), clock: newClock(t0)}
	_, err := pulse.Start(context.Background(), pulse.Config{
		Listen: "127.0.0.1:0", DataDir: t.TempDir(), NATS: f.env.NATSConfig(), Now: f.clock.Now,
		TokensFile: host.DefaultTokensFile(f.env.DataDir),
		Secret:     anonymity.SecretSource{File: host.DefaultSecretFile(f.env.DataDir)},
		Replica:    pulse.ReplicaConfig{Name: "r 1"},
	})
	if err == nil || !strings.Contains(err.Error(), "replica") {
		t.Fatalf("replica name with a space: %v; want an error naming the replica", err)
	}
}

// TestPendingSurveysAcrossReplicas: a survey answered on one replica is no longer pending on
// the other.
func TestPendingSurveysAcrossReplicas(t *testing.T) {
	f, r1, r2, id := twoReplicas(t, 0)
	list := func(r *replica, ref string) []string {
		t.Helper()
		resp, err := r.client.ListPendingSurveys(f.submitter(), &pulsev1.ListPendingSurveysRequest{SubmitterRef: ref, Segment: "acme/eng/web"})
		if err != nil {
			t.Fatalf("ListPendingSurveys: %v", err)
		}
		var out []string
		for _, p := range resp.Surveys {
			out = append(out, p.SurveyId)
		}
		return out
	}
	if got := list(r2, "U1"); !slices.Equal(got, []string{id}) {
		t.Fatalf("pending before answering = %v, want [%s]", got, id)
	}
	if _, err := r1.client.SubmitResponse(f.submitter(), answer(id, "U1", "")); err != nil {
		t.Fatalf("U1 on r1: %v", err)
	}
	for i, r := range []*replica{r1, r2} {
		if got := list(r, "U1"); len(got) != 0 {
			t.Fatalf("pending on r%d after U1 answered on r1 = %v, want none", i+1, got)
		}
	}
	if got := list(r2, "U2"); !slices.Equal(got, []string{id}) {
		t.Fatalf("another person's pending on r2 = %v, want [%s]", got, id)
	}
}
